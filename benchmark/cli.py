"""The ``mattebench`` command line.

Subcommands::

    mattebench metrics PRED GT TRIMAP [--json] [--convention NAME] [--scale paper|raw]
    mattebench metrics --pred-dir D --gt-dir D --trimap-dir D [--out per_image.csv] [--workers N]
    mattebench conventions [-v]
    mattebench eval --dataset NAME[=ROOT] (--method NAME | --pred-dir DIR) [--executor dask]
    mattebench report RUN_DIR [--format md|tex|csv] [--grid NAMES]
    mattebench compose comp1k|d646 ... / trimaps generate|check ...
    mattebench train --model NAME --out DIR          (also under torchrun: DDP)
    mattebench prune --model NAME --method UNI|NS|CAP|DCP --kd none|NST|OFD|SP|SPKD --out DIR
    mattebench reproduce [SPEC ...|headline|all] [--profile quick|paper] [--data-root DIR]
    mattebench reproduce --list
    mattebench golden [--impl MODULE:FUNCTION | --values CSV] [--convention NAME]
    mattebench compare RUN BASELINE [--tolerance METRIC=REL ...] [--per-image]
    mattebench models | datasets | methods | convert-checkpoint
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from metrics import CONVENTIONS, InputError, InputWarning, UnknownNameError

__all__ = ["main", "build_parser"]


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.6g}"


def _json(obj: dict) -> str:
    """JSON with NaN written as ``null`` (bare NaN is not JSON, RFC 8259)."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in obj.items()}
    if "mean" in clean and isinstance(clean["mean"], dict):
        clean["mean"] = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in clean["mean"].items()
        }
    return json.dumps(clean, indent=2, allow_nan=False)


def _cmd_metrics(args: argparse.Namespace) -> int:
    from benchmark.folders import (
        METRIC_COLUMNS,
        score_folders,
        score_triplet,
        summarise,
        write_csv,
    )
    from benchmark.pairing import Triplet
    from metrics import get_convention

    conv = get_convention(args.convention)
    folder_mode = args.pred_dir is not None
    if folder_mode:
        if args.files:
            raise InputError(
                "give either PRED GT TRIMAP or --pred-dir/--gt-dir/--trimap-dir, not both"
            )
        if args.gt_dir is None or args.trimap_dir is None:
            raise InputError("--pred-dir needs --gt-dir and --trimap-dir")
        rows = score_folders(
            args.pred_dir,
            args.gt_dir,
            args.trimap_dir,
            convention=conv.name,
            scale=args.scale,
            workers=args.workers,
            progress=not args.no_progress,
        )
        mean, skipped = summarise(rows)
        _print_input_warnings(rows)
        for c, n in skipped.items():
            print(
                f"note: {c}: {n} image(s) gave NaN (no unknown pixel) and are left out of the mean",
                file=sys.stderr,
            )
        if args.out:
            write_csv(args.out, [*rows, mean], METRIC_COLUMNS)
            print(f"wrote {args.out} ({len(rows)} images + mean)", file=sys.stderr)
        if args.json:
            print(
                _json(
                    {
                        "convention": conv.name,
                        "scale": args.scale,
                        "images": len(rows),
                        "mean": mean,
                    }
                )
            )
        else:
            unit = (
                "paper units (SAD/1000, MSE, Grad/1000, Conn/1000)"
                if args.scale == "paper"
                else "raw sums"
            )
            print(f"{len(rows)} images, convention {conv.name}, {unit}")
            print("  ".join(f"{c.upper()} {_fmt(mean[c])}" for c in METRIC_COLUMNS))
        return 0
    if len(args.files) != 3:
        raise InputError(
            "mattebench metrics needs PRED GT TRIMAP (or --pred-dir/--gt-dir/--trimap-dir)"
        )
    pred_p, gt_p, tri_p = args.files
    row = score_triplet(Triplet("-", Path(pred_p), Path(gt_p), Path(tri_p)), conv.name, args.scale)
    for _, msg in row.pop("warnings"):
        print(f"mattebench: warning: {msg}", file=sys.stderr)
    vals = {k: row[k] for k in METRIC_COLUMNS}
    if args.json:
        print(_json({"convention": conv.name, "scale": args.scale, **vals}))
    else:
        print("  ".join(f"{k.upper()} {_fmt(v)}" for k, v in vals.items()))
    return 0


def _print_input_warnings(rows: Sequence[dict]) -> None:
    """One counted line per kind of input warning of a folder run, with its first example."""
    kinds: dict[str, list[str]] = {}
    for r in rows:
        for cat, msg in r.get("warnings", ()):
            kinds.setdefault(cat, []).append(msg)
    what = {
        "StrayTrimapWarning": "trimaps have values other than 0/128/255 (left out of the metrics)",
        "NoUnknownWarning": "trimaps have no unknown pixel (SAD, Grad, Conn 0; MSE NaN)",
        "LossyImageWarning": "mattes are JPEG files (lossy: values changed)",
    }
    for cat, msgs in kinds.items():
        print(
            f"mattebench: warning: {len(msgs)} of {len(rows)} images: "
            f"{what.get(cat, cat)}; first: {msgs[0]}",
            file=sys.stderr,
        )


def _cmd_conventions(args: argparse.Namespace) -> int:
    for conv in CONVENTIONS.values():
        print(conv.describe())
        if args.verbose:
            print(f"{'':15}source: {conv.source}")
            for d in conv.differences:
                print(f"{'':15}- {d}")
            if conv.checked:
                print(f"{'':15}checked: {conv.checked}")
    return 0


