"""Trimaps for sets that ship none, and trimap hygiene.

Generation (:func:`generate_trimap`, :class:`TrimapSpec`, :func:`save_trimaps`) is documented
and deterministic: every parameter, and every random draw, is recorded so that a results table
can say exactly which trimaps it was computed on. Distinctions-646, PPM-100 and the portrait
subsets ship no test trimaps; papers generate them by "random erosion/dilation" with parameters
rarely stated (ViTMatte: kernel size drawn in [1, 30]; BackgroundMattingV2 on PhotoMatte85: 10
dilations and 10 erosions with a 3x3 circular kernel), so numbers on self-made trimaps are only
comparable when the spec is published beside them.

Hygiene (:func:`check_trimap`, :func:`fix_trimap`): the evaluators count only
``trimap == 128`` as unknown, so a trimap resized with interpolation (values 127, 129, ...)
silently drops pixels from the evaluation. :func:`check_trimap` lists such stray values;
:func:`fix_trimap` maps them, but only when called: MatteBench never rewrites a trimap on its
own.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from tqdm import tqdm

from metrics import InputError
from metrics.common import IMAGE_EXTS, as_alpha, as_trimap, atomic_write, read_grey

__all__ = [
    "TRIMAP_VALUES",
    "TrimapReport",
    "TrimapSpec",
    "check_trimap",
    "fix_trimap",
    "generate_trimap",
    "image_seed",
    "save_trimaps",
]

TRIMAP_VALUES = (0, 128, 255)
"""Background, unknown, foreground: the values of the official Composition-1k trimaps."""

SPEC_FILE = "trimap_spec.json"

IntOrRange = int | tuple[int, int]


def _as_range(v: IntOrRange, name: str, lo_min: int) -> tuple[int, int]:
    if isinstance(v, (bool, np.bool_)):
        raise InputError(f"{name} must be an int or a (low, high) pair, got {v!r}")
    if isinstance(v, (int, np.integer)):
        lo = hi = int(v)
    else:
        try:
            lo, hi = (int(x) for x in v)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be an int or a (low, high) pair, got {v!r}") from exc
    if lo < lo_min or hi < lo:
        raise InputError(f"{name} must satisfy {lo_min} <= low <= high, got {v!r}")
    return lo, hi


@dataclass(frozen=True)
class TrimapSpec:
    """Parameters of a trimap generation run, recorded beside the trimaps.

    Attributes
    ----------
    kernel_size
        Side of the elliptical structuring element (``cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (k, k))``, anchor at its centre ``(k // 2, k // 2)``), or an
        inclusive ``(low, high)`` range to draw it from. ``k = 3`` is the 3x3 cross (the
        "3x3 circular kernel" of BackgroundMattingV2); even sizes give OpenCV's asymmetric
        ellipses and are allowed.
    iterations
        Number of times the erosion (and the dilation) is applied, or an inclusive range.
        0 leaves that side unchanged.
    seed
        Seed for the draws; required when any parameter is a range.
    method
        ``"erode_dilate"``, the only method: see :func:`generate_trimap`.

    The default (3x3 ellipse, 10 iterations, no randomness) is the BackgroundMattingV2 rule
    for PhotoMatte85 minus its 0.06/0.96 thresholds: MatteBench keeps exact 0 and 255 as the
    known levels. It is a MatteBench default, not a standard shared by the field.
    """

    kernel_size: IntOrRange = 3
    iterations: IntOrRange = 10
    seed: int | None = None
    method: str = "erode_dilate"

    def __post_init__(self) -> None:
        _as_range(self.kernel_size, "kernel_size", 1)
        _as_range(self.iterations, "iterations", 0)
        if self.method != "erode_dilate":
            raise InputError(f"unknown trimap method {self.method!r}; known: 'erode_dilate'")
        if self.is_random and self.seed is None:
            raise InputError(
                "a kernel_size or iterations range needs an explicit seed (results must be "
                "reproducible)"
            )

    @property
    def is_random(self) -> bool:
        k, it = _as_range(self.kernel_size, "kernel_size", 1), _as_range(self.iterations, "", 0)
        return k[0] != k[1] or it[0] != it[1]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("kernel_size", "iterations"):
            if isinstance(d[key], tuple):
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrimapSpec:
        kw = {k: d[k] for k in ("kernel_size", "iterations", "seed", "method") if k in d}
        for key in ("kernel_size", "iterations"):
            if isinstance(kw.get(key), list):
                kw[key] = tuple(kw[key])
        return cls(**kw)


def _draw(kernel_size: IntOrRange, iterations: IntOrRange, seed: int | None) -> dict[str, int]:
    """The four per-image parameters. Order of draws (fixed): fg kernel, fg iterations, bg
    kernel, bg iterations; a fixed parameter consumes no draw. Range ends are inclusive."""
    k = _as_range(kernel_size, "kernel_size", 1)
    it = _as_range(iterations, "iterations", 0)
    random = k[0] != k[1] or it[0] != it[1]
    if random and seed is None:
        raise InputError("a kernel_size or iterations range needs an explicit seed")
    rng = np.random.default_rng(seed) if random else None

    def one(r: tuple[int, int]) -> int:
        if r[0] == r[1]:
            return r[0]
        assert rng is not None
        return int(rng.integers(r[0], r[1], endpoint=True))

    out = {}
    for side in ("fg", "bg"):
        out[f"{side}_kernel"] = one(k)
        out[f"{side}_iterations"] = one(it)
    return out


def _morph(mask: np.ndarray, op: Any, k: int, n: int) -> np.ndarray:
    if n == 0 or k == 1:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    # default borders: erode pads with the maximum (the image edge does not erode the
    # foreground), dilate with the minimum (nothing grows in from outside)
    return op(mask, kernel, iterations=n)


def generate_trimap(
    alpha: np.ndarray,
    *,
    kernel_size: IntOrRange = 3,
    iterations: IntOrRange = 10,
    seed: int | None = None,
    method: str = "erode_dilate",
    params: dict[str, int] | None = None,
) -> np.ndarray:
    """Make a trimap from an alpha matte by erosion and dilation.

    ``foreground = erode(alpha == 255)``, ``unknown = dilate(alpha > 0) - foreground``,
    ``background = everything else``; erosion uses the fg kernel and iteration count, dilation
    the bg ones. Both use OpenCV (``cv2.erode`` / ``cv2.dilate`` with an elliptical element,
    see :class:`TrimapSpec`) with OpenCV's default borders: the image edge never erodes the
    foreground and never adds to the dilation. A pixel with any alpha > 0 is therefore never
    background, and only ``alpha == 255`` pixels can be foreground (float alpha: exactly 1.0).

    Parameters
    ----------
    alpha
        2-D ``uint8`` (0-255) or float (``[0, 1]``) matte, validated by
        :func:`metrics.common.as_alpha`.
    kernel_size, iterations
        Fixed ``int`` or inclusive ``(low, high)`` range; see :class:`TrimapSpec`.
    seed
        Seed of ``numpy.random.default_rng``; required with a range. Draws, in order: fg
        kernel, fg iterations, bg kernel, bg iterations (fixed parameters draw nothing). The
        fg (erosion) and bg (dilation) sides are drawn independently, as GCA-Matting draws its
        fg and bg widths.
    method
        ``"erode_dilate"`` (the only one).
    params
        If given (``{"fg_kernel", "fg_iterations", "bg_kernel", "bg_iterations"}``, as
        recorded by :func:`save_trimaps`), used as is; the other arguments are ignored.

    Returns
    -------
    numpy.ndarray
        ``uint8`` HxW with values in ``{0, 128, 255}``.

    Examples
    --------
    A 3x3 opaque square, one erosion and one dilation with the 3x3 cross:

    >>> a = np.zeros((5, 5), np.uint8)
    >>> a[1:4, 1:4] = 255
    >>> generate_trimap(a, kernel_size=3, iterations=1)
    array([[  0, 128, 128, 128,   0],
           [128, 128, 128, 128, 128],
           [128, 128, 255, 128, 128],
           [128, 128, 128, 128, 128],
           [  0, 128, 128, 128,   0]], dtype=uint8)
    """
    if method != "erode_dilate":
        raise InputError(f"unknown trimap method {method!r}; known: 'erode_dilate'")
    a = as_alpha(alpha, "alpha")
    p = params if params is not None else _draw(kernel_size, iterations, seed)
    if a.dtype == np.uint8:
        sure_fg, some_fg = a == 255, a > 0
    else:
        sure_fg, some_fg = a == 1.0, a > 0.0
    fg = _morph(sure_fg.astype(np.uint8), cv2.erode, p["fg_kernel"], p["fg_iterations"])
    grown = _morph(some_fg.astype(np.uint8), cv2.dilate, p["bg_kernel"], p["bg_iterations"])
    trimap = np.full(a.shape, 128, np.uint8)
    trimap[grown == 0] = 0
    trimap[fg != 0] = 255
    return trimap


def image_seed(seed: int, name: str) -> int:
    """Per-image seed used by :func:`save_trimaps`: stable across runs and platforms.

    ``numpy.random.SeedSequence([seed, crc32(name)]).generate_state(1)[0]`` with ``name`` the
    file stem encoded as UTF-8 (Python's ``hash`` is salted per process, so it is not used).

    Examples
    --------
    >>> image_seed(0, "a") == image_seed(0, "a") != image_seed(0, "b")
    True
    """
    ss = np.random.SeedSequence([int(seed), zlib.crc32(name.encode("utf-8"))])
    return int(ss.generate_state(1)[0])


def save_trimaps(
    dataset_alpha_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    spec: TrimapSpec,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate a trimap for every alpha in a folder; write PNGs and ``trimap_spec.json``.

    Alphas are the files of ``dataset_alpha_dir`` with an image extension, in sorted name
    order, read with :func:`metrics.common.read_grey` (8-bit single channel, or RGB with equal
    channels). Trimap ``out_dir/<stem>.png`` is written atomically. With a random spec each
    image draws from its own generator seeded by :func:`image_seed` ``(spec.seed, stem)``, so
    a trimap does not depend on which other files are in the folder. ``trimap_spec.json``
    records the spec, the OpenCV version, and per image the seed and the four drawn parameters
    (pass them as ``params`` to :func:`generate_trimap` to reproduce one trimap).

    Returns
    -------
    dict
        The content written to ``trimap_spec.json``.
    """
    src, out = Path(dataset_alpha_dir), Path(out_dir)
    if not src.is_dir():
        raise InputError(f"{src}: alpha folder not found")
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise InputError(f"{src}: no alpha images ({', '.join(IMAGE_EXTS)})")
    stems = [p.stem for p in files]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise InputError(f"{src}: several alphas share a name stem: {dup}")
    images: dict[str, dict[str, int]] = {}
    for path in tqdm(files, desc="trimaps", unit="img", file=sys.stderr, disable=not progress):
        seed = image_seed(spec.seed, path.stem) if spec.is_random else None
        params = _draw(spec.kernel_size, spec.iterations, seed)
        trimap = generate_trimap(read_grey(path), params=params)
        ok, buf = cv2.imencode(".png", trimap)
        if not ok:  # pragma: no cover - encoding a uint8 HxW array does not fail
            raise InputError(f"{path.name}: could not encode the trimap")
        with atomic_write(out / f"{path.stem}.png", "wb") as fh:
            fh.write(buf.tobytes())
        images[path.stem] = {"seed": seed, **params} if seed is not None else dict(params)
    record = {
        "spec": spec.to_dict(),
        "rule": "fg = erode(alpha == 255), unknown = dilate(alpha > 0) - fg; "
        "cv2 MORPH_ELLIPSE kernel, default borders",
        "source_dir": str(src),
        "opencv_version": cv2.__version__,
        "images": images,
    }
    with atomic_write(out / SPEC_FILE, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1)
        fh.write("\n")
    return record


# --------------------------------------------------------------------------------------------
# Hygiene
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrimapReport:
    """Value census of a trimap.

    Attributes
    ----------
    name
        The trimap's name (file name) used in messages.
    counts
        Pixels per legal value ``{0: n, 128: n, 255: n}`` (all three keys present).
    stray
        Pixels per illegal value (anything but 0/128/255), e.g. ``{127: 40, 129: 38}`` after
        an interpolating resize; empty for a clean trimap.
    """

    name: str
    counts: dict[int, int] = field(default_factory=dict)
    stray: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.stray

    @property
    def n_stray(self) -> int:
        return sum(self.stray.values())

    def __str__(self) -> str:
        if self.ok:
            return f"{self.name}: clean trimap {self.counts}"
        shown = ", ".join(f"{v}: {n}" for v, n in list(self.stray.items())[:12])
        more = ", ..." if len(self.stray) > 12 else ""
        return (
            f"{self.name}: {self.n_stray} pixels with values other than 0/128/255 "
            f"({{{shown}{more}}}); they are neither known nor unknown to the evaluators "
            "(fix_trimap maps them, on request)"
        )


def check_trimap(trimap: np.ndarray, name: str = "trimap") -> TrimapReport:
    """Count a trimap's values; report any that is not 0, 128 or 255.

    Examples
    --------
    >>> r = check_trimap(np.array([[0, 127, 128], [129, 255, 127]], np.uint8), "t.png")
    >>> r.ok, r.counts, r.stray
    (False, {0: 1, 128: 1, 255: 1}, {127: 2, 129: 1})
    """
    t = as_trimap(trimap, name)
    hist = np.bincount(t.reshape(-1), minlength=256)
    counts = {v: int(hist[v]) for v in TRIMAP_VALUES}
    stray = {int(v): int(hist[v]) for v in np.flatnonzero(hist) if v not in TRIMAP_VALUES}
    return TrimapReport(name=name, counts=counts, stray=stray)


_LEVELS = np.arange(256)
# nearest of 0/128/255; 64 (equidistant from 0 and 128) goes to 128 (see fix_trimap)
_NEAREST = np.select([_LEVELS < 64, _LEVELS < 192], [0, 128], 255).astype(np.uint8)
_THRESHOLD = np.select([_LEVELS < 85, _LEVELS < 170], [0, 128], 255).astype(np.uint8)


def fix_trimap(trimap: np.ndarray, mode: Literal["nearest", "threshold"]) -> np.ndarray:
    """Map every value of a trimap to 0, 128 or 255 by an explicit rule.

    Parameters
    ----------
    trimap
        2-D integer array with values 0-255.
    mode
        No default: the rule must be chosen.

        ``"nearest"``
            Each value to the nearest of 0/128/255: ``v <= 63 -> 0``, ``64 <= v <= 191 ->
            128``, ``v >= 192 -> 255``. The one tie (64, equally far from 0 and 128) goes to
            128, i.e. to unknown, so an ambiguous pixel is evaluated rather than assumed known.
        ``"threshold"``
            GCA-Matting's tester rule: ``v < 85 -> 0``, ``v >= 170 -> 255``, otherwise 128.

    Returns
    -------
    numpy.ndarray
        A new ``uint8`` trimap; legal values are unchanged by both rules.

    Examples
    --------
    >>> t = np.array([[30, 64, 100, 129, 180, 200]], np.uint8)
    >>> fix_trimap(t, "nearest").tolist()
    [[0, 128, 128, 128, 128, 255]]
    >>> fix_trimap(t, "threshold").tolist()
    [[0, 0, 128, 128, 255, 255]]
    """
    t = as_trimap(trimap, "trimap")
    if mode == "nearest":
        return _NEAREST[t]
    if mode == "threshold":
        return _THRESHOLD[t]
    raise InputError(f"unknown fix_trimap mode {mode!r}; known: 'nearest', 'threshold'")
