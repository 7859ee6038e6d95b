"""The pruning pipeline: pruning (sparsity) stage, selection, surgery, training stage.

``mattebench prune --model NAME --method uni|ns|cap|dcp --ratio R --kd none|nst|ofd|sp|spkd``
runs, in ``--out DIR``, stages that are each cached (a rerun skips finished stages, a killed
run resumes inside the stage that was running):

1. **teacher** -- the registered model, from ``--teacher CKPT`` (random weights without one:
   only for smoke tests, and recorded as such); frozen, in eval mode.
2. **pruning stage** (``sparse.pt``; skipped for ``uni``) -- a network of the teacher's
   architecture (at the teacher's widths) trained with the criterion's L1 sub-gradient on the
   BN scales (NS: one weight; DCP: encoder x10, decoder x1; CAP: context-guided weights).
   ``sparsity_init="scratch"`` (default, the DCP code ``train_prune.py``, ``methods.md``
   1.2): fresh weights (:func:`baselines.pruning.reinitialise`), every BN gamma 0.5 and beta
   0, frozen (:func:`baselines.pruning.slimming_init`); ``"teacher"``: start from the
   teacher's weights. The loss is the alpha loss to the ground truth; for a criterion that
   **distils** (DCP, "distillation-based channel pruning") it is

   ``L_alpha(a_s, a_gt) + tw * L1_U(a_s, a_t) + lambda4 * L_KD(F_s, F_t)``

   with ``tw`` = ``teacher_alpha_weight`` and ``lambda4`` = ``prune_kd_weight``, ``L_KD`` the
   row's feature distillation (NST / OFD / SP / SPKD, 1x1 adapters where widths differ) on the
   encoder blocks after the first (:data:`TAPS`), so the distillation shapes which channels
   survive.
3. **selection** (``spec.json``) -- the criterion's channel spec for the requested ratio
   (requested and achieved ratios recorded). With ``selection_dir``, stages 2-3 are taken from
   a finished run whose configuration agrees on :func:`selection_fields` (rows that differ
   only in the *training-stage* distillation share one pruned architecture; for a distilling
   criterion the pruning-stage distillation -- ``kd``, ``prune_kd_weight``,
   ``teacher_alpha_weight`` -- is part of the selection's identity, so those rows do not).
4. **surgery** -- a physically smaller network: weights inherited from the pruning-stage
   network (``init="inherit"``; GCA's spectral-norm ``u`` / ``v`` re-estimated on each pruned
   weight, :func:`baselines.pruning.prune_model`) or re-initialised (``init="reinit"``, the DCP
   code's ``train_pruned.py``: the thin network is trained from scratch); every parameter
   trainable again (beta too).
5. **training stage** (``student_last.pt``) -- the student trained on the alpha losses (L1 +
   Laplacian + composition, unknown region) ``+ tw * L1_U(a_s, a_t) + w3 * L_KD(F_s, F_t)``
   with ``w3`` = ``kd_weight``; no sparsity term.
6. ``model.pt`` -- our checkpoint format with the full channel spec, so ``create_model`` and
   ``mattebench eval --method model:NAME --method-arg model:NAME checkpoint=DIR/model.pt``
   rebuild and evaluate the student; ``channels.png``/``.pdf``, the per-layer channel
   histogram (teacher vs pruned); with ``measure_size``, ``pruned_table.md`` (parameters,
   MACs, CPU latency of teacher and student, speedup).

**The balance factors, one reading everywhere.** The supplement (sec. 3, Table 2) varies
``(lambda_4, w_3)`` "to analyze the sensitivity about distillation loss" and sets them "in
training and pruning stages": ``lambda_4`` weights the distillation term of the pruning-stage
loss (``prune_kd_weight``, ``--prune-kd-weight``) and ``w_3`` the distillation term of the
training-stage loss (``kd_weight``, ``--kd-weight``); the authors' code uses 1 for both. The
supplement is silent on the teacher-alpha term's weight; the code uses 1 in both stages
(``teacher_alpha_weight``, ``--teacher-alpha-weight``).

Both stages use Adam at ``lr`` and clamp every gradient element to ``+-grad_clip`` (the DCP
code's ``clip_gradient``, 5) after the sparsity sub-gradient is added. Their resume states
(``sparse.pt``, ``student_last.pt``) hold tensors and plain containers only and are read with
``torch.load(weights_only=True)`` (:func:`benchmark.training.load_state`): a run folder from
elsewhere cannot run code here; a state holding anything else is refused, naming the file.

**Deviations from the DCP code** (DIM only; everything else here is our extension to the
other families): the alpha loss is our matting loss (L1 + Laplacian + composition on the
unknown region) instead of DIM's Charbonnier loss, and the teacher term is an L1 on the
unknown region instead of the Charbonnier; the re-initialisation is PyTorch's default, not the
families' own initialisers; the schedule (iterations, crop, batch) is the caller's; the code's
defects (``methods.md`` 1.3: SPKD summing only the last level, NST/OFD failing) are not
reproduced: every level counts.

**Data.** Both stages draw their batches from :func:`benchmark.training.make_batch` with the
configuration's data fields (:data:`DATA_FIELDS`): by default the on-the-fly synthetic
training samples (``pool`` > 0: a fixed set of that many samples from ``data_seed``); with
``train_set`` a real training set (``mattebench prune --dataset adobe=ROOT --bg-root DIR``:
the Adobe or Distinctions-646 foregrounds composed on the fly with the family's augmentation;
``--dataset voc-aug=ROOT``: PASCAL VOC 2012 + SBD for PSPNet-50), whose files are all checked
(:meth:`validate`, recorded in ``train_data.json``) before the first step. PSPNet-50 (built
without its training-only aux head) trains with cross-entropy (on VOC's class maps, or on the
matting data read as two-class segmentation: "person" where alpha >= 0.5, the unknown band
ignored) and feature distillation; the teacher-alpha term applies to matting models only.
``amp`` runs both stages' forward passes and losses under ``torch.autocast`` (bf16, or fp16
with a gradient scaler on CUDA, unscaled before the sparsity sub-gradient and the clamp, its
state saved with the resume state).
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from baselines.models.checkpoint import save_torch
from metrics import InputError
from metrics.common import atomic_write

__all__ = [
    "PruneConfig",
    "prune",
    "TAPS",
    "SELECTION_FIELDS",
    "DISTILLED_SELECTION_FIELDS",
    "selection_fields",
    "prune_identity",
    "DATA_FIELDS",
]

#: Distillation taps: the encoder blocks after the first one, per family (module names).
TAPS: dict[str, tuple[str, ...]] = {
    "dim": ("down2", "down3", "down4", "down5"),
    "sdnet": ("stages.1", "stages.2", "stages.3"),
    "sdnet-trimap-free": ("stages.1", "stages.2", "stages.3"),
    "indexnet": ("layer2", "layer3", "layer4", "layer6"),
    "gca": ("encoder.layer1", "encoder.layer2", "encoder.layer3", "encoder.layer_bottleneck"),
    "pspnet50": ("layer1", "layer2", "layer3", "layer4"),
}


@dataclass(frozen=True)
class PruneConfig:
    """Everything a pruning run depends on (``DIR/prune_config.json``)."""

    model: str = "sdnet"
    method: str = "dcp"
    ratio: float = 0.5
    kd: str = "none"
    teacher: str | None = None
    init: str = "inherit"  # training stage: "inherit" the pruning-stage weights, or "reinit"
    sparsity_init: str = "scratch"  # pruning stage starts from "scratch" (DCP) or "teacher"
    sparsity_iters: int = 50
    sparsity_s: float = 1e-4
    finetune_iters: int = 100
    kd_weight: float = 1.0  # w_3: distillation weight of the training stage
    prune_kd_weight: float = 1.0  # lambda_4: distillation weight of the pruning stage (DCP)
    teacher_alpha_weight: float = 1.0  # teacher-alpha term, both stages (supplement silent)
    grad_clip: float = 5.0  # clamp each gradient element to +-grad_clip (0: off)
    size: int = 96
    crop: int = 64
    batch: int = 2
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    model_kwargs: dict[str, Any] | None = None
    measure_size: int = 0  # > 0: time teacher vs student at this input size (pruned_table.md)
    selection_dir: str | None = None  # reuse sparse.pt + spec.json of a run with equal selection
    pool: int = 0  # training data: 0 = endless synthetic stream, N = fixed set of N samples
    data_seed: int = 0  # the fixed set's generator seed (pool > 0)
    #: a real training set for both stages (``--dataset NAME=ROOT``), as
    #: :class:`benchmark.training.TrainConfig`'s fields of the same names: ``"adobe"`` /
    #: ``"d646"`` composed on ``bg_root`` with ``family``'s augmentation, or ``"voc-aug"``
    #: (PSPNet-50)
    train_set: str = ""
    train_root: str = ""
    bg_root: str = ""
    bg_kind: str = "coco"
    family: str = ""
    names: str = ""
    per_fg: int = 100
    #: mixed precision of both stages' forward passes and losses (``torch.autocast``)
    amp: str = "off"
    #: Adam's (coupled, L2) weight decay in both stages (the supplement's segmentation runs:
    #: 1e-4; the DCP code's matting runs: none)
    weight_decay: float = 0.0
    #: DataLoader worker processes (changes the speed only: the batches are the same)
    workers: int = 0
    #: draw ``channels.png`` / ``.pdf`` (1.3 s per run on the CI machine; ``reproduce`` draws
    #: its figures from ``spec.json`` itself and turns this off); changes no number
    figures: bool = True


#: Fields added after the first release: left out of the configuration's identity
#: (``prune_config.json``, reproduce's stage keys) while they hold their defaults, so runs
#: made before them resume and keep their keys; ``workers`` is never part of it (it cannot
#: change a number).
_LATER_FIELDS = ("train_set", "train_root", "bg_root", "bg_kind", "family", "names", "per_fg",
                 "amp", "weight_decay")  # fmt: skip
_LATER_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(PruneConfig) if f.name in _LATER_FIELDS
}
#: Fields that change no number of a run: never part of its identity.
_NOT_IDENTITY = ("workers", "figures")
#: The training-data fields passed on to each stage's :class:`~benchmark.training.TrainConfig`.
DATA_FIELDS = ("pool", "data_seed", "train_set", "train_root", "bg_root", "bg_kind", "family",
               "names", "per_fg", "amp", "workers")  # fmt: skip


def prune_identity(cfg: PruneConfig) -> dict[str, Any]:
    """``asdict(cfg)`` as JSON, without the fields that change no number (``workers``,
    ``figures``) and the later fields at their defaults."""
    from benchmark.training import identity_of

    return identity_of(cfg, _LATER_DEFAULTS, _NOT_IDENTITY)


#: The fields that determine stages 1-3 (teacher, pruning stage, selection) for every
#: criterion: two runs that agree on them select the same channels, so one may reuse the
#: other's (``selection_dir``).
SELECTION_FIELDS: tuple[str, ...] = (
    "model", "method", "ratio", "teacher", "sparsity_init", "sparsity_iters", "sparsity_s",
    "grad_clip", "size", "crop", "batch", "lr", "seed", "device", "threads", "model_kwargs",
    "pool", "data_seed", *_LATER_FIELDS,
)  # fmt: skip
#: Added for a criterion whose pruning stage distils (DCP): the distillation is part of the
#: selection's identity.
DISTILLED_SELECTION_FIELDS: tuple[str, ...] = ("kd", "prune_kd_weight", "teacher_alpha_weight")


def selection_fields(cfg: PruneConfig) -> tuple[str, ...]:
    """The configuration fields that determine ``cfg``'s channel selection.

    Examples
    --------
    >>> "prune_kd_weight" in selection_fields(PruneConfig(method="dcp"))
    True
    >>> "kd" in selection_fields(PruneConfig(method="ns"))
    False
    """
    from baselines.pruning import get_criterion

    extra = DISTILLED_SELECTION_FIELDS if get_criterion(cfg.method).distills else ()
    return SELECTION_FIELDS + extra


def _first_tensor(out: Any) -> Any:
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


class _Taps:
    """Forward hooks collecting the outputs of named modules (or, for OFD, of the last BN
    inside each: the pre-ReLU feature)."""

    def __init__(self, model: Any, names: tuple[str, ...], pre_relu: bool) -> None:

        self.feats: list[Any] = [None] * len(names)
        self.bns: list[Any] = []
        self.handles = []
        mods = dict(model.named_modules())
        for i, n in enumerate(names):
            if n not in mods:
                raise InputError(
                    f"distillation tap {n!r} is not a module of {type(model).__name__}"
                )
            m = mods[n]
            if pre_relu:
                m = _last_bn(model, n, "OFD's pre-ReLU feature")[1]
                self.bns.append(m)
            self.handles.append(m.register_forward_hook(self._hook(i)))

    def _hook(self, i: int) -> Any:
        def fn(mod: Any, inp: Any, out: Any) -> None:
            self.feats[i] = _first_tensor(out)

        return fn

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _train_config(cfg: PruneConfig, iters: int) -> Any:
    from benchmark.training import TrainConfig

    return TrainConfig(
        model=cfg.model, model_kwargs=cfg.model_kwargs or {}, size=cfg.size, crop=cfg.crop,
        batch=cfg.batch, iters=iters, lr=cfg.lr, seed=cfg.seed, device=cfg.device,
        threads=cfg.threads, **{f: getattr(cfg, f) for f in DATA_FIELDS},
    )  # fmt: skip


def _alpha_objective(model: Any, adapter: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
    """The task loss and the output the teacher term compares (``None`` for segmentation,
    where the student is trained on cross-entropy and feature distillation only)."""
    from baselines.losses import matting_loss

    out = model(*adapter.inputs(batch))
    if adapter.kind == "segmentation":
        from benchmark.training import _segmentation_loss

        return _segmentation_loss(out, batch)[0], None
    alpha = adapter.alpha(out)
    return matting_loss(alpha, batch), alpha


def _loop(
    name: str,
    data: Any,
    state_path: Path,
    model: Any,
    step_fn: Any,
    cfg: PruneConfig,
    progress: bool,
) -> dict[str, Any] | None:
    """Adam over ``data.iters`` steps with atomic checkpoints every 25 steps (resumable);
    ``step_fn(batch)`` returns the loss of a batch (on the device) of
    :func:`benchmark.training.batches` ``(data, step)``: the batch of each step is a function
    of the step, so a resumed stage sees the batches an uninterrupted one would.

    Returns the throughput of the first steps this call ran
    (:class:`benchmark.training.Pace`: images/s over up to 10 steps after a warm-up step, and
    the ETA of the rest, printed once), or ``None`` when no step was left."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad] + list(
        getattr(step_fn, "extra_params", [])
    )
    from benchmark.training import Pace, adam, batch_too_small, batches, load_state

    iters = data.iters
    opt = adam(params, lr=cfg.lr, device=cfg.device, weight_decay=cfg.weight_decay)
    dev_type = cfg.device.split(":")[0]
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
    # fp16 needs loss scaling on CUDA; its state resumes with the run
    scaler = torch.amp.GradScaler(dev_type) if cfg.amp == "fp16" and dev_type == "cuda" else None
    step = 0
    if state_path.exists():
        st = load_state(state_path, map_location=cfg.device)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        if scaler is not None and st.get("scaler"):
            scaler.load_state_dict(st["scaler"])
        if hasattr(step_fn, "load_extra"):
            step_fn.load_extra(st.get("extra"))
        step = int(st["step"])
        if st.get("torch_rng") is not None:  # dropout etc. continue as if never interrupted
            torch.set_rng_state(st["torch_rng"])
    bar = tqdm(
        total=iters, initial=step, desc=name, unit="it", disable=not progress, file=sys.stderr
    )
    pace = Pace(data, step, label=name)
    pinned = dev_type == "cuda" and cfg.workers > 0
    try:
        for at, batch in batches(data, step):
            assert at == step
            b = {k: v.to(cfg.device, non_blocking=pinned) for k, v in batch.items()}
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                with batch_too_small(cfg.model, cfg.batch):
                    loss = step_fn(b)
            if scaler is not None:  # true gradients before the sparsity term and the clamp
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
            else:
                loss.backward()
            if hasattr(step_fn, "after_backward"):
                step_fn.after_backward()
            if cfg.grad_clip > 0:  # DCP utils.clip_gradient: element-wise clamp
                torch.nn.utils.clip_grad_value_(params, cfg.grad_clip)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            step += 1
            bar.update()
            line = pace.step_done(step)
            if line is not None and (progress or iters > 20):
                tqdm.write(line, file=sys.stderr)
            if step % 25 == 0 or step == iters:  # (not timed: Pace measures the first steps)
                extra = step_fn.extra_state() if hasattr(step_fn, "extra_state") else None
                save_torch(
                    state_path,
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "step": step,
                        "torch_rng": torch.get_rng_state(),
                        "extra": extra,
                        **({"scaler": scaler.state_dict()} if scaler is not None else {}),
                    },
                )
            pace.mark()
    finally:
        bar.close()
    return pace.result if pace.result["images_per_s"] is not None else None


