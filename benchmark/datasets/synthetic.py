"""Synthetic matting data: the benchmark's embedded default datasets, made offline from a seed.

Two registered datasets, ``synthetic-portrait`` and ``synthetic-objects``, are generated
procedurally and deterministically (no network access, no downloads) and cached on disk as
PNGs. Every sample has an exact ground truth by construction: the composite ``image`` *is*
``alpha`` over ``bg`` with colours ``fg``, computed with the official Adobe/DIM arithmetic.

How a sample is made
--------------------
1. **Frame.** The long side is ``size``; the short side is ``size * U(0.75, 1)`` (portraits are
   mostly upright frames, objects either way).
2. **Shapes.** Every shape is drawn *hard* (0/1) with OpenCV at 4x4 supersampling
   (:data:`SUPERSAMPLING`, sub-pixel vertex precision), and its coverage is the exact count of
   covered sub-pixels / 16 (an integer sum, no interpolation). Thin strokes of 1..8 sub-pixels
   give 0.25..2 px wide anti-aliased lines.

   * *Portraits:* head ellipse + neck + shoulders/torso (random scale, position, head tilt and
     body angle), an opaque hair cap, 150..450 hair strands (curved random walks; short, long,
     curly or straight styles; widths 0.25..2 px; opacities 0.35..1) plus fly-away hairs, a
     semi-transparent veil or scarf (opacity 0.3..0.7, smoothly varying) in most samples.
   * *Objects:* one primary shape per image, cycling through blob, ring (with holes), branches
     (a recursive tree down to sub-pixel twigs), net (a warped grid in a frame, or a cobweb) and
     glass (translucent body 0.1..0.35, opaque-ish rim, highlights), and often a smaller second
     object of another kind.
3. **Layers.** Each layer has an alpha field ``a_i = coverage * opacity`` (float64) and a colour
   image ``C_i``. Layers are stacked with the "over" operator in premultiplied form:
   ``A <- a_i + (1 - a_i) A`` and ``P <- a_i C_i + (1 - a_i) P``.
4. **Blur.** In most samples part of the boundary (one side of a soft random line) is motion
   blurred (average of shifted copies) or defocused (Gaussian); the same linear filter is
   applied to ``A`` and ``P`` so colours stay consistent.
5. **Rounding, once.** ``alpha = floor(255 * A + 0.5)`` as ``uint8`` (the only rounding of the
   matte); ``fg = floor(P / A + 0.5)`` where ``A > 0`` (elsewhere the bottom layer's colours).
6. **Composite**, exactly as the official DIM script (:func:`composite`): with
   ``a = alpha / 255`` per pixel, ``int(a * F + (1 - a) * B)`` (truncation) per channel,
   vectorised in float64; ``F`` where ``a >= 1``, ``B`` where ``a == 0``.
7. **Trimap** from the alpha (:func:`trimap_from_alpha`): unknown (128) is
   ``dilate(alpha > 0) - erode(alpha == 255)`` with an elliptical kernel of radius
   ``max(2, round(0.015 * long side))`` (8 px at 512); 255 inside, 0 outside. Every pixel with
   ``0 < alpha < 255`` is therefore unknown.

Colours come from the photos bundled *inside* scikit-image (:data:`BUNDLED_PHOTOS`, public
domain or CC0, verified to load without network access; images that ``skimage.data`` would
download with pooch are never used), and its CC0 grey textures, as random crops with flips and
colour jitter, or from procedural textures (multi-octave noise, gradients, stripes, checkers).
Foreground and background sources are always different.

Seeds and determinism
---------------------
Sample ``i`` of a dataset is drawn from ``numpy.random.SeedSequence([SALT, seed, split, kind],
spawn_key=(i,))`` with PCG64 (``split``: test 0, val 1, train 2), so the test and val splits
differ, ``count`` only changes how many samples there are (the first ``n`` samples are the same
for every ``count``), and results do not depend on hash randomisation, dict order or thread
count (only per-pixel OpenCV operations and numpy element-wise arithmetic are used).
Float results can differ in the last bit across CPUs / library builds, which could move a rare
value by one level; on one installation they are byte-identical across runs and processes.

Cache
-----
A dataset lives in ``<cache_dir>/synthetic/<kind>-v<GENERATOR_VERSION>-<split>-n<count>-s<size>-
seed<seed>/`` with ``image/``, ``alpha/``, ``trimap/``, ``fg/``, ``bg/`` (PNG) and ``meta/``
(JSON, written last, holding the generation parameters and the SHA-256 of the five PNGs) plus a
``synthetic.json`` manifest. Every file is written atomically. Missing samples are generated
when the dataset is instantiated; a sample whose files are missing, of the wrong size or whose
content does not match its recorded hash is regenerated (identically) when found.
``cache_dir`` defaults to ``$MATTEBENCH_CACHE`` or ``~/.cache/mattebench``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from benchmark.datasets.base import MattingDataset, Sample, register_dataset
from metrics import InputError
from metrics.common import atomic_write

__all__ = [
    "GENERATOR_VERSION",
    "SUPERSAMPLING",
    "BUNDLED_PHOTOS",
    "KINDS",
    "SyntheticPortraits",
    "SyntheticObjects",
    "generate_sample",
    "training_sample",
    "composite",
    "trimap_from_alpha",
    "default_cache_dir",
]

#: bump when the generated pixels change; it is part of the cache folder name
GENERATOR_VERSION = 1
#: sub-pixels per pixel side used to rasterise shapes (coverage is counted on a 4x4 grid)
SUPERSAMPLING = 4
#: colour photos inside the scikit-image package (0.26) that load with no network access;
#: licences from the ``skimage.data`` docstrings
BUNDLED_PHOTOS: tuple[str, ...] = (
    "astronaut",  # NASA, public domain
    "chelsea",  # CC0 (Stefan van der Walt)
    "coffee",  # CC0 (Rachel Michetti)
    "immunohistochemistry",  # no known copyright restrictions
    "rocket",  # SpaceX, public domain
    "hubble_deep_field",  # NASA, public domain
)
#: bundled grey CC0 textures (cc0textures.com), colourised with two random colours
_BUNDLED_TEXTURES: tuple[str, ...] = ("brick", "grass", "gravel")
_PROCEDURAL: tuple[str, ...] = ("noise", "gradient", "stripes", "checker")
#: dataset kind -> sample name prefix
KINDS: dict[str, str] = {"portrait": "portrait", "objects": "object"}
_KIND_CODE = {"portrait": 0, "objects": 1}
_SPLIT_CODE = {"test": 0, "val": 1, "train": 2}
_SALT = 0x6D617474  # "matt": keeps these streams apart from other seeded users of `seed`
_SHIFT = 4  # fractional bits of the vertex coordinates passed to OpenCV
_PARTS = ("image", "alpha", "trimap", "fg", "bg")
_OBJECT_TYPES = ("blob", "ring", "branches", "net", "glass")
_MANIFEST = "synthetic.json"


# --------------------------------------------------------------------------- public helpers


def default_cache_dir() -> Path:
    """``$MATTEBENCH_CACHE`` if set, else ``~/.cache/mattebench``."""
    env = os.environ.get("MATTEBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mattebench"


def composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite ``fg`` over ``bg`` with the official Adobe/DIM arithmetic.

    Per pixel, with ``a = alpha / 255`` (float64): ``a >= 1`` copies ``fg``, ``a == 0`` keeps
    ``bg``, otherwise each channel is ``int(a * F + (1 - a) * B)``, truncated toward zero (the
    arithmetic of the DIM composition script and of MMagic's vectorised re-implementation).

    Parameters
    ----------
    fg, bg
        ``uint8`` HxWx3 colour images.
    alpha
        ``uint8`` HxW matte.

    Returns
    -------
    numpy.ndarray
        ``uint8`` HxWx3.

    Examples
    --------
    >>> fg = np.full((1, 3, 3), 200, np.uint8)
    >>> bg = np.zeros((1, 3, 3), np.uint8)
    >>> composite(fg, bg, np.array([[0, 128, 255]], np.uint8))[..., 0]
    array([[  0, 100, 200]], dtype=uint8)
    """
    if fg.shape != bg.shape or fg.shape[:2] != alpha.shape or fg.ndim != 3:
        raise InputError(f"composite: shapes fg {fg.shape}, bg {bg.shape}, alpha {alpha.shape}")
    a = (alpha.astype(np.float64) / 255.0)[..., None]
    out = (a * fg.astype(np.float64) + (1.0 - a) * bg.astype(np.float64)).astype(np.uint8)
    # a == 1 and a == 0 already give F and B exactly; written out to mirror the reference
    out = np.where(a >= 1.0, fg, out)
    return np.where(a == 0.0, bg, out).astype(np.uint8)


