"""Channel coupling: which BatchNorm channels must be kept or removed together.

Torch-Pruning's ``DependencyGraph`` (pip ``torch-pruning==1.6.1``; ``methods.md`` section 3.1)
traces a forward pass and, for every convolution's output channels, returns the *group* of
layer slices that must be pruned with it: the BN that normalises it, the next convolution's
input channels, every branch joined by a residual add, the slices of a concat, the channels of
a depthwise convolution. We turn each group into a :class:`CouplingUnit`: its root channels and,
for each member BN, the map ``BN channel -> root channel``. A criterion scores and selects *root*
channels, so coupled BNs always keep exactly corresponding channels.

What Torch-Pruning does not see (``methods.md`` section 3.1, ``architectures.md`` section 8):
DIM's max-unpooling ties (indices carry the encoder's channel count to the decoder); they are
count ties, applied by :func:`count_ties` with DCP's ``max`` rule.

**GCA** is traced on a proxy (:mod:`baselines.pruning.spectral`): its spectral-norm wrappers
convolve functionally with ``weight_bar / sigma`` and its attention blocks mix channels through
``unfold``/``bmm``/``fold``, neither of which Torch-Pruning can follow. The proxy's units are
renamed to the real model (``X`` -> ``X.module`` for a wrapped convolution; the proxy-only
probes are dropped). What is prunable in GCA, by the rules of :mod:`baselines.pruning.criteria`:

* every BN-scored unit: the stem convolutions, each BasicBlock's inner width (``conv1``/``bn1``),
  the residual streams (each coupled, through the adds, with the shortcut branch whose output
  joins it in the decoder, the ``downsample``/``upsample`` BNs and the attention block's ``W``
  conv and BN), the first conv of each shortcut branch and the guidance head (whose last BN is
  coupled with the input channels of *both* blocks' ``guidance_conv``);
* the shortcut convs (conv->ReLU->BN) are ordinary units (ReLU is element-wise);
* the decoder's ConvTranspose2d layers are pruned on both sides (their input is a residual
  stream, their output a ``bn1`` width);
* **fixed**: each attention block's key channels (``guidance_conv`` output, 64, no BN, so not
  BN-scored; the published relation ``keys = guidance / 2`` is not kept once the guidance head is
  pruned, and nothing in the forward needs it), the 1-channel alpha conv (network output), and
  the 6 input channels.
"""

from __future__ import annotations

import copy
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "CouplingUnit",
    "coupling_units",
    "count_ties",
    "default_example_inputs",
    "family_of",
    "resolve_bn_groups",
    "implied_param_count",
    "removed_indices",
    "ExampleInputs",
]

_BN = nn.modules.batchnorm._BatchNorm

#: A tracing input: one tensor, or the positional arguments (GCA: image, one-hot trimap).
ExampleInputs = torch.Tensor | tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class CouplingUnit:
    """One Torch-Pruning group, reduced to what selection and counting need.

    Attributes
    ----------
    root
        Name of the root convolution (the group is rooted at its output channels).
    size
        Number of root channels.
    members
        BN name -> ``((bn_channel, root_channel), ...)``; a BN can span several units (e.g.
        SDNet's AMPA BN over a 3-way concat), but each BN channel lies in exactly one unit.
    deps
        ``(module name, "out" | "in", ((local_index, root_channel), ...))`` for every
        parameterised module the group slices: the data :func:`implied_param_count` uses.
    fixed
        The group reaches a network output (its width is part of the output shape), so it is
        never pruned.
    """

    root: str
    size: int
    members: Mapping[str, tuple[tuple[int, int], ...]]
    deps: tuple[tuple[str, str, tuple[tuple[int, int], ...]], ...]
    fixed: bool


# --------------------------------------------------------------------------------------------
# families


def family_of(model: nn.Module) -> str:
    """Registry name of the family ``model`` belongs to (by class)."""
    from baselines.models.dim import DIMModel
    from baselines.models.gca import GCAMatting
    from baselines.models.indexnet import IndexNetMatting
    from baselines.models.pspnet import PSPNet
    from baselines.models.sdnet import SDNet

    table: tuple[tuple[type, str], ...] = (
        (DIMModel, "dim"),
        (SDNet, "sdnet"),
        (IndexNetMatting, "indexnet"),
        (PSPNet, "pspnet50"),
        (GCAMatting, "gca"),
    )
    for cls, name in table:
        if isinstance(model, cls):
            return name
    raise TypeError(f"no pruning support for {type(model).__name__}")


