"""Experiment specs: one TOML file per paper table or figure that ``mattebench reproduce`` rebuilds.

The files live in ``benchmark/specs/`` and are found with :mod:`importlib.resources`, so they
ship inside the package. :func:`load_spec` parses one file into frozen dataclasses and checks
every referenced name (models, datasets, metrics, conventions, pruning criteria, distillers,
self-distillation modes) against the live registries; any problem raises
:class:`metrics.InputError` naming the file.

Published numbers are kept as the strings printed in the paper (``"0.010"`` keeps its trailing
zero); :meth:`Row.value` gives them as floats.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from metrics import InputError

__all__ = [
    "Spec",
    "Row",
    "Group",
    "Profile",
    "Source",
    "DatasetRef",
    "Claim",
    "list_specs",
    "load_spec",
    "spec_path",
    "NON_METRIC_COLUMNS",
    "SEGMENTATION_METRICS",
]

#: Columns that are model properties rather than registry metrics.
NON_METRIC_COLUMNS: frozenset[str] = frozenset({"params_m", "size_mb", "flops_g"})
#: Segmentation metrics (``metrics.miou``), outside the matting metric registry.
SEGMENTATION_METRICS: frozenset[str] = frozenset({"miou"})
_KINDS = ("table", "figure")
_PROFILES = ("quick", "paper")
_TOP_KEYS = frozenset(
    {
        "id",
        "title",
        "kind",
        "headline",
        "plot",
        "metrics",
        "columns",
        "convention",
        "note",
        "published",
        "source",
        "dataset",
        "units",
        "groups",
        "rows",
        "profiles",
        "claims",
    }
)
_ROW_KEYS = frozenset(
    {
        "label",
        "group",
        "model",
        "prune",
        "ratio",
        "kd",
        "sd",
        "ampa",
        "lambda",
        "w",
        "published",
        "note",
    }
)


@dataclass(frozen=True)
class Source:
    """Where the published numbers come from: paper key, file under ``shared/``, table/figure."""

    paper: str
    file: str
    ref: str


@dataclass(frozen=True)
class DatasetRef:
    """Registry dataset names, plus a note on a non-public subset when the paper uses one."""

    names: tuple[str, ...]
    subset: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Group:
    """A block of rows (e.g. trimap-based / trimap-free) and the metrics computing its columns.

    ``metrics`` maps position-wise onto the spec's ``metrics`` (the paper's columns).
    """

    name: str
    label: str
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """One printed row and what MatteBench runs for it (``model is None``: paper number only)."""

    label: str
    group: str | None = None
    model: str | None = None
    prune: str | None = None
    ratio: float | None = None
    kd: str | None = None
    sd: str | None = None
    ampa: bool | None = None
    lambda_: float | None = None
    w: float | None = None
    published: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    note: str | None = None

    @property
    def runnable(self) -> bool:
        """Whether MatteBench can run this row (it names a registered model)."""
        return self.model is not None

    def value(self, column: str) -> float | None:
        """The published number of ``column`` as a float, ``None`` when not printed."""
        text = self.published.get(column)
        return None if text is None else float(text)


@dataclass(frozen=True)
class Claim:
    """A finding the paper states: row ``better`` beats row ``than`` (labels of this spec).

    ``mattebench reproduce`` prints, under the table, whether its run supports the claim,
    contradicts it, or cannot separate the two rows at 95 % confidence.
    """

    text: str
    better: str
    than: str


@dataclass(frozen=True)
class Profile:
    """Settings for one profile (``quick`` or ``paper``); ``settings`` holds the free keys."""

    name: str
    dataset: str | None
    settings: Mapping[str, Any]
    note: str | None = None


@dataclass(frozen=True)
class Spec:
    """One table or figure to regenerate."""

    id: str
    title: str
    kind: str
    source: Source
    dataset: DatasetRef
    metrics: tuple[str, ...]
    columns: tuple[str, ...]
    convention: str | None
    rows: tuple[Row, ...]
    profiles: Mapping[str, Profile]
    groups: tuple[Group, ...] = ()
    units: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    claims: tuple[Claim, ...] = ()
    headline: bool = False
    plot: str | None = None
    note: str | None = None
    path: str = ""

    @property
    def has_published(self) -> bool:
        """Whether any row carries a published number."""
        return any(r.published for r in self.rows)

    def row_metrics(self, row: Row) -> tuple[str, ...]:
        """The registry metrics computing ``row``'s columns (its group's, else the spec's)."""
        for g in self.groups:
            if g.name == row.group:
                return g.metrics
        return self.metrics


