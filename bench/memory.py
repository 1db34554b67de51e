"""Peak and steady RSS of ``facegate serve`` for the worst inputs at the default limits, one and
four at once, and many max-size bodies at once; the cost on normal requests beside it.

Inputs are made at run time: ``everyday/obama-1080p.jpg`` pasted (doubled) on a 39.9 MP canvas
as a 16-bit greyscale PNG, a JPEG and an RGBA PNG; a noise JPEG just under
``image.max_upload_bytes`` sent as base64 JSON (identify; and two of them to verify: the largest
body the server takes); 40 such identify bodies at once. The server runs as a subprocess on
loopback with its default settings (variants change one setting by environment, or run another
source tree: ``--before-tree`` for the code before this change). Its RSS comes from
/proc/PID/status: the peak is VmHWM after resetting it (``clear_refs``) before each row;
"steady" is VmRSS 3 s after the row. Per request = (peak - idle RSS) / requests at once.

    python -m bench.memory [--variants default,glibc-default] [--before-tree ../main]
                           [--normal-runs 30]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import EVERYDAY, REPO, machine, require, summary, table, write_results
from bench.http import BOUNDARY, free_port, multipart, running

MIB = 1024 * 1024
WIDTH, HEIGHT = 7296, 5472  # 39.9 MP, under the default 40 MP limit
#: name → (environment of the server, source tree)
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "glibc-default": {"FACEGATE_SERVER__MALLOC_MMAP_THRESHOLD_BYTES": "0"},
}


def encoded(image: Image.Image, kind: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def worst_photos() -> dict[str, bytes]:
    face = Image.open(require(EVERYDAY / "obama-1080p.jpg")).convert("RGB")
    face = face.resize((face.width * 2, face.height * 2), Image.Resampling.BICUBIC)
    ramp = np.linspace(40, 200, WIDTH, dtype=np.float32)[None, :].repeat(HEIGHT, axis=0)
    canvas = Image.fromarray(ramp.astype(np.uint8)).convert("RGB")
    canvas.paste(face, (1500, 1000))
    grey16 = np.asarray(canvas.convert("L"), dtype=np.uint16) * 257
    rgba = canvas.convert("RGBA")
    rgba.putalpha(220)
    return {"40 MP 16-bit grey PNG": encoded(Image.fromarray(grey16), "PNG"),
            "40 MP JPEG": encoded(canvas, "JPEG", quality=90),
            "40 MP RGBA PNG": encoded(rgba, "PNG")}


def max_size_jpeg(limit: int) -> bytes:
    """A noise JPEG just under ``limit`` bytes (the largest upload the server takes)."""
    rng = np.random.default_rng(0)
    side = 1000
    for _ in range(6):
        data = encoded(Image.fromarray(rng.integers(0, 256, (side, side, 3), np.uint8)), "JPEG",
                       quality=95)
        if 0.95 * limit <= len(data) <= limit:
            return data
        side = int(side * (0.975 * limit / len(data)) ** 0.5)
    raise SystemExit("could not make a max-size JPEG")


class Rss:
    """The server's resident memory from /proc (MB)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def _field(self, name: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
        raise SystemExit(f"no {name} for process {self.pid}")

    def now(self) -> float:
        return self._field("VmRSS")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak(self) -> float:
        return self._field("VmHWM")


