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

* ``teacher`` / ``train``: :func:`benchmark.training.train` of the row's model (a teacher to
  prune, or a row trained from scratch: SDNet with its self-distillation mode and AMPA switch,
  the baselines of the SDNet tables);
* ``prune``: :func:`benchmark.prune_pipeline.prune` (pruning stage, selection, surgery,
  training stage with the row's distillation; :meth:`_Runner.prune_config` maps a row's
  ``lambda`` to ``lambda_4``, the pruning-stage distillation weight, and its ``w`` to ``w_3``,
  the training-stage one, the reading stated once in :mod:`benchmark.prune_pipeline`); rows of
  a criterion that does not distil while pruning and differ only in the training-stage
  distillation share the selection (``selection_dir``), so they compare losses on one pruned
  architecture as the paper does; DCP rows with another distillation select anew;
* ``eval``: :func:`benchmark.runner.run` (matting: per-image predictions and metrics, under
  the spec's convention; trimap-free rows: whole-image metrics, no forcing of known regions),
  or the VOC mIoU protocol for the segmentation track;
* ``size``: parameter counts and sizes (SDNet Table 4).

**Seeds and claims.** ``seeds = N`` (``--seeds N``) runs every row of a table with the
training seeds ``seed .. seed + N - 1`` (the teacher and the test set are shared): a cell is
the mean over seeds with the sample std, ``table.csv`` keeps every seed's value, and each of
the spec's ``[[claims]]`` gets a verdict per metric from :func:`claim_verdicts` (a crossed
bootstrap over seeds and images of the paired per-image differences). Independent (seed,
row) units run in ``jobs`` spawned processes.

**Profiles.** ``quick``: CPU, the synthetic data of :mod:`benchmark.datasets.synthetic`,
reduced widths (``create_model(..., width_mult=...)``: UNI-narrowed networks) and iteration
counts from the spec's ``[profiles.quick]``; its numbers show how the methods compare under
one small budget, not the paper's values (the table says so). ``paper``: the spec's real
test set under ``--data-root`` and a GPU when present. Rows are obtained in this order:

* **given**: ``--checkpoint MODEL=PATH`` (an official teacher or baseline, e.g.
  ``gca=gca-dist.pth``), ``--checkpoint "ROW LABEL"=PATH`` or ``"GROUP:ROW LABEL"=PATH`` (a
  trained SDNet variant, a pruned student in our format, e.g. from ``mattebench prune``): the
  row's training is skipped;
* **trained here** with ``--train-root [NAME=]DIR``: the spec's ``train_set`` (``adobe``,
  ``d646`` -- composed on the fly on ``--bg-root``'s COCO backgrounds with the family's
  augmentation, :mod:`benchmark.datasets.train_matting` -- or ``voc-aug``,
  :mod:`benchmark.datasets.train_voc`; ``--names`` the SDNet portrait subsets) with the
  schedule in the spec's ``[profiles.paper]``: epochs (``epochs_teacher``, ``epochs``,
  ``epochs_prune``, ``epochs_train``) become steps as ``ceil(epochs x samples per epoch /
  batch)`` (:meth:`_Runner.steps`; an explicit ``*_iters`` wins, and the caption says so),
  with the batch, crop, learning rate, optimiser, LR policy and milestones recorded there
  (``teacher_*`` for the teacher's own recipe). Before the first step the plan -- every
  training stage with its steps and images -- is printed (:func:`training_plan`); each
  stage prints its measured images/s and ETA after its first steps; ``result.json`` keeps
  the plan with those measurements. ``--set amp=bf16|fp16`` and ``--set loader_workers=N``
  (speed only) reach every stage;
* otherwise the row is left empty, and the caption says so.

**Deviations of the trained paper profile** (no network access: nothing is downloaded):
teachers start from random weights, while GCA-Matting initialises its encoder from an
ImageNet-pretrained ResNet-34 and semseg its PSPNet from an ImageNet ResNet-50 (give the
official teachers with ``--checkpoint`` to avoid both); GCA's 5000-step warm-up and its decay
are not reproduced (constant learning rate); the PSPNet teacher trains without its aux head
(``aux=False`` in every stage, as the pruning pipeline prunes it); the SDNet tables' baselines
(DIM, IndexNet, GCA rows) are trained with SDNet's schedule on the same portraits unless given;
every value marked ``[inferred]`` in a spec (crops, the DCP code's DIM schedule for GCA, the
VOC split) is a reading, not a fact.

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

from benchmark.datasets.train_matting import TRAIN_SETS
from benchmark.specs import Row, Spec, list_specs, load_spec
from benchmark.training import AMP_MODES, LR_POLICIES, OPTIMIZERS, VOC_AUG
from metrics import METRICS, InputError
from metrics.common import atomic_write

__all__ = [
    "Settings",
    "settings_for",
    "reproduce",
    "ReproduceResult",
    "write_index",
    "PROFILES",
    "DEFAULT_OUT",
    "training_plan",
    "plan_lines",
    "plan_spec",
    "OFFICIAL_SAMPLES",
    "OFFICIAL_PORTRAITS",
]

PROFILES = ("quick", "paper")
DEFAULT_OUT = "mattebench-out/reproduce"

#: Per-model constructor options of the quick profile (SDNet's stem at stride 2 quarters its
#: cost at the same parameter count; documented in :class:`baselines.models.sdnet.SDNet`).
#: GCA's residual BN scales start at 1, not 0: after a short run the official zeros are still
#: near 0 and every BN-scale criterion would prune the residual streams first
#: (:class:`baselines.models.gca.GCAMatting`). PSPNet-50 is trained and pruned without its
#: training-only aux head in every profile, as the pruning pipeline prunes it
#: (:mod:`benchmark.prune_pipeline`).
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
    sparsity_init: str = "scratch"
    pool: int = 0
    teacher_milestone: int = 0
    device: str = "cpu"
    seed: int = 0
    seeds: int = 1
    threads: int = 2
    eval_workers: int = 1
    smoke: bool = False
    model_kwargs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    recorded: Mapping[str, Any] = field(default_factory=dict)
    # -- training on the real training set (paper profile with --train-root) --------------
    #: the spec's training set: "adobe", "d646" or "voc-aug" (``--train-root NAME=DIR``
    #: overrides it); read from ``train_root``, composed on ``bg_root`` (``bg_kind``)
    train_set: str | None = None
    train_root: str | None = None
    bg_root: str | None = None
    bg_kind: str = "coco"
    #: a list file of foregrounds (``--names``; required where ``portraits`` is set: the
    #: SDNet portrait subsets, whose names the paper does not list)
    names: str | None = None
    portraits: bool = False
    per_fg: int = 100
    #: schedules in epochs of the training set (an explicit ``*_iters`` > 0 wins): the
    #: teacher, a trained row (SDNet), the pruning stage and the pruned network's training
    epochs_teacher: int = 0
    epochs: int = 0
    epochs_prune: int = 0
    epochs_train: int = 0
    #: learning-rate drops (in epochs of ``epochs``) and their factor, for trained rows
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    #: the teacher's own batch, crop, learning rate, optimiser and LR policy (0 / "": the
    #: same as ``batch_size`` / ``crop`` / ``lr`` / ``optimizer`` / ``lr_policy``)
    teacher_batch: int = 0
    teacher_crop: int = 0
    teacher_lr: float = 0.0
    teacher_optimizer: str = ""
    teacher_lr_policy: str = ""
    #: optimiser of trained rows (the pruning pipeline's stages use Adam, as the DCP code),
    #: SGD's momentum, the weight decay (all training stages) and the LR policy
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_policy: str = "step"
    amp: str = "off"
    #: DataLoader workers of every training stage (speed only)
    loader_workers: int = 0

    def key_data(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), sort_keys=True, default=str))

    @property
    def real_training(self) -> bool:
        """Training stages draw from the real training set (``--train-root``)."""
        return self.train_root is not None


