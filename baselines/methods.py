"""The matting-method interface the runner evaluates, and the method registry.

A method turns an RGB image (and a trimap, if it needs one) into an alpha matte. Classic
baselines (``baselines.classic``) and, later, neural models register here under a name.
"""

from __future__ import annotations

import abc
import fnmatch
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from metrics import InputError
from metrics.common import lookup, register_class

__all__ = ["MattingMethod", "register_method", "get_method", "list_methods", "METHODS"]


class MattingMethod(abc.ABC):
    """Base class of everything ``mattebench eval --method NAME`` can run."""

    #: registry name
    name: ClassVar[str] = ""
    #: whether :meth:`predict` needs a trimap
    needs_trimap: ClassVar[bool] = True
    #: one line for listings
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def _predict(self, image: np.ndarray, trimap: np.ndarray | None) -> np.ndarray:
        """Alpha in ``[0, 1]`` (float) of shape HxW."""

    def predict(self, image: np.ndarray, trimap: np.ndarray | None = None) -> np.ndarray:
        """Validate the inputs, run the method, validate and return float64 alpha in [0, 1].

        ``image`` is HxWx3 ``uint8`` RGB; ``trimap`` HxW ``uint8`` (0 bg, 128 unknown, 255 fg).
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(
                f"{self.name}: image must be HxWx3 uint8, got {image.shape} {image.dtype}"
            )
        if self.needs_trimap:
            if trimap is None:
                raise InputError(f"{self.name} needs a trimap")
            if trimap.shape != image.shape[:2]:
                raise InputError(
                    f"{self.name}: sizes differ: image {image.shape[:2]}, trimap {trimap.shape}"
                )
        alpha = np.asarray(self._predict(image, trimap), dtype=np.float64)
        if alpha.shape != image.shape[:2]:
            raise RuntimeError(
                f"{self.name} returned shape {alpha.shape} for an image of {image.shape[:2]}"
            )
        if not np.isfinite(alpha).all():
            raise RuntimeError(f"{self.name} returned NaN or inf")
        return np.clip(alpha, 0.0, 1.0)

    def config(self) -> dict[str, Any]:
        """What a run records about this method (name and parameters)."""
        return {"method": self.name}


_REGISTRY: dict[str, Callable[..., MattingMethod]] = {}
METHODS = _REGISTRY
#: ``"prefix:"`` -> factory taking the rest of the name (``model:gca`` -> the neural wrapper,
#: registered by :mod:`baselines.neural`), so this module imports none of its users
_PREFIXES: dict[str, Callable[..., MattingMethod]] = {}


def register_prefix(prefix: str, factory: Callable[..., MattingMethod]) -> None:
    """Route every method name starting with ``prefix`` (e.g. ``"model:"``) to
    ``factory(rest_of_name, **kwargs)``."""
    if prefix in _PREFIXES:
        raise ValueError(f"method prefix {prefix!r} is already registered")
    _PREFIXES[prefix] = factory


def register_method(name: str) -> Callable[[type[MattingMethod]], type[MattingMethod]]:
    """Class decorator: register a method class under ``name``."""

    return register_class(_REGISTRY, name, "method")


def list_methods(pattern: str = "*", *, models: bool = False) -> list[str]:
    """Registered method names matching a shell-style ``pattern``; with ``models``, also
    ``model:NAME`` for every registered matting model (importing torch)."""
    names = list(_REGISTRY)
    if models:
        from baselines.models import MODELS

        names += [f"model:{n}" for n, e in MODELS.items() if e.task == "matting"]
    return sorted(n for n in names if fnmatch.fnmatch(n, pattern))


def get_method(name: str, **kwargs: Any) -> MattingMethod:
    """Instantiate a registered method; an unknown name fails with the close matches."""
    for prefix, factory in _PREFIXES.items():
        if name.startswith(prefix):
            return factory(name[len(prefix) :], **kwargs)
    return lookup(_REGISTRY, name, "method")(**kwargs)