class _Distillation:
    """The teacher terms of one stage: taps on both networks, the distiller (its adapters are
    trained with the student) and the teacher-alpha weight."""

    def __init__(
        self, cfg: PruneConfig, student: Any, teacher: Any, adapter: Any, probe: dict[str, Any],
        *, kd_weight: float, seed: int,
    ) -> None:  # fmt: skip
        import torch

        from baselines.distill import get_distiller

        self.cfg, self.teacher, self.adapter = cfg, teacher, adapter
        self.kd_weight = float(kd_weight)
        self.use_kd = cfg.kd != "none" and self.kd_weight != 0
        taps = TAPS[cfg.model]
        self.s_taps = _Taps(student, taps, pre_relu=cfg.kd == "ofd")
        self.t_taps = _Taps(teacher, taps, pre_relu=cfg.kd == "ofd")
        was_training = student.training
        with torch.no_grad():
            student.eval()
            student(*adapter.inputs(probe))
            teacher(*adapter.inputs(probe))
        student.train(was_training)
        s_ch = [f.shape[1] for f in self.s_taps.feats]
        t_ch = [f.shape[1] for f in self.t_taps.feats]
        kd_kwargs: dict[str, Any] = {"weight": self.kd_weight}
        if cfg.kd == "ofd":
            kd_kwargs.update(
                student_channels=s_ch, teacher_channels=t_ch, teacher_bns=self.t_taps.bns
            )
        elif cfg.kd == "spkd":
            kd_kwargs.update(student_channels=s_ch, teacher_channels=t_ch)
        # each stage draws its adapters' initial weights from its own seed, whether the earlier
        # stages ran here, came from the cache or from ``selection_dir``
        torch.manual_seed(seed)
        self.distiller = get_distiller(cfg.kd, **kd_kwargs).to(cfg.device)

    def loss(self, alpha: Any, batch: dict[str, Any]) -> Any:
        """``tw * L1_U(alpha, teacher alpha) + kd_weight * L_KD`` for the batch the student
        has just seen (its tapped features are those of that forward)."""
        import torch

        from baselines.losses import l1_loss

        with torch.no_grad():
            t_out = self.teacher(*self.adapter.inputs(batch))
        total = alpha.new_zeros(()) if alpha is not None else None
        if alpha is not None and self.cfg.teacher_alpha_weight != 0:
            t_alpha = self.adapter.alpha(t_out)
            total = total + self.cfg.teacher_alpha_weight * l1_loss(alpha, t_alpha, batch["weight"])
        if self.use_kd:
            kd = self.distiller(list(self.s_taps.feats), list(self.t_taps.feats))
            total = kd if total is None else total + kd
        return total

    def attach(self, step_fn: Any) -> None:
        """Train and checkpoint the distiller's parameters with the student."""
        step_fn.extra_params = list(self.distiller.parameters())
        step_fn.extra_state = self.distiller.state_dict
        step_fn.load_extra = lambda sd: sd is not None and self.distiller.load_state_dict(sd)

    def remove(self) -> None:
        self.s_taps.remove()
        self.t_taps.remove()