_SETTING_KEYS = {f for f in Settings.__dataclass_fields__} - {
    "profile", "smoke", "data_root", "recorded", "train_root", "bg_root", "names"
}  # fmt: skip
_IGNORED = {"train_count", "dataset", "note", "train_dataset"}
#: settings where 0 means "the same as another setting" (see :class:`Settings`)
_ZERO_OK = {"teacher_lr", "weight_decay"}
_CHOICES = {
    "init": ("inherit", "reinit"),
    "sparsity_init": ("scratch", "teacher"),
    "train_set": (*TRAIN_SETS, VOC_AUG),
    "bg_kind": ("coco", "voc"),
    "optimizer": OPTIMIZERS,
    "lr_policy": LR_POLICIES,
    "teacher_optimizer": ("", *OPTIMIZERS),
    "teacher_lr_policy": ("", *LR_POLICIES),
    "amp": AMP_MODES,
}


def _check_setting(key: str, value: Any, where: str) -> None:
    """A setting of the wrong type fails here, naming it, not deep inside a stage."""
    default = Settings.__dataclass_fields__[key].default
    if key == "model_kwargs":
        ok = isinstance(value, Mapping) and all(isinstance(v, Mapping) for v in value.values())
        want = "a table of model name -> keyword table"
    elif key == "lr_milestones":
        ok = isinstance(value, list | tuple) and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        )
        want = "a list of positive integers (epochs)"
    elif isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        want = "a non-negative integer"
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        want = "a positive number"
        if key in _ZERO_OK:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            want = "a non-negative number"
    else:
        ok, want = value is None or isinstance(value, str), "a string"
    if not ok:
        raise InputError(f"{where}: setting {key}={value!r} must be {want}")
    if key == "width_mult" and not value <= 1:
        raise InputError(f"{where}: setting width_mult={value!r} must be in (0, 1]")
    if key == "seeds" and value < 1:
        raise InputError(f"{where}: setting seeds={value!r} must be at least 1")
    if key in _CHOICES and value is not None and value not in _CHOICES[key]:
        raise InputError(f"{where}: setting {key}={value!r} must be one of {_CHOICES[key]}")


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
    train_root: str | None = None,
    bg_root: str | None = None,
    names: str | None = None,
) -> Settings:
    """The settings of ``spec`` under ``profile`` (``overrides``: ``--set key=value``).

    The paper profile asks for ``cuda`` and falls back to the CPU when no GPU is present.
    ``train_root`` (``DIR`` or ``NAME=DIR``, ``NAME`` overriding the spec's ``train_set``),
    ``bg_root`` and ``names`` make the paper profile train on the real training set.
    ``smoke`` caps every count at a few steps on 48-pixel images (32-pixel crops) and runs one
    training seed unless ``overrides`` name ``seeds``.
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
    if train_root is not None:
        if profile != "paper":
            raise InputError("--train-root trains on a real training set: use --profile paper")
        name, sep, root = train_root.partition("=")
        if sep:
            values["train_set"] = name
            train_root = root
        if not values.get("train_set"):
            raise InputError(
                f"{spec.path}: profiles.paper names no train_set; give --train-root NAME=DIR "
                f"(NAME one of {', '.join(_CHOICES['train_set'])})"
            )
        if not Path(train_root).is_dir():
            raise InputError(f"--train-root {train_root}: not a folder")
        train_root = str(Path(train_root).resolve())
    for flag, v in (("--bg-root", bg_root), ("--names", names)):
        if v is not None and train_root is None:
            raise InputError(f"{flag} needs --train-root (training on the real training set)")
    if "lr_milestones" in values and isinstance(values["lr_milestones"], list):
        values["lr_milestones"] = tuple(values["lr_milestones"])
    for k, v in values.items():
        _check_setting(k, v, spec.path)
    s = Settings(profile=profile, dataset=dataset, data_root=data_root, recorded=recorded,
                 train_root=train_root,
                 bg_root=str(Path(bg_root).resolve()) if bg_root else None,
                 names=str(Path(names).resolve()) if names else None,
                 **values)  # fmt: skip
    # synthetic samples are `size` px; a real training set's crops are cut from its images
    s = replace(s, device=_device(s.device),
                crop=s.crop if profile == "paper" else min(s.crop, s.size))  # fmt: skip
    if smoke:
        s = replace(
            s,
            smoke=True,
            seeds=s.seeds if "seeds" in (overrides or {}) else 1,
            test_count=min(s.test_count, 2),
            size=48,
            crop=32,
            width_mult=min(s.width_mult, 0.125) if s.width_mult < 1 else s.width_mult,
            teacher_iters=min(s.teacher_iters, 2),
            prune_iters=min(s.prune_iters, 2),
            train_iters=min(s.train_iters, 2),
            batch_size=2,
            pool=min(s.pool, 8),
            teacher_milestone=0,
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


# --------------------------------------------------------------------------------- teachers

#: Teachers kept in the repository (``benchmark/teachers/index.json``): each entry has the file,
#: its sha256, the ``TrainConfig`` that made it, the command that makes it again and its
#: validation loss. A teacher stage whose configuration equals an entry's takes the file
#: instead of training (the quick profile's GCA teacher: 6000 steps, ~12.5 min on one core).
_TEACHERS = "teachers"
_CHECKED: dict[str, str] = {}


def bundled_teachers() -> list[dict[str, Any]]:
    """The index of the repository's teacher checkpoints (empty when there is none)."""
    from importlib import resources

    index = resources.files("benchmark") / _TEACHERS / "index.json"
    if not index.is_file():
        return []
    return list(json.loads(index.read_text(encoding="utf-8"))["teachers"])


