"""Lazy, cached import of pymatting with a persistent numba cache.

pymatting compiles its numba kernels **when it is imported** (its ``@njit`` decorators carry
explicit signatures, so compilation is eager, and ``pymatting/__init__`` imports every
submodule): about 30 s on two cores the first time, about 0.5 s once numba's on-disk cache
holds them. The cache survives between processes only if numba has a writable directory for
it. So, before the first ``import pymatting``:

* if ``NUMBA_CACHE_DIR`` is set (non-empty), it is left alone: the user's choice wins;
* otherwise it is set to :func:`numba_cache_dir`, ``$MATTEBENCH_CACHE/numba`` or, without
  ``MATTEBENCH_CACHE``, ``~/.cache/mattebench/numba`` (created if missing). If that directory
  cannot be created the variable stays unset and numba uses its own default (the package's
  ``__pycache__`` if writable, else a per-user directory).

``NUMBA_CACHE_DIR`` is process-wide: numba functions compiled later in the process (for example
:mod:`metrics.conn`'s union-find) are cached there too. pymatting is imported only when a classic
method first predicts, so ``import baselines`` stays fast.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["numba_cache_dir", "pymatting", "pymatting_version"]


def numba_cache_dir() -> Path:
    """Where the classic methods ask numba to cache compiled code.

    ``$MATTEBENCH_CACHE/numba`` when ``MATTEBENCH_CACHE`` is set, else
    ``~/.cache/mattebench/numba``. (``NUMBA_CACHE_DIR``, when set, overrides this; see the
    module docstring.)
    """
    root = os.environ.get("MATTEBENCH_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "mattebench"
    return base / "numba"


def _configure_numba_cache() -> None:
    """Set ``NUMBA_CACHE_DIR`` unless the user did, and make an imported numba see it."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    path = numba_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # numba falls back to its own default location (see the module docstring)
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    numba = sys.modules.get("numba")
    if numba is not None:
        # numba read NUMBA_* when it was imported (metrics imports it) and re-reads them only
        # when its compiler runs; but a function's cache directory is chosen when its
        # ``@njit(..., cache=True)`` decorator runs, before any compiling, so re-read now.
        numba.core.config.reload_config()


@functools.cache
def pymatting() -> ModuleType:
    """The ``pymatting`` module, imported on first use after :func:`_configure_numba_cache`."""
    _configure_numba_cache()
    return importlib.import_module("pymatting")


def pymatting_version() -> str:
    """pymatting's installed version, read from its metadata (no import, so no compiling)."""
    try:
        return importlib.metadata.version("pymatting")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
