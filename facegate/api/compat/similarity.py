"""Distance → the 0..1 score other face servers' clients hold against their own threshold.

facegate decides with a Euclidean distance (lower is closer) against ``threshold``; CompreFace's
clients read a ``similarity`` (Double Take: >= 0.60 a match), DeepStack's a ``confidence``
(its default cut 0.67). The map is

    score(d) = at_threshold ** ((d / threshold) ** 2)

monotone decreasing, 1 at distance 0, exactly ``at_threshold`` at facegate's threshold and towards
0 far away, so a client's default cut (``at_threshold``) says *match* exactly when facegate's
own rule does. Under the cohort rule the decision holds the best candidate's adjusted distance
against the threshold: ``decision_distances`` shifts every candidate by the same amount so the
ranking stays and the first one carries the decision.
"""

from __future__ import annotations

from facegate.domain import FaceIdentification

#: Where facegate's threshold lands for each dialect's clients.
COMPREFACE_AT_THRESHOLD = 0.60  # Double Take's default match cut
DEEPSTACK_AT_THRESHOLD = 0.67  # DeepStack's default min_confidence for recognition


def score(distance: float, *, threshold: float, at_threshold: float) -> float:
    """The score of one distance (see the module docstring). Not rounded: a distance just past
    the threshold must stay just under ``at_threshold``."""
    if distance <= 0.0:
        return 1.0
    return float(at_threshold ** ((distance / threshold) ** 2))


def decision_distances(identification: FaceIdentification) -> list[float]:
    """The candidates' distances as the decision saw them: plain, or all shifted by the best
    one's cohort adjustment (so the order stays and the first carries the decision)."""
    plain = [candidate.distance for candidate in identification.candidates]
    adjusted = identification.decision.adjusted_distance
    if not plain or adjusted is None:
        return plain
    shift = adjusted - plain[0]
    return [max(0.0, d + shift) for d in plain]
