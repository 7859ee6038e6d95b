"""Training any registered model: on-the-fly data, Adam or SGD, step or poly schedule, resume.

``mattebench train --model NAME --out DIR`` builds the model, draws training samples on the fly
(the synthetic generator by default: each sample is a function of its index and the seed, so
the data stream is reproducible), crops and flips them, and optimises:

* SDNet: the paper's objective (:func:`baselines.losses.sdnet_objective`: ``L_alpha`` on the
  final and the three side alphas plus ``lambda_sd`` times the self-distillation loss);
* every other matting model: ``L_alpha`` (L1 + Laplacian + composition) on its alpha,
  weighted to the trimap's unknown region;
* PSPNet-50: cross-entropy (plus 0.4 x on the aux head) on the class map of
  :func:`baselines.models.adapters.segmentation_target`: VOC's own labels with
  ``train_set="voc-aug"`` (PASCAL VOC 2012 + SBD ``train_aug``,
  :class:`benchmark.datasets.train_voc.VOCAugTrain`, hszhao/semseg's augmentation), else the
  matting data read as person/background segmentation.

The optimiser is Adam (the default, fused kernel: :func:`adam`) or SGD with momentum
(``optimizer="sgd"``, hszhao/semseg's PSPNet recipe); the learning rate follows a step schedule
(``lr_policy="step"``, the default: ``lr x gamma`` at each of ``milestones``) or semseg's poly
policy (``lr_policy="poly"``: :func:`scheduler_for`). :func:`optimizer_for` and
:func:`scheduler_for` build both from a :class:`TrainConfig`.

A checkpoint with the optimiser, scheduler, gradient-scaler (``amp="fp16"`` on CUDA) and RNG
states is written atomically every ``save_every`` steps and at the end, so an interrupted run
resumes where it stopped; the validation loss (unknown-region L1 on a fixed validation set;
segmentation: cross-entropy) is logged to ``log.jsonl``.
Resume states are read by :func:`load_state` with ``torch.load(weights_only=True)``: they hold
only tensors (weights, Adam moments or SGD momentum buffers, the torch RNG state as a uint8
tensor), numbers, strings and plain containers (the step schedule's milestones a
``collections.Counter``, which torch allows; the poly schedule stores no function, see
:func:`scheduler_for`; the gradient scaler's state is floats and ints), so a run folder from
elsewhere cannot run code on resume; anything else is refused with an
:class:`~metrics.InputError` naming the file. (The data need no RNG state: every batch is a
function of its step.)

Batches are drawn by :func:`batches`: in the training process (``workers=0``), or by
``workers`` ``DataLoader`` worker processes, each calling :func:`make_batch` for a step, so the
batches are the same either way, bit for bit, and a resumed run starts its loader at the step
it resumes from. On CUDA the workers' batches are pinned and copied with
``non_blocking=True``.

After the first steps (step 1 is a warm-up, left out when the run has more than 2 steps; up to
10 steps measured) process 0 prints one line to stderr (always when ``iters > 20``, else with
the progress bar)::

    train gca: 0.9 images/s over the first 9 steps (batch 1 x 1 processes); ETA 0:00:13 for the remaining 12 steps

(measured: GCA at 320 px on the 2-core CI machine, ``mattebench train --iters 22``)

and the same numbers are returned as ``"throughput"`` and stored in ``model.pt``'s meta. The
measure covers fetching the batch (waiting for the loader), the forward and backward passes
and the optimiser step (on CUDA, after ``torch.cuda.synchronize``); validation and checkpoints
are not in it, so the ETA counts training steps only. A resumed run measures again.

Data-parallel training: launched by ``torchrun``, every process runs :func:`train`, which joins
the process group (``gloo`` on CPU, ``nccl`` with ``--device cuda``, each process on
``cuda:$LOCAL_RANK``) and wraps the model in ``DistributedDataParallel``::

    torchrun --standalone --nproc_per_node 2 -m benchmark.cli train --model sdnet --out DIR ...
    torchrun --standalone --nproc_per_node 2 --no-python mattebench train --model sdnet ...
    # N machines (run on each, K = 0 .. N-1; DIR on a shared file system for resuming):
    torchrun --nnodes N --node_rank K --nproc_per_node P --rdzv_backend c10d \
        --rdzv_endpoint HOST:PORT -m benchmark.cli train --model sdnet --out DIR ...

``--batch`` is the per-process batch, so the effective batch is nproc x ``--batch`` (scale
``--lr`` yourself if you want to); ``--threads`` is per process (CPU: cores / nproc). Process
``r`` of ``W`` at step ``s`` draws the samples (indices and crop/flip draws) that a
single-process run draws at step ``s * W + r``, so the processes see disjoint data and a
``W``-process step is ``W`` consecutive single-process batches. BatchNorm normalises with
per-process batch statistics (no SyncBatchNorm); DDP copies process 0's running statistics to
the others at every forward. Process 0 alone validates and writes ``train_config.json``,
``log.jsonl``, ``last.pt`` and ``model.pt``, in the single-process format (the un-wrapped
model's weights); the logged training loss is the mean over processes. A run resumes from
``last.pt`` with the same number of processes only (the data stream depends on it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from metrics import InputError
from metrics.common import atomic_write, lookup

__all__ = [
    "TrainConfig",
    "AMP_MODES",
    "OPTIMIZERS",
    "LR_POLICIES",
    "VOC_AUG",
    "config_identity",
    "identity_of",
    "record_train_data",
    "default_family",
    "train_source",
    "train",
    "make_batch",
    "training_pool",
    "validation_loss",
    "adam",
    "optimizer_for",
    "scheduler_for",
    "batches",
    "Pace",
    "batch_too_small",
    "load_state",
]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (written to ``DIR/train_config.json``)."""

    model: str = "sdnet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data: str = "portrait"  # synthetic kind: "portrait" or "objects"
    size: int = 160  # generated sample size (long side)
    crop: int = 128
    batch: int = 4
    iters: int = 200
    lr: float = 1e-3
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    sd_mode: str = "best"
    lambda_sd: float = 1.0
    val_count: int = 8
    val_every: int = 50
    save_every: int = 50
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    #: ``0``: an endless stream (sample ``i`` generated from ``seed``); ``N > 0``: a fixed
    #: training set of ``N`` samples generated once from ``data_seed`` (see :func:`make_batch`)
    pool: int = 0
    data_seed: int = 0
    #: a real training set instead of the synthetic data (``--dataset NAME=ROOT``):
    #: ``"adobe"`` or ``"d646"`` (:mod:`benchmark.datasets.train_matting`), composed on the fly
    #: on the backgrounds of ``bg_root`` with the augmentation of ``family`` (default: the
    #: model's: ``gca`` for GCA and SDNet, ``dim`` for the DIM family); ``names`` a list file
    #: of foregrounds (the SDNet portrait subsets)
    train_set: str = ""
    train_root: str = ""
    bg_root: str = ""
    bg_kind: str = "coco"
    family: str = ""
    names: str = ""
    per_fg: int = 100
    #: mixed precision of the forward pass and the loss: ``"off"``, ``"bf16"`` or ``"fp16"``
    #: (``torch.autocast``; fp16 with a gradient scaler on CUDA)
    amp: str = "off"
    #: ``"adam"`` or ``"sgd"`` (:func:`optimizer_for`); ``momentum`` is SGD's (Adam keeps its
    #: betas); ``weight_decay`` is the L2 term torch adds to the gradient, for either
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    #: ``"step"`` (``milestones`` x ``gamma``) or ``"poly"`` (``(1 - step / iters) **
    #: poly_power``, hszhao/semseg): :func:`scheduler_for`
    lr_policy: str = "step"
    poly_power: float = 0.9
    #: ``DataLoader`` worker processes drawing the batches (``0``: drawn in the training
    #: process); never part of the identity: the batches are the same (:func:`batches`)
    workers: int = 0


