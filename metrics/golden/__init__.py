"""The 30 public golden cases, shipped with the package, and a checker for any metric code.

The cases (``cases/<name>/{pred,gt,trimap}.png``, 8-bit greyscale) and their reference values
(``reference.csv``: raw SAD, MSE, Grad, Conn; ``reference_details.csv``: the float64
re-statement, the two empty-level guards, what ``compute_sad_loss.m`` returns) were produced by
running the unmodified DIM MATLAB evaluation functions (Xu et al., CVPR 2017; the copy in
``PeterL1n/BackgroundMattingV2`` ``eval/`` @ 39aabd96) under GNU Octave 7.3.0 + octave-image
2.14.0. ``README.md`` beside this file is the set's own description (generation, precision,
the connectivity guard, every case); the files are a verbatim copy of the project's
``shared/golden/metrics`` folder, so every golden check runs in any clone and in any install.

What a check compares, per case and metric:

* ``convention="reference"``: the Octave values of ``reference.csv`` (float32 results of the
  reference code) at ``rtol=1e-5, atol=1e-6`` (raw units), NaN equal to NaN -- the README's
  suggested tolerance, which covers the reference's float32 accumulation (at most 4.2e-6
  relative in this set).
* any other named convention (``metrics.list_conventions()``): what our kernels give under
  that convention on the same cases, at the same tolerance. Each convention's agreement with
  its port's own code is tested in ``tests/test_conventions.py``; here it is the expected
  value a re-implementation of that port should reproduce.

``scale="paper"`` compares values divided by the paper divisors (SAD, Grad, Conn / 1000); the
absolute tolerance is divided likewise.

Examples
--------
>>> from metrics import golden
>>> len(golden.cases())
30
>>> golden.expected("identical_80x90")["sad"]
0.0
>>> golden.check(lambda p, g, t: {"sad": 0.0}, metrics=("sad",)).passed
False
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from metrics._scale import PAPER_DIVISORS, check_scale
from metrics.common import InputError, InputWarning

__all__ = [
    "GOLDEN_DIR",
    "KEYS",
    "RTOL",
    "ATOL",
    "GoldenCase",
    "GoldenResult",
    "GoldenReport",
    "cases",
    "load",
    "reference_row",
    "expected",
    "check",
    "load_callable",
    "read_values_csv",
    "export",
]

#: The folder holding ``cases/``, ``reference.csv``, ``reference_details.csv`` and ``README.md``.
GOLDEN_DIR = Path(__file__).resolve().parent
#: The four DIM metrics the golden values cover.
KEYS: tuple[str, ...] = ("sad", "mse", "grad", "conn")
#: The golden README's suggested tolerances against ``reference.csv`` (raw units).
RTOL = 1e-5
ATOL = 1e-6


@dataclass(frozen=True)
class GoldenCase:
    """One case: its name and the three 8-bit images (``uint8``, HxW)."""

    name: str
    pred: np.ndarray
    gt: np.ndarray
    trimap: np.ndarray


@cache
def _rows() -> dict[str, dict[str, str]]:
    with open(GOLDEN_DIR / "reference.csv", newline="") as fh:
        rows = {r["case"]: dict(r) for r in csv.DictReader(fh)}
    with open(GOLDEN_DIR / "reference_details.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            rows[r["case"]].update(r)
    return rows


def cases() -> list[str]:
    """The case names, sorted."""
    return sorted(_rows())


def reference_row(name: str) -> dict[str, str]:
    """``reference.csv`` merged with ``reference_details.csv`` for one case (strings, as
    written; ``nan`` where the reference computes 0/0)."""
    rows = _rows()
    if name not in rows:
        raise InputError(f"no golden case {name!r} (known: {', '.join(sorted(rows))})")
    return dict(rows[name])


@cache
def _load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import cv2

    reference_row(name)  # a clear error for an unknown name
    out = []
    for part in ("pred", "gt", "trimap"):
        path = GOLDEN_DIR / "cases" / name / f"{part}.png"
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.dtype != np.uint8 or img.ndim != 2:
            raise InputError(f"{path}: not an 8-bit greyscale PNG (a damaged install?)")
        img.setflags(write=False)
        out.append(img)
    return tuple(out)  # type: ignore[return-value]


def load(name: str) -> GoldenCase:
    """The three images of case ``name`` (read-only ``uint8`` arrays)."""
    return GoldenCase(name, *_load(name))


def _divisor(metric: str, scale: str) -> float:
    check_scale(scale)
    return 1.0 if scale == "raw" else PAPER_DIVISORS[metric]


def expected(name: str, convention: str = "reference", scale: str = "raw") -> dict[str, float]:
    """The values a correct implementation of ``convention`` gives on case ``name``.

    ``reference``: the Octave values of ``reference.csv``; any other convention: our kernels
    under that convention (see the module docstring). ``nan`` where the metric is undefined
    (MSE with no unknown pixel).
    """
    if convention == "reference":
        row = reference_row(name)
        return {k: float(row[k]) / _divisor(k, scale) for k in KEYS}
    import metrics

    c = load(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        got = metrics.evaluate(c.pred, c.gt, c.trimap, scale="raw", convention=convention)
    return {k: float(got[k]) / _divisor(k, scale) for k in KEYS}


@dataclass(frozen=True)
class GoldenResult:
    """One (case, metric) comparison."""

    case: str
    metric: str
    expected: float
    got: float | None
    ok: bool
    note: str = ""

    @property
    def rel_error(self) -> float:
        """``|got - expected| / |expected|``; NaN when either is NaN or ``expected`` is 0."""
        if self.got is None or math.isnan(self.expected) or math.isnan(self.got):
            return math.nan
        if self.expected == 0:
            return math.nan
        return abs(self.got - self.expected) / abs(self.expected)


@dataclass
class GoldenReport:
    """The outcome of :func:`check`: every comparison, and whether all passed."""

    convention: str
    scale: str
    rtol: float
    atol: float
    results: list[GoldenResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def failures(self) -> list[GoldenResult]:
        return [r for r in self.results if not r.ok]

    def format(self, verbose: bool = False) -> str:
        """Readable in a CI log: one line per failure (or per comparison with ``verbose``),
        then a summary line per metric and a PASS/FAIL line."""
        lines = []
        shown = self.results if verbose else self.failures
        for r in shown:
            got = "missing" if r.got is None else f"{r.got:.9g}"
            mark = "ok  " if r.ok else "FAIL"
            rel = "" if math.isnan(r.rel_error) else f"  rel {r.rel_error:.2e}"
            note = f"  ({r.note})" if r.note else ""
            lines.append(
                f"{mark} {r.case:<24} {r.metric:<5} expected {r.expected:.9g}  got {got}{rel}{note}"
            )
        metrics_seen = list(dict.fromkeys(r.metric for r in self.results))
        for m in metrics_seen:
            rs = [r for r in self.results if r.metric == m]
            bad = sum(not r.ok for r in rs)
            rels = [r.rel_error for r in rs if not math.isnan(r.rel_error)]
            worst = f", max rel error {max(rels):.2e}" if rels else ""
            lines.append(f"{m}: {len(rs) - bad}/{len(rs)} cases pass{worst}")
        n_bad = len(self.failures)
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"{verdict}: {len(self.results) - n_bad} of {len(self.results)} comparisons within "
            f"rtol={self.rtol:g}, atol={self.atol:g} ({self.scale} units) of the "
            f"{self.convention!r} golden values"
        )
        return "\n".join(lines)


def _close(got: float, want: float, rtol: float, atol: float) -> bool:
    return bool(np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True))


def _from_callable(fn: Callable[..., Any], case: GoldenCase, keys: Sequence[str]) -> dict:
    out = fn(case.pred.copy(), case.gt.copy(), case.trimap.copy())
    if isinstance(out, Mapping):
        return {k: out[k] for k in keys if k in out}
    if len(keys) == 1 and np.ndim(out) == 0:
        return {keys[0]: out}
    raise InputError(
        f"the implementation returned {type(out).__name__} for case {case.name!r}; return a "
        f"mapping with keys among {', '.join(keys)} (or a number when one metric is checked)"
    )


def check(
    impl: Callable[..., Any] | Mapping[str, Mapping[str, float]] | None = None,
    *,
    convention: str = "reference",
    metrics: Iterable[str] = KEYS,
    scale: str = "raw",
    rtol: float = RTOL,
    atol: float | None = None,
    case_names: Iterable[str] | None = None,
) -> GoldenReport:
    """Compare an implementation with the golden values, per case and metric.

    Parameters
    ----------
    impl
        ``None``: our own kernels (``metrics.evaluate`` under ``convention``). A callable
        ``fn(pred, gt, trimap)`` taking the three ``uint8`` arrays and returning a mapping
        ``{"sad": ..., "mse": ..., ...}`` (or a number when one metric is checked). Or the
        values themselves: ``{case: {metric: value}}`` (see :func:`read_values_csv`).
    convention
        Which convention's values to expect (module docstring).
    metrics
        Subset of ``sad, mse, grad, conn``.
    scale
        Units of the values: ``"raw"`` sums or ``"paper"`` (SAD, Grad, Conn / 1000).
    rtol, atol
        Tolerances; ``atol`` defaults to 1e-6 in raw units (divided by the paper divisor for
        ``scale="paper"``).
    case_names
        Restrict to these cases (default: all 30). A missing case or metric in ``impl``'s
        values is a failure, never a skip.
    """
    import metrics as _m

    keys = tuple(metrics)
    for k in keys:
        if k not in KEYS:
            raise InputError(f"golden values cover {', '.join(KEYS)}; got metric {k!r}")
    _m.get_convention(convention)  # unknown names fail with close matches
    check_scale(scale)
    names = list(case_names) if case_names is not None else cases()
    report = GoldenReport(convention, scale, rtol, ATOL if atol is None else atol)
    with warnings.catch_warnings():
        # the set holds stray trimap values and a trimap without unknown pixels on purpose
        warnings.simplefilter("ignore", InputWarning)
        _check_cases(report, impl, names, keys, convention, scale, rtol, atol)
    return report


def _check_cases(
    report: GoldenReport,
    impl: Any,
    names: Sequence[str],
    keys: Sequence[str],
    convention: str,
    scale: str,
    rtol: float,
    atol: float | None,
) -> None:
    import metrics as _m

    for name in names:
        want = expected(name, convention, scale)
        if impl is None:
            c = load(name)
            got = _m.evaluate(c.pred, c.gt, c.trimap, scale=scale, convention=convention)
        elif callable(impl):
            got = _from_callable(impl, load(name), keys)
        else:
            got = dict(impl.get(name, {}))
        for k in keys:
            a = report.atol if atol is not None else ATOL / _divisor(k, scale)
            if k not in got or got[k] is None:
                report.results.append(GoldenResult(name, k, want[k], None, False, "not given"))
                continue
            try:
                g = float(got[k])
            except (TypeError, ValueError):
                report.results.append(
                    GoldenResult(name, k, want[k], None, False, f"not a number: {got[k]!r}")
                )
                continue
            report.results.append(GoldenResult(name, k, want[k], g, _close(g, want[k], rtol, a)))


def load_callable(spec: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (``"path/to/file.py:function"`` works too)."""
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise InputError(f"{spec!r}: expected MODULE:FUNCTION (for example mypkg.metrics:evaluate)")
    if mod_name.endswith(".py"):
        path = Path(mod_name)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        sp = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(sp)  # type: ignore[arg-type]
        sp.loader.exec_module(mod)  # type: ignore[union-attr]
    else:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            raise InputError(f"{spec!r}: cannot import {mod_name!r} ({exc})") from exc
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise InputError(f"{spec!r}: {mod_name} has no function {attr!r}")
    return fn


