"""SDNet self-distillation as a registered distiller (a thin wrapper, no second copy).

The loss itself lives in :func:`baselines.losses.self_distillation_loss` (``1 - cos`` between a
student decoder feature and a detached downstream feature of the *same* network, in the
"best", "dense" or "transitive" setting). This wrapper only lets it be chosen by name like the
teacher-student distillers: the teachers are the network's own features, so ``teacher_feats``
must be ``None`` or empty.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from baselines.distill.base import Distiller, _as_list, register_distiller
from baselines.losses import SDMode, self_distillation_loss
from metrics.common import InputError

__all__ = ["SelfDistillLoss"]


@register_distiller("sd")
class SelfDistillLoss(Distiller):
    """``weight * L_d(features, mode)`` (SDNet self-distillation; see
    :func:`baselines.losses.self_distillation_loss` for the definition and the modes).

    Parameters
    ----------
    mode
        ``"best"`` (default), ``"dense"``, ``"transitive"`` or ``"none"``.
    weight
        ``lambda_sd``.

    Examples
    --------
    >>> import torch
    >>> from baselines.distill import get_distiller
    >>> f = torch.rand(1, 2, 4, 4)
    >>> abs(float(get_distiller("sd")([f, f, f]))) < 1e-6  # identical features: 1 - cos = 0
    True
    """

    def __init__(self, mode: SDMode = "best", *, weight: float = 1.0):
        super().__init__(weight=weight)
        if mode not in ("best", "dense", "transitive", "none"):
            raise InputError(
                f"unknown self-distillation mode {mode!r} (best, dense, transitive, none)"
            )
        self.mode: SDMode = mode

    def forward(
        self, student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor] | None = None
    ) -> Tensor:
        if teacher_feats:
            raise InputError(
                "self-distillation takes no teacher features (the network's own downstream "
                "features teach); pass teacher_feats=None"
            )
        feats = _as_list(student_feats, "student_feats")
        if not feats:
            raise InputError("no feature levels to distil (empty list)")
        return self.weight * self_distillation_loss(feats, self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, weight={self.weight:g}"