#: Fields added after the first release: left out of a configuration's identity (the run
#: folder's ``train_config.json``, reproduce's stage keys, the bundled teachers' index) while
#: they hold their defaults, so existing runs resume and the bundled teachers still match.
_LATER_FIELDS = (
    "train_set",
    "train_root",
    "bg_root",
    "bg_kind",
    "family",
    "names",
    "per_fg",
    "amp",
    "optimizer",
    "momentum",
    "weight_decay",
    "lr_policy",
    "poly_power",
)
_LATER_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(TrainConfig) if f.name in _LATER_FIELDS
}
#: Fields that cannot change a single number of a run, left out of its identity at any value:
#: ``workers`` only decides which process calls :func:`make_batch` for a step.
_NOT_IDENTITY = ("workers",)

AMP_MODES = ("off", "bf16", "fp16")
OPTIMIZERS = ("adam", "sgd")
LR_POLICIES = ("step", "poly")
#: ``train_set`` of PASCAL VOC 2012 + SBD ``train_aug`` (segmentation models only)
VOC_AUG = "voc-aug"


def identity_of(cfg: Any, later: Mapping[str, Any], never: tuple[str, ...] = ()) -> dict[str, Any]:
    """A run configuration's identity: ``asdict(cfg)`` as JSON, without the fields ``never``
    (they change no number) and without the ``later`` fields (name -> default) that hold
    their defaults (added after runs existed: those runs keep their identity). Serves
    :func:`config_identity` and the pruning pipeline's ``prune_identity``."""
    d = json.loads(json.dumps(asdict(cfg)))
    return {k: v for k, v in d.items() if k not in never and not (k in later and v == later[k])}


def config_identity(cfg: TrainConfig) -> dict[str, Any]:
    """``asdict(cfg)`` as JSON, without the later fields that hold their defaults and without
    the fields that change no number (``workers``)."""
    return identity_of(cfg, _LATER_DEFAULTS, _NOT_IDENTITY)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _check_config(cfg: TrainConfig) -> None:
    """Every value :func:`train` cannot use, refused before anything is written; a setting
    that would be silently ignored (SGD's momentum with Adam, poly's power with the step
    schedule, milestones with poly) is refused too."""
    _choice("amp", cfg.amp, AMP_MODES)
    _choice("optimizer", cfg.optimizer, OPTIMIZERS)
    _choice("lr_policy", cfg.lr_policy, LR_POLICIES)
    if not isinstance(cfg.workers, int) or cfg.workers < 0:
        raise InputError(f"workers must be an integer >= 0, got {cfg.workers!r}")
    if not cfg.momentum >= 0 or not cfg.weight_decay >= 0:
        raise InputError(
            f"momentum and weight_decay must be >= 0, got {cfg.momentum!r}, {cfg.weight_decay!r}"
        )
    if not cfg.poly_power > 0:
        raise InputError(f"poly_power must be > 0, got {cfg.poly_power!r}")
    if cfg.optimizer != "sgd" and cfg.momentum != _LATER_DEFAULTS["momentum"]:
        raise InputError(f"momentum is SGD's (optimizer='sgd'); optimizer is {cfg.optimizer!r}")
    if cfg.lr_policy != "poly" and cfg.poly_power != _LATER_DEFAULTS["poly_power"]:
        raise InputError(f"poly_power is the poly policy's; lr_policy is {cfg.lr_policy!r}")
    if cfg.lr_policy == "poly" and cfg.milestones:
        raise InputError("milestones are the step policy's; lr_policy is 'poly'")
    if cfg.model.startswith("pspnet") and (cfg.crop < 1 or (cfg.crop - 1) % 8):
        from baselines.models.pspnet import valid_side

        lo = valid_side(cfg.crop)
        near = f"{lo} or {lo + 8}" if lo >= 1 else "9"
        raise InputError(
            f"crop {cfg.crop} does not fit {cfg.model}: its input sides must be 8k+1 "
            f"(semseg's 473); use {near}"
        )


def default_family(model: str) -> str:
    """The augmentation protocol a model family trains with: DIM-PyTorch's for the DIM
    family, GCA-Matting's otherwise (GCA; SDNet's paper names GCA's three augmentations)."""
    return "dim" if model.startswith("dim") else "gca"


