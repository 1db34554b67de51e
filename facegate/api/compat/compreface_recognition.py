"""CompreFace's recognition calls: ``recognize`` (over ``RecognitionService.identify``, the
native 1:N with its open-set rule), ``faces/{image_id}/verify`` and the 1.2 embedding routes.

CompreFace never says *unknown*: ``subjects`` holds the nearest subjects (``prediction_count``)
with their similarity, and the client holds it against its own cut (0.60 for Double Take), at
which facegate's own threshold lands (``compreface_shapes.similarity``; under the cohort rule
``similarity.decision_distances``, so a face facegate calls unknown reads under 0.60).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from facegate.api import audit, events, metrics, views
from facegate.api.compat import compreface_shapes as shapes
from facegate.api.compat.compreface_gallery import example_of
from facegate.api.compat.compreface_wire import (
    PREFIX,
    CompreFaceRoute,
    Options,
    images,
    service_key,
)
from facegate.api.compat.similarity import decision_distances
from facegate.api.deps import FacegateDep, GalleryDep, RunnerDep
from facegate.bootstrap import Facegate
from facegate.domain import Descriptor, Face, FaceIdentification, Timings
from facegate.errors import NoFaceError
from facegate.matching import distance
from facegate.services.gallery import parse_descriptor

router = APIRouter(prefix=f"{PREFIX}/recognition", route_class=CompreFaceRoute,
                   dependencies=[service_key("Recognition", "recognize")])


def _subjects(found: FaceIdentification) -> list[dict[str, Any]]:
    """The candidates in facegate's order (nearest first, which is by similarity, unless an
    active classifier ranked them), each with its similarity."""
    threshold = found.decision.threshold
    return [{"subject": c.name, "similarity": shapes.similarity(d, threshold)}
            for c, d in zip(found.candidates, decision_distances(found), strict=True)]


@router.post("/recognize")
async def recognize(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    options = Options(request)
    data = (await images(request, "file"))["file"]
    recognition = facegate.recognition
    result = await run(lambda: recognition.identify(data, top_k=options.prediction_count))
    kept = shapes.biggest(shapes.sure_enough(result.faces, options.det_prob_threshold,
                                             lambda f: f.face), options.limit, lambda f: f.face)
    if not kept:
        metrics.note_identify(request, {"faces": [], "timings_ms": result.timings.stages})
        raise NoFaceError("no face was found in the image")
    answered = dataclasses.replace(result, faces=kept)
    native = views.identify(answered)
    audit.note_identify(request, native)
    metrics.note_identify(request, native)
    await events.identified(request, native, answered)
    timings = result.timings if options.status else None
    return shapes.answer([shapes.face_view(f.face, options.plugins, timings,
                                           subjects=_subjects(f)) for f in kept],
                         status=options.status)


def native_verify(face: Face, gap: float, threshold: float, identity: Any,
                   timings: Timings) -> dict[str, Any]:
    """The verify answer the native route would give for the closest face (audit, metrics,
    events read it)."""
    return {"match": gap <= threshold, "distance": round(gap, 6), "threshold": threshold,
            "mode": "identity" if identity is not None else "image",
            "faces": [views.face(face)],
            "identity": None if identity is None else views.identity(identity),
            "timings_ms": views.timings(timings)}


async def probe_faces(request: Request, facegate: Facegate, run: RunnerDep, data: bytes,
                      options: Options) -> tuple[list[Face], Timings]:
    """Every face of the photo with its descriptor, after ``det_prob_threshold`` and
    ``limit``; none → code 28."""
    recognition = facegate.recognition
    _, faces, timings = await run(lambda: recognition.embed(data))
    kept = shapes.biggest(shapes.sure_enough(faces, options.det_prob_threshold), options.limit)
    if not kept:
        metrics.note_timings(request, timings.stages)
        raise NoFaceError("no face was found in the image")
    return kept, timings


async def decided(request: Request, native: dict[str, Any]) -> None:
    audit.note_verify(request, native)
    metrics.note_verify(request, native)
    await events.verified(request, native)


@router.post("/faces/{image_id}/verify")
async def verify_example(image_id: str, request: Request, facegate: FacegateDep,
                         run: RunnerDep) -> dict[str, Any]:
    """Every face of the photo against one stored example."""
    options = Options(request)
    data = (await images(request, "file"))["file"]
    identity, sample = await anyio.to_thread.run_sync(example_of, facegate.gallery, image_id)
    audit.note(request, identity_ids=[identity.id])
    faces, timings = await probe_faces(request, facegate, run, data, options)
    threshold = facegate.recognition.threshold
    gaps = [distance(f.descriptor, sample.descriptor) for f in faces]
    best = min(range(len(faces)), key=gaps.__getitem__)
    await decided(request, native_verify(faces[best], gaps[best], threshold, identity,
                                          timings))
    took = timings if options.status else None
    return shapes.answer([shapes.face_view(f, options.plugins, took,
                                           similarity=shapes.similarity(g, threshold))
                          for f, g in zip(faces, gaps, strict=True)], status=options.status)


# 1.2: embeddings instead of images -----------------------------------------------------------

class EmbeddingsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    embeddings: list[list[float]] = Field(min_length=1, max_length=100)


def _vectors(rows: list[list[float]]) -> list[Descriptor]:
    return [parse_descriptor(row) for row in rows]


@router.post("/embeddings/recognize")
def recognize_embeddings(body: EmbeddingsIn, request: Request,
                         facegate: FacegateDep) -> dict[str, Any]:
    """The nearest subjects of each embedding (plain nearest-sample distances: no cohort rule
    and no classifier, which need a probe photo)."""
    options, gallery = Options(request), facegate.gallery.indexed
    threshold = facegate.recognition.threshold
    gallery.refresh()
    result = []
    for row, vector in zip(body.embeddings, _vectors(body.embeddings), strict=True):
        hits = gallery.search(vector, k=options.prediction_count)
        names = gallery.store.get_identities([h.identity_id for h in hits])
        result.append({"embedding": row, "similarities": [
            {"subject": names[h.identity_id].name,
             "similarity": shapes.similarity(h.distance, threshold)}
            for h in hits if h.identity_id in names]})
    audit.note(request, embeddings=len(result))
    return {"result": result}


@router.post("/embeddings/faces/{image_id}/verify")
def verify_embeddings(image_id: str, body: EmbeddingsIn, request: Request,
                      gallery: GalleryDep, facegate: FacegateDep) -> dict[str, Any]:
    identity, sample = example_of(gallery, image_id)
    audit.note(request, identity_ids=[identity.id])
    threshold = facegate.recognition.threshold
    return {"result": [
        {"embedding": row, "similarity": shapes.similarity(distance(v, sample.descriptor),
                                                           threshold)}
        for row, v in zip(body.embeddings, _vectors(body.embeddings), strict=True)]}
