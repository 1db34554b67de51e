#!/usr/bin/env python3
"""Fetch the always-on tests' real faces from the package registry into a cache folder.

The face_recognition 1.3.0 and insightface 2.1 source distributions on PyPI ship a few real test
photos (MIT licensed). They are downloaded with pip (no other network), unpacked once, and never
committed. Usage: fetch_test_faces.py [CACHE_DIR]  (default: .cache/test-faces)
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SOURCES = {
    "face_recognition==1.3.0": {
        "face_recognition-1.3.0/tests/test_images/obama.jpg": "obama.jpg",
        "face_recognition-1.3.0/tests/test_images/obama2.jpg": "obama2.jpg",
        "face_recognition-1.3.0/tests/test_images/obama3.jpg": "obama3.jpg",
        "face_recognition-1.3.0/tests/test_images/biden.jpg": "biden.jpg",
        "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg": "obama_partial.jpg",
        "face_recognition-1.3.0/tests/test_images/obama_partial_face2.jpg": "obama_partial2.jpg",
        "face_recognition-1.3.0/tests/test_images/32bit.png": "32bit.png",
    },
    "insightface==2.1": {
        "insightface-2.1/insightface/data/images/t1.jpg": "group6.jpg",
    },
}


def fetch(cache: Path) -> Path:
    wanted = [name for files in SOURCES.values() for name in files.values()]
    if all((cache / name).is_file() for name in wanted):
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for requirement, files in SOURCES.items():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", ":all:", "--dest", tmp, requirement],
                check=True,
            )
            archive = next(Path(tmp).glob(requirement.split("==")[0] + "-*.tar.gz"))
            with tarfile.open(archive) as tar:
                for member, name in files.items():
                    source = tar.extractfile(member)
                    if source is None:
                        raise SystemExit(f"{member} is missing from {archive.name}")
                    (cache / name).write_bytes(source.read())
    return cache


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".cache/test-faces")
    print(fetch(target))