def default_example_inputs(model: nn.Module) -> ExampleInputs:
    """A small input that traces ``model``: ``1x4x64x64`` (matting; SDNet: its
    ``in_channels``), ``1x3x65x65`` (PSPNet needs sides ``8k+1``) or, for GCA, the pair
    ``(1x3x64x64 image, 1x3x64x64 one-hot trimap)``."""
    fam = family_of(model)
    if fam == "pspnet50":
        return torch.randn(1, 3, 65, 65)
    if fam == "sdnet":
        return torch.randn(1, model.in_channels, 64, 64)  # type: ignore[arg-type]
    if fam == "gca":
        classes = torch.arange(64 * 64).reshape(1, 64, 64) % 3  # bg / unknown / fg stripes
        trimap = torch.nn.functional.one_hot(classes, 3).permute(0, 3, 1, 2).float()
        return (torch.randn(1, 3, 64, 64), trimap)
    return torch.randn(1, 4, 64, 64)


def _flatten(o: Any) -> list[torch.Tensor]:
    if isinstance(o, torch.Tensor):
        return [o]
    if isinstance(o, Mapping):
        o = list(o.values())
    out: list[torch.Tensor] = []
    for x in o:
        out += _flatten(x)
    return out


def _output_transform(model: nn.Module) -> Callable[[Any], list[torch.Tensor]]:
    """Which outputs have a fixed width. SDNet's ``level_features`` are distillation taps whose
    width pruning may change (like DIM's features), so only its mattes and 1-channel maps are
    outputs; other families: every tensor returned."""
    if family_of(model) == "sdnet":
        return lambda o: [o.alpha, *o.side_alphas, *o.features]
    return _flatten