def bundled_teacher(train_config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The bundled teacher made by exactly ``train_config`` (``config_identity(TrainConfig)``), with
    ``path`` set and its sha256 verified; ``None`` when no entry matches."""
    from importlib import resources

    want = json.loads(json.dumps(dict(train_config), default=str))
    for entry in bundled_teachers():
        if entry["train_config"] != want:
            continue
        path = resources.files("benchmark") / _TEACHERS / entry["file"]
        if not path.is_file():
            raise InputError(f"bundled teacher {entry['file']}: file missing from {path}")
        key = str(path)
        if key not in _CHECKED:
            _CHECKED[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        if _CHECKED[key] != entry["sha256"]:
            raise InputError(
                f"{path}: sha256 {_CHECKED[key]} differs from the index's {entry['sha256']} "
                "(a Git LFS pointer or a damaged file?)"
            )
        return {**entry, "path": str(path)}
    return None


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
        teacher_seed: int | None = None,
    ) -> None:
        self.spec, self.s, self.out = spec, settings, out
        self.teacher_seed = settings.seed if teacher_seed is None else teacher_seed
        self.checkpoints = dict(checkpoints)
        self.progress, self.executor, self.scheduler = progress, executor, scheduler
        self.log = log
        #: computing a plan without the training set (``--plan``): official set sizes
        self.planning = False
        self.ran = self.cached = 0
        self._teachers: dict[str, dict[str, Any]] = {}
        #: row label -> column -> image -> value, for the claims' paired comparisons
        self.per_image: dict[str, dict[str, dict[str, float]]] = {}

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

    def _crop(self, model: str, teacher: bool = False) -> int:
        """The training crop: PSPNet takes sides of 8k + 1 only (semseg's protocol)."""
        crop = (self.s.teacher_crop if teacher and not self.s.smoke else 0) or self.s.crop
        if model == "pspnet50":
            from baselines.models.pspnet import valid_side

            return valid_side(crop)
        return crop

    def _train_config(
        self, model: str, iters: int, kwargs: dict[str, Any], sd: str, *, seed: int,
        milestones: tuple[int, ...] = (), teacher: bool = False,
    ) -> Any:  # fmt: skip
        from benchmark.training import TrainConfig

        s = self.s
        if s.width_mult < 1:
            kwargs = {**kwargs, "width_mult": s.width_mult}
        optim = {
            "optimizer": (s.teacher_optimizer if teacher else "") or s.optimizer,
            "lr_policy": (s.teacher_lr_policy if teacher else "") or s.lr_policy,
            "momentum": s.momentum,
            "weight_decay": s.weight_decay,
        }
        return TrainConfig(
            model=model, model_kwargs=kwargs, size=s.size, crop=self._crop(model, teacher),
            batch=self.batch(teacher), iters=iters, lr=(s.teacher_lr if teacher else 0) or s.lr,
            milestones=milestones, gamma=s.lr_gamma, sd_mode=sd,
            # real runs: validate and save every 1000 steps (a 200k-step run keeps its log short)
            val_every=max(1, min(50 if not s.real_training else 1000, iters)),
            save_every=max(1, min(25 if not s.real_training else 1000, iters)),
            seed=seed, device=s.device, threads=s.threads, pool=s.pool,
            **optim, **self.data_fields(model),
        )  # fmt: skip

    def batch(self, teacher: bool = False) -> int:
        return (self.s.teacher_batch if teacher else 0) or self.s.batch_size

    # ------------------------------------------------------------------ real training data
    def data_fields(self, model: str) -> dict[str, Any]:
        """The training-data fields of a :class:`~benchmark.training.TrainConfig` or
        :class:`~benchmark.prune_pipeline.PruneConfig`: the real training set under
        ``--train-root`` (none: the synthetic data), mixed precision and loader workers."""
        s = self.s
        out: dict[str, Any] = {"amp": s.amp, "workers": s.loader_workers}
        if not s.real_training:
            return out
        assert s.train_set is not None and s.train_root is not None
        if s.train_set != "voc-aug" and not s.bg_root:
            raise InputError(
                f"{self.spec.id}: training on {s.train_set} composes every foreground on "
                "backgrounds: give --bg-root DIR (COCO train2014 JPEGs; VOC JPEGs with "
                "--set bg_kind=voc)"
            )
        if s.portraits and not s.names:
            raise InputError(
                f"{self.spec.id}: the paper trains on a portrait subset of the {s.train_set} "
                "foregrounds and does not list its names; give them with --names FILE (one "
                "foreground file name per line)"
            )
        return {
            **out, "train_set": s.train_set, "train_root": s.train_root,
            "bg_root": s.bg_root or "", "bg_kind": s.bg_kind, "names": s.names or "",
            "per_fg": s.per_fg,
        }  # fmt: skip

    def samples_per_epoch(self, model: str) -> int:
        """Samples in one epoch of the real training set (foregrounds x backgrounds each, or
        VOC-aug's images), opened as the training stages open it; without ``--train-root``
        (a plan only) the official sets' sizes, :data:`OFFICIAL_SAMPLES`."""
        from benchmark.training import TrainConfig, train_source

        if not self.s.real_training:
            name = self.s.train_set or ""
            table = OFFICIAL_PORTRAITS if self.s.portraits else OFFICIAL_SAMPLES
            if name not in table:
                raise InputError(f"{self.spec.path}: profiles.paper names no train_set")
            return table[name] * (self.s.per_fg if name != "voc-aug" else 1)
        cfg = TrainConfig(model=model, crop=self._crop(model), seed=self.s.seed,
                          **self.data_fields(model))  # fmt: skip
        return len(train_source(cfg))

    def steps(self, what: str, model: str) -> int:
        """Iterations of a training stage (``what``: teacher, train, prune or finetune): the
        explicit ``*_iters`` setting when > 0, else the spec's epochs over the real training
        set, ``ceil(epochs x samples per epoch / batch)`` (a smoke run: at most 2)."""
        s = self.s
        iters, epochs = {
            "teacher": (s.teacher_iters, s.epochs_teacher),
            "train": (s.train_iters, s.epochs),
            "prune": (s.prune_iters, s.epochs_prune),
            "finetune": (s.train_iters, s.epochs_train),
        }[what]
        if iters <= 0 and (s.real_training or self.planning) and epochs > 0:
            batch = self.batch(what == "teacher")
            iters = math.ceil(epochs * self.samples_per_epoch(model) / batch)
        return max(1, min(iters, 2)) if s.smoke and s.real_training else iters

    def milestones(self, iters: int) -> tuple[int, ...]:
        """The spec's LR drops (epochs of ``epochs``) as steps of a run of ``iters`` steps (the
        same fraction of the run, so a shortened run keeps the schedule's shape)."""
        s = self.s
        if not s.lr_milestones or s.epochs <= 0:
            return ()
        return tuple(sorted({max(1, round(m / s.epochs * iters)) for m in s.lr_milestones
                             if m < s.epochs}))  # fmt: skip

    def _trained(self, kind: str, tag: str, model: str, iters: int, kwargs: dict[str, Any],
                 sd: str) -> dict[str, Any]:  # fmt: skip
        from benchmark.training import config_identity, train

        if iters <= 0 and not self.s.smoke:
            raise InputError(
                f"{self.spec.path}: {tag} needs training but the {self.s.profile} profile sets "
                "no iterations (nor epochs); give a checkpoint with --checkpoint"
                + ("" if self.s.real_training else ", or train with --train-root")
            )
        if kind == "teacher":  # one teacher for every training seed: the base seed's
            drop = self.s.teacher_milestone
            ms = (drop,) if 0 < drop < iters else ()
            cfg = self._train_config(model, max(iters, 1), kwargs, sd, seed=self.teacher_seed,
                                     milestones=ms, teacher=True)  # fmt: skip
        else:
            cfg = self._train_config(model, max(iters, 1), kwargs, sd, seed=self.s.seed,
                                     milestones=self.milestones(max(iters, 1)))  # fmt: skip
        stage = _Stage(kind, tag, {"train": config_identity(cfg)}, self.out)
        bundled = bundled_teacher(config_identity(cfg)) if kind == "teacher" else None

        def go(d: Path) -> dict[str, Any]:
            if bundled is not None:  # the repository's teacher, made by the same config
                self.log(f"  bundled teacher {bundled['file']} (sha256 checked; made by: "
                         f"{bundled['command']})")  # fmt: skip
                return {"checkpoint": bundled["path"], "val_loss": bundled["val_loss"],
                        "steps": cfg.iters, "bundled": bundled["file"]}  # fmt: skip
            r = train(cfg, d, progress=self.progress)
            res = {"checkpoint": str(d / "model.pt"), "val_loss": r["val_loss"],
                   "steps": r["step"]}  # fmt: skip
            if r.get("throughput"):  # images/s of the first steps, for the plan's estimates
                res["throughput"] = r["throughput"]
            return res

        res = self._run(stage, go)
        if res.get("bundled"):  # cached: the bundle's path in this installation
            if bundled is None:
                raise InputError(f"{stage.dir}: a cached bundled teacher whose file is gone")
            res = {**res, "checkpoint": bundled["path"]}
        return {**res, "stage": stage.key}

    def teacher(self, model: str) -> dict[str, Any]:
        """The network to prune: ``--checkpoint MODEL=PATH``, else the repository's bundled
        teacher when its configuration matches, else trained here (once per runner)."""
        if model not in self._teachers:
            self._teachers[model] = self._teacher(model)
        return self._teachers[model]

    def _teacher(self, model: str) -> dict[str, Any]:
        if model in self.checkpoints:
            return {
                "checkpoint": self.checkpoints[model],
                "stage": _key(_file_id(self.checkpoints[model])),
            }
        if self.s.profile == "paper" and not self.s.smoke and not self.s.real_training:
            raise InputError(
                f"{self.spec.path}: the paper profile prunes the official {model} teacher; give "
                f"it with --checkpoint {model}=PATH, or train it with --train-root"
            )
        return self._trained(
            "teacher",
            model,
            model,
            self.steps("teacher", model),
            self._model_kwargs(model),
            "best",
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
        if self.s.profile == "paper" and not self.s.smoke and not self.s.real_training:
            return None
        if row.prune is not None:
            return self.pruned(row)
        if _is_teacher_row(self.spec, row):
            return self.teacher(row.model)
        tag = f"{row.model}-sd-{row.sd or 'best'}" + ("-no-ampa" if row.ampa is False else "")
        return self._trained(
            "train", tag, row.model, self.steps("train", row.model),
            self._model_kwargs(row.model, row), row.sd or "best",
        )  # fmt: skip

    def prune_config(self, row: Row) -> Any:
        """The row's :class:`~benchmark.prune_pipeline.PruneConfig` (its teacher resolved).

        The balance factors, read one way everywhere (:mod:`benchmark.prune_pipeline`): the
        row's ``lambda`` is ``lambda_4``, the distillation weight of the pruning stage
        (``prune_kd_weight``; it matters only for a criterion that distils there, DCP), and its
        ``w`` is ``w_3``, the distillation weight of the training stage (``kd_weight``); both
        default to 1 (the authors' code). The teacher-alpha term (weight 1, as the code; the
        supplement is silent) belongs to distillation: rows with a distillation loss use it in
        both stages, the '-' rows (no KD) in neither, so "SPKD / NS" and "SPKD / Ours" differ
        only in how the channels were chosen.
        """
        from benchmark.prune_pipeline import PruneConfig

        assert row.model is not None and row.prune is not None and row.ratio is not None
        t = self.teacher(row.model)
        kd = row.kd or "none"
        return PruneConfig(
            model=row.model, method=row.prune, ratio=row.ratio, kd=kd,
            teacher=t["checkpoint"], init=self.s.init, sparsity_init=self.s.sparsity_init,
            sparsity_iters=self.steps("prune", row.model),
            finetune_iters=self.steps("finetune", row.model),
            kd_weight=row.w if row.w is not None else 1.0,
            prune_kd_weight=row.lambda_ if row.lambda_ is not None else 1.0,
            teacher_alpha_weight=0.0 if kd == "none" else 1.0,
            size=self.s.size, crop=self._crop(row.model), batch=self.s.batch_size, lr=self.s.lr,
            seed=self.s.seed, device=self.s.device, threads=self.s.threads,
            model_kwargs=self._model_kwargs(row.model) or None, pool=self.s.pool,
            weight_decay=self.s.weight_decay, figures=False, **self.data_fields(row.model),
        )  # fmt: skip

    def selection_key(self, row: Row) -> str:
        """What the row's channel selection depends on (teacher stage + selection fields)."""
        from benchmark.prune_pipeline import prune_identity, selection_fields

        cfg = self.prune_config(row)
        ident = prune_identity(cfg)
        sel = {k: ident[k] for k in selection_fields(cfg) if k != "teacher" and k in ident}
        return _key({"teacher": self.teacher(row.model)["stage"], **sel})  # type: ignore[arg-type]

    def pruned(self, row: Row) -> dict[str, Any]:
        from benchmark.prune_pipeline import prune, prune_identity

        assert row.model is not None and row.prune is not None
        t = self.teacher(row.model)
        cfg = self.prune_config(row)
        sel_key = self.selection_key(row)
        conf = {k: v for k, v in prune_identity(cfg).items()
                if k not in ("teacher", "selection_dir")}  # fmt: skip
        stage = _Stage("prune", f"{row.model}-{row.prune}-{row.kd or 'none'}",
                       {"prune": conf, "teacher": t["stage"]}, self.out)  # fmt: skip
        # one selection per (teacher, criterion, ratio, pruning-stage settings), across specs
        registry = self.out / "stages" / "selections" / f"{sel_key}.json"
        first = Path(json.loads(registry.read_text())["dir"]) if registry.is_file() else None
        if first is not None and first != stage.dir and (first / "spec.json").is_file():
            cfg = replace(cfg, selection_dir=str(first))

        def go(d: Path) -> dict[str, Any]:
            r = prune(cfg, d, progress=self.progress)
            return {"checkpoint": str(d / "model.pt"), "spec": str(d / "spec.json"),
                    "params_student": r["params_student"], "params_teacher": r["params_teacher"],
                    "ratio": r["ratio"], "throughput": r.get("throughput") or None}  # fmt: skip

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
            per_image = {
                m: {f"{r['dataset']}/{r['name']}": float(r["metrics"].get(m, math.nan))
                    for r in rows}
                for m in metrics
            }  # fmt: skip
            return {"means": _means(rows, metrics), "images": len(rows), "per_image": per_image}

        res = self._run(stage, go)
        means = res["means"]
        # the group's metrics fill the spec's columns position-wise (sad_whole -> "SAD")
        cols = list(zip(self.spec.metrics, metrics, strict=True))
        per_image = res.get("per_image") or {}  # absent in stages cached by older versions
        self.per_image[row.label] = {c: per_image[m] for c, m in cols if m in per_image}
        return {col: means[m] for col, m in cols}

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
        from baselines import create_model
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
    return {m: _nanmean([float(r["metrics"].get(m, math.nan)) for r in rows]) for m in metrics}


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

    from baselines import create_model
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
            cells += [_cell(r, c, like[c]), pub if pub is not None else "-"]
        body.append(cells)
    return head, body


def _cell(r: Mapping[str, Any], col: str, like: str | None) -> str:
    """``mean +- std`` over the training seeds (the std with as many decimals as the mean);
    the mean alone with one seed or for a row shared by the seeds (the teacher)."""
    mean = _fmt(r["ours"].get(col), like)
    std = (r.get("ours_std") or {}).get(col)
    if std is None or mean == "-" or r.get("shared_across_seeds") or math.isnan(std):
        return mean
    decimals = len(mean.split(".")[1]) if "." in mean else 0
    if "e" in mean:
        return f"{mean} ± {std:.2g}"
    return f"{mean} ± {std:.{decimals}f}"


def _md(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _tex(head: list[str], body: list[list[str]], caption: str, notes: Sequence[str] = ()) -> str:
    from reports.tables import tex_escape

    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex_escape(caption)}}}",
             rf"\begin{{tabular}}{{l{'r' * (len(head) - 1)}}}", r"\hline",
             " & ".join(tex_escape(h) for h in head) + r" \\", r"\hline"]  # fmt: skip
    lines += [
        " & ".join(tex_escape(c).replace(" ± ", r" $\pm$ ") for c in row) + r" \\" for row in body
    ]
    lines += [r"\hline", r"\end{tabular}"]
    if notes:
        lines += [r"\par\footnotesize"] + [
            tex_escape(n.replace("**", "")).replace("±", r"$\pm$") + r" \\" for n in notes
        ]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def _csv(spec: Spec, rows: list[dict[str, Any]], seeds: Sequence[int] = (0,)) -> str:
    """One line per row: per column ``_ours`` (mean over seeds), ``_ours_std`` (sample std,
    two or more seeds), ``_seed<k>`` (every seed's value) and ``_paper``."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    cols = _table_columns(spec)
    many = len(seeds) > 1
    kinds = ["ours", *(["ours_std", *(f"seed{sd}" for sd in seeds)] if many else []), "paper"]
    w.writerow(["row", "group", *(f"{c}_{k}" for c in cols for k in kinds)])

    def num(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))

    for r in rows:
        vals = []
        for c in cols:
            vals.append(num(r["ours"].get(c)))
            if many:
                vals.append(num((r.get("ours_std") or {}).get(c)))
                per = (r.get("ours_seeds") or {}).get(c) or [None] * len(seeds)
                vals += [num(v) for v in per]
            vals.append(r["published"].get(c, ""))
        w.writerow([r["label"], r["group"] or "", *vals])
    return buf.getvalue()


def _caption(
    spec: Spec,
    s: Settings,
    skipped: Sequence[str] = (),
    seeds: Sequence[int] = (),
    plan: Sequence[Mapping[str, Any]] = (),
    given: Sequence[str] = (),
) -> str:
    parts = [f"Published: {spec.source.ref} of {spec.source.paper}."]
    if spec.convention:
        parts.append(f"Ours: convention {spec.convention}, mean over images.")
    if len(seeds) > 1:
        parts.append(
            f"Each cell: mean ± sample std over {len(seeds)} training seeds "
            f"({', '.join(map(str, seeds))}; one teacher shared by all, the test set fixed); "
            "every seed's value is in table.csv."
        )
    if not spec.metrics and spec.kind == "table":
        parts.append(
            f"Ours: counted on the registered architectures at width x{s.width_mult:g} (no data, "
            "no training); size = parameters x 4 bytes."
        )
    elif s.profile == "quick":
        steps = ", ".join(
            f"{n} {what} steps"
            for n, what in ((s.teacher_iters, "teacher"), (s.prune_iters, "pruning-stage"),
                            (s.train_iters, "training-stage" if _prunes(spec) else "training"))
            if n
        )  # fmt: skip
        parts.append(
            f"Quick profile: {s.dataset} ({s.test_count} test images, {s.size} px"
            + (f"; training set of {s.pool} samples" if s.pool else "")
            + f"), networks at width x{s.width_mult:g}, {steps}, batch {s.batch_size}, "
            + (
                f"pruning stage from {s.sparsity_init}, training stage "
                f"{'re-initialised' if s.init == 'reinit' else 'inherits its weights'}, "
                if _prunes(spec)
                else ""
            )
            + f"seed {s.seed}, CPU: compare rows with each other, not with the paper column."
        )
    elif s.real_training:
        sched = []
        for kind, what in (("teacher", "teacher"), ("train", "trained rows"),
                           ("prune", "pruned rows (pruning + training stage)")):  # fmt: skip
            got = [p for p in plan if p["stage"] == kind]
            if got:
                lo, hi = min(p["steps"] for p in got), max(p["steps"] for p in got)
                n = f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"
                sched.append(f"{what} {n} steps (batch {got[0]['batch']}, {got[0]['crop']} px)")
        over = [k for k in ("teacher_iters", "prune_iters", "train_iters") if getattr(s, k)]
        parts.append(
            f"Paper profile: {s.dataset} from {s.data_root}; trained here on {s.train_set} "
            f"from {s.train_root}: {'; '.join(sched) or 'nothing to train'}"
            + (f" (steps set by {', '.join(over)}, not the spec's epochs)" if over else
               " (the spec's epochs)")
            + f", seed {s.seed}, {s.device}"
            + (f", amp {s.amp}" if s.amp != "off" else "")
            + (f", networks at width x{s.width_mult:g}" if s.width_mult < 1 else "")
            + "."
        )  # fmt: skip
        if r_given := [k for k in given if k]:
            parts.append(f"Given checkpoints: {', '.join(r_given)}.")
    else:
        parts.append(f"Paper profile: {s.dataset} from {s.data_root}, the checkpoints given.")
    if skipped:
        parts.append(f"Not run (no checkpoint given): {', '.join(skipped)}.")
    if s.smoke:
        parts.append("SMOKE RUN (a few steps): the numbers mean nothing.")
    return " ".join(parts)


def _row_entry(r: _Runner, spec: Spec, row: Row) -> dict[str, Any]:
    """One row under ``r``'s settings (one training seed): its network, values, per-image
    values (for the claims) and, for pruned rows, the balance factors it ran with."""
    entry: dict[str, Any] = {"ours": {}}
    needs_metrics = bool(spec.metrics)
    model = None
    if needs_metrics or spec.kind == "figure" or row.prune is not None:
        model = r.row_model(row)
        if model is None:
            return {"ours": {}, "skipped": "no checkpoint given"}
        entry["checkpoint"] = model["checkpoint"]
        if "spec" in model:
            entry["spec"] = model["spec"]
        if model.get("throughput") and not _is_teacher_row(spec, row):
            entry["throughput"] = model["throughput"]
        if row.prune is not None and not model.get("given"):
            cfg = r.prune_config(row)
            entry["balance"] = {
                "lambda_4 (prune_kd_weight)": cfg.prune_kd_weight,
                "w_3 (kd_weight)": cfg.kd_weight,
                "teacher_alpha_weight": cfg.teacher_alpha_weight,
            }
            entry["params_student"] = model.get("params_student")
    if needs_metrics:
        assert model is not None
        entry["ours"].update(r.evaluate(row, model))
        entry["per_image"] = r.per_image.get(row.label, {})
    if spec.columns:
        entry["ours"].update({c: v for c, v in r.size(row, model).items() if c in spec.columns})
    return entry


@dataclass(frozen=True)
class _Job:
    """What a worker needs to run one (seed, row) of a spec (picklable)."""

    spec_name: str
    settings: Settings
    out: str
    checkpoints: dict[str, str]
    seed: int
    teacher_seed: int
    row: int
    progress: bool
    executor: str
    scheduler: str | None
    prefix: str


def _run_job(job: _Job, to: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run one (seed, row) job; in a worker process (log lines to stderr) or in this one
    (log lines to ``to``, the caller's log)."""
    spec = load_spec(job.spec_name)
    s = replace(job.settings, seed=job.seed)

    def log(msg: str) -> None:
        if to is not None:
            to(f"{job.prefix}{msg}")
        else:
            print(f"{job.prefix}{msg}", file=sys.stderr, flush=True)

    r = _Runner(spec, s, Path(job.out), checkpoints=job.checkpoints, progress=job.progress,
                executor=job.executor, scheduler=job.scheduler, log=log,
                teacher_seed=job.teacher_seed)  # fmt: skip
    row = spec.rows[job.row]
    t0 = time.perf_counter()
    log(f"- {row.label}")
    entry = _row_entry(r, spec, row)
    entry.update(ran=r.ran, cached=r.cached, seconds=time.perf_counter() - t0)
    return entry


