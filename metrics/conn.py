"""Connectivity error (Rhemann et al., CVPR 2009), exactly as the DIM MATLAB reference computes it.

Reference: ``compute_connectivity_error.m`` of the Deep Image Matting evaluation code (Ning Xu,
2018-1-1), as shipped in ``Yaoyi-Li/GCA-Matting/DIM_evaluation_code`` (whose empty-level guard
we follow). The golden values in ``shared/golden/metrics`` come from that code under Octave.

Algorithm (step 0.1, theta 0.15)::

    p, q      = pred / 255, gt / 255                 (float alpha in [0, 1])
    for k = 1..10, t = k / 10:
        M_k     = (p >= t) & (q >= t)
        Omega_k = largest 4-connected component of M_k over the WHOLE image
        pixels not yet assigned and not in Omega_k get l = (k - 1) / 10
    pixels never assigned get l = 1
    phi_p = 1 - d_p * [d_p >= 0.15] with d_p = p - l   (same for q)
    raw   = sum over the region of |phi_p - phi_q|

The sets ``M_k`` are nested, so a pixel's fate depends only on its *level*
``m = min(L(pred), L(gt))`` where ``L(v) = #{k : v / 255 >= k / 10}``. We label each level
once with OpenCV's connected-components labeller (4-connectivity).
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np

from metrics import _conn_uf
from metrics._convention_table import get_convention
from metrics._inputs import prepare
from metrics._scale import apply_scale

__all__ = [
    "conn",
    "conn_whole",
    "alpha_levels",
    "conn_levels",
    "conn_raw",
    "conn_torch",
    "conn_whole_torch",
]

THETA = 0.15
STEPS = 10

Tie = Literal["column_major", "row_major", "opencv"]
Threshold = Literal["exact", "float64_arange", "float32_arange"]
Empty = Literal["gca", "indexnet"]
Method = Literal["auto", "union_find", "opencv"]

# Integer level of each grey value: L(v) = floor(10 v / 255) = #{k in 1..10 : 10 v >= 255 k}.
_LEVEL_LUT = ((10 * np.arange(256)) // 255).astype(np.uint8)
# What a float64 port gets with ``v / 255.0 >= np.arange(0, 1.1, 0.1)[k]`` (the "153 bug").
_ARANGE = np.arange(0, 1.1, 0.1)
_LEVEL_LUT_F64 = np.array(
    [int(np.sum(v / 255.0 >= _ARANGE[1:])) for v in range(256)], dtype=np.uint8
)
# What a float32 port gets with a float32 alpha against the same ``np.arange`` under NumPy < 2,
# which compares a float32 array with a float64 scalar in float32 (the threshold is cast):
# ``float32(0.7)`` and ``float32(0.9)`` lie *below* 0.7 and 0.9, so they pass. For the 8-bit
# grey levels this gives exactly the integer rule (``_LEVEL_LUT``): 153 passes 0.6.
_ARANGE_F32 = _ARANGE.astype(np.float32)
_LEVEL_LUT_F32 = np.array(
    [int(np.sum(np.float32(v) / np.float32(255) >= _ARANGE_F32[1:])) for v in range(256)],
    dtype=np.uint8,
)
_LEVEL_LUTS = {
    "exact": _LEVEL_LUT,
    "float64_arange": _LEVEL_LUT_F64,
    "float32_arange": _LEVEL_LUT_F32,
}
# A float alpha within this distance below a threshold counts as reaching it (ties pass, as
# they do for 8-bit input in the float32 reference). v / 255 of a grey value that is not a tie
# lies at least 5 / 2550 ~ 2e-3 from every threshold, and float32 rounds v / 255 by < 1e-7, so
# float32 and float64 copies of 8-bit mattes get exactly the 8-bit levels.
_TIE_EPS = 1e-6


def alpha_levels(a: np.ndarray, threshold: Threshold = "exact") -> np.ndarray:
    """Threshold level ``L = #{k in 1..10 : alpha >= k/10}`` of each pixel, as ``uint8``.

    ``threshold="exact"`` decides 8-bit input on the integers (``10 v >= 255 k``): the ties
    v = 51, 102, 153, 204, 255 pass, as in the float32 reference. Float input in ``[0, 1]``
    passes when ``alpha >= k/10 - 1e-6``, so ``v / 255.0`` gives the same levels as ``v``.
    ``threshold="float64_arange"`` reproduces float64 ports that compare ``v / 255.0`` with
    ``np.arange(0, 1.1, 0.1)``: 153 then falls below 0.6 (``0.6000000000000001``).
    ``threshold="float32_arange"`` reproduces float32 ports run under NumPy < 2, which compare
    a float32 alpha with ``np.arange``'s float64 thresholds in float32: the alpha is rounded to
    float32 and compared with ``float32(k/10)``. 8-bit input then gets the exact levels (153
    passes 0.6); a float alpha of ``float32(0.7)`` or ``float32(0.9)`` (just below 0.7, 0.9)
    passes that threshold.

    Examples
    --------
    >>> import numpy as np
    >>> alpha_levels(np.array([[25, 26, 153, 255]], dtype=np.uint8)).tolist()
    [[0, 1, 6, 10]]
    >>> alpha_levels(np.array([[153]], dtype=np.uint8), "float64_arange").tolist()
    [[5]]
    >>> alpha_levels(np.array([[153]], dtype=np.uint8), "float32_arange").tolist()
    [[6]]
    >>> a = np.array([[np.float32(0.7), 0.7 - 1e-9]])    # float32(0.7) = 0.699999988...
    >>> alpha_levels(a, "float32_arange").tolist(), alpha_levels(a, "float64_arange").tolist()
    ([[7, 7]], [[6, 6]])
    """
    if a.dtype == np.uint8:
        lut = _LEVEL_LUTS[threshold]
        return cv2.LUT(a, lut) if a.flags.c_contiguous else lut[a]
    if threshold == "exact":
        lev = np.floor(a * STEPS + _TIE_EPS * STEPS)
    elif threshold == "float32_arange":
        lev = np.sum(a.astype(np.float32)[..., None] >= _ARANGE_F32[1:], axis=-1)
    else:
        lev = np.sum(a[..., None] >= _ARANGE[1:], axis=-1)
    return np.clip(lev, 0, STEPS).astype(np.uint8)


def _pick_largest(labels: np.ndarray, stats: np.ndarray, tie: Tie, with_background: bool) -> int:
    """Label of the largest component; ties broken as the named code family does."""
    areas = stats[:, cv2.CC_STAT_AREA]
    first = 0 if with_background else 1
    if len(areas) <= first:
        return -1
    cand = first + np.flatnonzero(areas[first:] == areas[first:].max())
    if len(cand) == 1 or tie == "opencv":
        return int(cand[0])
    if with_background and cand[0] == 0:
        return 0  # np.argmax over a bincount that includes label 0 picks it on a tie
    best, best_key = -1, None
    for c in cand:
        if tie == "column_major":  # MATLAB/Octave bwconncomp order: first pixel by column
            col = int(stats[c, cv2.CC_STAT_LEFT])
            key = (col, int(np.argmax(labels[:, col] == c)))
        else:  # scikit-image order: first pixel in raster (row-major) order
            row = int(stats[c, cv2.CC_STAT_TOP])
            key = (row, int(np.argmax(labels[row, :] == c)))
        if best_key is None or key < best_key:
            best, best_key = int(c), key
    return best


def conn_levels(
    m: np.ndarray,
    *,
    tie: Tie = "column_major",
    with_background: bool = False,
    empty: Empty = "gca",
    method: Method = "auto",
) -> np.ndarray:
    """Per-pixel ``l`` (as an integer number of steps, 0..10) from the level map ``m``.

    Parameters
    ----------
    m
        ``uint8`` map of ``min(L(pred), L(gt))`` (see :func:`alpha_levels`).
    tie
        How a size tie between largest components is broken: ``"column_major"`` (the
        reference: MATLAB ``bwconncomp`` lists components by their first pixel in column-major
        order and ``max`` takes the first), ``"row_major"`` (scikit-image's raster order), or
        ``"opencv"`` (lowest OpenCV label, as the mmedit/mmagic ports do).
    with_background
        Count the background (label 0, pixels outside ``M_k``) as a candidate for the largest
        component, as GCA-Matting's ``argmax(bincount(labels))`` does (a bug we reproduce only
        in its named convention).
    empty
        What happens at an empty level ``M_k``: ``"gca"`` assigns every unassigned pixel the
        previous level (GCA-Matting's ``if ~isempty`` guard, the golden data); ``"indexnet"``
        skips the level (``continue``), so those pixels end at ``l = 1``.
    method
        ``"union_find"`` (one pass, :mod:`metrics._conn_uf`), ``"opencv"`` (one OpenCV
        labelling per level) or ``"auto"`` (union-find where it applies). Both are exact.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``l * 10``, shaped like ``m``.
    """
    sel = np.arange(m.size, dtype=np.int64)
    ks = _kstar(m, sel, tie=tie, with_background=with_background, empty=empty, method=method)
    return (ks - np.uint8(1)).reshape(m.shape)


def _kstar(
    m: np.ndarray,
    sel: np.ndarray,
    *,
    tie: Tie,
    with_background: bool,
    empty: Empty,
    method: Method,
) -> np.ndarray:
    """``kstar`` (first level whose Omega misses the pixel; 11 = never) at flat indices ``sel``."""
    if with_background:
        return _kstar_with_background(m, tie).ravel()[sel]
    if method == "auto":
        method = "union_find" if _conn_uf.AVAILABLE and tie != "opencv" else "opencv"
    if method == "union_find":
        if tie == "opencv":
            raise ValueError("tie='opencv' needs method='opencv'")
        ks = _conn_uf.kstar_union_find(m, sel, STEPS, tie == "column_major")
    else:
        ks = _kstar_opencv(m, tie).ravel()[sel]
    top = int(m.max())
    if empty == "indexnet" and top < STEPS:
        # ``continue`` at the first empty level: pixels still unassigned there end at l = 1
        ks[ks == top + 1] = STEPS + 1
    return ks


def _kstar_opencv(m: np.ndarray, tie: Tie) -> np.ndarray:
    """One OpenCV labelling per level; ``kstar = 1 + sum_k alive_k`` with
    ``alive_k = Omega_1 & ... & Omega_k`` (a pixel stays alive until it first leaves Omega)."""
    alive = np.ones(m.shape, dtype=np.uint8)
    kstar = np.ones(m.shape, dtype=np.uint8)
    for k in range(1, STEPS + 1):
        mk = (m >= k).view(np.uint8)
        if cv2.countNonZero(mk) == 0:
            break  # empty Omega: every alive pixel leaves now (the GCA guard)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mk, connectivity=4, ltype=cv2.CV_32S)
        best = _pick_largest(labels, stats, tie, with_background=False)
        np.bitwise_and(alive, (labels == best).view(np.uint8), out=alive)
        if cv2.countNonZero(alive) == 0:
            break
        np.add(kstar, alive, out=kstar)
    return kstar


def _kstar_with_background(m: np.ndarray, tie: Tie) -> np.ndarray:
    """GCA-Matting's python port: ``argmax(bincount(labels))`` with the background label 0.

    When the background (``~M_k``) outnumbers every component, Omega_k *is* the background:
    all of M_k drops out at once, and pixels outside M_k stay unassigned. At an empty level
    the bincount is ``[N]`` so Omega is every pixel and nothing is assigned.
    """
    never = np.uint8(STEPS + 1)
    kstar = np.full(m.shape, never, dtype=np.uint8)
    for k in range(1, STEPS + 1):
        mk = (m >= k).view(np.uint8)
        count = cv2.countNonZero(mk)
        if count == 0:
            break
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mk, connectivity=4, ltype=cv2.CV_32S)
        stats = stats.copy()
        stats[0, cv2.CC_STAT_AREA] = mk.size - count
        best = _pick_largest(labels, stats, tie, with_background=True)
        kstar[(kstar == never) & (labels != best)] = k
    return kstar


def _phi(a: np.ndarray, level: np.ndarray) -> np.ndarray:
    d = a - level
    return 1.0 - d * (d >= THETA)


def conn_raw(
    p: np.ndarray,
    g: np.ndarray,
    mask: np.ndarray | None,
    *,
    threshold: Threshold = "exact",
    threshold_gt: Threshold | None = None,
    tie: Tie = "column_major",
    with_background: bool = False,
    empty: Empty = "gca",
    method: Method = "auto",
) -> float:
    """Raw connectivity error of validated, promoted mattes over ``mask`` (``None`` = all).

    ``threshold`` decides the levels of ``p`` and, unless ``threshold_gt`` is given, of ``g``
    (a port may hand the two over in different dtypes, as GCA-Matting's tester does).
    """
    lev_g = alpha_levels(g, threshold if threshold_gt is None else threshold_gt)
    m = np.minimum(alpha_levels(p, threshold), lev_g)
    sel = np.arange(m.size, dtype=np.int64) if mask is None else np.flatnonzero(mask)
    if method == "auto":
        method = "union_find" if _conn_uf.AVAILABLE and tie != "opencv" else "opencv"
    if method == "union_find" and not with_background:
        return _conn_uf.conn_sum_union_find(
            m,
            p,
            g,
            sel,
            steps=STEPS,
            column_major=tie == "column_major",
            indexnet=empty == "indexnet",
            theta=THETA,
        )
    ks = _kstar(m, sel, tie=tie, with_background=with_background, empty=empty, method=method)
    lv = (ks - np.uint8(1)).astype(np.float64) / STEPS
    pf, gf = p.ravel()[sel], g.ravel()[sel]
    if p.dtype == np.uint8:
        pf = pf / 255.0
        gf = gf / 255.0
    return float(np.abs(_phi(pf, lv) - _phi(gf, lv)).sum())


def conn(
    pred: Any,
    gt: Any,
    trimap: Any,
    *,
    convention: str = "reference",
    scale: str = "paper",
) -> float:
    """Connectivity error over the unknown region (``trimap == 128``).

    Conventions of ``convention="reference"`` (DIM ``compute_connectivity_error.m``):

    * **pixels counted**: ``trimap == 128`` only, but the connected components are taken over
      the **whole image**;
    * **input scaling**: ``v / 255`` (no min-max);
    * **thresholds** 0.1 ... 1.0 (step 0.1), decided exactly on the integer grey value
      (``10 v >= 255 k``; 153 passes 0.6 as in the float32 reference); float input passes when
      ``alpha >= k/10 - 1e-6`` (so ``v / 255`` in float32 or float64 behaves like ``v``);
    * **connectivity** 4; the largest component is taken over the whole image; **size ties**
      go to the component whose first pixel in column-major order comes first (MATLAB
      ``bwconncomp`` + ``max``);
    * **empty level** (``M_k`` has no pixel): every unassigned pixel gets the previous level,
      as GCA-Matting's guard does (the unguarded original fails under Octave);
    * **theta** 0.15; ``phi = 1 - d * [d >= 0.15]``;
    * **unit**: ``scale="paper"`` returns the raw sum / 1000 (as the GCA and IndexNet drivers
      print it); ``scale="raw"`` the raw sum (the golden ``conn`` column).

    Inputs follow :mod:`metrics._inputs`: ``uint8`` grey levels or float alpha in ``[0, 1]``;
    a trimap without any 128 gives 0.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((4, 4), np.uint8); gt[1:3, 1:3] = 255
    >>> pred = gt.copy(); pred[0, 0] = 255        # a stray, disconnected pixel
    >>> tri = np.full((4, 4), 128, np.uint8)
    >>> conn(pred, gt, tri, scale="raw")   # phi_pred = 0, phi_gt = 1 at the stray pixel
    1.0
    """
    return get_convention(convention).conn(pred, gt, trimap, scale=scale)


def conn_whole(pred: Any, gt: Any, *, scale: str = "paper") -> float:
    """Connectivity error summed over the whole image (trimap-free benchmarks).

    The same definition as :func:`conn` with the reference choices (exact thresholds,
    column-major ties, GCA empty-level guard), but every pixel counts. ``scale="paper"``
    divides by 1000 (P3M / AIM / GFM print Conn/1000).
    """
    p, g, _ = prepare(pred, gt, None)
    return apply_scale(conn_raw(p, g, None), "conn", scale)


# --------------------------------------------------------------------------- torch twin


def _components_t(mask: Any) -> Any:
    """Label 4-connected components of a ``(B, A, C)`` bool tensor by min-index propagation.

    Every pixel of the mask starts with its own flat index; each round takes the minimum over
    the 4-neighbourhood and then jumps pointers (``lab = lab[lab]``), which is valid because a
    label always names a pixel of the same component. At the fixed point every component
    carries the smallest flat index among its pixels, i.e. an exact labelling whose label order
    is the scan order of the tensor layout. Background pixels carry ``A * C``.
    """
    import torch

    b, a, c = mask.shape
    n = a * c
    idx = torch.arange(n, device=mask.device, dtype=torch.int64).view(1, a, c)
    lab = torch.where(mask, idx, torch.full_like(idx, n)).expand(b, a, c).contiguous()
    while True:
        m = lab.clone()
        torch.minimum(m[:, 1:, :], lab[:, :-1, :], out=m[:, 1:, :])
        torch.minimum(m[:, :-1, :], lab[:, 1:, :], out=m[:, :-1, :])
        torch.minimum(m[:, :, 1:], lab[:, :, :-1], out=m[:, :, 1:])
        torch.minimum(m[:, :, :-1], lab[:, :, 1:], out=m[:, :, :-1])
        m = torch.where(mask, m, n).reshape(b, n)
        jumped = torch.gather(m, 1, m.clamp_max(n - 1))
        new = torch.where(m < n, torch.minimum(m, jumped), m).view(b, a, c)
        if torch.equal(new, lab):
            return lab
        lab = new


def conn_whole_torch(pred: Any, gt: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`conn_whole` (every pixel counts)."""
    import torch

    shape = pred.shape if hasattr(pred, "shape") else np.shape(pred)
    tri = torch.full(tuple(shape), 128, dtype=torch.uint8)
    if isinstance(pred, torch.Tensor):
        tri = tri.to(pred.device)
    return conn_torch(pred, gt, tri, scale=scale)


def conn_torch(pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> Any:
    """Batched torch twin of :func:`conn` (reference convention), exact, on any device.

    The components are found by min-index label propagation with pointer jumping
    (:func:`_components_t`), run on the transposed images so that the smallest flat index of a
    component is its first pixel in column-major order: the reference's tie-break falls out of
    ``argmax``'s first-maximum rule. Thresholds use ``floor(10 alpha + 1e-5)`` (ties pass), the
    empty-level guard is GCA-Matting's, as in :func:`conn`. The number of propagation rounds
    grows with the longest geodesic path inside a component (slowed down by pointer jumping);
    it is exact at the fixed point, not approximate.
    """
    import torch

    from metrics._torch import as_batch, masked_sum_t, per_image_scale

    p, g, t, squeeze = as_batch(pred, gt, trimap)
    p = p.transpose(-2, -1).contiguous()
    g = g.transpose(-2, -1).contiguous()
    u = (t == 128).transpose(-2, -1).contiguous()
    lev_p = torch.floor(p * STEPS + _TIE_EPS * STEPS).clamp(0, STEPS)
    lev_g = torch.floor(g * STEPS + _TIE_EPS * STEPS).clamp(0, STEPS)
    m = torch.minimum(lev_p, lev_g).to(torch.int64)
    b = m.shape[0]
    n = m.shape[-1] * m.shape[-2]
    kstar = m + 1
    for k in range(1, STEPS + 1):
        mk = m >= k
        if not bool(mk.any()):
            break
        lab = _components_t(mk).view(b, n)
        sizes = torch.zeros(b, n + 1, dtype=torch.int64, device=m.device)
        sizes.scatter_add_(1, lab, torch.ones_like(lab))
        sizes[:, n] = -1  # the background never wins
        best = torch.argmax(sizes, dim=1, keepdim=True)  # first maximum = column-major first
        best = torch.where(sizes.gather(1, best) > 0, best, torch.full_like(best, -1))
        drop = (mk.view(b, n) & (lab != best)).view_as(m)
        kstar = torch.where(drop, torch.clamp_max(kstar, k), kstar)
    lv = (kstar - 1).to(p.dtype) / STEPS
    dp, dq = p - lv, g - lv
    phi_p = 1.0 - dp * (dp >= THETA)
    phi_q = 1.0 - dq * (dq >= THETA)
    raw = masked_sum_t((phi_p - phi_q).abs(), u)
    return per_image_scale(raw, "conn", scale, squeeze)