def _parse_dataset(arg: str) -> tuple[str, str | None]:
    name, _, root = arg.partition("=")
    return name, (root or None)


def _parse_kv(items: Sequence[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for it in items:
        key, sep, val = it.partition("=")
        if not sep:
            raise InputError(f"--set expects KEY=VALUE, got {it!r}")
        try:
            out[key] = json.loads(val)
        except json.JSONDecodeError:
            out[key] = val
    return out


def _method_args(pairs: Sequence[Sequence[str]]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for method, kv in pairs:
        out.setdefault(method, {}).update(_parse_kv([kv]))
    return out


def _cmd_eval(args: argparse.Namespace) -> int:
    from benchmark.runner import RunConfig, method_specs, run
    from metrics import get_convention

    get_convention(args.convention)
    kwargs = _parse_kv(args.set)
    if args.subset:
        kwargs["subset"] = args.subset
    datasets = []
    for d in args.dataset:
        name, root = _parse_dataset(d)
        datasets.append({"name": name, "root": root, "kwargs": kwargs})
    cfg = RunConfig(
        datasets=tuple(datasets),
        methods=method_specs(args.method, args.pred_dir, _method_args(args.method_arg)),
        convention=args.convention,
        force_known=not args.no_force_known,
        rounding=args.rounding,
    )
    t0 = time.perf_counter()
    rows = run(
        cfg,
        args.out,
        workers=args.workers,
        progress=not args.no_progress,
        executor=args.executor,
        scheduler=args.scheduler,
    )
    print(
        f"{len(rows)} per-image results in {args.out} ({time.perf_counter() - t0:.1f} s)",
        file=sys.stderr,
    )
    return _print_report(args.out, fmt="md", write=True)


def _print_report(run_dir: str, fmt: str, write: bool, require_complete: bool = False) -> int:
    from benchmark.runner import incomplete, load_run, planned_images, write_tables
    from reports.tables import input_notes

    rows, cfg = load_run(run_dir)  # a clear error for a non-run or an empty run
    short = incomplete(rows, planned_images(run_dir, cfg))
    if short and require_complete:
        raise InputError(
            f"{run_dir}: incomplete run ({'; '.join(short)}); resume it with the same eval command"
        )
    text = write_tables(run_dir, fmt=fmt, write=write, loaded=(rows, cfg))
    print(text, end="")
    for line in short:
        print(
            f"mattebench: warning: incomplete run: {line} (the means cover only those; resume "
            "with the same eval command, or pass --require-complete to fail)",
            file=sys.stderr,
        )
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for note in input_notes([r for r in rows if r["dataset"] == ds]):
            print(f"mattebench: warning: {ds}: {note}", file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    if args.compare:
        from benchmark.runner import compare_run

        a, b = args.compare
        print(compare_run(args.run_dir, a, b, dataset=args.dataset), end="")
        return 0
    if args.grid:
        from benchmark.runner import run_grid

        zoom = None
        if args.zoom:
            parts = args.zoom.split(",")
            if len(parts) != 4:
                raise InputError(f"--zoom expects x,y,width,height, got {args.zoom!r}")
            zoom = tuple(int(v) for v in parts)
        names = [n.strip() for n in args.grid.split(",") if n.strip()]
        for p in run_grid(args.run_dir, names, dataset=args.grid_dataset, zoom=zoom):  # type: ignore[arg-type]
            print(f"wrote {p}", file=sys.stderr)
    return _print_report(
        args.run_dir,
        fmt=args.format,
        write=not args.no_write,
        require_complete=args.require_complete,
    )


def _cmd_golden(args: argparse.Namespace) -> int:
    from metrics import golden

    if args.export:
        dest = golden.export(args.export, convention=args.convention, scale=args.scale)
        print(f"wrote {len(golden.cases())} cases and expected.csv ({args.convention!r}, "
              f"{args.scale} units) to {dest}")  # fmt: skip
        return 0
    if args.impl and args.values:
        raise InputError("give --impl or --values, not both")
    impl = None
    what = f"MatteBench's kernels (convention {args.convention!r})"
    if args.impl:
        impl = golden.load_callable(args.impl)
        what = args.impl
    elif args.values:
        impl = golden.read_values_csv(args.values)
        what = args.values
    keys = args.metric or list(golden.KEYS)
    rep = golden.check(
        impl,
        convention=args.convention,
        metrics=keys,
        scale=args.scale,
        rtol=args.rtol,
        atol=args.atol,
    )
    print(f"golden check of {what}: {len(golden.cases())} cases x {len(keys)} metric(s)")
    print(rep.format(verbose=args.verbose))
    return 0 if rep.passed else 1


def _cmd_compare(args: argparse.Namespace) -> int:
    from benchmark.regress import compare_paths, parse_tolerances, report_json, write_baseline

    if args.write_baseline:
        dest = write_baseline(args.run, args.baseline)
        print(f"wrote the baseline {dest} from {args.run}")
        return 0
    rep = compare_paths(
        args.run, args.baseline, parse_tolerances(args.tolerance), per_image=args.per_image
    )
    print(report_json(rep) if args.json else rep.format())
    return 0 if rep.passed else 1


def _cmd_list(args: argparse.Namespace) -> int:
    if args.what == "datasets":
        from benchmark.datasets import DATASETS

        for name, cls in sorted(DATASETS.items()):
            print(f"{name:<22} [{cls.evaluation}] {cls.description}")
    else:
        from baselines import METHODS
        from baselines.models import MODELS

        for name, cls in sorted(METHODS.items()):
            print(
                f"{name:<22} {'trimap' if cls.needs_trimap else 'no trimap':<10} {cls.description}"
            )
        for name, entry in sorted(MODELS.items()):
            if entry.task == "matting":
                print(f"{'model:' + name:<22} {'checkpoint':<10} {entry.description}")
    return 0


def _cmd_compose(args: argparse.Namespace) -> int:
    from benchmark.compose import compose_comp1k, compose_d646

    if args.dataset == "comp1k":
        if not args.adobe:
            raise InputError("compose comp1k needs --adobe DIR (the Adobe Test_set folder)")
        rep = compose_comp1k(args.adobe, args.voc, args.out, progress=not args.no_progress)
    else:
        if not args.d646:
            raise InputError("compose d646 needs --d646 DIR (the Distinctions-646 folder)")
        rep = compose_d646(args.d646, args.voc, args.out, progress=not args.no_progress)
    print(
        f"{args.dataset}: {rep.n_written} composite(s) written, {rep.n_skipped} already there, in {args.out}"
    )
    return 0


def _cmd_trimaps(args: argparse.Namespace) -> int:
    from benchmark.pairing import list_images
    from benchmark.trimaps import TrimapSpec, check_trimap, fix_trimap, save_trimaps
    from metrics.common import atomic_write, read_grey

    if args.action == "generate" or args.fix:
        if not args.out:
            raise InputError(f"trimaps {args.action}{' --fix' if args.fix else ''} needs --out DIR")
    if args.action == "generate":
        spec = TrimapSpec(kernel_size=args.kernel_size, iterations=args.iterations, seed=args.seed)
        rec = save_trimaps(args.folder, args.out, spec, progress=not args.no_progress)
        print(
            f"{len(rec.get('images', rec))} trimap(s) written to {args.out} (spec in trimap_spec.json)"
        )
        return 0
    bad = 0
    for stem, path in list_images(args.folder, "trimap folder").items():
        t = read_grey(path)
        rep = check_trimap(t, path.name)
        if not rep.ok:
            bad += 1
            print(rep)
            if args.fix:
                import cv2

                ok, buf = cv2.imencode(".png", fix_trimap(t, args.fix))
                with atomic_write(Path(args.out) / f"{stem}.png", "wb") as fh:
                    fh.write(buf.tobytes())
    print(
        f"{bad} trimap(s) with stray values"
        + (f"; fixed copies ({args.fix}) in {args.out}" if args.fix and bad else "")
    )
    return 1 if bad and not args.fix else 0


def _cmd_train(args: argparse.Namespace) -> int:
    from benchmark.training import TrainConfig, train

    cfg = TrainConfig(
        model=args.model,
        model_kwargs=_parse_kv(args.model_arg),
        data=args.data,
        size=args.size,
        crop=args.crop,
        batch=args.batch,
        iters=args.iters,
        lr=args.lr,
        milestones=tuple(args.milestones),
        gamma=args.gamma,
        sd_mode=args.sd,
        lambda_sd=args.lambda_sd,
        val_every=args.val_every,
        save_every=args.save_every,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        pool=args.pool,
        data_seed=args.data_seed,
        optimizer=args.optimizer,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        lr_policy=args.lr_policy,
        poly_power=args.poly_power,
        **_speed_args(args),
        **_train_set_args(args),
    )
    r = train(cfg, args.out, progress=not args.no_progress)
    if r["rank"] != 0:  # under torchrun, process 0 reports
        return 0
    first, last = r["history"][0]["val_loss"], r["history"][-1]["val_loss"]
    from baselines.models import MODELS

    seg = MODELS[cfg.model].task == "segmentation"
    what = "cross-entropy" if seg else "L1 (unknown region)"
    print(
        f"{cfg.model}: {r['step']} steps; validation {what} {first:.4f} -> {last:.4f}; model in {args.out}/model.pt"
    )
    return 0


def _train_set_args(args: argparse.Namespace) -> dict[str, object]:
    """``--dataset NAME=ROOT`` and its companions as TrainConfig fields (none: synthetic)."""
    if not args.dataset:
        for flag, v in (("--bg-root", args.bg_root), ("--names", args.names)):
            if v:
                raise InputError(f"{flag} needs --dataset NAME=ROOT")
        return {}
    name, _, root = args.dataset.partition("=")
    if not name or not root:
        raise InputError(
            f"--dataset expects NAME=ROOT (adobe, d646 or voc-aug), got {args.dataset!r}"
        )
    if name == "voc-aug":
        if args.bg_root or args.names:
            raise InputError("--dataset voc-aug=... takes no --bg-root or --names")
    elif not args.bg_root:
        raise InputError(f"--dataset {name}=... needs --bg-root (COCO train2014 or VOC JPEGs)")
    return {
        "train_set": name,
        "train_root": str(Path(root).resolve()),
        "bg_root": str(Path(args.bg_root).resolve()) if args.bg_root else "",
        "bg_kind": args.bg_kind,
        "family": args.family or "",
        "names": str(Path(args.names).resolve()) if args.names else "",
        "per_fg": args.per_fg,
    }


def _speed_args(args: argparse.Namespace) -> dict[str, object]:
    return {"amp": args.amp, "workers": args.workers}


def _add_train_set_args(p: argparse.ArgumentParser) -> None:
    """The real-training-set options of ``train`` and ``prune``."""
    p.add_argument(
        "--dataset",
        metavar="NAME=ROOT",
        help="train on a real training set instead of the synthetic data: adobe (the Deep "
        "Image Matting Training_set or Combined_Dataset) or d646 (Distinctions-646), "
        "composed on the fly on --bg-root; voc-aug (PASCAL VOC 2012 + SBD train_aug, "
        "PSPNet-50); every file is checked before training",
    )
    p.add_argument("--bg-root", help="with --dataset: the background JPEGs (COCO train2014 or VOC)")
    p.add_argument(
        "--bg-kind",
        choices=("coco", "voc"),
        default="coco",
        help="which backgrounds --bg-root holds",
    )
    p.add_argument(
        "--family",
        choices=("gca", "dim", "none"),
        help="with --dataset: the augmentation protocol (default: the model's: dim for the DIM "
        "family, gca otherwise)",
    )
    p.add_argument(
        "--names", help="with --dataset: a list file of foregrounds (the SDNet portrait subsets)"
    )
    p.add_argument(
        "--per-fg", type=int, default=100, help="with --dataset: backgrounds per foreground"
    )
    p.add_argument(
        "--amp",
        choices=("off", "bf16", "fp16"),
        default="off",
        help="mixed precision of the forward pass and the loss (torch.autocast)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="DataLoader worker processes preparing batches (pinned memory on CUDA); the "
        "batches are the same as with 0",
    )


def _cmd_models(args: argparse.Namespace) -> int:
    from baselines.models import list_models
    from benchmark.model_size import measure
    from reports.model_size import render_sizes

    names = list_models(args.pattern)
    if not names:
        raise InputError(f"no registered model matches {args.pattern!r}")
    rows = []
    for n in names:
        print(f"measuring {n} ...", file=sys.stderr)
        rows.append(measure(n, size=args.size, threads=args.threads, latency=not args.no_latency))
    print(render_sizes(rows, args.format, threads=args.threads), end="")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from baselines.models.dim import convert_foamliu_checkpoint

    convert_foamliu_checkpoint(args.src, args.dst)
    print(f"{args.src} -> {args.dst} (MatteBench checkpoint of 'dim'; no foreign code was run)")
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from benchmark.prune_pipeline import PruneConfig, prune

    cfg = PruneConfig(
        model=args.model,
        method=args.method.lower(),
        ratio=args.ratio,
        kd=args.kd.lower(),
        teacher=args.teacher,
        init="reinit" if args.reinit else "inherit",
        sparsity_init=args.sparsity_init,
        sparsity_iters=args.sparsity_iters,
        sparsity_s=args.sparsity_s,
        finetune_iters=args.finetune_iters,
        kd_weight=args.kd_weight,
        prune_kd_weight=args.prune_kd_weight,
        teacher_alpha_weight=args.teacher_alpha_weight,
        grad_clip=args.grad_clip,
        size=args.size,
        crop=args.crop,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        model_kwargs=_parse_kv(args.model_arg) or None,
        measure_size=args.measure_size,
        figures=not args.no_figures,
        **_speed_args(args),
        **_train_set_args(args),
    )
    r = prune(cfg, args.out, progress=not args.no_progress)
    ratio = r["ratio"]
    print(
        f"{cfg.model} {cfg.method.upper()} + {cfg.kd.upper()}: {r['params_teacher']:,} -> "
        f"{r['params_student']:,} parameters (requested ratio {cfg.ratio}: "
        f"{ratio['prunable_channels']:.1%} of prunable channels and {ratio['params']:.1%} of "
        f"parameters removed); student in {args.out}/model.pt"
    )
    if "speedup" in r:
        print(
            f"CPU latency teacher {r['latency_teacher_s']:.3f} s, student {r['latency_student_s']:.3f} s: {r['speedup']:.2f}x"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from metrics import __version__

    ap = argparse.ArgumentParser(
        prog="mattebench", description="Reference-exact alpha-matting benchmark."
    )
    ap.add_argument("--version", action="version", version=f"mattebench {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    m = sub.add_parser("metrics", help="SAD/MSE/Grad/Conn of one triplet or of folders")
    m.add_argument("files", nargs="*", metavar="PRED GT TRIMAP", help="three 8-bit images")
    m.add_argument("--pred-dir", help="folder of predictions (<name>.png, or Comp-1k <fg>_<k>.png)")
    m.add_argument("--gt-dir", help="folder of ground-truth alphas")
    m.add_argument("--trimap-dir", help="folder of trimaps (defines the test set)")
    m.add_argument("--out", help="per-image CSV (written atomically, with a mean row)")
    m.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    m.add_argument(
        "--convention", default="reference", help="metric convention (see `mattebench conventions`)"
    )
    m.add_argument(
        "--scale", choices=("paper", "raw"), default="paper", help="paper units or raw sums"
    )
    m.add_argument("--json", action="store_true", help="print JSON")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.set_defaults(func=_cmd_metrics)

    c = sub.add_parser("conventions", help="list the metric conventions, one line each")
    c.add_argument(
        "-v", "--verbose", action="store_true", help="also print sources and differences"
    )
    c.set_defaults(func=_cmd_conventions)

    e = sub.add_parser(
        "eval", help="run methods on datasets, score, write a results store and tables"
    )
    e.add_argument(
        "--dataset",
        action="append",
        required=True,
        metavar="NAME[=ROOT]",
        help="dataset (repeatable); see `mattebench datasets`",
    )
    e.add_argument(
        "--method",
        action="append",
        default=[],
        help="method to run (repeatable); see `mattebench methods`",
    )
    e.add_argument(
        "--pred-dir",
        action="append",
        default=[],
        help="score existing predictions from this folder (repeatable)",
    )
    e.add_argument(
        "--method-arg",
        action="append",
        nargs=2,
        default=[],
        metavar=("METHOD", "KEY=VALUE"),
        help="keyword for one method, e.g. --method-arg model:gca checkpoint=gca-dist.pth",
    )
    e.add_argument(
        "--convention",
        default="reference",
        help="metric convention of the main table (all are stored; see `mattebench conventions`)",
    )
    e.add_argument(
        "--out", default="mattebench-out/run", help="run directory (resumes if it exists)"
    )
    e.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: CPUs); with --executor dask, of the local cluster",
    )
    e.add_argument(
        "--executor",
        choices=("process", "dask"),
        default="process",
        help="process: a local process pool; dask: shards of images on a dask.distributed "
        'cluster (pip install "mattebench[scale]")',
    )
    e.add_argument(
        "--scheduler",
        metavar="ADDR",
        default=None,
        help="with --executor dask: a running scheduler, e.g. tcp://host:8786 (default: "
        "$MATTEBENCH_DASK_SCHEDULER, else a local cluster for the run); the run directory and "
        "the data must be on a filesystem every worker sees",
    )
    e.add_argument(
        "--no-force-known",
        action="store_true",
        help="do not force predictions to the trimap's known regions",
    )
    e.add_argument(
        "--rounding",
        choices=("round", "truncate"),
        default="round",
        help="float -> 8-bit prediction",
    )
    e.add_argument("--subset", help="list file of sample names to evaluate")
    e.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset keyword (e.g. count=20, size=256)",
    )
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_eval)

    r = sub.add_parser("report", help="render a run's tables (main + conventions)")
    r.add_argument("run_dir", help="a run folder written by `mattebench eval`")
    r.add_argument(
        "--format", choices=("md", "tex", "csv"), default="md", help="output format of the tables"
    )
    r.add_argument(
        "--require-complete",
        action="store_true",
        help="fail (exit 2) when the run lacks images of its test set, instead of a warning "
        "(for CI)",
    )
    r.add_argument(
        "--no-write", action="store_true", help="print only; do not write RUN_DIR/tables/"
    )
    r.add_argument("--grid", help="comma-separated image names: write a qualitative grid")
    r.add_argument("--grid-dataset", help="dataset of the grid images (when the run has several)")
    r.add_argument("--zoom", help="x,y,width,height of a zoomed inset in the grid")
    r.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="compare two methods of the run image by image: per metric the mean difference "
        "A - B with its 95%% bootstrap interval, a Wilcoxon signed-rank test and which is "
        "better, or that they cannot be told apart",
    )
    r.add_argument("--dataset", help="with --compare: only this dataset of the run")
    r.set_defaults(func=_cmd_report)

    g = sub.add_parser(
        "golden",
        help="check metric code against the 30 golden cases of the DIM MATLAB reference",
        description="Run the 30 public golden cases (pred, gt, trimap PNGs with the values of "
        "the official DIM MATLAB evaluation code, shipped with MatteBench) through our kernels "
        "or through your own implementation, per case and metric. Exit status 0: every "
        "comparison within tolerance; 1: some failed (listed); 2: bad input.",
    )
    g.add_argument(
        "--impl",
        metavar="MODULE:FUNCTION",
        help="your implementation: a function fn(pred, gt, trimap) taking uint8 arrays and "
        "returning {'sad': ..., 'mse': ..., 'grad': ..., 'conn': ...} (any subset); "
        "MODULE may be a path to a .py file",
    )
    g.add_argument(
        "--values",
        metavar="CSV",
        help="your values as a CSV with a 'case' column and metric columns (sad, mse, grad, conn)",
    )
    g.add_argument(
        "--convention",
        default="reference",
        help="whose values to expect: 'reference' = the MATLAB code; another name = our "
        "re-statement of that port (see `mattebench conventions`)",
    )
    g.add_argument(
        "--metric",
        action="append",
        choices=("sad", "mse", "grad", "conn"),
        help="check only this metric (repeatable; default: all four)",
    )
    g.add_argument(
        "--scale",
        choices=("raw", "paper"),
        default="raw",
        help="units of the values: raw sums or paper units (SAD, Grad, Conn / 1000)",
    )
    g.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance")
    g.add_argument(
        "--atol",
        type=float,
        default=None,
        help="absolute tolerance (default: 1e-6 in raw units, divided by 1000 for SAD, Grad "
        "and Conn in paper units)",
    )
    g.add_argument("--export", metavar="DIR", help="write the cases and expected.csv to DIR")
    g.add_argument("-v", "--verbose", action="store_true", help="print every comparison")
    g.set_defaults(func=_cmd_golden)

    cm = sub.add_parser(
        "compare",
        help="compare a run with a stored baseline; exit 1 on a regression (for CI)",
        description="Compare RUN with BASELINE (each a run folder or a results CSV: "
        "dataset,method,name,<metric>...) per dataset, method and metric: the mean over images "
        "and every image. A metric worse than the baseline by more than its relative tolerance "
        "is a regression; a baseline image or method missing from the run is a failure. Exit "
        "status 0: no regression; 1: regression or missing results; 2: bad input.",
    )
    cm.add_argument("run", help="the run folder or results CSV to check")
    cm.add_argument("baseline", help="the stored baseline: a run folder or a results CSV")
    cm.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="[METRIC=]REL",
        help="relative tolerance of a metric (repeatable), or of every metric without "
        "METRIC= (default: 1e-6, float rounding)",
    )
    cm.add_argument(
        "--per-image",
        action="store_true",
        help="also fail on any single image worse beyond the tolerance (default: the means "
        "decide; image regressions are listed)",
    )
    cm.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cm.add_argument(
        "--write-baseline",
        action="store_true",
        help="write RUN's per-image values to BASELINE as a results CSV (to commit) and exit",
    )
    cm.set_defaults(func=_cmd_compare)

    cp = sub.add_parser(
        "compose",
        help="build Composition-1k / Distinctions-646 test composites (official protocol)",
    )
    cp.add_argument("dataset", choices=("comp1k", "d646"), help="which test set to compose")
    cp.add_argument(
        "--adobe",
        help="comp1k: the Adobe test set (Test_set, Combined_Dataset, or a folder with fg/ alpha/)",
    )
    cp.add_argument(
        "--d646", help="d646: the Distinctions-646 folder (with Test/FG, Test/GT, bg_test.txt)"
    )
    cp.add_argument(
        "--voc",
        required=True,
        help="folder with the VOC background JPEGs (e.g. VOCdevkit/VOC2012/JPEGImages)",
    )
    cp.add_argument(
        "--out", required=True, help="output folder (merged/, bg/, compose_manifest.json); resumes"
    )
    cp.add_argument("--no-progress", action="store_true", help="no progress bar")
    cp.set_defaults(func=_cmd_compose)

    tp = sub.add_parser(
        "trimaps", help="generate trimaps for sets that ship none, or check trimap hygiene"
    )
    tp.add_argument(
        "action",
        choices=("generate", "check"),
        help="generate: trimaps from alpha mattes; check: report stray values of trimaps",
    )
    tp.add_argument("folder", help="generate: folder of alpha mattes; check: folder of trimaps")
    tp.add_argument("--out", help="generate: output folder; check --fix: folder for fixed copies")
    tp.add_argument("--kernel-size", type=int, default=3, help="elliptical kernel size (generate)")
    tp.add_argument(
        "--iterations", type=int, default=10, help="erosion/dilation iterations (generate)"
    )
    tp.add_argument("--seed", type=int, default=None, help="seed (generate)")
    tp.add_argument(
        "--fix", choices=("nearest", "threshold"), help="check: write fixed copies to --out"
    )
    tp.add_argument("--no-progress", action="store_true", help="no progress bar")
    tp.set_defaults(func=_cmd_trimaps)

    t = sub.add_parser(
        "train", help="train a registered model on on-the-fly synthetic data (resumable)"
    )
    t.add_argument(
        "--model", required=True, help="registered model (see baselines.models.list_models)"
    )
    t.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model constructor keyword",
    )
    t.add_argument("--out", required=True, help="run folder (resumes if it exists)")
    t.add_argument(
        "--data", choices=("portrait", "objects"), default="portrait", help="synthetic kind"
    )
    t.add_argument("--size", type=int, default=160, help="generated sample size (long side)")
    t.add_argument("--crop", type=int, default=128, help="training crop side in pixels")
    t.add_argument("--batch", type=int, default=4, help="samples per optimiser step")
    t.add_argument("--iters", type=int, default=200, help="optimiser steps")
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    t.add_argument(
        "--milestones",
        type=int,
        nargs="*",
        default=[],
        help="steps where the lr is multiplied by --gamma",
    )
    t.add_argument(
        "--gamma", type=float, default=0.1, help="learning-rate factor at each milestone"
    )
    t.add_argument(
        "--optimizer",
        choices=("adam", "sgd"),
        default="adam",
        help="Adam, or SGD with --momentum (semseg's PSPNet recipe)",
    )
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    t.add_argument(
        "--weight-decay", type=float, default=0.0, help="L2 weight decay (torch's, coupled)"
    )
    t.add_argument(
        "--lr-policy",
        choices=("step", "poly"),
        default="step",
        help="step: x --gamma at each milestone; poly: lr x (1 - step/iters) ** --poly-power "
        "(semseg)",
    )
    t.add_argument("--poly-power", type=float, default=0.9, help="exponent of the poly policy")
    t.add_argument(
        "--sd",
        choices=("best", "dense", "transitive", "none"),
        default="best",
        help="SDNet self-distillation",
    )
    t.add_argument(
        "--lambda-sd", type=float, default=1.0, help="weight of the self-distillation loss"
    )
    t.add_argument("--val-every", type=int, default=50, help="validate every N steps")
    t.add_argument(
        "--save-every", type=int, default=50, help="write the resume state every N steps"
    )
    t.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights and the sampling"
    )
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    t.add_argument(
        "--pool",
        type=int,
        default=0,
        help="0: an endless synthetic stream seeded by --seed; N: a fixed training set of N "
        "samples generated from --data-seed, visited in shuffled epochs (default: %(default)s)",
    )
    t.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="generator seed of the fixed training set (--pool N) (default: %(default)s)",
    )
    _add_train_set_args(t)
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    mp = sub.add_parser("models", help="model size table: parameters, MB, GMACs, CPU latency")
    mp.add_argument("--pattern", default="*", help="shell pattern over model names")
    mp.add_argument(
        "--size", type=int, default=512, help="input side (PSPNet: the nearest 8k+1 below)"
    )
    mp.add_argument("--threads", type=int, default=2, help="torch CPU threads for the timing")
    mp.add_argument("--no-latency", action="store_true", help="skip the timing")
    mp.add_argument(
        "--format", choices=("md", "tex", "csv"), default="md", help="output format of the table"
    )
    mp.set_defaults(func=_cmd_models)

    cc = sub.add_parser(
        "convert-checkpoint", help="convert an official checkpoint that pickles a whole module"
    )
    cc.add_argument(
        "kind",
        choices=("dim-foamliu",),
        help="dim-foamliu: BEST_checkpoint.tar of DIM-PyTorch / DCP",
    )
    cc.add_argument("src", help="the official checkpoint file")
    cc.add_argument("dst", help="where to write the converted state_dict checkpoint")
    cc.set_defaults(func=_cmd_convert)

    pr = sub.add_parser(
        "prune", help="sparsity training, channel selection, surgery, fine-tuning with KD"
    )
    pr.add_argument("--model", required=True, help="registered matting model")
    pr.add_argument(
        "--method",
        required=True,
        choices=("UNI", "NS", "CAP", "DCP", "uni", "ns", "cap", "dcp"),
        help="channel-selection criterion: UNI (uniform), NS (network slimming), CAP, DCP "
        "(distillation-based pruning)",
    )
    pr.add_argument(
        "--ratio", type=float, default=0.5, help="fraction of prunable channels to remove"
    )
    pr.add_argument(
        "--kd",
        default="none",
        choices=("none", "NST", "OFD", "SP", "SPKD", "nst", "ofd", "sp", "spkd"),
        help="feature distillation of the training stage (and of DCP's pruning stage)",
    )
    pr.add_argument(
        "--teacher", help="teacher checkpoint (without one the teacher is random: smoke tests only)"
    )
    init = pr.add_mutually_exclusive_group()
    init.add_argument(
        "--inherit-weights",
        action="store_true",
        help="training stage: keep the surviving pruning-stage weights (default)",
    )
    init.add_argument(
        "--reinit",
        action="store_true",
        help="training stage: re-initialise the pruned network (as the DCP code)",
    )
    pr.add_argument(
        "--sparsity-init",
        choices=("scratch", "teacher"),
        default="scratch",
        help="pruning stage starts from fresh weights with BN gamma 0.5 and beta frozen at 0 "
        "(scratch, the DCP code) or from the teacher's weights (default: %(default)s)",
    )
    pr.add_argument("--out", required=True, help="run folder (stages cached; resumes)")
    pr.add_argument(
        "--sparsity-iters", type=int, default=50, help="pruning-stage (sparsity training) steps"
    )
    pr.add_argument("--sparsity-s", type=float, default=1e-4, help="L1 weight on BN scales")
    pr.add_argument(
        "--finetune-iters", type=int, default=100, help="training-stage (fine-tuning) steps"
    )
    pr.add_argument(
        "--kd-weight",
        type=float,
        default=1.0,
        help="w_3: distillation weight of the training stage (default: %(default)s)",
    )
    pr.add_argument(
        "--prune-kd-weight",
        type=float,
        default=1.0,
        help="lambda_4: distillation weight of the pruning stage, for a criterion that distils "
        "there (DCP) (default: %(default)s)",
    )
    pr.add_argument(
        "--teacher-alpha-weight",
        type=float,
        default=1.0,
        help="teacher-alpha L1 weight on the unknown region, both stages; the supplement is "
        "silent, the DCP code uses 1 (default: %(default)s)",
    )
    pr.add_argument(
        "--grad-clip",
        type=float,
        default=5.0,
        help="clamp every gradient element to +-this (DCP code: 5; 0: off) (default: %(default)s)",
    )
    pr.add_argument("--size", type=int, default=96, help="generated sample size (long side)")
    pr.add_argument("--crop", type=int, default=64, help="training crop side in pixels")
    pr.add_argument("--batch", type=int, default=2, help="samples per optimiser step")
    pr.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (both stages)")
    pr.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights and the sampling"
    )
    pr.add_argument("--device", default="cpu", help="cpu or cuda")
    pr.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    pr.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model constructor keyword (repeatable)",
    )
    pr.add_argument(
        "--measure-size",
        type=int,
        default=512,
        help="time teacher vs student at this size (0: skip)",
    )
    _add_train_set_args(pr)
    pr.add_argument(
        "--no-figures", action="store_true", help="skip the channel histogram (channels.png/.pdf)"
    )
    pr.add_argument("--no-progress", action="store_true", help="no progress bar")
    pr.set_defaults(func=_cmd_prune)

    rp = sub.add_parser(
        "reproduce",
        help="regenerate a paper table/figure from a spec (train, prune, evaluate, report)",
        description="Regenerate paper tables and figures from experiment specs; every stage is "
        "cached under OUT/stages (a rerun skips finished work, a killed run resumes). SPEC: "
        "spec names (see --list), 'headline' (the supplement's Table 1 and Figure 1; the "
        "default) or 'all'.",
    )
    rp.add_argument("specs", nargs="*", metavar="SPEC", help="spec names, 'headline' or 'all'")
    rp.add_argument("--list", action="store_true", help="list the bundled specs and exit")
    rp.add_argument(
        "--profile",
        choices=("quick", "paper"),
        default="quick",
        help="quick: the embedded synthetic data at small scale on a CPU; paper: the real "
        "test set (--data-root) and the given checkpoints",
    )
    rp.add_argument("--data-root", help="the real test set's folder (paper profile)")
    rp.add_argument(
        "--train-root",
        metavar="[NAME=]DIR",
        help="paper profile: train every row without a --checkpoint on the real training set "
        "in DIR (the spec's train_set: adobe, d646 or voc-aug; NAME= overrides it) with the "
        "spec's schedule",
    )
    rp.add_argument("--bg-root", help="with --train-root: the background JPEGs (COCO train2014)")
    rp.add_argument(
        "--names", help="with --train-root: the list file of the SDNet portrait foregrounds"
    )
    rp.add_argument("--out", default="mattebench-out/reproduce", help="output folder")
    rp.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="KEY=PATH",
        help="a checkpoint: KEY is a model name (teacher/baseline), a row label or GROUP:LABEL",
    )
    rp.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting"
    )
    rp.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="train every row N times (training seeds seed .. seed+N-1; the teacher is shared): "
        "cells show mean +- std, the verdict lines use every seed (default: the profile's)",
    )
    rp.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="run independent (seed, row) units in N worker processes; changes the wall time "
        "only, not the tables (default: min(2, CPUs))",
    )
    rp.add_argument(
        "--plan",
        action="store_true",
        help="paper profile: print every training stage's steps and images (from --train-root, "
        "else the official sets' sizes) and exit without training",
    )
    rp.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="MODEL=IMAGES_PER_S",
        help="with --plan: a model's training images/s (as a stage prints it after its first "
        "steps), to estimate each stage's hours",
    )
    rp.add_argument("--smoke", action="store_true", help="a few steps on tiny images (tests)")
    rp.add_argument(
        "--executor",
        choices=("process", "dask"),
        default="process",
        help="where evaluation stages run: a local process pool or a dask cluster",
    )
    rp.add_argument("--scheduler", help="dask scheduler address (with --executor dask)")
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp.set_defaults(func=_cmd_reproduce)

    for what in ("datasets", "methods"):
        lp = sub.add_parser(what, help=f"list the registered {what}")
        lp.set_defaults(func=_cmd_list, what=what)
    ap.formatter_class = _HelpFormatter
    for sp in sub.choices.values():
        sp.formatter_class = _HelpFormatter
    return ap


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help shows its default (unless it has none, is a switch, or already
    says it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or not action.option_strings
            or default in (None, False, argparse.SUPPRESS)
            or default == []
        ):
            return text
        return f"{text} (default: %(default)s)"


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from benchmark.reproduce import checkpoint_keys, reproduce, spec_lines, write_index
    from benchmark.specs import list_specs, load_spec

    if args.list:
        print("\n".join(spec_lines()))
        print("(* = headline: `mattebench reproduce` with no SPEC runs these)")
        return 0
    names: list[str] = []
    for n in args.specs or ["headline"]:
        if n == "all":
            names += list_specs()
        elif n == "headline":  # its table first, then its figure
            heads = [load_spec(x) for x in list_specs() if load_spec(x).headline]
            names += [sp.id for sp in sorted(heads, key=lambda sp: (sp.kind != "table", sp.id))]
        else:
            names.append(n)
    checkpoints: dict[str, str] = {}
    for item in args.checkpoint:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise InputError(f"--checkpoint expects KEY=PATH, got {item!r}")
        checkpoints[key] = path
    specs = {n: load_spec(n) for n in dict.fromkeys(names)}
    keys = {n: checkpoint_keys(sp) for n, sp in specs.items()}
    stray = [k for k in checkpoints if not any(k in ks for ks in keys.values())]
    if stray:
        raise InputError(f"--checkpoint {stray[0]}=...: no row or model of that name in {names}")
    t0 = time.perf_counter()
    overrides = _parse_kv(args.set)
    if args.seeds is not None:
        if args.seeds < 1:
            raise InputError(f"--seeds must be at least 1, got {args.seeds}")
        overrides["seeds"] = args.seeds
    if args.plan:
        return _print_plans(args, specs, overrides, checkpoints, keys)
    jobs = args.jobs if args.jobs is not None else max(1, min(2, os.cpu_count() or 1))
    for n in specs:
        res = reproduce(
            n,
            profile=args.profile,
            data_root=args.data_root,
            out=args.out,
            checkpoints={k: v for k, v in checkpoints.items() if k in keys[n]},
            overrides=overrides,
            smoke=args.smoke,
            progress=not args.no_progress,
            executor=args.executor,
            scheduler=args.scheduler,
            jobs=jobs,
            train_root=args.train_root,
            bg_root=args.bg_root,
            names=args.names,
        )
        for f in res.files:
            if f.suffix == ".md":
                print(f.read_text())
        print(f"{res.spec}: {', '.join(str(f) for f in res.files)}")
    index = write_index(args.out)
    print(f"index: {index}  (total {time.perf_counter() - t0:.0f} s)")
    return 0


