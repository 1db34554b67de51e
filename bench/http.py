"""Requests per second and latency of ``POST /v1/identify``: ``facegate serve`` vs a minimal
Flask + face_recognition server (gunicorn, 2 workers), with 1, 4 and 8 concurrent clients.

Both servers run on 127.0.0.1 at the same time (the idle one costs nothing) against the same
1,000-identity LFW gallery (bench/gallery.py, cached), and get the same seeded sample of LFW dev
images, none of them an enrolled image. Each client is a thread with its own keep-alive
connection; a level stops after ``--requests`` requests or ``--seconds``, whichever comes
first. Warm-up requests are timed and reported apart. Any answer other than 200 or 422
NO_FACE_FOUND is an error (facegate must have none).

    python -m bench.http [--clients 1,4,8] [--requests 400] [--rounds 4] [--seconds 60]
                         [--probes 200] [--identities 1000] [--warmup 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.common import (
    CACHE,
    LFW,
    REPO,
    lfw_dev_images,
    machine,
    ratio,
    sample,
    summary,
    table,
    write_results,
)
from bench.gallery import ensure_gallery

Probe = tuple[str, bytes]  # (person, image bytes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(name: str, command: list[str], *, env: dict[str, str], ready: str,
            cwd: Path = REPO) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server, wait until ``ready`` answers 200, stop it on the way out."""
    CACHE.mkdir(parents=True, exist_ok=True)
    log_path = CACHE / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}; see {log_path}")
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} not ready after 180 s; see {log_path}")
            time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def outcome(person: str, status: int, body: bytes) -> str:
    """named right / named wrong / unknown (first face), no face, or ``error <status>``."""
    if status == 422 and b"NO_FACE_FOUND" in body:
        return "no face"
    if status != 200:
        return f"error {status}"
    face = json.loads(body)["faces"][0]
    name = (face.get("identity") or {}).get("name") or face.get("name")
    if face["status"] != "identified":
        return "unknown"
    return "named right" if name == person else "named wrong"


BOUNDARY = "benchboundary7MA4YWxkTrZu0gW"


def multipart(data: bytes) -> bytes:
    """A ``multipart/form-data`` body with one file part named ``image``."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; "
            'filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def load(url: str, probes: list[Probe], *, clients: int, requests: int,
         seconds: float, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """``clients`` threads post probes in turn until ``requests`` are sent or time is up.

    Each client is a keep-alive ``http.client`` connection posting bodies encoded beforehand:
    the load generator shares this machine's two cores with the servers, so it must cost as
    little CPU per request as possible (about 0.3 ms; httpx took 1.5-2.5 ms).
    """
    target = urlsplit(url)
    path = f"{target.path}?{target.query}" if target.query else target.path
    bodies = [(person, multipart(data)) for person, data in probes]
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **(headers or {})}
    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    def client() -> None:
        nonlocal issued
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
        while True:
            with lock:
                if issued >= requests or time.monotonic() > deadline:
                    connection.close()
                    return
                person, body = bodies[issued % len(bodies)]
                issued += 1
            started = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                kind = outcome(person, response.status, response.read())
            except (OSError, http.client.HTTPException) as exc:
                kind = f"error {type(exc).__name__}"
                connection.close()
            ms = (time.perf_counter() - started) * 1000.0
            with lock:
                latencies.append(ms)
                outcomes[kind] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return measured(clients, time.perf_counter() - started, latencies, outcomes)


def measured(clients: int, wall: float, latencies: list[float],
             outcomes: Counter[str]) -> dict[str, Any]:
    errors = sum(n for kind, n in outcomes.items() if kind.startswith("error"))
    return {"clients": clients, "requests": len(latencies), "wall_s": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 2), "latency_ms": summary(latencies),
            "errors": errors, "outcomes": dict(sorted(outcomes.items())),
            "_latencies": latencies, "_wall": wall}


def public(result: dict[str, Any]) -> dict[str, Any]:
    """What goes into the results file (not the raw latencies)."""
    return {key: value for key, value in result.items() if not key.startswith("_")}


def merged(clients: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One level's rounds as one measurement: all requests over the summed wall time."""
    outcomes: Counter[str] = Counter()
    for one in rounds:
        outcomes.update(one["outcomes"])
    result = measured(clients, sum(r["_wall"] for r in rounds),
                      [ms for r in rounds for ms in r["_latencies"]], outcomes)
    result["rounds_requests_per_s"] = [r["requests_per_s"] for r in rounds]
    return result


def servers(gallery: Any) -> dict[str, dict[str, Any]]:
    """How to start each server, and where to find it."""
    python = sys.executable
    ports = {"baseline": free_port(), "facegate": free_port()}
    gunicorn = [python, "-m", "gunicorn", "--workers", "2", "--bind",
                f"127.0.0.1:{ports['baseline']}", "--timeout", "120", "--log-level", "warning",
                "bench.baseline_server:app"]
    facegate = [python, "-m", "facegate", "serve", "--host", "127.0.0.1",
                "--port", str(ports["facegate"]), "--data-dir",
                os.path.relpath(gallery.data_dir, REPO)]
    encodings = os.path.relpath(gallery.encodings, REPO)
    return {
        "baseline": {"command": gunicorn, "env": {"BENCH_GALLERY": encodings},
                     "base": f"http://127.0.0.1:{ports['baseline']}", "ready": "/healthz"},
        # One address at ~115 req/s is over the default rate limit (1200/min): a limit it never
        # reaches keeps the limiter's cost in the figures without its refusals.
        "facegate": {"command": facegate, "env": {
            "FACEGATE_LOG_LEVEL": "warning", "FACEGATE_RATE__RECOGNIZE_PER_MINUTE": "1000000",
            "FACEGATE_RATE__RECOGNIZE_BURST": "1000000"},
                     "base": f"http://127.0.0.1:{ports['facegate']}", "ready": "/readyz"},
    }


