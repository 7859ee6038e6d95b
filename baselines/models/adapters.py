"""How each model family is fed and read: training batches in, alpha out, single-image inference.

An :class:`Adapter` is what the training loop and the evaluation method need to know about a
registered model without knowing its family:

* ``inputs(batch)`` -- the model's positional inputs from a batch of ``[0, 1]`` tensors
  (``image``: N x 3 x H x W; ``trimap``: N x 1 x H x W holding 0 / 128 / 255);
* ``alpha(output)`` -- N x 1 x H x W alpha in ``[0, 1]`` from the model's output;
* ``infer(model, image, trimap)`` -- the family's official test-time protocol on one 8-bit
  image (HxWx3 RGB, HxW trimap), returning HxW float alpha in ``[0, 1]``;
* ``kind`` -- ``"sdnet"`` (trained with the SDNet objective), ``"alpha"``, or
  ``"segmentation"`` (PSPNet: ``alpha`` returns the class logits; trained with cross-entropy
  on :func:`segmentation_target`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from metrics.common import lookup

__all__ = ["Adapter", "get_adapter", "ADAPTERS", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Adapter:
    kind: str
    inputs: Callable[[dict[str, Any]], tuple[Any, ...]]
    alpha: Callable[[Any], Any]
    infer: Callable[..., np.ndarray]


def _normalise(image: Any) -> Any:
    import torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image - mean) / std


def _sdnet_inputs(batch: dict[str, Any]) -> tuple[Any, ...]:
    import torch

    return (torch.cat([_normalise(batch["image"]), batch["trimap"] / 255.0], dim=1),)


def _sdnet_free_inputs(batch: dict[str, Any]) -> tuple[Any, ...]:
    return (_normalise(batch["image"]),)


def _sdnet_infer(
    model: Any, image: np.ndarray, trimap: np.ndarray | None, *, force_known: bool = True
) -> np.ndarray:
    """SDNet at test time: the whole image (the model pads to its stride and crops back)."""
    import torch

    from baselines.models.sdnet import sdnet_preprocess

    uses_trimap = model.in_channels == 4
    x = sdnet_preprocess(image, trimap if uses_trimap else None)
    dev = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        alpha = model(x.to(dev)).alpha[0, 0].double().cpu().numpy()
    alpha = np.clip(alpha, 0.0, 1.0)
    if force_known and trimap is not None:
        alpha[trimap == 0] = 0.0
        alpha[trimap == 255] = 1.0
    return alpha


def _rgb_trimap_inputs(batch: dict[str, Any]) -> tuple[Any, ...]:
    """DIM and IndexNet: ImageNet-normalised RGB + ``trimap / 255`` (4 channels)."""
    import torch

    return (torch.cat([_normalise(batch["image"]), batch["trimap"] / 255.0], dim=1),)


def _dim_alpha(out: Any) -> Any:
    """foamliu DIM returns sigmoid alpha squeezed to N x H x W."""
    return out[:, None] if out.ndim == 3 else out


def _raw_alpha(out: Any) -> Any:
    """IndexNet and the VGG16-fc6 DIM return a raw map; their test code clips it to [0, 1]."""
    return out.clamp(0.0, 1.0)


def _lazy(module: str, fn: str) -> Callable[..., np.ndarray]:
    def call(*args: Any, **kwargs: Any) -> np.ndarray:
        import importlib

        return getattr(importlib.import_module(module), fn)(*args, **kwargs)

    call.__doc__ = f"``{module}.{fn}``"
    return call


def _gca_inputs(batch: dict[str, Any]) -> tuple[Any, ...]:
    """GCA: ImageNet-normalised RGB and the 3-channel one-hot trimap (bg < 85, fg >= 170)."""
    import torch

    from baselines.models.gca import trimap_onehot

    tri = trimap_onehot(batch["trimap"].round().to(torch.uint8)).to(batch["image"])
    return (_normalise(batch["image"]), tri)


#: VOC class index of "person": the synthetic portraits' foreground class
PERSON = 15


def segmentation_target(batch: dict[str, Any]) -> Any:
    """Class map (N x H x W int64) for segmentation training.

    A batch with a ``label`` (VOC's class maps, 0-20 and 255, from a segmentation training
    set) gives that label: the real class map wins over anything derived. A matting batch
    gives ``PERSON`` where alpha >= 0.5, 0 (background) elsewhere, and 255 (ignored, like VOC's
    border) in the trimap's unknown band.
    """
    import torch

    if "label" in batch:
        return batch["label"].long()
    label = torch.where(batch["alpha"][:, 0] >= 0.5, PERSON, 0)
    return torch.where(batch["trimap"][:, 0] == 128, 255, label).long()


def _logits(out: Any) -> Any:
    """PSPNet returns ``(logits, aux_logits)`` in training mode with its aux head."""
    return out[0] if isinstance(out, tuple) else out


def _no_matting_infer(*args: Any, **kwargs: Any) -> np.ndarray:
    raise TypeError("pspnet50 is a segmentation model: use baselines.models.pspnet.pspnet_infer")


ADAPTERS: dict[str, Adapter] = {
    "pspnet50": Adapter("segmentation", _sdnet_free_inputs, _logits, _no_matting_infer),
    "gca": Adapter(
        "alpha", _gca_inputs, lambda out: out, _lazy("baselines.models.gca", "gca_infer")
    ),
    "dim": Adapter(
        "alpha", _rgb_trimap_inputs, _dim_alpha, _lazy("baselines.models.dim", "dim_infer")
    ),
    "dim-vgg16-fc6": Adapter(
        "alpha", _rgb_trimap_inputs, _raw_alpha, _lazy("baselines.models.dim", "dim_infer")
    ),
    "indexnet": Adapter(
        "alpha",
        _rgb_trimap_inputs,
        _raw_alpha,
        _lazy("baselines.models.indexnet", "indexnet_infer"),
    ),
    "sdnet": Adapter("sdnet", _sdnet_inputs, lambda out: out.alpha, _sdnet_infer),
    "sdnet-trimap-free": Adapter("sdnet", _sdnet_free_inputs, lambda out: out.alpha, _sdnet_infer),
}


def get_adapter(name: str) -> Adapter:
    """The adapter of a registered model name."""
    return lookup(ADAPTERS, name, "model adapter")
