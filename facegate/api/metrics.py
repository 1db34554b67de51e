"""The Prometheus metric families of one app, and what the routes tell them.

Every app owns its ``CollectorRegistry`` (``Metrics.registry``; several apps may live in one
process, so the global default registry is never used). Everything is observed in the server
process: with ``server.isolation = process`` the worker processes send their stage timings
back with the faces (``services/faces.Reading``), so no multiprocess collection is needed.
Labels are bounded sets: route templates, methods, statuses, stages, outcomes, reason and error
codes; never an identity's name or id. The list with meanings is docs/operations.md (Metrics).

Routes call the ``note_*`` functions next to their ``audit.note_*`` call, with the same answer
dict; they do nothing when ``/metrics`` is off (``app.state.metrics`` is None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request

#: The pipeline's timing keys → the ``stage`` label (``align`` is the 68-point landmarks and
#: the chips cut along them; ``detect`` includes the 5-point landmarks).
STAGES: dict[str, str] = {"decode": "decode", "detect": "detect", "align": "landmarks",
                          "landmarks": "landmarks", "embed": "embed", "match": "match"}
#: Liveness reason codes (docs/liveness.md); any other is counted as ``other``.
LIVENESS_REASONS = frozenset({
    "TOO_FEW_FRAMES", "NO_FACE", "MULTIPLE_FACES", "IDENTITY_CHANGED", "FRAMES_IDENTICAL",
    "NO_BLINK", "ACTIONS_NOT_PERFORMED", "REPLAYED_FRAMES"})
#: Error codes of 503/429 refusals counted by ``facegate_refusals_total``; others: ``other``.
REFUSAL_CODES = frozenset({"OVERLOADED", "RATE_LIMITED", "TOO_MANY_ATTEMPTS", "STORE_ERROR",
                           "MODEL_ERROR", "INTERNAL_ERROR"})

REQUEST_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0)
DISTANCE_BUCKETS = tuple(round(0.05 * n, 2) for n in range(2, 25))  # 0.1 … 1.2


class Metrics:
    """The families observed while serving (the ones read at scrape time are
    ``metrics_http.ScrapeCollector``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "facegate_http_requests_total", "HTTP requests answered, by route template, "
            "method and status", ["route", "method", "status"], registry=reg)
        self.latency = Histogram(
            "facegate_http_request_duration_seconds", "Time from request to the end of the "
            "answer, by route template and method", ["route", "method"],
            buckets=REQUEST_BUCKETS, registry=reg)
        self.stages = Histogram(
            "facegate_stage_duration_seconds", "Time per pipeline stage of a request",
            ["stage"], buckets=STAGE_BUCKETS, registry=reg)
        self.identify = Counter(
            "facegate_identify_outcomes_total", "Identify results: match and unknown per "
            "face, no_face per request without a face", ["outcome"], registry=reg)
        self.distance = Histogram(
            "facegate_identify_best_distance", "Euclidean distance of each identified face's "
            "best candidate (lower is closer)", buckets=DISTANCE_BUCKETS, registry=reg)
        self.verify = Counter(
            "facegate_verify_decisions_total", "Verify decisions by reference kind",
            ["decision", "mode"], registry=reg)
        self.liveness = Counter(
            "facegate_liveness_verdicts_total", "Liveness checks by verdict", ["verdict"],
            registry=reg)
        self.liveness_reasons = Counter(
            "facegate_liveness_reasons_total", "Reasons given by liveness checks that were "
            "not live", ["reason"], registry=reg)
        self.refusals = Counter(
            "facegate_refusals_total", "503 and 429 answers by error code",
            ["status", "code"], registry=reg)
        for outcome in ("match", "unknown", "no_face"):
            self.identify.labels(outcome)
        for verdict in ("live", "not_live"):
            self.liveness.labels(verdict)
        for reason in sorted(LIVENESS_REASONS):
            self.liveness_reasons.labels(reason)
        for decision in ("match", "no_match"):
            for mode in ("image", "identity", "descriptor"):
                self.verify.labels(decision, mode)
        self.refusals.labels("429", "RATE_LIMITED")
        self.refusals.labels("503", "OVERLOADED")

    def observe_timings(self, timings_ms: Mapping[str, float] | None) -> None:
        if not timings_ms:
            return
        for key, ms in timings_ms.items():
            stage = STAGES.get(key)
            if stage is not None:
                self.stages.labels(stage).observe(ms / 1000.0)

    def observe_identify(self, answer: Mapping[str, Any]) -> None:
        self.observe_timings(answer.get("timings_ms"))
        faces = answer.get("faces") or []
        if not faces:
            self.identify.labels("no_face").inc()
        for face in faces:
            self.identify.labels("match" if face.get("status") == "identified"
                                 else "unknown").inc()
            candidates = face.get("candidates") or []
            if candidates:
                self.distance.observe(float(candidates[0]["distance"]))

    def observe_verify(self, answer: Mapping[str, Any]) -> None:
        self.observe_timings(answer.get("timings_ms"))
        self.verify.labels("match" if answer.get("match") else "no_match",
                           str(answer.get("mode") or "image")).inc()

    def observe_liveness(self, report: Mapping[str, Any]) -> None:
        timings = report.get("timings_ms") or {}
        self.stages.labels("liveness").observe(sum(timings.values()) / 1000.0)
        self.liveness.labels("live" if report.get("live") else "not_live").inc()
        for reason in report.get("reasons") or []:
            code = reason.get("code")
            self.liveness_reasons.labels(code if code in LIVENESS_REASONS else "other").inc()

    def observe_refusal(self, status: int, code: str | None) -> None:
        self.refusals.labels(str(status), code if code in REFUSAL_CODES else "other").inc()


def _of(request: Request) -> Metrics | None:
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    return metrics


def note_identify(request: Request, answer: Mapping[str, Any] | None) -> None:
    """An identify answer (views.identify; no faces: a ``no_face`` request)."""
    metrics = _of(request)
    if metrics is not None and answer is not None:
        metrics.observe_identify(answer)


def note_verify(request: Request, answer: Mapping[str, Any] | None) -> None:
    """A verify answer (views.verify): its decision and stage timings."""
    metrics = _of(request)
    if metrics is not None and answer is not None:
        metrics.observe_verify(answer)


def note_timings(request: Request, timings_ms: Mapping[str, float]) -> None:
    """Stage timings of a request that has no other metric (detect, embed)."""
    metrics = _of(request)
    if metrics is not None:
        metrics.observe_timings(timings_ms)


def note_liveness(request: Request, report: Mapping[str, Any] | None) -> None:
    """A liveness report (liveness_report.sequence): verdict, reasons, its time."""
    metrics = _of(request)
    if metrics is not None and report is not None:
        metrics.observe_liveness(report)
