"""Domain objects → JSON-ready dicts (the API's response shapes, documented in docs/api.md)."""

from __future__ import annotations

from typing import Any

from facegate.domain import (
    Candidate,
    ClassifierInfo,
    Face,
    FaceSample,
    IdentifyResult,
    Identity,
    Timings,
    VerifyResult,
)
from facegate.services.governance import consent_view
from facegate.services.training_jobs import TrainingJob
from facegate.storage.feedback import NegativeAnchor


def identity(item: Identity) -> dict[str, Any]:
    return {
        "id": item.id, "name": item.name, "external_id": item.external_id,
        "metadata": item.metadata, "face_count": item.face_count,
        "created_at": item.created_at.isoformat(), "updated_at": item.updated_at.isoformat(),
        "consent": consent_view(item.consent),
        "expires_at": item.expires_at.isoformat() if item.expires_at else None,
    }


def sample(item: FaceSample, *, base_url: str = "") -> dict[str, Any]:
    return {
        "id": item.id, "identity_id": item.identity_id, "model": item.model,
        "image_sha256": item.image_sha256, "detection_score": item.detection_score,
        "box": item.box.as_dict() if item.box else None,
        "created_at": item.created_at.isoformat(),
        "chip_url": f"{base_url}/v1/identities/{item.identity_id}/faces/{item.id}/chip"
        if item.chip_jpeg else None,
    }


def face(item: Face, *, descriptor: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "box": item.detection.box.as_dict(),
        "detection_score": item.detection.score,
        "landmarks": [{"x": x, "y": y} for x, y in item.detection.landmarks],
        "quality": {
            "size_px": item.quality.size_px, "sharpness": item.quality.sharpness,
            "brightness": item.quality.brightness,
        },
    }
    if descriptor:
        out["descriptor"] = [float(v) for v in item.descriptor]
    return out


def candidate(item: Candidate) -> dict[str, Any]:
    return {"identity_id": item.identity_id, "name": item.name,
            "distance": round(item.distance, 6),
            "face_id": item.face_id,
            **({} if item.score is None else {"score": round(item.score, 6)})}


def timings(item: Timings) -> dict[str, float]:
    return dict(item.stages)


def identify(result: IdentifyResult) -> dict[str, Any]:
    return {
        "image": {"width": result.image_width, "height": result.image_height},
        "faces": [
            {
                **face(f.face),
                "status": "identified" if f.decision.known else "unknown",
                "identity": candidate(f.decision.identity) if f.decision.identity else None,
                "candidates": [candidate(c) for c in f.candidates],
                "threshold": f.decision.threshold,
                "adjusted_distance": None if f.decision.adjusted_distance is None
                else round(f.decision.adjusted_distance, 6),
                **({"refused_identity_id": f.decision.refused_identity}
                   if f.decision.refused_identity else {}),
            }
            for f in result.faces
        ],
        "search": {"method": result.search.name, "ef_search": result.search.ef_search},
        "classifier": None if result.classifier is None else {
            "id": result.classifier.id, "kind": result.classifier.kind},
        "timings_ms": timings(result.timings),
    }


def verify(result: VerifyResult, *, mode: str) -> dict[str, Any]:
    return {
        "match": result.match, "distance": round(result.distance, 6), "threshold": result.threshold,
        "mode": mode, "faces": [face(f) for f in result.faces],
        "identity": identity(result.identity) if result.identity else None,
        "timings_ms": timings(result.timings),
    }


def classifier(item: ClassifierInfo) -> dict[str, Any]:
    return {"id": item.id, "kind": item.kind, "params": item.params, "metrics": item.metrics,
            "identities": item.identities, "samples": item.samples, "active": item.active,
            "changed_since_fit": bool(item.metrics.get("changed_since_fit", False)),
            "created_at": item.created_at.isoformat()}


def training_job(job: TrainingJob) -> dict[str, Any]:
    return {
        "id": job.id, "status": job.status, "stage": job.stage,
        "progress": {"done": job.done, "total": job.total},
        "options": {"kind": job.request.kind, "tune": job.request.tune,
                    "folds": job.request.folds, "activate": job.request.activate},
        "photos": dict(job.photos), "refusals": list(job.refusals),
        "model": classifier(job.classifier) if job.classifier else None,
        "error": job.error, "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def negative_anchor(item: NegativeAnchor) -> dict[str, Any]:
    """A negative anchor without its descriptor."""
    return {"id": item.id, "identity_id": item.identity_id, "request_id": item.request_id,
            "face_index": item.face_index, "score": item.score, "created_at": item.created_at}
