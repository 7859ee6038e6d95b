"""Training any registered matting model: on-the-fly data, Adam + step schedule, resume.

``mattebench train --model NAME --out DIR`` builds the model, draws training samples on the fly
(the synthetic generator by default: each sample is a function of its index and the seed, so
the data stream is reproducible), crops and flips them, and optimises:

* SDNet: the paper's objective (:func:`baselines.losses.sdnet_objective`: ``L_alpha`` on the
  final and the three side alphas plus ``lambda_sd`` times the self-distillation loss);
* every other matting model: ``L_alpha`` (L1 + Laplacian + composition) on its alpha,
  weighted to the trimap's unknown region;
* PSPNet-50: cross-entropy (plus 0.4 x on the aux head) on the synthetic data read as
  person/background segmentation (:func:`baselines.models.adapters.segmentation_target`).

A checkpoint with the optimiser, scheduler and RNG states is written atomically every
``save_every`` steps and at the end, so an interrupted run resumes where it stopped; the
validation loss (unknown-region L1 on a fixed validation set) is logged to ``log.jsonl``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmark.io import atomic_write
from metrics import InputError

__all__ = ["TrainConfig", "train", "make_batch", "validation_loss"]


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
    cfg: TrainConfig, step: int, *, split: str = "train", indices: list[int] | None = None
) -> dict[str, Any]:
    """Batch of tensors for ``step`` (a pure function of the config and the step)."""
    import torch

    rng = np.random.default_rng([cfg.seed, step, 0 if split == "train" else 1])
    if indices is None:
        indices = [step * cfg.batch + i for i in range(cfg.batch)]
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


def _to(batch: dict[str, Any], device: str) -> dict[str, Any]:
    return {k: v.to(device) for k, v in batch.items()}


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


def train(cfg: TrainConfig, out_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) ``cfg`` in ``out_dir``; returns ``{"step", "val_loss", "history"}``."""
    import torch

    from baselines.models import create_model
    from baselines.models.adapters import get_adapter
    from baselines.models.checkpoint import save_checkpoint, save_torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "train_config.json"
    want = json.loads(json.dumps(asdict(cfg)))
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != want:
        raise InputError(f"{cfg_path} holds a different configuration; use another --out")
    with atomic_write(cfg_path) as fh:
        json.dump(want, fh, indent=2)

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    adapter = get_adapter(cfg.model)
    model = create_model(cfg.model, **cfg.model_kwargs).to(cfg.device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=list(cfg.milestones), gamma=cfg.gamma
    )
    state_path = out / "last.pt"
    step = 0
    history: list[dict[str, Any]] = []
    if state_path.exists():
        state = torch.load(state_path, map_location=cfg.device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        step = int(state["step"])
        history = list(state["history"])

    val_batches = [
        make_batch(
            cfg, 10**6 + i, split="val", indices=list(range(i * cfg.batch, (i + 1) * cfg.batch))
        )
        for i in range(max(1, math.ceil(cfg.val_count / cfg.batch)))
    ]
    if not history:
        history.append({"step": 0, "val_loss": validation_loss(model, adapter, cfg, val_batches)})

    def checkpoint() -> None:
        save_torch(
            state_path,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "history": history,
            },
        )

    bar = tqdm(
        total=cfg.iters,
        initial=step,
        desc=f"train {cfg.model}",
        unit="it",
        disable=not progress,
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    try:
        while step < cfg.iters:
            batch = _to(make_batch(cfg, step), cfg.device)
            loss, parts = _loss(model(*adapter.inputs(batch)), batch, adapter, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            bar.update()
            bar.set_postfix(loss=f"{parts['total']:.4f}")
            if step % cfg.val_every == 0 or step == cfg.iters:
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
    finally:
        bar.close()
    save_checkpoint(
        model,
        out / "model.pt",
        name=cfg.model,
        meta={
            "train_config": want,
            "steps": step,
            "val_loss": history[-1]["val_loss"],
            "seconds": time.perf_counter() - t0,
        },
    )
    return {"step": step, "val_loss": history[-1]["val_loss"], "history": history}
