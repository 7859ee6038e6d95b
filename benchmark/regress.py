"""Regression checks of results against a stored baseline (``mattebench compare``).

A run's numbers are compared with a baseline's, per (dataset, method) and metric: the mean
over images and every image. The inputs are either run folders (``config.json`` + per-image
files, as :mod:`benchmark.runner` writes them) or results CSVs (``dataset,method,name,<metric>
...``, the run's ``results.csv``; a copy of it is the natural baseline to commit).

Rules, chosen so a CI job fails only on a real regression and never passes on a smaller test
set:

* A difference counts as a **regression** when the run is worse than the baseline (the
  direction from :attr:`metrics.MetricSpec.higher_is_better`) by more than the metric's
  tolerance: ``|run - base| > rel * |base| + atol``. ``rel`` defaults to ``1e-6`` (float
  rounding across machines; the same command gives the same numbers on one machine) and is set
  per metric with ``--tolerance METRIC=REL`` (``--tolerance REL`` sets every metric); ``atol``
  (``1e-12``) only keeps a zero baseline from making every change a regression.
* The **mean** decides by default. Per-image regressions beyond the same tolerance are counted
  and the worst are listed; ``images=True`` (``--per-image``) makes any of them fail too.
* Every (dataset, method, image) of the baseline must be in the run, with every metric of the
  baseline: a missing one fails, so a run that lost images cannot pass on a mean over fewer.
  Images or methods only the run has are listed and ignored.
* Means follow the tables: NaN values (MSE of an image without unknown pixels) are left out and
  the count is shown.
* Two run folders scored under different conventions are refused (the numbers are not
  comparable); a CSV carries no convention, so the caller must keep that straight.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metrics import METRICS, InputError

__all__ = [
    "DEFAULT_REL",
    "ATOL",
    "Check",
    "RegressionReport",
    "read_results",
    "compare_results",
    "parse_tolerances",
]

DEFAULT_REL = 1e-6
ATOL = 1e-12

#: (dataset, method) -> image name -> metric -> value
Results = dict[tuple[str, str], dict[str, dict[str, float]]]


def read_results(path: str | Path) -> tuple[Results, str | None]:
    """Per-image values of a run folder or a results CSV, and the run's convention (``None``
    for a CSV)."""
    path = Path(path)
    if path.is_dir():
        from benchmark.runner import load_run

        rows, cfg = load_run(path)
        out: Results = {}
        for r in rows:
            out.setdefault((r["dataset"], r["method"]), {})[r["name"]] = {
                k: float(v) for k, v in r["metrics"].items()
            }
        return out, cfg.get("convention", "reference")
    if not path.is_file():
        raise InputError(f"{path}: no such run folder or results CSV")
    out = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"dataset", "method", "name"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise InputError(
                f"{path}: not a results CSV (needs the columns dataset, method, name and "
                f"metric columns; has {', '.join(reader.fieldnames or []) or 'no header'})"
            )
        cols = [c for c in reader.fieldnames if c in METRICS]
        if not cols:
            raise InputError(f"{path}: no metric column (known: {', '.join(METRICS)})")
        for i, row in enumerate(reader, start=2):
            key = (row["dataset"], row["method"])
            if row["name"] in out.get(key, {}):
                raise InputError(f"{path} line {i}: {'/'.join(key)}/{row['name']} appears twice")
            vals = {}
            for c in cols:
                try:
                    vals[c] = float(row[c]) if row[c] not in ("", None) else math.nan
                except ValueError:
                    raise InputError(f"{path} line {i}: {c} is not a number: {row[c]!r}") from None
            out.setdefault(key, {})[row["name"]] = vals
    if not out:
        raise InputError(f"{path}: no rows")
    return out, None


def parse_tolerances(items: Sequence[str]) -> dict[str, float]:
    """``["sad=0.01", "0.001"]`` -> ``{"sad": 0.01, "*": 0.001}`` (``*``: every metric)."""
    out: dict[str, float] = {}
    for item in items:
        key, sep, val = item.rpartition("=")
        if not sep:
            key = "*"
        elif key not in METRICS:
            raise InputError(
                f"--tolerance {item}: unknown metric {key!r} (known: {', '.join(METRICS)})"
            )
        try:
            rel = float(val)
        except ValueError:
            raise InputError(f"--tolerance {item}: {val!r} is not a number") from None
        if not rel >= 0:
            raise InputError(f"--tolerance {item}: must be >= 0")
        out[key] = rel
    return out


@dataclass(frozen=True)
class Check:
    """One comparison: a mean (``image is None``) or one image."""

    dataset: str
    method: str
    metric: str
    image: str | None
    base: float
    run: float
    rel_tol: float
    n: int = 1

    @property
    def worse_by(self) -> float:
        """How much worse the run is (negative: better), in the metric's units."""
        d = self.run - self.base
        return -d if METRICS[self.metric].higher_is_better else d

    @property
    def rel_change(self) -> float:
        if math.isnan(self.base) or math.isnan(self.run):
            return math.nan
        if self.base == 0:
            return 0.0 if self.run == 0 else math.copysign(math.inf, self.run)
        return (self.run - self.base) / abs(self.base)

    @property
    def status(self) -> str:
        """``"regression"``, ``"improved"``, ``"same"`` (within tolerance) or ``"nan"`` (one
        side NaN, the other not)."""
        if math.isnan(self.base) or math.isnan(self.run):
            return "same" if math.isnan(self.base) and math.isnan(self.run) else "nan"
        bound = self.rel_tol * abs(self.base) + ATOL
        if abs(self.run - self.base) <= bound:
            return "same"
        return "regression" if self.worse_by > 0 else "improved"


