"""Accuracy measured with facegate's own pipeline: the pairs protocol (1:1), the open-set
identification protocol (1:N with strangers), threshold calibration, metrics and plots.

Imports ``bootstrap`` (in ``descriptors``, to build the pipeline in worker processes), so it sits
beside the entry points, above the services; nothing below it imports it.
"""

from typing import Literal

#: How a pair's two photos are described (``runs.Run.describe_pairs``).
Compare = Literal["photos", "enrolled"]
COMPARE_HELP = ("photos: both described as verify photo vs photo does; enrolled: the first "
                "enrolled, the second a probe, as identify and verify against a person do")