def trimap_radius(height: int, width: int) -> int:
    """Radius of the trimap kernel: ``max(2, round(0.015 * max(height, width)))``."""
    return max(2, int(round(0.015 * max(height, width))))


def trimap_from_alpha(alpha: np.ndarray, radius: int | None = None) -> np.ndarray:
    """Trimap {0, 128, 255} from a matte: unknown is ``dilate(alpha > 0) - erode(alpha == 255)``.

    The kernel is an ellipse (``cv2.MORPH_ELLIPSE``) of size ``2 * radius + 1``; ``radius``
    defaults to :func:`trimap_radius`. Outside the image, erosion sees foreground and dilation
    background (OpenCV's defaults). Since both kernels contain their centre, every pixel with
    ``0 < alpha < 255`` is unknown.

    Examples
    --------
    >>> a = np.zeros((1, 7), np.uint8); a[0, 3:] = 255; a[0, 3] = 90
    >>> trimap_from_alpha(a, radius=1)
    array([[  0,   0, 128, 128, 128, 255, 255]], dtype=uint8)
    """
    if radius is None:
        radius = trimap_radius(*alpha.shape[:2])
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    outer = cv2.dilate((alpha > 0).astype(np.uint8), k)
    inner = cv2.erode((alpha == 255).astype(np.uint8), k)
    tri = np.full(alpha.shape, 128, np.uint8)
    tri[outer == 0] = 0
    tri[inner == 1] = 255
    return tri


# --------------------------------------------------------------------------- colour sources


@functools.cache
def _bundled(name: str) -> np.ndarray:
    """A bundled scikit-image picture as read-only float32 (HxWx3 or HxW)."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 3:
        img = img[..., :3]
    out = np.ascontiguousarray(img, dtype=np.float32)
    out.setflags(write=False)
    return out


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 255.0, 3)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return yy.astype(np.float64) + 0.5, xx.astype(np.float64) + 0.5


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a ``cells``-grid of uniforms, bicubic-upsampled, rescaled."""
    gh = max(2, int(round(cells * h / max(h, w)))) + 1
    gw = max(2, int(round(cells * w / max(h, w)))) + 1
    small = rng.random((gh, gw)).astype(np.float32)
    f = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    lo, hi = f.min(), f.max()
    return (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)


