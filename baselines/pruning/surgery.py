"""Physical channel removal: turn a teacher and a :class:`ChannelSpec` into a slimmer network.

* DIM: rebuilt as ``DIMModel(channel_spec=widths)`` and the kept slices copied (conv weight
  ``[kept_out][:, kept_in]``, bias and BN tensors ``[kept_out]``), so the result is the same
  class a checkpoint with that spec rebuilds. The max-unpooling ties are count ties: the k-th
  kept decoder channel is unpooled with the k-th kept encoder channel's indices, which equals
  the teacher's pairing only where the two kept index sets coincide (DCP re-initialises the
  pruned network, ``methods.md`` 1.2, so it never depended on the pairing).
* SDNet, IndexNet, PSPNet-50: Torch-Pruning's ``DependencyGraph`` on a deep copy; for each
  coupling unit the complement of the kept channels is pruned as one group.
* GCA: the same on a traceable proxy (:mod:`baselines.pruning.spectral`): every spectral-norm
  wrapper is replaced by its convolution holding ``weight_bar`` as ``weight`` and every
  attention block gets a channel-equivalent forward; Torch-Pruning prunes the proxy; then each
  convolution is re-wrapped in a spectral norm whose ``u`` / ``v`` are re-estimated on the
  pruned weight (its leading singular pair, so ``sigma`` is exact and the pruned network gives
  sensible output before any fine-tuning), or, with ``sn_vectors="slice"``, the teacher's
  vectors sliced to the kept channels of weight dimension 0 / dimension 1 (x k x k), indices
  taken from the coupling units (dimension 0 is the output of a ``Conv2d``, the *input* of a
  ``ConvTranspose2d``). The result is a :class:`~baselines.models.gca.GCAMatting` with the
  official key layout and smaller tensors.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from baselines.pruning.coupling import (
    CouplingUnit,
    ExampleInputs,
    _units_from_graph,
    build_graph,
    coupling_units,
    default_example_inputs,
    family_of,
    implied_param_count,
    removed_indices,
)
from baselines.pruning.spec import ChannelSpec

__all__ = [
    "prune_model",
    "spec_param_count",
    "count_params",
    "reinitialise",
    "slimming_init",
]


def count_params(model: nn.Module) -> int:
    """All parameters (``nn.Parameter`` objects, trainable or not)."""
    return int(sum(p.numel() for p in model.parameters()))


@torch.no_grad()
def reinitialise(model: nn.Module, seed: int, *, power_iterations: int = 5) -> nn.Module:
    """Draw fresh weights for ``model`` in place (same architecture and widths), seeded.

    Every submodule with ``reset_parameters`` gets PyTorch's default initialisation (convs:
    Kaiming-uniform with ``a = sqrt(5)`` on the weight's own fan-in; BN: gamma 1, beta 0,
    running statistics reset). GCA's spectral-norm convolutions (a ``weight_bar`` instead of a
    ``weight``) get the same default on ``weight_bar`` and fresh unit ``u`` / ``v`` refined by
    ``power_iterations`` power-iteration steps, so ``sigma`` matches the new weight. The
    families' own initialisations (GCA's Xavier, DIM's VGG) are *not* re-applied: this is the
    "re-initialised thin network" of the DCP training stage (``methods.md`` 1.2), whose code
    builds the student class fresh with PyTorch defaults. Returns ``model``.
    """
    import math

    gen = torch.Generator().manual_seed(int(seed))
    state = torch.get_rng_state()
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    try:
        for m in model.modules():
            if m is model:
                continue
            bar = getattr(m, "weight_bar", None)
            if isinstance(bar, torch.Tensor):
                nn.init.kaiming_uniform_(bar, a=math.sqrt(5))
                for name in ("weight_u", "weight_v"):
                    vec = getattr(m, name)
                    vec.normal_()
                    vec.div_(vec.norm() + 1e-12)
                continue
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                m.reset_running_stats()
        for m in model.modules():
            if hasattr(m, "power_iterate") and power_iterations > 0:
                m.power_iterate(power_iterations)
    finally:
        torch.set_rng_state(state)
    return model


@torch.no_grad()
def slimming_init(model: nn.Module, *, gamma: float = 0.5, freeze_beta: bool = True) -> int:
    """The DCP pruning-stage student's BN state (``train_prune.py``, ``methods.md`` 1.2): every
    BatchNorm gamma filled with ``gamma`` (0.5) and beta zeroed and, with ``freeze_beta``,
    excluded from training (``requires_grad = False``), so a channel whose gamma is driven to 0
    outputs 0 after ReLU and removing it loses nothing. Returns the number of BNs set."""
    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            m.weight.fill_(float(gamma))
            m.bias.zero_()
            m.bias.requires_grad_(not freeze_beta)
            n += 1
    return n


def _check(spec: ChannelSpec, model: nn.Module) -> None:
    if spec.kept is None:
        raise ValueError("prune_model needs spec.kept (which channels); this spec has widths only")
    modules = dict(model.named_modules())
    for name, w in spec.teacher_widths.items():
        m = modules.get(name)
        if m is None or getattr(m, "num_features", None) != w:
            raise ValueError(f"spec layer {name!r} does not match the model")


def _unit_keep(unit: CouplingUnit, spec: ChannelSpec) -> set[int] | None:
    """Kept root channels of ``unit`` from the spec's member BNs (they must agree)."""
    assert spec.kept is not None
    keep: set[int] | None = None
    covered: set[int] = set()
    for b, pairs in unit.members.items():
        if b not in spec.kept:
            continue
        kept_local = set(spec.kept[b])
        roots = {r for loc, r in pairs if loc in kept_local}
        dropped = {r for loc, r in pairs if loc not in kept_local}
        covered |= {r for _, r in pairs}
        if keep is None:
            keep = set(range(unit.size)) - dropped
        if roots & dropped or (keep & {r for _, r in pairs}) != roots:
            raise ValueError(f"spec disagrees within the coupled group rooted at {unit.root!r}")
        keep -= dropped
    return keep


