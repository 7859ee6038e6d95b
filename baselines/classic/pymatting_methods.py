"""Classic alpha matting through pymatting: closed-form, KNN, LKM, random walk, LBDM, shared.

Every method here is a :class:`~baselines.methods.MattingMethod` registered under the name in
its class docstring. They share one input conversion (:mod:`baselines.classic._inputs`: image
``/ 255`` as ``float64``; trimap 0 -> 0.0, 128 -> 0.5, 255 -> 1.0, stray values by the
``stray`` policy), one lazy pymatting import with a persistent numba cache
(:mod:`baselines.classic._backend`), and the same handling of the cases pymatting cannot solve.

Known regions are **not** forced: the returned alpha is pymatting's, clipped to ``[0, 1]``.
(Closed-form copies the trimap into known pixels itself; the others constrain known pixels
softly, weight 100, so they come out near, not exactly at, 0 and 1.) Forcing known regions is
an explicit option of the runner.

Trimaps pymatting cannot solve are answered without calling it (pymatting's ``trimap_split``
raises on them, issues #55 and #69): with no unknown pixel alpha is the trimap; with no
foreground pixel alpha is 0 everywhere, with no background pixel 1 everywhere (the exact
solution of every Laplacian method here, whose only boundary value is then that constant); a
trimap that is all unknown gives 0.5 everywhere (nothing to propagate).

pymatting 1.1.16 provides all six (``estimate_alpha_cf``, ``_knn``, ``_lkm``, ``_rw``,
``_lbdm``, ``_sm``). The iterative ones stop on pymatting's CG test, ``||r|| < atol`` or
``||r|| < rtol * ||b||``; when ``maxiter`` iterations do not get there pymatting raises, and
:meth:`predict` raises ``RuntimeError`` saying which method and limit.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from baselines.classic._backend import pymatting, pymatting_version
from baselines.classic._inputs import (
    StrayPolicy,
    check_inputs,
    check_stray_policy,
    image_to_float,
    labels_to_float,
    trimap_to_labels,
)
from baselines.methods import MattingMethod, register_method
from metrics import InputError

__all__ = [
    "ClosedFormMatting",
    "KNNMatting",
    "LargeKernelMatting",
    "LearningBasedMatting",
    "RandomWalkMatting",
    "SharedMatting",
]


def _float(name: str, value: float, *, positive: bool = True) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        kind = "positive" if positive else "non-negative"
        raise InputError(f"{name} must be a finite {kind} number, got {value!r}")
    return v


def _int(name: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


_NOTED: set[str] = set()


def _note_once(method: str, text: str) -> None:
    """Pass pymatting's first solver note per method and process to stderr, in one line."""
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if first and method not in _NOTED:
        _NOTED.add(method)
        rest = " ".join(ln.strip() for ln in text.splitlines()[1:3] if ln.strip())
        print(
            f"note: {method}: pymatting: {first} {rest} (speed only; shown once)", file=sys.stderr
        )


