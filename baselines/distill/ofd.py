"""Overhaul of Feature Distillation (OFD): margin ReLU teacher, connector student, partial L2.

Definition (Heo, Kim, Yun, Park, Kwak, Choi, "A Comprehensive Overhaul of Feature
Distillation", ICCV 2019; reference code clovaai/overhaul-distillation
``CIFAR-100/distiller.py`` and the copy in DongGeun-Yoon/DCP ``KD_loss.py``):

* **Position: pre-ReLU features.** Both lists must hold the features *before* the ReLU that
  ends each stage (the output of the last BN; for DCP's DIM encoder: the last BN output of
  blocks 2-5, then max-pooled like the post-ReLU path). Extracting them is **the caller's
  job**: this module cannot tell pre-ReLU from post-ReLU input, and post-ReLU teacher features
  silently turn the margin into a no-op.
* **Teacher transform: margin ReLU** ``T = max(t, m_c)`` per channel, where ``m_c`` is
  :func:`ofd_margin` of the teacher BN that produced ``t``.
* **Student transform: connector** = 1x1 conv (no bias) to the teacher width + BN, initialised
  as in clovaai (conv weights ``N(0, 2 / (k^2 C_out))``, BN ``gamma = 1``, ``beta = 0``).
* **Distance: partial L2** ``sum (S - T)^2`` over the elements where ``S > T`` or ``T > 0``;
  elements where the teacher is non-positive and the student is already below it are skipped.
* **Weighting.** Stage ``i`` of ``n`` (0-based, shallow to deep) gets ``1 / 2^(n - i - 1)``; the
  sum is divided by the batch size and multiplied by a global ``scale``: 1e-3 on CIFAR and in
  DCP (``kd(img).sum() / 1000``), 1e-4 on ImageNet, 1e-5 for segmentation in clovaai.

So ``L = weight * scale * sum_i 2^-(n-i-1) * partial_L2(C_i(s_i), max(t_i, m_i)) / N``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from baselines.distill.base import Distiller, _check_widths, _same_hw, register_distiller
from metrics.common import InputError

__all__ = ["OFDLoss", "ofd_margin", "ofd_partial_l2", "ofd_connector"]

_P_MIN = 1e-3  # below this P(x < 0) the margin falls back to -3 |gamma|


def _margin_from_affine(gamma: Tensor, beta: Tensor) -> Tensor:
    """``E[x | x < 0]`` for ``x ~ N(beta, gamma^2)``, per channel, computed in float64."""
    s = gamma.detach().double().abs()
    m = beta.detach().double()
    safe_s = torch.where(s > 0, s, torch.ones_like(s))
    z = m / safe_s
    p = torch.special.ndtr(-z)  # P(x < 0)
    safe_p = torch.where(p > 0, p, torch.ones_like(p))
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    trunc_mean = m - s * pdf / safe_p
    out = torch.where(p > _P_MIN, trunc_mean, -3.0 * s)
    # gamma == 0: x == beta exactly; E[x | x < 0] = beta if beta < 0, otherwise P(x<0) = 0
    out = torch.where(s > 0, out, torch.where(m < 0, m, torch.zeros_like(m)))
    return out


def ofd_margin(bn: _BatchNorm) -> Tensor:
    """Per-channel OFD margin from a teacher BN: ``m_c = E[x | x < 0]``, ``x ~ N(beta, gamma^2)``.

    The BN output of channel ``c`` is modelled as ``N(beta_c, gamma_c^2)`` (its affine
    parameters, not the running statistics). Then

        m_c = beta_c - |gamma_c| phi(beta_c / |gamma_c|) / Phi(-beta_c / |gamma_c|)

    (the mean of a normal truncated above at 0), except that ``m_c = -3 |gamma_c|`` when
    ``P(x < 0) = Phi(-beta_c / |gamma_c|)`` is at most 0.001 (clovaai ``get_margin_from_BN``,
    which uses the formula only when ``P > 0.001``). A BN without affine parameters counts as
    ``gamma = 1``, ``beta = 0``; a channel with ``gamma = 0`` gets ``beta`` if negative, else 0.

    Parameters
    ----------
    bn
        The teacher's BatchNorm whose output is the distilled pre-ReLU feature.

    Returns
    -------
    Tensor
        ``(C,)`` margins, non-positive, in the dtype and device of ``bn.weight`` (float32 when
        the BN has no affine parameters). Computed without gradient.

    Examples
    --------
    >>> import torch
    >>> bn = torch.nn.BatchNorm2d(2)
    >>> with torch.no_grad():
    ...     _ = bn.weight.copy_(torch.tensor([1.0, 1.0])), bn.bias.copy_(torch.tensor([0.0, 4.0]))
    >>> [round(v, 4) for v in ofd_margin(bn).tolist()]  # -sqrt(2/pi); P(x<0) < 0.001 -> -3
    [-0.7979, -3.0]
    """
    if not isinstance(bn, _BatchNorm):
        raise InputError(f"ofd_margin needs a BatchNorm module, got {type(bn).__name__}")
    if bn.weight is None or bn.bias is None:
        c = bn.num_features
        return _margin_from_affine(torch.ones(c), torch.zeros(c)).float()
    with torch.no_grad():
        m = _margin_from_affine(bn.weight, bn.bias)
    return m.to(dtype=bn.weight.dtype, device=bn.weight.device)


def ofd_partial_l2(source: Tensor, target: Tensor, margin: Tensor) -> Tensor:
    """Partial L2 with margin ReLU: ``sum over {S > T or T > 0} of (S - T)^2``, ``T = max(t, m)``.

    Parameters
    ----------
    source
        The (connected) student feature ``S``, ``(N, C, H, W)``.
    target
        The pre-ReLU teacher feature ``t``, same shape.
    margin
        ``(C,)`` or broadcastable to ``target`` (e.g. ``(1, C, 1, 1)``).

    Returns
    -------
    Tensor
        The 0-d sum (not divided by anything).
    """
    if margin.ndim == 1:
        margin = margin.view(1, -1, 1, 1)
    t = torch.maximum(target, margin.to(target.dtype))
    keep = (source > t) | (t > 0)
    return ((source - t).pow(2) * keep).sum()


def ofd_connector(student_channels: int, teacher_channels: int) -> nn.Sequential:
    """The OFD student connector: 1x1 conv (no bias) ``C_s -> C_t`` + BN, clovaai init."""
    conv = nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=False)
    nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / teacher_channels))
    bn = nn.BatchNorm2d(teacher_channels)
    nn.init.ones_(bn.weight)
    nn.init.zeros_(bn.bias)
    return nn.Sequential(conv, bn)


@register_distiller("ofd")
class OFDLoss(Distiller):
    """OFD distillation over ``n`` stages (see the module docstring for the definition).

    Parameters
    ----------
    student_channels
        Student widths per stage; required when ``connectors`` is true.
    teacher_channels
        Teacher widths per stage; inferred from the margins when omitted.
    teacher_bns
        The teacher BNs producing the pre-ReLU features, one per stage; margins come from
        :func:`ofd_margin`. Give this or ``margins``.
    margins
        Precomputed per-stage margins, each ``(C_t,)``.
    connectors
        True (default, clovaai): a conv + BN connector at every stage, even at equal widths;
        False: the student feature is used as is (DCP's pruning stage, same architecture),
        so widths must match.
    scale
        Global factor (default 1e-3 as DCP and clovaai CIFAR).
    weight
        Overall balance factor (the paper's ``lambda_4`` / ``w_3``; default 1).
    level_weights
        Per-stage factors; default ``1 / 2^(n - i - 1)``.

    Attributes
    ----------
    connectors
        ``nn.ModuleList`` of the connectors (empty when disabled); train them with the student.
    margin0, margin1, ...
        Buffers ``(1, C_t, 1, 1)`` holding the margins (saved in the state dict).

    Examples
    --------
    >>> import torch
    >>> from baselines.distill import get_distiller
    >>> ofd = get_distiller("ofd", margins=[-torch.ones(2)], connectors=False)
    >>> s = torch.full((1, 2, 1, 1), -3.0)   # student below a teacher clipped at the margin
    >>> float(ofd([s], [torch.full((1, 2, 1, 1), -5.0)]))
    0.0
    >>> round(float(ofd([torch.zeros(1, 2, 1, 1)], [torch.ones(1, 2, 1, 1)])), 9)  # 2 * 1e-3
    0.002
    """

    def __init__(
        self,
        student_channels: Sequence[int] | None = None,
        teacher_channels: Sequence[int] | None = None,
        *,
        teacher_bns: Sequence[_BatchNorm] | None = None,
        margins: Sequence[Tensor] | None = None,
        connectors: bool = True,
        scale: float = 1e-3,
        weight: float = 1.0,
        level_weights: Sequence[float] | None = None,
    ):
        super().__init__(weight=weight, level_weights=level_weights)
        if (teacher_bns is None) == (margins is None):
            raise InputError("OFD needs exactly one of teacher_bns or margins")
        if teacher_bns is not None:
            ms = [ofd_margin(bn) for bn in teacher_bns]
        else:
            ms = [torch.as_tensor(m).detach().reshape(-1) for m in margins or ()]
        if not ms:
            raise InputError("OFD needs at least one stage")
        widths = [int(m.numel()) for m in ms]
        if teacher_channels is not None and list(teacher_channels) != widths:
            raise InputError(
                f"teacher_channels {list(teacher_channels)} do not match the margin widths {widths}"
            )
        self.teacher_channels = widths
        self.student_channels = None if student_channels is None else list(student_channels)
        if self.student_channels is not None and len(self.student_channels) != len(widths):
            raise InputError(
                f"{len(self.student_channels)} student widths for {len(widths)} stages"
            )
        if connectors:
            if self.student_channels is None:
                raise InputError("OFD connectors need student_channels")
            self.connectors = nn.ModuleList(
                ofd_connector(cs, ct) for cs, ct in zip(self.student_channels, widths, strict=True)
            )
        else:
            if self.student_channels is not None and self.student_channels != widths:
                raise InputError(
                    f"without connectors student widths {self.student_channels} must equal "
                    f"the teacher's {widths}"
                )
            self.connectors = nn.ModuleList()
        self.scale = float(scale)
        for i, m in enumerate(ms):
            self.register_buffer(f"margin{i}", m.view(1, -1, 1, 1).clone())

    @property
    def num_stages(self) -> int:
        return len(self.teacher_channels)

    def margin(self, stage: int) -> Tensor:
        """The ``(1, C_t, 1, 1)`` margin buffer of ``stage``."""
        return getattr(self, f"margin{stage}")

    def default_level_weights(self, n: int) -> list[float]:
        """The OFD stage weights ``1 / 2^(n - i - 1)`` (the deepest stage gets 1)."""
        return [1.0 / 2 ** (n - i - 1) for i in range(n)]

    def check(self, s_list: list[Tensor], t_list: list[Tensor]) -> None:
        _check_widths(t_list, self.teacher_channels, "teacher")
        if self.student_channels is not None:
            _check_widths(s_list, self.student_channels, "student")
        elif not len(self.connectors):
            _check_widths(s_list, self.teacher_channels, "student")

    def level_loss(self, level: int, s: Tensor, t: Tensor) -> Tensor:
        _same_hw(s, t, level, "OFD")
        src = self.connectors[level](s) if len(self.connectors) else s
        return self.scale * ofd_partial_l2(src, t, self.margin(level)) / s.shape[0]

    def extra_repr(self) -> str:
        return f"stages={self.num_stages}, scale={self.scale:g}, " + super().extra_repr()