def _crop(rng: np.random.Generator, src: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random crop of ``src`` with the aspect of (h, w), random flip, resized: float64."""
    sh, sw = src.shape[:2]
    max_ch = min(sh, sw * h / w)
    ch = max_ch * rng.uniform(0.45, 1.0)
    cw = ch * w / h
    y0 = rng.uniform(0.0, sh - ch)
    x0 = rng.uniform(0.0, sw - cw)
    sx, sy = cw / w, ch / h
    if rng.random() < 0.5:  # horizontal flip
        m = np.array([[-sx, 0.0, x0 + cw - 0.5 - 0.5 * sx], [0.0, sy, y0 - 0.5 + 0.5 * sy]])
    else:
        m = np.array([[sx, 0.0, x0 - 0.5 + 0.5 * sx], [0.0, sy, y0 - 0.5 + 0.5 * sy]])
    out = cv2.warpAffine(
        src,
        m,
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    return out.astype(np.float64)


def _jitter(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Colour jitter: gamma, saturation, per-channel gains, brightness; float64 in [0, 255]."""
    gamma = np.float32(math.exp(rng.uniform(-0.3, 0.3)))
    x = (np.clip(img.astype(np.float32) / np.float32(255.0), 0.0, 1.0) ** gamma).astype(np.float64)
    grey = (x[..., 0] + x[..., 1] + x[..., 2])[..., None] / 3.0
    x = grey + rng.uniform(0.6, 1.3) * (x - grey)
    x = x * rng.uniform(0.85, 1.15, 3) * rng.uniform(0.8, 1.15) + rng.uniform(-0.05, 0.05)
    return np.clip(x, 0.0, 1.0) * 255.0


def _two_colour(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    c1, c2 = _random_colour(rng), _random_colour(rng)
    return c1 * (1.0 - t[..., None]) + c2 * t[..., None]


def _procedural(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    yy, xx = _grid(h, w)
    s = float(max(h, w))
    theta = rng.uniform(0.0, math.pi)
    u = (xx * math.cos(theta) + yy * math.sin(theta)) / s
    if kind == "noise":
        t = sum(0.55**o * _smooth_field(rng, h, w, 3 * 2**o) for o in range(4))
        t = (t - t.min()) / max(t.max() - t.min(), 1e-12)
        out = _two_colour(rng, t) + 60.0 * (_smooth_field(rng, h, w, 5)[..., None] - 0.5)
    elif kind == "gradient":
        t = (u - u.min()) / max(u.max() - u.min(), 1e-12)
        out = _two_colour(rng, t) + 20.0 * (_smooth_field(rng, h, w, 16)[..., None] - 0.5)
    elif kind == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * math.pi * rng.uniform(4, 24) * u + rng.uniform(0, 6.3))
        out = _two_colour(rng, np.clip((t - 0.5) * rng.uniform(1.0, 4.0) + 0.5, 0.0, 1.0))
    else:  # checker
        v = (-xx * math.sin(theta) + yy * math.cos(theta)) / s
        p = rng.uniform(0.04, 0.15)
        t = ((np.floor(u / p) + np.floor(v / p)) % 2).astype(np.float32)
        t = cv2.GaussianBlur(t, (0, 0), rng.uniform(0.5, 2.0)).astype(np.float64)
        out = _two_colour(rng, t)
    return np.clip(out, 0.0, 255.0)


def _colour_source(
    rng: np.random.Generator, h: int, w: int, *, photo_p: float, avoid: Sequence[str] = ()
) -> tuple[np.ndarray, str]:
    """A jittered colour image (float64 HxWx3) and the name of its source."""
    photos = [p for p in BUNDLED_PHOTOS if f"photo:{p}" not in avoid]
    if rng.random() < photo_p and photos:
        name = photos[int(rng.integers(len(photos)))]
        return _jitter(rng, _crop(rng, _bundled(name), h, w)), f"photo:{name}"
    textures = [t for t in _BUNDLED_TEXTURES + _PROCEDURAL if f"texture:{t}" not in avoid]
    name = textures[int(rng.integers(len(textures)))]
    if name in _BUNDLED_TEXTURES:
        t = _crop(rng, _bundled(name), h, w) / 255.0
        img = _two_colour(rng, (t - t.min()) / max(t.max() - t.min(), 1e-12))
    else:
        img = _procedural(rng, name, h, w)
    return _jitter(rng, img), f"texture:{name}"


def _tinted(
    rng: np.random.Generator, h: int, w: int, colour: np.ndarray, amount: float
) -> np.ndarray:
    """A flat colour with smooth brightness variation of relative ``amount``."""
    f = _smooth_field(rng, h, w, int(rng.integers(3, 9)))
    return np.clip(colour * (1.0 - amount + 2.0 * amount * f)[..., None], 0.0, 255.0)


# --------------------------------------------------------------------------- rasterising


class _Raster:
    """Hard shapes at ``SUPERSAMPLING`` x resolution; :meth:`coverage` gives exact area."""

    #: the drawing value of a covered sub-pixel
    ON = SUPERSAMPLING * SUPERSAMPLING

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w, self.ss = h, w, SUPERSAMPLING

    def new(self) -> np.ndarray:
        return np.zeros((self.h * self.ss, self.w * self.ss), np.uint8)

    def pts(self, xy: np.ndarray) -> np.ndarray:
        """Continuous pixel coordinates (pixel (i, j) spans [j, j+1) x [i, i+1)) -> fixed point
        sub-pixel coordinates for OpenCV (integer sub-pixel coordinates are sub-pixel centres)."""
        return np.round((np.asarray(xy, np.float64) * self.ss - 0.5) * (1 << _SHIFT)).astype(
            np.int32
        )

    def fill(self, m: np.ndarray, xy: np.ndarray, value: int = ON) -> None:
        cv2.fillPoly(m, [self.pts(xy)], value, cv2.LINE_8, _SHIFT)

    def lines(
        self, m: np.ndarray, paths: Sequence[np.ndarray], thickness: int, value: int = ON
    ) -> None:
        """Open polylines ``thickness`` sub-pixels wide (``thickness / SUPERSAMPLING`` px)."""
        if paths:
            cv2.polylines(
                m, [self.pts(p) for p in paths], False, value, int(thickness), cv2.LINE_8, _SHIFT
            )

    def coverage(self, m: np.ndarray) -> np.ndarray:
        """Covered sub-pixels / ss**2 per pixel, float64.

        Shapes are drawn with the value ``ON = ss**2``, so OpenCV's integer-factor area
        resize (the mean of each ss x ss block, rounded) returns the exact count of covered
        sub-pixels; ``tests/test_synthetic.py`` checks this against a numpy block sum."""
        c = cv2.resize(m, (self.w, self.h), interpolation=cv2.INTER_AREA)
        return c.astype(np.float64) / float(self.ss * self.ss)


def _ellipse(
    cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 256
) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    return np.stack([cx + ca * x - sa * y, cy + sa * x + ca * y], axis=1)


def _rotate(xy: np.ndarray, cx: float, cy: float, angle: float) -> np.ndarray:
    ca, sa = math.cos(angle), math.sin(angle)
    d = xy - np.array([cx, cy])
    return np.stack([cx + ca * d[:, 0] - sa * d[:, 1], cy + sa * d[:, 0] + ca * d[:, 1]], axis=1)


def _radial_blob(
    rng: np.random.Generator, cx: float, cy: float, r: float, rough: float, n: int = 360
) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    rad = np.ones(n)
    for k in range(2, 8):
        rad += rough * rng.uniform(0.3, 1.0) / k * np.cos(k * t + rng.uniform(0, 2 * math.pi))
    rad = r * np.maximum(rad, 0.25)
    return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], axis=1)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 24) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


class _Layers:
    """Alpha/colour layers stacked with premultiplied "over"; records a description of each."""

    def __init__(self, h: int, w: int) -> None:
        self.a = np.zeros((h, w))
        self.p = np.zeros((h, w, 3))
        self.base: np.ndarray | None = None
        self.desc: list[dict[str, Any]] = []

    def add(self, a: np.ndarray, colour: np.ndarray, **desc: Any) -> None:
        if self.base is None:
            self.base = colour
        self.desc.append({k: _plain(v) for k, v in desc.items()})
        rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
        if rows.size == 0:
            return
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # a == 0 elsewhere
        ab = a[box]
        self.a[box] = ab + (1.0 - ab) * self.a[box]
        self.p[box] = ab[..., None] * colour[box] + (1.0 - ab[..., None]) * self.p[box]


def _plain(v: Any) -> Any:
    """numpy scalars/arrays -> JSON-able Python values."""
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


# --------------------------------------------------------------------------- portraits

_HAIR_COLOURS = np.array(
    [
        [25, 18, 14],
        [60, 38, 24],
        [110, 72, 40],
        [170, 120, 70],
        [225, 190, 120],
        [150, 60, 30],
        [190, 190, 185],
        [235, 235, 230],
    ],
    dtype=np.float64,
)


def _strands(
    rng: np.random.Generator,
    n: int,
    roots: np.ndarray,
    normals: np.ndarray,
    *,
    length: tuple[float, float],
    spread: float,
    curl: float,
    gravity: float,
    steps: int = 14,
) -> list[np.ndarray]:
    """Curved random-walk strands starting at ``roots`` heading along ``normals``."""
    idx = rng.integers(0, len(roots), n)
    ang = np.arctan2(normals[idx, 1], normals[idx, 0]) + rng.normal(0.0, spread, n)
    lens = rng.uniform(*length, n)
    kappa = rng.uniform(-curl, curl, n)[:, None] + rng.normal(0.0, curl * 0.5, (n, steps))
    heading = ang[:, None] + np.cumsum(kappa, axis=1)
    dx = np.cos(heading) * (lens / steps)[:, None]
    dy = np.sin(heading) * (lens / steps)[:, None] + gravity * (lens / steps)[:, None] * (
        np.arange(steps)[None, :] / steps
    )
    x = roots[idx, 0][:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(dx, axis=1)], axis=1)
    y = roots[idx, 1][:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(dy, axis=1)], axis=1)
    return [np.stack([x[i], y[i]], axis=1) for i in range(n)]