def _spec_dir() -> Any:
    return resources.files("benchmark") / "specs"


def list_specs() -> list[str]:
    """Names (file stems) of the bundled specs, sorted.

    Returns
    -------
    list of str
    """
    return sorted(
        p.name[: -len(".toml")] for p in _spec_dir().iterdir() if p.name.endswith(".toml")
    )


def spec_path(name: str) -> str:
    """Path (as text) of a bundled spec, or ``name`` itself when it is an existing file."""
    if name.endswith(".toml") or Path(name).is_file():
        return name
    return str(_spec_dir() / f"{name}.toml")


def _registries() -> dict[str, set[str]]:
    from baselines.distill import list_distillers
    from baselines.models import list_models
    from baselines.pruning import list_criteria
    from benchmark.datasets import list_datasets
    from metrics.conventions import list_conventions
    from metrics.registry import list_metrics

    return {
        "model": set(list_models()),
        "dataset": set(list_datasets()),
        "metric": set(list_metrics()) | set(SEGMENTATION_METRICS),
        "convention": set(list_conventions()),
        "prune": set(list_criteria()),
        "kd": set(list_distillers()),
        "sd": {"best", "dense", "transitive", "none"},
    }


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where
        self.reg = _registries()

    def fail(self, msg: str) -> InputError:
        return InputError(f"{self.where}: {msg}")

    def name(self, kind: str, value: Any, ctx: str) -> str:
        if not isinstance(value, str) or value not in self.reg[kind]:
            known = ", ".join(sorted(self.reg[kind]))
            raise self.fail(f"{ctx}: unknown {kind} {value!r} (known: {known})")
        return value

    def text(self, d: Mapping[str, Any], key: str, ctx: str, required: bool = True) -> str | None:
        v = d.get(key)
        if v is None and not required:
            return None
        if not isinstance(v, str) or (required and not v.strip()):
            raise self.fail(f"{ctx}: {key!r} must be a non-empty string")
        return v

    def number(self, d: Mapping[str, Any], key: str, ctx: str) -> float | None:
        v = d.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(f"{ctx}: {key!r} must be a number, got {v!r}")
        return float(v)

    def names(self, v: Any, ctx: str) -> tuple[str, ...]:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.fail(f"{ctx}: must be a list of strings")
        return tuple(v)


def _published(ck: _Checker, raw: Any, allowed: set[str], ctx: str) -> Mapping[str, str]:
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        raise ck.fail(f"{ctx}: 'published' must be a table")
    for k, v in raw.items():
        if k not in allowed:
            raise ck.fail(f"{ctx}: published column {k!r} is not one of {sorted(allowed)}")
        if not isinstance(v, str):
            raise ck.fail(f"{ctx}: published {k!r} must be the printed text (a string), got {v!r}")
        try:
            float(v)
        except ValueError:
            raise ck.fail(f"{ctx}: published {k!r} = {v!r} is not a number") from None
    return MappingProxyType(dict(raw))


