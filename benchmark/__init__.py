"""MatteBench benchmark: datasets, composition, the evaluation runner, the training and pruning
pipelines, reproduce and the ``mattebench`` CLI (file reading and atomic writes are the shared
plumbing of :mod:`metrics.common`)."""

from benchmark.pairing import Triplet, match_triplets

__all__ = ["Triplet", "match_triplets"]
