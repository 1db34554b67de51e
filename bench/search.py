"""1:N search over 10k, 100k and 1M identities: facegate's exact in-memory index and pgvector HNSW.

The galleries are synthetic but follow real descriptors (bench/search_data.py: real LFW
descriptors from facegate's pipeline, their within- and between-person spread, real centres plus
perturbations), one sample per identity. Probes: new descriptors of enrolled people (3/4) and
strangers (1/4).

- exact: ``DescriptorIndex.search`` ms per query (p50, p95) at k=1 and k=11 (what identify asks
  for with the cohort rule), against the baseline of a full scan and a full sort (the index's
  search before the lower-bound pre-filter), on the same probes, checking that both return the
  same hits; memory as the process's RSS growth when the index loads, against the matrix bytes.
- pgvector: the same gallery and probes in PostgreSQL 18 + pgvector (bench/search_pg.py): load and
  HNSW build time, ms per query, recall@1 and recall@10 against the exact top 10, per ef_search.

Each size runs in its own fresh process (clean memory figures).

    python -m bench.search [--sizes 10000,100000,1000000] [--probes 200] [--ef 40,100]
                           [--baseline-probes 30] [--pg-sizes …|none] [--seed 0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench import search_data
from bench.common import machine, summary, table, write_results
from facegate.storage.pg_schema import HNSW_EF_CONSTRUCTION, HNSW_M

KS = (1, 11)


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def make_data(spread: search_data.Spread, size: int, *, probes: int,
              seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gallery (one row per identity), probes, and each probe's own row (-1: a stranger)."""
    generator = search_data.Generator(spread, seed=seed)
    centres = generator.centres(size)
    gallery = generator.views(centres)
    genuine = probes * 3 // 4
    own = np.random.default_rng(seed + 1).choice(size, genuine, replace=False)
    found = np.concatenate([generator.views(centres[own]),
                            generator.views(generator.centres(probes - genuine))])
    return gallery, found, np.concatenate([own, np.full(probes - genuine, -1)])


def _full_sort(index: Any, probe: np.ndarray, k: int) -> list[Any]:
    """The index's search before the pre-filter: every distance, one stable sort."""
    from facegate.matching import Hit, distances

    count = len(index)
    found = distances(probe, index._matrix[:count])
    hits: list[Any] = []
    seen: set[str] = set()
    for row in np.argsort(found, kind="stable"):
        owner = index._identity_ids[row]
        if owner not in seen:
            seen.add(owner)
            hits.append(Hit(owner, index._face_ids[row], float(found[row])))
            if len(hits) == k:
                break
    return hits


def _allocated_mb(fn: Any, probes: np.ndarray) -> float:
    """Most memory one search allocates at once (tracemalloc sees numpy's buffers)."""
    peak = 0
    for probe in probes:
        tracemalloc.start()
        fn(probe)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return round(peak / 2**20, 1)


def _timed(fn: Any, probes: np.ndarray, k: int) -> tuple[list[float], list[Any]]:
    times, answers = [], []
    for probe in probes:
        started = time.perf_counter()
        answers.append(fn(probe, k))
        times.append((time.perf_counter() - started) * 1000.0)
    return times, answers


def exact_run(spread: search_data.Spread, size: int, probes: int, baseline_probes: int,
              seed: int) -> dict[str, Any]:
    """In a fresh process: load the index, time both searches, compare their hits."""
    from facegate.matching import DescriptorIndex

    gallery, found, own = make_data(spread, size, probes=probes, seed=seed)
    index = DescriptorIndex()
    before = _rss_bytes()  # the index's own ids (32 hex digits, as facegate's) are counted
    rows = [(f"{i:032x}", f"{i + size:032x}", gallery[i]) for i in range(size)]
    identities = [identity for _, identity, _ in rows]
    started = time.perf_counter()
    index.replace_all(rows)
    load_s = time.perf_counter() - started
    del rows
    index.search(found[0], k=1)
    grown = _rss_bytes() - before
    result: dict[str, Any] = {
        "size": size, "load_s": round(load_s, 2), "rss_delta_mb": round(grown / 2**20, 1),
        "matrix_mb": round(size * gallery.shape[1] * 4 / 2**20, 1),
        "bounds_mb": round(index._bounds.rows.nbytes / 2**20, 1) if index._bounds else 0.0,
        "search_alloc_mb": {name: _allocated_mb(fn, found[:3]) for name, fn in (
            ("facegate", lambda p: index.search(p, k=11)),
            ("baseline", lambda p: _full_sort(index, p, 11)))}}
    for k in KS:
        times, hits = _timed(lambda p, k: index.search(p, k=k), found, k)
        base_times, base_hits = _timed(lambda p, k: _full_sort(index, p, k),
                                       found[:baseline_probes], k)
        result[f"k{k}"] = {"facegate": summary(times), "baseline": summary(base_times),
                           "identical": sum(a == b for a, b in zip(hits, base_hits, strict=False)),
                           "compared": len(base_hits)}
    first = [hits[i][0].identity_id == identities[o] for i, o in enumerate(own) if o >= 0]
    result["genuine_first"] = round(float(np.mean(first)), 3)
    return result


