"""``create_model``: a registered architecture built, narrowed or pruned, with its weights.

It sits above :mod:`baselines.models` (the registry and the architectures) and
:mod:`baselines.pruning` (criteria and surgery, which know the architectures), so neither of
those imports the other in a loop. ``baselines.create_model`` and ``baselines.list_models``
are these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from baselines.models.registry import family_module, get_entry, list_models
from metrics import InputError

__all__ = ["create_model", "list_models"]


def create_model(name: str, *, checkpoint: str | Path | None = None, **kwargs: Any) -> Any:
    """Build a registered model; with ``checkpoint``, load its weights strictly.

    Our own checkpoints carry the model name and, for a pruned student, its channel spec:
    the spec rebuilds the slimmer network before the weights load (and wins over
    ``width_mult``).

    ``width_mult`` (keyword, default 1) builds a reduced-width variant: the registered network
    with every prunable layer cut to ``round(width_mult x width)`` channels by the UNI
    criterion and physical surgery (:mod:`baselines.pruning`), so families whose constructors
    have no width option (GCA, IndexNet, PSPNet, SDNet) narrow the same way; the quick
    profile of ``mattebench reproduce`` trains such teachers. The model carries the spec as
    ``mattebench_channel_spec`` and :func:`~baselines.models.checkpoint.save_checkpoint`
    stores it, so the checkpoint rebuilds the narrow network.

    Raises
    ------
    UnknownNameError
        For an unknown name (with close matches).
    InputError
        When the checkpoint is missing or its keys/shapes do not fit, naming the file and the
        first mismatches; for a ``width_mult`` outside ``(0, 1]``.
    """
    entry = get_entry(name)
    width_mult = kwargs.pop("width_mult", 1.0)
    if checkpoint is None:
        return _narrow(name, entry.factory(**kwargs), width_mult)
    from baselines.models.checkpoint import FORMAT, load_checkpoint, read_checkpoint

    obj = read_checkpoint(checkpoint)
    full_spec = None
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        if obj.get("model") not in (None, name):
            raise InputError(
                f"{Path(checkpoint).name} holds a {obj['model']!r} model, not {name!r}"
            )
        spec = obj.get("channel_spec")
        if spec is not None and "channel_spec" not in kwargs:
            if isinstance(spec, Mapping) and "format" in spec:
                full_spec = spec  # a pruned student: rebuilt below by surgery on the full net
            else:
                kwargs["channel_spec"] = spec  # widths the factory takes itself (DIM)
    model = entry.factory(**kwargs)
    if full_spec is not None:
        from baselines.pruning import ChannelSpec, prune_model

        spec_obj = ChannelSpec.from_dict(full_spec)
        # the checkpoint sets every tensor next, spectral-norm u / v included: no re-estimate
        model = prune_model(model, spec_obj, sn_vectors="slice")
        model.mattebench_channel_spec = spec_obj
    else:
        model = _narrow(name, model, width_mult)
    load_checkpoint(
        model,
        checkpoint,
        convert=entry.convert_state_dict,
        loaded=obj,
        optional_prefixes=entry.optional_prefixes,
    )
    return model


def _narrow(name: str, model: Any, width_mult: float) -> Any:
    """``model`` cut to ``width_mult`` of its prunable channels (UNI selection + surgery)."""
    if isinstance(width_mult, bool) or not isinstance(width_mult, int | float):
        raise InputError(f"width_mult must be a number in (0, 1], got {width_mult!r}")
    if not 0.0 < width_mult <= 1.0:
        raise InputError(f"width_mult must be in (0, 1], got {width_mult}")
    if width_mult == 1.0:
        return model
    from baselines.pruning import get_criterion, prune_model

    family = family_module(name)
    if not hasattr(family, "layer_groups"):
        raise InputError(f"{name}: no layer groups defined, so no reduced-width variant")
    if getattr(model, "aux", None) is not None:  # PSPNet's training-only head
        raise InputError(
            f"{name}: width_mult < 1 narrows the network as its inference forward uses it, "
            "where the aux head takes no part (its input would keep the full width): build it "
            "with aux=False (--model-arg aux=false)"
        )
    spec = get_criterion("uni").select(
        model, 1.0 - float(width_mult), groups=family.layer_groups(model), model_name=name
    )
    spec.meta["width_mult"] = float(width_mult)
    # a fresh network to be trained (or loaded) next: GCA keeps its initial spectral-norm u / v
    # sliced, as the bundled teachers' recorded commands (benchmark/teachers) were run, so they
    # remake the same files; re-estimating them (the prune_model default) would change those
    narrow = prune_model(model, spec, sn_vectors="slice")
    narrow.mattebench_channel_spec = spec
    return narrow
