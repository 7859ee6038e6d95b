"""Registered neural models as evaluation methods: ``mattebench eval --method model:NAME``.

``get_method("model:gca", checkpoint=PATH)`` builds the model through the registry, loads the
checkpoint strictly and predicts with the family's official test-time protocol (its adapter's
``infer``). The runner forces known regions itself (as a recorded option), so the protocol's
own forcing is switched off here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.methods import MattingMethod, register_prefix
from metrics import InputError

__all__ = ["NeuralMatting", "PREFIX"]

PREFIX = "model:"


class NeuralMatting(MattingMethod):
    """A registered matting model with its checkpoint, as a method.

    Parameters
    ----------
    model
        Registry name (``baselines.models.list_models()``).
    checkpoint
        Weights to load (official formats or ours). Required unless ``allow_random`` -- scoring
        an untrained network is only useful as a smoke test.
    device
        ``"cpu"`` or ``"cuda"``.
    threads
        torch CPU threads (default: leave torch's setting).
    tile, overlap
        With ``tile``, images larger than ``tile x tile`` run window by window with bounded
        memory (:mod:`baselines.models.tiling`; an approximation at the seams).
    """

    description = "a registered neural model with its checkpoint (official test protocol)"

    def __init__(
        self,
        model: str,
        *,
        checkpoint: str | None = None,
        device: str = "cpu",
        threads: int | None = None,
        allow_random: bool = False,
        tile: int | None = None,
        overlap: int = 64,
        **model_kwargs: Any,
    ) -> None:
        import torch

        from baselines.models import MODELS
        from baselines.models.adapters import get_adapter
        from baselines.zoo import create_model

        if checkpoint is None and not allow_random:
            raise InputError(
                f"{PREFIX}{model} needs a checkpoint: --method-arg {PREFIX}{model} checkpoint=PATH "
                "(allow_random=true scores an untrained network, for smoke tests only)"
            )
        if model in MODELS and MODELS[model].task != "matting":
            raise InputError(f"{model} is a {MODELS[model].task} model, not a matting method")
        if threads:
            torch.set_num_threads(int(threads))
        self.model_name = model
        self.checkpoint = checkpoint
        self.device = device
        self.model_kwargs = model_kwargs
        self.tile, self.overlap = tile, overlap
        self.name = f"{PREFIX}{model}"  # type: ignore[misc]
        self.adapter = get_adapter(model)
        self.net = create_model(model, checkpoint=checkpoint, **model_kwargs).to(device).eval()

    def _predict(self, image: np.ndarray, trimap: np.ndarray | None) -> np.ndarray:
        if self.tile:
            from baselines.models.tiling import tiled_infer

            return tiled_infer(
                self.adapter.infer, self.net, image, trimap,
                tile=self.tile, overlap=self.overlap, force_known=False,
            )  # fmt: skip
        return self.adapter.infer(self.net, image, trimap, force_known=False)

    def config(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "model": self.model_name,
            "checkpoint": self.checkpoint,
            "device": self.device,
            "model_kwargs": self.model_kwargs,
            "tile": self.tile,
            "overlap": self.overlap if self.tile else None,
        }


register_prefix(PREFIX, NeuralMatting)