def _portrait(rng: np.random.Generator, h: int, w: int) -> tuple[_Layers, dict[str, Any]]:
    r = _Raster(h, w)
    s = float(min(h, w))
    L = _Layers(h, w)
    params: dict[str, Any] = {}

    # -- silhouette: head ellipse, neck, shoulders/torso
    hrx = s * rng.uniform(0.11, 0.16)
    hry = hrx * rng.uniform(1.2, 1.4)
    cx = w * rng.uniform(0.38, 0.62)
    cy = h * rng.uniform(0.24, 0.38)
    tilt = rng.uniform(-0.25, 0.25)
    body_angle = rng.uniform(-0.12, 0.12)
    neck_w = hrx * rng.uniform(0.7, 0.9)
    sy = cy + hry * rng.uniform(1.35, 1.7)
    sw_l, sw_r = hrx * rng.uniform(2.3, 3.3), hrx * rng.uniform(2.3, 3.3)
    drop = hry * rng.uniform(0.35, 0.7)
    bottom = h + hry
    body = r.new()
    r.fill(body, _ellipse(cx, cy, hrx, hry, tilt))
    neck = np.array(
        [
            [cx - neck_w / 2, cy + 0.4 * hry],
            [cx + neck_w / 2, cy + 0.4 * hry],
            [cx + neck_w / 2 * 1.1, sy + 0.2 * hry],
            [cx - neck_w / 2 * 1.1, sy + 0.2 * hry],
        ]
    )
    r.fill(body, _rotate(neck, cx, cy, tilt * 0.4))
    left = _bezier(
        np.array([cx - neck_w * 0.55, sy - 0.05 * hry]),
        np.array([cx - sw_l * 0.75, sy - 0.05 * hry]),
        np.array([cx - sw_l, sy + drop]),
    )
    right = _bezier(
        np.array([cx + sw_r, sy + drop]),
        np.array([cx + sw_r * 0.75, sy - 0.05 * hry]),
        np.array([cx + neck_w * 0.55, sy - 0.05 * hry]),
    )
    torso = np.concatenate(
        [
            left,
            [
                [cx - sw_l * rng.uniform(1.0, 1.12), bottom],
                [cx + sw_r * rng.uniform(1.0, 1.12), bottom],
            ],
            right,
        ]
    )
    r.fill(body, _rotate(torso, cx, sy, body_angle))
    skin, skin_src = _colour_source(rng, h, w, photo_p=0.75)
    L.add(
        r.coverage(body),
        skin,
        type="body",
        head=[cx, cy, hrx, hry, tilt],
        shoulders_y=sy,
        shoulder_half_widths=[sw_l, sw_r],
        body_angle=body_angle,
        source=skin_src,
    )

    # -- hair: opaque cap + strands in opacity bins
    hair_colour = _HAIR_COLOURS[int(rng.integers(len(_HAIR_COLOURS)))] * rng.uniform(0.8, 1.15, 3)
    hair_rgb = _tinted(rng, h, w, hair_colour, 0.25)
    style = ("short", "long", "curly", "straight")[int(rng.integers(4))]
    crx, cry = hrx * rng.uniform(1.04, 1.18), hry * rng.uniform(1.03, 1.12)
    ccy = cy - hry * rng.uniform(0.03, 0.1)
    cap = r.new()
    r.fill(cap, _ellipse(cx, ccy, crx, cry, tilt))
    # hairline: the face (a smaller ellipse, lower) is cut out of the cap, and so is all
    # below a line (low for long hair, about the eyes otherwise)
    face = _ellipse(cx, cy + hry * rng.uniform(0.2, 0.35), hrx * 0.9, hry * 0.95)
    r.fill(cap, _rotate(face, cx, cy, tilt), 0)
    cut = cy + hry * (rng.uniform(0.3, 0.6) if style == "long" else rng.uniform(-0.1, 0.2))
    below = np.array([[-w, cut], [2 * w, cut], [2 * w, 3 * h], [-w, 3 * h]])
    r.fill(cap, _rotate(below, cx, cy, tilt), 0)
    L.add(r.coverage(cap), hair_rgb, type="hair_cap", style=style, hair_colour=hair_colour)

    # roots on the upper part of the cap outline (angles in the head frame)
    t = np.linspace(math.pi * 0.92, math.pi * 2.08, 400)
    ex, ey = crx * 0.97 * np.cos(t), cry * 0.97 * np.sin(t)
    roots = _rotate(np.stack([cx + ex, ccy + ey], axis=1), cx, ccy, tilt)
    nrm = np.stack([np.cos(t) / crx, np.sin(t) / cry], axis=1)
    nrm = _rotate(nrm, 0.0, 0.0, tilt)
    n_main = int(rng.integers(150, 350))
    if style == "short":
        paths = _strands(
            rng,
            n_main,
            roots,
            nrm,
            length=(0.1 * hrx, 0.6 * hrx),
            spread=0.5,
            curl=0.12,
            gravity=0.3,
        )
    elif style == "long":
        paths = _strands(
            rng,
            n_main,
            roots,
            nrm,
            length=(0.8 * hry, 2.6 * hry),
            spread=0.3,
            curl=0.05,
            gravity=2.2,
        )
    elif style == "curly":
        paths = _strands(
            rng,
            n_main,
            roots,
            nrm,
            length=(0.2 * hrx, 0.9 * hrx),
            spread=0.7,
            curl=0.45,
            gravity=0.2,
        )
    else:
        paths = _strands(
            rng,
            n_main,
            roots,
            nrm,
            length=(0.2 * hrx, 1.0 * hrx),
            spread=0.25,
            curl=0.03,
            gravity=0.8,
        )
    n_fly = int(rng.integers(20, 100))
    paths += _strands(
        rng, n_fly, roots, nrm, length=(0.5 * hrx, 1.6 * hrx), spread=0.9, curl=0.1, gravity=0.4
    )
    # widths in sub-pixels (1 = 0.25 px, 8 = 2 px) and four opacity bins
    widths = rng.choice(
        np.array([1, 2, 3, 4, 5, 6, 8]), len(paths), p=[0.12, 0.2, 0.2, 0.18, 0.12, 0.1, 0.08]
    )
    bins = rng.integers(0, 4, len(paths))
    opac = np.sort(rng.uniform(0.35, 1.0, 4))
    # same colour, so stacking the four bins one by one equals one layer with their union
    # alpha 1 - prod(1 - a_b)
    clear = np.ones((h, w))
    for b in range(4):
        m = r.new()
        for wd in np.unique(widths[bins == b]):
            r.lines(
                m,
                [p for p, bi, wi in zip(paths, bins, widths, strict=True) if bi == b and wi == wd],
                int(wd),
            )
        clear *= 1.0 - r.coverage(m) * opac[b]
    L.add(
        1.0 - clear,
        hair_rgb,
        type="hair_strands",
        opacities=opac,
        counts=[int((bins == b).sum()) for b in range(4)],
        widths_subpixels=[int((widths == k).sum()) for k in range(1, 9)],
    )
    params["strands"] = len(paths)

    # -- veil or scarf: semi-transparent, opacity 0.3..0.7 varying smoothly
    choice = rng.random()
    if choice < 0.75:
        lo = rng.uniform(0.3, 0.45)
        hi = rng.uniform(max(lo + 0.05, 0.5), 0.7)
        op = lo + (hi - lo) * _smooth_field(rng, h, w, int(rng.integers(3, 8)))
        m = r.new()
        if choice < 0.35:  # veil: a hood over the hair, falling past the shoulders
            vrx, vry = crx * rng.uniform(1.08, 1.25), cry * rng.uniform(1.05, 1.15)
            arc = _ellipse(cx, ccy, vrx, vry, 0.0, 128)
            arc = arc[arc[:, 1] <= ccy]  # upper half, from the right end round to the left
            arc = arc[np.argsort(-arc[:, 0], kind="stable")]
            spread = hrx * rng.uniform(1.4, 2.2)
            hem_y = sy + hry * rng.uniform(0.8, 1.8)
            lx = _bezier(arc[-1], np.array([cx - vrx * 1.1, sy]), np.array([cx - spread, hem_y]))
            rx_ = _bezier(np.array([cx + spread, hem_y]), np.array([cx + vrx * 1.1, sy]), arc[0])
            hem = np.linspace(lx[-1], rx_[0], 40)
            hem[:, 1] += hrx * 0.08 * np.sin(np.linspace(0, rng.uniform(4, 12), 40))
            r.fill(m, _rotate(np.concatenate([arc, lx, hem, rx_]), cx, cy, tilt))
            kind = "veil"
        else:  # scarf around the neck with a hanging end
            side = 1.0 if rng.random() < 0.5 else -1.0
            band_w = hry * rng.uniform(0.3, 0.5)
            y0 = sy - hry * 0.15
            upper = _bezier(
                np.array([cx - sw_l * 0.8, y0]),
                np.array([cx, y0 - band_w * 0.6]),
                np.array([cx + sw_r * 0.8, y0]),
            )
            lower = _bezier(
                np.array([cx + sw_r * 0.75, y0 + band_w]),
                np.array([cx, y0 + band_w * 1.6]),
                np.array([cx - sw_l * 0.75, y0 + band_w]),
            )
            r.fill(m, np.concatenate([upper, lower]))
            ex0 = cx + side * (sw_r if side > 0 else sw_l) * rng.uniform(0.5, 0.8)
            end_len = hry * rng.uniform(1.5, 3.0)
            hang = np.array(
                [
                    [ex0 - band_w * 0.5, y0],
                    [ex0 + band_w * 0.5, y0],
                    [ex0 + side * band_w * 1.4 + band_w * 0.6, y0 + end_len],
                    [ex0 + side * band_w * 1.4 - band_w * 0.6, y0 + end_len * 1.05],
                ]
            )
            r.fill(m, hang)
            kind = "scarf"
        veil_rgb = _tinted(rng, h, w, _random_colour(rng), 0.2)
        L.add(r.coverage(m) * op, veil_rgb, type=kind, opacity_range=[lo, hi])
    return L, params


