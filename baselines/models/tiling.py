"""Tiled inference with bounded memory for very large images.

The image is cut into ``tile x tile`` windows overlapping by ``overlap`` pixels; each window
goes through the model's own test-time protocol, and the windows' alphas are blended with
weights that ramp linearly across the overlaps (1 elsewhere). Peak memory is that of one
``tile``-sized forward, whatever the image size.

This is an approximation of whole-image inference: pixels near a seam see less context than
the network's receptive field would give them (the ramp hides the seam, it does not restore
the context), and GCA's attention is computed within a tile. An image no larger than one tile
is passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from metrics import InputError

__all__ = ["tiled_infer", "tile_starts"]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Window starts covering ``[0, length)``; the last window ends at ``length``.

    >>> tile_starts(10, 4, 1)
    [0, 3, 6]
    >>> tile_starts(4, 4, 1)
    [0]
    """
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _ramp(n: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    w = np.ones(n)
    if overlap > 0:
        r = (np.arange(overlap) + 0.5) / overlap
        if not first:
            w[:overlap] = np.minimum(w[:overlap], r)
        if not last:
            w[-overlap:] = np.minimum(w[-overlap:], r[::-1])
    return w


def tiled_infer(
    infer: Callable[..., np.ndarray],
    model: Any,
    image: np.ndarray,
    trimap: np.ndarray | None,
    *,
    tile: int = 1024,
    overlap: int = 64,
    force_known: bool = True,
) -> np.ndarray:
    """Run ``infer(model, image_tile, trimap_tile, force_known=False)`` tile by tile and blend.

    Parameters
    ----------
    infer
        A family's protocol function (an adapter's ``infer``).
    tile, overlap
        Window side and overlap in pixels (``0 <= overlap < tile``).
    force_known
        Force the trimap's known regions on the blended result.
    """
    if tile < 32 or not 0 <= overlap < tile:
        raise InputError(f"tiling needs tile >= 32 and 0 <= overlap < tile (got {tile}, {overlap})")
    h, w = image.shape[:2]
    if h <= tile and w <= tile:
        alpha = infer(model, image, trimap, force_known=False)
    else:
        acc = np.zeros((h, w))
        wsum = np.zeros((h, w))
        ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
        for iy, y in enumerate(ys):
            th = min(tile, h)
            wy = _ramp(th, overlap, iy == 0, iy == len(ys) - 1)
            for ix, x in enumerate(xs):
                tw = min(tile, w)
                wx = _ramp(tw, overlap, ix == 0, ix == len(xs) - 1)
                t_tri = None if trimap is None else trimap[y : y + th, x : x + tw]
                a = infer(model, image[y : y + th, x : x + tw], t_tri, force_known=False)
                weight = np.outer(wy, wx)
                acc[y : y + th, x : x + tw] += a * weight
                wsum[y : y + th, x : x + tw] += weight
        alpha = acc / wsum
    alpha = np.clip(alpha, 0.0, 1.0)
    if force_known and trimap is not None:
        alpha[trimap == 0] = 0.0
        alpha[trimap == 255] = 1.0
    return alpha
