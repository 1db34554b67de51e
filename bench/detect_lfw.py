"""How far BlazeFace moves a face's descriptor from HOG's, on seeded LFW dev images.

A cheap check that the box map keeps descriptors (the full check is ``facegate evaluate``): each
image is read as a probe (5-point chip, one view) by a HOG face reader and by a BlazeFace one
(``detection.detector = blazeface``); the largest face's descriptors are compared (Euclidean
distance; the match threshold is 0.6, same-person LFW distances are ~0.45). Prints and stores
distances only, never a descriptor.

    python -m bench.detect_lfw [--images 200] [--seed 17]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bench.common import lfw_dev_images, machine, sample, table, write_results


def main() -> None:
    from facegate.bootstrap import face_reader
    from facegate.config import Settings
    from facegate.domain import Timings
    from facegate.errors import FacegateError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    facts = machine()
    one: dict[str, Any] = {"alignment": {"landmarks": "5"},
                           "augmentation": {"flip": False, "jitter": 0}}
    readers = {"hog": face_reader(Settings(**one)),
               "blazeface": face_reader(Settings(detection={"detector": "blazeface"}, **one))}
    no_face = dict.fromkeys(readers, 0)
    distances = []
    for path in sample(lfw_dev_images(), args.images, seed=args.seed):
        found = {}
        for name, reader in readers.items():
            try:
                found[name] = reader.read(path.read_bytes(), "probe", Timings()).faces
            except FacegateError:
                found[name] = []
            no_face[name] += not found[name]
        if all(found.values()):
            a, b = (found[name][0].descriptor for name in readers)
            distances.append(float(np.linalg.norm(a - b)))
    d = np.asarray(distances)
    data = {"images": args.images, "seed": args.seed, "no_face": no_face, "both": int(d.size),
            "median": round(float(np.median(d)), 4), "p95": round(float(np.percentile(d, 95)), 4),
            "max": round(float(d.max()), 4), "over_0.2": int((d > 0.2).sum())}
    text = table(list(data), [[str(v) for v in data.values()]])
    print(text)
    write_results("detect_lfw", title="Descriptor distance HOG → BlazeFace boxes, LFW dev",
                  facts=facts, tables=[text], data=data)


if __name__ == "__main__":
    main()
