"""Channel pruning: channel specs, selection criteria (UNI, NS, CAP, DCP), the BN sparsity
sub-gradient and physical channel removal (Torch-Pruning 1.6.1 dependency graph).

Families: DIM, SDNet, IndexNet, PSPNet-50 and GCA (traced and pruned on a proxy without its
spectral-norm wrappers, :mod:`baselines.pruning.spectral`).
"""

from baselines.pruning.coupling import CouplingUnit, count_ties, coupling_units
from baselines.pruning.criteria import CRITERIA, Criterion, get_criterion, list_criteria
from baselines.pruning.sparsity import add_bn_l1_subgradient, cap_guide, context_vector
from baselines.pruning.spec import ChannelSpec
from baselines.pruning.surgery import (
    count_params,
    prune_model,
    reinitialise,
    slimming_init,
    spec_param_count,
)

__all__ = [
    "CRITERIA",
    "ChannelSpec",
    "CouplingUnit",
    "Criterion",
    "add_bn_l1_subgradient",
    "cap_guide",
    "context_vector",
    "count_params",
    "count_ties",
    "coupling_units",
    "get_criterion",
    "list_criteria",
    "prune_model",
    "reinitialise",
    "slimming_init",
    "spec_param_count",
]