@functools.lru_cache(maxsize=4)
def _open_train_source(
    name: str, root: str, bg_root: str, bg_kind: str, family: str, names: str, per_fg: int,
    crop: int, seed: int,
) -> Any:  # fmt: skip
    from benchmark.datasets.train_matting import open_train_set

    return open_train_set(name, root, bg_root, family=family, crop=crop, names=names or None,
                          bg_kind=bg_kind, per_fg=per_fg, seed=seed)  # fmt: skip


#: offset of the seed of the voc-aug validation stream (see :func:`make_batch`)
_VOC_VAL_SEED = 2**32


@functools.lru_cache(maxsize=4)
def _open_voc(root: str, crop: int, seed: int, train: bool) -> Any:
    from benchmark.datasets.train_voc import SemsegAugment, VOCAugTrain

    if train:
        return VOCAugTrain(root, crop=crop, normalise=False, seed=seed)
    return VOCAugTrain(root, augment=SemsegAugment(crop=crop, train=False, normalise=False),
                       seed=seed)  # fmt: skip


def _voc_source(cfg: TrainConfig, split: str) -> Any:
    """The voc-aug stream of ``split``: training (semseg's train transform, seeded by
    ``cfg.seed``) or validation (its val transform, seeded by ``cfg.seed + 2**32``)."""
    from baselines.models.adapters import get_adapter

    if get_adapter(cfg.model).kind != "segmentation":
        raise InputError(
            f"training set {VOC_AUG!r} holds VOC class maps, no alpha: it trains segmentation "
            f"models (pspnet50), not the matting model {cfg.model!r}"
        )
    composing = {
        k: getattr(cfg, k)
        for k in ("bg_root", "bg_kind", "family", "names", "per_fg")
        if getattr(cfg, k) != _LATER_DEFAULTS[k]
    }
    if composing:
        raise InputError(
            f"training set {VOC_AUG!r} composes nothing: it takes no "
            f"{', '.join(composing)} (got {composing})"
        )
    if not cfg.train_root:
        raise InputError(f"training set {VOC_AUG!r} needs its root (--dataset {VOC_AUG}=ROOT)")
    if split == "train":
        return _open_voc(cfg.train_root, cfg.crop, cfg.seed, True)
    return _open_voc(cfg.train_root, cfg.crop, cfg.seed + _VOC_VAL_SEED, False)


def train_source(cfg: TrainConfig) -> Any:
    """The real training set of ``cfg`` (``None`` for the synthetic data), opened once per
    process; its layout errors name the file.

    ``train_set="voc-aug"``: :class:`benchmark.datasets.train_voc.VOCAugTrain` ``(train_root,
    crop=crop, normalise=False, seed=seed)``, for segmentation models only (a matting model,
    or a background option, is an :class:`~metrics.InputError`); ``"adobe"`` and ``"d646"``:
    :func:`benchmark.datasets.train_matting.open_train_set` on the backgrounds of ``bg_root``.
    """
    if not cfg.train_set:
        return None
    if cfg.train_set == VOC_AUG:
        return _voc_source(cfg, "train")
    from benchmark.datasets.train_matting import TRAIN_SETS

    lookup({**TRAIN_SETS, VOC_AUG: None}, cfg.train_set, "training set")
    if not cfg.train_root or not cfg.bg_root:
        raise InputError(
            f"training set {cfg.train_set!r} needs its root and a background folder "
            "(--dataset NAME=ROOT --bg-root DIR)"
        )
    family = cfg.family or default_family(cfg.model)
    return _open_train_source(cfg.train_set, cfg.train_root, cfg.bg_root, cfg.bg_kind, family,
                              cfg.names, cfg.per_fg, cfg.crop, cfg.seed)  # fmt: skip


#: Generated training pools, per (kind, size, data_seed, count): generated once per process.
_POOLS: dict[tuple[str, int, int, int], list[dict[str, np.ndarray]]] = {}


_POOL_KEYS = ("image", "alpha", "trimap", "fg", "bg")


def training_pool(kind: str, size: int, data_seed: int, count: int) -> list[dict[str, np.ndarray]]:
    """The fixed training set of ``count`` synthetic samples (``split="train"``, indices
    ``0 .. count - 1`` of the dataset seed ``data_seed``).

    Generated once per process and kept in memory; also cached on disk (``.npz``, no pickle)
    under ``$MATTEBENCH_CACHE/train-pools/`` with the generator's version in the name, written
    atomically, so other processes (reproduce's workers) load it instead of generating it
    again (1024 portraits at 64 px: ~16 s to generate, ~0.2 s to load).
    """
    key = (kind, int(size), int(data_seed), int(count))
    if key in _POOLS:
        return _POOLS[key]
    from benchmark.datasets.synthetic import GENERATOR_VERSION, default_cache_dir

    path = (
        default_cache_dir()
        / "train-pools"
        / (f"{kind}-v{GENERATOR_VERSION}-s{int(size)}-seed{int(data_seed)}-n{int(count)}.npz")
    )
    pool = _load_pool(path, int(count))
    if pool is None:
        pool = [_sample_arrays(kind, i, size, data_seed, "train") for i in range(int(count))]
        try:
            _save_pool(path, pool)
        except OSError:  # a read-only cache: keep it in memory only
            pass
    _POOLS[key] = pool
    return pool


def _save_pool(path: Path, pool: list[dict[str, np.ndarray]]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for k in _POOL_KEYS:
        arrays[f"{k}_data"] = np.concatenate([s[k].ravel() for s in pool])
        arrays[f"{k}_shape"] = np.array([s[k].shape + (1,) * (3 - s[k].ndim) for s in pool])
        arrays[f"{k}_ndim"] = np.array([s[k].ndim for s in pool])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, mode="wb") as fh:
        np.savez(fh, **arrays)


def _load_pool(path: Path, count: int) -> list[dict[str, np.ndarray]] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            cols = {}
            for k in _POOL_KEYS:
                data, shapes, ndims = z[f"{k}_data"], z[f"{k}_shape"], z[f"{k}_ndim"]
                if len(shapes) != count:
                    return None
                sizes = np.prod(shapes, axis=1)
                ends = np.cumsum(sizes)
                if ends[-1] != data.size:
                    return None
                cols[k] = [
                    data[e - n : e].reshape(tuple(sh[:nd]))
                    for e, n, sh, nd in zip(ends, sizes, shapes, ndims, strict=True)
                ]
    except (OSError, ValueError, KeyError):  # damaged or foreign: generate again
        return None
    return [{k: cols[k][i] for k in _POOL_KEYS} for i in range(count)]