def _plan(spec: Spec, r: _Runner, seeds: Sequence[int]) -> list[list[tuple[int, int]]]:
    """(seed, row index) jobs in two phases: the first run of every channel selection (and
    every row that selects nothing), then the rows that reuse a selection of phase 1. Jobs of
    one phase are independent, so they may run in parallel. A teacher row is evaluated once
    (the teacher is shared by the seeds)."""
    first: list[tuple[int, int]] = []
    later: list[tuple[int, int]] = []
    seen: set[str] = set()
    trains = r.s.profile == "quick" or r.s.smoke or r.s.real_training
    for seed in seeds:
        rs = replace(r.s, seed=seed)
        runner = _Runner(spec, rs, r.out, checkpoints=r.checkpoints, progress=False,
                         executor=r.executor, scheduler=r.scheduler, log=r.log,
                         teacher_seed=r.teacher_seed)  # fmt: skip
        for i, row in enumerate(spec.rows):
            if not row.runnable:
                continue
            if _is_teacher_row(spec, row) and seed != seeds[0]:
                continue
            given = row.label in r.checkpoints or f"{row.group}:{row.label}" in r.checkpoints
            if row.prune is not None and trains and not given:
                key = runner.selection_key(row)
                (later if key in seen else first).append((seed, i))
                seen.add(key)
            else:
                first.append((seed, i))
    return [p for p in (first, later) if p]


