"""What the audit log costs a request, in-process (no network, no model): the same small
``POST /v1/identify``-shaped FastAPI route called through ASGI with and without
``api.audit.AuditTrail`` in front, the trail's writer committing to a real SQLite gallery
meanwhile; and what one batch commit holds the gallery's lock for (identify's store reads
wait behind it), and how many rows a second the writer commits.

    python -m bench.audit [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from bench.common import machine, summary, table, write_results
from facegate.api import audit
from facegate.api.errors import JSONResponse
from facegate.services.audit import AuditWriter
from facegate.storage.audit import AuditRecord
from facegate.storage.base import utcnow
from facegate.storage.sqlite import SQLiteStore


def app_for(writer: AuditWriter | None) -> Any:
    api = FastAPI(default_response_class=JSONResponse)

    @api.post("/v1/identify")
    async def identify(request: Request) -> dict[str, Any]:
        answer = {"faces": [{"status": "identified", "identity": {"identity_id": "a" * 32}},
                            {"status": "unknown", "identity": None}]}
        audit.note_identify(request, answer)
        return answer

    api.openapi()
    return api if writer is None else audit.AuditTrail(api, writer=writer, api=api,
                                                        bootstrap_keys=[])


async def call(app: Any) -> float:
    scope = {"type": "http", "method": "POST", "path": "/v1/identify", "raw_path": b"",
             "root_path": "", "query_string": b"", "headers": [(b"x-api-key", b"k" * 16)],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8600), "scheme": "http",
             "http_version": "1.1", "state": {}}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.perf_counter()
    await app(scope, receive, send)
    return (time.perf_counter() - started) * 1000


async def timings(app: Any, requests: int) -> list[float]:
    for _ in range(200):
        await call(app)
    return [await call(app) for _ in range(requests)]


def record() -> AuditRecord:
    return AuditRecord(id=uuid.uuid4().hex, time=utcnow(), actor_kind="key", actor_id="k1",
                       actor_name="door-cam", client="10.0.0.7", request_id=uuid.uuid4().hex,
                       method="POST", route="/v1/identify", status=200,
                       identity_ids=("a" * 32,), details={"unknown": 1, "faces": 2})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    facts = machine()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "g.db")
        writer = AuditWriter(store)
        writer.start()
        plain, trailed = app_for(None), app_for(writer)
        without: list[float] = []
        with_trail: list[float] = []
        for _ in range(args.rounds):  # interleaved, so load changes hit both alike
            without += asyncio.run(timings(plain, args.requests))
            with_trail += asyncio.run(timings(trailed, args.requests))
        writer.flush()
        commits = []
        for _ in range(20):
            batch = [record() for _ in range(200)]
            started = time.perf_counter()
            store.append_audit(batch)
            commits.append((time.perf_counter() - started) * 1000)
        rows = [record() for _ in range(20_000)]
        started = time.perf_counter()
        for row in rows:
            writer.submit(row)
        writer.flush(timeout_s=120)
        rate = len(rows) / (time.perf_counter() - started)
        writer.close()
        store.close()
    a, b = summary(without), summary(with_trail)
    rows_out = [["without audit", a["n"], a["p50"], a["p95"], a["p99"]],
                ["with audit", b["n"], b["p50"], b["p95"], b["p99"]],
                ["difference", "", round(b["p50"] - a["p50"], 3), round(b["p95"] - a["p95"], 3),
                 round(b["p99"] - a["p99"], 3)]]
    c = summary(commits)
    tables = [table(["route call (ASGI, in-process)", "requests", "p50 ms", "p95 ms", "p99 ms"],
                    rows_out),
              table(["SQLite commit of 200 rows", "p50 ms", "p95 ms", "max ms"],
                    [["append_audit", c["p50"], c["p95"], c["max"]]]),
              table(["writer throughput", "rows/s"], [["20,000 rows queued at once",
                                                      round(rate)]])]
    write_results("audit", title="bench/audit: what the audit log costs a request",
                  facts=facts, tables=tables,
                  data={"without": a, "with": b, "commit_200_rows_ms": c, "rows_per_s": rate})
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
