"""Matting losses and the SDNet objective (torch).

Every loss takes ``(N, 1, H, W)`` float tensors (alpha in ``[0, 1]``) and an optional ``weight``
of the same shape (typically the unknown region of the trimap, 1 there and 0 elsewhere); a
weighted loss is the weighted mean ``sum(w * e) / max(sum(w), 1)``, an unweighted one the plain
mean.

* :func:`l1_loss`, :func:`charbonnier_loss` -- the alpha prediction loss (DIM, GCA).
* :func:`laplacian_loss` -- the 5-level Laplacian-pyramid L1 of SDNet eq. (L_lap): level ``n``
  weighted ``2^(n-1) / 5``. The pyramid is Burt & Adelson's, as coded in MG-Matting's
  ``Trainer.lap_loss`` (yucornetto/MGMatting ``code-base/trainer.py``, after Marco Forte's FBA
  gist; GCA-Matting itself has no Laplacian loss): 5x5 binomial kernel ``[1 4 6 4 1]^T [1 4 6 4
  1] / 256``, reflect padding, ``down = blur(x)[::2, ::2]``, ``expand`` = zeros with ``down``
  at the even positions blurred with ``4 x`` the kernel, band ``x - expand(down)``. MG-Matting
  weights level ``n`` by ``2^(n-1)``, so ours is its value ``/ 5``.
* :func:`composition_loss` -- ``|a F + (1 - a) B - I|`` (DIM), colours in ``[0, 1]``.
* :func:`alpha_loss` -- SDNet's ``L_alpha = L_l1 + L_lap + L_c``.
* :func:`self_distillation_loss` -- SDNet's ``L_d``: ``1 - cos`` between a student decoder
  feature and a detached reference (teacher) feature, in the three settings of the paper
  (best teacher, dense, transitive).
* :func:`sdnet_objective` -- multi-level supervision of the side outputs plus the final alpha,
  plus ``lambda_sd * L_d``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

__all__ = [
    "l1_loss",
    "charbonnier_loss",
    "laplacian_loss",
    "composition_loss",
    "alpha_loss",
    "matting_loss",
    "self_distillation_loss",
    "sdnet_objective",
    "SDMode",
]

SDMode = Literal["best", "dense", "transitive", "none"]


def _reduce(err: Any, weight: Any | None) -> Any:
    if weight is None:
        return err.mean()
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


def l1_loss(pred: Any, gt: Any, weight: Any | None = None) -> Any:
    """Mean absolute error (weighted mean over ``weight`` if given)."""
    return _reduce((pred - gt).abs(), weight)


def charbonnier_loss(pred: Any, gt: Any, weight: Any | None = None, eps: float = 1e-6) -> Any:
    """``sqrt((pred - gt)^2 + eps^2)``, the smooth L1 of DIM's alpha-prediction loss
    (DIM uses ``eps^2 = 1e-12``)."""
    return _reduce(((pred - gt) ** 2 + eps**2).sqrt(), weight)


_BINOMIAL = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)  # [1 4 6 4 1] / 16 per axis


def _reflect_index(n: int, pad: int, device: Any) -> Any:
    """Indices of a length-``n`` axis padded by ``pad`` on each side by reflection about the
    edge samples (``F.pad(mode="reflect")``), repeated for axes shorter than the padding
    (period ``2 (n - 1)``), so that even and odd positions stay even and odd."""
    import torch

    i = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i.remainder(period)
    return torch.where(i < n, i, period - i)


def _blur_axis(x: Any, dim: int, gain: float) -> Any:
    """``gain * [1 4 6 4 1] / 16`` along ``dim`` with reflect padding."""
    n = x.shape[dim]
    y = x.index_select(dim, _reflect_index(n, 2, x.device))
    return sum(gain * c * y.narrow(dim, j, n) for j, c in enumerate(_BINOMIAL))


def _blur(x: Any) -> Any:
    """The 5x5 binomial blur (``outer([1 4 6 4 1], [1 4 6 4 1]) / 256``), reflect padding."""
    return _blur_axis(_blur_axis(x, -2, 1.0), -1, 1.0)


def _expand(down: Any, size: Any) -> Any:
    """Burt & Adelson's EXPAND to ``size``: ``down`` at the even positions of a zero map, blurred
    with 4x the kernel (2x per axis). MG-Matting's ``upsample`` needs even sizes; here any
    size works (an axis of length 1 holds its one sample, which the blur leaves unchanged)."""
    up = down.new_zeros((*down.shape[:-2], *size))
    up[..., ::2, ::2] = down
    for dim in (-2, -1):
        if up.shape[dim] > 1:
            up = _blur_axis(up, dim, 2.0)
    return up


def laplacian_pyramid(x: Any, levels: int = 5) -> list[Any]:
    """Laplacian pyramid ``[L1, ..., L_levels]`` (``L_levels`` is the last band-pass level; the
    low-pass residual is not returned, as in MG-Matting's ``lap_pyramid``)."""
    out = []
    cur = x
    for _ in range(levels):
        down = _blur(cur)[..., ::2, ::2]
        out.append(cur - _expand(down, cur.shape[-2:]))
        cur = down
    return out


def laplacian_loss(pred: Any, gt: Any, weight: Any | None = None, levels: int = 5) -> Any:
    """``sum_n 2^(n-1) / levels * mean |L^n(pred) - L^n(gt)|`` (SDNet eq. for ``L_lap``).

    With ``weight``, each level's error is weighted by ``weight`` subsampled ``[::2, ::2]`` once
    per level (MG-Matting's ``weight_pyramid``).
    """
    total = 0.0
    pp = laplacian_pyramid(pred, levels)
    gp = laplacian_pyramid(gt, levels)
    w = weight
    for n, (a, b) in enumerate(zip(pp, gp, strict=True), start=1):
        total = total + (2 ** (n - 1) / levels) * _reduce((a - b).abs(), w)
        if w is not None:
            w = w[..., ::2, ::2]
    return total


def composition_loss(pred: Any, fg: Any, bg: Any, image: Any, weight: Any | None = None) -> Any:
    """``mean |a F + (1 - a) B - I|`` over colour channels (``fg``, ``bg``, ``image``:
    ``(N, 3, H, W)`` in ``[0, 1]``).

    With ``weight`` (``(N, 1, H, W)``) it is the weighted mean over pixels *and* channels.
    GCA-Matting's ``composition_loss`` divides the 3-channel sum by the 1-channel weight sum,
    i.e. 3x this value; unweighted the two agree.
    """
    comp = pred * fg + (1.0 - pred) * bg
    w = None if weight is None else weight.expand_as(comp)
    return _reduce((comp - image).abs(), w)


def alpha_loss(
    pred: Any,
    gt: Any,
    *,
    fg: Any | None = None,
    bg: Any | None = None,
    image: Any | None = None,
    weight: Any | None = None,
) -> Any:
    """SDNet's ``L_alpha = L_l1 + L_lap + L_c`` (``L_c`` only when fg, bg and image are given)."""
    loss = l1_loss(pred, gt, weight) + laplacian_loss(pred, gt, weight)
    if fg is not None and bg is not None and image is not None:
        loss = loss + composition_loss(pred, fg, bg, image, weight)
    return loss


def matting_loss(alpha: Any, batch: dict[str, Any]) -> Any:
    """``L_alpha`` of a training batch (``alpha``, ``fg``, ``bg``, ``image``, ``weight``)."""
    return alpha_loss(
        alpha,
        batch["alpha"],
        fg=batch["fg"],
        bg=batch["bg"],
        image=batch["image"],
        weight=batch["weight"],
    )


def _cos_distance(student: Any, teacher: Any) -> Any:
    """``1 - cos(vec(s), vec(t))`` per sample, averaged; the teacher is detached and the
    student resized (bilinear) to the teacher's size when they differ."""
    import torch.nn.functional as F

    t = teacher.detach()
    s = student
    if s.shape[-2:] != t.shape[-2:]:
        s = F.interpolate(s, size=t.shape[-2:], mode="bilinear", align_corners=False)
    cos = F.cosine_similarity(s.flatten(1), t.flatten(1), dim=1, eps=1e-8)
    return (1.0 - cos).mean()


def self_distillation_loss(features: Sequence[Any], mode: SDMode = "best") -> Any:
    """SDNet's self-distillation loss ``L_d`` over the decoder's side features.

    Parameters
    ----------
    features
        The side features in decoding order, upstream first: ``[F4, F3, F2]`` (``F2`` is the
        most downstream, closest to the output).
    mode
        ``"best"``: ``F2`` teaches ``F3`` and ``F4`` (the paper's best setting); ``"dense"``:
        every downstream feature teaches every upstream one; ``"transitive"``: each feature
        teaches only its upstream neighbour; ``"none"``: 0.

    Teachers are detached (no gradient flows into the reference), as in self-distillation by
    feature mimicking; the student is resized to the teacher's resolution.
    """
    import torch

    feats = list(features)
    zero = feats[0].new_zeros(()) if feats else torch.zeros(())
    if mode == "none" or len(feats) < 2:
        return zero
    pairs: list[tuple[int, int]] = []  # (student index, teacher index), teacher downstream
    last = len(feats) - 1
    if mode == "best":
        pairs = [(i, last) for i in range(last)]
    elif mode == "dense":
        pairs = [(i, j) for i in range(last) for j in range(i + 1, last + 1)]
    elif mode == "transitive":
        pairs = [(i, i + 1) for i in range(last)]
    else:
        raise ValueError(f"unknown self-distillation mode {mode!r} (best, dense, transitive, none)")
    return sum((_cos_distance(feats[s], feats[t]) for s, t in pairs), zero)


def sdnet_objective(
    output: Any,
    batch: dict[str, Any],
    *,
    sd_mode: SDMode = "best",
    lambda_sd: float = 1.0,
) -> tuple[Any, dict[str, float]]:
    """SDNet's training objective: ``L_alpha`` on the final alpha and on each side alpha
    (multi-level supervision, ``L_aux``), plus ``lambda_sd * L_d``.

    ``output`` has ``alpha``, ``side_alphas`` and ``features``; ``batch`` holds ``alpha``,
    ``fg``, ``bg``, ``image`` (``[0, 1]`` tensors) and optionally ``weight``. Returns the total
    and its parts (as floats, for logging).
    """
    kw = {k: batch.get(k) for k in ("fg", "bg", "image", "weight")}
    final = alpha_loss(output.alpha, batch["alpha"], **kw)
    aux = sum(
        (alpha_loss(a, batch["alpha"], **kw) for a in output.side_alphas), final.new_zeros(())
    )
    sd = self_distillation_loss(output.features, sd_mode)
    total = final + aux + lambda_sd * sd
    parts = {"final": final, "aux": aux, "sd": sd, "total": total}
    return total, {k: float(v.detach()) for k, v in parts.items()}
