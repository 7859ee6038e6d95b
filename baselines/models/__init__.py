"""Neural matting and segmentation models: the registry, checkpoint I/O, architectures.

Build one with :func:`baselines.create_model` (it also narrows and rebuilds pruned students).
"""

from baselines.models.checkpoint import load_checkpoint, save_checkpoint
from baselines.models.registry import MODELS, get_entry, list_models, register_model

# importing the architecture modules fills the registry
from baselines.models import dim, gca, indexnet, pspnet, sdnet  # noqa: E402,F401  isort: skip

__all__ = [
    "MODELS",
    "get_entry",
    "list_models",
    "load_checkpoint",
    "register_model",
    "save_checkpoint",
]
