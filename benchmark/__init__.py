"""MatteBench benchmark: file I/O, name pairing, folder scoring and the ``mattebench`` CLI."""

from benchmark.io import atomic_write, read_alpha, read_grey, read_rgb, read_trimap
from benchmark.pairing import Triplet, match_triplets

__all__ = [
    "Triplet",
    "atomic_write",
    "match_triplets",
    "read_alpha",
    "read_grey",
    "read_rgb",
    "read_trimap",
]