def prune(cfg: PruneConfig, out_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the pipeline; returns ``{"spec", "ratio", "params_teacher", ...}``."""
    import torch

    from baselines.models import MODELS, save_checkpoint
    from baselines.models.adapters import get_adapter
    from baselines.models.registry import family_module
    from baselines.pruning import (
        ChannelSpec,
        get_criterion,
        prune_model,
        reinitialise,
        slimming_init,
    )
    from baselines.pruning.surgery import count_params
    from baselines.zoo import create_model
    from benchmark.training import (
        AMP_MODES,
        load_state,
        make_batch,
        record_train_data,
        train_source,
    )

    if cfg.model not in TAPS:
        task = MODELS[cfg.model].task if cfg.model in MODELS else "unknown"
        raise InputError(f"prune: {cfg.model!r} ({task}) has no distillation taps defined here")
    if cfg.init not in ("inherit", "reinit"):
        raise InputError(f"init must be 'inherit' or 'reinit', got {cfg.init!r}")
    if cfg.sparsity_init not in ("scratch", "teacher"):
        raise InputError(f"sparsity_init must be 'scratch' or 'teacher', got {cfg.sparsity_init!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    want = prune_identity(cfg)
    cfg_path = out / "prune_config.json"
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != want:
        raise InputError(f"{cfg_path} holds a different configuration; use another --out")
    with atomic_write(cfg_path) as fh:
        json.dump(want, fh, indent=2)

    if cfg.amp not in AMP_MODES:
        raise InputError(f"amp must be one of {', '.join(AMP_MODES)}, got {cfg.amp!r}")
    source = train_source(_train_config(cfg, 1))  # layout errors before hours are spent
    if source is not None:  # every file opened (headers), recorded with the run
        record_train_data(source, out)

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    adapter = get_adapter(cfg.model)
    kwargs = dict(cfg.model_kwargs or {})
    if adapter.kind == "segmentation":
        kwargs.setdefault("aux", False)  # the aux head is training-only; pruned without it
    teacher = create_model(cfg.model, checkpoint=cfg.teacher, **kwargs).to(cfg.device)
    teacher.eval()  # used under no_grad only; distillers detach its features
    family = family_module(cfg.model)
    groups = family.layer_groups(teacher)
    criterion = get_criterion(cfg.method)
    tcfg = _train_config(cfg, cfg.sparsity_iters)
    probe = {k: v.to(cfg.device) for k, v in make_batch(tcfg, 0).items()}

    throughput: dict[str, Any] = {}  # images/s of each stage's first steps (this call)
    # 2. pruning stage: a network of the teacher's architecture, sparsified (and distilled)
    sparsifies = criterion.sparsity and cfg.sparsity_iters > 0
    sparse = copy.deepcopy(teacher).train()
    if sparsifies and cfg.sparsity_init == "scratch":
        reinitialise(sparse, cfg.seed + 3)
        slimming_init(sparse)  # gamma 0.5, beta 0 and frozen
    sel_dir = _selection_dir(cfg)
    if sel_dir is not None:  # another run's stages 2-3 (same selection fields)
        if sparsifies:
            sparse.load_state_dict(load_state(sel_dir / "sparse.pt", cfg.device)["model"])
        if not (out / "spec.json").exists():
            ChannelSpec.load(sel_dir / "spec.json").save(out / "spec.json")
    elif sparsifies and not (out / "spec.json").exists():
        # CAP: the per-channel guide of the last BN of each distilled encoder block, from that
        # block's output on the current batch (DCP's CAP baseline: utils.fm2vector/bn_loss)
        cap_taps = _Taps(sparse, TAPS[cfg.model], pre_relu=False) if cfg.method == "cap" else None
        if cap_taps is not None:
            criterion = get_criterion("cap", guided=_guided_bns(sparse, cfg.model))
        guide: dict[str, Any] = {}
        distil = (
            _Distillation(cfg, sparse, teacher, adapter, probe, kd_weight=cfg.prune_kd_weight,
                          seed=cfg.seed + 4)
            if criterion.distills
            else None
        )  # fmt: skip

        def sparsity_step(b: dict[str, Any]) -> Any:
            loss, alpha = _alpha_objective(sparse, adapter, b)
            if distil is not None:
                extra = distil.loss(alpha, b)
                if extra is not None:
                    loss = loss + extra
            if cap_taps is not None:
                guide.clear()
                guide.update(criterion.guide([f.detach() for f in cap_taps.feats]))
            return loss

        sparsity_step.after_backward = lambda: criterion.regularize(
            sparse, cfg.sparsity_s, groups=groups, guide=guide or None
        )  # type: ignore[attr-defined]
        if distil is not None:
            distil.attach(sparsity_step)
        throughput["pruning stage"] = _loop(
            "pruning stage", tcfg, out / "sparse.pt", sparse, sparsity_step, cfg,
            progress,
        )  # fmt: skip
        if cap_taps is not None:
            cap_taps.remove()
        if distil is not None:
            distil.remove()
    elif sparsifies:  # selection cached: the pruning-stage weights from its last state
        sparse.load_state_dict(load_state(out / "sparse.pt", cfg.device)["model"])
    sparse.eval()

    # 3. selection
    spec_path = out / "spec.json"
    if spec_path.exists():
        spec = ChannelSpec.load(spec_path)
    else:
        spec = criterion.select(sparse, cfg.ratio, groups=groups, model_name=cfg.model)
        spec.meta.update(
            {
                k: want[k]
                for k in selection_fields(cfg)
                if k not in ("model", "teacher") and k in want
            }
        )
        spec.save(spec_path)

    # 4. surgery (GCA: spectral-norm u / v re-estimated on the pruned weights, unless the
    # network is re-initialised next, which draws them afresh)
    sn_vectors = "slice" if cfg.init == "reinit" else "svd"
    student = prune_model(sparse, spec, sn_vectors=sn_vectors).to(cfg.device)
    if cfg.init == "reinit":
        reinitialise(student, cfg.seed + 1)
    _unfreeze_bn_bias(student)  # the training stage trains beta (DCP's fresh student class)
    student.train()

    # 5. training stage with distillation
    ftcfg = replace(tcfg, iters=cfg.finetune_iters)
    distil = _Distillation(
        cfg, student, teacher, adapter, probe, kd_weight=cfg.kd_weight, seed=cfg.seed + 2
    )

    def finetune_step(b: dict[str, Any]) -> Any:
        loss, alpha = _alpha_objective(student, adapter, b)
        extra = distil.loss(alpha, b)
        return loss if extra is None else loss + extra

    distil.attach(finetune_step)
    if cfg.finetune_iters > 0:
        throughput["training stage"] = _loop(
            "training stage", ftcfg, out / "student_last.pt", student,
            finetune_step, cfg, progress,
        )  # fmt: skip
    distil.remove()
    student.eval()

    ratio = spec.ratio()
    result = {
        "model": cfg.model,
        "method": cfg.method,
        "kd": cfg.kd,
        "lambda4": cfg.prune_kd_weight if criterion.distills else None,
        "w3": cfg.kd_weight,
        "teacher_alpha_weight": cfg.teacher_alpha_weight,
        "ratio": ratio,
        "params_teacher": count_params(teacher),
        "params_student": count_params(student),
        "spec": str(spec_path),
        "teacher_random": cfg.teacher is None,
        "throughput": {k: v for k, v in throughput.items() if v},
    }
    from reports.figures import channel_histogram

    result["histogram"] = (
        [str(p) for p in channel_histogram(spec, out / "channels", groups=groups)]
        if cfg.figures
        else []
    )
    if cfg.measure_size > 0:
        from reports.pruned import measure_pruned, pruned_model_table

        big = make_batch(replace(ftcfg, size=cfg.measure_size, crop=cfg.measure_size), 0)
        x = adapter.inputs({k: v.to(cfg.device) for k, v in big.items()})
        label = f"{cfg.model} {cfg.method.upper()}+{cfg.kd.upper()}"
        row = measure_pruned(teacher, student, x, name=label, threads=cfg.threads)
        result["speedup"] = row.speedup
        result["latency_teacher_s"] = row.teacher_latency_s
        result["latency_student_s"] = row.student_latency_s
        with atomic_write(out / "pruned_table.md") as fh:
            fh.write(pruned_model_table([row], "md"))
    # a reduced-width teacher is itself pruned: restate the student against the full model
    base = getattr(teacher, "mattebench_channel_spec", None)
    full_spec = spec.compose(base) if base is not None else spec
    save_checkpoint(
        student, out / "model.pt", name=cfg.model, channel_spec=full_spec.to_dict(), meta=result
    )
    with atomic_write(out / "result.json") as fh:
        json.dump(result, fh, indent=2, default=str)
    return result


def _unfreeze_bn_bias(model: Any) -> None:
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.bias is not None:
            m.bias.requires_grad_(True)


def _last_bn(model: Any, tap: str, purpose: str) -> tuple[str, Any]:
    """Name and module of the last BatchNorm inside the module ``tap`` of ``model``."""
    from torch import nn

    bns = [
        (f"{tap}.{n}", m)
        for n, m in model.get_submodule(tap).named_modules()
        if isinstance(m, nn.BatchNorm2d)
    ]
    if not bns:
        raise InputError(f"tap {tap!r} has no BatchNorm for {purpose}")
    return bns[-1]


def _guided_bns(model: Any, model_name: str) -> list[str]:
    """CAP's guided BNs: the last BatchNorm inside each distillation tap (for DIM, DCP's
    ``bn_loss`` targets, the last BN of encoder blocks 2-5), whose width is the tap output's."""
    return [
        _last_bn(model, tap, f"CAP's context guide ({model_name})")[0] for tap in TAPS[model_name]
    ]


def _selection_dir(cfg: PruneConfig) -> Path | None:
    """``cfg.selection_dir`` checked: finished (``spec.json``, and ``sparse.pt`` when the
    criterion trains for sparsity) by a configuration equal on :func:`selection_fields`."""
    if cfg.selection_dir is None:
        return None
    d = Path(cfg.selection_dir)
    cfg_file = d / "prune_config.json"
    if not (d / "spec.json").is_file() or not cfg_file.is_file():
        raise InputError(f"selection_dir {d}: no finished selection (spec.json) there")
    theirs = json.loads(cfg_file.read_text())
    mine = prune_identity(cfg)
    diff = [k for k in selection_fields(cfg) if theirs.get(k) != mine.get(k)]
    if diff:
        raise InputError(f"selection_dir {d}: its run differs in {diff}; its channels do not apply")
    return d
