"""Similarity-Preserving knowledge distillation (SP): batch Gram matrices.

Definition (Tung & Mori, "Similarity-Preserving Knowledge Distillation", ICCV 2019; reference
code RepDistiller ``distiller_zoo/SP.py``, "verified by original author"): flatten each of the
``b`` samples' activations to a row of ``Q`` (``b x CHW``), form ``G = Q Q^T`` (``b x b``),
L2-normalise every **row** of ``G``, and take

    L_SP = ||G_t - G_s||_F^2 / b^2.

Because ``G`` is always ``b x b``, student and teacher may differ in channels *and* spatial
size; only the batch must match. The loss is invariant to a positive rescaling of either
feature map (the row normalisation cancels it). RepDistiller uses beta = 3000 on CIFAR at the
last feature.

The torchdistill bug we avoid
-----------------------------
torchdistill 1.1.5 ``SPKDLoss.matmul_and_normalize`` calls
``torch.nn.functional.normalize(G, 1)``: the positional ``1`` is ``p``, not ``dim``, so its
rows are **L1**-normalised. That is not the paper's (or RepDistiller's) L2 row normalisation and
gives a different value (methods.md sec. 3.2: 0.001158 vs 0.000915 on the same tensors). Here
the norm is spelled out: ``F.normalize(G, p=2.0, dim=1)``.

In the matting literature "SPKD" means the different spatial + channel loss of
:mod:`baselines.distill.spkd`; this module is Tung & Mori's batch loss, registered as ``"sp"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from baselines.distill.base import Distiller, register_distiller

__all__ = ["SPLoss", "sp_gram", "sp_loss"]


def sp_gram(feat: Tensor) -> Tensor:
    """The row-L2-normalised batch Gram matrix ``normalize(Q Q^T, p=2, dim=1)``, ``b x b``."""
    q = feat.flatten(1)
    return F.normalize(q @ q.t(), p=2.0, dim=1)


def sp_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """``||G_t - G_s||_F^2 / b^2`` for one level (``(b, C, H, W)`` inputs, any C, H, W)."""
    b = student.shape[0]
    return (sp_gram(teacher) - sp_gram(student)).pow(2).sum() / (b * b)


@register_distiller("sp")
class SPLoss(Distiller):
    """Tung & Mori SP distillation: ``weight * sum_i level_weights[i] * L_SP(s_i, t_i)``.

    Parameters
    ----------
    weight
        Overall balance factor (default 1; RepDistiller's CIFAR setting is 3000).
    level_weights
        Per-level factors (default all 1).

    Examples
    --------
    >>> import torch
    >>> from baselines.distill import get_distiller
    >>> x = torch.rand(4, 3, 5, 5)
    >>> float(get_distiller("sp")([x], [x]))
    0.0
    """

    def __init__(self, *, weight: float = 1.0, level_weights: Sequence[float] | None = None):
        super().__init__(weight=weight, level_weights=level_weights)

    def level_loss(self, level: int, s: Tensor, t: Tensor) -> Tensor:
        return sp_loss(s, t)
