"""The CNN fallback detector runs in a child process of the server.

dlib's CNN holds the GIL for its whole call; a server runs it in one child process so that its
other threads keep working. The child must give the in-process detector's boxes, be replaced
when it dies, and leave with its server.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import numpy as np
from conftest import free_port, spawn_server
from PIL import Image

from facegate.bootstrap import shared_cnn_detector, shared_models
from facegate.pipeline.detect import FaceFinder
from facegate.runtime.detector_process import DetectorProcess
from facegate.runtime.dlib_backend import DlibCnnDetector

#: An LFW dev crop where HOG finds no face, even padded: only the CNN fallback does.
HOG_MISS = "lfw/images/Chan_Gailey/Chan_Gailey_0001.jpg"


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.update(int(child) for child in children)
    return found


def test_child_gives_the_in_process_boxes_and_is_replaced_when_killed(
        shared_faces: Path) -> None:
    rgb = np.asarray(Image.open(shared_faces / HOG_MISS).convert("RGB"))
    assert not FaceFinder(shared_models(), fallback=None).locate(rgb)  # HOG alone: nothing
    expected = shared_cnn_detector().detect(rgb, upsample=0)
    assert len(expected) == 1

    detector = DetectorProcess(DlibCnnDetector)
    try:
        detector.warm_up()
        (child,) = detector.pool.pids()
        assert child in _children(os.getpid())
        assert detector.detect(rgb, upsample=0) == expected
        os.kill(child, signal.SIGKILL)
        time.sleep(0.2)
        assert detector.detect(rgb, upsample=0) == expected  # a fresh child took over
        assert child not in detector.pool.pids()
    finally:
        detector.close()


def test_server_identifies_a_cnn_only_face_and_its_child_leaves_with_it(
        shared_faces: Path, tmp_path: Path) -> None:
    port = free_port()
    server = spawn_server(tmp_path / "data", port)
    try:
        children = _children(server.pid)
        assert children, "the server started no detector process"
        photo = (shared_faces / HOG_MISS).read_bytes()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            person = http.post("/v1/identities", json={"name": "Chan Gailey"}).json()
            added = http.post(f"/v1/identities/{person['id']}/faces",
                              files={"image": ("chan.jpg", photo)})
            assert added.status_code == 201, added.text
            found = http.post("/v1/identify", files={"image": ("chan.jpg", photo)}).json()
        assert found["faces"][0]["identity"]["identity_id"] == person["id"]
    finally:
        server.send_signal(signal.SIGKILL)  # no clean shutdown: the child must notice alone
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.2)
    lingering = [c for c in children if Path(f"/proc/{c}").exists()
                 and "Z" not in Path(f"/proc/{c}/stat").read_text().split()[2]]
    assert not lingering