def _row(ck: _Checker, raw: Any, i: int, cols: set[str], groups: set[str]) -> Row:
    ctx = f"rows[{i}]"
    if not isinstance(raw, dict):
        raise ck.fail(f"{ctx}: must be a table")
    extra = set(raw) - _ROW_KEYS
    if extra:
        raise ck.fail(f"{ctx}: unknown keys {sorted(extra)}")
    label = ck.text(raw, "label", ctx)
    ctx = f"rows[{i}] ({label!r})"
    group = ck.text(raw, "group", ctx, required=False)
    if groups and group not in groups:
        raise ck.fail(f"{ctx}: group {group!r} is not one of {sorted(groups)}")
    if not groups and group is not None:
        raise ck.fail(f"{ctx}: group {group!r} given but the spec defines no groups")
    model = raw.get("model")
    if model is not None:
        ck.name("model", model, ctx)
    for key in ("prune", "kd", "sd"):
        if raw.get(key) is not None:
            ck.name(key, raw[key], ctx)
            if model is None:
                raise ck.fail(f"{ctx}: {key!r} given without a model")
    ratio = ck.number(raw, "ratio", ctx)
    if ratio is not None and not 0.0 < ratio < 1.0:
        raise ck.fail(f"{ctx}: ratio must be in (0, 1), got {ratio}")
    if (raw.get("prune") is None) != (ratio is None):
        raise ck.fail(f"{ctx}: 'prune' and 'ratio' go together")
    ampa = raw.get("ampa")
    if ampa is not None and not isinstance(ampa, bool):
        raise ck.fail(f"{ctx}: 'ampa' must be true or false")
    lam, w = ck.number(raw, "lambda", ctx), ck.number(raw, "w", ctx)
    for key, v in (("lambda", lam), ("w", w)):
        if v is not None and v <= 0:
            raise ck.fail(f"{ctx}: {key!r} must be positive, got {v}")
    return Row(
        label=label,
        group=group,
        model=model,
        prune=raw.get("prune"),
        ratio=ratio,
        kd=raw.get("kd"),
        sd=raw.get("sd"),
        ampa=ampa,
        lambda_=lam,
        w=w,
        published=_published(ck, raw.get("published"), cols, ctx),
        note=ck.text(raw, "note", ctx, required=False),
    )


def _claims(ck: _Checker, raw: Any, rows: tuple[Row, ...]) -> tuple[Claim, ...]:
    if not isinstance(raw, list):
        raise ck.fail("'claims' must be an array of tables")
    labels = {r.label for r in rows if r.runnable}
    out = []
    for i, c in enumerate(raw):
        ctx = f"claims[{i}]"
        if not isinstance(c, dict) or set(c) - {"text", "better", "than"}:
            raise ck.fail(f"{ctx}: a table with keys text, better, than")
        text, better, than = (ck.text(c, k, ctx) for k in ("text", "better", "than"))
        for lab in (better, than):
            if lab not in labels:
                raise ck.fail(f"{ctx}: {lab!r} is not the label of a runnable row")
        if better == than:
            raise ck.fail(f"{ctx}: compares {better!r} with itself")
        out.append(Claim(str(text), str(better), str(than)))
    return tuple(out)


def _profiles(ck: _Checker, raw: Any) -> Mapping[str, Profile]:
    if not isinstance(raw, dict) or set(raw) != set(_PROFILES):
        got = sorted(raw) if isinstance(raw, dict) else raw
        raise ck.fail(f"'profiles' must define exactly {list(_PROFILES)}, got {got}")
    out = {}
    for name in _PROFILES:
        p = raw[name]
        ctx = f"profiles.{name}"
        if not isinstance(p, dict):
            raise ck.fail(f"{ctx}: must be a table")
        ds = p.get("dataset")
        if ds is not None:
            ck.name("dataset", ds, ctx)
        settings = {k: v for k, v in p.items() if k not in ("dataset", "note")}
        out[name] = Profile(name, ds, MappingProxyType(settings), ck.text(p, "note", ctx, False))
    return MappingProxyType(out)


