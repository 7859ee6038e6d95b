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
    mattebench models | datasets | methods | convert-checkpoint
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from metrics import CONVENTIONS, InputError, UnknownNameError

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
    from benchmark.folders import METRIC_COLUMNS, score_folders, summarise, write_csv
    from benchmark.io import read_alpha, read_trimap
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
    pred, gt, tri = read_alpha(pred_p), read_alpha(gt_p), read_trimap(tri_p)
    try:
        vals = conv.evaluate(pred, gt, tri, scale=args.scale)
    except InputError as e:
        raise InputError(f"{pred_p} / {gt_p} / {tri_p}: {e}") from None
    if args.json:
        print(_json({"convention": conv.name, "scale": args.scale, **vals}))
    else:
        print("  ".join(f"{k.upper()} {_fmt(v)}" for k, v in vals.items()))
    return 0


def _cmd_conventions(args: argparse.Namespace) -> int:
    for conv in CONVENTIONS.values():
        print(conv.describe())
        if args.verbose:
            print(f"{'':15}source: {conv.source}")
            for d in conv.differences:
                print(f"{'':15}- {d}")
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


def _print_report(run_dir: str, fmt: str, write: bool) -> int:
    from benchmark.runner import write_tables

    text = write_tables(run_dir, fmt=fmt, write=write)
    print(text, end="")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    if args.compare:
        from benchmark.runner import compare_run

        a, b = args.compare
        print(compare_run(args.run_dir, a, b, dataset=args.dataset), end="")
        return 0
    if args.grid:
        from reports.grid import run_grid

        zoom = None
        if args.zoom:
            parts = args.zoom.split(",")
            if len(parts) != 4:
                raise InputError(f"--zoom expects x,y,width,height, got {args.zoom!r}")
            zoom = tuple(int(v) for v in parts)
        names = [n.strip() for n in args.grid.split(",") if n.strip()]
        for p in run_grid(args.run_dir, names, dataset=args.grid_dataset, zoom=zoom):  # type: ignore[arg-type]
            print(f"wrote {p}", file=sys.stderr)
    return _print_report(args.run_dir, fmt=args.format, write=not args.no_write)


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
    from benchmark.io import atomic_write, read_grey
    from benchmark.pairing import list_images
    from benchmark.trimaps import TrimapSpec, check_trimap, fix_trimap, save_trimaps

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
    from baselines.training import TrainConfig, train

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
    )
    r = train(cfg, args.out, progress=not args.no_progress)
    if r["rank"] != 0:  # under torchrun, process 0 reports
        return 0
    first, last = r["history"][0]["val_loss"], r["history"][-1]["val_loss"]
    print(
        f"{cfg.model}: {r['step']} steps; validation L1 (unknown region) {first:.4f} -> {last:.4f}; model in {args.out}/model.pt"
    )
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from baselines.models import list_models
    from reports.model_size import measure, render_sizes

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
    from baselines.prune_pipeline import PruneConfig, prune

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
    from metrics._version import __version__

    ap = argparse.ArgumentParser(
        prog="mattebench", description="Reference-exact alpha-matting benchmark."
    )
    ap.add_argument("--version", action="version", version=f"mattebench {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

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
    e.add_argument("--convention", default="reference", help="metric convention of the main table")
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
    r.add_argument("run_dir")
    r.add_argument("--format", choices=("md", "tex", "csv"), default="md")
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

    cp = sub.add_parser(
        "compose",
        help="build Composition-1k / Distinctions-646 test composites (official protocol)",
    )
    cp.add_argument("dataset", choices=("comp1k", "d646"))
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
    cp.add_argument("--no-progress", action="store_true")
    cp.set_defaults(func=_cmd_compose)

    tp = sub.add_parser(
        "trimaps", help="generate trimaps for sets that ship none, or check trimap hygiene"
    )
    tp.add_argument("action", choices=("generate", "check"))
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
    tp.add_argument("--no-progress", action="store_true")
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
    t.add_argument("--crop", type=int, default=128)
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--iters", type=int, default=200)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument(
        "--milestones",
        type=int,
        nargs="*",
        default=[],
        help="steps where the lr is multiplied by --gamma",
    )
    t.add_argument("--gamma", type=float, default=0.1)
    t.add_argument(
        "--sd",
        choices=("best", "dense", "transitive", "none"),
        default="best",
        help="SDNet self-distillation",
    )
    t.add_argument("--lambda-sd", type=float, default=1.0)
    t.add_argument("--val-every", type=int, default=50)
    t.add_argument("--save-every", type=int, default=50)
    t.add_argument("--seed", type=int, default=0)
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
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_train)

    mp = sub.add_parser("models", help="model size table: parameters, MB, GMACs, CPU latency")
    mp.add_argument("--pattern", default="*", help="shell pattern over model names")
    mp.add_argument(
        "--size", type=int, default=512, help="input side (PSPNet: the nearest 8k+1 below)"
    )
    mp.add_argument("--threads", type=int, default=2)
    mp.add_argument("--no-latency", action="store_true", help="skip the timing")
    mp.add_argument("--format", choices=("md", "tex", "csv"), default="md")
    mp.set_defaults(func=_cmd_models)

    cc = sub.add_parser(
        "convert-checkpoint", help="convert an official checkpoint that pickles a whole module"
    )
    cc.add_argument(
        "kind",
        choices=("dim-foamliu",),
        help="dim-foamliu: BEST_checkpoint.tar of DIM-PyTorch / DCP",
    )
    cc.add_argument("src")
    cc.add_argument("dst")
    cc.set_defaults(func=_cmd_convert)

    pr = sub.add_parser(
        "prune", help="sparsity training, channel selection, surgery, fine-tuning with KD"
    )
    pr.add_argument("--model", required=True, help="registered matting model")
    pr.add_argument(
        "--method", required=True, choices=("UNI", "NS", "CAP", "DCP", "uni", "ns", "cap", "dcp")
    )
    pr.add_argument(
        "--ratio", type=float, default=0.5, help="fraction of prunable channels to remove"
    )
    pr.add_argument(
        "--kd",
        default="none",
        choices=("none", "NST", "OFD", "SP", "SPKD", "nst", "ofd", "sp", "spkd"),
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
    pr.add_argument("--sparsity-iters", type=int, default=50)
    pr.add_argument("--sparsity-s", type=float, default=1e-4, help="L1 weight on BN scales")
    pr.add_argument("--finetune-iters", type=int, default=100)
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
    pr.add_argument("--size", type=int, default=96)
    pr.add_argument("--crop", type=int, default=64)
    pr.add_argument("--batch", type=int, default=2)
    pr.add_argument("--lr", type=float, default=1e-3)
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--device", default="cpu")
    pr.add_argument("--threads", type=int, default=2)
    pr.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    pr.add_argument(
        "--measure-size",
        type=int,
        default=512,
        help="time teacher vs student at this size (0: skip)",
    )
    pr.add_argument("--no-progress", action="store_true")
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
    rp.add_argument("--profile", choices=("quick", "paper"), default="quick")
    rp.add_argument("--data-root", help="the real dataset's folder (paper profile)")
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
    rp.add_argument("--smoke", action="store_true", help="a few steps on tiny images (tests)")
    rp.add_argument("--executor", choices=("process", "dask"), default="process")
    rp.add_argument("--scheduler", help="dask scheduler address (with --executor dask)")
    rp.add_argument("--no-progress", action="store_true")
    rp.set_defaults(func=_cmd_reproduce)

    for what in ("datasets", "methods"):
        lp = sub.add_parser(what, help=f"list the registered {what}")
        lp.set_defaults(func=_cmd_list, what=what)
    return ap


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
        )
        for f in res.files:
            if f.suffix == ".md":
                print(f.read_text())
        print(f"{res.spec}: {', '.join(str(f) for f in res.files)}")
    index = write_index(args.out)
    print(f"index: {index}  (total {time.perf_counter() - t0:.0f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mattebench`` console command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (InputError, UnknownNameError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"mattebench: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
