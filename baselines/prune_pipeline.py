"""The pruning pipeline: sparsity training, selection, surgery, fine-tuning with distillation.

``mattebench prune --model NAME --method uni|ns|cap|dcp --ratio R --kd none|nst|ofd|sp|spkd``
runs, in ``--out DIR``, stages that are each cached (a rerun skips finished stages, a killed
run resumes inside the stage that was running):

1. **teacher** -- the registered model, from ``--teacher CKPT`` (random weights without one:
   only for smoke tests, and recorded as such);
2. **sparsity** (``sparse.pt``; skipped for ``uni``) -- the teacher architecture trained on the
   alpha losses with the criterion's L1 sub-gradient on BN scales (NS: one weight; DCP:
   encoder x10, decoder x1; CAP: context-guided weights);
3. **selection** (``spec.json``) -- the criterion's channel spec for the requested ratio
   (requested and achieved ratios recorded);
4. **surgery** -- a physically smaller network, weights inherited (``--inherit-weights``,
   default) or re-initialised (``--reinit``, as the DCP code does);
   With ``selection_dir``, stages 2-3 are taken from a finished run whose configuration agrees
   on :data:`SELECTION_FIELDS` (rows of a table that differ only in the distillation share
   one pruned architecture, as in the paper, and it is trained once).
5. **fine-tuning** (``student_last.pt``) -- the student trained on the alpha losses (L1 +
   Laplacian + composition, unknown region), plus ``lambda`` x the feature distillation from the
   teacher on the encoder except its first block, plus ``w`` x the teacher-alpha L1 on the
   unknown region (the distillation-based pruning paper's student objective);
6. ``model.pt`` -- our checkpoint format with the full channel spec, so ``create_model`` and
   ``mattebench eval --method model:NAME --method-arg model:NAME checkpoint=DIR/model.pt``
   rebuild and evaluate the student; ``channels.png``/``.pdf``, the per-layer channel
   histogram (teacher vs pruned); with ``measure_size``, ``pruned_table.md`` (parameters,
   MACs, CPU latency of teacher and student, speedup).

Data are the on-the-fly synthetic training samples of :mod:`baselines.training`. PSPNet-50
(built without its training-only aux head) trains on them as two-class segmentation (VOC's
"person" where alpha >= 0.5, background elsewhere, the unknown band ignored) with
cross-entropy and feature distillation; the teacher-alpha term applies to matting models only.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from baselines.models.checkpoint import save_torch
from benchmark.io import atomic_write
from metrics import InputError

__all__ = ["PruneConfig", "prune", "TAPS", "SELECTION_FIELDS"]

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
    init: str = "inherit"  # or "reinit"
    sparsity_iters: int = 50
    sparsity_s: float = 1e-4
    finetune_iters: int = 100
    kd_weight: float = 1.0  # the paper's lambda
    teacher_alpha_weight: float = 1.0  # the paper's w
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


#: The fields that determine stages 1-3 (teacher, sparsity training, selection): two runs that
#: agree on them select the same channels, so one may reuse the other's (``selection_dir``).
SELECTION_FIELDS: tuple[str, ...] = (
    "model", "method", "ratio", "teacher", "sparsity_iters", "sparsity_s", "size", "crop",
    "batch", "lr", "seed", "device", "model_kwargs",
)  # fmt: skip


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
    from baselines.training import TrainConfig

    return TrainConfig(
        model=cfg.model, model_kwargs=cfg.model_kwargs or {}, size=cfg.size, crop=cfg.crop,
        batch=cfg.batch, iters=iters, lr=cfg.lr, seed=cfg.seed, device=cfg.device,
        threads=cfg.threads,
    )  # fmt: skip


def _alpha_objective(model: Any, adapter: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
    """The task loss and the output the teacher term compares (``None`` for segmentation,
    where the student is trained on cross-entropy and feature distillation only)."""
    from baselines.losses import matting_loss

    out = model(*adapter.inputs(batch))
    if adapter.kind == "segmentation":
        from baselines.training import _segmentation_loss

        return _segmentation_loss(out, batch)[0], None
    alpha = adapter.alpha(out)
    return matting_loss(alpha, batch), alpha


def _loop(
    name: str,
    iters: int,
    state_path: Path,
    model: Any,
    step_fn: Any,
    cfg: PruneConfig,
    progress: bool,
) -> None:
    """Adam over ``iters`` steps with atomic checkpoints every 25 steps (resumable)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad] + list(
        getattr(step_fn, "extra_params", [])
    )
    opt = torch.optim.Adam(params, lr=cfg.lr)
    step = 0
    if state_path.exists():
        st = torch.load(state_path, map_location=cfg.device, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        if hasattr(step_fn, "load_extra"):
            step_fn.load_extra(st.get("extra"))
        step = int(st["step"])
        if st.get("torch_rng") is not None:  # dropout etc. continue as if never interrupted
            torch.set_rng_state(st["torch_rng"])
    bar = tqdm(
        total=iters, initial=step, desc=name, unit="it", disable=not progress, file=sys.stderr
    )
    try:
        while step < iters:
            opt.zero_grad(set_to_none=True)
            loss = step_fn(step)
            loss.backward()
            if hasattr(step_fn, "after_backward"):
                step_fn.after_backward()
            opt.step()
            step += 1
            bar.update()
            if step % 25 == 0 or step == iters:
                extra = step_fn.extra_state() if hasattr(step_fn, "extra_state") else None
                save_torch(
                    state_path,
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "step": step,
                        "torch_rng": torch.get_rng_state(),
                        "extra": extra,
                    },
                )
    finally:
        bar.close()


