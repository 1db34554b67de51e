"""The seed-style baseline of bench/http: a minimal Flask + face_recognition server.

    BENCH_GALLERY=path/encodings.npz gunicorn -w 2 -b 127.0.0.1:8601 bench.baseline_server:app

(run from the repository root). Each worker loads the gallery's names and encodings at start.
``POST /v1/identify`` with a multipart ``image``: ``face_locations`` + ``face_encodings`` +
``face_distance`` against the gallery; each face gets its nearest name when within 0.6, else
``unknown``. No face: 422 with facegate's error shape, so the benchmark counts both alike.
"""

from __future__ import annotations

import os
from typing import Any

import face_recognition as fr
import numpy as np
from flask import Flask, request

THRESHOLD = 0.6

with np.load(os.environ["BENCH_GALLERY"]) as _gallery:
    NAMES = [str(name) for name in _gallery["names"]]
    ENCODINGS = _gallery["encodings"].astype(np.float64)

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "faces": len(NAMES)}


@app.post("/v1/identify")
def identify() -> Any:
    upload = request.files.get("image")
    if upload is None:
        return _error("VALIDATION_ERROR", "send the photo as the multipart field 'image'")
    try:
        image = fr.load_image_file(upload.stream)
    except OSError:
        return _error("IMAGE_DECODE_ERROR", "the image could not be decoded")
    encodings = fr.face_encodings(image, fr.face_locations(image))
    if not encodings:
        return _error("NO_FACE_FOUND", "no face was found in the image")
    faces = []
    for encoding in encodings:
        distances = fr.face_distance(ENCODINGS, encoding)
        best = int(np.argmin(distances))
        known = bool(distances[best] <= THRESHOLD)
        faces.append({"status": "identified" if known else "unknown",
                      "name": NAMES[best] if known else None,
                      "distance": round(float(distances[best]), 4)})
    return {"faces": faces}


def _error(code: str, message: str) -> tuple[dict[str, Any], int]:
    return {"error": {"code": code, "message": message}}, 422
