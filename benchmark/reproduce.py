"""``mattebench reproduce``: one command from a spec to a paper's table or figure.

``mattebench reproduce SPEC [--profile quick|paper] [--data-root DIR] [--out DIR]`` reads an
experiment spec (:mod:`benchmark.specs`; ``--list`` names them) and, for every row naming a
registered model, obtains the network, evaluates it and writes the table (Markdown, LaTeX,
CSV) or figure (PNG, PDF) with the published numbers beside ours, then rebuilds the static
``OUT/index.html`` that shows every spec reproduced into ``OUT``.

**Stages.** Each unit of work is a *stage* in ``OUT/stages/<kind>/<tag>-<key>/`` whose
``key`` hashes everything its result depends on (its configuration and the keys of the stages
it consumes); a finished stage has ``stage.json`` and is skipped on a rerun, also by another
spec (the supplement's Table 1, Table 2 and Figure 1 share one teacher and one DCP selection).
The stages resume inside themselves when killed (training, pruning and evaluation checkpoint
as they go), so restarting the same command continues where it stopped.

* ``teacher`` / ``train``: :func:`baselines.training.train` of the row's model (a teacher to
  prune, or a row trained from scratch: SDNet with its self-distillation mode and AMPA switch,
  the baselines of the SDNet tables);
* ``prune``: :func:`baselines.prune_pipeline.prune` (sparsity training, selection, surgery,
  fine-tuning with the row's distillation: feature-distillation weight ``lambda`` = the row's
  ``lambda`` or 1, teacher-alpha weight ``w`` = the row's ``w`` or 0, i.e. only the rows of the
  distillation-based method use the teacher's alpha, as in the supplement); rows that differ
  only in distillation share the selection (``selection_dir``), so they compare losses on one
  pruned architecture as the paper does;
* ``eval``: :func:`benchmark.runner.run` (matting: per-image predictions and metrics, under
  the spec's convention; trimap-free rows: whole-image metrics, no forcing of known regions),
  or the VOC mIoU protocol for the segmentation track;
* ``size``: parameter counts and sizes (SDNet Table 4).

**Profiles.** ``quick``: CPU, the synthetic data of :mod:`benchmark.datasets.synthetic`,
reduced widths (``create_model(..., width_mult=...)``: UNI-narrowed networks) and iteration
counts from the spec's ``[profiles.quick]``; its numbers show how the methods compare under
one small budget, not the paper's values (the table says so). ``paper``: the spec's real
dataset under ``--data-root`` and a GPU when present; it evaluates the checkpoints you give,
``--checkpoint MODEL=PATH`` (an official baseline, e.g. ``gca=gca-dist.pth``) or
``--checkpoint "ROW LABEL"=PATH`` or ``"GROUP:ROW LABEL"=PATH`` (a trained SDNet variant,
a pruned student in our format, e.g. from ``mattebench prune``), and leaves rows without one
empty, saying so in the caption.
It does not train: our training draws from the synthetic stream of :mod:`baselines.training`,
and the papers' schedules on their real training sets (recorded in each spec's
``[profiles.paper]``, shown in ``result.json``) are not wired to real training data yet.
``smoke=True`` (``--smoke``) shrinks a profile to a few steps on tiny images: it checks that a
spec runs end to end, nothing more.

Seeds are explicit (the profile's ``seed``, which seeds training; the synthetic test set is
fixed) and every stage is deterministic on the CPU, so the same command gives the same tables.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmark.io import atomic_write
from benchmark.specs import Row, Spec, list_specs, load_spec
from metrics import METRICS, InputError

__all__ = [
    "Settings",
    "settings_for",
    "reproduce",
    "ReproduceResult",
    "write_index",
    "PROFILES",
    "DEFAULT_OUT",
]

PROFILES = ("quick", "paper")
DEFAULT_OUT = "mattebench-out/reproduce"

#: Per-model constructor options of the quick profile (SDNet's stem at stride 2 quarters its
#: cost at the same parameter count; documented in :class:`baselines.models.sdnet.SDNet`).
#: GCA's residual BN scales start at 1, not 0: after a short run the official zeros are still
#: near 0 and every BN-scale criterion would prune the residual streams first
#: (:class:`baselines.models.gca.GCAMatting`). PSPNet-50 is trained and pruned without its
#: training-only aux head in every profile, as the pruning pipeline prunes it
#: (:mod:`baselines.prune_pipeline`).
QUICK_MODEL_KWARGS: dict[str, dict[str, Any]] = {
    "sdnet": {"stem_stride": 2},
    "sdnet-trimap-free": {"stem_stride": 2},
    "gca": {"zero_init_residual": False},
}
_ALWAYS_KWARGS: dict[str, dict[str, Any]] = {"pspnet50": {"aux": False}}


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run (profile values, then command-line overrides)."""

    profile: str
    dataset: str | None
    data_root: str | None = None
    subset: str | None = None
    test_count: int = 8
    size: int = 64
    crop: int = 64
    width_mult: float = 1.0
    teacher_iters: int = 0
    prune_iters: int = 0
    train_iters: int = 0
    batch_size: int = 4
    lr: float = 1e-3
    init: str = "inherit"
    device: str = "cpu"
    seed: int = 0
    threads: int = 2
    eval_workers: int = 1
    smoke: bool = False
    model_kwargs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    recorded: Mapping[str, Any] = field(default_factory=dict)

    def key_data(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), sort_keys=True, default=str))


