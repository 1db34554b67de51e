"""Matching, in plain numpy: distances, per-identity top-k and the open-set decision.

The metric is the Euclidean distance between dlib descriptors: lower is closer, 0 is identical,
and the dlib model was trained so that two photos of one person are usually within 0.6. An
identity's distance to a probe is the distance of its closest enrolled sample. A probe is
``unknown`` when even the best identity is farther than the threshold.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from facegate.domain import DESCRIPTOR_SIZE, Candidate, Decision, Descriptor


def distances(probe: Descriptor, gallery: NDArray[np.float32]) -> NDArray[np.float32]:
    """Euclidean distance from one probe to every row of ``gallery``."""
    if gallery.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    diff = gallery - probe[None, :]
    squared: NDArray[np.float32] = np.einsum("ij,ij->i", diff, diff)
    return np.sqrt(squared).astype(np.float32)


def distance(a: Descriptor, b: Descriptor) -> float:
    return float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))


def is_match(distance_value: float, threshold: float) -> bool:
    """Same person when the distance is at most the threshold."""
    return distance_value <= threshold


def decide(candidates: list[Candidate], threshold: float, *,
           adjusted_distance: float | None = None) -> Decision:
    """The best candidate if it is within the threshold, else unknown.

    With ``adjusted_distance`` (``CohortRule.adjusted``), that value is held against the
    threshold instead of the best candidate's plain distance.
    """
    best = candidates[0] if candidates else None
    if best is not None and is_match(
            best.distance if adjusted_distance is None else adjusted_distance, threshold):
        return Decision(identity=best, threshold=threshold, adjusted_distance=adjusted_distance)
    return Decision(identity=None, threshold=threshold, adjusted_distance=adjusted_distance)


@dataclass(frozen=True, slots=True)
class CohortRule:
    """Open-set identification by a cohort-adjusted distance (the gallery is the cohort).

    With hundreds of people enrolled, a stranger is often within 0.6 of *someone*: the nearest
    of many impostor distances is small. This rule adds to the best plain distance ``d1``
    two corrections measured against the other enrolled people::

        adjusted = d1 + probe_weight    * (reference - mean of the probe's `size` nearest
                                           other identities)
                      + identity_weight * (reference - mean of the matched sample's `size`
                                           nearest other identities)

    A probe that lies close to many people (a face the model cannot tell apart well), or a
    matched person who resembles many others, must come closer to be accepted. Missing cohort
    members (a gallery with fewer than ``size + 1`` people) count as ``reference``, so in a
    small gallery the adjusted distance is the plain distance, and it tightens smoothly as the
    gallery grows. It stays in distance units: the same threshold (0.6) applies. On the LFW
    open-set protocol (746 people) it cut FNIR at FPIR 1% from 42.7% to ~23% (docs/accuracy.md).
    """

    size: int = 10
    probe_weight: float = 0.5
    identity_weight: float = 0.5
    reference: float = 0.7

    def cohort_mean(self, distances: list[float]) -> float:
        """Mean of the ``size`` smallest distances, missing ones counted as ``reference``."""
        nearest = sorted(distances)[: self.size]
        return (sum(nearest) + (self.size - len(nearest)) * self.reference) / self.size

    def adjusted(self, best: float, *, probe_cohort: list[float],
                 identity_cohort: list[float]) -> float:
        """The adjusted distance of a best match at plain distance ``best``.

        ``probe_cohort``: the probe's distances to the other identities (not the best one);
        ``identity_cohort``: the matched sample's distances to identities other than its own.
        """
        return (best + self.probe_weight * (self.reference - self.cohort_mean(probe_cohort))
                + self.identity_weight
                * (self.reference - self.cohort_mean(identity_cohort)))



#: ``nearer`` / ``adaptive`` / ``off``: how negative anchors refuse an identity.
NegativeMode = Literal["nearer", "adaptive", "off"]


@dataclass(frozen=True, slots=True)
class NegativeRule:
    """How negative anchors refuse an identity in identify's open-set decision.

    ``wrong`` feedback (``POST /v1/feedback``) stores a probe's descriptor as a negative anchor
    of the identity it was wrongly named as. Afterwards, under ``nearer`` (the default)::

        refused  when  min distance(probe, anchors of X) < distance(probe, X's nearest) + margin

    With ``margin`` 0 it is a nearest-neighbour vote between the person and the stranger the
    operator pointed out: the stranger's later photos lie nearer the stranger's first photo
    than the person's enrolment, a genuine photo of the person nearer the person. ``adaptive``
    is a per-identity threshold instead: the identity accepts only probes whose decision score
    is below the lowest score any of its anchors had when it was named, less ``margin``;
    ``off`` keeps anchors without effect. The rule runs after the threshold (cohort or plain):
    it only turns a named face into ``unknown``, never names anyone. docs/accuracy.md measures
    the choices (``facegate evaluate feedback``).
    """

    mode: NegativeMode = "nearer"
    margin: float = 0.0

    def refuses(self, *, own: float, negatives: list[float], score: float = 0.0,
                anchor_scores: list[float] | None = None) -> bool:
        """Whether a probe named as an identity at plain distance ``own`` from its nearest
        sample (decision ``score``) is refused, given its distances to that identity's negative
        anchors (``negatives``) and the anchors' own decision scores (``anchor_scores``)."""
        if self.mode == "nearer":
            return bool(negatives) and min(negatives) < own + self.margin
        if self.mode == "adaptive":
            return bool(anchor_scores) and score >= min(anchor_scores or [0.0]) - self.margin
        return False



@dataclass(frozen=True, slots=True)
class Hit:
    """The closest sample of one identity."""

    identity_id: str
    face_id: str
    distance: float


#: Galleries of at least this many rows are searched through lower bounds first (still exact).
BOUNDED_MIN_ROWS = 16384
#: Principal directions the lower bounds use (the matrix of bounds holds this many + 2 columns).
BOUND_DIMS = 48


class _Bounds:
    """A lower bound of every row's distance to a probe, from a few principal directions.

    With ``x = g - mean`` and ``y = p - mean`` and an orthonormal basis ``U`` (columns), the
    distance splits into a part inside and a part outside the basis, and by the triangle
    inequality ``|p - g|^2 >= |U'y - U'x|^2 + (|y_out| - |x_out|)^2``. Expanded, that is
    ``|x|^2 + |y|^2 - 2 (U'x . U'y + |x_out| |y_out|)``: one matrix-vector product over the rows
    ``[U'x, |x_out|, |x|^2]`` (50 columns: 40% of the descriptors' bytes). It holds for *any*
    orthonormal basis, so results stay exact whatever the basis; principal directions of the
    gallery only make the bounds tight. Rows follow the index's rows (same order).
    """

    def __init__(self, matrix: NDArray[np.float32], count: int, dims: int) -> None:
        sample = matrix[:count:max(1, count // 65536)].astype(np.float64)
        self.mean = sample.mean(axis=0)
        _, vectors = np.linalg.eigh(np.cov(sample, rowvar=False))
        self.basis = vectors[:, ::-1][:, :dims].copy()
        self.rows = np.zeros((matrix.shape[0], dims + 2), dtype=np.float32)
        self.max_sq_norm = 0.0
        for start in range(0, count, 65536):
            self.put(start, matrix[start:min(count, start + 65536)])

    def put(self, row: int, vectors: NDArray[np.float32]) -> None:
        described = self.describe(vectors)
        self.rows[row:row + len(vectors)] = described
        self.max_sq_norm = max(self.max_sq_norm, float(described[:, -1].max(initial=0.0)))

    def describe(self, vectors: NDArray[np.float32]) -> NDArray[np.float64]:
        centred = vectors.astype(np.float64) - self.mean
        inside = centred @ self.basis
        sq_norm = np.einsum("ij,ij->i", centred, centred)
        outside = np.sqrt(np.clip(sq_norm - np.einsum("ij,ij->i", inside, inside), 0.0, None))
        return np.column_stack([inside, outside, sq_norm])

    def candidates(self, probe: Descriptor, count: int) -> tuple[NDArray[np.float32], float]:
        """Per row ``bound^2 - |y|^2``, and ``|y|^2``."""
        row = self.describe(probe[None, :])[0]
        query = np.concatenate([-2.0 * row[:-1], [1.0]]).astype(np.float32)
        low: NDArray[np.float32] = self.rows[:count] @ query
        return low, float(row[-1])


class DescriptorIndex:
    """Exact search over every enrolled descriptor, kept in memory.

    Rows live in one contiguous float32 matrix grown by doubling; a removed row is replaced by
    the last one, so removal is O(1). All methods are thread-safe. Past ``bounded_min_rows``
    rows a search first computes a lower bound of every row's distance (``_Bounds``, 40%
    of the bytes to read) and then exact distances only for the rows whose bound could still
    beat the k-th identity found: the same hits as comparing every row, far fewer bytes read.
    """

    def __init__(self, *, bounded_min_rows: int = BOUNDED_MIN_ROWS,
                 bound_dims: int = BOUND_DIMS) -> None:
        self._lock = threading.Lock()
        self._matrix = np.zeros((64, DESCRIPTOR_SIZE), dtype=np.float32)
        self._face_ids: list[str] = []
        self._identity_ids: list[str] = []
        self._row_of: dict[str, int] = {}
        self._bounded_min_rows = bounded_min_rows
        self._bound_dims = bound_dims
        self._bounds: _Bounds | None = None

    def __len__(self) -> int:
        return len(self._face_ids)

    def replace_all(self, rows: list[tuple[str, str, Descriptor]]) -> None:
        """Load ``(face_id, identity_id, descriptor)`` rows, dropping what was there."""
        matrix = np.zeros((max(64, len(rows)), DESCRIPTOR_SIZE), dtype=np.float32)
        for i, (_, _, descriptor) in enumerate(rows):
            matrix[i] = descriptor
        bounds = (_Bounds(matrix, len(rows), self._bound_dims)
                  if len(rows) >= self._bounded_min_rows else None)
        with self._lock:
            self._matrix = matrix
            self._bounds = bounds
            self._face_ids = [face_id for face_id, _, _ in rows]
            self._identity_ids = [identity_id for _, identity_id, _ in rows]
            self._row_of = {face_id: i for i, face_id in enumerate(self._face_ids)}

    def add(self, face_id: str, identity_id: str, descriptor: Descriptor) -> None:
        with self._lock:
            if face_id in self._row_of:
                return
            row = len(self._face_ids)
            if row == self._matrix.shape[0]:
                grown = np.zeros((row * 2, DESCRIPTOR_SIZE), dtype=np.float32)
                grown[:row] = self._matrix
                self._matrix = grown
                self._bounds = None  # rebuilt for the new size by the next search
            self._matrix[row] = descriptor
            if self._bounds is not None:
                self._bounds.put(row, descriptor[None, :])
            self._face_ids.append(face_id)
            self._identity_ids.append(identity_id)
            self._row_of[face_id] = row

    def remove(self, face_id: str) -> None:
        with self._lock:
            row = self._row_of.pop(face_id, None)
            if row is None:
                return
            last = len(self._face_ids) - 1
            if row != last:
                self._matrix[row] = self._matrix[last]
                if self._bounds is not None:
                    self._bounds.rows[row] = self._bounds.rows[last]
                self._face_ids[row] = self._face_ids[last]
                self._identity_ids[row] = self._identity_ids[last]
                self._row_of[self._face_ids[row]] = row
            self._face_ids.pop()
            self._identity_ids.pop()

    def remove_identity(self, identity_id: str) -> None:
        with self._lock:
            doomed = [f for f, i in zip(self._face_ids, self._identity_ids, strict=True)
                      if i == identity_id]
        for face_id in doomed:
            self.remove(face_id)

    def search(self, probe: Descriptor, *, k: int, identity_id: str | None = None) -> list[Hit]:
        """The ``k`` closest identities (each by its closest sample), nearest first.

        With ``identity_id``, only that identity's samples are searched.
        """
        with self._lock:
            count = len(self._face_ids)
            if identity_id is not None:
                rows = np.array([r for r, owner in enumerate(self._identity_ids)
                                 if owner == identity_id], dtype=np.intp)
                return self._rank(probe, rows, k)[0]
            if count < self._bounded_min_rows or k <= 0:
                return self._rank(probe, None, k)[0]
            if self._bounds is None:
                self._bounds = _Bounds(self._matrix, count, self._bound_dims)
            return self._search_bounded(self._bounds, probe, count, k)

    def _search_bounded(self, bounds: _Bounds, probe: Descriptor, count: int,
                        k: int) -> list[Hit]:
        """Exact distances for the rows whose lower bound is below a limit; the limit grows
        until the k-th identity found is nearer than every row left out (by a margin larger
        than float32 rounding in both computations)."""
        low, probe_sq = bounds.candidates(probe, count)
        margin = 1e-3 * (1.0 + bounds.max_sq_norm + probe_sq)
        sample = low[::max(1, count // 4096)]
        rank = min(k, sample.size - 1)
        limit = float(np.partition(sample, rank)[rank])
        while True:
            rows = np.flatnonzero(low <= limit)
            hits, kth = self._rank(probe, rows, k)
            if kth is None:  # fewer than k identities under the limit
                if rows.size == count:
                    return hits
                rank *= 4
                limit = (float(np.partition(sample, rank)[rank]) if rank < sample.size
                         else float("inf"))
                continue
            needed = kth * kth - probe_sq + margin
            if needed <= limit:
                return hits
            limit = needed

    def _rank(self, probe: Descriptor, rows: NDArray[np.intp] | None,
              k: int) -> tuple[list[Hit], float | None]:
        """Hits among ``rows`` (all rows: None), nearest first as a stable sort of the exact
        distances orders them (ties: lower row first), and the k-th hit's distance."""
        if rows is None:
            found = distances(probe, self._matrix[:len(self._face_ids)])
            rows = np.arange(found.size)
        else:
            found = distances(probe, self._matrix[rows])
        hits: list[Hit] = []
        seen: set[str] = set()
        for at in np.argsort(found, kind="stable"):
            owner = self._identity_ids[rows[at]]
            if owner in seen:
                continue
            seen.add(owner)
            hits.append(Hit(owner, self._face_ids[rows[at]], float(found[at])))
            if len(hits) == k:
                return hits, float(found[at])
        return hits, None