# --------------------------------------------------------------------------- objects


def _object(
    rng: np.random.Generator,
    kind: str,
    h: int,
    w: int,
    cx: float,
    cy: float,
    scale: float,
    L: _Layers,
    avoid: Sequence[str],
) -> None:
    r = _Raster(h, w)
    s = float(min(h, w)) * scale
    if kind in ("blob", "ring"):
        m = r.new()
        rad = s * rng.uniform(0.28, 0.4)
        r.fill(m, _radial_blob(rng, cx, cy, rad, rng.uniform(0.2, 0.9)))
        holes = 0
        if kind == "ring":
            holes = int(rng.integers(1, 4))
            if holes == 1:
                hr = rad * rng.uniform(0.45, 0.75)
                r.fill(
                    m,
                    _ellipse(
                        cx + rng.uniform(-0.1, 0.1) * rad,
                        cy,
                        hr,
                        hr * rng.uniform(0.6, 1.0),
                        rng.uniform(0, math.pi),
                    ),
                    0,
                )
            else:
                for k in range(holes):
                    a = 2 * math.pi * k / holes + rng.uniform(0, 0.5)
                    hr = rad * rng.uniform(0.15, 0.28)
                    r.fill(
                        m,
                        _ellipse(
                            cx + 0.45 * rad * math.cos(a),
                            cy + 0.45 * rad * math.sin(a),
                            hr,
                            hr * rng.uniform(0.6, 1.0),
                            rng.uniform(0, math.pi),
                        ),
                        0,
                    )
        cov = r.coverage(m)
        soft = rng.uniform(0.0, 1.5) * s / 256.0
        if soft > 0.3:
            cov = cv2.GaussianBlur(cov.astype(np.float32), (0, 0), soft).astype(np.float64)
            cov = np.clip(cov, 0.0, 1.0)
        rgb, src = _colour_source(rng, h, w, photo_p=0.6, avoid=avoid)
        L.add(
            cov,
            rgb,
            type=kind,
            centre=[cx, cy],
            radius=rad,
            holes=holes,
            edge_sigma=soft,
            source=src,
        )
    elif kind == "branches":
        m = r.new()
        ang0 = -math.pi / 2 + rng.uniform(-0.3, 0.3)
        length = s * rng.uniform(0.22, 0.32)
        start = np.array([cx - 0.5 * length * math.cos(ang0), cy + s * 0.45])
        todo = [(start, ang0, length, rng.uniform(5.0, 9.0) * SUPERSAMPLING * s / 512.0 + 2, 0)]
        depth = int(rng.integers(5, 8))
        segments = 0
        while todo:
            p, a, ln, th, d = todo.pop(0)
            end = p + ln * np.array([math.cos(a), math.sin(a)])
            mid = (p + end) / 2 + rng.normal(0, 0.08 * ln, 2)
            r.lines(m, [_bezier(p, mid, end, 8)], max(1, int(round(th))))
            segments += 1
            if d < depth:
                for _ in range(int(rng.choice([2, 2, 3]))):
                    todo.append(
                        (
                            end,
                            a + rng.uniform(-0.75, 0.75),
                            ln * rng.uniform(0.55, 0.8),
                            th * rng.uniform(0.55, 0.75),
                            d + 1,
                        )
                    )
        colour = _tinted(rng, h, w, _random_colour(rng), 0.3)
        L.add(r.coverage(m), colour, type="branches", depth=depth, segments=segments)
    elif kind == "net":
        m = r.new()
        rad = s * rng.uniform(0.3, 0.42)
        th = int(rng.integers(1, 7))
        web = rng.random() < 0.4
        if web:  # cobweb: spokes and a spiral
            n_sp = int(rng.integers(10, 20))
            spokes = []
            for k in range(n_sp):
                a = 2 * math.pi * k / n_sp + rng.uniform(-0.1, 0.1)
                spokes.append(
                    np.array([[cx, cy], [cx + rad * math.cos(a), cy + rad * math.sin(a)]])
                )
            r.lines(m, spokes, th)
            tt = np.linspace(0, rng.uniform(14, 30) * math.pi, 2000)
            rr = rad * (0.05 + 0.95 * tt / tt[-1])
            r.lines(
                m, [np.stack([cx + rr * np.cos(tt), cy + rr * np.sin(tt)], axis=1)], max(1, th - 1)
            )
        else:  # warped grid inside an elliptical frame
            sp = s * rng.uniform(0.035, 0.07)
            ang = rng.uniform(0, math.pi)
            amp, fq = sp * rng.uniform(0.0, 0.4), rng.uniform(1.0, 4.0) / rad
            ks = np.arange(-rad, rad + sp, sp)
            tt = np.linspace(-rad, rad, 64)
            paths = []
            for k in ks:
                off = amp * np.sin(fq * tt + k)
                paths.append(np.stack([k + off, tt], axis=1))
                paths.append(np.stack([tt, k + off], axis=1))
            paths = [_rotate(p + np.array([cx, cy]), cx, cy, ang) for p in paths]
            r.lines(m, paths, th)
            clip = r.new()
            ry = rad * rng.uniform(0.7, 1.0)
            r.fill(clip, _ellipse(cx, cy, rad, ry, ang))
            m &= clip
            frame = r.new()
            ell = _ellipse(cx, cy, rad, ry, ang)
            r.lines(frame, [np.concatenate([ell, ell[:1]])], int(rng.integers(6, 20)))
            m |= frame
        colour = _tinted(rng, h, w, _random_colour(rng), 0.2)
        op = rng.uniform(0.75, 1.0)
        L.add(r.coverage(m) * op, colour, type="net", web=web, line_subpixels=th, opacity=op)
    else:  # glass: translucent body, stronger rim, a highlight
        rad = s * rng.uniform(0.2, 0.3)
        ry = rad * rng.uniform(1.0, 1.8)
        ang = rng.uniform(-0.4, 0.4)
        outer = _ellipse(cx, cy, rad, ry, ang)
        rim_w = rng.uniform(0.04, 0.12)
        inner = _ellipse(cx, cy, rad * (1 - rim_w), ry * (1 - rim_w * rad / ry), ang)
        yy, xx = _grid(h, w)
        grad = np.clip(
            0.5 + ((xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)) / (2 * rad), 0, 1
        )
        body_op = rng.uniform(0.1, 0.25) + rng.uniform(0.0, 0.12) * grad
        tint = np.array([rng.uniform(150, 255), rng.uniform(170, 255), rng.uniform(190, 255)])
        m = r.new()
        r.fill(m, outer)
        cov_out = r.coverage(m)
        L.add(
            cov_out * body_op,
            _tinted(rng, h, w, tint, 0.1),
            type="glass_body",
            centre=[cx, cy],
            radii=[rad, ry],
            angle=ang,
        )
        r.fill(m, inner, 0)
        rim_op = rng.uniform(0.6, 0.95)
        L.add(
            r.coverage(m) * rim_op,
            _tinted(rng, h, w, tint * 0.8, 0.2),
            type="glass_rim",
            opacity=rim_op,
        )
        hl = r.new()
        hx = cx - rad * rng.uniform(0.3, 0.6)
        strip = np.array(
            [
                [hx - rad * 0.06, cy - ry * 0.6],
                [hx + rad * 0.06, cy - ry * 0.6],
                [hx + rad * 0.04, cy + ry * 0.3],
                [hx - rad * 0.04, cy + ry * 0.3],
            ]
        )
        r.fill(hl, _rotate(strip, cx, cy, ang))
        cov_hl = cv2.GaussianBlur(r.coverage(hl).astype(np.float32), (0, 0), 0.8).astype(np.float64)
        hl_op = rng.uniform(0.5, 0.85)
        L.add(
            np.clip(cov_hl, 0, 1) * hl_op,
            np.full((h, w, 3), 250.0),
            type="glass_highlight",
            opacity=hl_op,
        )


