"""The dataset interface every loader implements, and the dataset registry.

A dataset is a sorted list of sample names plus a ``load(name)`` that reads one
:class:`Sample` from disk (lazily, so the runner can spread names over worker processes).
Each dataset states its evaluation convention: ``"unknown"`` (the DIM metrics on
``trimap == 128``) or ``"whole"`` (the trimap-free whole-image family), so the runner picks
the right metrics without being told.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from metrics import InputError
from metrics.common import lookup, register_class

__all__ = [
    "Sample",
    "MattingDataset",
    "register_dataset",
    "get_dataset",
    "list_datasets",
    "read_name_list",
    "DATASETS",
]

Evaluation = Literal["unknown", "whole", "segmentation"]


@dataclass
class Sample:
    """One test item. Arrays are ``uint8``: ``image``, ``fg``, ``bg`` are HxWx3 RGB;
    ``alpha`` and ``trimap`` are HxW (trimap: 0 bg, 128 unknown, 255 fg). ``label`` is the
    HxW class map of the segmentation track. Absent parts are ``None``."""

    name: str
    image: np.ndarray | None = None
    alpha: np.ndarray | None = None
    trimap: np.ndarray | None = None
    fg: np.ndarray | None = None
    bg: np.ndarray | None = None
    label: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def read_name_list(path: str | Path) -> list[str]:
    """Names from a list file: one per line, blank lines and ``#`` comments ignored; a file
    extension, if present, is dropped (``a.png`` and ``a`` name the same sample)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such list file")
    out = []
    for line in p.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(Path(line).stem if Path(line).suffix.lower() in _EXTS else line)
    return out


_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


class MattingDataset(abc.ABC):
    """Base class of every dataset loader.

    Subclasses set the class attributes and implement :meth:`_scan` (all sample names, sorted)
    and :meth:`load`.

    Parameters
    ----------
    root
        The dataset's folder, in its official layout (see each subclass).
    subset
        Optional: a list file (see :func:`read_name_list`) or a sequence of names; only those
        samples, in that order. A name that is not in the dataset is an error.
    """

    #: registry name (``"comp1k"``)
    name: ClassVar[str] = ""
    #: which metrics apply: DIM metrics on the unknown region, or the whole-image family
    #: (a class attribute; a loader may set it per instance, as ``folder`` does)
    evaluation: Evaluation = "unknown"
    #: where the trimaps come from: shipped with the dataset, generated, or none
    trimap_source: Literal["provided", "generated", "none"] = "provided"
    #: one line for ``mattebench datasets``
    description: ClassVar[str] = ""

    def __init__(
        self, root: str | Path | None, *, subset: str | Path | Sequence[str] | None = None
    ) -> None:
        self.root = Path(root) if root is not None else None
        if self.root is not None and not self.root.is_dir():
            raise InputError(f"{self.name}: dataset root {self.root} is not a directory")
        names = self._scan()
        if subset is not None:
            wanted = read_name_list(subset) if isinstance(subset, (str, Path)) else list(subset)
            known = set(names)
            dupes = sorted({n for n in wanted if wanted.count(n) > 1})
            if dupes:
                raise InputError(f"{self.name}: subset lists a name twice: {', '.join(dupes[:5])}")
            missing = [n for n in wanted if n not in known]
            if missing:
                raise InputError(
                    f"{self.name}: {len(missing)} subset name(s) not in the dataset: "
                    f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
                )
            names = wanted
        if not names:
            raise InputError(f"{self.name}: no samples found under {self.root}")
        self._names = names

    @abc.abstractmethod
    def _scan(self) -> list[str]:
        """All sample names, sorted; raise :class:`InputError` on a broken layout."""

    @abc.abstractmethod
    def load(self, name: str) -> Sample:
        """Read one sample; raise :class:`InputError` naming the file on any problem."""

    def names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[Sample]:
        for n in self._names:
            yield self.load(n)

    def config(self) -> dict[str, Any]:
        """What the runner records about this dataset in a run's configuration."""
        return {
            "dataset": self.name,
            "root": str(self.root) if self.root is not None else None,
            "evaluation": self.evaluation,
            "trimap_source": self.trimap_source,
            "count": len(self),
        }


_REGISTRY: dict[str, Callable[..., MattingDataset]] = {}
DATASETS = _REGISTRY


def register_dataset(name: str) -> Callable[[type[MattingDataset]], type[MattingDataset]]:
    """Class decorator: register a dataset loader under ``name``."""

    return register_class(_REGISTRY, name, "dataset")


def list_datasets() -> list[str]:
    """Registered dataset names."""
    return sorted(_REGISTRY)


def get_dataset(name: str, root: str | Path | None = None, **kwargs: Any) -> MattingDataset:
    """Instantiate a registered dataset; an unknown name fails with the close matches."""
    return lookup(_REGISTRY, name, "dataset")(root, **kwargs)