def read_values_csv(path: str | Path) -> dict[str, dict[str, float]]:
    """A user's values as ``case,<metric>,...`` CSV (any subset of ``sad, mse, grad, conn``;
    ``nan`` allowed) -> ``{case: {metric: value}}``. Unknown cases are an error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    known = set(cases())
    out: dict[str, dict[str, float]] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "case" not in reader.fieldnames:
            raise InputError(f"{path}: needs a header with a 'case' column and metric columns")
        cols = [c for c in reader.fieldnames if c in KEYS]
        if not cols:
            raise InputError(f"{path}: no metric column (expected some of {', '.join(KEYS)})")
        for i, row in enumerate(reader, start=2):
            name = row["case"]
            if name not in known:
                raise InputError(f"{path} line {i}: unknown golden case {name!r}")
            if name in out:
                raise InputError(f"{path} line {i}: case {name!r} appears twice")
            vals = {}
            for c in cols:
                try:
                    vals[c] = float(row[c])
                except (TypeError, ValueError):
                    raise InputError(
                        f"{path} line {i}: {c} of {name!r} is not a number: {row[c]!r}"
                    ) from None
            out[name] = vals
    return out


def export(dest: str | Path, convention: str = "reference", scale: str = "raw") -> Path:
    """Copy the cases to ``dest`` (``cases/<name>/{pred,gt,trimap}.png``) with
    ``expected.csv`` for ``convention`` and the set's ``README.md``, for code that is not
    Python; returns ``dest``."""
    import shutil

    dest = Path(dest)
    (dest / "cases").mkdir(parents=True, exist_ok=True)
    for name in cases():
        shutil.copytree(GOLDEN_DIR / "cases" / name, dest / "cases" / name, dirs_exist_ok=True)
    shutil.copy2(GOLDEN_DIR / "README.md", dest / "README.md")
    tmp = dest / "expected.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", *KEYS])
        for name in cases():
            e = expected(name, convention, scale)
            w.writerow([name, *(repr(e[k]) for k in KEYS)])
    tmp.replace(dest / "expected.csv")
    return dest
