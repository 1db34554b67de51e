"""Photo bytes → faces, with the limits and the one-face rule the use cases share."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from facegate.domain import Face, RGBImage, Timings
from facegate.errors import MultipleFacesError, NoFaceError
from facegate.pipeline.faces import FacePipeline
from facegate.pipeline.image import DecodedImage, decode_image

MultipleFaces = Literal["reject", "largest"]


@dataclass(frozen=True, slots=True)
class FaceReader:
    pipeline: FacePipeline
    max_upload_bytes: int
    max_pixels: int

    def decode(self, data: bytes, timings: Timings) -> DecodedImage:
        started = time.perf_counter()
        image = decode_image(data, max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)
        timings.add("decode", (time.perf_counter() - started) * 1000.0)
        return image

    def faces(self, data: bytes, timings: Timings) -> tuple[DecodedImage, list[Face]]:
        """Every face in the photo, largest first, with descriptors."""
        image = self.decode(data, timings)
        return image, self.pipeline.analyze(image.rgb, timings=timings)

    def one_face(
        self, data: bytes, timings: Timings, *, multiple_faces: MultipleFaces
    ) -> tuple[DecodedImage, Face]:
        """The photo's single face; with ``largest``, the largest of several.

        Detection looks for the clearly visible faces an authentication photo holds (see
        ``FaceFinder``): a small face far in the background is not counted as a second face.
        """
        image = self.decode(data, timings)
        faces = self.pipeline.analyze(image.rgb, timings=timings, every_face=False)
        return image, pick_one(faces, multiple_faces=multiple_faces)


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
