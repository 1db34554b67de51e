"""Photo bytes → faces, with the limits and the one-face rule the use cases share."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from PIL import Image

from facegate.domain import Box, Face, RGBImage, Timings
from facegate.errors import ModelError, MultipleFacesError, NoFaceError
from facegate.pipeline.faces import FacePipeline
from facegate.pipeline.image import decode_image

MultipleFaces = Literal["reject", "largest"]
#: What a read finds: ``every`` face with descriptors, the ``clear`` faces an authentication
#: photo is about (see ``FaceFinder``) with descriptors, the same to ``enrol`` (with the
#: enrolment pipeline's descriptors), or every face ``located`` without descriptors.
ReadMode = Literal["every", "clear", "enrol", "located"]


@dataclass(frozen=True, slots=True)
class Photo:
    """What the use cases keep of an uploaded photo once its faces are read (not its pixels)."""

    format: str
    sha256: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Reading:
    photo: Photo
    faces: list[Face]
    timings: Timings


class ReadElsewhere(Protocol):
    """Runs ``read_here(data, mode)`` somewhere else (a worker process) and returns its result."""

    def __call__(self, data: bytes, mode: ReadMode) -> Reading: ...


@dataclass(frozen=True, slots=True)
class FaceReader:
    """Photo bytes → faces: decode with limits, then the face pipeline.

    With ``elsewhere`` the work runs there (the server's worker processes, see
    ``bootstrap.FaceWorkers``), which must hold an equal reader installed with
    ``serve_reads_here``; ``pipeline`` then only names the model.
    """

    pipeline: FacePipeline
    max_upload_bytes: int
    max_pixels: int
    elsewhere: ReadElsewhere | None = None
    #: Descriptors for the gallery (more views per face, see ``AlignmentSettings``); None: the
    #: probe ``pipeline``'s.
    enrol_pipeline: FacePipeline | None = None
    #: Photos longer than this are decoded at reduced scale (``decode_image``); 0: never.
    decode_max_side: int = 0

    @property
    def model_name(self) -> str:
        return self.pipeline.embedder.model_name

    def read(self, data: bytes, mode: ReadMode, timings: Timings) -> Reading:
        reading = self.elsewhere(data, mode) if self.elsewhere else self.read_here(data, mode)
        for stage, ms in reading.timings.stages.items():
            timings.add(stage, ms)
        return reading

    def read_here(self, data: bytes, mode: ReadMode) -> Reading:
        timings = Timings()
        started = time.perf_counter()
        image = decode_image(data, max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels,
                             max_side=self.decode_max_side)
        timings.add("decode", (time.perf_counter() - started) * 1000.0)
        if mode == "located":
            faces = self.pipeline.detect(image.rgb, timings=timings)
        elif mode == "enrol":
            faces = (self.enrol_pipeline or self.pipeline).analyze(
                image.rgb, timings=timings, every_face=False)
        else:
            faces = self.pipeline.analyze(image.rgb, timings=timings,
                                          every_face=mode == "every")
        photo = Photo(format=image.format, sha256=image.sha256, width=image.width,
                      height=image.height)
        faces = [in_original_pixels(face, image.scale) for face in faces]
        return Reading(photo=photo, faces=faces, timings=timings)

    def faces(self, data: bytes, timings: Timings) -> tuple[Photo, list[Face]]:
        """Every face in the photo, largest first, with descriptors."""
        reading = self.read(data, "every", timings)
        return reading.photo, reading.faces

    def located(self, data: bytes, timings: Timings) -> tuple[Photo, list[Face]]:
        """Every face with box, landmarks and quality, without descriptors (cheaper)."""
        reading = self.read(data, "located", timings)
        return reading.photo, reading.faces

    def one_face(
        self, data: bytes, timings: Timings, *, multiple_faces: MultipleFaces,
        enrol: bool = False,
    ) -> tuple[Photo, Face]:
        """The photo's single face; with ``largest``, the largest of several.

        Detection looks for the clearly visible faces an authentication photo holds (see
        ``FaceFinder``): a small face far in the background is not counted as a second face.
        """
        reading = self.read(data, "enrol" if enrol else "clear", timings)
        return reading.photo, pick_one(reading.faces, multiple_faces=multiple_faces)


def in_original_pixels(face: Face, scale: int) -> Face:
    """A face found on a photo decoded at 1/``scale``, with box, landmarks and size in the
    original photo's pixels (its chip and descriptor stay as they are)."""
    if scale == 1:
        return face
    found = face.detection
    box = Box(found.box.left * scale, found.box.top * scale, found.box.right * scale,
              found.box.bottom * scale)
    landmarks = tuple((x * scale, y * scale) for x, y in found.landmarks)
    return replace(face, detection=replace(found, box=box, landmarks=landmarks),
                   quality=replace(face.quality, size_px=face.quality.size_px * scale))


_HERE: FaceReader | None = None


def serve_reads_here(reader: FaceReader) -> None:
    """Make this (worker) process answer ``read_in_this_process`` with ``reader``."""
    global _HERE
    _HERE = reader


def read_in_this_process(data: bytes, mode: ReadMode) -> Reading:
    """A worker process's entry point (picklable by name)."""
    if _HERE is None:
        raise ModelError("this process has no face reader installed")
    return _HERE.read_here(data, mode)


def pick_one(faces: list[Face], *, multiple_faces: MultipleFaces) -> Face:
    if not faces:
        raise NoFaceError("no face was found in the image")
    if len(faces) > 1 and multiple_faces == "reject":
        raise MultipleFacesError(
            f"{len(faces)} faces were found where exactly one is needed "
            "(send a photo of one person, or ask for the largest face)",
            details={"faces": len(faces)},
        )
    return faces[0]


def chip_jpeg(chip: RGBImage) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(chip).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
