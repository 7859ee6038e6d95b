"""The table of registered metric conventions, below every kernel module.

:mod:`metrics.conventions` defines the :class:`~metrics.conventions.Convention` objects and
registers them here; the convention-aware entry points of :mod:`metrics.sad`, ``mse``,
``grad`` and ``conn`` look them up here. Keeping the table in its own module is what lets
``conventions`` import the kernels without the kernels importing ``conventions`` (no import
loop). ``import metrics`` registers every built-in convention before any lookup can run.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from metrics.common import lookup

#: name -> Convention, in registration order
REGISTRY: dict[str, Any] = {}
#: Read-only view of :data:`REGISTRY`.
CONVENTIONS: Mapping[str, Any] = MappingProxyType(REGISTRY)


def get_convention(name: Any) -> Any:
    """The convention registered as ``name`` (a convention object is returned as is); an
    unknown name fails with the close matches."""
    if not isinstance(name, str):
        return name
    return lookup(REGISTRY, name, "convention")
