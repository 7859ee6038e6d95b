"""The distiller registry and the shared base class.

A *distiller* is a small strategy object: an ``nn.Module`` whose
``forward(student_feats, teacher_feats)`` maps two lists of feature maps (one ``(N, C, H, W)``
tensor per distilled level, in the same level order) to one scalar loss. Learnable parts
(OFD connectors, SPKD 1x1 adapters) are created in ``__init__`` from declared channel widths,
so they can be handed to the optimiser together with the student.

Conventions shared by every distiller
-------------------------------------
* **Teacher detached.** Teacher features are ``detach()``-ed inside the loss: no gradient ever
  flows into the teacher, whether or not the caller froze it.
* **Levels.** The loss is ``weight * sum_i level_weights[i] * L_i``. ``level_weights`` defaults
  to all ones, except OFD whose default is its stage weights ``1 / 2^(n - i - 1)``.
* **Balance factor.** ``weight`` is the overall distillation weight. In the DCP paper the
  distillation term is balanced by ``lambda_4`` in the pruning stage and ``w_3`` in the training
  stage (supplement, sec. 3 and Table 2: both varied together over 0.5 / 1 / 2 "in training and
  pruning stages"); the official code (DongGeun-Yoon/DCP ``train_prune.py``,
  ``train_pruned.py``) uses 1 in both. Build one distiller per stage and set ``weight`` to
  ``lambda_4`` (pruning stage) or ``w_3`` (training stage); the pipeline does so
  (:mod:`benchmark.prune_pipeline`, where the reading is stated once for the whole project).
* **Bad input raises** :class:`metrics.InputError` (a ``ValueError``) naming the level and the
  shapes; an unknown distiller name raises :class:`metrics.UnknownNameError` with close matches.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from metrics.common import InputError, lookup, register_class

__all__ = [
    "Distiller",
    "DISTILLERS",
    "register_distiller",
    "get_distiller",
    "list_distillers",
    "NoDistill",
]

D = TypeVar("D", bound=type["Distiller"])

_REGISTRY: dict[str, type[Distiller]] = {}
DISTILLERS: Mapping[str, type[Distiller]] = _REGISTRY


def register_distiller(name: str) -> Callable[[D], D]:
    """Class decorator: register a :class:`Distiller` subclass under ``name``."""

    return register_class(_REGISTRY, name, "distiller")


def list_distillers(pattern: str = "*") -> list[str]:
    """Registered distiller names matching a shell-style ``pattern``, sorted.

    Examples
    --------
    >>> from baselines.distill import list_distillers
    >>> list_distillers()
    ['none', 'nst', 'ofd', 'sd', 'sp', 'spkd']
    """
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_distiller(name: str, **kwargs: Any) -> Distiller:
    """Instantiate the distiller registered as ``name`` with ``kwargs``.

    Raises
    ------
    metrics.UnknownNameError
        For an unknown name; the message lists close matches and all names.
    """
    return lookup(_REGISTRY, name, "distiller")(**kwargs)


def _as_list(feats: Sequence[Tensor] | Tensor, what: str) -> list[Tensor]:
    if isinstance(feats, Tensor):
        raise InputError(f"{what} must be a list of feature maps (one per level), got a tensor")
    out = list(feats)
    for i, f in enumerate(out):
        if not isinstance(f, Tensor) or f.ndim != 4:
            shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
            raise InputError(f"{what}[{i}] must be an (N, C, H, W) tensor, got {shape}")
    return out


def _pair_up(
    student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor]
) -> tuple[list[Tensor], list[Tensor]]:
    """Validate two level lists (same length, non-empty, 4-D, same batch) and detach the
    teacher."""
    s_list = _as_list(student_feats, "student_feats")
    t_list = _as_list(teacher_feats, "teacher_feats")
    if len(s_list) != len(t_list):
        raise InputError(
            f"student has {len(s_list)} feature levels, teacher has {len(t_list)}; "
            "they must pair up level by level"
        )
    if not s_list:
        raise InputError("no feature levels to distil (empty lists)")
    for i, (s, t) in enumerate(zip(s_list, t_list, strict=True)):
        if s.shape[0] != t.shape[0]:
            raise InputError(
                f"level {i}: batch sizes differ (student {s.shape[0]}, teacher {t.shape[0]})"
            )
    return s_list, [t.detach() for t in t_list]


def _same_hw(s: Tensor, t: Tensor, level: int, loss: str) -> None:
    if s.shape[-2:] != t.shape[-2:]:
        raise InputError(
            f"level {level}: {loss} needs equal spatial sizes, student is "
            f"{s.shape[-2]}x{s.shape[-1]}, teacher {t.shape[-2]}x{t.shape[-1]} "
            "(resize or pool before distilling)"
        )


def _check_widths(feats: list[Tensor], widths: Sequence[int] | None, who: str) -> None:
    if widths is None:
        return
    if len(feats) != len(widths):
        raise InputError(
            f"{who} has {len(feats)} feature levels but {len(widths)} channel widths were declared"
        )
    for i, (f, c) in enumerate(zip(feats, widths, strict=True)):
        if f.shape[1] != c:
            raise InputError(f"level {i}: {who} has {f.shape[1]} channels, declared {c}")


class Distiller(nn.Module):
    """Base class: ``weight * sum_i level_weights[i] * level_loss(i, s_i, t_i)``.

    Parameters
    ----------
    weight
        Overall balance factor of the distillation term (the paper's ``lambda_4`` / ``w_3``, see
        the module docstring). Default 1, as in the DCP code.
    level_weights
        One factor per level; ``None`` uses :meth:`default_level_weights` (all ones unless a
        subclass says otherwise). Its length must equal the number of levels passed.

    Subclasses implement :meth:`level_loss` (teacher already detached and shapes validated
    for batch size) and may override :meth:`default_level_weights`.
    """

    name: ClassVar[str] = ""

    def __init__(self, *, weight: float = 1.0, level_weights: Sequence[float] | None = None):
        super().__init__()
        self.weight = float(weight)
        self.level_weights = None if level_weights is None else [float(w) for w in level_weights]

    def default_level_weights(self, n: int) -> list[float]:
        """Per-level factors used when ``level_weights`` is ``None`` (all ones here)."""
        return [1.0] * n

    def level_loss(self, level: int, s: Tensor, t: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def check(self, s_list: list[Tensor], t_list: list[Tensor]) -> None:
        """Extra validation of the paired, detached level lists (override as needed)."""

    def forward(self, student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor]) -> Tensor:
        """The weighted distillation loss over all levels (a 0-d tensor)."""
        s_list, t_list = _pair_up(student_feats, teacher_feats)
        self.check(s_list, t_list)
        n = len(s_list)
        lw = self.level_weights if self.level_weights is not None else self.default_level_weights(n)
        if len(lw) != n:
            raise InputError(f"{len(lw)} level_weights for {n} feature levels")
        total = s_list[0].new_zeros(())
        for i, (s, t) in enumerate(zip(s_list, t_list, strict=True)):
            if lw[i] != 0.0:
                total = total + lw[i] * self.level_loss(i, s, t)
        return self.weight * total

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}, level_weights={self.level_weights}"


@register_distiller("none")
class NoDistill(Distiller):
    """No distillation: always a zero scalar (no gradient, nothing learnable).

    The inputs are not validated; the zero has the dtype and device of the first student
    feature (CPU ``float32`` when there is none), so ``loss + kd`` works unchanged.

    Examples
    --------
    >>> import torch
    >>> from baselines.distill import get_distiller
    >>> float(get_distiller("none")([torch.ones(1, 2, 3, 3)], [torch.ones(1, 4, 3, 3)]))
    0.0
    """

    def forward(self, student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor]) -> Tensor:
        feats = [f for f in student_feats if isinstance(f, Tensor)]
        return feats[0].new_zeros(()) if feats else torch.zeros(())
