"""Reference methods that do no matting: floors for the tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.classic._inputs import (
    StrayPolicy,
    check_inputs,
    check_stray_policy,
    labels_to_float,
    trimap_to_labels,
)
from baselines.methods import MattingMethod, register_method

__all__ = ["TrimapOnly"]


@register_method("trimap-only")
class TrimapOnly(MattingMethod):
    """The trimap read as alpha: 0 for background, 1 for foreground, 0.5 for unknown.

    The floor every real method must beat on the unknown region. Trimap values other than
    0/128/255 follow the same ``stray`` policy as the pymatting methods
    (:mod:`baselines.classic._inputs`). The image is checked but not used.

    Parameters
    ----------
    stray : {"nearest", "error"}
        ``"nearest"`` (default): the nearest of 0/128/255, ties to 128; ``"error"``: raise.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([[0, 128, 255, 200]], dtype=np.uint8)
    >>> TrimapOnly().predict(np.zeros((1, 4, 3), np.uint8), t).tolist()
    [[0.0, 0.5, 1.0, 1.0]]
    """

    description = "reference floor: alpha = 0 bg, 0.5 unknown, 1 fg"

    def __init__(self, *, stray: StrayPolicy = "nearest") -> None:
        self.stray = check_stray_policy(stray)

    def config(self) -> dict[str, Any]:
        """Name and stray policy."""
        return {
            "method": self.name,
            "trimap": "0 -> 0.0, 128 -> 0.5, 255 -> 1.0",
            "stray": self.stray,
        }

    def _predict(self, image: np.ndarray, trimap: np.ndarray | None) -> np.ndarray:
        labels = trimap_to_labels(check_inputs(self.name, image, trimap), self.stray)
        return labels_to_float(labels)