def _prune_dim(model: nn.Module, spec: ChannelSpec) -> nn.Module:
    from baselines.models.dim import DCP_BN_ORDER, DIMModel

    assert spec.kept is not None
    widths = [spec.widths.get(n, model.widths[i]) for i, n in enumerate(DCP_BN_ORDER)]
    new = DIMModel(widths, return_features=model.return_features)
    old_m, new_m = dict(model.named_modules()), dict(new.named_modules())
    keep_in = torch.arange(4)
    with torch.no_grad():
        for i, bn_name in enumerate(DCP_BN_ORDER):
            keep = torch.tensor(spec.kept.get(bn_name, list(range(model.widths[i]))))
            conv_name = bn_name[:-1] + "0"
            oc, nc = old_m[conv_name], new_m[conv_name]
            nc.weight.copy_(oc.weight[keep][:, keep_in])
            nc.bias.copy_(oc.bias[keep])
            ob, nb = old_m[bn_name], new_m[bn_name]
            for t in ("weight", "bias", "running_mean", "running_var"):
                getattr(nb, t).copy_(getattr(ob, t)[keep])
            nb.num_batches_tracked.copy_(ob.num_batches_tracked)
            keep_in = keep
    new.train(model.training)
    return new


def prune_model(
    model: nn.Module,
    spec: ChannelSpec,
    example_inputs: ExampleInputs | None = None,
    *,
    sn_vectors: str = "svd",
    sn_power_iterations: int = 0,
) -> nn.Module:
    """A new, slimmer network keeping the channels ``spec.kept`` (``model`` is not modified).

    Parameters
    ----------
    model
        The teacher-architecture network the spec was selected on.
    spec
        From a criterion's ``select``; must carry ``kept`` indices.
    example_inputs
        Tracing input (default: a small family input; GCA: ``(image, trimap)``).
    sn_vectors
        GCA only: how each re-wrapped spectral-norm layer gets its ``u`` / ``v``. ``"svd"``
        (default): the leading singular pair of the pruned ``weight_bar`` (eval ``sigma`` = its
        largest singular value; :func:`baselines.pruning.spectral.reestimate`). ``"slice"``:
        the teacher's vectors at the kept channels, as before (they underestimate ``sigma``,
        so an untrained pruned GCA saturates; for networks whose vectors are overwritten next).
    sn_power_iterations
        GCA only: power-iteration steps on each re-wrapped ``u`` / ``v`` afterwards (default 0).

    Returns
    -------
    nn.Module
        The pruned network with inherited weights; ``count_params`` of it equals
        :func:`spec_param_count`.
    """
    _check(spec, model)
    if sn_vectors not in ("svd", "slice"):
        raise ValueError(f"sn_vectors must be 'svd' or 'slice', got {sn_vectors!r}")
    if family_of(model) == "dim":
        return _prune_dim(model, spec)
    pruned = copy.deepcopy(model)
    state = None
    if family_of(model) == "gca":
        from baselines.pruning.spectral import make_traceable

        state = make_traceable(pruned)
        if example_inputs is None:
            example_inputs = default_example_inputs(model)
    dg = build_graph(pruned, example_inputs)
    units: list[CouplingUnit] = []
    kept_roots: dict[int, set[int]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for unit, root, fn in _units_from_graph(pruned, dg):
            units.append(unit)
            keep = _unit_keep(unit, spec)
            if keep is None or len(keep) == unit.size:
                continue
            kept_roots[len(units) - 1] = keep
            if unit.fixed:
                raise ValueError(f"spec prunes the output-coupled group rooted at {unit.root!r}")
            if not keep:
                raise ValueError(f"spec empties the group rooted at {unit.root!r}")
            drop = sorted(set(range(unit.size)) - keep)
            group = dg.get_pruning_group(root, fn, idxs=drop)
            group.prune()
    if state is not None:
        from baselines.pruning.spectral import restore

        removed = removed_indices(units, kept_roots)
        restore(pruned, state, removed, vectors=sn_vectors, power_iterations=sn_power_iterations)
    _refresh_metadata(pruned)
    return pruned


def _refresh_metadata(model: nn.Module) -> None:
    """Keep SDNet's ``GOctConv.in_channels`` / ``out_channels`` lists (plain attributes that
    Torch-Pruning does not know) equal to the pruned convolutions' widths."""
    from baselines.models.sdnet import GOctConv

    for m in model.modules():
        if isinstance(m, GOctConv):
            for key, conv in m.convs.items():
                i, j = (int(t) for t in key.split("to"))
                m.in_channels[i] = conv.in_channels
                m.out_channels[j] = conv.out_channels


def spec_param_count(model_name: str, spec: ChannelSpec, model: nn.Module | None = None) -> int:
    """The parameter count ``spec`` implies, without building the pruned network.

    DIM: :func:`baselines.models.dim.count_spec_params` (closed form from the 18 widths). Other
    families: :func:`baselines.pruning.coupling.implied_param_count` over the teacher's coupling
    units (per-layer formulas applied to the dependency groups' index maps; for GCA including the
    spectral-norm ``u`` / ``v`` vectors, which GCA's ``parameters()`` counts); ``model`` is the
    teacher (default: the registered network built plainly, which is the teacher unless it was
    narrowed or configured: pass such a teacher as ``model``).
    """
    if model_name == "dim":
        from baselines.models.dim import count_spec_params

        return int(count_spec_params(spec.widths))
    if model is None:
        from baselines.models.registry import get_entry

        model = get_entry(model_name).factory()
    if spec.kept is None:
        raise ValueError("spec_param_count needs spec.kept for coupled families")
    units = coupling_units(model)
    kept_roots: dict[int, set[int]] = {}
    for ui, u in enumerate(units):
        keep = _unit_keep(u, spec)
        if keep is not None and len(keep) < u.size:
            kept_roots[ui] = keep
    return implied_param_count(model, units, kept_roots)
