"""Our inputs in pymatting's conventions: the one place the conversion is decided.

MatteBench passes a method an ``HxWx3`` ``uint8`` RGB image and an ``HxW`` ``uint8`` trimap in
which **only** 0 (background), 128 (unknown) and 255 (foreground) carry a label. pymatting wants
a floating image in ``[0, 1]`` and a floating trimap in ``[0, 1]``, and its ``trimap_split``
treats a value ``<= 0.1`` as background, ``>= 0.9`` as foreground and *everything in between*
as unknown, so a naive ``trimap / 255`` would turn the 127/129 of a resized trimap into unknown
pixels and the 20 of a JPEG-damaged background into background, without saying so.

The mapping, exactly:

* image: ``image.astype(float64) / 255`` (no gamma, no per-image rescaling);
* trimap: 0 -> 0.0, 128 -> 0.5, 255 -> 1.0. Any other ("stray") value is handled by the
  ``stray`` policy, recorded in every method's ``config()``:

  - ``"nearest"`` (default): the nearest of 0/128/255, ties going to 128 (unknown), i.e.
    ``v <= 63`` -> 0, ``64 <= v <= 191`` -> 128, ``v >= 192`` -> 255. (This is *not*
    GCA-Matting's ``< 85`` / ``>= 170`` split, which ``metrics.conventions`` offers for
    evaluation; a method sees the nearest label.)
  - ``"error"``: raise :class:`metrics.InputError` naming the stray values.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from metrics import InputError

__all__ = [
    "STRAY_POLICIES",
    "StrayPolicy",
    "check_inputs",
    "check_stray_policy",
    "image_to_float",
    "labels_to_float",
    "trimap_to_labels",
]

StrayPolicy = Literal["nearest", "error"]
#: the accepted values of every classic method's ``stray`` argument
STRAY_POLICIES: tuple[str, ...] = ("nearest", "error")

_BG, _UNKNOWN, _FG = 0, 128, 255
# Nearest of 0/128/255 for every uint8 value, ties to 128: 64 is 64 from both 0 and 128, and
# 191/192 are the last/first values nearer 128/255.
_NEAREST = np.full(256, _UNKNOWN, dtype=np.uint8)
_NEAREST[:64] = _BG
_NEAREST[192:] = _FG
# 0 -> 0.0, 128 -> 0.5, 255 -> 1.0 after the label mapping above.
_TO_FLOAT = {_BG: 0.0, _UNKNOWN: 0.5, _FG: 1.0}


def check_stray_policy(stray: str) -> StrayPolicy:
    """Return ``stray`` if it is one of :data:`STRAY_POLICIES`, else raise ``InputError``."""
    if stray not in STRAY_POLICIES:
        raise InputError(f"stray must be one of {', '.join(STRAY_POLICIES)}, got {stray!r}")
    return stray  # type: ignore[return-value]


def check_inputs(name: str, image: np.ndarray, trimap: np.ndarray | None) -> np.ndarray:
    """The checks :meth:`MattingMethod.predict` leaves to the method: a ``uint8`` trimap.

    Returns the trimap (``predict`` has already checked the image and the shapes).
    """
    if trimap is None:  # pragma: no cover - predict() refuses this first
        raise InputError(f"{name} needs a trimap")
    if trimap.ndim != 2 or trimap.dtype != np.uint8:
        raise InputError(
            f"{name}: trimap must be HxW uint8 (0 bg, 128 unknown, 255 fg), "
            f"got {trimap.shape} {trimap.dtype}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{name}: image is empty ({image.shape})")
    return trimap


def trimap_to_labels(trimap: np.ndarray, stray: StrayPolicy = "nearest") -> np.ndarray:
    """Map a ``uint8`` trimap onto the labels 0/128/255 by the ``stray`` policy.

    Parameters
    ----------
    trimap : numpy.ndarray
        ``HxW`` ``uint8``.
    stray : {"nearest", "error"}
        What a value other than 0/128/255 does: become the nearest label (ties to 128), or
        raise.

    Returns
    -------
    numpy.ndarray
        ``uint8`` holding only 0, 128 and 255 (a new array).

    Raises
    ------
    metrics.InputError
        With ``stray="error"`` when the trimap has stray values (the message lists up to 8).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([[0, 63, 64, 127, 128, 191, 192, 255]], dtype=np.uint8)
    >>> trimap_to_labels(t).tolist()
    [[0, 0, 128, 128, 128, 128, 255, 255]]
    """
    if stray == "error":
        bad = np.setdiff1d(np.unique(trimap), [_BG, _UNKNOWN, _FG])
        if bad.size:
            shown = ", ".join(str(int(v)) for v in bad[:8]) + (", ..." if bad.size > 8 else "")
            raise InputError(
                f"trimap has values other than 0/128/255: {{{shown}}} (use stray='nearest' to "
                "map them to the nearest label)"
            )
        return trimap.copy()
    check_stray_policy(stray)
    return _NEAREST[trimap]


def labels_to_float(labels: np.ndarray) -> np.ndarray:
    """0/128/255 labels as pymatting's ``float64`` trimap: 0 -> 0.0, 128 -> 0.5, 255 -> 1.0.

    Examples
    --------
    >>> import numpy as np
    >>> labels_to_float(np.array([[0, 128, 255]], dtype=np.uint8)).tolist()
    [[0.0, 0.5, 1.0]]
    """
    out = np.full(labels.shape, _TO_FLOAT[_UNKNOWN], dtype=np.float64)
    out[labels == _BG] = _TO_FLOAT[_BG]
    out[labels == _FG] = _TO_FLOAT[_FG]
    return out


def image_to_float(image: np.ndarray) -> np.ndarray:
    """``uint8`` RGB as pymatting's ``float64`` image in ``[0, 1]``: ``image / 255``.

    Examples
    --------
    >>> import numpy as np
    >>> image_to_float(np.array([[[0, 51, 255]]], dtype=np.uint8)).tolist()
    [[[0.0, 0.2, 1.0]]]
    """
    return image.astype(np.float64) / 255.0