def prune(cfg: PruneConfig, out_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the pipeline; returns ``{"spec", "ratio", "params_teacher", ...}``."""
    import torch

    from baselines.distill import get_distiller
    from baselines.models import MODELS, create_model, save_checkpoint
    from baselines.models.adapters import get_adapter
    from baselines.models.registry import family_module
    from baselines.pruning import ChannelSpec, get_criterion, prune_model
    from baselines.pruning.surgery import count_params
    from baselines.training import make_batch

    if cfg.model not in TAPS:
        task = MODELS[cfg.model].task if cfg.model in MODELS else "unknown"
        raise InputError(f"prune: {cfg.model!r} ({task}) has no distillation taps defined here")
    if cfg.init not in ("inherit", "reinit"):
        raise InputError(f"init must be 'inherit' or 'reinit', got {cfg.init!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    want = json.loads(json.dumps(asdict(cfg)))
    cfg_path = out / "prune_config.json"
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != want:
        raise InputError(f"{cfg_path} holds a different configuration; use another --out")
    with atomic_write(cfg_path) as fh:
        json.dump(want, fh, indent=2)

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    adapter = get_adapter(cfg.model)
    kwargs = dict(cfg.model_kwargs or {})
    if adapter.kind == "segmentation":
        kwargs.setdefault("aux", False)  # the aux head is training-only; pruned without it
    teacher = create_model(cfg.model, checkpoint=cfg.teacher, **kwargs).to(cfg.device)
    teacher.eval()
    family = family_module(cfg.model)
    groups = family.layer_groups(teacher)
    criterion = get_criterion(cfg.method)
    tcfg = _train_config(cfg, cfg.sparsity_iters)

    # 2. sparsity training (on a copy of the teacher)
    sparse = copy.deepcopy(teacher).train()
    sel_dir = _selection_dir(cfg)
    if sel_dir is not None:  # another run's stages 2-3 (same selection fields)
        if criterion.sparsity and cfg.sparsity_iters > 0:
            sparse.load_state_dict(
                torch.load(sel_dir / "sparse.pt", map_location=cfg.device, weights_only=False)[
                    "model"
                ]
            )
        if not (out / "spec.json").exists():
            ChannelSpec.load(sel_dir / "spec.json").save(out / "spec.json")
    elif criterion.sparsity and cfg.sparsity_iters > 0:
        # CAP: the per-channel guide of the last BN of each distilled encoder block, from that
        # block's output on the current batch (DCP's CAP baseline: utils.fm2vector/bn_loss)
        cap_taps = _Taps(sparse, TAPS[cfg.model], pre_relu=False) if cfg.method == "cap" else None
        if cap_taps is not None:
            criterion = get_criterion("cap", guided=_guided_bns(sparse, cfg.model))
        guide: dict[str, Any] = {}

        def sparsity_step(step: int) -> Any:
            b = {k: v.to(cfg.device) for k, v in make_batch(tcfg, step).items()}
            loss, _ = _alpha_objective(sparse, adapter, b)
            if cap_taps is not None:
                guide.clear()
                guide.update(criterion.guide([f.detach() for f in cap_taps.feats]))
            return loss

        sparsity_step.after_backward = lambda: criterion.regularize(
            sparse, cfg.sparsity_s, groups=groups, guide=guide or None
        )  # type: ignore[attr-defined]
        _loop(
            "sparsity", cfg.sparsity_iters, out / "sparse.pt", sparse, sparsity_step, cfg, progress
        )
        if cap_taps is not None:
            cap_taps.remove()
    sparse.eval()

    # 3. selection
    spec_path = out / "spec.json"
    if spec_path.exists():
        spec = ChannelSpec.load(spec_path)
    else:
        spec = criterion.select(sparse, cfg.ratio, groups=groups, model_name=cfg.model)
        spec.save(spec_path)

    # 4. surgery
    student = prune_model(sparse, spec).to(cfg.device)
    if cfg.init == "reinit":
        torch.manual_seed(cfg.seed + 1)
        for m in student.modules():
            if hasattr(m, "reset_parameters") and m is not student:
                m.reset_parameters()
    student.train()

    # 5. fine-tuning with distillation
    ftcfg = replace(tcfg, iters=cfg.finetune_iters)
    taps = TAPS[cfg.model]
    s_taps = _Taps(student, taps, pre_relu=cfg.kd == "ofd")
    t_taps = _Taps(teacher, taps, pre_relu=cfg.kd == "ofd")
    probe = {k: v.to(cfg.device) for k, v in make_batch(ftcfg, 0).items()}
    with torch.no_grad():
        student.eval()
        student(*adapter.inputs(probe))
        teacher(*adapter.inputs(probe))
        student.train()
    s_ch = [f.shape[1] for f in s_taps.feats]
    t_ch = [f.shape[1] for f in t_taps.feats]
    kd_kwargs: dict[str, Any] = {"weight": cfg.kd_weight}
    if cfg.kd == "ofd":
        kd_kwargs.update(student_channels=s_ch, teacher_channels=t_ch, teacher_bns=t_taps.bns)
    elif cfg.kd == "spkd":
        kd_kwargs.update(student_channels=s_ch, teacher_channels=t_ch)
    # the fine-tuning stage draws its random numbers (adapter init, dropout) from its own seed,
    # whether the earlier stages ran here, came from the cache or from ``selection_dir``
    torch.manual_seed(cfg.seed + 2)
    distiller = get_distiller(cfg.kd, **kd_kwargs).to(cfg.device)

    def finetune_step(step: int) -> Any:
        from baselines.losses import l1_loss

        b = {k: v.to(cfg.device) for k, v in make_batch(ftcfg, step).items()}
        loss, alpha = _alpha_objective(student, adapter, b)
        with torch.no_grad():
            t_out = teacher(*adapter.inputs(b))
        if alpha is not None:
            t_alpha = adapter.alpha(t_out)
            loss = loss + cfg.teacher_alpha_weight * l1_loss(alpha, t_alpha, b["weight"])
        if cfg.kd != "none":
            loss = loss + distiller(list(s_taps.feats), list(t_taps.feats))
        return loss

    finetune_step.extra_params = list(distiller.parameters())  # type: ignore[attr-defined]
    finetune_step.extra_state = distiller.state_dict  # type: ignore[attr-defined]
    finetune_step.load_extra = lambda sd: sd is not None and distiller.load_state_dict(sd)  # type: ignore[attr-defined]
    if cfg.finetune_iters > 0:
        _loop(
            "finetune",
            cfg.finetune_iters,
            out / "student_last.pt",
            student,
            finetune_step,
            cfg,
            progress,
        )
    s_taps.remove()
    t_taps.remove()
    student.eval()

    ratio = spec.ratio()
    result = {
        "model": cfg.model,
        "method": cfg.method,
        "kd": cfg.kd,
        "ratio": ratio,
        "params_teacher": count_params(teacher),
        "params_student": count_params(student),
        "spec": str(spec_path),
        "teacher_random": cfg.teacher is None,
    }
    from reports.figures import channel_histogram

    result["histogram"] = [str(p) for p in channel_histogram(spec, out / "channels", groups=groups)]
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
    criterion trains for sparsity) by a configuration equal on :data:`SELECTION_FIELDS`."""
    if cfg.selection_dir is None:
        return None
    d = Path(cfg.selection_dir)
    cfg_file = d / "prune_config.json"
    if not (d / "spec.json").is_file() or not cfg_file.is_file():
        raise InputError(f"selection_dir {d}: no finished selection (spec.json) there")
    theirs = json.loads(cfg_file.read_text())
    mine = json.loads(json.dumps(asdict(cfg)))
    diff = [k for k in SELECTION_FIELDS if theirs.get(k) != mine.get(k)]
    if diff:
        raise InputError(f"selection_dir {d}: its run differs in {diff}; its channels do not apply")
    return d