def _print_plans(
    args: argparse.Namespace,
    specs: dict[str, object],
    overrides: dict[str, object],
    checkpoints: dict[str, str],
    keys: dict[str, set[str]],
) -> int:
    from benchmark.reproduce import plan_lines, plan_spec

    if args.profile != "paper":
        raise InputError("--plan plans the paper profile's training: add --profile paper")
    rates: dict[str, float] = {}
    for item in args.rate:
        model, sep, val = item.partition("=")
        try:
            rates[model] = float(val)
        except ValueError:
            sep = ""
        if not sep or not model or rates.get(model, 0) <= 0:
            raise InputError(f"--rate expects MODEL=IMAGES_PER_S (a positive number), got {item!r}")
    for n in specs:
        plan = plan_spec(
            n,
            overrides=overrides,
            train_root=args.train_root,
            bg_root=args.bg_root,
            names=args.names,
            checkpoints={k: v for k, v in checkpoints.items() if k in keys[n]},
        )
        source = args.train_root or "the official training set's size"
        print(f"{n} ({source}):")
        print("\n".join(plan_lines(plan, rates)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mattebench`` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, InputWarning):  # our own words, no source line
            print(f"mattebench: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        return int(args.func(args) or 0)
    except (InputError, UnknownNameError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"mattebench: error: {msg}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
