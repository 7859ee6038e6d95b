"""Matting methods the benchmark evaluates: the method registry, the classic baselines, and the
model registry's entry points (``create_model`` / ``list_models``, as timm exposes them).

``create_model`` and ``list_models`` are those of :mod:`baselines.zoo`; they are resolved on
first use (PEP 562), so ``import baselines`` stays free of torch and the architecture modules
until a model is asked for.
"""

from typing import Any

from baselines import (
    classic,  # noqa: E402,F401  (registers the classic methods)
    neural,  # noqa: E402,F401  (routes "model:NAME" to the registered models)
)
from baselines.methods import METHODS, MattingMethod, get_method, list_methods, register_method

__all__ = [
    "METHODS",
    "MattingMethod",
    "create_model",
    "get_method",
    "list_methods",
    "list_models",
    "register_method",
]

_MODEL_REGISTRY = ("create_model", "list_models")


def __getattr__(name: str) -> Any:
    if name in _MODEL_REGISTRY:
        import baselines.models  # noqa: F401  fills the registry (imports the architectures)
        from baselines import zoo

        return getattr(zoo, name)
    raise AttributeError(f"module 'baselines' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODEL_REGISTRY))