def pg_run(spread: search_data.Spread, size: int, probes: int, seed: int,
           ef_values: list[int], graph: tuple[int, int]) -> dict[str, Any]:
    """In a fresh process: exact top 10 from the index, then pgvector on the same data."""
    from bench import search_pg
    from facegate.matching import DescriptorIndex

    gallery, found, _ = make_data(spread, size, probes=probes, seed=seed)
    index = DescriptorIndex()
    index.replace_all([(str(i), str(i), gallery[i]) for i in range(size)])
    truth = [[int(h.identity_id) for h in index.search(p, k=10)] for p in found]
    del index
    return search_pg.run(gallery, found, truth, ef_values=ef_values, m=graph[0],
                         ef_construction=graph[1])


def _in_child(fn: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(fn, *args).result()
        return result


def _tables(exact: list[dict[str, Any]], pg: list[dict[str, Any]]) -> list[str]:
    rows = []
    for r in exact:
        for k in KS:
            m = r[f"k{k}"]
            rows.append([f"{r['size']:,}", k, f"{m['baseline']['p50']} / {m['baseline']['p95']}",
                         f"{m['facegate']['p50']} / {m['facegate']['p95']}",
                         f"{m['baseline']['p50'] / m['facegate']['p50']:.1f}x",
                         f"{m['identical']}/{m['compared']}", r["rss_delta_mb"], r["matrix_mb"],
                         f"{r['rss_delta_mb'] / r['matrix_mb']:.2f}",
                         f"{r['search_alloc_mb']['baseline']} / {r['search_alloc_mb']['facegate']}",
                         r["genuine_first"]])
    out = [table(["identities", "k", "full sort p50 / p95 ms", "facegate p50 / p95 ms", "ratio",
                  "same hits", "RSS delta MB", "matrix MB", "RSS / matrix",
                  "MB per search: full sort / facegate", "genuine rank-1"], rows)]
    pg_rows = [[f"{r['rows']:,}", f"{r['m']}, {r['ef_construction']}", r["load_s"],
                r["build_s"], r["index_mb"], q["ef_search"],
                f"{q['ms']['p50']} / {q['ms']['p95']}", q["recall_at_1"], q["recall_at_10"],
                "yes" if q["uses_index"] else "NO"] for r in pg for q in r["queries"]]
    if pg_rows:
        out.append(table(["rows", "m, ef_construction", "load s", "HNSW build s", "index MB",
                          "ef_search",
                          "p50 / p95 ms", "recall@1", "recall@10", "index used"], pg_rows))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="'none': pgvector only")
    parser.add_argument("--pg-sizes", default=None, help="default: --sizes; 'none' skips pgvector")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--baseline-probes", type=int, default=30)
    parser.add_argument("--ef", default="100,200,400,800")
    parser.add_argument("--hnsw", default=f"{HNSW_M},{HNSW_EF_CONSTRUCTION}",
                        help="m,ef_construction (default: facegate's schema)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [] if args.sizes == "none" else [int(s) for s in args.sizes.split(",")]
    pg_sizes = [] if args.pg_sizes == "none" else \
        [int(s) for s in (args.pg_sizes or args.sizes).split(",")]
    ef_values = [int(e) for e in args.ef.split(",")]
    facts = machine()
    # big arrays always from mmap and back to the system when freed: RSS deltas mean something
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "131072"
    real, people = search_data.real_descriptors()
    spread = search_data.estimate(real, people)
    check = search_data.check(real, people, search_data.Generator(spread, seed=args.seed))
    exact, pg = [], []
    for size in sizes:
        exact.append(_in_child(exact_run, spread, size, args.probes, args.baseline_probes,
                               args.seed))
        print(_tables(exact[-1:], [])[0], flush=True)
    for size in pg_sizes:
        graph = tuple(int(v) for v in args.hnsw.split(","))
        pg.append(_in_child(pg_run, spread, size, args.probes, args.seed, ef_values, graph))
        print(_tables([], pg[-1:])[-1], flush=True)
    spread_rows = [[name, *values] for name, values in check.items()]
    tables = [table(["distance or length", "p5", "p50", "p95"], spread_rows),
              *_tables(exact, pg)]
    print("\n\n".join(tables))
    write_results("search", title="1:N search: exact in-memory index and pgvector HNSW",
                  facts=facts, tables=tables,
                  data={"settings": vars(args), "real_descriptors": real.shape[0],
                        "real_people": spread.people, "distribution_check": check,
                        "exact": exact, "pgvector": pg})


if __name__ == "__main__":
    main()
