"""The model registry, in the manner of timm: ``register_model`` / ``list_models`` /
``get_entry``.

A registered entry is a factory ``fn(**kwargs) -> torch.nn.Module`` with its checkpoint
converter. Building a model, narrowed or pruned, with its weights is
:func:`baselines.create_model` (:mod:`baselines.zoo`), one floor up, because a reduced-width
variant and a pruned student are made by :mod:`baselines.pruning`, which itself knows the
architectures: the registry stays below both.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from metrics.common import lookup

__all__ = ["ModelEntry", "register_model", "list_models", "get_entry", "family_module", "MODELS"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture.

    Attributes
    ----------
    name
        Registry name (``"gca"``).
    factory
        Builds the ``nn.Module`` from keyword arguments.
    task
        ``"matting"`` or ``"segmentation"``.
    published_params
        The parameter count the issue/paper states for the default configuration (checked by
        the tests), or ``None``.
    convert_state_dict
        Maps an official checkpoint's state_dict (any key style it accepts) to ours.
    description
        One line for listings.
    optional_prefixes
        Checkpoint keys under these prefixes may be absent from a model built without that
        part (PSPNet's ``aux.`` head when ``aux=False``); they are dropped, not an error.
    """

    name: str
    factory: Callable[..., Any]
    task: str = "matting"
    published_params: int | None = None
    convert_state_dict: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    description: str = ""
    optional_prefixes: tuple[str, ...] = ()


_REGISTRY: dict[str, ModelEntry] = {}
MODELS: Mapping[str, ModelEntry] = _REGISTRY


def register_model(
    name: str,
    *,
    task: str = "matting",
    published_params: int | None = None,
    convert_state_dict: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
    description: str = "",
    optional_prefixes: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a model factory under ``name``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(
            name,
            fn,
            task,
            published_params,
            convert_state_dict,
            description or (fn.__doc__ or "").strip().split("\n")[0],
            tuple(optional_prefixes),
        )
        return fn

    return deco


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; an unknown name fails with the close matches."""
    return lookup(_REGISTRY, name, "model")


def family_module(name: str) -> Any:
    """The architecture module of a registered model (it holds ``layer_groups``)."""
    import importlib

    return importlib.import_module(get_entry(name).factory.__module__)