def _run_phases(
    phases: list[list[tuple[int, int]]], make_job: Callable[[int, int], _Job], jobs: int,
    log: Callable[[str], None],
) -> dict[tuple[int, int], dict[str, Any]]:  # fmt: skip
    """Every job of every phase (phases in order); ``jobs`` > 1: one spawn process pool for
    all phases (its workers start, import torch and load the training pool once)."""
    results: dict[tuple[int, int], dict[str, Any]] = {}
    total = sum(len(p) for p in phases)
    t0 = time.perf_counter()
    if jobs <= 1:
        for phase in phases:
            for k in phase:
                results[k] = _run_job(make_job(*k), log)
                _log_done(log, len(results), total, t0)
        return results
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")  # torch's thread pool does not survive fork
    workers = min(jobs, max(len(p) for p in phases))
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
        for phase in phases:
            pending = {ex.submit(_run_job, make_job(*k)): k for k in phase}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    results[pending.pop(f)] = f.result()  # a worker's error is raised here
                    _log_done(log, len(results), total, t0)
    return results


def _log_done(log: Callable[[str], None], n: int, total: int, t0: float) -> None:
    el = time.perf_counter() - t0
    eta = el / n * (total - n)
    log(f"[{n}/{total} rows done, {el:.0f} s elapsed, about {eta:.0f} s to go]")


