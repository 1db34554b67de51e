"""Face detection settings (``settings.detection``, ``FACEGATE_DETECTION__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DetectionSettings(BaseModel):
    #: ``blazeface``: MediaPipe's BlazeFace models on ONNX Runtime (Apache-2.0;
    #: ``runtime/blazeface_passes``, bench/detect, docs/accuracy.md); ``hog``: dlib's HOG (the
    #: passes below). Liveness frames are found by HOG either way (``bootstrap``).
    detector: Literal["hog", "blazeface"] = "blazeface"
    #: BlazeFace: the models run over the whole photo (``full``-range 192 px, ``back``-camera
    #: 256 px, ``short``-range 128 px).
    blazeface_whole: tuple[Literal["full", "back", "short"], ...] = Field(
        default=("full", "back"), min_length=1)
    #: BlazeFace: the model run over the tiles (``none``: no tiles).
    tile_model: Literal["full", "back", "none"] = "back"
    #: BlazeFace: besides the whole photo, square tiles of 1/this of its longer side, overlapping
    #: by a quarter or more (3x2 on a 3:2 photo at 2), for faces too small for one pass over the
    #: whole photo; 0 or 1: the whole photo only.
    tiles: int = Field(default=2, ge=0, le=4)
    #: BlazeFace: tiles are scanned only when a whole-photo candidate is narrower than this
    #: fraction of the longer side (1: always).
    tile_below: float = Field(default=0.1, gt=0.0, le=1.0)
    #: BlazeFace: faces scoring below this (0-1; the noisy-or of every pass that saw the face)
    #: are not faces.
    min_score: float = Field(default=0.9, gt=0.0, lt=1.0)
    #: BlazeFace: photos no longer than ``crop_side`` (face crops) are first searched by this
    #: model alone (``short``-range, 128 px: a seventh of the whole-photo passes' cost); its
    #: faces scoring ``crop_min_score`` or more are the answer, otherwise the passes above run
    #: (``none``, the default: off). Opt-in: about half the server CPU of an LFW-sized probe,
    #: but its boxes move descriptors a little (docs/accuracy.md "Face crops": 51 errors against
    #: 48 on the LFW pairs at 0.6), so the default keeps the accuracy figures as measured.
    crop_model: Literal["short", "none"] = "none"
    #: BlazeFace: the longer side (pixels) up to which a photo is a face crop (0: off).
    crop_side: int = Field(default=320, ge=0, le=4096)
    #: BlazeFace: the crop model's faces scoring below this (0-1) send the photo to the passes.
    crop_min_score: float = Field(default=0.75, gt=0.0, lt=1.0)
    #: HOG: photos whose longer side exceeds this are detected on a downscaled copy (pixels;
    #: BlazeFace samples its small inputs from the photo itself).
    max_side: int = Field(default=1024, ge=160)
    #: Photos whose longer side is at most this are upsampled once so faces down to ~40 px show.
    upsample_below: int = Field(default=800, ge=0)
    #: HOG: when nothing is found, retry on a copy padded by this fraction of the side (tight
    #: crops; BlazeFace letterboxes the photo into its square input, and a padded retry only
    #: finds faces in textures).
    pad_retry: float = Field(default=0.5, ge=0.0, le=2.0)
    #: When HOG finds nothing even padded, photos up to this long side (face crops, not scenes)
    #: get dlib's CNN detector as a last resort (about 2 s on a 150x150 crop); 0 turns it off.
    fallback_max_side: int = Field(default=320, ge=0, le=1024)
    #: Enrol and verify first look on a copy this long, not upsampled (0: off): fast for the
    #: large face of an authentication photo; small background faces are not counted.
    fast_side: int = Field(default=480, ge=0, le=4096)
    #: Photos up to ``fallback_max_side`` (face crops) are padded by this fraction of each side
    #: before the first HOG scan, not only when it finds nothing (0: off).
    pad_first: float = Field(default=0.0, ge=0.0, le=2.0)
    #: Faces whose shorter box side is below this (original pixels) are ignored.
    min_face_px: int = Field(default=20, ge=1)