_SETTING_KEYS = {f for f in Settings.__dataclass_fields__} - {
    "profile", "smoke", "data_root", "recorded"
}  # fmt: skip
_IGNORED = {"train_count", "dataset", "note", "train_dataset"}


def _check_setting(key: str, value: Any, where: str) -> None:
    """A setting of the wrong type fails here, naming it, not deep inside a stage."""
    default = Settings.__dataclass_fields__[key].default
    if key == "model_kwargs":
        ok = isinstance(value, Mapping) and all(isinstance(v, Mapping) for v in value.values())
        want = "a table of model name -> keyword table"
    elif isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        want = "a non-negative integer"
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        want = "a positive number"
    else:
        ok, want = value is None or isinstance(value, str), "a string"
    if not ok:
        raise InputError(f"{where}: setting {key}={value!r} must be {want}")
    if key == "width_mult" and not value <= 1:
        raise InputError(f"{where}: setting width_mult={value!r} must be in (0, 1]")


def _device(want: str) -> str:
    if want.startswith("cuda"):
        import torch

        return want if torch.cuda.is_available() else "cpu"
    return want


def settings_for(
    spec: Spec,
    profile: str = "quick",
    *,
    data_root: str | None = None,
    smoke: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings of ``spec`` under ``profile`` (``overrides``: ``--set key=value``).

    The paper profile asks for ``cuda`` and falls back to the CPU when no GPU is present.
    ``smoke`` caps every count at a few steps on 48-pixel images (32-pixel crops).
    """
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    prof = spec.profiles[profile]
    values: dict[str, Any] = {}
    recorded: dict[str, Any] = {}
    for k, v in prof.settings.items():
        if k in _IGNORED:
            continue
        if k in _SETTING_KEYS:
            values[k] = v
        elif profile == "paper":  # the papers' schedules, documented; see the module docstring
            recorded[k] = v
        else:
            raise InputError(f"{spec.path}: profiles.{profile}: unknown setting {k!r}")
    if profile == "paper":
        values.setdefault("test_count", 0)
    for k, v in (overrides or {}).items():
        if k not in _SETTING_KEYS:
            raise InputError(
                f"--set {k}: unknown setting (known: {', '.join(sorted(_SETTING_KEYS))})"
            )
        values[k] = v
    dataset = values.pop("dataset", None) or prof.dataset
    if profile == "quick":
        values.setdefault("model_kwargs", QUICK_MODEL_KWARGS)
    values.setdefault("crop", values.get("size", 64))
    for k, v in values.items():
        _check_setting(k, v, spec.path)
    s = Settings(profile=profile, dataset=dataset, data_root=data_root, recorded=recorded,
                 **values)  # fmt: skip
    s = replace(s, device=_device(s.device), crop=min(s.crop, s.size))
    if smoke:
        s = replace(
            s,
            smoke=True,
            test_count=min(s.test_count, 2),
            size=48,
            crop=32,
            width_mult=min(s.width_mult, 0.125) if s.width_mult < 1 else s.width_mult,
            teacher_iters=min(s.teacher_iters, 2),
            prune_iters=min(s.prune_iters, 2),
            train_iters=min(s.train_iters, 2),
            batch_size=2,
        )
    if profile == "quick" and dataset is not None and not dataset.startswith("synthetic"):
        raise InputError(f"{spec.path}: the quick profile runs on synthetic data, not {dataset}")
    return s


# --------------------------------------------------------------------------------- stages


def _key(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "row"


@dataclass
class _Stage:
    kind: str
    tag: str
    config: dict[str, Any]
    root: Path

    @property
    def key(self) -> str:
        return _key({"kind": self.kind, **self.config})

    @property
    def dir(self) -> Path:
        return self.root / "stages" / self.kind / f"{_slug(self.tag)}-{self.key}"

    @property
    def done(self) -> bool:
        return (self.dir / "stage.json").is_file()

    def result(self) -> dict[str, Any]:
        return json.loads((self.dir / "stage.json").read_text())["result"]

    def finish(self, result: dict[str, Any], seconds: float) -> dict[str, Any]:
        with atomic_write(self.dir / "stage.json") as fh:
            json.dump(
                {"kind": self.kind, "key": self.key, "config": self.config, "result": result,
                 "seconds": seconds}, fh, indent=2, sort_keys=True, default=str,
            )  # fmt: skip
        return result


def _file_id(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {p}: no such file")
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# --------------------------------------------------------------------------------- result


@dataclass
class ReproduceResult:
    """What one spec produced: per-row values, files written, wall time."""

    spec: str
    profile: str
    out_dir: Path
    rows: list[dict[str, Any]]
    files: list[Path]
    seconds: float
    stages_run: int
    stages_cached: int


class _Runner:
    def __init__(
        self,
        spec: Spec,
        settings: Settings,
        out: Path,
        *,
        checkpoints: Mapping[str, str],
        progress: bool,
        executor: str,
        scheduler: str | None,
        log: Callable[[str], None],
    ) -> None:
        self.spec, self.s, self.out = spec, settings, out
        self.checkpoints = dict(checkpoints)
        self.progress, self.executor, self.scheduler = progress, executor, scheduler
        self.log = log
        self.ran = self.cached = 0

    # ------------------------------------------------------------------ stage plumbing
    def _run(self, stage: _Stage, fn: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        if stage.done:
            self.cached += 1
            self.log(f"  [cached] {stage.kind} {stage.tag}")
            return stage.result()
        self.log(f"  [run]    {stage.kind} {stage.tag}  ({stage.dir})")
        stage.dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        result = fn(stage.dir)
        self.ran += 1
        return stage.finish(result, time.perf_counter() - t0)

    def _model_kwargs(self, model: str, row: Row | None = None) -> dict[str, Any]:
        kw = {**_ALWAYS_KWARGS.get(model, {}), **self.s.model_kwargs.get(model, {})}
        if row is not None and row.ampa is False:  # AMPA is the default: "ampa = true" adds nothing
            kw["use_ampa"] = False
        return kw

    def _crop(self, model: str) -> int:
        """The training crop: PSPNet takes sides of 8k + 1 only (semseg's protocol)."""
        if model == "pspnet50":
            from baselines.models.pspnet import valid_side

            return valid_side(self.s.crop)
        return self.s.crop

    def _train_config(self, model: str, iters: int, kwargs: dict[str, Any], sd: str) -> Any:
        from baselines.training import TrainConfig

        if self.s.width_mult < 1:
            kwargs = {**kwargs, "width_mult": self.s.width_mult}
        return TrainConfig(
            model=model, model_kwargs=kwargs, size=self.s.size, crop=self._crop(model),
            batch=self.s.batch_size, iters=iters, lr=self.s.lr, sd_mode=sd,
            val_every=max(1, min(50, iters)), save_every=max(1, min(25, iters)),
            seed=self.s.seed, device=self.s.device, threads=self.s.threads,
        )  # fmt: skip

    def _trained(self, kind: str, tag: str, model: str, iters: int, kwargs: dict[str, Any],
                 sd: str) -> dict[str, Any]:  # fmt: skip
        from baselines.training import train

        if iters <= 0 and not self.s.smoke:
            raise InputError(
                f"{self.spec.path}: {tag} needs training but the {self.s.profile} profile sets "
                "no iterations; give a checkpoint with --checkpoint"
            )
        cfg = self._train_config(model, max(iters, 1), kwargs, sd)
        stage = _Stage(kind, tag, {"train": asdict(cfg)}, self.out)

        def go(d: Path) -> dict[str, Any]:
            r = train(cfg, d, progress=self.progress)
            return {
                "checkpoint": str(d / "model.pt"),
                "val_loss": r["val_loss"],
                "steps": r["step"],
            }

        return {**self._run(stage, go), "stage": stage.key}

    def teacher(self, model: str) -> dict[str, Any]:
        """The network to prune: ``--checkpoint MODEL=PATH``, else trained here."""
        if model in self.checkpoints:
            return {
                "checkpoint": self.checkpoints[model],
                "stage": _key(_file_id(self.checkpoints[model])),
            }
        if self.s.profile == "paper" and not self.s.smoke:
            raise InputError(
                f"{self.spec.path}: the paper profile prunes the official {model} teacher; give "
                f"it with --checkpoint {model}=PATH"
            )
        return self._trained(
            "teacher", model, model, self.s.teacher_iters, self._model_kwargs(model), "best"
        )

    def _spec_of(self, checkpoint: str, row: Row) -> str:
        """The channel spec a given pruned checkpoint carries, as a ``spec.json``."""
        from baselines.models.checkpoint import FORMAT, read_checkpoint
        from baselines.pruning import ChannelSpec

        obj = read_checkpoint(checkpoint)
        spec = obj.get("channel_spec") if isinstance(obj, Mapping) else None
        if (
            not (isinstance(obj, Mapping) and obj.get("format") == FORMAT)
            or not isinstance(spec, Mapping)
            or "format" not in spec
        ):
            raise InputError(
                f"{checkpoint}: row {row.label!r} is a pruned student, but the file carries no "
                "channel spec (save it with `mattebench prune`, which writes our format)"
            )
        d = self.out / "stages" / "given" / _key(_file_id(checkpoint))
        d.mkdir(parents=True, exist_ok=True)
        return str(ChannelSpec.from_dict(spec).save(d / "spec.json"))

    def row_model(self, row: Row) -> dict[str, Any] | None:
        """The checkpoint a row evaluates (given, trained or pruned here)."""
        assert row.model is not None
        given = self.checkpoints.get(f"{row.group}:{row.label}", self.checkpoints.get(row.label))
        if given is None and row.prune is None and row.sd is None and row.ampa is None:
            given = self.checkpoints.get(row.model)
        if given is not None:
            res = {"checkpoint": given, "stage": _key(_file_id(given)), "given": True}
            if row.prune is not None:
                res["spec"] = self._spec_of(given, row)
            return res
        if self.s.profile == "paper" and not self.s.smoke:
            return None
        if row.prune is not None:
            return self.pruned(row)
        if _is_teacher_row(self.spec, row):
            return self.teacher(row.model)
        tag = f"{row.model}-sd-{row.sd or 'best'}" + ("-no-ampa" if row.ampa is False else "")
        return self._trained(
            "train", tag, row.model, self.s.train_iters, self._model_kwargs(row.model, row),
            row.sd or "best",
        )  # fmt: skip

    def pruned(self, row: Row) -> dict[str, Any]:
        from baselines.prune_pipeline import SELECTION_FIELDS, PruneConfig, prune

        assert row.model is not None and row.prune is not None and row.ratio is not None
        t = self.teacher(row.model)
        cfg = PruneConfig(
            model=row.model, method=row.prune, ratio=row.ratio, kd=row.kd or "none",
            teacher=t["checkpoint"], init=self.s.init, sparsity_iters=self.s.prune_iters,
            finetune_iters=self.s.train_iters,
            kd_weight=row.lambda_ if row.lambda_ is not None else 1.0,
            teacher_alpha_weight=row.w if row.w is not None else 0.0,
            size=self.s.size, crop=self._crop(row.model), batch=self.s.batch_size, lr=self.s.lr,
            seed=self.s.seed, device=self.s.device, threads=self.s.threads,
            model_kwargs=self._model_kwargs(row.model) or None,
        )  # fmt: skip
        sel = {k: getattr(cfg, k) for k in SELECTION_FIELDS if k != "teacher"}
        sel_key = _key({"teacher": t["stage"], **sel})
        conf = {k: v for k, v in asdict(cfg).items() if k not in ("teacher", "selection_dir")}
        stage = _Stage("prune", f"{row.model}-{row.prune}-{row.kd or 'none'}",
                       {"prune": conf, "teacher": t["stage"]}, self.out)  # fmt: skip
        # one selection per (teacher, criterion, ratio, sparsity settings), across specs too
        registry = self.out / "stages" / "selections" / f"{sel_key}.json"
        first = Path(json.loads(registry.read_text())["dir"]) if registry.is_file() else None
        if first is not None and first != stage.dir and (first / "spec.json").is_file():
            cfg = replace(cfg, selection_dir=str(first))

        def go(d: Path) -> dict[str, Any]:
            r = prune(cfg, d, progress=self.progress)
            return {"checkpoint": str(d / "model.pt"), "spec": str(d / "spec.json"),
                    "params_student": r["params_student"], "params_teacher": r["params_teacher"],
                    "ratio": r["ratio"]}  # fmt: skip

        res = self._run(stage, go)
        if not registry.is_file():
            with atomic_write(registry) as fh:
                json.dump({"dir": str(stage.dir)}, fh)
        return {**res, "stage": stage.key}

    # ------------------------------------------------------------------ evaluation
    def _dataset(self) -> dict[str, Any]:
        name = self.s.dataset
        if name is None:
            raise InputError(f"{self.spec.path}: profile {self.s.profile!r} names no dataset")
        if name.startswith("synthetic"):
            # the test set does not move with the training seed: --set seed=N retrains only
            kw = {"count": self.s.test_count, "size": self.s.size, "seed": 0}
            return {"name": name, "root": None, "kwargs": kw}
        if self.s.data_root is None:
            raise InputError(
                f"{self.spec.id}: the {self.s.profile} profile evaluates on {name}; give its "
                "folder with --data-root DIR (see `mattebench datasets`)"
            )
        kw = {} if self.s.subset is None else {"subset": str(Path(self.s.subset).resolve())}
        return {"name": name, "root": str(Path(self.s.data_root).resolve()), "kwargs": kw}

    def evaluate(self, row: Row, model: dict[str, Any]) -> dict[str, float]:
        assert row.model is not None
        from baselines.models import MODELS

        if MODELS[row.model].task == "segmentation":
            return self._evaluate_segmentation(row, model)
        from benchmark.runner import RunConfig, run

        metrics = self.spec.row_metrics(row)
        whole = any(METRICS[m].region != "unknown" for m in metrics if m in METRICS)
        ds = dict(self._dataset(), evaluation="whole" if whole else "unknown")
        label = row.model  # one evaluation per checkpoint, whichever table's row asks
        cfg = RunConfig(
            datasets=(ds,),
            methods=(
                {
                    "name": f"model:{row.model}",
                    "label": label,
                    "kwargs": {
                        "checkpoint": model["checkpoint"],
                        "device": self.s.device,
                        "threads": self.s.threads,
                        **self._model_kwargs(row.model, row),
                    },
                },
            ),
            convention=self.spec.convention or "reference",
            force_known=not whole,
        )
        stage = _Stage("eval", row.model,
                       {"run": cfg.to_json(), "model": model["stage"]}, self.out)  # fmt: skip

        def go(d: Path) -> dict[str, Any]:
            rows = run(cfg, d, workers=self.s.eval_workers, progress=self.progress,
                       **self._executor())  # fmt: skip
            return {"means": _means(rows, metrics), "images": len(rows)}

        means = self._run(stage, go)["means"]
        # the group's metrics fill the spec's columns position-wise (sad_whole -> "SAD")
        return {col: means[m] for col, m in zip(self.spec.metrics, metrics, strict=True)}

    def _executor(self) -> dict[str, Any]:
        if self.executor == "process":
            return {}
        return {"executor": self.executor, "scheduler": self.scheduler}

    def _evaluate_segmentation(self, row: Row, model: dict[str, Any]) -> dict[str, float]:
        ds = self._dataset()
        stage = _Stage("eval", row.model,
                       {"segmentation": ds, "model": model["stage"]}, self.out)  # fmt: skip

        def go(d: Path) -> dict[str, Any]:
            return {"means": _segmentation_miou(ds, model["checkpoint"], self.s, self.progress)}

        return self._run(stage, go)["means"]

    def size(self, row: Row, model: dict[str, Any] | None) -> dict[str, float]:
        """``params_m`` / ``size_mb`` of the row's network (the evaluated one when trained)."""
        from baselines.models import create_model
        from baselines.pruning.surgery import count_params

        assert row.model is not None
        kw = self._model_kwargs(row.model, row)
        if model is not None:
            net = create_model(row.model, checkpoint=model["checkpoint"], **kw)
        else:
            net = create_model(row.model, **kw)
        n = count_params(net)
        return {"params_m": n / 1e6, "size_mb": n * 4 / 1e6}


def _prunes(spec: Spec) -> bool:
    return any(r.prune is not None for r in spec.rows)


def _is_teacher_row(spec: Spec, row: Row) -> bool:
    """A plain row (no pruning, self-distillation or AMPA switch) of a model that other rows
    of the spec prune is that model's teacher (not a network trained from scratch)."""
    plain = row.prune is None and row.sd is None and row.ampa is None
    return plain and any(r.prune is not None and r.model == row.model for r in spec.rows)


def _means(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, float]:
    out = {}
    for m in metrics:
        vals = [float(r["metrics"].get(m, math.nan)) for r in rows]
        good = [v for v in vals if not math.isnan(v)]
        out[m] = math.fsum(good) / len(good) if good else math.nan
    return out


def _segmentation_miou(
    ds_spec: dict[str, Any], checkpoint: str, s: Settings, progress: bool
) -> dict[str, float]:
    """Pooled VOC mIoU (21 classes, 255 ignored) of a PSPNet checkpoint on a dataset.

    Synthetic portraits are read as VOC person/background maps exactly as in training
    (:func:`baselines.models.adapters.segmentation_target`: ``PERSON`` where alpha >= 0.5,
    the trimap's unknown band ignored). Inference follows ``hszhao/semseg``'s single-scale
    test protocol (:func:`baselines.models.pspnet.pspnet_infer`: base size 512, 473 crops,
    flipped copy averaged); on synthetic data the base size and crop follow the image size and
    the flip is skipped (quick profile).
    """
    import numpy as np
    import torch
    from tqdm import tqdm

    from baselines.models import create_model
    from baselines.models.adapters import PERSON
    from baselines.models.pspnet import pspnet_infer
    from benchmark.datasets import get_dataset
    from metrics.miou import confusion_matrix, miou_from_confusion

    torch.set_num_threads(s.threads)
    net = create_model("pspnet50", checkpoint=checkpoint, aux=False).to(s.device).eval()
    ds = get_dataset(ds_spec["name"], ds_spec["root"], **ds_spec["kwargs"])
    synthetic = ds_spec["name"].startswith("synthetic")
    kw: dict[str, Any] = {}
    if synthetic:
        crop = 8 * math.ceil((s.size - 1) / 8) + 1
        kw = {"base_size": s.size, "crop": crop}
    cm = np.zeros((21, 21), dtype=np.int64)
    for name in tqdm(ds.names(), desc="miou", unit="img", disable=not progress, file=sys.stderr):
        sample = ds.load(name)
        if synthetic:
            label = np.where(sample.alpha >= 128, PERSON, 0).astype(np.uint8)
            label[sample.trimap == 128] = 255
        else:
            label = sample.label
        pred = pspnet_infer(net, sample.image, flip=not synthetic, **kw)
        cm += confusion_matrix(pred.astype(np.int64), label.astype(np.int64), 21)
    return {"miou": miou_from_confusion(cm) * 100.0}


# --------------------------------------------------------------------------------- tables


def _fmt(v: float | None, like: str | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if like is not None and "." in like:  # as many decimals as the paper prints (+1)
        return f"{v:.{len(like.split('.')[1]) + 1}f}"
    a = abs(v)
    return f"{v:.1f}" if a >= 100 else f"{v:.3f}" if a >= 1 else f"{v:.4g}"


def _printed_like(rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> dict[str, str | None]:
    """Per column, a published value whose decimals ours follow (one more), for every row."""
    return {
        c: next((r["published"][c] for r in rows if r["published"].get(c) is not None), None)
        for c in cols
    }


def _column_label(col: str) -> str:
    if col in METRICS:
        return METRICS[col].label
    return {"params_m": "Params (M)", "size_mb": "Size (MB)", "flops_g": "GFLOPs",
            "miou": "mIoU (%)"}.get(col, col)  # fmt: skip


def _table_columns(spec: Spec) -> list[str]:
    return [*spec.columns, *spec.metrics]


def _table(spec: Spec, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    cols = _table_columns(spec)
    head = ["Row"] + [f"{_column_label(c)} {w}" for c in cols for w in ("ours", "paper")]
    like = _printed_like(rows, cols)
    labels = {g.name: g.label for g in spec.groups}
    body, group = [], None
    for r in rows:
        if r["group"] != group and r["group"] in labels:  # a block header row
            group = r["group"]
            body.append([labels[group]] + [""] * (len(head) - 1))
        cells = [r["label"]]
        for c in cols:
            pub = r["published"].get(c)
            cells += [_fmt(r["ours"].get(c), like[c]), pub if pub is not None else "-"]
        body.append(cells)
    return head, body


def _md(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _tex(head: list[str], body: list[list[str]], caption: str) -> str:
    from reports.tables import _tex_escape

    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex_escape(caption)}}}",
             rf"\begin{{tabular}}{{l{'r' * (len(head) - 1)}}}", r"\hline",
             " & ".join(_tex_escape(h) for h in head) + r" \\", r"\hline"]  # fmt: skip
    lines += [" & ".join(_tex_escape(c) for c in row) + r" \\" for row in body]
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _csv(spec: Spec, rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    cols = _table_columns(spec)
    w.writerow(["row", "group", *(f"{c}_{k}" for c in cols for k in ("ours", "paper"))])
    for r in rows:
        vals = []
        for c in cols:
            v = r["ours"].get(c)
            vals += ["" if v is None or math.isnan(v) else repr(v), r["published"].get(c, "")]
        w.writerow([r["label"], r["group"] or "", *vals])
    return buf.getvalue()


def _caption(spec: Spec, s: Settings, skipped: Sequence[str] = ()) -> str:
    parts = [f"Published: {spec.source.ref} of {spec.source.paper}."]
    if spec.convention:
        parts.append(f"Ours: convention {spec.convention}, mean over images.")
    if not spec.metrics and spec.kind == "table":
        parts.append(
            f"Ours: counted on the registered architectures at width x{s.width_mult:g} (no data, "
            "no training); size = parameters x 4 bytes."
        )
    elif s.profile == "quick":
        steps = ", ".join(
            f"{n} {what} steps"
            for n, what in ((s.teacher_iters, "teacher"), (s.prune_iters, "sparsity"),
                            (s.train_iters, "fine-tuning" if _prunes(spec) else "training"))
            if n
        )  # fmt: skip
        parts.append(
            f"Quick profile: {s.dataset} ({s.test_count} test images, {s.size} px), networks at "
            f"width x{s.width_mult:g}, {steps}, batch {s.batch_size}, seed {s.seed}, CPU: compare "
            "rows with each other, not with the paper column."
        )
    else:
        parts.append(f"Paper profile: {s.dataset} from {s.data_root}, the checkpoints given.")
    if skipped:
        parts.append(f"Not run (no checkpoint given): {', '.join(skipped)}.")
    if s.smoke:
        parts.append("SMOKE RUN (a few steps): the numbers mean nothing.")
    return " ".join(parts)


# --------------------------------------------------------------------------------- driver


def reproduce(
    spec_name: str,
    *,
    profile: str = "quick",
    data_root: str | None = None,
    out: str | Path = DEFAULT_OUT,
    checkpoints: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    smoke: bool = False,
    progress: bool = True,
    executor: str = "process",
    scheduler: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ReproduceResult:
    """Regenerate one spec's table or figure in ``out`` (see the module docstring).

    Returns
    -------
    ReproduceResult
        Rows with ``ours`` and ``published`` values, the files written, wall time and how many
        stages ran vs came from the cache.
    """
    t0 = time.perf_counter()
    spec = load_spec(spec_name)
    s = settings_for(spec, profile, data_root=data_root, smoke=smoke, overrides=overrides)
    out = Path(out)
    logf = log or (lambda m: print(m, file=sys.stderr, flush=True))
    ck = dict(checkpoints or {})
    for k, v in ck.items():
        _file_id(v)  # a missing file fails now, naming it
        if k not in checkpoint_keys(spec):
            raise InputError(f"--checkpoint {k}=...: {spec.id} has no row or model {k!r}")
    r = _Runner(spec, s, out, checkpoints=ck, progress=progress, executor=executor,
                scheduler=scheduler, log=logf)  # fmt: skip
    logf(f"reproduce {spec.id} [{s.profile}{' smoke' if s.smoke else ''}] -> {out / spec.id}")
    rows: list[dict[str, Any]] = []
    figures: list[dict[str, Any]] = []
    skipped: list[str] = []
    for row in spec.rows:
        entry: dict[str, Any] = {
            "label": row.label,
            "group": row.group,
            "published": dict(row.published),
            "ours": {},
            "model": row.model,
        }
        if row.runnable:
            logf(f"- {row.label}")
            needs_metrics = bool(spec.metrics)
            model = None
            if needs_metrics or spec.kind == "figure" or row.prune is not None:
                model = r.row_model(row)
                if model is None:
                    entry["skipped"] = "no checkpoint given"
                    skipped.append(row.label)
                    rows.append(entry)
                    continue
                entry["checkpoint"] = model["checkpoint"]
            if needs_metrics:
                assert model is not None
                entry["ours"].update(r.evaluate(row, model))
            if spec.columns:
                entry["ours"].update(
                    {c: v for c, v in r.size(row, model).items() if c in spec.columns}
                )
            if spec.kind == "figure" and model is not None and "spec" in model:
                figures.append({"row": row.label, "spec": model["spec"]})
        rows.append(entry)
    dest = out / spec.id
    dest.mkdir(parents=True, exist_ok=True)
    if skipped:
        logf(f"rows without a checkpoint (left empty): {', '.join(skipped)}")
    files = _write_outputs(spec, s, rows, figures, dest, skipped)
    seconds = time.perf_counter() - t0
    summary = {
        "spec": spec.id, "title": spec.title, "kind": spec.kind, "source": asdict(spec.source),
        "profile": s.profile, "smoke": s.smoke, "settings": s.key_data(), "rows": rows,
        "files": [str(f.relative_to(dest)) for f in files], "seconds": seconds,
        "columns": _table_columns(spec),
        "groups": {g.name: g.label for g in spec.groups},
        "stages_run": r.ran, "stages_cached": r.cached, "caption": _caption(spec, s, skipped),
        "note": spec.note, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip
    with atomic_write(dest / "result.json") as fh:
        json.dump(summary, fh, indent=2, default=_json_default)
    write_index(out)
    logf(f"done {spec.id} in {seconds:.0f} s ({r.ran} stages run, {r.cached} cached)")
    return ReproduceResult(spec.id, s.profile, dest, rows, files, seconds, r.ran, r.cached)


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


def _write_outputs(
    spec: Spec, s: Settings, rows: list[dict[str, Any]], figures: list[dict[str, Any]],
    dest: Path, skipped: Sequence[str] = (),
) -> list[Path]:  # fmt: skip
    files: list[Path] = []
    caption = _caption(spec, s, skipped)
    if spec.kind == "table":
        head, body = _table(spec, rows)
        for ext, text in (
            ("md", f"**{spec.title}.** {caption}\n\n" + _md(head, body)),
            ("tex", _tex(head, body, caption)),
            ("csv", _csv(spec, rows)),
        ):
            path = dest / f"table.{ext}"
            with atomic_write(path) as fh:
                fh.write(text)
            files.append(path)
        return files
    from baselines.pruning import ChannelSpec
    from reports.figures import channel_histogram

    for f in figures:
        cs = ChannelSpec.load(f["spec"])
        width = f", teacher at width x{s.width_mult:g}" if s.width_mult < 1 else ""
        title = f"{spec.source.ref}: {cs.model} {f['row']} (teacher vs pruned channels{width})"
        files += channel_histogram(cs, dest / f"figure-{_slug(f['row'])}", title=title)
        widths = dest / f"channels-{_slug(f['row'])}.csv"
        with atomic_write(widths) as fh:
            fh.write("layer,teacher,pruned\n")
            fh.writelines(f"{k},{cs.teacher_widths.get(k, '')},{v}\n" for k, v in cs.widths.items())
        files.append(widths)
    if not figures and not skipped:
        raise InputError(f"{spec.path}: a figure spec needs a pruned row to draw")
    return files


# --------------------------------------------------------------------------------- index.html


def write_index(out: str | Path) -> Path:
    """``OUT/index.html``: every spec reproduced into ``out`` (its table or figures, settings,
    wall time, notes), from each ``OUT/<spec>/result.json``. Static; no scripts."""
    out = Path(out)
    results = []
    for p in sorted(out.glob("*/result.json")):
        try:
            results.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>MatteBench reproduce</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}"
        "td.paper{color:#666}img{max-width:100%;border:1px solid #ddd}.note{color:#555;"
        "font-size:90%}nav a{margin-right:1em}</style></head><body>",
        "<h1>MatteBench: reproduced tables and figures</h1>",
        "<p class='note'>Generated by <code>mattebench reproduce</code>. Each section shows our "
        "numbers beside the published ones; the caption states the profile, data and budget.</p>",
        "<nav>"
        + "".join(f"<a href='#{esc(r['spec'])}'>{esc(r['spec'])}</a>" for r in results)
        + "</nav>",
    ]
    for r in results:
        sid = esc(r["spec"])
        parts.append(f"<h2 id='{sid}'>{esc(r['title'])}</h2>")
        parts.append(f"<p>{esc(r['caption'])}</p>")
        if r["kind"] == "table":
            parts.append(_html_table(r))
        for f in r["files"]:
            if f.endswith(".png"):
                parts.append(f"<p><img src='{sid}/{esc(f)}' alt='{esc(f)}'></p>")
        links = " ".join(f"<a href='{sid}/{esc(f)}'>{esc(f)}</a>" for f in r["files"])
        parts.append(
            f"<p class='note'>Files: {links}. Profile {esc(r['profile'])}; "
            f"{r['seconds']:.0f} s ({r['stages_run']} stages run, {r['stages_cached']} cached); "
            f"finished {esc(r['finished'])}.</p>"
        )
        if r.get("note"):
            parts.append(f"<p class='note'>{esc(r['note'])}</p>")
    parts.append("</body></html>")
    path = out / "index.html"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        fh.write("\n".join(parts) + "\n")
    return path


def _html_table(r: dict[str, Any]) -> str:
    order = list(r.get("columns") or dict.fromkeys(c for row in r["rows"] for c in row["ours"]))
    labels = r.get("groups") or {}
    esc = html.escape
    like = _printed_like(r["rows"], order)
    head = "".join(
        f"<th>{esc(_column_label(c))} ours</th><th>{esc(_column_label(c))} paper</th>"
        for c in order
    )
    body, group = [], None
    for row in r["rows"]:
        if row["group"] != group and row["group"] in labels:
            group = row["group"]
            body.append(f"<tr><th colspan='{2 * len(order) + 1}'>{esc(labels[group])}</th></tr>")
        cells = "".join(
            f"<td>{esc(_fmt(row['ours'].get(c), like[c]))}</td>"
            f"<td class='paper'>{esc(row['published'].get(c, '-'))}</td>"
            for c in order
        )
        body.append(f"<tr><td>{esc(row['label'])}</td>{cells}</tr>")
    return f"<table><tr><th>Row</th>{head}</tr>{''.join(body)}</table>"


def checkpoint_keys(spec: Spec) -> set[str]:
    """What ``--checkpoint KEY=PATH`` may name in ``spec``: a model, a row label, or
    ``GROUP:LABEL`` when a label repeats across groups (SDNet's trimap-based/-free "Ours")."""
    keys = {r.label for r in spec.rows} | {r.model for r in spec.rows if r.model}
    return keys | {f"{r.group}:{r.label}" for r in spec.rows if r.group}


def spec_lines() -> list[str]:
    """One line per bundled spec (``--list``): id, kind, headline mark, title."""
    lines = []
    for name in list_specs():
        sp = load_spec(name)
        mark = " *" if sp.headline else ""
        lines.append(f"{sp.id:20s} {sp.kind:6s} {sp.source.ref:10s} {sp.title}{mark}")
    return lines


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