def _sample_arrays(
    kind: str, index: int, size: int, seed: int, split: str
) -> dict[str, np.ndarray]:
    from benchmark.datasets.synthetic import generate_sample

    s = generate_sample(kind, index, size=size, seed=seed, split=split)
    return {"image": s.image, "alpha": s.alpha, "trimap": s.trimap, "fg": s.fg, "bg": s.bg}


def _crop_flip(
    arrs: dict[str, np.ndarray], crop: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    h, w = arrs["alpha"].shape
    if h < crop or w < crop:
        # reflect-pad a sample smaller than the crop: the composition I = aF + (1 - a)B still
        # holds at every pixel, and the trimap stays consistent with the alpha
        ph, pw = max(0, crop - h), max(0, crop - w)
        arrs = {
            k: np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="reflect")
            for k, a in arrs.items()
        }
        h, w = arrs["alpha"].shape
    # centre the crop on the unknown band half the time, as matting training usually does
    unk = np.argwhere(arrs["trimap"] == 128)
    if len(unk) and rng.random() < 0.5:
        cy, cx = unk[rng.integers(len(unk))]
        y = int(np.clip(cy - crop // 2, 0, h - crop))
        x = int(np.clip(cx - crop // 2, 0, w - crop))
    else:
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    flip = bool(rng.random() < 0.5)
    out = {}
    for k, a in arrs.items():
        c = a[y : y + crop, x : x + crop]
        out[k] = np.ascontiguousarray(c[:, ::-1] if flip else c)
    return out


def make_batch(
    cfg: TrainConfig,
    step: int,
    *,
    split: str = "train",
    indices: list[int] | None = None,
    rank: int = 0,
    world: int = 1,
) -> dict[str, Any]:
    """Batch of tensors for ``step`` (a pure function of the config, the step and the rank).

    Process ``rank`` of ``world`` draws chunk ``c = step * world + rank``: positions
    ``p = c * cfg.batch + i`` (``i < cfg.batch``, unless ``indices`` are given), cropped and
    flipped with a generator seeded by ``[cfg.seed, c, split]``. Chunk ``c`` is therefore what a
    single process (``world=1``) draws at step ``c``.

    With ``cfg.train_set`` position ``p`` is :meth:`draw` ``(p)`` of the real training set
    (:func:`train_source`: epochs of the set's foreground x background pairs, each sample
    augmented with a generator seeded by ``(cfg.seed, epoch, index)``). With ``cfg.pool == 0``
    position ``p`` is the synthetic sample ``p`` of the stream seeded by
    ``cfg.seed`` (every step new samples; the data change with the training seed). With
    ``cfg.pool = N`` the training set is fixed: ``N`` samples generated once from
    ``cfg.data_seed`` (:func:`training_pool`), visited in epochs of ``N`` positions, each epoch
    in an order shuffled by ``[cfg.seed, epoch]``; the training seed then changes only the
    order, the crops, the flips and the network's initialisation, as with a real dataset
    (validation batches, ``split="val"``, of the synthetic data and of the matting sets are
    always generated from the synthetic stream).

    With ``cfg.train_set == "voc-aug"`` (segmentation models) the batch is ``{"image": N x 3
    x H x W float32 in [0, 1], "label": N x H x W int64}`` (VOC classes 0-20, 255 ignored):
    position ``p`` (``indices`` if given) is
    :meth:`~benchmark.datasets.train_voc.VOCAugTrain.draw` ``(p)`` of the training stream,
    semseg's train transform seeded by ``(cfg.seed, epoch, index)`` (no crop or flip here:
    the transform ends with the crop). Validation batches (``split="val"``) come from
    the real set too, not the generator: position ``p`` of a second stream over the same
    ``train_aug`` images, in the epoch order of seed ``cfg.seed + 2**32``, each with semseg's
    val transform (``SemsegAugment(train=False)``: a centre crop, padded with the mean and
    label 255 where the image is smaller). These are training images, so the validation loss
    measures the fit, not generalisation (VOC's ``val`` split is the held-out set).
    """
    import torch

    chunk = step * world + rank
    if cfg.train_set == VOC_AUG:
        source = _voc_source(cfg, split)
        if indices is None:
            indices = [chunk * cfg.batch + i for i in range(cfg.batch)]
        drawn = [source.draw(p) for p in indices]
        return {
            "image": torch.from_numpy(np.stack([d["image"] for d in drawn])),
            "label": torch.from_numpy(np.stack([d["label"] for d in drawn])),
        }
    rng = np.random.default_rng([cfg.seed, chunk, 0 if split == "train" else 1])
    source = train_source(cfg) if split == "train" and indices is None else None
    if source is not None:  # composed and augmented by the family's protocol, cut to the crop
        items = [source.draw(chunk * cfg.batch + i) for i in range(cfg.batch)]
        items = [it if it["alpha"].shape == (cfg.crop, cfg.crop) else _crop_flip(it, cfg.crop, rng)
                 for it in items]  # fmt: skip
    elif cfg.pool > 0 and split == "train" and indices is None:
        pool = training_pool(cfg.data, cfg.size, cfg.data_seed, cfg.pool)
        raw = []
        for i in range(cfg.batch):
            epoch, at = divmod(chunk * cfg.batch + i, cfg.pool)
            order = _epoch_order(cfg.seed, epoch, cfg.pool)
            raw.append(pool[int(order[at])])
        items = [_crop_flip(dict(a), cfg.crop, rng) for a in raw]
    else:
        if indices is None:
            indices = [chunk * cfg.batch + i for i in range(cfg.batch)]
        items = [
            _crop_flip(_sample_arrays(cfg.data, i, cfg.size, cfg.seed, split), cfg.crop, rng)
            for i in indices
        ]

    def stack(key: str, scale: float) -> Any:
        arr = np.stack([it[key] for it in items]).astype(np.float32) / scale
        t = torch.from_numpy(arr)
        return t.permute(0, 3, 1, 2).contiguous() if t.ndim == 4 else t[:, None]

    batch = {
        "image": stack("image", 255.0),
        "fg": stack("fg", 255.0),
        "bg": stack("bg", 255.0),
        "alpha": stack("alpha", 255.0),
        "trimap": stack("trimap", 1.0),  # 0 / 128 / 255
    }
    batch["weight"] = (batch["trimap"] == 128).float()
    return batch


@functools.lru_cache(maxsize=64)
def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The visiting order of a pool of ``n`` samples in ``epoch`` (cached: one per epoch)."""
    return np.random.default_rng([int(seed), int(epoch), 7]).permutation(n)


def _fused(device: str) -> bool | None:
    return True if str(device).split(":")[0] in ("cpu", "cuda") else None


def adam(params: Any, *, lr: float, device: str, weight_decay: float = 0.0) -> Any:
    """``torch.optim.Adam`` with the fused kernel (one multi-tensor update, CPU and CUDA):
    measured 2.7 ms instead of 11.5 ms per step for GCA at width x0.25 (220 tensors) on one
    CPU thread; the same algorithm, rounding may differ from the per-tensor loop.
    ``weight_decay`` is torch's (L2: ``weight_decay x param`` added to the gradient before
    the moments, not AdamW's decoupled decay); betas ``(0.9, 0.999)``, eps ``1e-8``."""
    import torch

    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=_fused(device))


def optimizer_for(cfg: TrainConfig, params: Any) -> Any:
    """The optimiser of ``cfg`` over ``params`` (one parameter group, learning rate ``cfg.lr``).

    * ``"adam"``: :func:`adam` (``weight_decay=cfg.weight_decay``; ``momentum`` must stay at
      its default, Adam has betas instead);
    * ``"sgd"``: ``torch.optim.SGD(lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)``
      (heavy-ball momentum, no dampening, not Nesterov; fused kernel on CPU and CUDA), as
      hszhao/semseg trains PSPNet (``tool/train.py``; ``config/voc2012/voc2012_pspnet50.yaml``:
      ``base_lr 0.01``, ``momentum 0.9``, ``weight_decay 0.0001``). Unlike semseg, every
      parameter has the same rate (semseg gives the new layers -- PPM, classifier, aux head --
      ``10 x base_lr``).

    Raises
    ------
    InputError
        For an optimiser other than ``"adam"`` or ``"sgd"``, naming the allowed values.
    """
    import torch

    _choice("optimizer", cfg.optimizer, OPTIMIZERS)
    if cfg.optimizer == "adam":
        return adam(params, lr=cfg.lr, device=cfg.device, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay, fused=_fused(cfg.device))  # fmt: skip


def _poly(step: int, *, iters: int, power: float) -> float:
    """semseg's poly factor ``(1 - step / iters) ** power`` (0 from ``iters`` on)."""
    return max(0.0, 1.0 - step / iters) ** power


def scheduler_for(cfg: TrainConfig, opt: Any) -> Any:
    """The learning-rate schedule of ``cfg``, stepped once after every optimiser step.

    * ``"step"``: ``MultiStepLR(milestones=cfg.milestones, gamma=cfg.gamma)`` -- the rate is
      multiplied by ``gamma`` after each milestone step;
    * ``"poly"``: hszhao/semseg's ``poly_learning_rate`` (``util/util.py``: ``lr = base_lr *
      (1 - curr_iter / max_iter) ** power``), as ``LambdaLR``: the update of step ``s``
      (0-based) uses ``cfg.lr * (1 - s / cfg.iters) ** cfg.poly_power``. This is semseg's
      timing: its ``tool/train.py`` sets the rate after update ``i`` (0-based) from
      ``current_iter = i + 1``, so update ``s`` runs at the rate of ``current_iter = s``:
      the first at ``base_lr``, the last at ``base_lr * (1 / iters) ** power``. One rate for
      every parameter group (semseg sets ``10 x`` on its new layers: see
      :func:`optimizer_for`).

    The poly schedule is ``LambdaLR`` over a ``functools.partial`` of a module function, whose
    state dict holds ``lr_lambdas: [{}]`` (the partial's empty ``__dict__``), no function: it
    loads with ``weights_only=True`` and resumes exactly (the rate of step ``s`` is computed
    from ``s`` alone).

    Raises
    ------
    InputError
        For a policy other than ``"step"`` or ``"poly"``, naming the allowed values.
    """
    import torch

    _choice("lr_policy", cfg.lr_policy, LR_POLICIES)
    if cfg.lr_policy == "step":
        return torch.optim.lr_scheduler.MultiStepLR(
            opt, milestones=list(cfg.milestones), gamma=cfg.gamma
        )
    factor = functools.partial(_poly, iters=cfg.iters, power=cfg.poly_power)
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


class _Failed:
    """A data error raised in a ``DataLoader`` worker, carried to the training process as an
    item (the loader would re-raise it wrapped in its worker traceback)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class _StepBatches:
    """Map-style dataset: item ``s`` is ``make_batch(cfg, s, rank=rank, world=world)``."""

    def __init__(self, cfg: TrainConfig, rank: int, world: int) -> None:
        self.cfg, self.rank, self.world = cfg, rank, world

    def __getitem__(self, step: int) -> Any:
        try:
            return make_batch(self.cfg, int(step), rank=self.rank, world=self.world)
        except InputError as e:
            return _Failed(e)


def _worker_init(worker_id: int) -> None:
    """One torch thread per worker (the workers are the parallelism; torch's worker loop does
    the same). OpenCV's thread count is left alone: ``cv2.setNumThreads`` in a worker forked
    from a process whose OpenCV thread pool has run deadlocks (seen with OpenCV 4.x under
    pytest here)."""
    import torch

    torch.set_num_threads(1)


def batches(
    cfg: TrainConfig, start: int, *, rank: int = 0, world: int = 1
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(step, make_batch(cfg, step, rank=rank, world=world))`` for ``step`` in
    ``range(start, cfg.iters)``.

    ``cfg.workers == 0``: drawn here, one after the other. ``cfg.workers = k > 0``: drawn ahead
    by a ``torch.utils.data.DataLoader`` with ``k`` worker processes over a map-style dataset
    whose item ``s`` is that :func:`make_batch` call (``batch_size=None``: no collation;
    ``sampler=range(start, cfg.iters)``, in order; ``pin_memory`` when ``cfg.device`` is
    CUDA; workers not persistent, since one loader serves the whole run; one torch thread per
    worker; the platform's default start method, ``fork`` on Linux). The
    batches are therefore the serial ones, bit for bit, and a resumed run (``start > 0``)
    gets the same batches as an uninterrupted one.

    Raises
    ------
    InputError
        A data error of :func:`make_batch` (a damaged or missing file) at the step it occurs,
        with the same message whether it was raised here or in a worker (noted as such).
    """
    if not isinstance(cfg.workers, int) or cfg.workers < 0:
        raise InputError(f"workers must be an integer >= 0, got {cfg.workers!r}")
    if cfg.workers == 0 or start >= cfg.iters:
        for step in range(start, cfg.iters):
            yield step, make_batch(cfg, step, rank=rank, world=world)
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(
        _StepBatches(cfg, rank, world),  # type: ignore[arg-type]
        batch_size=None,
        sampler=range(start, cfg.iters),
        num_workers=cfg.workers,
        pin_memory=str(cfg.device).startswith("cuda"),
        worker_init_fn=_worker_init,
        persistent_workers=False,
    )
    it = iter(loader)
    try:
        for step in range(start, cfg.iters):
            batch = next(it)
            if isinstance(batch, _Failed):
                batch.error.add_note(f"(raised in a DataLoader worker drawing step {step})")
                raise batch.error
            yield step, batch
    finally:
        del it  # shuts the workers down now, not when the garbage collector gets to it


def load_state(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A resume state (``last.pt``, ``sparse.pt``, ``student_last.pt``) read without running code.

    ``torch.load(weights_only=True)``: tensors, numbers, strings, ``None`` and plain containers
    (dict, list, tuple, ``OrderedDict``, ``Counter``) only -- what :func:`train` and the pruning
    pipeline write (model, Adam or SGD, ``MultiStepLR`` or poly ``LambdaLR`` and
    ``GradScaler`` state dicts, the torch RNG state as a tensor, the step, the history), in
    this version and the earlier ones. No global is
    allow-listed beyond torch's defaults.

    Raises
    ------
    InputError
        Naming the file: when it holds anything else (a class or function reference, i.e. a
        pickle that could run code on loading; the refused global is quoted), when it is not a
        readable torch file, or when it is not a dict. Loading is refused, never retried
        unsafely: delete the file's run folder to start again.
    """
    import pickle

    import torch

    p = Path(path)
    try:
        state = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        why = text.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation")[0]
        why = " ".join(why.split(". Please use")[0].split()) or text.splitlines()[0][:120]
        if "global" in why.lower():  # a class or function reference: code would run
            raise InputError(
                f"{p}: refused to load this resume state: it holds more than tensors and "
                f"plain containers, so loading it could run code ({why}). States written by "
                f"mattebench never do; if you do not know where {p.parent} comes from, do not "
                f"use it: delete it (or use another --out) to start afresh"
            ) from None
        raise InputError(
            f"{p}: refused to load this resume state: not a file torch reads safely ({why}); "
            f"delete {p.parent} (or use another --out) to start afresh"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise InputError(
            f"{p}: not a readable resume state ({type(e).__name__}: {str(e)[:160]}); delete "
            f"{p.parent} (or use another --out) to start afresh"
        ) from None
    if not isinstance(state, dict):
        raise InputError(f"{p}: not a resume state (a {type(state).__name__}, not a dict)")
    return state


def _to(batch: dict[str, Any], device: str, non_blocking: bool = False) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=non_blocking) for k, v in batch.items()}


def validation_loss(
    model: Any, adapter: Any, cfg: TrainConfig, val_batches: list[dict[str, Any]]
) -> float:
    """Mean unknown-region L1 of the final alpha over the fixed validation batches
    (segmentation models: the mean cross-entropy)."""
    import torch

    from baselines.losses import l1_loss

    model.eval()
    total = 0.0
    with torch.no_grad():
        for b in val_batches:
            b = _to(b, cfg.device)
            out = model(*adapter.inputs(b))
            if adapter.kind == "segmentation":
                total += _segmentation_loss(out, b)[1]["total"]
                continue
            alpha = adapter.alpha(out)
            total += float(l1_loss(alpha, b["alpha"], b["weight"]))
    model.train()
    return total / max(len(val_batches), 1)


def _loss(
    model_out: Any, batch: dict[str, Any], adapter: Any, cfg: TrainConfig
) -> tuple[Any, dict[str, float]]:
    from baselines.losses import matting_loss, sdnet_objective

    if adapter.kind == "sdnet":
        return sdnet_objective(model_out, batch, sd_mode=cfg.sd_mode, lambda_sd=cfg.lambda_sd)  # type: ignore[arg-type]
    if adapter.kind == "segmentation":
        return _segmentation_loss(model_out, batch)
    loss = matting_loss(adapter.alpha(model_out), batch)
    return loss, {"total": float(loss.detach())}


def _segmentation_loss(model_out: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    """Cross-entropy (ignore 255) on the main logits, plus 0.4 x on PSPNet's aux logits in
    training mode (semseg's ``aux_weight``)."""
    import torch.nn.functional as F

    from baselines.models.adapters import segmentation_target

    target = segmentation_target(batch)
    main, aux = model_out if isinstance(model_out, tuple) else (model_out, None)
    loss = F.cross_entropy(main, target, ignore_index=255)
    if aux is not None:
        loss = loss + 0.4 * F.cross_entropy(aux, target, ignore_index=255)
    return loss, {"total": float(loss.detach())}


@dataclass(frozen=True)
class _Dist:
    """This process's place in a data-parallel run (``world == 1``: a single process)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    created: bool = False  # train() initialised the process group, so it destroys it


def _init_distributed(device: str) -> tuple[_Dist, str]:
    """Join the ``torchrun`` process group (``WORLD_SIZE > 1``) unless already in one; return
    the process's place and its device (``cuda:$LOCAL_RANK`` when ``device`` is CUDA)."""
    import torch
    import torch.distributed as dist

    initialised = dist.is_available() and dist.is_initialized()
    if not initialised and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _Dist(), device
    missing = [
        k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ
    ]
    if not initialised and missing:
        raise InputError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} unset: "
            "launch data-parallel training with torchrun"
        )
    if not initialised and not dist.is_available():
        raise InputError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    cuda = device.startswith("cuda")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    if not initialised:
        dist.init_process_group("nccl" if cuda else "gloo")
    d = _Dist(dist.get_rank(), dist.get_world_size(), local_rank, created=not initialised)
    return d, device


def _broadcast(obj: Any, d: _Dist) -> Any:
    """Process 0's ``obj`` on every process."""
    if d.world == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _all_gather(obj: Any, d: _Dist) -> list[Any]:
    """Every process's ``obj``, in rank order."""
    if d.world == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def _mean_parts(parts: dict[str, float], d: _Dist, device: str) -> dict[str, float]:
    """The loss parts averaged over processes."""
    if d.world == 1:
        return parts
    import torch
    import torch.distributed as dist

    keys = sorted(parts)
    t = torch.tensor([parts[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / d.world for k, v in zip(keys, t.tolist(), strict=True)}


def train(cfg: TrainConfig, out_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) ``cfg`` in ``out_dir``; returns ``{"step", "val_loss", "history",
    "rank", "world_size", "throughput"}``.

    ``throughput`` is this invocation's measure (see the module docstring):
    ``{"images_per_s", "steps_measured", "eta_s"}`` (``None`` values when no step ran).

    Under ``torchrun`` (``WORLD_SIZE > 1``) every process calls this and trains one
    ``DistributedDataParallel`` replica on its own share of the data (see the module
    docstring); every process returns process 0's history.

    Raises
    ------
    InputError
        Before anything is written: a value :func:`train` cannot use (naming the field and
        the allowed values), a PSPNet crop that is not ``8k + 1`` (naming the nearest valid
        ones), a layout or file error of the training set (naming the file), or an ``out_dir``
        holding another configuration.
    """
    import torch

    _check_config(cfg)
    source = train_source(cfg)  # layout errors before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if source is not None and int(os.environ.get("RANK", "0")) == 0:
        record_train_data(source, out)  # every file opened (headers) before hours are spent
    cfg_path = out / "train_config.json"
    want = config_identity(cfg)
    # every process checks the same file (it holds `want` or nothing), so all raise or none does
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != want:
        raise InputError(f"{cfg_path} holds a different configuration; use another --out")
    d, device = _init_distributed(cfg.device)
    try:
        return _train(replace(cfg, device=device), want, out, d, progress=progress)
    finally:
        if d.created:
            torch.distributed.destroy_process_group()


def record_train_data(source: Any, out: Path) -> dict[str, Any]:
    """Check every file of the training set ``source`` (header level) and write what it is
    and what the check found to ``out/train_data.json``; raises the set's
    :class:`~metrics.InputError` naming the bad files. Used by :func:`train` and by the
    pruning pipeline before their first step.

    The matting sets return their counts; :meth:`~benchmark.datasets.train_voc.VOCAugTrain.
    validate` returns nothing, so its pairs are counted here."""
    t0 = time.perf_counter()
    summary = source.validate()
    if summary is None:
        summary = {"pairs": len(source), "decoded": False,
                   "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
    with atomic_write(Path(out) / "train_data.json") as fh:
        json.dump({"dataset": source.config(), "validated": summary}, fh, indent=2,
                  default=str)  # fmt: skip
    return summary


def _grad_scaler(cfg: TrainConfig) -> Any:
    """``torch.amp.GradScaler`` for fp16 on CUDA, else ``None`` (bf16 needs none; fp16
    autocast on the CPU runs without one, as before)."""
    import torch

    if cfg.amp == "fp16" and cfg.device.split(":")[0] == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


def _hms(seconds: float) -> str:
    """``H:MM:SS`` (hours unbounded).

    >>> _hms(3723.4), _hms(0), _hms(90061)
    ('1:02:03', '0:00:00', '25:01:01')
    """
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}"


@contextlib.contextmanager
def batch_too_small(model: str, batch: int) -> Iterator[None]:
    """torch's ``ValueError`` for a BatchNorm that sees one value per channel in training (a
    BN after global pooling, e.g. IndexNet's ASPP image pooling, with a batch of 1) as an
    :class:`~metrics.InputError` saying what to change."""
    try:
        yield
    except ValueError as e:
        if "Expected more than 1 value per channel" not in str(e):
            raise
        raise InputError(
            f"{model} cannot train on a batch of {batch}: a BatchNorm after global pooling "
            f"sees one value per channel ({e}); use a batch of 2 or more"
        ) from e


class Pace:
    """Times the first steps of an invocation: step 1 is a warm-up (left out when more than 2
    steps run), steps up to the 10th are measured, each from the request of its batch to the
    end of its optimiser step (``torch.cuda.synchronize`` first on CUDA). Used by
    :func:`train` and by the pruning pipeline's two stages (``label`` names the stage in the
    line); call :meth:`mark` before requesting each batch and :meth:`step_done` after each
    optimiser step; ``result`` holds the measure."""

    WINDOW = 10

    def __init__(self, cfg: TrainConfig, start: int, world: int = 1, label: str = "train") -> None:
        import torch

        self.cfg, self.world, self.label = cfg, world, label
        self.run = cfg.iters - start
        self.window = min(self.WINDOW, self.run)
        self.warm = 1 if self.run > 2 else 0
        self.sync = torch.cuda.synchronize if cfg.device.startswith("cuda") else None
        self.seconds, self.steps, self.done = 0.0, 0, 0
        self.result: dict[str, Any] = {"images_per_s": None, "steps_measured": 0, "eta_s": None}
        self.mark()

    def measuring(self) -> bool:
        return self.done < self.window

    def mark(self) -> None:
        """The clock at the start of a step (before its batch is requested)."""
        if self.measuring():
            if self.sync is not None:
                self.sync()
            self.t = time.perf_counter()

    def step_done(self, step: int) -> str | None:
        """Count a finished step (``step`` steps done in all); the plan line when the
        measure is complete."""
        if not self.measuring():
            return None
        if self.sync is not None:
            self.sync()
        dt = time.perf_counter() - self.t
        self.done += 1
        if self.done > self.warm:
            self.seconds += dt
            self.steps += 1
        if self.done < self.window:
            return None
        per_step = self.seconds / self.steps
        images = self.cfg.batch * self.world * self.steps / self.seconds
        left = self.cfg.iters - step
        self.result = {"images_per_s": images, "steps_measured": self.steps,
                       "eta_s": left * per_step}  # fmt: skip
        return (
            f"{self.label} {self.cfg.model}: {images:.1f} images/s over the first {self.steps} steps "
            f"(batch {self.cfg.batch} x {self.world} processes); ETA {_hms(left * per_step)} "
            f"for the remaining {left} steps"
        )


def _train(
    cfg: TrainConfig, want: dict[str, Any], out: Path, d: _Dist, *, progress: bool
) -> dict[str, Any]:

    import torch

    from baselines.models.adapters import get_adapter
    from baselines.models.checkpoint import save_checkpoint, save_torch
    from baselines.zoo import create_model

    lead = d.rank == 0
    if lead:
        with atomic_write(out / "train_config.json") as fh:
            json.dump(want, fh, indent=2)

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    adapter = get_adapter(cfg.model)
    model = create_model(cfg.model, **cfg.model_kwargs).to(cfg.device)
    model.train()
    if d.world > 1:  # same initial weights everywhere, then a distinct stream (dropout) each
        torch.manual_seed(int(np.random.SeedSequence([cfg.seed, d.rank]).generate_state(1)[0]))
    opt = optimizer_for(cfg, model.parameters())
    sched = scheduler_for(cfg, opt)
    scaler = _grad_scaler(cfg)
    state_path = out / "last.pt"
    step = 0
    history: list[dict[str, Any]] = []
    state = None
    if d.world == 1:
        if state_path.exists():
            state = load_state(state_path, map_location=cfg.device)
    else:  # process 0 reads, all resume (no shared file system needed)
        if lead and state_path.exists():
            state = load_state(state_path, map_location="cpu")
        state = _broadcast(state, d)
    if state is not None:
        if int(state.get("world_size", 1)) != d.world:
            raise InputError(
                f"{state_path} was written by a {state.get('world_size', 1)}-process run; resume "
                f"it with as many processes (not {d.world}) or use another --out"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if scaler is not None and "scaler" in state:  # (states before this version: none)
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng_ranks"][d.rank] if d.world > 1 else state["torch_rng"])
        step = int(state["step"])
        history = list(state["history"])
        del state

    net: Any = model
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # every registered model uses all its parameters in every training step (checked for
        # all of them under torchrun), so no find_unused_parameters pass is needed
        net = DistributedDataParallel(
            model, device_ids=[d.local_rank] if cfg.device.startswith("cuda") else None
        )

    val_batches = (
        [
            make_batch(
                cfg,
                10**6 + i,
                split="val",
                indices=list(range(i * cfg.batch, (i + 1) * cfg.batch)),
            )
            for i in range(max(1, math.ceil(cfg.val_count / cfg.batch)))
        ]
        if lead
        else []
    )
    if lead and not history:
        history.append({"step": 0, "val_loss": validation_loss(model, adapter, cfg, val_batches)})

    def checkpoint() -> None:
        rngs = _all_gather(torch.get_rng_state(), d)
        if not lead:
            return
        save_torch(
            state_path,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                **({"scaler": scaler.state_dict()} if scaler is not None else {}),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "history": history,
                **({"world_size": d.world, "torch_rng_ranks": rngs} if d.world > 1 else {}),
            },
        )

    bar = tqdm(
        total=cfg.iters,
        initial=step,
        desc=f"train {cfg.model}",
        unit="it",
        disable=not progress or not lead,
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    dev_type = cfg.device.split(":")[0]
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
    pinned = cfg.workers > 0 and dev_type == "cuda"
    pace = Pace(cfg, step, d.world)
    try:
        with contextlib.closing(batches(cfg, step, rank=d.rank, world=d.world)) as stream:
            for _, batch in stream:
                batch = _to(batch, cfg.device, non_blocking=pinned)
                with torch.autocast(dev_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    with batch_too_small(cfg.model, cfg.batch):
                        loss, parts = _loss(net(*adapter.inputs(batch)), batch, adapter, cfg)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                sched.step()
                step += 1
                line = pace.step_done(step)
                if line is not None and lead and (progress or cfg.iters > 20):
                    tqdm.write(line, file=sys.stderr)
                bar.update()
                bar.set_postfix(loss=f"{parts['total']:.4f}")
                if step % cfg.val_every == 0 or step == cfg.iters:
                    parts = _mean_parts(parts, d, cfg.device)
                    if lead:  # the others go on and wait for it in the next gradient all-reduce
                        history.append(
                            {
                                "step": step,
                                "val_loss": validation_loss(model, adapter, cfg, val_batches),
                                **parts,
                            }
                        )
                        with atomic_write(out / "log.jsonl") as fh:
                            fh.write("".join(json.dumps(h) + "\n" for h in history))
                if step % cfg.save_every == 0 or step == cfg.iters:
                    checkpoint()
                pace.mark()
    finally:
        bar.close()
    if lead:
        save_checkpoint(
            model,
            out / "model.pt",
            name=cfg.model,
            meta={
                "train_config": want,
                "steps": step,
                "val_loss": history[-1]["val_loss"],
                "seconds": time.perf_counter() - t0,
                "throughput": pace.result,
                **({"world_size": d.world} if d.world > 1 else {}),
            },
        )
    history = _broadcast(history, d)  # also holds the others until model.pt is written
    return {
        "step": step,
        "val_loss": history[-1]["val_loss"],
        "history": history,
        "rank": d.rank,
        "world_size": d.world,
        "throughput": pace.result,
    }