class _PymattingMethod(MattingMethod):
    """Shared input conversion, degenerate trimaps and config of the pymatting methods."""

    #: the pymatting function called (recorded in ``config()``)
    function: ClassVar[str] = ""

    def __init__(self, *, stray: StrayPolicy = "nearest") -> None:
        self.stray = check_stray_policy(stray)

    def params(self) -> dict[str, Any]:
        """The method's own parameters (as given to pymatting), JSON-friendly."""
        return {}

    def config(self) -> dict[str, Any]:
        """Name, backend and version, pymatting function, stray policy and parameters."""
        return {
            "method": self.name,
            "backend": "pymatting",
            "backend_version": pymatting_version(),
            "function": self.function,
            "image": "uint8 / 255 as float64",
            "trimap": "0 -> 0.0, 128 -> 0.5, 255 -> 1.0",
            "stray": self.stray,
            **self.params(),
        }

    def _predict(self, image: np.ndarray, trimap: np.ndarray | None) -> np.ndarray:
        trimap = check_inputs(self.name, image, trimap)
        labels = trimap_to_labels(trimap, self.stray)
        has_fg, has_bg = bool((labels == 255).any()), bool((labels == 0).any())
        if not (labels == 128).any():
            return labels_to_float(labels)
        if not has_fg and not has_bg:
            return np.full(labels.shape, 0.5)
        if not has_fg or not has_bg:
            return np.full(labels.shape, 1.0 if has_fg else 0.0)
        estimate = getattr(pymatting(), self.function)
        chatter = io.StringIO()
        try:
            # pymatting prints solver notes to stdout (e.g. "PERFORMANCE WARNING: Thresholded
            # incomplete Cholesky decomposition failed ..." before it retries with a shift);
            # they would interleave with the tables a command prints on stdout
            with contextlib.redirect_stdout(chatter):
                alpha = self._call(estimate, image_to_float(image), labels_to_float(labels))
        except ValueError as exc:
            if "did not converge" not in str(exc):
                raise
            raise RuntimeError(
                f"{self.name}: {exc} (maxiter={getattr(self, 'maxiter', None)}); "
                "raise maxiter or rtol"
            ) from exc
        _note_once(self.name, chatter.getvalue())
        return np.clip(np.asarray(alpha, dtype=np.float64), 0.0, 1.0)

    def _call(self, estimate: Any, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        return estimate(image, trimap)


class _CGMethod(_PymattingMethod):
    """A method solving a sparse linear system with pymatting's conjugate gradient ``cg``."""

    def __init__(
        self,
        *,
        rtol: float = 1e-7,
        atol: float = 0.0,
        maxiter: int = 10000,
        stray: StrayPolicy = "nearest",
    ) -> None:
        super().__init__(stray=stray)
        self.rtol = _float("rtol", rtol, positive=False)
        self.atol = _float("atol", atol, positive=False)
        self.maxiter = _int("maxiter", maxiter)

    def laplacian_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of pymatting's Laplacian function."""
        return {}

    def params(self) -> dict[str, Any]:
        cg = {"rtol": self.rtol, "atol": self.atol, "maxiter": self.maxiter}
        return {**self.laplacian_kwargs(), **cg}

    def _call(self, estimate: Any, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        cg_kwargs = {"rtol": self.rtol, "atol": self.atol, "maxiter": self.maxiter}
        return estimate(
            image, trimap, laplacian_kwargs=self.laplacian_kwargs(), cg_kwargs=cg_kwargs
        )


_CG_PARAMS = """rtol, atol : float
        Conjugate-gradient stopping test ``||r|| < atol or ||r|| < rtol * ||b||``
        (pymatting's defaults 1e-7 and 0).
    maxiter : int
        Conjugate-gradient iteration limit (pymatting's default 10000); exceeding it raises
        ``RuntimeError``.
    stray : {"nearest", "error"}
        What trimap values other than 0/128/255 do (:mod:`baselines.classic._inputs`)."""


@register_method("closed-form")
class ClosedFormMatting(_CGMethod):
    __doc__ = f"""Closed-form matting (Levin, Lischinski and Weiss, CVPR 2006 / TPAMI 2008).

    pymatting ``estimate_alpha_cf``: the matting Laplacian (``cf_laplacian``) restricted to the
    unknown pixels, known pixels as hard boundary values, solved by CG with an incomplete
    Cholesky preconditioner (``ichol``, pymatting's default).

    Parameters
    ----------
    epsilon : float
        Regulariser of the local colour-line model (pymatting's default 1e-7).
    radius : int
        Window radius; windows are ``(2 * radius + 1)`` square (default 1, 3x3).
    {_CG_PARAMS}
    """

    description = "closed-form matting (Levin et al. 2008), pymatting"
    function = "estimate_alpha_cf"

    def __init__(
        self,
        *,
        epsilon: float = 1e-7,
        radius: int = 1,
        rtol: float = 1e-7,
        atol: float = 0.0,
        maxiter: int = 10000,
        stray: StrayPolicy = "nearest",
    ) -> None:
        super().__init__(rtol=rtol, atol=atol, maxiter=maxiter, stray=stray)
        self.epsilon = _float("epsilon", epsilon)
        self.radius = _int("radius", radius)

    def laplacian_kwargs(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "radius": self.radius}

    def params(self) -> dict[str, Any]:
        return {**super().params(), "preconditioner": "ichol"}


@register_method("knn")
class KNNMatting(_CGMethod):
    __doc__ = f"""KNN matting (Chen, Li and Tang, CVPR 2012 / TPAMI 2013), as pymatting does it.

    pymatting ``estimate_alpha_knn``: a Laplacian from the nearest neighbours in the feature
    space (R, G, B, weight * x, weight * y) with x, y in ``[0, 1]``, known pixels constrained
    softly (weight 100), solved by CG with a Jacobi preconditioner.

    Parameters
    ----------
    n_neighbors : sequence of int
        Neighbours per pass (pymatting's default ``(20, 10)``: two passes).
    distance_weights : sequence of float
        Weight of the spatial coordinates per pass (default ``(2.0, 0.1)``); same length as
        ``n_neighbors``.
    kernel : {{"binary", "soft"}}
        Edge weight: 1, or 1 minus the mean absolute feature difference (default "binary").
    {_CG_PARAMS}
    """

    description = "KNN matting (Chen et al. 2013), pymatting"
    function = "estimate_alpha_knn"

    def __init__(
        self,
        *,
        n_neighbors: Sequence[int] = (20, 10),
        distance_weights: Sequence[float] = (2.0, 0.1),
        kernel: str = "binary",
        rtol: float = 1e-7,
        atol: float = 0.0,
        maxiter: int = 10000,
        stray: StrayPolicy = "nearest",
    ) -> None:
        super().__init__(rtol=rtol, atol=atol, maxiter=maxiter, stray=stray)
        self.n_neighbors = tuple(_int("n_neighbors", k) for k in n_neighbors)
        self.distance_weights = tuple(
            _float("distance_weights", w, positive=False) for w in distance_weights
        )
        if not self.n_neighbors or len(self.n_neighbors) != len(self.distance_weights):
            raise InputError(
                f"n_neighbors {list(self.n_neighbors)} and distance_weights "
                f"{list(self.distance_weights)} must be non-empty and of equal length"
            )
        if kernel not in ("binary", "soft"):
            raise InputError(f"kernel must be 'binary' or 'soft', got {kernel!r}")
        self.kernel = kernel

    def laplacian_kwargs(self) -> dict[str, Any]:
        return {
            "n_neighbors": list(self.n_neighbors),
            "distance_weights": list(self.distance_weights),
            "kernel": self.kernel,
        }

    def params(self) -> dict[str, Any]:
        return {**super().params(), "preconditioner": "jacobi", "lambda": 100.0}


@register_method("lkm")
class LargeKernelMatting(_CGMethod):
    __doc__ = f"""Large kernel matting (He, Sun and Tang, CVPR 2010).

    pymatting ``estimate_alpha_lkm``: the closed-form Laplacian with a large window, applied
    matrix-free through box filters (``lkm_laplacian``), known pixels constrained softly
    (weight 100), solved by CG with a Jacobi preconditioner.

    Parameters
    ----------
    epsilon : float
        Regulariser of the local colour-line model (pymatting's default 1e-7).
    radius : int
        Window radius (pymatting's default 10, 21x21 windows).
    {_CG_PARAMS}
    """

    description = "large kernel matting (He et al. 2010), pymatting"
    function = "estimate_alpha_lkm"

    def __init__(
        self,
        *,
        epsilon: float = 1e-7,
        radius: int = 10,
        rtol: float = 1e-7,
        atol: float = 0.0,
        maxiter: int = 10000,
        stray: StrayPolicy = "nearest",
    ) -> None:
        super().__init__(rtol=rtol, atol=atol, maxiter=maxiter, stray=stray)
        self.epsilon = _float("epsilon", epsilon)
        self.radius = _int("radius", radius)

    def laplacian_kwargs(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "radius": self.radius}

    def params(self) -> dict[str, Any]:
        return {**super().params(), "preconditioner": "jacobi", "lambda": 100.0}


@register_method("random-walk")
class RandomWalkMatting(_CGMethod):
    __doc__ = f"""Random walk matting (Grady, Schiwietz, Aharon and Westermann, VIIP 2005).

    pymatting ``estimate_alpha_rw``: a graph Laplacian with Gaussian colour weights
    ``exp(-||I_i - I_j||^2 / (2 sigma^2))`` over a window (``rw_laplacian``), known pixels
    constrained softly (weight 100), solved by CG with a Jacobi preconditioner.

    Parameters
    ----------
    sigma : float
        Colour scale of the edge weights (pymatting's default 0.033).
    radius : int
        Window radius (default 1).
    regularization : float
        Added to the Laplacian's diagonal (default 1e-8).
    {_CG_PARAMS}
    """

    description = "random walk matting (Grady et al. 2005), pymatting"
    function = "estimate_alpha_rw"

    def __init__(
        self,
        *,
        sigma: float = 0.033,
        radius: int = 1,
        regularization: float = 1e-8,
        rtol: float = 1e-7,
        atol: float = 0.0,
        maxiter: int = 10000,
        stray: StrayPolicy = "nearest",
    ) -> None:
        super().__init__(rtol=rtol, atol=atol, maxiter=maxiter, stray=stray)
        self.sigma = _float("sigma", sigma)
        self.radius = _int("radius", radius)
        self.regularization = _float("regularization", regularization, positive=False)

    def laplacian_kwargs(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "radius": self.radius, "regularization": self.regularization}

    def params(self) -> dict[str, Any]:
        return {**super().params(), "preconditioner": "jacobi", "lambda": 100.0}


@register_method("learning-based")
class LearningBasedMatting(_CGMethod):
    __doc__ = f"""Learning-based digital matting (Zheng and Kambhamettu, ICCV 2009).

    pymatting ``estimate_alpha_lbdm``: a Laplacian from local (kernel) ridge regressions of
    alpha on colour (``lbdm_laplacian``), known pixels constrained softly (weight 100), solved
    by CG with an incomplete Cholesky preconditioner.

    Parameters
    ----------
    epsilon : float
        Ridge regulariser (pymatting's default 1e-7).
    radius : int
        Window radius (default 1).
    {_CG_PARAMS}
    """

    description = "learning-based digital matting (Zheng & Kambhamettu 2009), pymatting"
    function = "estimate_alpha_lbdm"

    def __init__(
        self,
        *,
        epsilon: float = 1e-7,
        radius: int = 1,
        rtol: float = 1e-7,
        atol: float = 0.0,
        maxiter: int = 10000,
        stray: StrayPolicy = "nearest",
    ) -> None:
        super().__init__(rtol=rtol, atol=atol, maxiter=maxiter, stray=stray)
        self.epsilon = _float("epsilon", epsilon)
        self.radius = _int("radius", radius)

    def laplacian_kwargs(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "radius": self.radius}

    def params(self) -> dict[str, Any]:
        return {**super().params(), "preconditioner": "ichol", "lambda": 100.0}


@register_method("shared-matting")
class SharedMatting(_PymattingMethod):
    """Shared matting (Gastal and Oliveira, Eurographics 2010).

    pymatting ``estimate_alpha_sm`` (computed in ``float32``): trimap expansion, sample
    gathering along rays, sample refinement, local smoothing. Not a linear solve, so no
    tolerance or iteration limit.

    Parameters
    ----------
    trimap_expansion_radius : int
        How far unknown pixels may be relabelled known (pymatting's default 10; 0 disables).
    trimap_expansion_threshold : float
        Colour distance under which they are (default 0.02; 0 disables).
    sample_gathering_angles : int
        Number of ray directions searched for samples (default 4).
    sample_gathering_weights : sequence of 4 float
        Weights ``(eN, eA, ef, eb)`` of the sample cost terms (default ``(3, 2, 1, 4)``).
    sample_gathering_Np_radius : int
        Radius of the ``Np`` term (default 1).
    sample_refinement_radius : int
        Neighbourhood searched for better samples (default 5).
    local_smoothing_radius1, local_smoothing_radius2, local_smoothing_radius3 : int
        Radii of foreground/background smoothing, confidence, low-frequency alpha (default 5).
    local_smoothing_sigma_sq1, local_smoothing_sigma_sq3 : float or None
        Squared sigmas of those; ``None`` (default) lets pymatting use
        ``(2 * local_smoothing_radius1 + 1) ** 2 / (9 pi)`` for **both** (pymatting 1.1.16
        derives sigma_sq3 from radius1, not radius3; recorded as ``None`` in ``config()``).
    local_smoothing_sigma_sq2 : float
        Squared sigma of the confidence (default 0.1).
    stray : {"nearest", "error"}
        What trimap values other than 0/128/255 do (:mod:`baselines.classic._inputs`).
    """

    description = "shared matting (Gastal & Oliveira 2010), pymatting"
    function = "estimate_alpha_sm"

    def __init__(
        self,
        *,
        trimap_expansion_radius: int = 10,
        trimap_expansion_threshold: float = 0.02,
        sample_gathering_angles: int = 4,
        sample_gathering_weights: Sequence[float] = (3.0, 2.0, 1.0, 4.0),
        sample_gathering_Np_radius: int = 1,
        sample_refinement_radius: int = 5,
        local_smoothing_radius1: int = 5,
        local_smoothing_radius2: int = 5,
        local_smoothing_radius3: int = 5,
        local_smoothing_sigma_sq1: float | None = None,
        local_smoothing_sigma_sq2: float = 0.1,
        local_smoothing_sigma_sq3: float | None = None,
        stray: StrayPolicy = "nearest",
    ) -> None:
        super().__init__(stray=stray)
        weights = tuple(
            _float("sample_gathering_weights", w, positive=False) for w in sample_gathering_weights
        )
        if len(weights) != 4:
            raise InputError(f"sample_gathering_weights needs 4 values, got {len(weights)}")

        def opt(name: str, v: float | None) -> float | None:
            return None if v is None else _float(name, v)

        self._params: dict[str, Any] = {
            "trimap_expansion_radius": _int(
                "trimap_expansion_radius", trimap_expansion_radius, minimum=0
            ),
            "trimap_expansion_threshold": _float(
                "trimap_expansion_threshold", trimap_expansion_threshold, positive=False
            ),
            "sample_gathering_angles": _int("sample_gathering_angles", sample_gathering_angles),
            "sample_gathering_weights": weights,
            "sample_gathering_Np_radius": _int(
                "sample_gathering_Np_radius", sample_gathering_Np_radius, minimum=0
            ),
            "sample_refinement_radius": _int(
                "sample_refinement_radius", sample_refinement_radius, minimum=0
            ),
            "local_smoothing_radius1": _int("local_smoothing_radius1", local_smoothing_radius1),
            "local_smoothing_radius2": _int("local_smoothing_radius2", local_smoothing_radius2),
            "local_smoothing_radius3": _int("local_smoothing_radius3", local_smoothing_radius3),
            "local_smoothing_sigma_sq1": opt(
                "local_smoothing_sigma_sq1", local_smoothing_sigma_sq1
            ),
            "local_smoothing_sigma_sq2": _float(
                "local_smoothing_sigma_sq2", local_smoothing_sigma_sq2
            ),
            "local_smoothing_sigma_sq3": opt(
                "local_smoothing_sigma_sq3", local_smoothing_sigma_sq3
            ),
        }

    def params(self) -> dict[str, Any]:
        p = dict(self._params)
        p["sample_gathering_weights"] = list(p["sample_gathering_weights"])
        return p

    def _call(self, estimate: Any, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        return estimate(image, trimap, **self._params)
