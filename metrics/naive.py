"""Deliberately simple reference-style implementations, for tests and speed baselines.

These are loop-level re-statements of the DIM MATLAB functions, written for clarity: float64
throughout, ``/255`` on every call, a general-purpose labeller (``scipy.ndimage.label``) run
afresh at every threshold with the tie broken by scanning the component list, and the 2-D
gradient kernel applied with ``scipy.ndimage.convolve``. They share no code with the fast
kernels, which makes them an independent check, and they are the "simple implementation"
that ``tox -e bench`` measures the fast kernels against.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

__all__ = ["naive_sad", "naive_mse", "naive_grad", "naive_conn", "naive_evaluate"]


def _f(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)


def naive_sad(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> float:
    """Raw SAD: ``sum |p - g|`` over ``trimap == 128``."""
    return float(np.sum(np.abs(_f(pred) - _f(gt))[np.asarray(trimap) == 128]))


def naive_mse(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> float:
    """MSE over ``trimap == 128``; NaN without unknown pixels."""
    u = np.asarray(trimap) == 128
    if not u.any():
        return float("nan")
    return float(np.sum(((_f(pred) - _f(gt)) ** 2)[u]) / u.sum())


def _gaussgradient_2d(sigma: float = 1.4, eps: float = 0.01) -> np.ndarray:
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * eps)))
    size = 2 * half + 1
    hx = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            u1, u2 = i - half, j - half
            gauss = math.exp(-(u1**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
            gu2 = math.exp(-(u2**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
            hx[i, j] = gauss * (-u2 * gu2 / sigma**2)
    return hx / math.sqrt(np.sum(np.abs(hx) * np.abs(hx)))


def _mat2gray(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    lo, hi = a.min(), a.max()
    return np.zeros_like(a) if hi == lo else (a - lo) / (hi - lo)


def naive_grad(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> float:
    """Raw gradient error: mat2gray, 2-D 9x9 kernel via ``ndimage.convolve`` (nearest)."""
    hx = _gaussgradient_2d()
    hy = hx.T
    mags = []
    for img in (pred, gt):
        x = _mat2gray(img)
        gx = ndimage.convolve(x, hx, mode="nearest")
        gy = ndimage.convolve(x, hy, mode="nearest")
        mags.append(np.sqrt(gx**2 + gy**2))
    return float(np.sum(((mags[0] - mags[1]) ** 2)[np.asarray(trimap) == 128]))


def naive_conn(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray, step: float = 0.1) -> float:
    """Raw connectivity error, one labelling per threshold, column-major tie, GCA guard.

    Thresholds are compared on the integer grey values for 8-bit input (``10 v >= 255 k``),
    as the float32 reference effectively does.
    """
    p8 = np.asarray(pred)
    g8 = np.asarray(gt)
    p, g = _f(p8), _f(g8)
    n_steps = round(1 / step)
    lmap = -np.ones(p.shape)
    four = ndimage.generate_binary_structure(2, 1)
    for k in range(1, n_steps + 1):
        if p8.dtype == np.uint8 and g8.dtype == np.uint8:
            inter = (10 * p8.astype(np.int64) >= 255 * k) & (10 * g8.astype(np.int64) >= 255 * k)
        else:
            inter = (p >= k / n_steps - 1e-6) & (g >= k / n_steps - 1e-6)
        labels, n = ndimage.label(inter, structure=four)
        omega = np.zeros(p.shape, dtype=bool)
        if n > 0:
            sizes = np.bincount(labels.ravel())[1:]
            tied = np.flatnonzero(sizes == sizes.max()) + 1
            # MATLAB's bwconncomp order: the component whose first column-major pixel comes first
            firsts = [int(np.flatnonzero((labels == c).T)[0]) for c in tied]
            omega = labels == tied[int(np.argmin(firsts))]
        lmap[(lmap == -1) & ~omega] = (k - 1) / n_steps
    lmap[lmap == -1] = 1.0
    dp, dg = p - lmap, g - lmap
    phi_p = 1 - dp * (dp >= 0.15)
    phi_g = 1 - dg * (dg >= 0.15)
    return float(np.sum(np.abs(phi_p - phi_g)[np.asarray(trimap) == 128]))


def naive_evaluate(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> dict[str, float]:
    """All four raw values."""
    return {
        "sad": naive_sad(pred, gt, trimap),
        "mse": naive_mse(pred, gt, trimap),
        "grad": naive_grad(pred, gt, trimap),
        "conn": naive_conn(pred, gt, trimap),
    }
