"""Channel-selection criteria (UNI, NS, CAP, DCP) as small strategy objects chosen by name.

Every criterion scores BN channels by ``|gamma|`` and turns a requested ratio into a
:class:`~baselines.pruning.spec.ChannelSpec`; they differ in *where* the ratio is applied and,
for the sparsity-training stage, in the L1 weights they ask of
:func:`baselines.pruning.sparsity.add_bn_l1_subgradient`:

================  ===========================================  ===================================
name              selection                                    sparsity stage (weights on s)
================  ===========================================  ===================================
``uni``           same ratio in every prunable layer           none (no sparsity training)
``ns``            one global threshold over all prunable BNs   1 everywhere (Liu et al. 2017)
``cap``           as ``ns`` (CAP thresholds gamma like NS)     context-guided, DCP form (below)
``dcp``           two global thresholds: encoder, decoder      encoder 10, decoder 1 (DCP code)
================  ===========================================  ===================================

Sources: ``methods.md`` section 1.2 (DCP ``pruning.model_prune``, ``utils.update_BN``), 2.1
(network slimming ``vggprune.py``), 2.2 (CAP; DCP's ``utils.fm2vector`` / ``utils.bn_loss``).

Common rules (our choices, stated once):

* **Units, not layers.** Channels are selected per :class:`~baselines.pruning.coupling.
  CouplingUnit` (a Torch-Pruning dependency group), so channels tied by residual adds, concats
  and depthwise convs go together. A unit channel's score is the **mean** ``|gamma|`` over the
  BN channels it spans (Torch-Pruning's ``BNScaleImportance`` group reduction); for an uncoupled
  BN (all of DIM) it is that BN's ``|gamma|``. A global pool has one entry per unit channel.
* **Prunable** units: not reaching a network output, more than one channel, and every member BN
  inside ``groups``. The part (encoder/decoder) of a unit is that of its first member BN.
* **Global threshold** (``ns``, ``cap``, ``dcp``), as the NS and DCP code: sort the pool,
  ``t = sorted[floor(N * ratio)]``, keep channels with ``score > t`` (so ``floor(N*ratio)+1``
  or, with ties, more channels go). ``ratio == 0`` keeps everything.
* **Minimum width** ``min_channels`` (default 1) per unit: a unit the threshold would empty keeps
  its ``min_channels`` best channels. NS's code has no such guard (``methods.md`` 2.1); the
  clamp is reported through the achieved ratio.
* **Count ties** Torch-Pruning cannot see (DIM's max-unpooling, :func:`~baselines.pruning.
  coupling.count_ties`): both layers get the larger count (DCP's ``max`` repair) and each keeps
  its own best channels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from baselines.pruning.coupling import (
    CouplingUnit,
    count_ties,
    coupling_units,
    family_of,
    implied_param_count,
    resolve_bn_groups,
)
from baselines.pruning.spec import ChannelSpec
from metrics.common import lookup

__all__ = [
    "Criterion",
    "UniformCriterion",
    "SlimmingCriterion",
    "CAPCriterion",
    "DCPCriterion",
    "CRITERIA",
    "get_criterion",
    "list_criteria",
    "register_criterion",
]

_CRITERIA: dict[str, type[Criterion]] = {}
CRITERIA: Mapping[str, type[Criterion]] = _CRITERIA


def register_criterion(cls: type[Criterion]) -> type[Criterion]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    if cls.name in _CRITERIA:
        raise ValueError(f"criterion {cls.name!r} is already registered")
    _CRITERIA[cls.name] = cls
    return cls


def get_criterion(name: str, **kw: Any) -> Criterion:
    """Build the criterion registered as ``name`` (unknown names fail with close matches).

    Examples
    --------
    >>> get_criterion("dcp").encoder_weight
    10.0
    """
    return lookup(_CRITERIA, name, "pruning criterion")(**kw)


def list_criteria() -> list[str]:
    """Registered criterion names."""
    return sorted(_CRITERIA)


class Criterion:
    """Base class: shared unit scoring, clamping, ties and spec building.

    Parameters
    ----------
    min_channels
        Channels every prunable unit keeps at least (default 1).
    encoder_weight, decoder_weight
        Multipliers on ``s`` in the sparsity stage (see the table in the module docstring).
    """

    name: ClassVar[str] = ""
    #: Whether the criterion expects a sparsity-training stage before selection.
    sparsity: ClassVar[bool] = True
    #: Whether that stage also distils from the teacher (teacher alpha + feature KD), so the
    #: distillation loss and its weights shape the selection (DCP).
    distills: ClassVar[bool] = False
    default_encoder_weight: ClassVar[float] = 1.0
    default_decoder_weight: ClassVar[float] = 1.0

    def __init__(
        self,
        *,
        min_channels: int = 1,
        encoder_weight: float | None = None,
        decoder_weight: float | None = None,
    ) -> None:
        if min_channels < 1:
            raise ValueError(f"min_channels must be >= 1, got {min_channels}")
        self.min_channels = int(min_channels)
        self.encoder_weight = float(
            self.default_encoder_weight if encoder_weight is None else encoder_weight
        )
        self.decoder_weight = float(
            self.default_decoder_weight if decoder_weight is None else decoder_weight
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_channels={self.min_channels})"

    # -- the strategy ---------------------------------------------------------------------
    def _keep(self, scores: list[np.ndarray], parts: list[str], ratio: float) -> list[np.ndarray]:
        """Boolean keep masks, one per prunable unit (before clamping and ties)."""
        raise NotImplementedError

    # -- the shared pipeline --------------------------------------------------------------
    def regularize(
        self,
        model: nn.Module,
        s: float,
        *,
        groups: Mapping[str, Sequence[str]],
        guide: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        """Sparsity sub-gradient of this criterion (call after ``loss.backward()``)."""
        from baselines.pruning.sparsity import add_bn_l1_subgradient

        if not self.sparsity:
            return
        add_bn_l1_subgradient(
            model,
            s,
            encoder_weight=self.encoder_weight,
            decoder_weight=self.decoder_weight,
            groups=groups,
            guide=guide,
        )

    def select(
        self,
        model: nn.Module,
        ratio: float,
        *,
        groups: Mapping[str, Sequence[str]],
        example_inputs: torch.Tensor | None = None,
        model_name: str | None = None,
    ) -> ChannelSpec:
        """Choose the channels to keep for a requested pruning ``ratio``.

        Parameters
        ----------
        model
            The (sparsity-trained) teacher-architecture network.
        ratio
            Requested fraction of prunable channels to remove, in ``[0, 1)``.
        groups
            The family's ``layer_groups(model)`` (BN names or module prefixes per part).
        example_inputs
            Tracing input for the dependency graph (default: a small family input).
        model_name
            Registry name stored in the spec (default: the family's name).

        Returns
        -------
        ChannelSpec
            With ``kept`` indices, ``meta`` holding ``criterion``, ``requested_ratio``,
            ``prunable_channels``, ``kept_prunable_channels``, ``params_teacher`` and
            ``params_pruned`` (the count the spec implies); see :meth:`ChannelSpec.ratio`.
        """
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {ratio}")
        units = coupling_units(model, example_inputs)
        part_of = resolve_bn_groups(model, groups)
        modules = dict(model.named_modules())
        gamma = {
            n: modules[n].weight.detach().abs().double().cpu().numpy()
            for n in part_of
            if getattr(modules[n], "weight", None) is not None
        }
        prunable: list[int] = []
        scores: list[np.ndarray] = []
        parts: list[str] = []
        for ui, u in enumerate(units):
            if u.fixed or u.size < 2 or not u.members:
                continue
            if any(b not in gamma for b in u.members):
                continue
            acc = np.zeros(u.size)
            cnt = np.zeros(u.size)
            for b, pairs in u.members.items():
                loc = np.array([p[0] for p in pairs])
                root = np.array([p[1] for p in pairs])
                np.add.at(acc, root, gamma[b][loc])
                np.add.at(cnt, root, 1)
            if (cnt == 0).any():
                continue  # some root channels carry no BN: not a BN-scored unit
            prunable.append(ui)
            scores.append(acc / cnt)
            parts.append(part_of[next(iter(u.members))])

        masks = self._keep(scores, parts, ratio) if ratio > 0 else [s > -1 for s in scores]
        masks = [self._clamp(m, s) for m, s in zip(masks, scores, strict=True)]
        masks = self._apply_ties(model, units, prunable, scores, masks)

        kept_roots = {
            ui: set(np.flatnonzero(m).tolist()) for ui, m in zip(prunable, masks, strict=True)
        }
        spec = self._build_spec(model, units, part_of, kept_roots, model_name)
        n_prunable = int(sum(len(s) for s in scores))
        spec.meta.update(
            criterion=self.name,
            requested_ratio=float(ratio),
            min_channels=self.min_channels,
            prunable_channels=n_prunable,
            kept_prunable_channels=int(sum(int(m.sum()) for m in masks)),
            params_teacher=int(sum(p.numel() for p in model.parameters())),
            params_pruned=int(implied_param_count(model, units, kept_roots)),
        )
        if spec.model == "dim":
            from baselines.models.dim import count_spec_params

            spec.meta["params_pruned_formula"] = count_spec_params(spec.widths)
        return spec

    def _clamp(self, mask: np.ndarray, score: np.ndarray) -> np.ndarray:
        k = min(self.min_channels, len(score))
        if mask.sum() >= k:
            return mask
        out = np.zeros_like(mask)
        out[_top(score, k)] = True
        return out

    def _apply_ties(
        self,
        model: nn.Module,
        units: Sequence[CouplingUnit],
        prunable: list[int],
        scores: list[np.ndarray],
        masks: list[np.ndarray],
    ) -> list[np.ndarray]:
        ties = count_ties(model)
        if not ties:
            return masks
        where: dict[str, int] = {}
        for j, ui in enumerate(prunable):
            for b in units[ui].members:
                where[b] = j
        for a, b in ties:
            if a not in where or b not in where:
                raise ValueError(f"tied layers {a!r}, {b!r} must both be prunable")
            ja, jb = where[a], where[b]
            k = max(int(masks[ja].sum()), int(masks[jb].sum()))
            for j in (ja, jb):
                if masks[j].sum() < k:
                    masks[j] = np.zeros_like(masks[j])
                    masks[j][_top(scores[j], k)] = True
        return masks

    def _build_spec(
        self,
        model: nn.Module,
        units: Sequence[CouplingUnit],
        part_of: Mapping[str, str],
        kept_roots: Mapping[int, set[int]],
        model_name: str | None,
    ) -> ChannelSpec:
        modules = dict(model.named_modules())
        kept: dict[str, set[int]] = {b: set(range(modules[b].num_features)) for b in part_of}
        for ui, keep in kept_roots.items():
            for b, pairs in units[ui].members.items():
                drop = {loc for loc, r in pairs if r not in keep}
                kept[b] -= drop
        return ChannelSpec(
            model=model_name or family_of(model),
            widths={b: len(v) for b, v in kept.items()},
            kept={b: sorted(v) for b, v in kept.items()},
            teacher_widths={b: int(modules[b].num_features) for b in part_of},
            meta={
                "groups": {
                    p: [b for b in part_of if part_of[b] == p] for p in ("encoder", "decoder")
                }
            },
        )


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores (stable: ties broken by the lower index)."""
    return np.argsort(-score, kind="stable")[:k]


def _global_keep(scores: list[np.ndarray], ratio: float) -> list[np.ndarray]:
    """NS / DCP threshold: ``t = sorted(pool)[floor(N * ratio)]``, keep ``score > t``."""
    if not scores:
        return []
    pool = np.sort(np.concatenate(scores))
    t = pool[min(int(math.floor(len(pool) * ratio)), len(pool) - 1)]
    return [s > t for s in scores]


@register_criterion
class UniformCriterion(Criterion):
    """``uni``: the same ratio in every prunable unit; each keeps
    ``max(min_channels, round(n * (1 - ratio)))`` channels with the largest ``|gamma|``.
    Uniform 50% DIM gives DCP's "UNI 6.40M" (``methods.md`` 1.2). No sparsity training."""

    name = "uni"
    sparsity = False

    def _keep(self, scores: list[np.ndarray], parts: list[str], ratio: float) -> list[np.ndarray]:
        out = []
        for s in scores:
            m = np.zeros(len(s), dtype=bool)
            m[_top(s, max(1, int(round(len(s) * (1 - ratio)))))] = True
            out.append(m)
        return out


@register_criterion
class SlimmingCriterion(Criterion):
    """``ns``: network slimming (Liu et al., ICCV 2017; ``vggprune.py``): one global ``|gamma|``
    threshold over all prunable BNs. Sparsity stage: ``s * sign(gamma)`` on every BN."""

    name = "ns"

    def _keep(self, scores: list[np.ndarray], parts: list[str], ratio: float) -> list[np.ndarray]:
        return _global_keep(scores, ratio)


@register_criterion
class CAPCriterion(SlimmingCriterion):
    """``cap``: CAP (He et al., WACV 2021) **in the DCP re-implementation** (``methods.md`` 2.2).

    Selection is NS's global ``|gamma|`` threshold (CAP thresholds gamma as NS does). The
    difference is the sparsity stage: per-channel L1 weights from the context vector of
    :func:`baselines.pruning.sparsity.context_vector` (DCP ``utils.fm2vector``): for a guided BN,
    ``w_c = guide_scale * (1 - beta_c)``; every other BN gets weight 1 (DCP ``utils.bn_loss``:
    ``s * (1 - beta) * 10`` at the last BN of DIM encoder blocks 2-5, ``s`` elsewhere). Build the
    ``guide`` with :func:`baselines.pruning.sparsity.cap_guide`. Not verified against CAP's own
    (unreleased) code.

    Parameters
    ----------
    guided
        BN names that receive the context guide; default (DIM): DCP's ``bn_loss`` targets.
    guide_scale
        The ``10`` of DCP's ``bn_loss``.
    """

    name = "cap"
    #: DCP ``utils.bn_loss`` targets: the last BN of DIM encoder blocks 2-5.
    DIM_GUIDED: ClassVar[tuple[str, ...]] = (
        "down2.conv2.cbr_unit.1",
        "down3.conv3.cbr_unit.1",
        "down4.conv3.cbr_unit.1",
        "down5.conv3.cbr_unit.1",
    )

    def __init__(
        self, *, guided: Sequence[str] | None = None, guide_scale: float = 10.0, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.guided = tuple(self.DIM_GUIDED if guided is None else guided)
        self.guide_scale = float(guide_scale)

    def guide(self, features: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-channel weights for :meth:`regularize` from one feature map per guided BN."""
        from baselines.pruning.sparsity import cap_guide

        return cap_guide(dict(zip(self.guided, features, strict=True)), scale=self.guide_scale)


@register_criterion
class DCPCriterion(Criterion):
    """``dcp``: distillation-based channel pruning (Yoon et al., ACCV 2022, official code
    ``pruning.model_prune``): separate global ``|gamma|`` thresholds for the encoder pool and the
    decoder pool, each at ``ratio``; DIM unpooling ties repaired with ``max``. Sparsity stage:
    ``s * w * sign(gamma)``, ``w = 10`` encoder, ``1`` decoder (``utils.update_BN``), on a
    student that distils from the teacher while it is sparsified (``distills``: the teacher's
    alpha and the feature distillation act in the pruning stage, ``train_prune.py``; the
    pipeline, :func:`benchmark.prune_pipeline.prune`, adds those terms)."""

    name = "dcp"
    default_encoder_weight = 10.0
    distills = True

    def _keep(self, scores: list[np.ndarray], parts: list[str], ratio: float) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(scores)
        for p in sorted(set(parts)):
            idx = [i for i, q in enumerate(parts) if q == p]
            for i, m in zip(idx, _global_keep([scores[i] for i in idx], ratio), strict=True):
                out[i] = m
        return [m for m in out if m is not None]
