"""What access control and the audit log cost identify over HTTP: ``POST /v1/identify`` on two
``facegate serve`` processes over the same 1,000-identity LFW gallery (bench/gallery.py), one
with access control on (a store API key of scope ``recognize``, created through ``POST
/v1/keys``, sent in ``X-API-Key``; every request audited) and one open (loopback, no key, audit
off). Rounds alternate between the two (ABBA...), so what else the machine does falls on both.

    python -m bench.access [--clients 1,4,8] [--requests 400] [--rounds 4] [--seconds 60]
                           [--probes 200] [--identities 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import httpx

from bench.common import REPO, machine, table, write_results
from bench.gallery import ensure_gallery
from bench.http import free_port, load, merged, probes_for, public, running

BOOTSTRAP = "bench-bootstrap-key-0123456789"


def serve(gallery: Any, port: int) -> list[str]:
    return [sys.executable, "-m", "facegate", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", os.path.relpath(gallery.data_dir, REPO)]


def run(args: argparse.Namespace, gallery: Any, probes: list[Any]) -> list[dict[str, Any]]:
    ports = {"access on": free_port(), "open": free_port()}
    common = {"FACEGATE_LOG_LEVEL": "warning", "FACEGATE_RATE__RECOGNIZE_PER_MINUTE": "1000000",
              "FACEGATE_RATE__RECOGNIZE_BURST": "1000000"}
    envs = {"access on": {**common, "FACEGATE_SERVER__API_KEYS": BOOTSTRAP},
            "open": {**common, "FACEGATE_AUDIT__ENABLED": "false"}}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    levels: list[dict[str, Any]] = []
    with running("access on", serve(gallery, ports["access on"]), env=envs["access on"],
                 ready=base["access on"] + "/readyz"), \
         running("open", serve(gallery, ports["open"]), env=envs["open"],
                 ready=base["open"] + "/readyz"):
        created = httpx.post(base["access on"] + "/v1/keys", headers={"X-API-Key": BOOTSTRAP},
                             json={"name": "bench", "scopes": ["recognize"]}, timeout=30)
        created.raise_for_status()
        headers = {"access on": {"X-API-Key": created.json()["secret"]}, "open": {}}
        for name in base:
            load(base[name] + "/v1/identify", probes[::-1], clients=2, requests=8,
                 seconds=args.seconds, headers=headers[name])
        for clients in (int(c) for c in args.clients.split(",")):
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in base}
            for index in range(args.rounds):
                for name in (list(base) if index % 2 == 0 else list(base)[::-1]):
                    rounds[name].append(load(
                        base[name] + "/v1/identify", probes, clients=clients,
                        requests=args.requests // args.rounds, seconds=args.seconds,
                        headers=headers[name]))
            for name, done in rounds.items():
                result = merged(clients, done)
                levels.append({"server": name, **public(result)})
                print(f"{name} x{clients}: {result['requests_per_s']} req/s", flush=True)
        audited = httpx.get(base["access on"] + "/v1/audit", params={"limit": 1},
                            headers={"X-API-Key": BOOTSTRAP}, timeout=30)
        audited.raise_for_status()
    return levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--identities", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    facts = machine()
    gallery = ensure_gallery(args.identities, seed=args.seed)
    probes = probes_for(gallery, args.probes, seed=args.seed)
    levels = run(args, gallery, probes)
    by = {(lv["server"], lv["clients"]): lv for lv in levels}
    rows = []
    for (server, clients), lv in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        open_ = by[("open", clients)]
        lat = lv["latency_ms"]
        rows.append([clients, server, lv["requests"], lv["requests_per_s"], lat.get("p50"),
                     lat.get("p95"), lv["errors"],
                     f"{100 * lv['requests_per_s'] / open_['requests_per_s']:.1f}%"
                     if server == "access on" else ""])
    parts = [table(["clients", "server", "requests", "req/s", "p50 ms", "p95 ms", "errors",
                    "throughput vs open"], rows),
             f"{len(probes)} seeded LFW dev probes (seed {args.seed}), gallery of "
             f"{gallery.identities} LFW identities. 'access on': a recognize-scoped store key "
             "in X-API-Key, every request audited (default audit settings); 'open': loopback, "
             "no key, FACEGATE_AUDIT__ENABLED=false. Both with the rate limiter out of reach."]
    print(*parts, sep="\n\n")
    path = write_results("access", title="bench/access: identify with access control and audit "
                         "vs open", facts=facts, tables=parts,
                         data={"config": vars(args), "levels": levels})
    print(f"\nwrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
