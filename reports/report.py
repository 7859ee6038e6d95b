"""All tables of a run, and two methods of a run compared image by image.

Pure functions of the per-image rows (``benchmark.runner.load_results``) and the run's
configuration: reading and writing the run directory is :func:`benchmark.runner.write_tables`
and :func:`benchmark.runner.compare_run` (``reports`` imports only ``metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from metrics import METRICS, InputError
from reports.stats import CONFIDENCE, RESAMPLES, paired_comparison
from reports.tables import Table, _fmt, _fmt_ci, _mean, discrepancy_table, summary_table

__all__ = ["run_tables", "compare_methods", "compare_datasets"]


def run_tables(
    rows: Sequence[dict[str, Any]],
    cfg: dict[str, Any],
    planned: Mapping[tuple[str, str], int] | None = None,
) -> dict[tuple[str, str], Table]:
    """``(dataset, kind) -> Table`` in the run's dataset order: ``"main"`` for every dataset
    and, where per-convention results exist (unknown-region datasets), ``"conventions"``.
    ``planned`` ((dataset, method) -> images of the complete run) makes an incomplete run's
    caption say "N of M images"."""
    out: dict[tuple[str, str], Table] = {}
    for ds in dict.fromkeys(d["name"] for d in cfg["datasets"]):
        if not any(r["dataset"] == ds for r in rows):
            continue  # a run stopped before this dataset's first image
        plan = {m: n for (d, m), n in (planned or {}).items() if d == ds}
        out[(ds, "main")] = summary_table(rows, ds, run_config=cfg, planned=plan)
        if any(r["dataset"] == ds and r.get("conventions") for r in rows):
            out[(ds, "conventions")] = discrepancy_table(rows, ds)
    return out


def _methods(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rows))


def _check_pair(methods: Sequence[str], a: str, b: str, where: str) -> None:
    for m in (a, b):
        if m not in methods:
            raise InputError(
                f"--compare: no method {m!r} {where} (it has: {', '.join(methods) or 'none'})"
            )
    if a == b:
        raise InputError(f"--compare: {a!r} compared with itself")


def compare_methods(
    rows: Sequence[dict[str, Any]], dataset: str, a: str, b: str, *, confidence: float = CONFIDENCE
) -> str:
    """Markdown: methods ``a`` and ``b`` of ``dataset`` compared image by image, per metric.

    Images are paired by (dataset, image name); an image that only one method has is left
    out, and so is a pair with a NaN value of the metric (e.g. MSE without unknown pixels),
    so ``n`` may differ between metrics. For every metric of the registry both methods have:
    both means over the pairs, the mean of the per-image difference ``a - b`` with its
    bootstrap interval, the Wilcoxon signed-rank p-value and the verdict
    (:func:`reports.stats.paired_comparison`: "better" only when the interval excludes 0 and
    p < 1 - confidence; the direction from :attr:`metrics.MetricSpec.higher_is_better`).

    Raises
    ------
    InputError
        ``a`` or ``b`` is not a method of ``dataset`` (the message lists those it has), ``a``
        is ``b``, or the two share no image.
    """
    rows = [r for r in rows if r["dataset"] == dataset]
    _check_pair(_methods(rows), a, b, f"on {dataset} in this run")
    by = {m: {r["name"]: r["metrics"] for r in rows if r["method"] == m} for m in (a, b)}
    names = sorted(set(by[a]) & set(by[b]))
    if not names:
        raise InputError(f"--compare: {a!r} and {b!r} share no image on {dataset}")
    metrics = [k for k in METRICS if all(k in by[m][n] for m in (a, b) for n in names)]
    level = f"{confidence:.0%}"
    lines = [
        f"**Paired comparison on {dataset}: {a} - {b}.** Per-image differences on the "
        f"{len(names)} images both have (of {len(by[a])} / {len(by[b])}); mean difference with "
        f"its {level} bootstrap interval over images (percentile, {RESAMPLES} resamples, "
        "seed 0); Wilcoxon signed-rank test, two-sided, zero differences dropped; "
        f"'better' needs both the interval to exclude 0 and p < {1 - confidence:.2g}.",
        "",
        f"| Metric | {a} | {b} | {a} - {b} [{level} CI] | Wilcoxon p | n | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for k in metrics:
        spec = METRICS[k]
        va = [float(by[a][n][k]) for n in names]
        vb = [float(by[b][n][k]) for n in names]
        c = paired_comparison(va, vb, higher_is_better=spec.higher_is_better, names=(a, b),
                              metric=k, confidence=confidence)  # fmt: skip
        pairs = [
            (x, y) for x, y in zip(va, vb, strict=True) if not (math.isnan(x) or math.isnan(y))
        ]
        ma, mb = _mean([x for x, _ in pairs])[0], _mean([y for _, y in pairs])[0]
        diff = _fmt_ci(c.mean_diff, c.lo, c.hi)
        if c.mean_diff > 0:
            diff = "+" + diff
        lines.append(
            f"| {spec.label} {spec.arrow} | {_fmt(ma)} | {_fmt(mb)} | {diff} | "
            f"{c.p_value:.3g} | n={c.n} | {c.verdict} |"
        )
    return "\n".join(lines) + "\n"


def compare_datasets(
    rows: Sequence[dict[str, Any]],
    datasets: Sequence[str],
    a: str,
    b: str,
    *,
    dataset: str | None = None,
    confidence: float = CONFIDENCE,
) -> str:
    """:func:`compare_methods` on ``dataset``, or on every one of ``datasets`` that has both
    methods (a run may evaluate a method on some of its datasets only)."""
    if dataset is not None:
        if dataset not in datasets:
            raise InputError(
                f"--compare: no dataset {dataset!r} in this run ({', '.join(datasets)})"
            )
        return compare_methods(rows, dataset, a, b, confidence=confidence)
    both = [ds for ds in datasets if {a, b} <= {r["method"] for r in rows if r["dataset"] == ds}]
    if not both:
        _check_pair(_methods(rows), a, b, "in this run")
        raise InputError(f"--compare: no dataset of this run has both {a!r} and {b!r}")
    return "\n".join(compare_methods(rows, ds, a, b, confidence=confidence) for ds in both)
