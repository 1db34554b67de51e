"""What metrics and events cost identify over HTTP: ``POST /v1/identify`` on two ``facegate
serve`` processes over the same 1,000-identity LFW gallery (bench/gallery.py), one with
``/metrics`` on and events delivered to an MQTT broker (a Debian Mosquitto the bench starts on a
free loopback port) and to a webhook (a small HTTP receiver in this process that answers 200),
one with metrics off and no event sink. Rounds alternate between the two (ABBA...), so what else
the machine does falls on both. The issue's goal: throughput within 5% of without.

    python -m bench.observability [--clients 1,4,8] [--requests 400] [--rounds 4]
                                  [--seconds 60] [--probes 200] [--identities 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import REPO, machine, table, write_results
from bench.gallery import ensure_gallery
from bench.http import free_port, load, merged, probes_for, public, running

MOSQUITTO = Path("/usr/sbin/mosquitto")
ON, OFF = "metrics+events", "off"
#: Identify names its source, so events also go to the per-camera topic.
CAMERA = "bench-door"


@contextmanager
def mosquitto(folder: Path) -> Iterator[int]:
    """Debian's broker on a free loopback port, no persistence, until the block ends."""
    if not MOSQUITTO.is_file():
        raise SystemExit(f"{MOSQUITTO} is missing: apt-get install mosquitto")
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\n"
                      "allow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([str(MOSQUITTO), "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("mosquitto did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Counts:
    """Events that arrived, by where (``mqtt`` topic root, ``webhook``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by: dict[str, int] = {}

    def add(self, key: str) -> None:
        with self.lock:
            self.by[key] = self.by.get(key, 0) + 1


@contextmanager
def webhook(counts: Counts) -> Iterator[str]:
    """An HTTP receiver answering 200 to every POST, counting them."""

    class Hook(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps the connection, as real receivers do

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            counts.add("webhook")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def subscriber(port: int, counts: Counts) -> Iterator[None]:
    """A QoS 1 subscriber to everything facegate publishes, counting messages per topic kind."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2)

    def on_message(client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        counts.add("mqtt " + "/".join(message.topic.split("/")[:2]))

    client.on_connect = lambda c, *_: c.subscribe("facegate/#", qos=1)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        yield
    finally:
        client.disconnect()
        client.loop_stop()


def serve(gallery: Any, port: int) -> list[str]:
    return [sys.executable, "-m", "facegate", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", os.path.relpath(gallery.data_dir, REPO)]


def environments(broker_port: int, hook: str) -> dict[str, dict[str, str]]:
    common = {"FACEGATE_LOG_LEVEL": "warning", "FACEGATE_RATE__RECOGNIZE_PER_MINUTE": "1000000",
              "FACEGATE_RATE__RECOGNIZE_BURST": "1000000"}
    return {
        ON: {**common, "FACEGATE_METRICS__ENABLED": "true",
             "FACEGATE_EVENTS__ENABLED": "true",
             "FACEGATE_EVENTS__MQTT__URL": f"mqtt://127.0.0.1:{broker_port}",
             "FACEGATE_EVENTS__WEBHOOKS": json.dumps([{"url": hook, "secret": "bench-secret"}])},
        OFF: {**common, "FACEGATE_METRICS__ENABLED": "false", "FACEGATE_EVENTS__ENABLED": "false"},
    }


def measure(args: argparse.Namespace, probes: list[Any],
            base: dict[str, str]) -> list[dict[str, Any]]:
    urls = {name: f"{url}/v1/identify?camera={CAMERA}" for name, url in base.items()}
    for name in base:
        load(urls[name], probes[::-1], clients=2, requests=8, seconds=args.seconds)
    levels: list[dict[str, Any]] = []
    for clients in (int(c) for c in args.clients.split(",")):
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in base}
        for index in range(args.rounds):
            for name in (list(base) if index % 2 == 0 else list(base)[::-1]):
                rounds[name].append(load(urls[name], probes, clients=clients,
                                         requests=args.requests // args.rounds,
                                         seconds=args.seconds))
        for name, done in rounds.items():
            result = merged(clients, done)
            levels.append({"server": name, **public(result)})
            print(f"{name} x{clients}: {result['requests_per_s']} req/s", flush=True)
    return levels


def run(args: argparse.Namespace, gallery: Any, probes: list[Any]) -> dict[str, Any]:
    counts = Counts()
    ports = {ON: free_port(), OFF: free_port()}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with tempfile.TemporaryDirectory() as folder, mosquitto(Path(folder)) as broker, \
            webhook(counts) as hook, subscriber(broker, counts):
        envs = environments(broker, hook)
        with running(ON, serve(gallery, ports[ON]), env=envs[ON], ready=base[ON] + "/readyz"), \
             running(OFF, serve(gallery, ports[OFF]), env=envs[OFF],
                     ready=base[OFF] + "/readyz"):
            levels = measure(args, probes, base)
            metrics = httpx.get(base[ON] + "/metrics", timeout=30).status_code
            time.sleep(3)  # the last events reach the broker and the webhook
    return {"levels": levels, "events_received": dict(sorted(counts.by.items())),
            "metrics_status": metrics}


def tables(data: dict[str, Any], probes: int, gallery: Any, seed: int) -> list[str]:
    by = {(lv["server"], lv["clients"]): lv for lv in data["levels"]}
    rows = []
    for (server, clients), lv in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        off = by[(OFF, clients)]
        lat = lv["latency_ms"]
        rows.append([clients, server, lv["requests"], lv["requests_per_s"], lat.get("p50"),
                     lat.get("p95"), lv["errors"],
                     f"{100 * lv['requests_per_s'] / off['requests_per_s']:.1f}%"
                     if server == ON else ""])
    received = ", ".join(f"{k}: {v}" for k, v in data["events_received"].items()) or "none"
    return [table(["clients", "server", "requests", "req/s", "p50 ms", "p95 ms", "errors",
                   "throughput vs off"], rows),
            f"{probes} seeded LFW dev probes (seed {seed}), gallery of {gallery.identities} LFW "
            f"identities, every identify with `camera={CAMERA}`. '{ON}': "
            "FACEGATE_METRICS__ENABLED=true, an MQTT sink (Mosquitto on loopback, QoS 1) and a "
            "signed webhook (a receiver in the bench process answering 200); "
            f"'{OFF}': FACEGATE_METRICS__ENABLED=false, FACEGATE_EVENTS__ENABLED=false. Both "
            "with the rate limiter out of reach.",
            f"Events received during the run: {received}. GET /metrics on '{ON}': HTTP "
            f"{data['metrics_status']}. (No events or a 404 mean the code measured did not "
            "have that feature yet.)"]


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
    data = run(args, gallery, probes)
    parts = tables(data, len(probes), gallery, args.seed)
    print(*parts, sep="\n\n")
    path = write_results("observability", title="bench/observability: identify with metrics "
                         "and event sinks (MQTT + webhook) vs without", facts=facts,
                         tables=parts, data={"config": vars(args), **data})
    print(f"\nwrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
