"""Kept probes and negative anchors (``FeedbackStore``, part of every ``GalleryStore``).

- ``kept_probes``: the descriptor of each face of a recent identify/verify request, by
  ``(request_id, face_index)``, with the identity it was named as (``identity_id``, null when
  unknown), its decision score and face size, until ``expires_at`` (epoch seconds): what
  ``POST /v1/feedback`` refers to. Never an image or a chip. Expired rows are deleted when new
  ones are kept and by ``expire_kept_probes(before)`` (the retention job); past ``max_rows``
  the oldest go first. ``verdict``/``verdict_identity`` record the feedback given, so a
  repeat is recognised and a contradicting one refused.
- ``negative_anchors``: a probe descriptor an identity (``identity_id``) was wrongly given to
  (``wrong`` feedback), one per ``(request_id, face_index)``; identify's decision refuses the
  identity for probes nearer its anchors than its own samples (``facegate/negatives.py``).

Both tables' rows belong to the person in ``identity_id`` and go with their erasure
(``storage/identity_links.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from facegate.domain import Descriptor
from facegate.errors import AnchorNotFoundError


@dataclass(frozen=True, slots=True)
class KeptProbe:
    request_id: str
    face_index: int
    descriptor: Descriptor
    #: The identity the face was named as; None: it was unknown.
    identity_id: str | None
    #: The decision score held against the threshold (cohort-adjusted or plain distance).
    score: float | None
    #: The face's smaller side in photo pixels (the enrolment quality gate of ``is``).
    size_px: int
    created_at: float
    expires_at: float
    verdict: str | None = None
    verdict_identity: str | None = None


@dataclass(frozen=True, slots=True)
class NegativeAnchor:
    id: str
    identity_id: str
    descriptor: Descriptor
    request_id: str
    face_index: int
    score: float | None
    created_at: float


class FeedbackStore(Protocol):
    def keep_probes(self, probes: Sequence[KeptProbe], *, now: float, max_rows: int) -> None:
        """Keep these probes; delete the expired ones and the oldest past ``max_rows``."""

    def kept_probes(self, request_id: str, *, now: float) -> list[KeptProbe]:
        """The request's unexpired probes, by face index (empty: unknown or expired)."""

    def set_verdict(self, request_id: str, face_index: int, verdict: str | None,
                    identity_id: str | None) -> None:
        """Record (None: clear) the feedback given on one kept probe."""

    def expire_kept_probes(self, before: float | datetime) -> int:
        """Delete the probes that expire before ``before`` (epoch seconds or an aware
        datetime: the retention job passes its ``now``); how many went."""

    def add_negative_anchor(self, anchor: NegativeAnchor) -> NegativeAnchor:
        """Store the anchor, or return the one stored for its (request_id, face_index)."""

    def negative_anchors(self, identity_id: str) -> list[NegativeAnchor]:
        """The identity's anchors, oldest first."""

    def delete_negative_anchor(self, identity_id: str, anchor_id: str) -> None:
        """Delete one anchor (AnchorNotFoundError when it is not the identity's)."""


class MemoryFeedback:
    """``FeedbackStore`` in process memory, for ``MemoryStore``."""

    def __init__(self) -> None:
        self._feedback_lock = threading.RLock()
        self._kept: dict[tuple[str, int], KeptProbe] = {}
        self._anchors: dict[str, NegativeAnchor] = {}

    def keep_probes(self, probes: Sequence[KeptProbe], *, now: float, max_rows: int) -> None:
        with self._feedback_lock:
            self.expire_kept_probes(now)
            for probe in probes:
                self._kept[(probe.request_id, probe.face_index)] = probe
            excess = len(self._kept) - max_rows
            if excess > 0:
                oldest = sorted(self._kept.values(), key=lambda p: (p.created_at, p.request_id))
                for probe in oldest[:excess]:
                    del self._kept[(probe.request_id, probe.face_index)]

    def kept_probes(self, request_id: str, *, now: float) -> list[KeptProbe]:
        with self._feedback_lock:
            return sorted((p for (r, _), p in self._kept.items()
                           if r == request_id and p.expires_at > now),
                          key=lambda p: p.face_index)

    def set_verdict(self, request_id: str, face_index: int, verdict: str | None,
                    identity_id: str | None) -> None:
        with self._feedback_lock:
            probe = self._kept.get((request_id, face_index))
            if probe is not None:
                self._kept[(request_id, face_index)] = replace(
                    probe, verdict=verdict, verdict_identity=identity_id)

    def expire_kept_probes(self, before: float | datetime) -> int:
        limit = epoch(before)
        with self._feedback_lock:
            gone = [key for key, p in self._kept.items() if p.expires_at <= limit]
            for key in gone:
                del self._kept[key]
            return len(gone)

    def add_negative_anchor(self, anchor: NegativeAnchor) -> NegativeAnchor:
        with self._feedback_lock:
            for stored in self._anchors.values():
                if (stored.request_id, stored.face_index) == (anchor.request_id,
                                                              anchor.face_index):
                    return stored
            self._anchors[anchor.id] = anchor
            return anchor

    def negative_anchors(self, identity_id: str) -> list[NegativeAnchor]:
        with self._feedback_lock:
            return sorted((a for a in self._anchors.values() if a.identity_id == identity_id),
                          key=lambda a: (a.created_at, a.id))

    def delete_negative_anchor(self, identity_id: str, anchor_id: str) -> None:
        with self._feedback_lock:
            anchor = self._anchors.get(anchor_id)
            if anchor is None or anchor.identity_id != identity_id:
                raise AnchorNotFoundError(f"identity {identity_id!r} has no negative anchor "
                                          f"{anchor_id!r}")
            del self._anchors[anchor_id]

    def erase_feedback(self, identity_id: str) -> dict[str, int]:
        """Delete every anchor and kept probe of the identity, counted per receipt field
        (``negative_anchors``, ``kept_probes``)."""
        with self._feedback_lock:
            anchors = [k for k, a in self._anchors.items() if a.identity_id == identity_id]
            kept = [k for k, p in self._kept.items() if p.identity_id == identity_id]
            for key in anchors:
                del self._anchors[key]
            for probe_key in kept:
                del self._kept[probe_key]
            return {"negative_anchors": len(anchors), "kept_probes": len(kept)}


def epoch(when: float | datetime) -> float:
    """Epoch seconds of a time given either way."""
    return when.timestamp() if isinstance(when, datetime) else float(when)
