"""Every convex program of cvxnn declared as a CVXPY problem (the reference oracle).

* :mod:`formulations.relu`   - the constrained ReLU program (exact with all patterns, sampled otherwise)
* :mod:`formulations.gated`  - the gated-ReLU program (no cone constraints)
* :mod:`formulations.scp`    - the random-feature l1 program (frozen first layer)
* :mod:`formulations.robust` - the l_inf-robust program
* :mod:`formulations.robust_unconstrained` - the gated and random-feature programs robustified with the
  gates fixed at the clean points
* :mod:`formulations.patterns`, :mod:`formulations.losses`, :mod:`formulations.network`,
  :mod:`formulations.datasets` - the pieces they are made of.
"""
from .lazy import lazy_public_names

#: public name -> the module that defines it; loaded on first use, so that ``import formulations`` is cheap
#: (the command line parses its arguments before NumPy and CVXPY are loaded)
_PUBLIC = {
    "ConvexProgram": "base",
    "make_program": "factory",
    "add_bias_column": "factory",
    "GatedReLUProgram": "gated",
    "LOSSES": "losses",
    "HingeLoss": "losses",
    "LogisticLoss": "losses",
    "Loss": "losses",
    "SquaredLoss": "losses",
    "get_loss": "losses",
    "GatedReLUNetwork": "network",
    "ReLUNetwork": "network",
    "perturbation_mask": "network",
    "perturbed_columns": "network",
    "enumerate_patterns": "patterns",
    "max_pattern_count": "patterns",
    "patterns_from_directions": "patterns",
    "sample_patterns": "patterns",
    "ReLUProgram": "relu",
    "RobustReLUProgram": "robust",
    "replace_collapsed_patterns": "robust_patterns",
    "sample_robust_patterns": "robust_patterns",
    "widest_margin_direction": "robust_patterns",
    "SCPProgram": "scp",
    "RobustGatedReLUProgram": "robust_unconstrained",
    "RobustSCPProgram": "robust_unconstrained",
    "FORMULATIONS": "names",
    "LOSS_NAMES": "names",
}

__all__ = list(_PUBLIC)


__getattr__, __dir__ = lazy_public_names(__name__, _PUBLIC)
