"""What erasing a person costs: ``GalleryService.delete_identity`` on a SQLite gallery of 1,000
identities x 3 samples (synthetic descriptors, 150x150 noise JPEG chips), with no classifier
(the baseline), with a trained kNN, and with a kNN and an SVM. Each deletion rewrites every
classifier that holds the person in the same transaction and then truncates the WAL.

    python -m bench.erasure [--identities 1000] [--samples 3] [--deletions 40]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image

from bench.common import machine, summary, table, timed_ms, write_results
from facegate.domain import FaceSample
from facegate.services.faces import FaceReader
from facegate.services.gallery import GalleryService, IndexedGallery
from facegate.services.training import train
from facegate.storage.base import new_id, utcnow
from facegate.storage.sqlite import SQLiteStore

CONFIGS = {"none": [], "knn": ["knn"], "knn + svm": ["knn", "svm"]}


def chip(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


def build(path: Path, *, identities: int, samples: int, kinds: list[str]) -> SQLiteStore:
    rng = np.random.default_rng(0)
    store = SQLiteStore(path)
    chips = [chip(rng) for _ in range(16)]
    for p in range(identities):
        identity = store.create_identity(name=f"person {p}")
        centre = rng.standard_normal(128).astype(np.float32) * 0.1
        for s in range(samples):
            store.add_face(FaceSample(
                id=new_id(), identity_id=identity.id,
                descriptor=centre + rng.standard_normal(128).astype(np.float32) * 0.03,
                chip_jpeg=chips[(p + s) % len(chips)], image_sha256=f"{p:032x}{s:032x}",
                detection_score=1.0, created_at=utcnow(), model="synthetic"))
    for kind in kinds:
        params: dict[str, Any] = {"k": 3, "weights": "distance"} if kind == "knn" else {"C": 1.0}
        info = train(store, kind=kind, params=params, folds=2)
        store.activate_classifier(info.id)
    return store


def measure(config: str, kinds: list[str], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="facegate-bench-erasure-") as tmp:
        store = build(Path(tmp) / "g.db", identities=args.identities, samples=args.samples,
                      kinds=kinds)
        try:
            gallery = GalleryService(IndexedGallery(store), cast(FaceReader, None),
                                     multiple_faces="reject")
            victims = [i.id for i in store.list_identities(limit=args.deletions)[0]]
            times = [timed_ms(gallery.delete_identity, victim)[0] for victim in victims]
            blob_kib = [len(store.classifier_blob(c.id)) / 1024 for c in store.list_classifiers()]
        finally:
            store.close()
    return {"config": config, "delete_identity_ms": summary(times),
            "classifier_blob_kib": [round(b, 1) for b in blob_kib]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--deletions", type=int, default=40)
    args = parser.parse_args()
    facts = machine()
    results = [measure(config, kinds, args) for config, kinds in CONFIGS.items()]
    base = results[0]["delete_identity_ms"]["p50"]
    rows = [[r["config"], r["delete_identity_ms"]["p50"], r["delete_identity_ms"]["p95"],
             f"+{r['delete_identity_ms']['p50'] - base:.1f}",
             ", ".join(f"{b} KiB" for b in r["classifier_blob_kib"]) or "-"] for r in results]
    tables = [f"{args.identities} identities x {args.samples} samples, SQLite, "
              f"{args.deletions} deletions each\n\n"
              + table(["classifiers", "p50 ms", "p95 ms", "over none (p50)", "blob"], rows)]
    print(tables[0])
    write_results("erasure", title="Erasure: delete_identity with trained classifiers",
                  facts=facts, tables=tables, data={"settings": vars(args), "results": results})


if __name__ == "__main__":
    main()
