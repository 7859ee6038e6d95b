"""Dataset loaders (one module per family) and the dataset registry."""

from benchmark.datasets.base import (
    DATASETS,
    MattingDataset,
    Sample,
    get_dataset,
    list_datasets,
    read_name_list,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "MattingDataset",
    "Sample",
    "get_dataset",
    "list_datasets",
    "read_name_list",
    "register_dataset",
]

# importing the loader modules fills the registry
from benchmark.datasets import (  # noqa: E402, F401, I001
    aim500,
    alphamatting,
    am2k,
    comp1k,
    d646,
    folder,
    p3m,
    ppm100,
    synthetic,
    voc,
)
