"""Knowledge-distillation losses as small strategy objects chosen by name.

Every distiller is an ``nn.Module`` called as ``loss(student_feats, teacher_feats)`` on two
lists of ``(N, C, H, W)`` feature maps (one per level) and returning a 0-d tensor; learnable
parts are built from declared channel widths. Registered names:

=========  ===============================================================================
``nst``    :class:`~baselines.distill.nst.NSTLoss` -- Neuron Selectivity Transfer (MMD^2,
           polynomial kernel), Huang & Wang 2017.
``ofd``    :class:`~baselines.distill.ofd.OFDLoss` -- Overhaul of Feature Distillation
           (margin ReLU, connector, partial L2), Heo et al. ICCV 2019. Pre-ReLU features.
``sp``     :class:`~baselines.distill.sp.SPLoss` -- Similarity-Preserving KD (batch Gram),
           Tung & Mori ICCV 2019.
``spkd``   :class:`~baselines.distill.spkd.SPKDLoss` -- matting spatial + channel similarity,
           Yoon, Park, Cho SPL 2020 (what DCP distils with).
``sd``     :class:`~baselines.distill.sd.SelfDistillLoss` -- SDNet self-distillation (wraps
           :func:`baselines.losses.self_distillation_loss`); no teacher features.
``none``   :class:`~baselines.distill.base.NoDistill` -- zero.
=========  ===============================================================================

Shared conventions (teacher detached, level weights, the ``weight`` balance factor and its
relation to the DCP paper's ``lambda_4`` / ``w_3``) are in :mod:`baselines.distill.base`.

Examples
--------
>>> import torch
>>> from baselines.distill import get_distiller
>>> kd = get_distiller("spkd", student_channels=[8], teacher_channels=[16], w_sp=1.0, w_ch=1.0)
>>> s, t = torch.rand(2, 8, 5, 5, requires_grad=True), torch.rand(2, 16, 5, 5)
>>> loss = kd([s], [t])
>>> loss.backward()
>>> s.grad is not None and kd.adapters[0].weight.grad is not None
True
"""

from __future__ import annotations

from baselines.distill.base import (
    DISTILLERS,
    Distiller,
    NoDistill,
    get_distiller,
    list_distillers,
    register_distiller,
)
from baselines.distill.nst import NSTLoss, nst_mmd
from baselines.distill.ofd import OFDLoss, ofd_connector, ofd_margin, ofd_partial_l2
from baselines.distill.sd import SelfDistillLoss
from baselines.distill.sp import SPLoss, sp_gram, sp_loss
from baselines.distill.spkd import SPKDLoss, channel_similarity, spatial_similarity

__all__ = [
    "DISTILLERS",
    "Distiller",
    "register_distiller",
    "get_distiller",
    "list_distillers",
    "NoDistill",
    "NSTLoss",
    "nst_mmd",
    "OFDLoss",
    "ofd_margin",
    "ofd_partial_l2",
    "ofd_connector",
    "SPLoss",
    "sp_gram",
    "sp_loss",
    "SPKDLoss",
    "spatial_similarity",
    "channel_similarity",
    "SelfDistillLoss",
]
