"""Neuron Selectivity Transfer (NST): squared MMD with a degree-2 polynomial kernel.

Definition (Huang & Wang, "Like What You Like: Knowledge Distill via Neuron Selectivity
Transfer", arXiv 1707.01219, 2017; reference code RepDistiller ``distiller_zoo/NST.py`` and
DongGeun-Yoon/DCP ``KD_loss.py``): each channel's spatial map, flattened to ``HW`` values and
L2-normalised, is one sample. With teacher samples ``t_1..t_Ct`` and student samples
``s_1..s_Cs`` of one image and the kernel ``k(x, y) = (x^T y)^2``,

    MMD^2 = mean_{i,i'} k(t_i, t_i') + mean_{j,j'} k(s_j, s_j') - 2 mean_{i,j} k(s_j, t_i),

averaged over the batch and summed over levels with per-level weights (DCP: weight 1 on each of
encoder levels 2-5, no pooling; RepDistiller uses beta = 50 on CIFAR). Channel counts may
differ; ``H x W`` must match (RepDistiller would average-pool the larger map, DCP does not; we
refuse rather than silently pool).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from baselines.distill.base import Distiller, _same_hw, register_distiller

__all__ = ["NSTLoss", "nst_mmd"]


def _poly2_mean(a: Tensor, b: Tensor) -> Tensor:
    """Per-image ``mean_{i,j} (a_i^T b_j)^2`` for ``a``: (N, Ca, D), ``b``: (N, Cb, D)."""
    return (a @ b.transpose(1, 2)).pow(2).mean(dim=(1, 2))


def nst_mmd(student: Tensor, teacher: Tensor) -> Tensor:
    """Squared MMD between the L2-normalised channel maps of one level, batch-averaged.

    Parameters
    ----------
    student, teacher
        ``(N, Cs, H, W)`` and ``(N, Ct, H, W)``. A channel map that is all zero stays zero
        after normalisation (``F.normalize`` divides by ``max(||x||, 1e-12)``).

    Returns
    -------
    Tensor
        0-d tensor, ``>= 0`` up to rounding, 0 when both have the same set of normalised maps.
    """
    s = F.normalize(student.flatten(2), p=2.0, dim=2)
    t = F.normalize(teacher.flatten(2), p=2.0, dim=2)
    return (_poly2_mean(t, t) + _poly2_mean(s, s) - 2.0 * _poly2_mean(s, t)).mean()


@register_distiller("nst")
class NSTLoss(Distiller):
    """NST distillation: ``weight * sum_i level_weights[i] * MMD^2(s_i, t_i)``.

    Parameters
    ----------
    weight
        Overall balance factor (default 1, as DCP; RepDistiller's CIFAR setting is 50).
    level_weights
        Per-level factors (default all 1, as DCP).

    Nothing is learnable. See the module docstring for the definition and sources.

    Examples
    --------
    >>> import torch
    >>> from baselines.distill import get_distiller
    >>> x = torch.rand(2, 3, 4, 4)
    >>> loss = get_distiller("nst")([x], [x[:, [2, 0, 1]]])  # channel order is irrelevant
    >>> abs(float(loss)) < 1e-6
    True
    """

    def __init__(self, *, weight: float = 1.0, level_weights: Sequence[float] | None = None):
        super().__init__(weight=weight, level_weights=level_weights)

    def level_loss(self, level: int, s: Tensor, t: Tensor) -> Tensor:
        _same_hw(s, t, level, "NST")
        return nst_mmd(s, t)
