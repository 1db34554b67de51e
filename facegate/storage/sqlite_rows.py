"""SQLite rows of the ``identities`` and ``faces`` tables as domain objects (the columns of
``sqlite._IDENTITY_COLUMNS`` and ``_FACE_COLUMNS``, in their order)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from facegate.domain import Box, FaceSample, Identity
from facegate.storage import identity_links as links


def identity_row(row: tuple[Any, ...]) -> Identity:
    return Identity(
        id=row[0], name=row[1], external_id=row[2], metadata=json.loads(row[3]),
        created_at=datetime.fromisoformat(row[4]), updated_at=datetime.fromisoformat(row[5]),
        face_count=int(row[6]), consent=links.consent_from(row[7]),
        expires_at=datetime.fromisoformat(row[8]) if row[8] else None,
    )


def face_row(row: tuple[Any, ...]) -> FaceSample:
    return FaceSample(
        id=row[0], identity_id=row[1],
        descriptor=np.frombuffer(row[2], dtype="<f4").astype(np.float32),
        chip_jpeg=bytes(row[3]), image_sha256=row[4], detection_score=row[5],
        created_at=datetime.fromisoformat(row[6]), model=row[7],
        box=Box(*(json.loads(row[8])[k] for k in ("left", "top", "right", "bottom")))
        if row[8] else None,
    )
