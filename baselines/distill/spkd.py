"""The matting "SPKD" loss: spatial + channel self-similarity (the loss DCP distils with).

Definition (Yoon, Park, Cho, "Spatial and Channel Similarity Preserving Knowledge Distillation
for Image Matting", IEEE Signal Processing Letters 2020, DongGeun-Yoon/SPKD slides; as used by
DongGeun-Yoon/DCP ``KD_loss.SPKD``). For one image and a feature ``F`` of ``C x HW``:

* **spatial similarity** ``A_sp = F_hat^T F_hat`` (``HW x HW``), where every pixel's C-vector is
  L2-normalised: the cosine similarity between positions. Channel counts may differ.
* **channel similarity** ``A_ch = F_hat F_hat^T`` (``C x C``), where every channel's HW-vector is
  L2-normalised. Needs ``C_s == C_t``: a student of another width goes through a learnable
  1x1 conv adapter to the teacher width (DCP ``DIMModel_student.feature2..5``, ``Conv2d`` with
  bias). As in DCP's training stage, the adapter feeds only the channel term; the spatial term
  uses the raw student feature.

Per level, ``L_i = w_sp * mean (A_sp,t - A_sp,s)^2 + w_ch * mean (A_ch,t - A_ch,s)^2`` (means
over the batch and all matrix entries), and the loss is ``weight * sum_i level_weights[i] L_i``.
DCP applies it to encoder levels 2-5 with ``w_sp = w_ch = 1`` (``kd_weight=[1, 1]``).

Deviations from the released DCP code, on purpose: (1) DCP's level loop assigns ``loss = ...``
instead of accumulating, so only the last level counts; we sum over levels as the paper says;
(2) DCP divides by ``||x|| + 1e-7``, we use ``F.normalize`` (``x / max(||x||, 1e-12)``), which
changes a normalised vector by about ``1e-7 / ||x||`` relative (negligible unless a pixel or
channel is nearly all zero, where DCP's form also damps it towards 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from baselines.distill.base import Distiller, _check_widths, _same_hw, register_distiller
from metrics.common import InputError

__all__ = ["SPKDLoss", "spatial_similarity", "channel_similarity"]


def spatial_similarity(feat: Tensor) -> Tensor:
    """``(N, HW, HW)`` cosine similarities between pixel C-vectors."""
    f = F.normalize(feat.flatten(2), p=2.0, dim=1)
    return f.transpose(1, 2) @ f


def channel_similarity(feat: Tensor) -> Tensor:
    """``(N, C, C)`` cosine similarities between channel HW-vectors."""
    f = F.normalize(feat.flatten(2), p=2.0, dim=2)
    return f @ f.transpose(1, 2)


@register_distiller("spkd")
class SPKDLoss(Distiller):
    """Matting spatial + channel similarity distillation (see the module docstring).

    Parameters
    ----------
    student_channels, teacher_channels
        Declared widths per level. When both are given, a 1x1 adapter ``C_s -> C_t`` is created
        for the channel term where needed (see ``adapters``) and every forward call checks the
        feature widths against them. When omitted, no adapter exists and the channel term
        needs equal widths.
    w_sp, w_ch
        Weights of the spatial and channel terms (DCP ``kd_weight``, default ``[1, 1]``).
    weight
        Overall balance factor (the paper's ``lambda_4`` / ``w_3``; default 1).
    level_weights
        Per-level factors (default all 1).
    adapters
        ``None`` (default): an adapter only at levels whose widths differ (DCP pruning stage:
        same architecture, none); ``True``: at every level (DCP training stage); ``False``:
        never (widths must then match).

    Attributes
    ----------
    adapters
        ``nn.ModuleList`` with one entry per declared level (``nn.Identity`` where none is
        needed); train it with the student.

    Examples
    --------
    >>> import torch
    >>> from baselines.distill import get_distiller
    >>> x = torch.rand(2, 3, 4, 4)
    >>> float(get_distiller("spkd")([x, 2 * x], [x, x]))  # both terms are scale invariant
    0.0
    """

    def __init__(
        self,
        student_channels: Sequence[int] | None = None,
        teacher_channels: Sequence[int] | None = None,
        *,
        w_sp: float = 1.0,
        w_ch: float = 1.0,
        weight: float = 1.0,
        level_weights: Sequence[float] | None = None,
        adapters: bool | None = None,
    ):
        super().__init__(weight=weight, level_weights=level_weights)
        self.w_sp = float(w_sp)
        self.w_ch = float(w_ch)
        if (student_channels is None) != (teacher_channels is None):
            raise InputError("declare both student_channels and teacher_channels, or neither")
        self.student_channels = None if student_channels is None else list(student_channels)
        self.teacher_channels = None if teacher_channels is None else list(teacher_channels)
        mods: list[nn.Module] = []
        if self.student_channels is not None and self.teacher_channels is not None:
            if len(self.student_channels) != len(self.teacher_channels):
                raise InputError(
                    f"{len(self.student_channels)} student widths vs "
                    f"{len(self.teacher_channels)} teacher widths"
                )
            for i, (cs, ct) in enumerate(
                zip(self.student_channels, self.teacher_channels, strict=True)
            ):
                if adapters is False and cs != ct:
                    raise InputError(f"level {i}: widths differ ({cs} vs {ct}) but adapters=False")
                if adapters or (adapters is None and cs != ct):
                    mods.append(nn.Conv2d(cs, ct, kernel_size=1))
                else:
                    mods.append(nn.Identity())
        self.adapters = nn.ModuleList(mods)

    def check(self, s_list: list[Tensor], t_list: list[Tensor]) -> None:
        _check_widths(s_list, self.student_channels, "student")
        _check_widths(t_list, self.teacher_channels, "teacher")

    def level_loss(self, level: int, s: Tensor, t: Tensor) -> Tensor:
        _same_hw(s, t, level, "SPKD")
        loss = s.new_zeros(())
        if self.w_sp != 0.0:
            d = spatial_similarity(t) - spatial_similarity(s)
            loss = loss + self.w_sp * d.pow(2).mean()
        if self.w_ch != 0.0:
            sa = self.adapters[level](s) if len(self.adapters) else s
            if sa.shape[1] != t.shape[1]:
                raise InputError(
                    f"level {level}: channel similarity needs equal widths, student "
                    f"{sa.shape[1]} vs teacher {t.shape[1]}; declare student_channels and "
                    "teacher_channels to get a 1x1 adapter"
                )
            d = channel_similarity(t) - channel_similarity(sa)
            loss = loss + self.w_ch * d.pow(2).mean()
        return loss

    def extra_repr(self) -> str:
        return f"w_sp={self.w_sp:g}, w_ch={self.w_ch:g}, " + super().extra_repr()
