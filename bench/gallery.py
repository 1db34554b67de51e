"""The 1,000-identity LFW gallery bench/http identifies against, built once and cached.

Seeded LFW people each get their first image enrolled into a facegate data folder under
``.cache/bench/`` (gitignored) with the library; the same gallery is exported as names plus
encodings for the baseline server. A folder without ``done.json`` is an interrupted build and is
built again from scratch. Neither file is ever printed: descriptors are personal data.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CACHE, LFW, default_embedder, require, sample


@dataclass(frozen=True, slots=True)
class Gallery:
    data_dir: Path
    #: ``names`` (str) and ``encodings`` (float32, n x 128), one row per enrolled face.
    encodings: Path
    #: The enrolled images, relative to ``lfw/`` (kept out of the probes).
    enrolled: frozenset[str]
    identities: int


def ensure_gallery(count: int, *, seed: int) -> Gallery:
    from facegate.bootstrap import build
    from facegate.config import Settings
    from facegate.evaluation.descriptors import fingerprint

    model = default_embedder(build(Settings(storage={"url": "memory://"}))).model_name
    # the enrolment settings' fingerprint: a gallery enrolled with other views is rebuilt
    views = fingerprint(Settings(), "enrol")
    folder = CACHE / f"gallery-lfw-{count}-seed{seed}-{model}-{views}"
    done = folder / "done.json"
    if not done.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        facegate = build(Settings(data_dir=folder))
        enrolled = _enrol(facegate, count, seed=seed)
        _export(facegate, folder / "encodings.npz")
        facegate.close()
        done.write_text(json.dumps({"model": model, "enrolled": enrolled}, indent=1))
    enrolled = json.loads(done.read_text())["enrolled"]
    return Gallery(data_dir=folder, encodings=folder / "encodings.npz",
                   enrolled=frozenset(enrolled), identities=len(enrolled))


def _enrol(facegate: Any, count: int, *, seed: int) -> list[str]:
    """Enrol seeded LFW people's first image until ``count`` are in; their relative paths."""
    from facegate.errors import FacegateError

    people = sorted(p for p in require(LFW / "images").iterdir() if p.is_dir())
    enrolled: list[str] = []
    for person in sample(people, len(people), seed=seed):
        first = sorted(person.glob("*.jpg"))[0]
        identity = facegate.gallery.create_identity(name=person.name)
        try:
            facegate.gallery.enroll_image(
                identity.id, first.read_bytes(), multiple_faces="largest")
        except FacegateError as exc:
            print(f"skipped {first.name}: {exc.code}", file=sys.stderr)
            facegate.gallery.delete_identity(identity.id)
            continue
        enrolled.append(first.relative_to(LFW).as_posix())
        if len(enrolled) % 100 == 0:
            print(f"gallery: {len(enrolled)}/{count} enrolled", file=sys.stderr, flush=True)
        if len(enrolled) == count:
            return enrolled
    raise SystemExit(f"only {len(enrolled)} LFW people could be enrolled, {count} wanted")


def _export(facegate: Any, path: Path) -> None:
    store = facegate.store
    rows = store.descriptors()
    names = store.get_identities(sorted({identity for _, identity, _ in rows}))
    np.savez(path, names=np.array([names[identity].name for _, identity, _ in rows]),
             encodings=np.stack([vector for _, _, vector in rows]).astype(np.float32))
