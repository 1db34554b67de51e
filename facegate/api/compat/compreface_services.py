"""CompreFace's detection and verification services: ``POST /detection/detect`` (over
``RecognitionService.detect``, or ``embed`` when the calculator plugin is asked) and
``POST /verification/verify`` (one face in ``source_image`` against every face of
``target_image``), plus the 1.2 ``/verification/embeddings/verify``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from facegate.api import metrics
from facegate.api.compat import compreface_shapes as shapes
from facegate.api.compat.compreface_recognition import decided, native_verify, probe_faces
from facegate.api.compat.compreface_wire import (
    PREFIX,
    CompreFaceRoute,
    Options,
    images,
    service_key,
)
from facegate.api.deps import FacegateDep, RunnerDep
from facegate.errors import MultipleFacesError, NoFaceError
from facegate.matching import distance
from facegate.services.gallery import parse_descriptor

detection = APIRouter(prefix=f"{PREFIX}/detection", route_class=CompreFaceRoute,
                      dependencies=[service_key("Detection", "recognize")])
verification = APIRouter(prefix=f"{PREFIX}/verification", route_class=CompreFaceRoute,
                         dependencies=[service_key("Verification", "recognize")])


@detection.post("/detect")
async def detect(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    """Every face (``limit`` biggest, at least ``det_prob_threshold``); none → code 28."""
    options = Options(request)
    data = (await images(request, "file"))["file"]
    recognition = facegate.recognition
    if "calculator" in options.plugins:
        _, faces, timings = await run(lambda: recognition.embed(data))
    else:
        _, faces, timings = await run(lambda: recognition.detect(data))
    metrics.note_timings(request, timings.stages)
    kept = shapes.biggest(shapes.sure_enough(faces, options.det_prob_threshold), options.limit)
    if not kept:
        raise NoFaceError("no face was found in the image")
    took = timings if options.status else None
    return shapes.answer([shapes.face_view(f, options.plugins, took) for f in kept],
                         status=options.status)


@verification.post("/verify")
async def verify(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    """The one face of ``source_image`` against each face of ``target_image``, the most
    similar first."""
    options = Options(request)
    photos = await images(request, "source_image", "target_image")
    whole = Options(request)
    whole.limit, whole.det_prob_threshold = 0, None
    sources, source_timings = await probe_faces(request, facegate, run,
                                                photos["source_image"], whole)
    if len(sources) > 1:
        raise MultipleFacesError("More than one face in the source image")
    targets, timings = await probe_faces(request, facegate, run, photos["target_image"],
                                         options)
    threshold = facegate.recognition.threshold
    source = sources[0]
    gaps = [distance(source.descriptor, t.descriptor) for t in targets]
    order = sorted(range(len(targets)), key=gaps.__getitem__)
    await decided(request, native_verify(targets[order[0]], gaps[order[0]], threshold, None,
                                          timings))
    status = options.status
    item: dict[str, Any] = {
        "source_image_face": shapes.face_view(source, options.plugins,
                                              source_timings if status else None),
        "face_matches": [shapes.face_view(targets[i], options.plugins,
                                          timings if status else None,
                                          similarity=shapes.similarity(gaps[i], threshold))
                         for i in order]}
    if status:
        item["plugins_versions"] = dict(shapes.PLUGIN_VERSIONS)
    return {"result": [item]}


class PairIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: list[float]
    targets: list[list[float]] = Field(min_length=1, max_length=100)


@verification.post("/embeddings/verify")
def verify_embeddings(body: PairIn, facegate: FacegateDep) -> dict[str, Any]:
    source, threshold = parse_descriptor(body.source), facegate.recognition.threshold
    return {"result": [
        {"embedding": row,
         "similarity": shapes.similarity(distance(source, parse_descriptor(row)), threshold)}
        for row in body.targets]}
