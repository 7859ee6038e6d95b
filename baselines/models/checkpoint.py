"""Checkpoint I/O: official formats in, our own format in and out.

Our format is a ``torch.save``d dict ``{"format": "mattebench-checkpoint", "version": 1,
"model": NAME, "state_dict": ..., "channel_spec": ... | None, "meta": {...}}``.

Official checkpoints come in many wrappings: a bare state_dict; ``{"state_dict": ...}``
(GCA-Matting), ``{"model": ...}``; keys prefixed with ``module.`` (DataParallel) or
``model.``/``backbone.`` (framework wrappers). :func:`extract_state_dict` unwraps those;
each model family's ``convert_state_dict`` hook then maps foreign key styles (e.g. MMagic's)
to ours. Loading is always strict: a missing or unexpected key, or a shape mismatch, is an
:class:`~metrics.InputError` naming the file and the first differences.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from metrics import InputError

__all__ = [
    "FORMAT",
    "extract_state_dict",
    "strip_prefix",
    "check_state_dict",
    "load_checkpoint",
    "save_checkpoint",
    "save_torch",
    "read_checkpoint",
]

FORMAT = "mattebench-checkpoint"
_WRAPPERS = ("state_dict", "model_state_dict", "model", "net", "params")
_PREFIXES = ("module.", "model.", "net.")


def strip_prefix(sd: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Drop ``prefix`` from every key that has it (others unchanged)."""
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in sd.items()}


def extract_state_dict(obj: Any, *, source: str = "checkpoint") -> dict[str, Any]:
    """The tensor dict inside a loaded checkpoint object.

    Accepts a state_dict, one wrapped under a usual key (``state_dict``, ``model`` ...), or our
    own format; removes a ``module.`` / ``model.`` / ``net.`` prefix carried by every key.
    """
    import torch

    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        obj = obj["state_dict"]
    for _ in range(3):
        if (
            isinstance(obj, Mapping)
            and obj
            and all(isinstance(v, torch.Tensor) for v in obj.values())
        ):
            break
        if isinstance(obj, Mapping):
            inner = next(
                (obj[k] for k in _WRAPPERS if k in obj and isinstance(obj[k], Mapping)), None
            )
            if inner is None:
                inner_mod = next(
                    (obj[k] for k in _WRAPPERS if k in obj and hasattr(obj[k], "state_dict")), None
                )
                if inner_mod is None:
                    raise InputError(
                        f"{source}: no state_dict found (top-level keys: {sorted(obj)[:8]})"
                    )
                obj = inner_mod.state_dict()
            else:
                obj = inner
        elif hasattr(obj, "state_dict"):
            obj = obj.state_dict()
        else:
            raise InputError(f"{source}: not a checkpoint ({type(obj).__name__})")
    sd = dict(obj)
    for prefix in _PREFIXES:
        if sd and all(k.startswith(prefix) for k in sd):
            sd = strip_prefix(sd, prefix)
    return sd


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load`` on CPU with ``weights_only=True`` (no foreign code runs)."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such checkpoint file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # the pickle holds more than tensors (e.g. a whole nn.Module)
        raise InputError(
            f"{p.name}: cannot be read as weights only ({type(e).__name__}: {str(e)[:200]}); "
            "a checkpoint that pickles a whole module needs its family's converter"
        ) from None


def check_state_dict(model: Any, sd: Mapping[str, Any], source: str) -> None:
    """Raise :class:`InputError` naming ``source`` unless ``sd`` fits ``model`` exactly (same
    keys, same shapes), listing the first differences of each kind."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es), e.g. {shapes[:3]}")
        raise InputError(f"{source} does not fit {type(model).__name__}: " + "; ".join(parts))


def load_checkpoint(
    model: Any,
    path: str | Path,
    *,
    convert: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
    loaded: Any = None,
    optional_prefixes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Load ``path`` into ``model`` strictly; return the checkpoint's metadata (ours) or ``{}``.

    ``loaded`` is the already-read checkpoint object, if the caller has it. Keys under
    ``optional_prefixes`` that the model does not have are dropped (a part the model was
    built without); every other difference is an error.
    """
    obj = read_checkpoint(path) if loaded is None else loaded
    sd = extract_state_dict(obj, source=Path(path).name)
    if convert is not None:
        sd = convert(sd)
    if optional_prefixes:
        own = model.state_dict()
        sd = {k: v for k, v in sd.items() if k in own or not k.startswith(optional_prefixes)}
    check_state_dict(model, sd, Path(path).name)
    model.load_state_dict(sd, strict=True)
    return (
        dict(obj.get("meta", {}))
        if isinstance(obj, Mapping) and obj.get("format") == FORMAT
        else {}
    )


def save_torch(path: str | Path, obj: Any) -> None:
    """``torch.save`` written atomically (temp file + rename): a crash leaves the old file or
    the new one, never a torn one."""
    import io

    import torch

    from metrics.common import atomic_write

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())


def save_checkpoint(
    model: Any,
    path: str | Path,
    *,
    name: str,
    channel_spec: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write our format atomically (temp file + rename).

    Without ``channel_spec``, a model built from a spec (a reduced-width network from
    ``create_model(..., width_mult=...)`` or a checkpoint with a spec) stores its own
    ``mattebench_channel_spec``, so the file rebuilds the same architecture.
    """
    if channel_spec is None and getattr(model, "mattebench_channel_spec", None) is not None:
        channel_spec = model.mattebench_channel_spec.to_dict()
    save_torch(
        path,
        {
            "format": FORMAT,
            "version": 1,
            "model": name,
            "state_dict": model.state_dict(),
            "channel_spec": dict(channel_spec) if channel_spec is not None else None,
            "meta": dict(meta or {}),
        },
    )
