"""A pruned student's channel spec, stored as data (JSON).

A :class:`ChannelSpec` names the registered base model and, for every BatchNorm layer the pruner
considered, how many channels it keeps (``widths``), which ones (``kept``, indices into the
teacher's channels) and how many the teacher had (``teacher_widths``). The same spec rebuilds
the network (:func:`baselines.pruning.surgery.prune_model`), is stored in checkpoints and
draws the channel histogram (``STYLE.md``: "a pruned student is a registered base name plus a
channel spec").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metrics import InputError
from metrics.common import atomic_write

__all__ = ["ChannelSpec", "SPEC_FORMAT"]

#: The ``format`` tag written into every spec file.
SPEC_FORMAT = "mattebench-channel-spec/1"


@dataclass
class ChannelSpec:
    """Per-layer channel widths of a pruned network.

    Attributes
    ----------
    model
        Registered base model name (``"dim"``, ``"sdnet"``, ``"indexnet"``, ``"pspnet50"``).
    widths
        BN layer name -> kept channels (at least 1: a layer is never removed whole).
    kept
        BN layer name -> sorted indices of the kept channels in the teacher's numbering, or
        ``None`` when only the widths are known (DCP stores only counts and re-initialises).
    teacher_widths
        BN layer name -> the teacher's channel count (same keys as ``widths``).
    meta
        Free-form JSON data: ``criterion``, ``requested_ratio``, ``params_teacher``,
        ``params_pruned``, ``prunable_channels``, ``kept_prunable_channels``, ... .

    Examples
    --------
    >>> s = ChannelSpec("toy", {"bn1": 2, "bn2": 1}, {"bn1": [0, 3], "bn2": [1]},
    ...                 {"bn1": 4, "bn2": 2}, {"requested_ratio": 0.5})
    >>> s.ratio()["channels"]
    0.5
    >>> ChannelSpec.from_json(s.to_json()) == s
    True
    """

    model: str
    widths: dict[str, int]
    kept: dict[str, list[int]] | None = None
    teacher_widths: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.widths = {str(k): int(v) for k, v in self.widths.items()}
        self.teacher_widths = {str(k): int(v) for k, v in self.teacher_widths.items()}
        if self.kept is not None:
            self.kept = {str(k): [int(i) for i in v] for k, v in self.kept.items()}
        self.meta = dict(self.meta)
        self.validate()

    # ---------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`metrics.InputError` unless the spec is self-consistent.

        Checks: every width is an int ``>= 1`` (never zero channels); with ``teacher_widths``,
        the same keys and ``width <= teacher width``; with ``kept``, the same keys, ``width``
        sorted unique indices per layer, all inside ``[0, teacher width)``.
        """
        if not self.model:
            raise InputError("channel spec: empty model name")
        for name, w in self.widths.items():
            if w < 1:
                raise InputError(f"channel spec: layer {name!r} keeps {w} channels (minimum 1)")
        if self.teacher_widths:
            if set(self.teacher_widths) != set(self.widths):
                diff = sorted(set(self.teacher_widths) ^ set(self.widths))
                raise InputError(f"channel spec: widths/teacher_widths keys differ: {diff[:3]}")
            for name, w in self.widths.items():
                if w > self.teacher_widths[name]:
                    raise InputError(
                        f"channel spec: layer {name!r} keeps {w} > teacher's "
                        f"{self.teacher_widths[name]} channels"
                    )
        if self.kept is not None:
            if set(self.kept) != set(self.widths):
                diff = sorted(set(self.kept) ^ set(self.widths))
                raise InputError(f"channel spec: widths/kept keys differ: {diff[:3]}")
            for name, idx in self.kept.items():
                if len(idx) != self.widths[name] or sorted(set(idx)) != idx:
                    raise InputError(
                        f"channel spec: layer {name!r}: kept must be {self.widths[name]} sorted "
                        f"unique indices, got {idx[:8]}"
                    )
                hi = self.teacher_widths.get(name)
                if idx and (idx[0] < 0 or (hi is not None and idx[-1] >= hi)):
                    raise InputError(f"channel spec: layer {name!r}: kept index out of range")

    # ---------------------------------------------------------------------------------------
    def ratio(self) -> dict[str, float | None]:
        """Requested vs achieved reduction (fractions removed, ``0`` = nothing pruned).

        Returns
        -------
        dict
            ``requested``: ``meta["requested_ratio"]`` (``None`` if absent).
            ``prunable_channels``: removed share of the channels the criterion could remove
            (``meta["prunable_channels"]`` / ``meta["kept_prunable_channels"]``), the quantity
            the requested ratio refers to. ``channels``: removed share of all BN channels in
            the spec. ``params``: ``1 - params_pruned / params_teacher`` from ``meta``.
        """
        total = sum(self.teacher_widths.values()) or None
        kept = sum(self.widths.values())
        m = self.meta
        pc, kpc = m.get("prunable_channels"), m.get("kept_prunable_channels")
        pt, pp = m.get("params_teacher"), m.get("params_pruned")
        return {
            "requested": m.get("requested_ratio"),
            "prunable_channels": (1 - kpc / pc) if pc else None,
            "channels": (1 - kept / total) if total else None,
            "params": (1 - pp / pt) if pt and pp is not None else None,
        }

    # ---------------------------------------------------------------------------------------
    def compose(self, base: ChannelSpec) -> ChannelSpec:
        """This spec, selected on the network ``base`` produced, restated against ``base``'s
        teacher (the registered full-width model).

        A reduced-width teacher (``create_model(name, width_mult=...)``) is itself a pruned
        network; a student pruned from it keeps ``self.kept`` in the reduced numbering. The
        composed spec keeps ``base.kept[layer][i]`` for every ``i`` in ``self.kept[layer]`` and
        the full teacher's widths, so a checkpoint carrying it rebuilds from the registered
        model. ``meta`` is this spec's plus ``"base_meta"``.

        Examples
        --------
        >>> base = ChannelSpec("toy", {"bn": 3}, {"bn": [0, 2, 5]}, {"bn": 8})
        >>> top = ChannelSpec("toy", {"bn": 2}, {"bn": [0, 2]}, {"bn": 3})
        >>> c = top.compose(base)
        >>> c.widths, c.kept, c.teacher_widths
        ({'bn': 2}, {'bn': [0, 5]}, {'bn': 8})
        """
        if self.model != base.model:
            raise InputError(f"channel spec: cannot compose {self.model!r} onto {base.model!r}")
        if self.kept is None or base.kept is None:
            raise InputError("channel spec: composing needs kept indices in both specs")
        widths, kept = dict(base.widths), dict(base.kept)
        for name, idx in self.kept.items():
            if name not in base.kept:
                raise InputError(f"channel spec: layer {name!r} is not in the base spec")
            if base.widths[name] != self.teacher_widths.get(name, base.widths[name]):
                raise InputError(
                    f"channel spec: layer {name!r} had {self.teacher_widths[name]} channels, the "
                    f"base spec keeps {base.widths[name]}"
                )
            kept[name] = [base.kept[name][i] for i in idx]
            widths[name] = len(idx)
        meta = dict(self.meta, base_meta=dict(base.meta))
        return ChannelSpec(self.model, widths, kept, dict(base.teacher_widths), meta)

    # ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (with a ``format`` tag)."""
        return {
            "format": SPEC_FORMAT,
            "model": self.model,
            "widths": dict(self.widths),
            "kept": None if self.kept is None else {k: list(v) for k, v in self.kept.items()},
            "teacher_widths": dict(self.teacher_widths),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChannelSpec:
        """Inverse of :meth:`to_dict`; an unknown ``format`` tag is refused."""
        fmt = d.get("format", SPEC_FORMAT)
        if fmt != SPEC_FORMAT:
            raise InputError(f"channel spec: unknown format {fmt!r} (expected {SPEC_FORMAT!r})")
        missing = [k for k in ("model", "widths") if k not in d]
        if missing:
            raise InputError(f"channel spec: missing keys {missing}")
        return cls(
            model=d["model"],
            widths=dict(d["widths"]),
            kept=None if d.get("kept") is None else dict(d["kept"]),
            teacher_widths=dict(d.get("teacher_widths") or {}),
            meta=dict(d.get("meta") or {}),
        )

    def to_json(self, indent: int | None = None) -> str:
        """The spec as a JSON string (layer order preserved)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> ChannelSpec:
        """Parse :meth:`to_json` output."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"channel spec: invalid JSON ({e})") from None
        return cls.from_dict(d)

    def save(self, path: str | Path) -> Path:
        """Write the spec as JSON atomically (temp file + rename, :func:`atomic_write`)."""
        with atomic_write(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_json(indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> ChannelSpec:
        """Read a spec written by :meth:`save`; errors name the file."""
        p = Path(path)
        try:
            return cls.from_json(p.read_text(encoding="utf-8"))
        except InputError as e:
            raise InputError(f"{p.name}: {e}") from None
        except OSError as e:
            raise InputError(f"{p.name}: cannot read channel spec ({e})") from None
