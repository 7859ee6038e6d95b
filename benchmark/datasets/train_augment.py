"""Training-time composition and augmentation of the matting families, from their official code.

A training sample is a foreground ``fg``, its ``alpha`` and a background ``bg`` (read by
:mod:`benchmark.datasets.train_matting`), turned into the five arrays every MatteBench training
sample has (the keys of :func:`benchmark.training.training_pool`'s samples)::

    image  uint8 HxWx3 RGB   the composite, exactly composite_dim(fg, bg, alpha)
    alpha  uint8 HxW         0..255
    trimap uint8 HxW         0 / 128 / 255
    fg     uint8 HxWx3 RGB   the (augmented) foreground colours
    bg     uint8 HxWx3 RGB   the (augmented, fitted) background

so the training loop takes either source unchanged. Every random draw comes from the
``numpy.random.Generator`` passed in (the caller seeds it from the seed, the epoch and the sample
index), never from ``random`` or ``numpy.random``'s global state, so a run is reproducible and
resumable by step. The draws follow each official pipeline's order and distributions; the
streams themselves (Python's ``random``, NumPy's legacy global state) cannot be reproduced,
so the samples are *distributed* as the official ones, not bit-identical to them.

Families (:data:`FAMILIES`)
---------------------------
``"none"`` -- :func:`compose_plain`: no augmentation. The composite Adobe's
``Composition_code.py`` (``Training_set`` copy, ``num_bgs = 100``) writes: background fitted by
:func:`benchmark.compose.fit_background` (bicubic upscaling only if smaller, top-left crop),
:func:`benchmark.compose.composite_dim` arithmetic; full foreground size; the trimap of
:func:`benchmark.datasets.synthetic.trimap_from_alpha`.

``"gca"`` -- :func:`augment_gca`: GCA-Matting (Li & Lu, AAAI 2020), repository
Yaoyi-Li/GCA-Matting @ 5a999be, ``dataloader/data_generator.py``, the ``train`` transform with
``CONFIG.data.augmentation = True`` and the defaults of ``utils/config.py``
(``crop_size = 512``, ``random_interp = False``), step by step:

1. ``DataGenerator._composite_fg``: with probability 0.5 a second foreground (index
   ``randint(n) + idx``, modulo ``n``) is resized to the first one's size (nearest) and merged:
   ``alpha = 1 - (1 - a1)(1 - a2)``, ``fg = fg1 a1 + fg2 (1 - a1)`` truncated to ``uint8``,
   only if the merged alpha is not 1 everywhere; then with probability 0.25 foreground and alpha
   are resized to 640x640 (nearest). *Scaled*: 640 is ``1.25 * crop`` here (640 at the
   default ``crop = 512``).
2. ``RandomAffine(degrees=30, scale=[0.8, 1.25], shear=10, flip=0.5)``: rotation
   ``U(-30, 30)`` degrees only if the foreground's longer side is at least 1024 (otherwise 0;
   *scaled*: ``2 * crop``), independent x and y scales ``U(0.8, 1.25)``, shear ``U(-10, 10)``
   degrees, each axis flipped with probability 0.5, no translation; about the centre
   ``(w/2 + 0.5, h/2 + 0.5)``; the inverse matrix of ``_get_inverse_affine_matrix``
   (:func:`gca_inverse_affine`), ``cv2.warpAffine`` nearest with ``WARP_INVERSE_MAP``, zero
   border, on foreground and alpha.
3. ``GenTrimap``: foreground ``alpha == 1`` and background ``alpha == 0`` eroded with elliptic
   kernels of independent sizes ``randint(1, 30)`` (1..29 px); the rest unknown
   (:func:`gca_trimap`).
4. ``RandomCrop((512, 512))``: the background resized (bicubic, aspect not kept) to the
   foreground's size; a foreground with a side not longer than the crop is scaled (with
   everything else) by ``1.1 * crop / shorter side`` until both sides are; a top-left corner
   ``4 * (y, x)`` picked among the unknown pixels of the trimap subsampled by 4 (nearest) inside
   a ``crop // 2`` margin, i.e. a crop centred on an unknown pixel (a random corner if fewer
   than 10 such pixels); everything resized to the crop (nearest; bicubic for the background)
   if the trimap has no unknown pixel at all.
5. ``RandomJitter`` on the foreground only: HSV (float32, H in degrees) hue shift
   ``randint(-40, 40)``, saturation and value each shifted by ``U(-1, 1) (1.1 - m) / 10`` with
   ``m`` their mean over ``alpha > 0``, reflected at 0 and 1; skipped when the alpha is all 0
   (:func:`gca_jitter`).
6. ``Composite``: ``image = fg alpha + bg (1 - alpha)``. Here foreground, background and alpha
   are rounded to 8 bits first and the composite is :func:`benchmark.compose.composite_dim` of
   them (GCA keeps float32), so ``image``, ``fg``, ``bg`` and ``alpha`` agree exactly.

``"dim"`` -- :func:`augment_dim`: Deep Image Matting (Xu et al., CVPR 2017) as trained by
foamliu/Deep-Image-Matting-PyTorch @ db6a96d (the code DCP's teachers build on), ``data_gen.py``
and ``config.py`` (``im_size = 320``), step by step:

1. ``process`` / ``composite4``: the background upscaled (``cv2.INTER_CUBIC``, sizes
   ``ceil(b * ratio)``) only if smaller than the foreground, then cut at a *random* offset
   ``randint(0, bw - w)`` (exclusive bound, as written; 0 if it fits exactly).
2. ``DIMDataset.__getitem__``: crop side drawn from 320, 480, 640 (1:1:1; *scaled*: ``crop``,
   ``1.5 crop``, ``2 crop``).
3. ``gen_trimap`` on the full alpha (only to pick the crop): elliptic kernel of size
   ``random.choice(range(1, 5))``, ``cv.dilate(alpha, kernel, iterations)`` and ``cv.erode``;
   255 where the erosion is 255, 0 where the dilation is 0 (:func:`dim_trimap`). The third
   positional argument of ``cv.dilate``/``cv.erode`` is ``dst``, not ``iterations``, so the
   official code dilates and erodes *once* (checked with OpenCV here); ``trimap_iterations=
   "as-run"`` (default) does that, ``"intended"`` uses ``randint(1, 20)`` iterations.
4. ``random_choice``: a random unknown pixel ``(cx, cy)``; the crop's top-left is
   ``(max(0, cx - side // 2), max(0, cy - side // 2))`` (``(0, 0)`` without unknown pixels).
5. ``utils.safe_crop``: the crop, zero-padded where it leaves the image, resized to 320
   (nearest) if the side is not 320; applied here to foreground, background and alpha alike
   (the official crops the composite, which is the same thing pixel for pixel).
6. ``gen_trimap`` again, on the cropped alpha: the sample's trimap.
7. Horizontal flip if ``random_sample() > 0.5``.
8. ``transforms.ColorJitter(brightness=0.125, contrast=0.125, saturation=0.125)`` (torchvision,
   on a PIL image): factors ``U(0.875, 1.125)`` in a random order; brightness scales, contrast
   blends with the rounded mean of the grey (``L``) image, saturation with the per-pixel grey.
   The official jitters the composite only. Each operation is affine per pixel with
   coefficients shared by all pixels, so here it is applied to foreground and background
   (the contrast mean taken from their composite), which gives the jittered composite while
   keeping ``image = alpha fg + (1 - alpha) bg`` exact; PIL's clipping and rounding after each
   operation is done once at the end (:func:`dim_colour_jitter`).

The sizes marked *scaled* equal the official ones at the family's default crop
(:data:`DEFAULT_CROP`); they are written relative to the crop so that a small crop (tests,
quick runs) takes the same code paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from benchmark.compose import composite_dim, fit_background
from benchmark.datasets.synthetic import trimap_from_alpha
from metrics import InputError

__all__ = [
    "FAMILIES",
    "FAMILY_SOURCES",
    "DEFAULT_CROP",
    "TRIMAP_MODES",
    "augment",
    "augment_gca",
    "augment_dim",
    "compose_plain",
    "gca_inverse_affine",
    "gca_trimap",
    "gca_jitter",
    "dim_trimap",
    "dim_colour_jitter",
]

#: the augmentation protocols (see the module docstring)
FAMILIES: tuple[str, ...] = ("none", "gca", "dim")
#: where each protocol comes from (recorded in a run's configuration)
FAMILY_SOURCES: dict[str, str] = {
    "none": "Adobe Composition_code.py (Training_set): fit_background + composite_dim, "
    "no augmentation; trimap_from_alpha",
    "gca": "Yaoyi-Li/GCA-Matting@5a999be dataloader/data_generator.py, DataGenerator train "
    "transform with augmentation=True, random_interp=False",
    "dim": "foamliu/Deep-Image-Matting-PyTorch@db6a96d data_gen.py DIMDataset.__getitem__ "
    "(process, gen_trimap, random_choice, safe_crop, flip, ColorJitter 0.125)",
}
#: output side of each family: GCA ``CONFIG.data.crop_size``, DIM-PyTorch ``im_size``;
#: ``None``: the foreground's own size
DEFAULT_CROP: dict[str, int | None] = {"none": None, "gca": 512, "dim": 320}
#: how :func:`dim_trimap` uses its drawn iteration count
TRIMAP_MODES: tuple[str, ...] = ("as-run", "intended")

#: another foreground for GCA's two-foreground merge: called with the generator, returns
#: ``(fg uint8 HxWx3, alpha uint8 HxW)``
OtherForeground = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]

_GREY = np.array([0.299, 0.587, 0.114])  # PIL "L": R*299/1000 + G*587/1000 + B*114/1000


def _ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(size), int(size)))


def _u8(x: np.ndarray) -> np.ndarray:
    """Round half up and clip to ``uint8``."""
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def _check_inputs(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray) -> None:
    for nm, arr, nd in (("fg", fg, 3), ("alpha", alpha, 2), ("bg", bg, 3)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != nd:
            raise InputError(f"{nm} must be a uint8 array with {nd} dimensions")
    if fg.shape[2] != 3 or bg.shape[2] != 3 or fg.shape[:2] != alpha.shape:
        raise InputError(
            f"shapes do not match: fg {fg.shape}, alpha {alpha.shape}, bg {bg.shape} "
            "(expected HxWx3, HxW and any h x w x 3)"
        )


def _sample(image: np.ndarray, alpha: np.ndarray, trimap: np.ndarray, fg, bg) -> dict:
    return {
        "image": np.ascontiguousarray(image),
        "alpha": np.ascontiguousarray(alpha),
        "trimap": np.ascontiguousarray(trimap),
        "fg": np.ascontiguousarray(fg),
        "bg": np.ascontiguousarray(bg),
    }


# --------------------------------------------------------------------------------- none


def compose_plain(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray) -> dict[str, np.ndarray]:
    """The un-augmented composite of Adobe's ``Composition_code.py`` (family ``"none"``).

    The background is fitted with :func:`benchmark.compose.fit_background` (PIL bicubic
    upscaling only if it is smaller, then its top-left ``w x h``), the composite is
    :func:`benchmark.compose.composite_dim`, the trimap
    :func:`benchmark.datasets.synthetic.trimap_from_alpha`.

    Examples
    --------
    >>> fg = np.full((2, 3, 3), 200, np.uint8)
    >>> bg = np.full((4, 4, 3), 100, np.uint8)
    >>> s = compose_plain(fg, np.array([[0, 128, 255]] * 2, np.uint8), bg)
    >>> s["image"][0, :, 0].tolist(), s["bg"].shape
    ([100, 150, 200], (2, 3, 3))
    """
    _check_inputs(fg, alpha, bg)
    h, w = alpha.shape
    fitted = np.asarray(fit_background(Image.fromarray(bg), w, h))
    return _sample(composite_dim(fg, fitted, alpha), alpha, trimap_from_alpha(alpha), fg, fitted)


# --------------------------------------------------------------------------------- GCA


def gca_inverse_affine(
    center: tuple[float, float],
    angle: float,
    scale: tuple[float, float],
    shear: float,
    flip: tuple[float, float],
) -> np.ndarray:
    """The 2x3 destination-to-source matrix of GCA's ``RandomAffine`` (for
    ``cv2.WARP_INVERSE_MAP``).

    The forward map flips, scales, rotates by ``angle`` and shears by ``shear`` (degrees)
    about ``center``; its inverse, as ``_get_inverse_affine_matrix`` computes it, is
    ``x_src = c + D K L (x_dst - c)`` with ``L = [[cos a, sin(a + s)], [-sin a, cos(a + s)]]``
    divided by ``cos s`` and ``K = diag(flip_x / scale_x, flip_y / scale_y)`` (no translation:
    GCA passes ``translate=None``).

    Examples
    --------
    >>> gca_inverse_affine((2.0, 3.0), 0.0, (1.0, 1.0), 0.0, (-1.0, 1.0)).round(6).tolist()
    [[-1.0, 0.0, 4.0], [0.0, 1.0, 0.0]]
    """
    a, s = math.radians(angle), math.radians(shear)
    lin = np.array([[math.cos(a), math.sin(a + s)], [-math.sin(a), math.cos(a + s)]])
    lin /= math.cos(a + s) * math.cos(a) + math.sin(a + s) * math.sin(a)  # = cos(shear)
    lin = np.diag([flip[0] / scale[0], flip[1] / scale[1]]) @ lin
    c = np.asarray(center, dtype=np.float64)
    return np.hstack([lin, (c - lin @ c)[:, None]])


def gca_trimap(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """GCA's ``GenTrimap``: a trimap from a float alpha in [0, 1].

    Definite foreground ``alpha + 1e-5 >= 1`` and definite background ``alpha <= 1e-5``
    (GCA's ``astype(int)`` tests) are each eroded with an elliptic kernel of size
    ``rng.integers(1, 30)`` (foreground first); the rest is 128. OpenCV's default border
    (no erosion from outside the image) applies, as in GCA.

    Examples
    --------
    A 40 x 40 alpha, opaque on the right, a soft column at x = 20; the generator of seed 1
    draws kernel sizes 14 (foreground) and 15 (background):

    >>> a = np.zeros((40, 40), np.float32); a[:, 21:] = 1; a[:, 20] = 0.5
    >>> t = gca_trimap(a, np.random.default_rng(1))
    >>> t[0].tolist() == [0] * 13 + [128] * 15 + [255] * 12  # x = 13 .. 27 unknown
    True
    """
    fg_size = int(rng.integers(1, 30))
    bg_size = int(rng.integers(1, 30))
    fg_mask = cv2.erode((alpha + 1e-5 >= 1.0).astype(np.uint8), _ellipse(fg_size))
    bg_mask = cv2.erode((1.0 - alpha + 1e-5 >= 1.0).astype(np.uint8), _ellipse(bg_size))
    tri = np.full(alpha.shape, 128, np.uint8)
    tri[fg_mask == 1] = 255
    tri[bg_mask == 1] = 0
    return tri


def gca_jitter(fg: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """GCA's ``RandomJitter`` on an RGB foreground (0..255); returns float32 0..255.

    In HSV (float32, hue in degrees): hue ``+= rng.integers(-40, 40)`` modulo 360; saturation
    and value each ``|x + j|`` reflected at 1 (``2 - x`` above 1), with
    ``j = U(0, 1) (1.1 - m) / 5 - (1.1 - m) / 10`` and ``m`` the channel's mean where
    ``alpha > 0``. An all-zero alpha leaves the foreground unchanged (no draws).
    """
    f = fg.astype(np.float32)
    if not (alpha > 0).any():
        return f
    hsv = cv2.cvtColor(f / np.float32(255.0), cv2.COLOR_RGB2HSV)
    hue = int(rng.integers(-40, 40))
    hsv[..., 0] = np.remainder(hsv[..., 0] + np.float32(hue), np.float32(360.0))
    inside = alpha > 0
    for ch in (1, 2):
        bar = float(hsv[..., ch][inside].mean())
        jit = rng.random() * (1.1 - bar) / 5 - (1.1 - bar) / 10
        v = np.abs(hsv[..., ch] + np.float32(jit))
        hsv[..., ch] = np.where(v > 1, 2 - v, v)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * np.float32(255.0)


def augment_gca(
    fg: np.ndarray,
    alpha: np.ndarray,
    bg: np.ndarray,
    rng: np.random.Generator,
    *,
    crop: int = 512,
    other: OtherForeground | None = None,
) -> dict[str, np.ndarray]:
    """GCA-Matting's training transform (module docstring, family ``"gca"``).

    Parameters
    ----------
    fg, alpha, bg
        ``uint8`` RGB foreground HxWx3, its alpha HxW, a background of any size.
    rng
        The sample's generator; every draw comes from it.
    crop
        Output side (GCA: 512).
    other
        Loads the second foreground of the two-foreground merge (step 1); ``None`` skips the
        merge (a set with one foreground).

    Returns
    -------
    dict
        ``image``, ``alpha``, ``trimap``, ``fg``, ``bg``: ``uint8``, ``crop x crop``.
    """
    _check_inputs(fg, alpha, bg)
    crop = int(crop)
    a = alpha.astype(np.float32) / np.float32(255.0)
    f = fg
    # 1. DataGenerator._composite_fg
    if rng.random() < 0.5 and other is not None:
        fg2, alpha2 = other(rng)
        h, w = a.shape
        fg2 = cv2.resize(fg2, (w, h), interpolation=cv2.INTER_NEAREST)
        a2 = cv2.resize(
            alpha2.astype(np.float32) / np.float32(255.0), (w, h), interpolation=cv2.INTER_NEAREST
        )
        merged = 1 - (1 - a) * (1 - a2)
        if np.any(merged < 1):
            am = a[..., None]
            f = (f.astype(np.float32) * am + fg2.astype(np.float32) * (1 - am)).astype(np.uint8)
            a = merged
    if rng.random() < 0.25:
        big = int(round(1.25 * crop))
        f = cv2.resize(f, (big, big), interpolation=cv2.INTER_NEAREST)
        a = cv2.resize(a, (big, big), interpolation=cv2.INTER_NEAREST)
    # 2. RandomAffine(degrees=30, scale=[0.8, 1.25], shear=10, flip=0.5)
    rows, cols = a.shape
    angle = rng.uniform(-30.0, 30.0) if max(rows, cols) >= 2 * crop else 0.0
    scale = (rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25))
    shear = rng.uniform(-10.0, 10.0)
    flips = np.where(rng.random(2) < 0.5, -1.0, 1.0)
    m = gca_inverse_affine(
        (cols * 0.5 + 0.5, rows * 0.5 + 0.5), angle, scale, shear, (flips[0], flips[1])
    )
    flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    f = cv2.warpAffine(np.ascontiguousarray(f), m, (cols, rows), flags=flags)
    a = cv2.warpAffine(np.ascontiguousarray(a), m, (cols, rows), flags=flags)
    # 3. GenTrimap
    tri = gca_trimap(a, rng)
    # 4. RandomCrop((crop, crop))
    h, w = tri.shape
    b = cv2.resize(bg, (w, h), interpolation=cv2.INTER_CUBIC)
    if w < crop + 1 or h < crop + 1:
        ratio = 1.1 * crop / h if h < w else 1.1 * crop / w
        while h < crop + 1 or w < crop + 1:
            size = (int(w * ratio), int(h * ratio))
            f = cv2.resize(f, size, interpolation=cv2.INTER_NEAREST)
            a = cv2.resize(a, size, interpolation=cv2.INTER_NEAREST)
            tri = cv2.resize(tri, size, interpolation=cv2.INTER_NEAREST)
            b = cv2.resize(b, size, interpolation=cv2.INTER_CUBIC)
            h, w = tri.shape
    margin = crop // 2
    small = cv2.resize(tri, (w // 4, h // 4), interpolation=cv2.INTER_NEAREST)
    unknown = np.argwhere(
        small[margin // 4 : (h - margin) // 4, margin // 4 : (w - margin) // 4] == 128
    )
    if len(unknown) < 10:
        top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    else:
        uy, ux = unknown[int(rng.integers(len(unknown)))]
        top, left = int(uy) * 4, int(ux) * 4
    if not (tri == 128).any():  # GCA: "does not have enough unknown area": resize instead
        f = cv2.resize(f, (crop, crop), interpolation=cv2.INTER_NEAREST)
        a = cv2.resize(a, (crop, crop), interpolation=cv2.INTER_NEAREST)
        tri = cv2.resize(tri, (crop, crop), interpolation=cv2.INTER_NEAREST)
        b = cv2.resize(b, (crop, crop), interpolation=cv2.INTER_CUBIC)
    else:
        win = (slice(top, top + crop), slice(left, left + crop))
        f, a, tri, b = f[win], a[win], tri[win], b[win]
    # 5. RandomJitter (foreground only)
    f = gca_jitter(f, a, rng)
    # 6. Composite, on 8-bit parts
    alpha8 = _u8(np.clip(a, 0.0, 1.0) * 255.0)
    fg8, bg8 = _u8(f), np.ascontiguousarray(b)
    return _sample(composite_dim(fg8, bg8, alpha8), alpha8, tri, fg8, bg8)


# --------------------------------------------------------------------------------- DIM


def dim_trimap(alpha: np.ndarray, rng: np.random.Generator, mode: str = "as-run") -> np.ndarray:
    """DIM-PyTorch's ``gen_trimap``: 255 where the eroded alpha is 255, 0 where the dilated
    alpha is 0, else 128.

    The kernel is an ellipse of size ``rng.integers(1, 5)``; an iteration count
    ``rng.integers(1, 20)`` is drawn as in the official code, which passes it where
    ``cv.dilate`` expects ``dst``: ``mode="as-run"`` therefore dilates and erodes once,
    ``mode="intended"`` that many times.

    Examples
    --------
    >>> a = np.array([[0, 0, 0, 90, 255, 255, 255]], np.uint8)
    >>> dim_trimap(a, np.random.default_rng(4)).tolist()  # kernel size 3
    [[0, 0, 128, 128, 128, 255, 255]]
    """
    if mode not in TRIMAP_MODES:
        raise InputError(f"trimap mode must be one of {TRIMAP_MODES}, got {mode!r}")
    k = _ellipse(int(rng.integers(1, 5)))
    drawn = int(rng.integers(1, 20))  # drawn in both modes, as in the official code
    iterations = drawn if mode == "intended" else 1
    dilated = cv2.dilate(alpha, k, iterations=iterations)
    eroded = cv2.erode(alpha, k, iterations=iterations)
    tri = np.full(alpha.shape, 128, np.uint8)
    tri[eroded >= 255] = 255
    tri[dilated <= 0] = 0
    return tri


def dim_colour_jitter(
    fg: np.ndarray,
    bg: np.ndarray,
    alpha: np.ndarray,
    rng: np.random.Generator,
    strength: float = 0.125,
) -> tuple[np.ndarray, np.ndarray]:
    """torchvision ``ColorJitter(brightness, contrast, saturation = strength)`` of the
    composite, applied to its foreground and background (module docstring, DIM step 8).

    The three factors are ``U(1 - strength, 1 + strength)``, applied in a random order:
    brightness ``x f``; contrast ``m + f (x - m)`` with ``m`` the mean of the composite's
    grey image rounded half up (PIL ``ImageEnhance.Contrast``); saturation ``g + f (x - g)``
    with ``g`` the pixel's grey (``L``: 0.299 R + 0.587 G + 0.114 B). Returns the ``uint8``
    foreground and background (clipped and rounded once, at the end).
    """
    order = rng.permutation(3)
    factors = rng.uniform(1.0 - strength, 1.0 + strength, 3)
    f = fg.astype(np.float64)
    b = bg.astype(np.float64)
    a = (alpha.astype(np.float64) / 255.0)[..., None]
    for op in order:
        k = float(factors[op])
        if op == 0:  # brightness
            f, b = f * k, b * k
        elif op == 1:  # contrast
            mean = math.floor(float(((a * f + (1 - a) * b) @ _GREY).mean()) + 0.5)
            f, b = mean + k * (f - mean), mean + k * (b - mean)
        else:  # saturation
            gf, gb = (f @ _GREY)[..., None], (b @ _GREY)[..., None]
            f, b = gf + k * (f - gf), gb + k * (b - gb)
    return _u8(f), _u8(b)


def _safe_crop(arr: np.ndarray, x: int, y: int, side: int, out: int) -> np.ndarray:
    """DIM-PyTorch ``utils.safe_crop``: zero-padded crop, resized (nearest) to ``out``."""
    ret = np.zeros((side, side) + arr.shape[2:], arr.dtype)
    c = arr[y : y + side, x : x + side]
    ret[: c.shape[0], : c.shape[1]] = c
    if side != out:
        ret = cv2.resize(ret, (out, out), interpolation=cv2.INTER_NEAREST)
    return ret


def augment_dim(
    fg: np.ndarray,
    alpha: np.ndarray,
    bg: np.ndarray,
    rng: np.random.Generator,
    *,
    crop: int = 320,
    trimap_mode: str = "as-run",
) -> dict[str, np.ndarray]:
    """Deep Image Matting's training transform as DIM-PyTorch runs it (module docstring,
    family ``"dim"``).

    Parameters
    ----------
    fg, alpha, bg
        ``uint8`` RGB foreground HxWx3, its alpha HxW, a background of any size.
    rng
        The sample's generator.
    crop
        Output side (DIM: 320); crops of ``crop``, ``1.5 crop`` and ``2 crop`` are drawn.
    trimap_mode
        ``"as-run"`` or ``"intended"`` (:func:`dim_trimap`).

    Returns
    -------
    dict
        ``image``, ``alpha``, ``trimap``, ``fg``, ``bg``: ``uint8``, ``crop x crop``.
    """
    _check_inputs(fg, alpha, bg)
    crop = int(crop)
    h, w = alpha.shape
    # 1. process / composite4: upscale a small background, cut it at a random offset
    bh, bw = bg.shape[:2]
    wratio, hratio = w / bw, h / bh
    ratio = wratio if wratio > hratio else hratio
    if ratio > 1:
        size = (math.ceil(bw * ratio), math.ceil(bh * ratio))
        bg = cv2.resize(bg, size, interpolation=cv2.INTER_CUBIC)
        bh, bw = bg.shape[:2]
    x = int(rng.integers(0, bw - w)) if bw > w else 0
    y = int(rng.integers(0, bh - h)) if bh > h else 0
    b = bg[y : y + h, x : x + w]
    # 2. crop side 1:1:1
    side = (crop, int(round(1.5 * crop)), 2 * crop)[int(rng.integers(3))]
    # 3.-4. a trimap of the whole alpha, a crop around one of its unknown pixels
    tri = dim_trimap(alpha, rng, trimap_mode)
    ys, xs = np.nonzero(tri == 128)
    x0 = y0 = 0
    if len(ys):
        i = int(rng.integers(len(ys)))
        x0, y0 = max(0, int(xs[i]) - side // 2), max(0, int(ys[i]) - side // 2)
    # 5. safe_crop, resized to the output side
    f_c, a_c, b_c = (_safe_crop(v, x0, y0, side, crop) for v in (fg, alpha, b))
    # 6. the sample's trimap, from the cropped alpha
    tri = dim_trimap(a_c, rng, trimap_mode)
    # 7. horizontal flip
    if rng.random() > 0.5:
        f_c, a_c, b_c, tri = (v[:, ::-1] for v in (f_c, a_c, b_c, tri))
    # 8. ColorJitter of the composite, through its two layers
    f8, b8 = dim_colour_jitter(f_c, b_c, a_c, rng)
    a_c = np.ascontiguousarray(a_c)
    return _sample(composite_dim(f8, b8, a_c), a_c, tri, f8, b8)


# --------------------------------------------------------------------------------- dispatch


def augment(
    family: str,
    fg: np.ndarray,
    alpha: np.ndarray,
    bg: np.ndarray,
    rng: np.random.Generator,
    *,
    crop: int | None = None,
    other: OtherForeground | None = None,
    trimap_mode: str = "as-run",
) -> dict[str, np.ndarray]:
    """One training sample of ``family`` (:data:`FAMILIES`); ``crop`` defaults to
    :data:`DEFAULT_CROP`. ``other`` is used by ``"gca"`` only, ``trimap_mode`` by ``"dim"``
    only; ``"none"`` draws nothing and takes no crop."""
    if family == "none":
        if crop is not None:
            raise InputError("family 'none' composes at the foreground's size; crop must be None")
        return compose_plain(fg, alpha, bg)
    if family not in FAMILIES:
        raise InputError(f"unknown augmentation family {family!r} (known: {', '.join(FAMILIES)})")
    side = DEFAULT_CROP[family] if crop is None else crop
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 8:
        raise InputError(f"crop must be an integer >= 8, got {crop!r}")
    if family == "gca":
        return augment_gca(fg, alpha, bg, rng, crop=int(side), other=other)
    return augment_dim(fg, alpha, bg, rng, crop=int(side), trimap_mode=trimap_mode)
