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
