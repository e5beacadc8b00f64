"""Every convex program of cvxnn declared as a CVXPY problem (the reference oracle).

* :mod:`formulations.relu`   - the constrained ReLU program (exact with all patterns, sampled otherwise)
* :mod:`formulations.gated`  - the gated-ReLU program (no cone constraints)
* :mod:`formulations.scp`    - the random-feature l1 program (frozen first layer)
* :mod:`formulations.robust` - the l_inf-robust program
* :mod:`formulations.patterns`, :mod:`formulations.losses`, :mod:`formulations.network`,
  :mod:`formulations.datasets` - the pieces they are made of.
"""
from .base import ConvexProgram
from .factory import add_bias_column, make_program
from .gated import GatedReLUProgram
from .losses import LOSSES, HingeLoss, LogisticLoss, Loss, SquaredLoss, get_loss
from .network import GatedReLUNetwork, ReLUNetwork, perturbation_mask, perturbed_columns
from .patterns import enumerate_patterns, max_pattern_count, patterns_from_directions, sample_patterns
from .relu import ReLUProgram
from .robust import RobustReLUProgram
from .scp import SCPProgram
from .validation import FORMULATIONS

__all__ = [
    "ConvexProgram", "ReLUProgram", "GatedReLUProgram", "SCPProgram", "RobustReLUProgram",
    "make_program", "add_bias_column", "enumerate_patterns", "sample_patterns", "patterns_from_directions",
    "max_pattern_count",
    "Loss", "SquaredLoss", "HingeLoss", "LogisticLoss", "LOSSES", "get_loss",
    "ReLUNetwork", "GatedReLUNetwork", "FORMULATIONS", "perturbation_mask", "perturbed_columns",
]