def _objects(
    rng: np.random.Generator, h: int, w: int, index: int
) -> tuple[_Layers, dict[str, Any]]:
    L = _Layers(h, w)
    primary = _OBJECT_TYPES[index % len(_OBJECT_TYPES)]
    kinds = [primary]
    cx, cy = w * rng.uniform(0.4, 0.6), h * rng.uniform(0.4, 0.6)
    _object(rng, primary, h, w, cx, cy, rng.uniform(0.9, 1.15), L, avoid=())
    if rng.random() < 0.5:
        second = [k for k in _OBJECT_TYPES if k != primary][int(rng.integers(4))]
        kinds.append(second)
        _object(
            rng,
            second,
            h,
            w,
            w * rng.uniform(0.15, 0.85),
            h * rng.uniform(0.15, 0.85),
            rng.uniform(0.4, 0.6),
            L,
            avoid=(),
        )
    return L, {"objects": kinds}


# --------------------------------------------------------------------------- blur and assembly


def _blur_part(rng: np.random.Generator, L: _Layers, h: int, w: int) -> dict[str, Any] | None:
    """Blur one side (soft line) of the layered result with a motion or defocus filter."""
    if rng.random() < 0.15:
        return None
    s = float(min(h, w))
    yy, xx = _grid(h, w)
    th = rng.uniform(0, 2 * math.pi)
    c = np.array([w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)])
    ramp = s * rng.uniform(0.08, 0.2)
    mask = np.clip(((xx - c[0]) * math.cos(th) + (yy - c[1]) * math.sin(th)) / ramp + 0.5, 0, 1)
    stack = np.concatenate([L.a[..., None], L.p], axis=2).astype(np.float32)
    if rng.random() < 0.5:
        length = s * rng.uniform(0.01, 0.03)
        ang = rng.uniform(0, math.pi)
        k = max(3, int(math.ceil(length)) + 1)
        acc = np.zeros_like(stack)
        for t in np.linspace(-length / 2, length / 2, k):
            m = np.array([[1.0, 0.0, t * math.cos(ang)], [0.0, 1.0, t * math.sin(ang)]])
            acc += cv2.warpAffine(
                stack, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        blurred = acc.astype(np.float64) / k
        desc = {"type": "motion", "length": length, "angle": ang}
    else:
        sigma = s * rng.uniform(0.003, 0.009)
        blurred = cv2.GaussianBlur(stack, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        blurred = blurred.astype(np.float64)
        desc = {"type": "defocus", "sigma": sigma}
    mk = mask[..., None]
    out = (1.0 - mk) * np.concatenate([L.a[..., None], L.p], axis=2) + mk * blurred
    L.a = np.clip(out[..., 0], 0.0, 1.0)
    L.p = np.clip(out[..., 1:], 0.0, 255.0)
    desc.update(line_angle=th, line_point=c, ramp=ramp)
    return {k: _plain(v) for k, v in desc.items()}


def _sample_seed(kind: str, split: str, seed: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(
        [_SALT, int(seed), _SPLIT_CODE[split], _KIND_CODE[kind]], spawn_key=(int(index),)
    )


def _check_kind(kind: str) -> str:
    k = kind.removeprefix("synthetic-")
    if k == "object":
        k = "objects"
    if k not in KINDS:
        raise InputError(f"synthetic: unknown kind {kind!r} (known: portrait, objects)")
    return k


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 32 <= size <= 8192:
        raise InputError(f"synthetic: size must be an integer in [32, 8192], got {size!r}")
    return int(size)


def generate_sample(
    kind: str, index: int, *, size: int = 512, seed: int = 0, split: str = "test"
) -> Sample:
    """Generate one synthetic sample in memory (no cache).

    Parameters
    ----------
    kind
        ``"portrait"`` or ``"objects"`` (``"synthetic-"`` prefix accepted).
    index
        Sample number; the name is ``<prefix>_<index:04d>`` (``<prefix>_train_<index:07d>`` for
        ``split="train"``).
    size
        Long side in pixels.
    seed
        Dataset seed.
    split
        ``"test"``, ``"val"`` or ``"train"``; each draws from its own seed stream.

    Returns
    -------
    Sample
        ``image``, ``alpha``, ``trimap``, ``fg``, ``bg`` (``uint8``) and ``meta`` (generation
        parameters, JSON-able).
    """
    kind = _check_kind(kind)
    size = _check_size(size)
    if split not in _SPLIT_CODE:
        raise InputError(f"synthetic: unknown split {split!r} (known: test, val, train)")
    if int(index) < 0 or int(seed) < 0:
        raise InputError(f"synthetic: index and seed must be >= 0, got {index}, {seed}")
    rng = np.random.default_rng(_sample_seed(kind, split, seed, index))
    short = int(round(size * rng.uniform(0.75, 1.0)))
    upright = rng.random() < (0.8 if kind == "portrait" else 0.5)
    h, w = (size, short) if upright else (short, size)

    if kind == "portrait":
        layers, extra = _portrait(rng, h, w)
    else:
        layers, extra = _objects(rng, h, w, int(index))
    blur = _blur_part(rng, layers, h, w)
    avoid = [d["source"] for d in layers.desc if "source" in d]
    bg_f, bg_src = _colour_source(rng, h, w, photo_p=0.7, avoid=avoid)
    if rng.random() < 0.4:  # a defocused background, as in many portraits
        bg_sigma = float(rng.uniform(1.0, 4.0) * size / 512.0)
        bg_f = cv2.GaussianBlur(bg_f.astype(np.float32), (0, 0), bg_sigma).astype(np.float64)
    else:
        bg_sigma = 0.0

    a = layers.a
    alpha = np.floor(np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    base = layers.base if layers.base is not None else np.zeros((h, w, 3))
    col = np.array(base, dtype=np.float64, copy=True)
    np.divide(layers.p, a[..., None], out=col, where=(a > 0)[..., None])
    fg = np.floor(np.clip(col, 0.0, 255.0) + 0.5).astype(np.uint8)
    bg = np.floor(np.clip(bg_f, 0.0, 255.0) + 0.5).astype(np.uint8)
    image = composite(fg, bg, alpha)
    radius = trimap_radius(h, w)
    trimap = trimap_from_alpha(alpha, radius)

    prefix = KINDS[kind]
    name = f"{prefix}_train_{int(index):07d}" if split == "train" else f"{prefix}_{int(index):04d}"
    meta: dict[str, Any] = {
        "generator": "mattebench.synthetic",
        "version": GENERATOR_VERSION,
        "kind": kind,
        "split": split,
        "index": int(index),
        "seed": int(seed),
        "size": size,
        "height": h,
        "width": w,
        "supersampling": SUPERSAMPLING,
        "trimap_radius": radius,
        "composition": "DIM official: int(a*F + (1-a)*B), a = alpha/255, float64",
        "bg_source": bg_src,
        "bg_blur_sigma": bg_sigma,
        "boundary_blur": blur,
        "layers": layers.desc,
        **_plain(extra),
    }
    return Sample(name=name, image=image, alpha=alpha, trimap=trimap, fg=fg, bg=bg, meta=meta)


def training_sample(kind: str, index: int, *, size: int = 512, seed: int = 0) -> Sample:
    """A training sample generated on the fly (``split="train"``; no disk cache).

    Training samples come from their own seed stream, disjoint from the test and val splits.

    Examples
    --------
    >>> s = training_sample("portrait", 3, size=64, seed=1)
    >>> s.name, s.image.shape[2], max(s.alpha.shape), sorted(np.unique(s.trimap).tolist())
    ('portrait_train_0000003', 3, 64, [0, 128, 255])
    """
    return generate_sample(kind, index, size=size, seed=seed, split="train")


# --------------------------------------------------------------------------- the datasets


def _encode_png(arr: np.ndarray) -> bytes:
    img = arr[..., ::-1] if arr.ndim == 3 else arr  # RGB -> OpenCV's BGR
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img))
    if not ok:  # pragma: no cover - OpenCV failure
        raise InputError("synthetic: PNG encoding failed")
    return buf.tobytes()


def _decode_png(data: bytes, colour: bool) -> np.ndarray | None:
    flag = cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if img is None or img.dtype != np.uint8:
        return None
    return np.ascontiguousarray(img[..., ::-1]) if colour else img


class _SyntheticDataset(MattingDataset):
    """Shared implementation of the two synthetic datasets (see the module docstring).

    Parameters
    ----------
    root
        Optional: the folder of an existing generated dataset (with its ``synthetic.json``),
        whose parameters are then adopted (an argument changed from its default that
        disagrees with the folder is an error); or an empty folder to generate into. By
        default the dataset lives in the cache.
    subset
        Optional list file or sequence of names (see :class:`MattingDataset`).
    count
        Number of samples.
    size
        Long side in pixels (the short side is 75..100 % of it).
    seed
        Dataset seed; ``test`` and ``val`` draw from different streams of it.
    split
        ``"test"`` or ``"val"``.
    cache_dir
        Cache root; default :func:`default_cache_dir`.

    Attributes
    ----------
    folder : pathlib.Path
        Where the samples are stored.
    generated : list of str
        Names this object generated (rather than read from the cache), at construction or
        in :meth:`load` after finding a corrupted entry.
    """

    evaluation = "unknown"
    trimap_source = "generated"
    kind: ClassVar[str] = ""
    _DEFAULTS: ClassVar[dict[str, Any]] = {"count": 50, "size": 512, "seed": 0, "split": "test"}

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        subset: str | Path | Sequence[str] | None = None,
        count: int = 50,
        size: int = 512,
        seed: int = 0,
        split: str = "test",
        cache_dir: str | Path | None = None,
    ) -> None:
        params = {"count": count, "size": size, "seed": seed, "split": split}
        if root is not None:
            folder = Path(root)
            if not folder.is_dir():
                raise InputError(f"{self.name}: dataset root {folder} is not a directory")
            manifest = folder / _MANIFEST
            if manifest.is_file():
                params = self._adopt(manifest, params)
            elif any(folder.iterdir()):
                raise InputError(
                    f"{self.name}: {folder} is neither a generated synthetic dataset (no "
                    f"{_MANIFEST}) nor empty"
                )
        if (
            isinstance(params["count"], bool)
            or not isinstance(params["count"], (int, np.integer))
            or params["count"] < 1
        ):
            raise InputError(f"{self.name}: count must be a positive integer, got {count!r}")
        if params["split"] not in ("test", "val"):
            raise InputError(f"{self.name}: split must be 'test' or 'val', got {split!r}")
        if (
            isinstance(params["seed"], bool)
            or not isinstance(params["seed"], (int, np.integer))
            or params["seed"] < 0
        ):
            raise InputError(f"{self.name}: seed must be a non-negative integer, got {seed!r}")
        self.count = int(params["count"])
        self.size = _check_size(params["size"])
        self.seed = int(params["seed"])
        self.split = str(params["split"])
        if root is not None:
            self.folder = Path(root)
        else:
            base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
            self.folder = (
                base
                / "synthetic"
                / self.folder_name(self.kind, self.count, self.size, self.seed, self.split)
            )
        self._write_manifest()
        super().__init__(root, subset=subset)
        self.generated: list[str] = []  # names generated (not read from cache) by this object
        missing = [n for n in self._names if not self._complete(n)]
        # numpy and OpenCV release the GIL in the heavy work, so a few threads help; every
        # sample has its own generator, so the results do not depend on the thread count
        workers = min(len(missing), os.cpu_count() or 1, 4)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(self._store, missing))
        else:
            for n in missing:
                self._store(n)
        self.generated.extend(missing)

    @staticmethod
    def folder_name(kind: str, count: int, size: int, seed: int, split: str) -> str:
        """``<kind>-v<version>-<split>-n<count>-s<size>-seed<seed>``."""
        return f"{kind}-v{GENERATOR_VERSION}-{split}-n{count}-s{size}-seed{seed}"

    def _adopt(self, manifest: Path, params: dict[str, Any]) -> dict[str, Any]:
        try:
            info = json.loads(manifest.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{self.name}: cannot read {manifest}: {e}") from None
        if info.get("kind") != self.kind or info.get("version") != GENERATOR_VERSION:
            raise InputError(
                f"{self.name}: {manifest} describes kind {info.get('kind')!r} version "
                f"{info.get('version')!r}, expected {self.kind!r} version {GENERATOR_VERSION}"
            )
        out = {}
        for k, default in self._DEFAULTS.items():
            if k not in info:
                raise InputError(f"{self.name}: {manifest} lacks {k!r}")
            if params[k] != default and params[k] != info[k]:
                raise InputError(
                    f"{self.name}: {k}={params[k]!r} but {manifest.parent} was generated with "
                    f"{k}={info[k]!r}"
                )
            out[k] = info[k]
        return out

    def _manifest(self) -> dict[str, Any]:
        return {
            "generator": "mattebench.synthetic",
            "version": GENERATOR_VERSION,
            "kind": self.kind,
            "count": self.count,
            "size": self.size,
            "seed": self.seed,
            "split": self.split,
        }

    def _write_manifest(self) -> None:
        path = self.folder / _MANIFEST
        text = json.dumps(self._manifest(), indent=1, sort_keys=True) + "\n"
        try:
            if path.is_file() and path.read_text() == text:
                return
        except OSError:
            pass
        with atomic_write(path, "w") as fh:
            fh.write(text)

    def _scan(self) -> list[str]:
        prefix = KINDS[self.kind]
        return [f"{prefix}_{i:04d}" for i in range(self.count)]

    def _index(self, name: str) -> int:
        prefix = KINDS[self.kind] + "_"
        tail = name[len(prefix) :] if name.startswith(prefix) else ""
        if not tail.isdigit() or int(tail) >= self.count or name != f"{prefix}{int(tail):04d}":
            raise InputError(f"{self.name}: no sample named {name!r} (0..{self.count - 1})")
        return int(tail)

    def _path(self, part: str, name: str) -> Path:
        return self.folder / part / f"{name}.{'json' if part == 'meta' else 'png'}"

    def _read_meta(self, name: str) -> dict[str, Any] | None:
        try:
            meta = json.loads(self._path("meta", name).read_text())
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) and isinstance(meta.get("files"), dict) else None

    def _complete(self, name: str) -> bool:
        """Cheap check (stat only): meta present and every PNG of the recorded byte size."""
        meta = self._read_meta(name)
        if meta is None:
            return False
        for part in _PARTS:
            rec = meta["files"].get(part)
            try:
                if not rec or self._path(part, name).stat().st_size != rec["bytes"]:
                    return False
            except OSError:
                return False
        return True

    def _generate(self, name: str) -> Sample:
        sample = self._store(name)
        self.generated.append(name)
        return sample

    def _store(self, name: str) -> Sample:
        """Generate a sample and write its files (PNGs first, then the meta JSON)."""
        sample = generate_sample(
            self.kind, self._index(name), size=self.size, seed=self.seed, split=self.split
        )
        files = {}
        for part in _PARTS:
            data = _encode_png(getattr(sample, part))
            with atomic_write(self._path(part, name), "wb") as fh:
                fh.write(data)
            files[part] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        sample.meta["files"] = files
        with atomic_write(self._path("meta", name), "w") as fh:
            fh.write(json.dumps(sample.meta, indent=1, sort_keys=True) + "\n")
        return sample

    def _read(self, name: str) -> Sample | None:
        meta = self._read_meta(name)
        if meta is None:
            return None
        arrays = {}
        shape = (meta.get("height"), meta.get("width"))
        for part in _PARTS:
            try:
                data = self._path(part, name).read_bytes()
            except OSError:
                return None
            rec = meta["files"].get(part) or {}
            if hashlib.sha256(data).hexdigest() != rec.get("sha256"):
                return None
            img = _decode_png(data, colour=part in ("image", "fg", "bg"))
            if img is None or img.shape[:2] != shape:
                return None
            arrays[part] = img
        return Sample(name=name, meta=meta, **arrays)

    def load(self, name: str) -> Sample:
        """Read a sample from the cache; a missing or corrupted entry is regenerated."""
        self._index(name)
        sample = self._read(name)
        if sample is None:
            sample = self._generate(name)
        sample.meta["folder"] = str(self.folder)
        return sample

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg.update(
            generator_version=GENERATOR_VERSION,
            size=self.size,
            seed=self.seed,
            split=self.split,
            samples=self.count,
            folder=str(self.folder),
        )
        return cfg


@register_dataset("synthetic-portrait")
class SyntheticPortraits(_SyntheticDataset):
    __doc__ = _SyntheticDataset.__doc__
    kind = "portrait"
    description = (
        "synthetic head-and-shoulders portraits with hair strands, veils, blur "
        "(generated offline; exact GT)"
    )


@register_dataset("synthetic-objects")
class SyntheticObjects(_SyntheticDataset):
    __doc__ = _SyntheticDataset.__doc__
    kind = "objects"
    description = (
        "synthetic objects: blobs, rings with holes, branches, nets, glass "
        "(generated offline; exact GT)"
    )
