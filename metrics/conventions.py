"""Named metric conventions: the reference, and re-statements of popular ports.

A :class:`Convention` is a frozen set of choices on every point where implementations of the
matting metrics disagree. ``reference`` follows the DIM MATLAB evaluation code exactly and is
the default everywhere. The other conventions are *our own* re-statements, written from
reading each port's evaluation code (repository, file and commit in ``source``); their purpose
is to tell a user why a paper's number differs from ours, not to endorse them. Each one lists
its documented differences from the reference in ``differences``; the test suite checks every
listed difference on a crafted case.

A convention describes what the code family *prints* for a prediction: where its evaluation
pipeline quantises or forces the prediction before the metric functions see it, the
convention does the same (``quantise``, ``force_pred``, ``force_classes``). 8-bit input is never
re-quantised; a float input that a convention quantises is taken as the network's float32
output, which is what those ports quantise.

Where a convention was checked by running the port's own code, its ``checked`` note says how:
the port's metric functions were copied verbatim from the named commit into a scratch folder
(never into this repository), fed the way the port's own test/inference script feeds them
(its dtypes, its trimap handling, its forcing and quantisation; glue written out line by line
from that script), and compared with the convention on crafted cases and on a batch of random
ones (sizes 4x4 to 47x47; stray trimap values; unforced float32 predictions; values one float32
step around the grey-level and threshold boundaries).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from metrics import _convention_table as _table
from metrics._inputs import prepare
from metrics._ops import count
from metrics._scale import PAPER_DIVISORS, apply_scale
from metrics.common import as_alpha
from metrics.conn import Empty, Threshold, Tie, conn_raw
from metrics.grad import grad_raw
from metrics.mse import sq_sum_raw
from metrics.regions import force_known, region_mask
from metrics.sad import sad_raw

__all__ = ["Convention", "CONVENTIONS", "get_convention", "list_conventions", "register_convention"]

Area = Literal["unknown", "whole"]


@dataclass(frozen=True)
class Convention:
    """One code family's way of computing SAD, MSE, Grad and Conn.

    Attributes
    ----------
    name, title, source
        Registry key, one-line description, and the file(s) and commit the choices were read
        from.
    quantise
        What the family's pipeline does to a *float* prediction before the metrics:
        ``"none"``, ``"round"`` (``round(255 a)``, half to even) or ``"truncate"``
        (``uint8(255 a)``). Every quantising port does it on the network's float32 output in
        float32 (``float32(a) * float32(255)``), and so do we: ``float32(0.9) * 255`` is
        229.5 in float32 (rounds to 230) but 229.49999... in float64 (229). Over every float32
        in ``[0, 1]`` the float32 product truncates as the float64 one does and rounds
        differently for 128 values (the half levels, such as ``float32(0.9)``); a float64
        input is first rounded to float32 (``200/255 - 1e-12`` truncates to 200, not 199).
    force_pred
        The pipeline forces ``pred`` to 0/1 in the trimap's known regions before the metrics.
    force_classes
        Which pixels ``force_pred`` forces: ``"exact"``: ``trimap == 0`` to 0 and
        ``trimap == 255`` to 1; ``"thresholds"``: ``trimap < 85`` to 0 and ``trimap >= 170``
        to 1 (MatteFormer's ``inference.py``), while the metrics still read the trimap as
        ``trimap_classes`` says.
    trimap_classes
        ``"exact"``: only 0/128/255 mean bg/unknown/fg. ``"thresholds"``: the trimap is first
        mapped by value, ``< 85`` to 0, ``>= 170`` to 255, the rest to 128 (GCA-Matting's
        ``tester.py``).
    sad_region, mse_numerator, mse_denominator
        ``"unknown"`` (``trimap == 128``) or ``"whole"`` image.
    mse_eps
        Added to the MSE denominator (GCA-Matting: ``1e-8``).
    mse_empty
        MSE with an empty denominator region: ``"nan"`` (0/0, the reference), ``"zero"`` or
        ``"ieee"`` (a plain float division: ``inf``, or NaN for 0/0).
    grad_filter
        ``"gaussgradient"`` (the reference 9x9 L2-normalised kernel, replicate border) or
        ``"scipy_gaussian"`` (``scipy.ndimage.gaussian_filter(sigma=1.4, order=1)``: 13 taps,
        sum-normalised, reflect border, float32 output).
    grad_normalise
        ``"minmax"`` (``mat2gray`` per image), ``"div255"`` or ``"none"``.
    grad_region, conn_region
        Where the per-pixel errors are summed.
    conn_threshold, conn_tie, conn_with_background, conn_empty
        See :func:`metrics.conn.conn_levels` and :func:`metrics.conn.alpha_levels`.
    conn_threshold_gt
        The threshold rule for ``gt`` where the port hands it over in another dtype than
        ``pred`` (GCA-Matting: float32 gt, float64 pred); ``None``: ``conn_threshold``.
    divisors
        What ``scale="paper"`` divides each raw value by.
    differences
        The documented differences from ``reference``, one sentence each.
    checked
        How the convention was checked against the port's own code (what was run, on which
        cases, with what result); empty where it was only read.
    """

    name: str
    title: str
    source: str
    quantise: Literal["none", "round", "truncate"] = "none"
    force_pred: bool = False
    force_classes: Literal["exact", "thresholds"] = "exact"
    trimap_classes: Literal["exact", "thresholds"] = "exact"
    sad_region: Area = "unknown"
    mse_numerator: Area = "unknown"
    mse_denominator: Area = "unknown"
    mse_eps: float = 0.0
    mse_empty: Literal["nan", "zero", "ieee"] = "nan"
    grad_filter: Literal["gaussgradient", "scipy_gaussian"] = "gaussgradient"
    grad_normalise: Literal["minmax", "div255", "none"] = "minmax"
    grad_region: Area = "unknown"
    conn_threshold: Threshold = "exact"
    conn_tie: Tie = "column_major"
    conn_with_background: bool = False
    conn_empty: Empty = "gca"
    conn_region: Area = "unknown"
    conn_threshold_gt: Threshold | None = None
    divisors: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(dict(PAPER_DIVISORS))
    )
    differences: tuple[str, ...] = ()
    checked: str = ""

    # ------------------------------------------------------------------ preparation

    def prepare(self, pred: Any, gt: Any, trimap: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validate, then quantise and force ``pred`` as this family's pipeline does."""
        p = as_alpha(pred, "pred")
        if self.quantise != "none" and p.dtype != np.uint8:
            # the ports scale the network's float32 output in float32 (see ``quantise``)
            scaled = p.astype(np.float32) * np.float32(255)
            p = (np.round(scaled) if self.quantise == "round" else np.floor(scaled)).astype(
                np.uint8
            )
        p, g, t = prepare(p, gt, trimap, unknown_region=True)
        if self.trimap_classes == "thresholds":
            t = _threshold_classes(t)
        if self.force_pred:
            p = force_known(p, t if self.force_classes == "exact" else _threshold_classes(t))
        return p, g, t

    def _mask(self, t: np.ndarray, area: Area) -> np.ndarray | None:
        return region_mask(t, area)

    # ------------------------------------------------------------------ raw kernels

    def _sad(self, p: np.ndarray, g: np.ndarray, t: np.ndarray) -> float:
        return sad_raw(p, g, self._mask(t, self.sad_region))

    def _mse(self, p: np.ndarray, g: np.ndarray, t: np.ndarray) -> float:
        s = sq_sum_raw(p, g, self._mask(t, self.mse_numerator))
        n = count(self._mask(t, self.mse_denominator), t.shape) + self.mse_eps
        if n == 0:
            if self.mse_empty == "zero":
                return 0.0
            if self.mse_empty == "nan" or s == 0:
                return float("nan")
            return float("inf")
        return s / n

    def _grad(self, p: np.ndarray, g: np.ndarray, t: np.ndarray) -> float:
        mask = self._mask(t, self.grad_region)
        if self.grad_filter == "gaussgradient":
            return grad_raw(p, g, mask, normalise=self.grad_normalise)  # type: ignore[arg-type]
        d = _scipy_gaussian_magnitude(_as_float(p)) - _scipy_gaussian_magnitude(_as_float(g))
        e = (d * d).astype(np.float64)
        return float(e.sum() if mask is None else e[mask].sum())

    def _conn(self, p: np.ndarray, g: np.ndarray, t: np.ndarray) -> float:
        return conn_raw(
            p,
            g,
            self._mask(t, self.conn_region),
            threshold=self.conn_threshold,
            threshold_gt=self.conn_threshold_gt,
            tie=self.conn_tie,
            with_background=self.conn_with_background,
            empty=self.conn_empty,
        )

    # ------------------------------------------------------------------ public

    def sad(self, pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
        """SAD under this convention (see :func:`metrics.sad`)."""
        return apply_scale(self._sad(*self.prepare(pred, gt, trimap)), "sad", scale, self.divisors)

    def mse(self, pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
        """MSE under this convention (see :func:`metrics.mse`)."""
        return apply_scale(self._mse(*self.prepare(pred, gt, trimap)), "mse", scale, self.divisors)

    def grad(self, pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
        """Gradient error under this convention (see :func:`metrics.grad`)."""
        return apply_scale(
            self._grad(*self.prepare(pred, gt, trimap)), "grad", scale, self.divisors
        )

    def conn(self, pred: Any, gt: Any, trimap: Any, *, scale: str = "paper") -> float:
        """Connectivity error under this convention (see :func:`metrics.conn`)."""
        return apply_scale(
            self._conn(*self.prepare(pred, gt, trimap)), "conn", scale, self.divisors
        )

    def evaluate(
        self, pred: Any, gt: Any, trimap: Any, *, scale: str = "paper"
    ) -> dict[str, float]:
        """All four metrics from one validation pass: ``{"sad", "mse", "grad", "conn"}``.

        Conn runs on a second thread while SAD, MSE and Grad run on this one (its kernels
        release the GIL); the values are the same as the four single functions give.
        """
        p, g, t = self.prepare(pred, gt, trimap)
        pending = _pool().submit(self._conn, p, g, t) if p.size >= _THREAD_MIN_PIXELS else None
        raw = {
            "sad": self._sad(p, g, t),
            "mse": self._mse(p, g, t),
            "grad": self._grad(p, g, t),
            "conn": pending.result() if pending is not None else self._conn(p, g, t),
        }
        return {k: apply_scale(v, k, scale, self.divisors) for k, v in raw.items()}

    def describe(self) -> str:
        """One line: name, title and the number of documented differences."""
        n = len(self.differences)
        tail = "" if self.name == "reference" else f" ({n} difference{'s' * (n != 1)})"
        return f"{self.name:<16} {self.title}{tail}"


_THREAD_MIN_PIXELS = 256 * 256
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mattebench-conn")
    return _POOL


def _threshold_classes(t: np.ndarray) -> np.ndarray:
    """``< 85`` to 0, ``>= 170`` to 255, the rest to 128 (GCA-Matting's and MatteFormer's
    ``trimap[trimap < 85] = 0; trimap[trimap >= 170] = 2; trimap[trimap >= 85] = 1``)."""
    return np.where(t < 85, 0, np.where(t >= 170, 255, 128)).astype(np.uint8)


def _as_float(a: np.ndarray) -> np.ndarray:
    return a / 255.0 if a.dtype == np.uint8 else a


def _scipy_gaussian_magnitude(a: np.ndarray) -> np.ndarray:
    """``sqrt(dx^2 + dy^2)`` of ``gaussian_filter(a, 1.4, order=...)`` in float32 (P3M / DCP)."""
    dx = ndimage.gaussian_filter(a, 1.4, order=[1, 0], output=np.float32)
    dy = ndimage.gaussian_filter(a, 1.4, order=[0, 1], output=np.float32)
    return np.sqrt(dx**2 + dy**2)


_REGISTRY = _table.REGISTRY
#: Read-only view of the registry, in registration order.
CONVENTIONS: Mapping[str, Convention] = _table.CONVENTIONS


def register_convention(conv: Convention) -> Convention:
    """Add ``conv`` to the registry (names are unique)."""
    if conv.name in _REGISTRY:
        raise ValueError(f"convention {conv.name!r} is already registered")
    _REGISTRY[conv.name] = conv
    return conv


def get_convention(name: str | Convention) -> Convention:
    """Look a convention up by name; an unknown name fails with the close matches."""
    if isinstance(name, Convention):
        return name
    return _table.get_convention(name)


def list_conventions() -> list[str]:
    """Names of the registered conventions."""
    return list(_REGISTRY)


# difference sentences shared by several conventions (one wording, one test keyword)
_MM_PIPELINE = (
    "Pipeline: pred is forced from the trimap (== 0, == 255) and rounded to uint8 in float32, "
    "round(float32(a) * 255) half to even (the metric functions refuse an unforced pred)."
)
_WHOLE_SAD = (
    "SAD: summed over the whole image (equal to the reference only when gt agrees with "
    "the trimap's known labels and the trimap has no stray values)."
)
_MM_MSE = "MSE: whole-image sum divided by #(trimap == 128); 0 when there is none."
_OPENCV_TIE = "Conn: size ties go to the lowest OpenCV label (raster order), not column-major."
_SKIMAGE_TIE = "Conn: size ties go to the first component in row-major (scikit-image) order."
_CONTINUE = "Conn: an empty level is skipped (continue), so its pixels end at l = 1."
_EPS_MSE = "MSE: 1e-8 is added to the denominator, so no unknown pixel gives 0, not NaN."

register_convention(
    Convention(
        name="reference",
        title="DIM MATLAB evaluation code (compute_*_loss.m), GCA-Matting's empty-level guard",
        source="DIM evaluation code (Ning Xu, 2018-1-1) as in Yaoyi-Li/GCA-Matting "
        "DIM_evaluation_code/ @5a999be4; golden values from Octave 7.3.0",
    )
)

register_convention(
    Convention(
        name="matlab-indexnet",
        title="DIM MATLAB code with IndexNet's empty-level guard (continue)",
        source="poppinace/indexnet_matting evaluation_code/compute_connectivity_error.m @4beb06a4",
        conn_empty="indexnet",
        differences=(
            "Conn: at the first empty threshold level the unassigned pixels end at l = 1 "
            "instead of the previous level (differs when that level is 0.9 or lower, "
            "e.g. pred all zeros).",
        ),
    )
)

register_convention(
    Convention(
        name="gca",
        title="GCA-Matting / MGMatting python utils/evaluate.py (README: do not report Grad/Conn)",
        source="Yaoyi-Li/GCA-Matting utils/evaluate.py + tester.py + "
        "dataloader/data_generator.py @5a999be4; yucornetto/MGMatting "
        "code-base/utils/evaluate.py @2bac93f0 (identical)",
        quantise="truncate",
        force_pred=True,
        trimap_classes="thresholds",
        mse_eps=1e-8,
        mse_empty="zero",
        grad_normalise="div255",
        conn_threshold="float64_arange",
        conn_threshold_gt="float32_arange",
        conn_tie="row_major",
        conn_with_background=True,
        differences=(
            "Pipeline: tester.py forces pred from the trimap and truncates float pred to uint8 "
            "(in float32).",
            _EPS_MSE,
            "Grad: pred and gt are divided by 255 instead of mat2gray (differs whenever an "
            "image does not span 0..255).",
            "Conn: pred (uint8) is thresholded as pred/255.0 >= np.arange(0, 1.1, 0.1) in "
            "float64, so a pred of 153 fails 0.6; gt is handed over as float32 and compared "
            "in float32, so a gt of 153 passes.",
            "Conn: argmax(bincount(labels)) includes the background label 0, which is taken "
            "as the largest component whenever it is biggest.",
            _SKIMAGE_TIE,
            "Trimap: tester.py maps values < 85 to background, >= 170 to foreground and the "
            "rest to unknown, so a resized trimap's 127/129 count as unknown.",
        ),
        checked="Ran GCA-Matting @5a999be4 utils/evaluate.py verbatim (comput_sad_loss, "
        "compute_mse_loss, compute_gradient_loss, compute_connectivity_error; np.float/np.int "
        "need NumPy < 1.24, so under NumPy 1.23.5) on inputs prepared as "
        "dataloader/data_generator.py (phase 'test', ToTensor) and tester.py Tester.test do: "
        "gt = float32(v / 255.) * 255 in float32 (so evaluate.py's target / 255.0 is float32 "
        "and is compared with np.arange in float32), trimap classes < 85 / >= 170, float32 "
        "pred forced to 0/1 from them, then astype(uint8), whose / 255.0 is float64. "
        "183 cases (3 crafted, 160 random, 20 random with float gt): SAD, MSE, Grad and Conn "
        "agree within 1.7e-7 relative (the port's float32). Crafted: 20x20 gt 255 with a "
        "column of 153, pred 0.9: port Conn 24.3137 raw, ours 24.3137 (26.3137 while gt was "
        "thresholded in float64). Under NumPy >= 2 the port compares the float32 gt in float64 "
        "instead; that changes only a float gt of exactly float32(0.7) or float32(0.9).",
    )
)

register_convention(
    Convention(
        name="matteformer",
        title="MatteFormer inference.py + utils/evaluate.py (SAD, MSE); Grad, Conn: DIM MATLAB",
        source="webtoon/matteformer inference.py, utils/evaluate.py, evaluation.py @f09f090a "
        "(unchanged since 61bef5dd); Grad and Conn come from the DIM MATLAB code its README "
        "names. hustvl/ViTMatte evaluation.py @8cd7ef06 has the same SAD/MSE functions, but "
        "its inference.py does not force pred, so this convention is MatteFormer's only",
        quantise="truncate",
        force_pred=True,
        force_classes="thresholds",
        mse_eps=1e-8,
        mse_empty="zero",
        differences=(
            "Pipeline: float pred is truncated to uint8 (in float32), not rounded.",
            _EPS_MSE,
            "Pipeline: inference.py then forces pred to 0 where trimap < 85 and to 255 where "
            "trimap >= 170 (the raw trimap's classes), before any metric; the metrics still "
            "count trimap == 128 only.",
        ),
        checked="Ran MatteFormer @f09f090a inference.py verbatim from the input side: "
        "generator_tensor_dict (reflect padding, trimap classes < 85 -> 0, >= 170 -> 2, "
        "else 1, one-hot) and single_inference's post-processing (float32 pred * 255, "
        "astype(uint8), then pred = 0 / 255 where the classes' argmax is 0 / 2, crop), with "
        "the network's float32 output standing in for the model; saved the PNG as __main__ "
        "does (GRAY2RGB), scored it with evaluation.py + utils/evaluate.py (SAD, MSE) and "
        "with the DIM MATLAB code (GCA-Matting's copy @5a999be4, compute_gradient_loss, "
        "compute_connectivity_error) under Octave 7.3.0 on the PNGs (first channel). 163 "
        "cases (3 crafted, 160 random): all four agree within 2.3e-7 relative (the MATLAB "
        "code's float32). Crafted: 6x10 gt 255, pred 0.9 with a 0.2 bridge in trimap 200, "
        "one 60 and one 127: port Grad 11.8480, Conn 9.2 raw, ours the same (83.3679 and "
        "7.5333 while pred was not forced).",
    )
)

register_convention(
    Convention(
        name="mmedit",
        title="MMEditing 0.x mmedit/core/evaluation/metrics.py (float32 Conn)",
        source="open-mmlab/mmagic branch 0.x @6f2f3ae2, mmedit/core/evaluation/metrics.py "
        "(last changed 4acd4656) + models/mattors/base_mattor.py (BaseMattor.restore_shape, "
        "BaseMattor.evaluate; the same in open-mmlab/mmediting @941e79b0)",
        quantise="round",
        force_pred=True,
        sad_region="whole",
        mse_numerator="whole",
        mse_empty="zero",
        conn_tie="opencv",
        differences=(
            _MM_PIPELINE,
            _WHOLE_SAD,
            _MM_MSE,
            _OPENCV_TIE,
        ),
        checked="Ran mmedit 0.x (open-mmlab/mmagic branch 0.x @6f2f3ae2) verbatim under "
        "NumPy 1.23.5: BaseMattor.restore_shape (np.clip, pred = 0 / 1 where trimap == 0 / "
        "255) and BaseMattor.evaluate (np.round(pred_alpha * 255).astype(np.uint8) on the "
        "network's float32 pred, so the product and its rounding are float32) calling "
        "mmedit/core/evaluation/metrics.py sad, mse, gradient_error, connectivity. 163 cases "
        "(3 crafted, 160 random): SAD and MSE identical, Grad and Conn within 2.7e-7 relative "
        "(float32). Crafted: 4x4 gt 0, float32 pred 0.9: port SAD 14.4314 raw (230 / 255 a "
        "pixel), ours 14.4314 (14.3686, i.e. 229, while the product was float64).",
    )
)

register_convention(
    Convention(
        name="mmagic",
        title="MMagic 1.x mmagic/evaluation/metrics (float64 Conn: the 153 bug)",
        source="open-mmlab/mmagic main @0a560bba, mmagic/evaluation/metrics/{sad,matting_mse,"
        "gradient_error,connectivity_error,metrics_utils}.py + "
        "mmagic/models/base_models/base_mattor.py (BaseMattor.postprocess)",
        quantise="round",
        force_pred=True,
        sad_region="whole",
        mse_numerator="whole",
        mse_empty="zero",
        conn_threshold="float64_arange",
        conn_tie="opencv",
        differences=(
            _MM_PIPELINE,
            _WHOLE_SAD,
            _MM_MSE,
            "Conn: thresholds in float64 against np.arange, so 153 fails 0.6.",
            _OPENCV_TIE,
        ),
        checked="Ran mmagic @0a560bba verbatim with torch 2 and NumPy 2: BaseMattor.postprocess "
        "(clamp_, pred = 1 / 0 where ori_trimap == 255 / 0, pa *= 255 and round_() on the "
        "float32 tensor, to uint8) then the process() of SAD, MattingMSE, GradientError and "
        "ConnectivityError (_fetch_data_and_check: the mask check, uint8 / 255.0 in float64; "
        "registry, base class and mmengine imports stubbed). 163 cases (3 crafted, 160 "
        "random): all four identical to ours. Crafted: 4x4 gt 0, float32 pred 0.9: port SAD "
        "14.4314 raw (230 / 255 a pixel), ours 14.4314 (14.3686, i.e. 229, while the product "
        "was float64).",
    )
)

register_convention(
    Convention(
        name="p3m",
        title="P3M / AIM / GFM core/evaluate.py: whole image, scipy Grad /10",
        source="JizhiziLi/P3M core/evaluate.py + core/test.py @9f9390f2 (AIM @48e3dc8d, "
        "same functions)",
        sad_region="whole",
        mse_numerator="whole",
        mse_denominator="whole",
        grad_filter="scipy_gaussian",
        grad_normalise="none",
        grad_region="whole",
        conn_threshold="float64_arange",
        conn_tie="row_major",
        conn_empty="indexnet",
        conn_region="whole",
        divisors=MappingProxyType({**PAPER_DIVISORS, "grad": 10.0}),
        differences=(
            "SAD: summed over the whole image; pred is not forced (trimap-free protocol).",
            "MSE: mean over the whole image.",
            "Grad: whole image, scipy gaussian_filter(sigma=1.4, order=1) (13 taps, "
            "sum-normalised, reflect border, float32), no min-max, divided by 10 for papers.",
            "Conn: whole image; thresholds in float64 against np.arange (153 fails 0.6).",
            _CONTINUE,
            _SKIMAGE_TIE,
        ),
    )
)

register_convention(
    Convention(
        name="dim-pytorch",
        title="foamliu DIM-PyTorch utils.py as extended by SPKD / DCP (the pruning paper's code)",
        source="foamliu/Deep-Image-Matting-PyTorch utils.py @db6a96de (SAD, MSE); "
        "DongGeun-Yoon/DCP utils.py + test.py @d91d92a2 (= SPKD @7fd93918; Grad, Conn)",
        force_pred=True,
        sad_region="whole",
        mse_numerator="whole",
        mse_empty="ieee",
        grad_filter="scipy_gaussian",
        grad_normalise="none",
        conn_threshold="float64_arange",
        conn_tie="row_major",
        conn_empty="indexnet",
        divisors=MappingProxyType({**PAPER_DIVISORS, "grad": 10.0}),
        differences=(
            "Pipeline: test.py forces float pred from the trimap and does not quantise it.",
            "SAD: summed over the whole image.",
            "MSE: whole-image sum divided by #(trimap == 128), no epsilon (inf when there is none).",
            "Grad: scipy gaussian_filter(sigma=1.4, order=1) (13 taps, sum-normalised, reflect "
            "border, float32), no min-max, summed over the unknown region, divided by 10.",
            "Conn: thresholds in float64 against np.arange (153 fails 0.6).",
            _CONTINUE,
            _SKIMAGE_TIE,
        ),
    )
)