def post(port: int, path: str, body: bytes, content_type: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        payload = response.read()
        if response.status == 422 and b"NO_FACE_FOUND" in payload:
            return 1422  # a correct answer: marked apart from validation errors
        return response.status
    finally:
        connection.close()


def row(rss: Rss, port: int, *, name: str, at_once: int, path: str, body: bytes,
        content_type: str, idle: float) -> dict[str, Any]:
    baseline = rss.now()
    rss.reset_peak()
    barrier = threading.Barrier(at_once)

    def send(_: int) -> int:
        barrier.wait()
        return post(port, path, body, content_type)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        statuses = Counter(pool.map(send, range(at_once)))
    wall = time.perf_counter() - started
    peak = rss.peak()
    time.sleep(3)
    steady = rss.now()
    answered = {("422 NO_FACE_FOUND" if k == 1422 else str(k)): v for k, v in statuses.items()}
    return {"input": name, "at_once": at_once, "body_mb": round(len(body) / MIB, 2),
            "baseline_mb": round(baseline, 1), "peak_mb": round(peak, 1),
            "per_request_mb": round((peak - idle) / at_once, 1), "steady_mb": round(steady, 1),
            "wall_s": round(wall, 2), "statuses": answered}


def json_body(*images: bytes) -> bytes:
    names = ("image", "image2")
    return json.dumps({name: base64.b64encode(data).decode()
                       for name, data in zip(names, images, strict=False)}).encode()


def normal_latency(port: int, photo: bytes, runs: int) -> dict[str, float]:
    body = multipart(photo)
    kind = f"multipart/form-data; boundary={BOUNDARY}"
    times = []
    for _ in range(runs + 2):
        started = time.perf_counter()
        status = post(port, "/v1/identify", body, kind)
        times.append((time.perf_counter() - started) * 1000.0)
        if status != 200:
            raise SystemExit(f"the 720p identify was answered {status}")
    return summary(times[2:])


def run_variant(label: str, env: dict[str, str], tree: Path, inputs: dict[str, Any],
                normal_runs: int) -> dict[str, Any]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="facegate-bench-memory-")
    command = [sys.executable, "-m", "facegate", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", data_dir]
    env = {**env, "PYTHONPATH": str(tree)}
    rows: list[dict[str, Any]] = []
    with running(f"memory-{label}", command, env=env,
                 ready=f"http://127.0.0.1:{port}/healthz", cwd=tree) as proc:
        rss = Rss(proc.pid)
        time.sleep(2)
        kind = f"multipart/form-data; boundary={BOUNDARY}"
        normal = multipart(inputs["normal"])
        post(port, "/v1/identify", normal, kind)  # warm: models loaded, first arenas made
        idle = rss.now()
        rows.append({"input": "idle (after one warm-up identify)", "at_once": 0,
                     "baseline_mb": round(idle, 1), "peak_mb": round(idle, 1),
                     "steady_mb": round(idle, 1)})
        latency = normal_latency(port, inputs["normal"], normal_runs)
        plan: list[tuple[str, list[int], str, bytes, str]] = [
            ("720p JPEG (normal photo)", [1, 4], "/v1/identify", normal, kind)]
        plan += [(name, [1, 4], "/v1/identify", multipart(data), kind)
                 for name, data in inputs["photos"].items()]
        plan += [("max-size JPEG as base64 JSON", [1, 4], "/v1/identify",
                  json_body(inputs["max_jpeg"]), "application/json"),
                 ("two max-size JPEGs, base64 JSON (verify)", [1], "/v1/verify",
                  json_body(inputs["max_jpeg"], inputs["max_jpeg"]), "application/json"),
                 ("max-size JPEG as base64 JSON", [40], "/v1/identify",
                  json_body(inputs["max_jpeg"]), "application/json")]
        for name, levels, path, body, content_type in plan:
            for at_once in levels:
                rows.append(row(rss, port, name=name, at_once=at_once, path=path, body=body,
                                content_type=content_type, idle=idle))
                print(label, rows[-1], flush=True)
        children = sum(child.memory_info().rss for child in _children(proc.pid)) / MIB
    return {"variant": label, "env": {k: v for k, v in env.items() if k != "PYTHONPATH"},
            "tree": str(tree), "rows": rows, "normal_identify_720p_ms": latency,
            "child_processes_rss_mb": round(children, 1)}


def _children(pid: int) -> list[Any]:
    import psutil

    return list(psutil.Process(pid).children(recursive=True))


def tables(results: list[dict[str, Any]]) -> list[str]:
    headers = ["variant", "input", "at once", "body MB", "baseline RSS MB", "peak RSS MB",
               "peak - idle per request MB", "peak - baseline per request MB",
               "steady RSS after MB", "wall s", "answers"]
    rows = []
    for result in results:
        for item in result["rows"]:
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(item.get("statuses", {}).items()))
            at_once = item["at_once"]
            over_baseline = round(max(0.0, item["peak_mb"] - item["baseline_mb"]) / at_once,
                                  1) if at_once else "-"
            rows.append([result["variant"], item["input"], at_once or "-",
                         item.get("body_mb", "-"), item["baseline_mb"], item["peak_mb"],
                         item.get("per_request_mb", "-"), over_baseline, item["steady_mb"],
                         item.get("wall_s", "-"), answers or "-"])
    cost = table(["variant", "720p identify p50 ms", "p95 ms", "mean ms", "runs",
                  "child processes RSS MB"],
                 [[r["variant"], r["normal_identify_720p_ms"]["p50"],
                   r["normal_identify_720p_ms"]["p95"], r["normal_identify_720p_ms"]["mean"],
                   r["normal_identify_720p_ms"]["n"], r["child_processes_rss_mb"]]
                  for r in results])
    return [table(headers, rows), "Cost on a normal request (sequential `POST /v1/identify` "
            "of `everyday/obama-720p.jpg`, same server, before the rows above):", cost]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="default,glibc-default",
                        help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--before-tree", type=Path, default=None,
                        help="also run the server from this source tree (e.g. ../main)")
    parser.add_argument("--normal-runs", type=int, default=30)
    args = parser.parse_args()
    facts = machine()
    from facegate.config import Settings

    limit = Settings().image.max_upload_bytes
    inputs: dict[str, Any] = {"normal": require(EVERYDAY / "obama-720p.jpg").read_bytes(),
              "photos": worst_photos(), "max_jpeg": max_size_jpeg(limit)}
    runs = [(name, VARIANTS[name], REPO) for name in args.variants.split(",") if name]
    if args.before_tree is not None:
        runs.append(("before", {}, args.before_tree.resolve()))
    results = [run_variant(label, env, tree, inputs, args.normal_runs)
               for label, env, tree in runs]
    sizes = {name: round(len(data) / 1024, 1) for name, data in inputs["photos"].items()}
    sizes["max-size JPEG"] = round(len(inputs["max_jpeg"]) / 1024, 1)
    notes = (f"Inputs (KB): {json.dumps(sizes)}. Server: `python -m facegate serve` on "
             "127.0.0.1 with its default settings (2 workers, queue 16, 64 MiB of bodies in "
             "flight, decode side 2048) and an empty gallery; `glibc-default` is the same with "
             "`FACEGATE_SERVER__MALLOC_MMAP_THRESHOLD_BYTES=0`; `before` is the code before "
             "this change. RSS of the server process from /proc (VmHWM reset per row, VmRSS 3 s "
             "after). Answers: HTTP status counts (422 NO_FACE_FOUND is a correct answer for "
             "the noise JPEGs).")
    rendered = tables(results)
    print("\n\n".join(rendered))
    write_results("memory", title="bench/memory: peak and steady RSS for the worst inputs",
                  facts=facts, tables=[*rendered, notes],
                  data={"config": {k: str(v) for k, v in vars(args).items()},
                        "input_kb": sizes, "results": results})


if __name__ == "__main__":
    main()
