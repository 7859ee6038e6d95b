"""Evaluation regions of a trimap, and known-region forcing.

Reference (DIM MATLAB evaluation code, ``compute_*_loss.m``): a pixel counts only where
``trimap == 128``. Every other value, including the 127/129 of a resized trimap, is *not*
unknown. The trimap-free family (P3M / AIM / GFM ``core/evaluate.py``) adds the foreground
(``trimap == 255``) and background (``trimap == 0``) regions and the whole image.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["UNKNOWN", "FOREGROUND", "BACKGROUND", "Region", "region_mask", "force_known"]

UNKNOWN = 128
FOREGROUND = 255
BACKGROUND = 0

Region = Literal["unknown", "whole", "fg", "bg"]


def region_mask(trimap: np.ndarray | None, region: Region) -> np.ndarray | None:
    """Boolean mask of ``region``; ``None`` means the whole image.

    Parameters
    ----------
    trimap
        ``uint8`` trimap (validated by the caller); may be ``None`` only for ``"whole"``.
    region
        ``"unknown"`` (``trimap == 128``), ``"fg"`` (``== 255``), ``"bg"`` (``== 0``) or
        ``"whole"``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    >>> region_mask(t, "unknown").astype(int).tolist()
    [[0, 0, 1, 0]]
    """
    if region == "whole":
        return None
    if trimap is None:
        raise ValueError(f"region {region!r} needs a trimap")
    value = {"unknown": UNKNOWN, "fg": FOREGROUND, "bg": BACKGROUND}[region]
    return trimap == value


def force_known(pred: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """Return a copy of ``pred`` set to 0 where ``trimap == 0`` and to 1 where ``trimap == 255``.

    This is the forcing that GCA-Matting's ``inference.py``, MatteFormer and MMagic's
    ``BaseMattor.postprocess`` apply to a prediction *before* it is saved or evaluated. The
    MATLAB reference itself never forces: SAD and MSE do not change, Grad and Conn do (they look
    at known pixels through the filter support and the whole-image components). ``pred`` keeps
    its dtype: 0/255 for ``uint8``, 0.0/1.0 for floats. Stray trimap values (neither 0 nor 255)
    are left alone.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[10, 20, 30]], dtype=np.uint8)
    >>> t = np.array([[0, 128, 255]], dtype=np.uint8)
    >>> force_known(p, t).tolist()
    [[0, 20, 255]]
    """
    out = np.array(pred, copy=True)
    hi = 255 if out.dtype == np.uint8 else 1.0
    out[trimap == BACKGROUND] = 0
    out[trimap == FOREGROUND] = hi
    return out
