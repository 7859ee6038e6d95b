"""The BN-gamma L1 sparsity sub-gradient of the pruning stage (NS, CAP, DCP).

Network slimming minimises ``task loss + lambda * sum |gamma|`` by adding the sub-gradient
``lambda * sign(gamma)`` to ``gamma.grad`` after ``loss.backward()`` (Liu et al. 2017,
``main.py::updateBN``). DCP (``utils.update_BN``, ``methods.md`` section 1.2) uses
``s * w * sign(gamma)`` with ``s = 1e-5``, ``w = 10`` on encoder (``down``) BNs and ``1`` on
decoder (``up``) BNs. CAP's DCP re-implementation (``utils.fm2vector`` / ``utils.bn_loss``,
``methods.md`` section 2.2) replaces the scalar weight of some BNs by a per-channel guide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from baselines.pruning.coupling import resolve_bn_groups

__all__ = ["add_bn_l1_subgradient", "context_vector", "cap_guide"]


@torch.no_grad()
def add_bn_l1_subgradient(
    model: nn.Module,
    s: float,
    *,
    encoder_weight: float,
    decoder_weight: float,
    groups: Mapping[str, Sequence[str]],
    guide: Mapping[str, torch.Tensor] | None = None,
) -> int:
    """Add ``s * w * sign(gamma)`` to every grouped BN's ``weight.grad`` (call after backward).

    Parameters
    ----------
    model
        The network being sparsity-trained.
    s
        The sparsity strength (DCP ``--bns``, default there ``1e-5``).
    encoder_weight, decoder_weight
        ``w`` for BNs of ``groups["encoder"]`` / ``groups["decoder"]`` (DCP: 10 / 1; NS: 1 / 1).
    groups
        The family's ``layer_groups(model)``: BN names or module prefixes per part; BNs outside
        both parts get nothing (DCP's ``update_BN`` skips names with neither ``down`` nor ``up``).
    guide
        Optional BN name -> per-channel weights (length ``C``) that *replace* the part weight for
        that BN (CAP, see :func:`cap_guide`).

    Returns
    -------
    int
        Number of BN layers updated.

    Notes
    -----
    ``sign(0) = 0`` (``torch.sign``), as in both reference codes. A BN whose ``weight.grad`` is
    ``None`` (not reached by the loss) gets a zero gradient first; DCP's code would fail there.

    Examples
    --------
    >>> bn = nn.Sequential(nn.BatchNorm2d(2)); bn[0].weight.data = torch.tensor([0.5, -2.0])
    >>> add_bn_l1_subgradient(bn, 0.1, encoder_weight=10, decoder_weight=1,
    ...                       groups={"encoder": ["0"], "decoder": []})
    1
    >>> bn[0].weight.grad.tolist()
    [1.0, -1.0]
    """
    part_of = resolve_bn_groups(model, groups)
    modules = dict(model.named_modules())
    weights = {"encoder": float(encoder_weight), "decoder": float(decoder_weight)}
    n = 0
    for name, part in part_of.items():
        g = modules[name].weight
        if g is None:
            continue
        if g.grad is None:
            g.grad = torch.zeros_like(g)
        if guide is not None and name in guide:
            w = torch.as_tensor(guide[name], dtype=g.dtype, device=g.device).reshape(-1)
            if w.numel() != g.numel():
                raise ValueError(f"guide for {name!r} has {w.numel()} weights, BN has {g.numel()}")
        else:
            w = torch.tensor(weights.get(part, 0.0), dtype=g.dtype, device=g.device)
        g.grad.add_(torch.sign(g) * s * w)
        n += 1
    return n


@torch.no_grad()
def context_vector(fm: torch.Tensor) -> torch.Tensor:
    """CAP context vector, DCP form (``utils.fm2vector``): ``beta`` in ``[0, 1]^C``.

    ``F`` is ``N x C x H x W`` reshaped to ``N x C x HW``; the affinity ``A_n = F_n F_n^T``
    (``C x C``) is summed over the batch, then over its first axis (column sums), and
    min-max normalised: ``beta = (a - min a) / (max a - min a)``. A constant vector (``max ==
    min``) gives zeros (DCP's code would divide by zero).

    Examples
    --------
    >>> fm = torch.tensor([[[[1.0]], [[2.0]], [[0.0]]]])  # N=1, C=3, 1x1
    >>> context_vector(fm).tolist()
    [0.5, 1.0, 0.0]
    """
    f = fm.reshape(fm.shape[0], fm.shape[1], -1).double()
    a = torch.bmm(f, f.transpose(1, 2)).sum(dim=0).sum(dim=0)
    lo, hi = a.min(), a.max()
    if hi == lo:
        return torch.zeros_like(a).to(fm.dtype)
    return ((a - lo) / (hi - lo)).to(fm.dtype)


def cap_guide(
    features: Mapping[str, torch.Tensor], *, scale: float = 10.0
) -> dict[str, torch.Tensor]:
    """Per-channel L1 weights ``scale * (1 - beta)`` for :func:`add_bn_l1_subgradient`.

    ``features[bn]`` is the feature map the guide is computed from. In DCP's CAP baseline these
    are DIM's distilled encoder features (outputs of blocks 2-5, after ReLU and max-pool) and
    the guided BNs are the last BN of each of those blocks; channels with much context
    (``beta -> 1``) are pushed less.
    """
    return {name: scale * (1.0 - context_vector(f)) for name, f in features.items()}
