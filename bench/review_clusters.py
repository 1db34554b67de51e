"""How pure the review queue's clusters are on LFW dev strangers, per clustering distance.

Every LFW dev image (3811 photos of 2086 people, nobody enrolled: all strangers) is read as
identify reads a probe, and its descriptor is offered to the review queue (a memory store, the
same ``add_review_face`` as every backend) in a seeded random order, as a camera would see them.
A face joins the nearest cluster whose centroid and every kept face (at most 30) are within the
distance (``cluster_within`` x the match threshold 0.6; ``--member-within`` sets the second
apart, ``--centroid-only`` drops it). For each ``cluster_within`` it reports:

- purity: the share of faces that are of their cluster's most common person (1.0: no mix-ups);
- pair precision / recall: of the same-cluster pairs, how many are one person; of the
  same-person pairs, how many share a cluster (1.0: nobody split over several clusters);
- clusters per person (of the people with 2+ photos) and mixed clusters.

Prints and stores counts only, never a descriptor.

    python -m bench.review_clusters [--seed 18] [--cache-dir DIR] [--factors 0.7 0.8]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.common import lfw_dev_images, machine, table, write_results

FACTORS = (0.6, 0.7, 0.8, 0.9)


def cluster(descriptors: list[tuple[str, Any]], within: float,
            member_within: float | None) -> list[list[str]]:
    """The people in each cluster after offering every descriptor in order."""
    from facegate.storage.memory import MemoryStore
    from facegate.storage.review import QueueLimits, ReviewFace

    store = MemoryStore()
    limits = QueueLimits(within=within, max_faces=10**6, max_per_cluster=30,
                         member_within=member_within)
    members: dict[str, list[str]] = defaultdict(list)
    for n, (person, descriptor) in enumerate(descriptors):
        placed = store.add_review_face(
            ReviewFace(id=f"f{n}", descriptor=descriptor, chip_jpeg=b"", image_sha256=f"{n}",
                       quality=0.5, seen_at=float(n)), limits=limits, new_cluster_id=f"c{n}")
        members[placed.cluster_id].append(person)
    return list(members.values())


def scores(clusters: list[list[str]]) -> dict[str, Any]:
    faces = sum(len(c) for c in clusters)
    purity = sum(Counter(c).most_common(1)[0][1] for c in clusters) / faces
    same_cluster = sum(len(c) * (len(c) - 1) // 2 for c in clusters)
    true_pairs = sum(k * (k - 1) // 2 for c in clusters for k in Counter(c).values())
    per_person: dict[str, int] = Counter(p for c in clusters for p in set(c))
    photos: Counter[str] = Counter(p for c in clusters for p in c)
    all_pairs = sum(k * (k - 1) // 2 for k in photos.values())
    repeated = [p for p, k in photos.items() if k > 1]
    return {
        "clusters": len(clusters), "faces": faces, "purity": round(purity, 4),
        "pair_precision": round(true_pairs / same_cluster, 4) if same_cluster else None,
        "pair_recall": round(true_pairs / all_pairs, 4) if all_pairs else None,
        "clusters_per_repeated_person": round(
            sum(per_person[p] for p in repeated) / len(repeated), 3),
        "mixed_clusters": sum(len(set(c)) > 1 for c in clusters),
    }


def main() -> None:
    from facegate.config import Settings
    from facegate.evaluation.descriptors import describe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--factors", type=float, nargs="+", default=list(FACTORS))
    parser.add_argument("--centroid-only", action="store_true",
                        help="no check against the kept faces (the first design)")
    parser.add_argument("--member-within", type=float, default=None,
                        help="the check against the kept faces, x the threshold "
                             "[default: the same as the centroid's, as the server does]")
    args = parser.parse_args()
    settings = Settings()
    paths = lfw_dev_images()
    found = describe(paths, settings, cache_dir=args.cache_dir)
    rows = [(path.parent.name, d) for path, d in found.items() if d is not None]
    random.Random(args.seed).shuffle(rows)
    threshold = settings.matching.threshold
    results = []
    for factor in args.factors:
        member = None if args.centroid_only else round(
            (args.member_within or factor) * threshold, 3)
        result = {"cluster_within": factor, "distance": round(factor * threshold, 3),
                  "member_within": member,
                  **scores(cluster(rows, factor * threshold, member))}
        results.append(result)
        print(result, flush=True)
    people = len({p for p, _ in rows})
    headers = ["cluster_within", "distance", "member_within", "clusters", "purity",
               "pair precision", "pair recall", "clusters / repeated person", "mixed clusters"]
    body = [[r["cluster_within"], r["distance"], r["member_within"], r["clusters"], r["purity"],
             r["pair_precision"], r["pair_recall"], r["clusters_per_repeated_person"],
             r["mixed_clusters"]] for r in results]
    write_results("review_clusters", title="Review queue clusters on LFW dev strangers",
                  facts={**machine(), "images": len(rows), "people": people,
                         "seed": args.seed, "threshold": threshold},
                  tables=[table(headers, body)], data={"results": results})


if __name__ == "__main__":
    main()
