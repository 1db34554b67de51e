"""Blinks and winks in a sequence of eye-openness values, against each eye's local open level.

Each frame's openness is divided by that eye's *open level around the frame* (``open_level``):
a high percentile (``level_percentile``) of the eye's openness over the ``level_window_s``
before the frame, and the same over the span after it, whichever is higher; frames where that
eye was closed against the level of their own time are left out of it, so the level holds
through a long closure instead of sinking into it. Glasses and naturally narrow eyes, which
lower the eye aspect ratio in every frame, do not look like closed eyes; and as the level only
looks ``level_window_s`` around each frame, a blink is judged the same whatever comes long
before or after it (where the clip starts and ends, eyes kept shut a while after it, a
narrower gaze later on). On that relative scale:

- an eye is *closed* at or below ``closed`` (0.55: the lid gap lost 45% of its usual height);
- a frame is a *blink* frame when both eyes are closed by similar amounts (their relative
  openness differs by less than ``wink_gap``; with ``both_closed_is_blink``, by any amount), a
  *wink* frame when one eye is closed and the other is at least ``wink_gap`` more open;
- an event is a run of such frames (one missing face or one ambiguous frame does not split it),
  extended to its onset and offset while the mean relative openness stays under ``open_again``
  (or rises over it for less than ``reopen_s``);
  it counts only when the eyes were open before it and open again after it, when they stay
  closed at most ``max_closed_s`` and the whole event, onset to reopening, lasts at most
  ``max_event_s`` (longer is a squint, a smile narrowing the eyes, or a nap: not a blink).

The cuts are the eye measure's: the rules above are the eye aspect ratio's
(dlib's 68 points). The lid gap over the iris diameter (mesh + iris points) closes further
relative to its open level on a full blink but keeps a wider gap on a wink behind glasses, and
is closed at ``LID_IRIS_CLOSED`` (0.68, ``LID_IRIS_RULES``; measured on every annotated clip of
``../shared/faces/blink``: full closures reach 0.62 or less, open and narrowed eyes stay at
0.75 or more, both eyes together; docs/liveness.md).
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
    #: Eyes count as open again (an event's onset and end) when open for this long running
    #: (2 frames at 30 fps, 1 at 25 or less): one open-looking frame inside a squint or a
    #: smile's narrowing does not cut it into short "blinks".
    reopen_s: float = 0.05
    #: The open level: this percentile of the eye's openness over ``level_window_s`` before a
    #: frame and over as long after it, the higher of the two (measured on the annotated clips
    #: of ``../shared/faces/blink``: 80 and 2 s keep every verdict; docs/liveness.md).
    level_percentile: float = 80.0
    level_window_s: float = 2.0
    #: Frames that are neither closed nor open inside one closure (without a face, or half
    #: closed) that do not split it.
    max_gap: int = 3
    #: A frame with both eyes closed is a blink frame however much more one of them closed (a
    #: wink then needs the other eye over ``closed``). Off for the EAR, whose rules were measured
    #: with the wink test first; on for the lid gap over iris, where one eye of d18's blink read
    #: at 15 fps closes to 0.32 and the other to 0.54.
    both_closed_is_blink: bool = False


#: ``closed`` for the lid gap over the iris diameter, and the rules with it.
LID_IRIS_CLOSED = 0.68
LID_IRIS_RULES = BlinkRules(closed=LID_IRIS_CLOSED, both_closed_is_blink=True)


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
    """Relative openness per frame (NaN where no face was measured), and the open levels it is
    relative to: per frame, and their median (the sequence's typical open eye)."""

    right: NDArray[np.float64]
    left: NDArray[np.float64]
    level_right: NDArray[np.float64]
    level_left: NDArray[np.float64]

    @property
    def baseline_right(self) -> float:
        return float(np.median(self.level_right)) if self.level_right.size else 1.0

    @property
    def baseline_left(self) -> float:
        return float(np.median(self.level_left)) if self.level_left.size else 1.0


def relative_openness(right: NDArray[np.float64], left: NDArray[np.float64], *, fps: float,
                      rules: BlinkRules) -> EyeSeries:
    level_r, level_l = open_level(right, fps=fps, rules=rules), open_level(left, fps=fps,
                                                                             rules=rules)
    return EyeSeries(right=right / level_r, left=left / level_l, level_right=level_r,
                     level_left=level_l)


def open_level(values: NDArray[np.float64], *, fps: float, rules: BlinkRules
               ) -> NDArray[np.float64]:
    """One eye's open level per frame: the higher of the level tracked forwards (from the
    frames before) and backwards (from the frames after)."""
    window = max(1, round(rules.level_window_s * fps))
    forwards = _tracked(values, window, rules)
    backwards = _tracked(values[::-1], window, rules)[::-1]
    return np.maximum(np.maximum(forwards, backwards), 1e-6)


def _tracked(values: NDArray[np.float64], window: int, rules: BlinkRules
             ) -> NDArray[np.float64]:
    """Per frame, ``level_percentile`` of the open (not closed) values among the ``window``
    frames before it; held while there are none (a long closure); at the start, the
    percentile of the first ``window`` frames."""
    seen = values[np.isfinite(values)][:window]
    held = float(np.percentile(seen, rules.level_percentile)) if seen.size else 1.0
    level = np.empty(len(values))
    kept: list[tuple[int, float]] = []
    for index, value in enumerate(values.tolist()):
        kept = [(i, v) for i, v in kept if i >= index - window]
        if kept:
            held = float(np.percentile([v for _, v in kept], rules.level_percentile))
        level[index] = held
        if np.isfinite(value) and value > rules.closed * held:
            kept.append((index, value))
    return level


def frame_states(series: EyeSeries, rules: BlinkRules) -> list[str]:
    """Per frame: ``blink``, ``wink-right``, ``wink-left``, ``open``, ``partial`` or ``none``."""
    states: list[str] = []
    for right, left in zip(series.right, series.left, strict=True):
        if not (np.isfinite(right) and np.isfinite(left)):
            states.append("none")
        elif rules.both_closed_is_blink and right <= rules.closed and left <= rules.closed:
            states.append("blink")
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


def _edge(mean: NDArray[np.float64], index: int, step: int, hold: int, level: float) -> int:
    """From a closed frame, the last frame (going by ``step``) before the eyes are open again:
    at least ``level`` for ``hold`` frames running, or the clip's edge or a frame without a
    face comes first."""
    while 0 <= index + step < len(mean) and np.isfinite(mean[index + step]) \
            and not _open_for(mean, index + step, step, hold, level):
        index += step
    return index


def _open_for(mean: NDArray[np.float64], index: int, step: int, hold: int,
              level: float) -> bool:
    run = mean[index:index + hold] if step > 0 else mean[max(0, index - hold + 1):index + 1]
    return bool(np.all(run[np.isfinite(run)] >= level))


def _event(states: list[str], mean: NDArray[np.float64], series: EyeSeries, first: int,
           last: int, *, fps: float, rules: BlinkRules) -> EyeEvent | None:
    if (last - first + 1) / fps > rules.max_closed_s:
        return None
    hold = max(1, round(rules.reopen_s * fps))
    start = _edge(mean, first, -1, hold, rules.open_again)
    end = _edge(mean, last, 1, hold, rules.open_again)
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
