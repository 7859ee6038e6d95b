"""Classic (non-learned) matting baselines, registered in :mod:`baselines.methods`.

Importing this package registers, through pymatting 1.1.16 (imported lazily, on the first
prediction, with a persistent numba cache: see :mod:`baselines.classic._backend`):

==================  ===========================  ==============================================
name                pymatting function           method
==================  ===========================  ==============================================
``closed-form``     ``estimate_alpha_cf``        Levin et al., TPAMI 2008
``knn``             ``estimate_alpha_knn``       Chen et al., TPAMI 2013
``lkm``             ``estimate_alpha_lkm``       He et al., CVPR 2010 (large kernel)
``random-walk``     ``estimate_alpha_rw``        Grady et al., VIIP 2005
``learning-based``  ``estimate_alpha_lbdm``      Zheng & Kambhamettu, ICCV 2009
``shared-matting``  ``estimate_alpha_sm``        Gastal & Oliveira, Eurographics 2010
==================  ===========================  ==============================================

and the floor ``trimap-only`` (alpha 0 / 0.5 / 1 from the trimap). All six requested pymatting
methods exist in 1.1.16; none is left out. Input conversion (image ``/ 255``; trimap 0 -> 0,
128 -> 0.5, 255 -> 1, stray values to the nearest label or an error) is
:mod:`baselines.classic._inputs`.
"""

from baselines.classic._backend import numba_cache_dir
from baselines.classic._inputs import STRAY_POLICIES, trimap_to_labels
from baselines.classic.pymatting_methods import (
    ClosedFormMatting,
    KNNMatting,
    LargeKernelMatting,
    LearningBasedMatting,
    RandomWalkMatting,
    SharedMatting,
)
from baselines.classic.reference import TrimapOnly

#: registry names of the methods this package adds
CLASSIC_METHODS: tuple[str, ...] = (
    "closed-form",
    "knn",
    "lkm",
    "random-walk",
    "learning-based",
    "shared-matting",
    "trimap-only",
)

__all__ = [
    "CLASSIC_METHODS",
    "STRAY_POLICIES",
    "ClosedFormMatting",
    "KNNMatting",
    "LargeKernelMatting",
    "LearningBasedMatting",
    "RandomWalkMatting",
    "SharedMatting",
    "TrimapOnly",
    "numba_cache_dir",
    "trimap_to_labels",
]