@dataclass
class RegressionReport:
    """Everything :func:`compare_results` found; :attr:`passed` is the CI verdict."""

    means: list[Check] = field(default_factory=list)
    images: list[Check] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    per_image: bool = False

    @property
    def failed(self) -> list[Check]:
        bad = [c for c in self.means if c.status in ("regression", "nan")]
        if self.per_image:
            bad += [c for c in self.images if c.status in ("regression", "nan")]
        return bad

    @property
    def passed(self) -> bool:
        return not self.failed and not self.missing

    def format(self, worst: int = 5) -> str:
        """Plain text for a CI log: one line per mean, the worst per-image regressions, what
        is missing, and a PASS/FAIL line."""
        lines = []
        w = max([len(f"{c.dataset}/{c.method}") for c in self.means] + [10])
        lines.append(
            f"{'dataset/method':<{w}}  metric  {'baseline':>12}  {'run':>12}  {'change':>10}  "
            f"{'tol':>8}  status"
        )
        for c in self.means:
            rel = c.rel_change
            ch = "n/a" if math.isnan(rel) else f"{rel:+.3%}" if math.isfinite(rel) else "from 0"
            n_img = sum(
                1
                for i in self.images
                if (i.dataset, i.method, i.metric) == (c.dataset, c.method, c.metric)
                and i.status == "regression"
            )
            extra = f"; {n_img} image(s) worse beyond tol" if n_img else ""
            lines.append(
                f"{c.dataset + '/' + c.method:<{w}}  {c.metric:<6}  {c.base:>12.6g}  "
                f"{c.run:>12.6g}  {ch:>10}  {c.rel_tol:>8.2g}  {c.status.upper()} "
                f"(mean of {c.n}{extra})"
            )
        bad_img = sorted(
            (c for c in self.images if c.status == "regression"),
            key=lambda c: -c.worse_by / (abs(c.base) + ATOL),
        )
        if bad_img:
            gate = "fail" if self.per_image else "listed, the means decide"
            lines.append(f"per-image regressions ({len(bad_img)}; {gate}), worst first:")
            for c in bad_img[:worst]:
                lines.append(
                    f"  {c.dataset}/{c.method}/{c.image} {c.metric}: {c.base:.6g} -> {c.run:.6g}"
                )
        for m in self.missing:
            lines.append(f"MISSING in the run: {m}")
        if self.extra:
            lines.append(f"only in the run (ignored): {', '.join(self.extra[:10])}"
                         + (f" and {len(self.extra) - 10} more" if len(self.extra) > 10 else ""))  # fmt: skip
        n_reg = len(self.failed)
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"{verdict}: {len(self.means)} mean(s) compared, {n_reg} regression(s) beyond "
            f"tolerance, {len(self.missing)} missing"
        )
        return "\n".join(lines)