def probes_for(gallery: Any, count: int, *, seed: int) -> list[Probe]:
    images = [p for p in lfw_dev_images()
              if p.relative_to(LFW).as_posix() not in gallery.enrolled]
    return [(p.parent.name, p.read_bytes()) for p in sample(images, count, seed=seed)]


def run_all(args: argparse.Namespace, gallery: Any, probes: list[Probe]) -> dict[str, Any]:
    specs = servers(gallery)
    warmups: dict[str, Any] = {}
    levels: list[dict[str, Any]] = []
    with running("baseline", specs["baseline"]["command"], env=specs["baseline"]["env"],
                 ready=specs["baseline"]["base"] + specs["baseline"]["ready"]), \
         running("facegate", specs["facegate"]["command"], env=specs["facegate"]["env"],
                 ready=specs["facegate"]["base"] + specs["facegate"]["ready"]):
        urls = {name: spec["base"] + "/v1/identify" for name, spec in specs.items()}
        for name, url in urls.items():  # 2 clients, so both of gunicorn's workers warm up
            warmups[name] = load(url, probes[::-1], clients=2, requests=args.warmup,
                                 seconds=args.seconds)
        for clients in (int(c) for c in args.clients.split(",")):
            # Rounds alternate between the servers (ABBA...), so a change in what else this
            # shared machine is doing falls on both alike.
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
            for index in range(args.rounds):
                for name in (list(urls) if index % 2 == 0 else list(urls)[::-1]):
                    rounds[name].append(load(
                        urls[name], probes, clients=clients,
                        requests=args.requests // args.rounds, seconds=args.seconds))
            for name, done in rounds.items():
                result = merged(clients, done)
                levels.append({"server": name, **public(result)})
                print(f"{name} x{clients}: {result['requests_per_s']} req/s (rounds "
                      f"{result['rounds_requests_per_s']})", flush=True)
    return {"warmup": {name: public(w) for name, w in warmups.items()}, "levels": levels,
            "commands": {n: " ".join(Path(a).name if a == sys.executable else a
                                     for a in s["command"]) for n, s in specs.items()}}


def tables(data: dict[str, Any]) -> list[str]:
    by = {(lv["server"], lv["clients"]): lv for lv in data["levels"]}
    rows, answers = [], []
    for (server, clients), lv in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        base = by.get(("baseline", clients))
        speed = ratio(lv["requests_per_s"], base["requests_per_s"]) if base else "-"
        lat = lv["latency_ms"]
        rows.append([clients, server, lv["requests"], lv["requests_per_s"], lat.get("p50"),
                     lat.get("p95"), lat.get("p99"), lv["errors"],
                     speed if server == "facegate" else ""])
        answers.append([clients, server, ", ".join(f"{k} {v}" for k, v in lv["outcomes"].items())])
    warm = [[name, w["requests"], w["latency_ms"].get("p50"), w["latency_ms"].get("max"),
             w["errors"]] for name, w in data["warmup"].items()]
    return [
        table(["clients", "server", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors",
               "throughput vs baseline"], rows),
        table(["clients", "server", "answers (first face of each probe)"], answers),
        "Warm-up (2 clients, excluded above):",
        table(["server", "requests", "p50 ms", "max ms", "errors"], warm),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,8", help="concurrency levels")
    parser.add_argument("--requests", type=int, default=400, help="requests per level, at most")
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds per level, alternating the servers; requests split evenly")
    parser.add_argument("--seconds", type=float, default=60, help="time per round, at most")
    parser.add_argument("--probes", type=int, default=200, help="seeded LFW dev images sent")
    parser.add_argument("--identities", type=int, default=1000, help="gallery size")
    parser.add_argument("--warmup", type=int, default=8, help="warm-up requests per server")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    facts = machine()
    gallery = ensure_gallery(args.identities, seed=args.seed)
    probes = probes_for(gallery, args.probes, seed=args.seed)
    data = run_all(args, gallery, probes)
    notes = (f"{len(probes)} seeded LFW dev probes (seed {args.seed}, none enrolled), gallery of "
             f"{gallery.identities} LFW identities (one image each); baseline: "
             f"`{data['commands']['baseline']}`; facegate: `{data['commands']['facegate']}` "
             "with its default settings. Loopback only.")
    parts = tables(data)
    print(*parts, notes, sep="\n\n")
    path = write_results("http", title="bench/http: POST /v1/identify, baseline vs facegate",
                         facts=facts, tables=[*parts, notes],
                         data={"config": vars(args), "gallery_identities": gallery.identities,
                               **data})
    print(f"\nwrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
