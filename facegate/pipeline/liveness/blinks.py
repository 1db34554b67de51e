"""Blinks and winks in a sequence of eye-openness values, against the sequence's own baseline.

Each eye's openness is divided by its baseline (a high percentile of that eye over the whole
sequence), so glasses and naturally narrow eyes, which lower the eye aspect ratio in every
frame, do not look like closed eyes. On that relative scale:

- an eye is *closed* at or below ``closed`` (0.55: the lid gap lost 45% of its usual height);
- a frame is a *blink* frame when both eyes are closed by similar amounts (their relative
  openness differs by less than ``wink_gap``), a *wink* frame when one eye is closed and the
  other is at least ``wink_gap`` more open;
- an event is a run of such frames (one missing face or one ambiguous frame does not split it),
  extended to its onset and offset while the mean relative openness stays under ``open_again``;
  it counts only when the eyes were open before it and open again after it, when they stay
  closed at most ``max_closed_s`` and the whole event, onset to reopening, lasts at most
  ``max_event_s`` (longer is a squint, a smile narrowing the eyes, or a nap: not a blink).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

EventKind = Literal["blink", "wink"]
Eye = Literal["both", "left", "right"]


@dataclass(frozen=True, slots=True)
class BlinkRules:
    closed: float = 0.55
    wink_gap: float = 0.15
    open_again: float = 0.75
    max_closed_s: float = 0.5
    max_event_s: float = 0.6
    baseline_percentile: float = 80.0
    #: Frames that are neither closed nor open inside one closure (without a face, or half
    #: closed) that do not split it.
    max_gap: int = 3


@dataclass(frozen=True, slots=True)
class EyeEvent:
    kind: EventKind
    #: ``both`` for a blink; for a wink the person's closed eye.
    eye: Eye
    #: First and last frame (0-based sequence indices) from onset to reopening.
    start: int
    end: int
    #: First and last frame counted as closed.
    closed_start: int
    closed_end: int
    #: Lowest relative openness reached (0 shut, 1 the sequence's usual openness).
    depth: float


@dataclass(frozen=True, slots=True)
class EyeSeries:
    """Relative openness per frame (NaN where no face was measured)."""

    right: NDArray[np.float64]
    left: NDArray[np.float64]
    baseline_right: float
    baseline_left: float


def relative_openness(
    right: NDArray[np.float64], left: NDArray[np.float64], rules: BlinkRules
) -> EyeSeries:
    base_r = _baseline(right, rules.baseline_percentile)
    base_l = _baseline(left, rules.baseline_percentile)
    return EyeSeries(right=right / base_r, left=left / base_l, baseline_right=base_r,
                     baseline_left=base_l)


def _baseline(values: NDArray[np.float64], percentile: float) -> float:
    seen = values[np.isfinite(values)]
    if seen.size == 0:
        return 1.0
    return max(float(np.percentile(seen, percentile)), 1e-6)


def frame_states(series: EyeSeries, rules: BlinkRules) -> list[str]:
    """Per frame: ``blink``, ``wink-right``, ``wink-left``, ``open``, ``partial`` or ``none``."""
    states: list[str] = []
    for right, left in zip(series.right, series.left, strict=True):
        if not (np.isfinite(right) and np.isfinite(left)):
            states.append("none")
        elif right <= rules.closed and left - right >= rules.wink_gap:
            states.append("wink-right")
        elif left <= rules.closed and right - left >= rules.wink_gap:
            states.append("wink-left")
        elif right <= rules.closed and left <= rules.closed:
            states.append("blink")
        elif (right + left) / 2 >= rules.open_again:
            states.append("open")
        else:
            states.append("partial")
    return states


def find_events(series: EyeSeries, *, fps: float, rules: BlinkRules) -> list[EyeEvent]:
    states = frame_states(series, rules)
    mean = (series.right + series.left) / 2
    events: list[EyeEvent] = []
    i = 0
    while i < len(states):
        if states[i] not in ("blink", "wink-right", "wink-left"):
            i += 1
            continue
        first = last = i
        j = i + 1
        while j < len(states) and states[j] != "open" and j - last <= rules.max_gap:
            if _closed(states[j]):  # unclear frames inside one closure do not split it
                last = j
            j += 1
        event = _event(states, mean, series, first, last, fps=fps, rules=rules)
        if event is not None:
            events.append(event)
        i = max(last, event.end if event else last) + 1
    return events


def _closed(state: str) -> bool:
    return state in ("blink", "wink-right", "wink-left")


def _event(states: list[str], mean: NDArray[np.float64], series: EyeSeries, first: int,
           last: int, *, fps: float, rules: BlinkRules) -> EyeEvent | None:
    if (last - first + 1) / fps > rules.max_closed_s:
        return None
    start = first
    while start > 0 and np.isfinite(mean[start - 1]) and mean[start - 1] < rules.open_again:
        start -= 1
    end = last
    while end + 1 < len(mean) and np.isfinite(mean[end + 1]) and mean[end + 1] < rules.open_again:
        end += 1
    if (end - start + 1) / fps > rules.max_event_s:
        return None
    opened_before = "open" in states[:start]
    opened_after = "open" in states[end + 1:]
    if not (opened_before and opened_after):
        return None
    closed = states[first:last + 1]
    if "blink" in closed:
        kind: EventKind = "blink"
        eye: Eye = "both"
        depth = float(np.nanmax(np.vstack([series.right, series.left])[:, first:last + 1],
                                axis=0).min())
    else:
        kind = "wink"
        eye = "right" if closed.count("wink-right") >= closed.count("wink-left") else "left"
        side = series.right if eye == "right" else series.left
        depth = float(np.nanmin(side[first:last + 1]))
    return EyeEvent(kind=kind, eye=eye, start=start, end=end, closed_start=first,
                    closed_end=last, depth=round(depth, 3))
