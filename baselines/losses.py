"""Matting losses and the SDNet objective (torch).

Every loss takes ``(N, 1, H, W)`` float tensors (alpha in ``[0, 1]``) and an optional ``weight``
of the same shape (typically the unknown region of the trimap, 1 there and 0 elsewhere); a
weighted loss is the weighted mean ``sum(w * e) / max(sum(w), 1)``, an unweighted one the plain
mean.

* :func:`l1_loss`, :func:`charbonnier_loss` -- the alpha prediction loss (DIM, GCA).
* :func:`laplacian_loss` -- the 5-level Laplacian-pyramid L1 of SDNet eq. (L_lap): level ``n``
  weighted ``2^(n-1) / 5``; Gaussian 5x5 binomial kernel, reflect padding, factor-2 pyramid
  (as in Hou & Liu 2019 and GCA-Matting's ``LapLoss``).
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


def _gauss_kernel(x: Any) -> Any:
    import torch

    k1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device)
    k = torch.outer(k1, k1)
    return (k / k.sum()).view(1, 1, 5, 5)


def _blur(x: Any, k: Any) -> Any:
    import torch.nn.functional as F

    n, c, h, w = x.shape
    mode = "reflect" if min(h, w) > 2 else "replicate"
    y = F.pad(x.reshape(n * c, 1, h, w), (2, 2, 2, 2), mode=mode)
    return F.conv2d(y, k).reshape(n, c, h, w)


def laplacian_pyramid(x: Any, levels: int = 5) -> list[Any]:
    """Laplacian pyramid ``[L1, ..., L_levels]`` (``L_levels`` is the last band-pass level)."""
    import torch.nn.functional as F

    k = _gauss_kernel(x)
    out = []
    cur = x
    for _ in range(levels):
        low = _blur(cur, k)
        down = low[..., ::2, ::2]
        up = F.interpolate(down, size=cur.shape[-2:], mode="nearest")
        out.append(cur - _blur(up, k))
        cur = down
    return out


def laplacian_loss(pred: Any, gt: Any, weight: Any | None = None, levels: int = 5) -> Any:
    """``sum_n 2^(n-1) / levels * mean |L^n(pred) - L^n(gt)|`` (SDNet eq. for ``L_lap``).

    With ``weight``, each level's error is weighted by ``weight`` downsampled (nearest) to that
    level.
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
    ``(N, 3, H, W)`` in ``[0, 1]``)."""
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