def _aggregate(
    spec: Spec, seeds: Sequence[int], results: Mapping[tuple[int, int], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per row: the mean over seeds in ``ours``, the sample std (ddof 1) in ``ours_std``
    (with two or more seeds), every seed's value in ``ours_seeds``."""
    rows: list[dict[str, Any]] = []
    for i, row in enumerate(spec.rows):
        entry: dict[str, Any] = {"label": row.label, "group": row.group,
                                 "published": dict(row.published), "ours": {},
                                 "model": row.model}  # fmt: skip
        got = {seed: results[(seed, i)] for seed in seeds if (seed, i) in results}
        if row.runnable and got and len(got) < len(seeds):  # a shared teacher row
            only = next(iter(got.values()))
            got = dict.fromkeys(seeds, only)
            entry["shared_across_seeds"] = True
        if not got:
            rows.append(entry)
            continue
        base = got[seeds[0]]
        if "skipped" in base:
            entry["skipped"] = base["skipped"]
            rows.append(entry)
            continue
        for k in ("checkpoint", "spec", "balance"):
            if k in base:
                entry[k] = base[k]
        sizes = [got[sd].get("params_student") for sd in seeds]
        if all(isinstance(v, int) for v in sizes):  # the student's size, mean over seeds
            entry["params_student"] = math.fsum(sizes) / len(sizes)
        cols = list(dict.fromkeys(c for e in got.values() for c in e["ours"]))
        per_seed = {c: [_num(got[sd]["ours"].get(c)) for sd in seeds] for c in cols}
        entry["ours"] = {c: _nanmean(v) for c, v in per_seed.items()}
        if len(seeds) > 1:
            entry["ours_std"] = {c: _nanstd(v) for c, v in per_seed.items()}
            entry["ours_seeds"] = per_seed
        entry["per_image"] = {str(sd): got[sd].get("per_image", {}) for sd in seeds}
        rows.append(entry)
    return rows


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def _nanmean(vals: Sequence[float]) -> float:
    good = [v for v in vals if not math.isnan(v)]
    return math.fsum(good) / len(good) if good else math.nan


def _nanstd(vals: Sequence[float]) -> float:
    good = [v for v in vals if not math.isnan(v)]
    if len(good) < 2:
        return math.nan
    m = _nanmean(good)
    return math.sqrt(math.fsum((v - m) ** 2 for v in good) / (len(good) - 1))


# --------------------------------------------------------------------------------- claims

#: Bootstrap resamples and seed of the claims' intervals (fixed: same run -> same verdicts).
CLAIM_RESAMPLES = 4000
CLAIM_SEED = 0
CLAIM_CONFIDENCE = 0.95


def claim_interval(
    diff: Any, *, confidence: float = CLAIM_CONFIDENCE, resamples: int = CLAIM_RESAMPLES,
    seed: int = CLAIM_SEED,
) -> tuple[float, float, float]:  # fmt: skip
    """Mean and percentile interval of a (seeds x images) array of paired differences.

    A *crossed* bootstrap: each resample draws the training seeds with replacement and,
    independently, the test images with replacement (one image draw for all seeds, as the
    differences are paired by image), so the interval carries both the training noise and
    the test-set sampling; with one seed it is the ordinary bootstrap over images. Percentile
    interval, ``resamples`` draws from ``numpy.random.default_rng(seed)``.

    Examples
    --------
    >>> import numpy as np
    >>> m, lo, hi = claim_interval(np.full((3, 8), -1.0))
    >>> (m, lo, hi)
    (-1.0, -1.0, -1.0)
    """
    import numpy as np

    d = np.asarray(diff, dtype=np.float64)
    n_seeds, n_img = d.shape
    rng = np.random.default_rng(seed)
    si = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    ii = rng.integers(0, n_img, size=(resamples, n_img))
    # mean over the resampled seeds x images grid = mean over seeds of per-seed image means
    per_seed = d[:, ii]  # (seeds, resamples, images)
    img_means = per_seed.mean(axis=2)  # (seeds, resamples)
    stats = np.take_along_axis(img_means.T, si, axis=1).mean(axis=1)
    a = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [a, 1 - a])
    return float(d.mean()), float(lo), float(hi)


def claim_verdicts(
    spec: Spec, rows: Sequence[dict[str, Any]], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """For each of the spec's claims and each metric column: the mean paired difference
    (better row - other row), its 95 % crossed-bootstrap interval (:func:`claim_interval`),
    in how many seeds the claimed row was better, and the verdict: ``supports`` (the interval
    lies on the claimed side of 0), ``contradicts`` (on the other side) or ``cannot
    separate``. Images missing or NaN for either row in any seed are left out (counted)."""
    import numpy as np

    by_label = {r["label"]: r for r in rows}
    out = []
    for c in spec.claims:
        a, b = by_label.get(c.better), by_label.get(c.than)
        res: dict[str, Any] = {"text": c.text, "better": c.better, "than": c.than, "metrics": {}}
        out.append(res)
        if a is None or b is None or "per_image" not in a or "per_image" not in b:
            res["note"] = "not run"
            continue
        if a.get("params_student") and b.get("params_student"):
            res["params"] = [a["params_student"], b["params_student"]]
        for col in spec.metrics:
            higher = METRICS[col].higher_is_better if col in METRICS else col == "miou"
            pa = [a["per_image"].get(str(sd), {}).get(col, {}) for sd in seeds]
            pb = [b["per_image"].get(str(sd), {}).get(col, {}) for sd in seeds]
            names = sorted(set.intersection(*(set(x) for x in pa + pb))) if pa and pb else []
            d = np.array([[pa[k][n] - pb[k][n] for n in names] for k in range(len(seeds))])
            keep = ~np.isnan(d).any(axis=0) if d.size else np.zeros(0, bool)
            d = d[:, keep] if d.size else d
            if d.size == 0:
                res["metrics"][col] = {"verdict": "not run", "images": 0}
                continue
            mean, lo, hi = claim_interval(d)
            sign = 1.0 if higher else -1.0  # "better" means a smaller error, larger mIoU
            if higher and lo > 0 or not higher and hi < 0:
                verdict = "supports"
            elif higher and hi < 0 or not higher and lo > 0:
                verdict = "contradicts"
            else:
                verdict = "cannot separate"
            wins = int(sum((sign * d[k].mean()) > 0 for k in range(d.shape[0])))
            res["metrics"][col] = {
                "diff": mean, "lo": lo, "hi": hi, "verdict": verdict, "images": int(d.shape[1]),
                "seeds": int(d.shape[0]), "seeds_better": wins,
                "dropped_images": len(names) - int(d.shape[1]),
            }  # fmt: skip
    return out


def _verdict_lines(verdicts: Sequence[dict[str, Any]], spec: Spec, n_seeds: int) -> list[str]:
    """One line per claim: the verdict per metric, with the difference and its interval."""
    lines = []
    for v in verdicts:
        if v.get("note"):
            lines.append(f"- {v['text']}: {v['note']}.")
            continue
        parts = []
        for col, m in v["metrics"].items():
            if m["verdict"] == "not run":
                continue
            fmt = _fmt_pair(m["diff"], m["lo"], m["hi"])
            parts.append(f"{_column_label(col)} {m['verdict']} ({fmt}; better in "
                         f"{m['seeds_better']}/{m['seeds']} seeds)")  # fmt: skip
        kinds = [m["verdict"] for m in v["metrics"].values()]
        overall = (
            "supported" if kinds and all(k == "supports" for k in kinds)
            else "contradicted" if kinds and all(k == "contradicts" for k in kinds)
            else "mixed" if "supports" in kinds and "contradicts" in kinds
            else "partly supported" if "supports" in kinds
            else "partly contradicted" if "contradicts" in kinds
            else "not separated"
        )  # fmt: skip
        size = ""
        if v.get("params"):  # a "same ratio" of channels is not the same size
            size = (f"; students {v['params'][0] / 1e6:.3f}M vs {v['params'][1] / 1e6:.3f}M "
                    "parameters")  # fmt: skip
        lines.append(f"- **{v['text']}** ({v['better']} vs {v['than']}{size}): {overall}. "
                     + "; ".join(parts) + ".")  # fmt: skip
    if lines:
        how = (
            f"over {n_seeds} training seeds x the test images" if n_seeds > 1
            else "over the test images of one training seed (training noise not covered)"
        )  # fmt: skip
        lines.insert(0, f"Claims of the paper, checked on this run (paired difference "
                        f"claimed-better minus other, 95 % crossed-bootstrap interval {how}; "
                        "'supports' / 'contradicts': the interval excludes 0; "
                        "'cannot separate': it does not):")  # fmt: skip
    return lines


def _fmt_pair(mean: float, lo: float, hi: float) -> str:
    scale = max(abs(mean), abs(lo), abs(hi), 1e-12)
    digits = max(1, 3 - int(math.floor(math.log10(scale))))
    return f"{mean:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


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
    jobs: int = 1,
    train_root: str | None = None,
    bg_root: str | None = None,
    names: str | None = None,
) -> ReproduceResult:
    """Regenerate one spec's table or figure in ``out`` (see the module docstring).

    ``jobs`` > 1 runs independent (seed, row) units in that many worker processes (spawned;
    each stage still uses the profile's ``threads``), which changes the wall time only: every
    stage is a function of its configuration, so the tables are the same.

    Returns
    -------
    ReproduceResult
        Rows with ``ours`` (mean over the training seeds), ``ours_std`` and ``ours_seeds``
        (two or more seeds) and ``published`` values, the files written, wall time and how
        many stages ran vs came from the cache.
    """
    t0 = time.perf_counter()
    spec = load_spec(spec_name)
    s = settings_for(spec, profile, data_root=data_root, smoke=smoke, overrides=overrides,
                     train_root=train_root, bg_root=bg_root, names=names)  # fmt: skip
    out = Path(out)
    logf = log or (lambda m: print(m, file=sys.stderr, flush=True))
    ck = dict(checkpoints or {})
    for k, v in ck.items():
        _file_id(v)  # a missing file fails now, naming it
        if k not in checkpoint_keys(spec):
            raise InputError(f"--checkpoint {k}=...: {spec.id} has no row or model {k!r}")
    r = _Runner(spec, s, out, checkpoints=ck, progress=progress, executor=executor,
                scheduler=scheduler, log=logf)  # fmt: skip
    # a figure draws one selection: the base seed's
    seeds = [s.seed + k for k in range(s.seeds)] if spec.kind == "table" else [s.seed]
    logf(f"reproduce {spec.id} [{s.profile}{' smoke' if s.smoke else ''}] -> {out / spec.id}"
         f" (training seeds {', '.join(map(str, seeds))})")  # fmt: skip
    plan = training_plan(spec, r, seeds) if s.real_training else []
    if s.real_training:
        for line in plan_lines(plan):
            logf(line)
    if s.profile == "quick" or s.smoke or s.real_training:  # teachers first: rows share them
        for model in dict.fromkeys(
            row.model for row in spec.rows
            if row.model and (row.prune is not None or _is_teacher_row(spec, row))
        ):  # fmt: skip
            r.teacher(model)
    phases = _plan(spec, r, seeds)
    parallel = jobs > 1 and sum(len(p) for p in phases) > 1
    if parallel and s.pool > 0 and (s.profile == "quick" or s.smoke):
        from benchmark.training import TrainConfig, training_pool

        data = TrainConfig()  # the stages' data kind and data seed (their defaults)
        training_pool(data.data, s.size, data.data_seed, s.pool)  # here once; workers load it

    def make_job(seed: int, i: int) -> _Job:
        return _Job(spec_name=spec_name, settings=s, out=str(out), checkpoints=ck, seed=seed,
                    teacher_seed=s.seed, row=i, progress=progress and not parallel,
                    executor=executor, scheduler=scheduler,
                    prefix=f"[seed {seed}] " if len(seeds) > 1 else "")  # fmt: skip

    results = _run_phases(phases, make_job, jobs if parallel else 1, logf)
    ran = r.ran + sum(e.get("ran", 0) for e in results.values())
    cached = r.cached + sum(e.get("cached", 0) for e in results.values())
    rows = _aggregate(spec, seeds, results)
    skipped = [e["label"] for e in rows if e.get("skipped")]
    figures = [
        {"row": e["label"], "spec": e["spec"]} for e in rows
        if spec.kind == "figure" and e.get("spec") and not e.get("skipped")
    ]  # fmt: skip
    verdicts = claim_verdicts(spec, rows, seeds) if spec.kind == "table" else []
    dest = out / spec.id
    dest.mkdir(parents=True, exist_ok=True)
    if skipped:
        logf(f"rows without a checkpoint (left empty): {', '.join(skipped)}")
    caption = _caption(spec, s, skipped, seeds, plan, sorted(ck))
    files = _write_outputs(spec, s, rows, figures, dest, skipped, seeds=seeds, verdicts=verdicts,
                           caption=caption)  # fmt: skip
    seconds = time.perf_counter() - t0
    summary = {
        "spec": spec.id, "title": spec.title, "kind": spec.kind, "source": asdict(spec.source),
        "profile": s.profile, "smoke": s.smoke, "settings": s.key_data(), "seeds": seeds,
        "rows": rows, "claims": verdicts,
        "files": [str(f.relative_to(dest)) for f in files], "seconds": seconds,
        "columns": _table_columns(spec),
        "groups": {g.name: g.label for g in spec.groups},
        "stages_run": ran, "stages_cached": cached,
        "caption": caption,
        "verdict_lines": _verdict_lines(verdicts, spec, len(seeds)),
        "balance_factors": BALANCE_FACTORS if _prunes(spec) else None,
        "note": spec.note, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "plan": _measured_plan(plan, r._teachers, results),
    }  # fmt: skip
    with atomic_write(dest / "result.json") as fh:
        json.dump(summary, fh, indent=2, default=_json_default)
    write_index(out)
    logf(f"done {spec.id} in {seconds:.0f} s ({ran} stages run, {cached} cached)")
    return ReproduceResult(spec.id, s.profile, dest, rows, files, seconds, ran, cached)


#: The one reading of the pruning supplement's balance factors (sec. 3, Table 2), as used by
#: the specs' ``lambda`` / ``w``, :mod:`benchmark.prune_pipeline` and ``mattebench prune``.
BALANCE_FACTORS: dict[str, str] = {
    "lambda_4": "weight of the distillation term in the pruning-stage loss (spec 'lambda', "
    "PruneConfig.prune_kd_weight, --prune-kd-weight); acts only where the criterion distils "
    "while pruning (DCP)",
    "w_3": "weight of the distillation term in the training-stage loss (spec 'w', "
    "PruneConfig.kd_weight, --kd-weight)",
    "teacher_alpha_weight": "not given by the supplement; 1 in both stages for rows with "
    "distillation, as the authors' code (train_prune.py, train_pruned.py); 0 for '-' rows",
}


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


def _write_outputs(
    spec: Spec, s: Settings, rows: list[dict[str, Any]], figures: list[dict[str, Any]],
    dest: Path, skipped: Sequence[str] = (), *, seeds: Sequence[int] = (0,),
    verdicts: Sequence[dict[str, Any]] = (), caption: str | None = None,
) -> list[Path]:  # fmt: skip
    files: list[Path] = []
    caption = caption if caption is not None else _caption(spec, s, skipped, seeds)
    if spec.kind == "table":
        head, body = _table(spec, rows)
        notes = _verdict_lines(verdicts, spec, len(seeds))
        md_notes = "\n" + "\n".join(notes) + "\n" if notes else ""
        for ext, text in (
            ("md", f"**{spec.title}.** {caption}\n\n" + _md(head, body) + md_notes),
            ("tex", _tex(head, body, caption, notes)),
            ("csv", _csv(spec, rows, seeds)),
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
            lines = r.get("verdict_lines") or []
            if lines:
                parts.append(f"<p>{esc(lines[0])}</p><ul>")
                parts += [f"<li>{esc(x[2:].replace('**', ''))}</li>" for x in lines[1:]]
                parts.append("</ul>")
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
            f"<td>{esc(_cell(row, c, like[c]))}</td>"
            f"<td class='paper'>{esc(row['published'].get(c, '-'))}</td>"
            for c in order
        )
        body.append(f"<tr><td>{esc(row['label'])}</td>{cells}</tr>")
    return f"<table><tr><th>Row</th>{head}</tr>{''.join(body)}</table>"


# --------------------------------------------------------------------------------- plan

#: Samples per epoch of the official training sets (foregrounds for the composed sets, each
#: composed ``per_fg`` times; ``reference/datasets-and-peers.md`` section 1): Adobe 431 x 100,
#: Distinctions-646 596 x 100, VOC 2012 + SBD train_aug 10582 images.
OFFICIAL_SAMPLES: dict[str, int] = {"adobe": 431, "d646": 596, "voc-aug": 10582}
#: The SDNet portrait subsets (SDNet paper section 4.1): 78 Adobe and 342 D646 foregrounds.
OFFICIAL_PORTRAITS: dict[str, int] = {"adobe": 78, "d646": 342}


def plan_spec(
    spec_name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    train_root: str | None = None,
    bg_root: str | None = None,
    names: str | None = None,
    checkpoints: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The paper profile's training plan of a spec without training anything
    (``mattebench reproduce SPEC --profile paper --plan``): from the training set under
    ``train_root`` when given, else from the official sets' sizes."""
    spec = load_spec(spec_name)
    s = settings_for(spec, "paper", overrides=overrides, train_root=train_root,
                     bg_root=bg_root, names=names)  # fmt: skip
    r = _Runner(spec, s, Path("."), checkpoints=dict(checkpoints or {}), progress=False,
                executor="process", scheduler=None, log=lambda m: None)  # fmt: skip
    r.planning = True
    seeds = [s.seed + k for k in range(s.seeds)] if spec.kind == "table" else [s.seed]
    return training_plan(spec, r, seeds)


def training_plan(spec: Spec, r: _Runner, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """The training stages a run of ``spec`` asks for, with their schedules: one entry per
    teacher (unless ``--checkpoint`` gives it), per pruned row and seed (``steps`` = pruning
    stage + training stage) and per trained row and seed; ``images`` = steps x batch.

    Computed from the settings and the training set's size alone (nothing is trained), so it
    can be printed before the first step; rows given by ``--checkpoint`` are left out (their
    training is skipped)."""
    from baselines.pruning import get_criterion

    out: list[dict[str, Any]] = []
    teachers: dict[str, None] = {}
    selections: set[tuple[Any, ...]] = set()
    for i, row in enumerate(spec.rows):
        if not row.runnable or row.model is None:
            continue
        given = row.label in r.checkpoints or f"{row.group}:{row.label}" in r.checkpoints
        if given:
            continue
        if row.prune is not None or _is_teacher_row(spec, row):
            if row.model not in r.checkpoints and row.model not in teachers:
                teachers[row.model] = None
                n = r.steps("teacher", row.model)
                out.append({"stage": "teacher", "row": row.model, "model": row.model,
                            "steps": n, "batch": r.batch(True), "images": n * r.batch(True),
                            "crop": r._crop(row.model, True)})  # fmt: skip
            if row.prune is None:
                continue
            crit = get_criterion(row.prune)
            # rows sharing a selection share its pruning stage (see _plan); UNI has none
            sel = (row.model, row.prune, row.ratio) + (
                (row.kd, row.lambda_) if crit.distills else ()
            )
            b = r.steps("finetune", row.model)
            for sd in seeds:
                first = crit.sparsity and (sd, sel) not in selections
                selections.add((sd, sel))
                a = r.steps("prune", row.model) if first else 0
                out.append({"stage": "prune", "row": row.label, "model": row.model,
                            "seed": sd, "index": i, "steps": a + b, "steps_prune": a,
                            "steps_train": b, "batch": r.batch(),
                            "images": (a + b) * r.batch(), "crop": r._crop(row.model)})  # fmt: skip
        elif row.model not in r.checkpoints:
            n = r.steps("train", row.model)
            for sd in seeds:
                out.append({"stage": "train", "row": row.label, "model": row.model, "seed": sd,
                            "index": i,
                            "steps": n, "batch": r.batch(), "images": n * r.batch(),
                            "crop": r._crop(row.model)})  # fmt: skip
    return out


def plan_lines(
    plan: Sequence[dict[str, Any]], rates: Mapping[str, float] | None = None
) -> list[str]:
    """The plan as log lines (one per stage, then the total); with ``rates`` (model ->
    training images/s, e.g. as a stage's first steps measured them) each stage's and the total
    time at those rates (a pruned student is faster than its teacher, so this over-estimates
    the pruned rows)."""
    rates = dict(rates or {})
    lines = [f"plan: {len(plan)} training stage(s)"]
    total_s = 0.0
    missing: set[str] = set()
    for p in plan:
        seed = f" seed {p['seed']}" if "seed" in p else ""
        split = (f" ({p['steps_prune']:,} pruning + {p['steps_train']:,} training)"
                 if p["stage"] == "prune" else "")  # fmt: skip
        when = ""
        if p["model"] in rates:
            sec = p["images"] / rates[p["model"]]
            total_s += sec
            when = f", {sec / 3600:.1f} h at {rates[p['model']]:g} images/s"
        elif rates:
            missing.add(p["model"])
        if p["steps"] == 0:
            lines.append(
                f"  {p['stage']:<7} {p['row']}{seed}: NO SCHEDULE recorded in the spec: give "
                f"--checkpoint {p['model']}=PATH, or --set teacher_iters=N"
            )
            continue
        lines.append(
            f"  {p['stage']:<7} {p['row']}{seed}: {p['steps']:,} steps{split} x batch "
            f"{p['batch']} = {p['images']:,} images at {p['crop']} px{when}"
        )
    total = sum(p["images"] for p in plan)
    if rates:
        lines.append(
            f"  total {total:,} training images, {total_s / 3600:.1f} h at the given rates"
            + (f" (no rate for {', '.join(sorted(missing))}: not counted)" if missing else "")
        )
    else:
        lines.append(
            f"  total {total:,} training images; each stage prints its images/s and ETA after "
            "its first steps, and result.json keeps them"
        )
    return lines


def _measured_plan(
    plan: Sequence[dict[str, Any]],
    teachers: Mapping[str, Mapping[str, Any]],
    results: Mapping[tuple[int, int], Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The plan with each stage's measured first-steps throughput (``images_per_s``; the
    pruning pipeline's two stages each) and the seconds implied, for result.json."""
    done = []
    for p in plan:
        e = dict(p)
        if p["stage"] == "teacher":
            tp = teachers.get(p["model"], {}).get("throughput")
        else:
            tp = results.get((p["seed"], p["index"]), {}).get("throughput")
        if tp:
            e["throughput"] = tp
        done.append(e)
    return done


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