def load_spec(name_or_path: str | Path) -> Spec:
    """Load and validate one spec.

    Parameters
    ----------
    name_or_path
        A bundled spec name (see :func:`list_specs`) or a path to a TOML file.

    Returns
    -------
    Spec

    Raises
    ------
    metrics.InputError
        When the file is missing, is not valid TOML, or names anything unknown to the live
        registries; the message starts with the file path.
    """
    where = spec_path(str(name_or_path))
    try:
        if isinstance(name_or_path, Path) or Path(where).is_file():
            data = tomllib.loads(Path(where).read_text(encoding="utf-8"))
        else:
            data = tomllib.loads((_spec_dir() / f"{name_or_path}.toml").read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{where}: no such spec (known: {', '.join(list_specs())})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where}: invalid TOML: {exc}") from None
    ck = _Checker(where)
    extra = set(data) - _TOP_KEYS
    if extra:
        raise ck.fail(f"unknown top-level keys {sorted(extra)}")
    sid = ck.text(data, "id", "spec")
    stem = Path(where).name.removesuffix(".toml")
    if sid != stem and not Path(str(name_or_path)).is_file():
        raise ck.fail(f"id {sid!r} differs from the file name {stem!r}")
    kind = data.get("kind")
    if kind not in _KINDS:
        raise ck.fail(f"kind must be one of {_KINDS}, got {kind!r}")
    src = data.get("source")
    if not isinstance(src, dict):
        raise ck.fail("'source' table is missing")
    source = Source(*(ck.text(src, k, "source") for k in ("paper", "file", "ref")))
    dsr = data.get("dataset")
    if not isinstance(dsr, dict):
        raise ck.fail("'dataset' table is missing")
    ds_names = ck.names(dsr.get("names"), "dataset.names")
    for n in ds_names:
        ck.name("dataset", n, "dataset.names")
    dataset = DatasetRef(
        ds_names, ck.text(dsr, "subset", "dataset", False), ck.text(dsr, "note", "dataset", False)
    )
    metric_names = ck.names(data.get("metrics", []), "metrics")
    for m in metric_names:
        ck.name("metric", m, "metrics")
    columns = ck.names(data.get("columns", []), "columns")
    for c in columns:
        if c not in NON_METRIC_COLUMNS:
            raise ck.fail(f"columns: unknown column {c!r} (known: {sorted(NON_METRIC_COLUMNS)})")
    convention = data.get("convention")
    if any(m not in SEGMENTATION_METRICS for m in metric_names) and convention is None:
        raise ck.fail("a spec with matting metrics needs a 'convention'")
    if convention is not None:
        ck.name("convention", convention, "convention")
    groups = []
    for i, g in enumerate(data.get("groups", [])):
        ctx = f"groups[{i}]"
        gm = ck.names(g.get("metrics"), f"{ctx}.metrics")
        if len(gm) != len(metric_names):
            raise ck.fail(f"{ctx}: needs one metric per spec metric {list(metric_names)}")
        for m in gm:
            ck.name("metric", m, f"{ctx}.metrics")
        groups.append(Group(ck.text(g, "name", ctx), ck.text(g, "label", ctx), gm))
    group_names = {g.name for g in groups}
    if len(group_names) != len(groups):
        raise ck.fail("duplicate group names")
    raw_rows = data.get("rows")
    if not isinstance(raw_rows, list) or not raw_rows:
        raise ck.fail("'rows' must be a non-empty array of tables")
    cols = set(metric_names) | set(columns)
    rows = tuple(_row(ck, r, i, cols, group_names) for i, r in enumerate(raw_rows))
    top_pub = data.get("published")
    if top_pub is not None and (top_pub != {} or any(r.published for r in rows)):
        raise ck.fail("top-level 'published' may only be {} (no published numbers)")
    note = ck.text(data, "note", "spec", required=False)
    if top_pub == {} and not note:
        raise ck.fail("published = {} needs a 'note' saying why")
    if top_pub is None and not any(r.published for r in rows):
        raise ck.fail("no row has published numbers: say so with published = {} and a note")
    claims = _claims(ck, data.get("claims", []), rows)
    units = data.get("units", {})
    if not isinstance(units, dict) or not all(isinstance(v, str) for v in units.values()):
        raise ck.fail("'units' must map column names to strings")
    for k in units:
        if k not in cols:
            raise ck.fail(f"units: {k!r} is not a column of this spec")
    return Spec(
        id=sid,
        title=ck.text(data, "title", "spec"),
        kind=kind,
        source=source,
        dataset=dataset,
        metrics=metric_names,
        columns=columns,
        convention=convention,
        rows=rows,
        profiles=_profiles(ck, data.get("profiles")),
        groups=tuple(groups),
        units=MappingProxyType(dict(units)),
        claims=claims,
        headline=bool(data.get("headline", False)),
        plot=ck.text(data, "plot", "spec", required=False),
        note=note,
        path=where,
    )