def resolve_bn_groups(model: nn.Module, groups: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Map every BN under ``groups`` to its part.

    ``layer_groups`` of DIM, SDNet and GCA lists BN names; those of IndexNet and PSPNet list
    top-level children. An entry names a BN or a module prefix (every BN under it). Returns
    ``{bn_name: part}`` in registration order; a BN claimed by two parts is an error.
    """
    bns = [n for n, m in model.named_modules() if isinstance(m, _BN)]
    out: dict[str, str] = {}
    for part, names in groups.items():
        for entry in names:
            hit = [b for b in bns if b == entry or b.startswith(entry + ".")]
            if not hit:
                raise ValueError(f"groups[{part!r}]: {entry!r} names no BatchNorm layer")
            for b in hit:
                if out.get(b, part) != part:
                    raise ValueError(f"BN {b!r} is in both {out[b]!r} and {part!r}")
                out[b] = part
    return {b: out[b] for b in bns if b in out}


def count_ties(model: nn.Module) -> list[tuple[str, str]]:
    """BN pairs that must keep the same *number* of channels but that the dependency graph does
    not couple: DIM's unpooling ties (:data:`baselines.models.dim.UNPOOL_TIES`, DCP
    ``pruning.py``). Empty for the other families."""
    if family_of(model) != "dim":
        return []
    from baselines.models.dim import DCP_BN_ORDER, UNPOOL_TIES

    return [(DCP_BN_ORDER[a], DCP_BN_ORDER[b]) for a, b in UNPOOL_TIES]


# --------------------------------------------------------------------------------------------
# dependency graph


def build_graph(model: nn.Module, example_inputs: ExampleInputs | None = None) -> Any:
    """Torch-Pruning ``DependencyGraph`` of ``model``, traced in eval mode (IndexNet's ASPP BN on
    a 1x1 map fails in training mode with batch 1; PSPNet's aux head runs only in training).

    A GCA model must be a proxy from :func:`baselines.pruning.spectral.make_traceable`.
    """
    import torch_pruning as tp

    from baselines.models.gca import SpectralNorm

    if any(isinstance(m, SpectralNorm) for m in model.modules()):
        raise ValueError(
            "build_graph: the model has SpectralNorm wrappers, which Torch-Pruning cannot trace; "
            "trace a proxy from baselines.pruning.spectral.make_traceable"
        )
    x = default_example_inputs(model) if example_inputs is None else example_inputs
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dg = tp.DependencyGraph().build_dependency(
                model, example_inputs=x, output_transform=_output_transform(model)
            )
    finally:
        model.train(was_training)
    return dg


def _units_from_graph(model: nn.Module, dg: Any) -> list[tuple[CouplingUnit, Any, Any]]:
    """Units plus (root module, root pruning fn) for surgery."""
    names = {m: n for n, m in model.named_modules()}
    roots = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # not ignored_layers=...: Torch-Pruning drops every group with an ignored member
        for g in dg.get_all_groups(root_module_types=roots):
            root_dep = g[0].dep
            root = root_dep.target.module
            members: dict[str, list[tuple[int, int]]] = {}
            deps = []
            fixed = False
            for item in g:
                dep, idxs, ridx = item.dep, item.idxs, item.root_idxs
                node = dep.target
                if "OutputOp" in type(node.module).__name__ or len(node.outputs) == 0:
                    fixed = True
                mod = node.module
                if not isinstance(mod, nn.Module) or mod not in names:
                    continue
                kind = "out" if dg.is_out_channel_pruning_fn(dep.handler) else "in"
                pairs = tuple(zip(map(int, idxs), map(int, ridx), strict=True))
                deps.append((names[mod], kind, pairs))
                if isinstance(mod, _BN) and kind == "out":
                    members.setdefault(names[mod], []).extend(pairs)
            size = int(dg.get_out_channels(root))
            unit = CouplingUnit(
                root=names[root],
                size=size,
                members={k: tuple(sorted(set(v))) for k, v in members.items()},
                deps=tuple(deps),
                fixed=fixed,
            )
            out.append((unit, root, root_dep.handler))
    return out


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[Any, list[CouplingUnit]]] = (
    weakref.WeakKeyDictionary()
)
#: Units by architecture (class, parameter names and shapes, the module tree's repr, which
#: holds every layer's configuration): the units are names and indices only, a function of
#: the architecture, so a second network of the same one (a fresh teacher, a deep copy for
#: the pruning stage) reuses them. Tracing GCA's proxy takes 0.7 s per network.
_BY_ARCH: dict[tuple[Any, ...], list[CouplingUnit]] = {}


def _signature(model: nn.Module) -> tuple[Any, ...]:
    return tuple((n, tuple(p.shape)) for n, p in model.named_parameters())


def coupling_units(
    model: nn.Module, example_inputs: ExampleInputs | None = None
) -> list[CouplingUnit]:
    """The coupling units of ``model`` (cached per model object and parameter shapes).

    Parameters
    ----------
    model
        A DIM, SDNet, IndexNet, PSPNet-50 or GCA model. GCA is traced on a proxy
        (:mod:`baselines.pruning.spectral`) and the units renamed to ``model``'s modules.
    example_inputs
        Tracing input; default :func:`default_example_inputs`.
    """
    sig = _signature(model)
    hit = _CACHE.get(model)
    if hit is not None and hit[0] == sig:
        return hit[1]
    arch = (type(model).__module__, type(model).__qualname__, sig, repr(model))
    units = _BY_ARCH.get(arch) if example_inputs is None else None
    if units is None:
        if family_of(model) == "gca":
            units = _gca_units(model, example_inputs)
        else:
            graph = build_graph(model, example_inputs)
            units = [u for u, _, _ in _units_from_graph(model, graph)]
        if example_inputs is None:
            _BY_ARCH[arch] = units
    _CACHE[model] = (sig, units)
    return units


def _gca_units(model: nn.Module, example_inputs: ExampleInputs | None) -> list[CouplingUnit]:
    """GCA's units: traced on a traceable deep copy, renamed to ``model``'s modules."""
    from baselines.pruning.spectral import make_traceable

    if example_inputs is None:
        example_inputs = default_example_inputs(model)
    proxy = copy.deepcopy(model)
    state = make_traceable(proxy)
    triples = _units_from_graph(proxy, build_graph(proxy, example_inputs))
    out = []
    for u, _, _ in triples:
        deps = []
        for name, kind, pairs in u.deps:
            real = state.real_name(name)
            if real is not None:
                deps.append((real, kind, pairs))
        # a probe may root a group (Torch-Pruning takes the first module it traced): name the
        # unit after its first real module whose output channels it holds
        root = state.real_name(u.root) or next(n for n, k, _ in deps if k == "out")
        out.append(
            CouplingUnit(root=root, size=u.size, members=u.members, deps=tuple(deps), fixed=u.fixed)
        )
    return out


# --------------------------------------------------------------------------------------------
# parameter count implied by a selection


def _leaf_params(m: nn.Module, out_keep: int | None, in_keep: int | None) -> int:
    """Parameters of ``m`` (direct parameters only) with ``out_keep`` / ``in_keep`` channels.

    A convolution wrapped by GCA's ``SpectralNorm`` (``weight_bar``, ``weight_u``, ``weight_v``,
    no ``weight``) counts ``o*i*k*k`` plus ``u`` (weight dimension 0: ``o`` for ``Conv2d``, ``i``
    for ``ConvTranspose2d``) plus ``v`` (the other dimension times ``k*k``), as GCA's
    ``parameters()`` does.
    """
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        o = m.out_channels if out_keep is None else out_keep
        i = m.in_channels if in_keep is None else in_keep
        k = m.kernel_size[0] * m.kernel_size[1]
        if "weight_bar" in m._parameters:
            if m.groups != 1 or m.bias is not None:
                raise NotImplementedError("grouped or biased spectral-norm convolution")
            d0, d1 = (i, o) if isinstance(m, nn.ConvTranspose2d) else (o, i)
            return o * i * k + d0 + d1 * k
        if m.groups == 1:
            w = o * i * k
        elif m.groups == m.in_channels == m.out_channels:  # depthwise: pruned as one
            o = i = min(o, i)
            w = o * k
        else:
            raise NotImplementedError(f"grouped conv with groups={m.groups}")
        return w + (o if m.bias is not None else 0)
    if isinstance(m, nn.Linear):
        o = m.out_features if out_keep is None else out_keep
        i = m.in_features if in_keep is None else in_keep
        return o * i + (o if m.bias is not None else 0)
    if isinstance(m, _BN):
        c = m.num_features if out_keep is None else out_keep
        return 2 * c if m.affine else 0
    if isinstance(m, nn.PReLU):
        if m.num_parameters == 1:
            return 1
        return m.num_parameters if out_keep is None else out_keep
    n = sum(p.numel() for p in m.parameters(recurse=False))
    if n:
        raise NotImplementedError(f"cannot count parameters of {type(m).__name__}")
    return 0


def removed_indices(
    units: Sequence[CouplingUnit], kept_roots: Mapping[int, set[int]]
) -> dict[tuple[str, str], set[int]]:
    """``(module name, "out" | "in") -> removed channel indices`` (teacher numbering) when unit
    ``i`` keeps root channels ``kept_roots[i]`` (units not in ``kept_roots`` keep all)."""
    removed: dict[tuple[str, str], set[int]] = {}
    for ui, keep in kept_roots.items():
        for name, kind, pairs in units[ui].deps:
            drop = {loc for loc, r in pairs if r not in keep}
            if drop:
                removed.setdefault((name, kind), set()).update(drop)
    return removed


def implied_param_count(
    model: nn.Module, units: Sequence[CouplingUnit], kept_roots: Mapping[int, set[int]]
) -> int:
    """Parameter count of ``model`` after keeping root channels ``kept_roots[unit index]``.

    Computed from the groups' index maps and per-layer formulas (conv ``o*i*k*k (+o)``,
    depthwise ``c*k*k``, BN ``2c``, PReLU ``c``; a GCA spectral-norm conv adds its ``u`` and
    ``v``, see :func:`_leaf_params`), independently of Torch-Pruning's pruning functions, so it
    cross-checks :func:`baselines.pruning.surgery.prune_model`.
    """
    removed = removed_indices(units, kept_roots)
    total = 0
    for name, m in model.named_modules():
        if not any(True for _ in m.parameters(recurse=False)):
            continue
        ro, ri = removed.get((name, "out"), set()), removed.get((name, "in"), set())
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.groups > 1:
            ro = ri = ro | ri
        out_keep = in_keep = None
        if ro:
            full = m.num_features if isinstance(m, _BN) else None
            full = full or getattr(m, "out_channels", None) or getattr(m, "num_parameters", None)
            full = full or getattr(m, "out_features", None)
            out_keep = int(full) - len(ro)
        if ri:
            full = getattr(m, "in_channels", None) or getattr(m, "in_features", None)
            in_keep = int(full) - len(ri)
        total += _leaf_params(m, out_keep, in_keep)
    return total
