"""Face descriptors: the Embedder protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from facegate.domain import RGBImage


class Embedder(Protocol):
    #: Stored with each sample, e.g. ``dlib_resnet_v1``.
    model_name: str

    def warm_up(self) -> None:
        """Load the model now rather than on the first request."""
        ...

    def embed(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        """Descriptors of aligned chips, one row each: shape ``(len(chips), 128)``, float32."""
        ...