def _mean(values: Sequence[float]) -> tuple[float, int]:
    ok = [v for v in values if not math.isnan(v)]
    return (math.fsum(ok) / len(ok), len(ok)) if ok else (math.nan, 0)


def compare_results(
    run: Results,
    baseline: Results,
    tolerances: Mapping[str, float] | None = None,
    *,
    per_image: bool = False,
) -> RegressionReport:
    """Compare ``run`` with ``baseline`` (see the module docstring for the rules)."""
    tolerances = dict(tolerances or {})
    default = tolerances.pop("*", DEFAULT_REL)
    rep = RegressionReport(per_image=per_image)
    for key in run:
        if key not in baseline:
            rep.extra.append("/".join(key))
    for key, base_imgs in baseline.items():
        ds, method = key
        if key not in run:
            rep.missing.append(f"{ds}/{method} (all {len(base_imgs)} images)")
            continue
        run_imgs = run[key]
        lost = sorted(set(base_imgs) - set(run_imgs))
        if lost:
            shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
            rep.missing.append(f"{ds}/{method}: {len(lost)} of {len(base_imgs)} images ({shown})")
        rep.extra += [f"{ds}/{method}/{n}" for n in sorted(set(run_imgs) - set(base_imgs))]
        names = sorted(set(base_imgs) & set(run_imgs))
        metric_order = [k for k in METRICS if any(k in base_imgs[n] for n in names)]
        for k in metric_order:
            rel = tolerances.get(k, default)
            absent = [n for n in names if k in base_imgs[n] and k not in run_imgs[n]]
            if absent:
                rep.missing.append(f"{ds}/{method}: metric {k} for {len(absent)} image(s)")
                continue
            b_vals = [base_imgs[n][k] for n in names if k in base_imgs[n]]
            r_vals = [run_imgs[n][k] for n in names if k in base_imgs[n]]
            (bm, bn), (rm, _) = _mean(b_vals), _mean(r_vals)
            rep.means.append(Check(ds, method, k, None, bm, rm, rel, bn))
            for n in names:
                if k in base_imgs[n]:
                    rep.images.append(Check(ds, method, k, n, base_imgs[n][k], run_imgs[n][k], rel))
    return rep


def compare_paths(
    run: str | Path,
    baseline: str | Path,
    tolerances: Mapping[str, float] | None = None,
    *,
    per_image: bool = False,
) -> RegressionReport:
    """:func:`compare_results` of two run folders or results CSVs (refuses two runs scored
    under different conventions)."""
    r, rc = read_results(run)
    b, bc = read_results(baseline)
    if rc is not None and bc is not None and rc != bc:
        raise InputError(
            f"{run} is scored under convention {rc!r}, {baseline} under {bc!r}: not comparable"
        )
    return compare_results(r, b, tolerances, per_image=per_image)


def write_baseline(run: str | Path, dest: str | Path) -> Path:
    """A run's per-image values as a results CSV at ``dest`` (atomically, in the format of the
    run's own ``results.csv``), to commit as the baseline of later checks."""
    from benchmark.runner import write_results_csv

    res, _ = read_results(run)
    rows = [
        {"dataset": ds, "method": m, "name": n, "metrics": vals}
        for (ds, m), imgs in sorted(res.items())
        for n, vals in sorted(imgs.items())
    ]
    return write_results_csv(Path(dest).parent, rows, path=dest)


def _jsonable(rep: RegressionReport) -> dict[str, Any]:
    def row(c: Check) -> dict[str, Any]:
        return {"dataset": c.dataset, "method": c.method, "metric": c.metric, "image": c.image,
                "baseline": c.base, "run": c.run, "rel_tol": c.rel_tol, "status": c.status}  # fmt: skip

    return {
        "passed": rep.passed,
        "means": [row(c) for c in rep.means],
        "image_regressions": [row(c) for c in rep.images if c.status == "regression"],
        "missing": rep.missing,
        "extra": rep.extra,
    }


def report_json(rep: RegressionReport) -> str:
    """The report as JSON (NaN as null)."""
    text = json.dumps(_jsonable(rep), indent=2, default=str)
    return text.replace("NaN", "null")
