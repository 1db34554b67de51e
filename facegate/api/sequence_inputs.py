"""Request bodies that carry a frame sequence: repeated ``frames`` file parts or one ``video``
part (multipart), or ``frames`` as a list of base64 strings or ``video`` as one (JSON)."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
from fastapi import Request
from starlette.datastructures import UploadFile

from facegate.api.inputs import CSRF_FIELD, _b64, _form_value, _read_limited, json_object
from facegate.config import Settings
from facegate.config_liveness import DEFAULT_MAX_FRAMES
from facegate.errors import TooManyFramesError, UnsupportedMediaTypeError, ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)
#: The frames a request may list with default settings (``liveness.max_frames`` is the limit).
MAX_FRAMES = DEFAULT_MAX_FRAMES


async def read_sequence(
    request: Request, model: type[M], settings: Settings, *,
    images: dict[str, bytes] | None = None,
) -> tuple[M, list[bytes], bytes | None]:
    """The parsed fields, the frames' bytes in order, and the video's bytes (one of the two).

    Single image fields the route also takes (e.g. verify's ``image2``) are put in ``images``
    when given; without it any other file field is refused.
    """
    limit, most = settings.image.max_upload_bytes, settings.liveness.max_frames
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        raw, frames, video = await _multipart(request, limit, most, images)
    elif content_type in ("application/json", ""):
        raw, frames, video = await _json(request, limit, most, images)
    else:
        raise UnsupportedMediaTypeError(
            f"send multipart/form-data or application/json, not {content_type!r}")
    if (video is None) == (not frames):
        raise ValidationError("send either 'frames' (images in order) or one 'video'")
    try:
        return model.model_validate(raw), frames, video
    except pydantic.ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                    for e in exc.errors()]
        raise ValidationError("the request is not valid", details={"problems": problems}) \
            from exc


async def _multipart(request: Request, limit: int, most: int, images: dict[str, bytes] | None
                     ) -> tuple[dict[str, Any], list[bytes], bytes | None]:
    try:
        form = await request.form(max_files=most + 1 + len(images or {}), max_fields=16)
    except Exception as exc:  # starlette raises several types for broken multipart bodies
        raise ValidationError(f"the multipart body could not be parsed: {exc}") from exc
    raw: dict[str, Any] = {}
    frames: list[bytes] = []
    video: bytes | None = None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "frames":
                    frames.append(await _read_limited(value, limit))
                elif key == "video" and video is None:
                    video = await _read_limited(value, limit)
                elif images is not None and key in images:
                    images[key] = await _read_limited(value, limit)
                else:
                    raise ValidationError(f"unexpected file field {key!r}")
            elif key != CSRF_FIELD:
                raw[key] = _form_value(value)
    finally:
        await form.close()
    return raw, frames, video


async def _json(request: Request, limit: int, most: int, images: dict[str, bytes] | None
                ) -> tuple[dict[str, Any], list[bytes], bytes | None]:
    raw = await json_object(request)
    listed = raw.pop("frames", None) or []
    if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
        raise ValidationError("'frames' must be a list of base64 strings")
    if len(listed) > most:
        raise TooManyFramesError(f"at most {most} frames are read",
                                 details={"limit_frames": most})
    frames = [_b64(f"frames[{i}]", value, limit) for i, value in enumerate(listed)]
    video_text = raw.pop("video", None)
    if video_text is not None and not isinstance(video_text, str):
        raise ValidationError("'video' must be a base64 string")
    video = _b64("video", video_text, limit) if video_text else None
    for key in images or {}:
        value = raw.pop(key, None)
        if isinstance(value, str) and images is not None:
            images[key] = _b64(key, value, limit)
    return raw, frames, video
