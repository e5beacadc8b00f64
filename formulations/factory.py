"""One entry point that turns data and a formulation name into a program object."""
from __future__ import annotations

import numpy as np

from .gated import GatedReLUProgram
from .losses import get_loss
from .names import ROBUST_FORMULATIONS
from .patterns import enumerate_patterns, patterns_from_directions, sample_patterns
from .relu import ReLUProgram
from .robust import RobustReLUProgram
from .robust_unconstrained import RobustGatedReLUProgram, RobustSCPProgram
from .scp import SCPProgram
from .validation import (check_beta, check_directions, check_epsilon, check_flag, check_formulation, check_matrix,
                         check_patterns, check_positive_int, check_seed, check_vector)

DEFAULT_SAMPLES = 100


def add_bias_column(X, check_input=True):
    """Return ``[X, 1]``: a new array, X with a column of ones appended (the bias feature)."""
    if check_input:
        X = check_matrix(X, "X", copy=False)
    return np.hstack([X, np.ones((X.shape[0], 1))])


def make_program(formulation, X, y, loss="squared", beta=1.0, *, D=None, H=None, n_patterns=None,
                 seed=None, epsilon=0.0, bias=False, max_patterns=5000):
    """Build the program ``formulation`` on data (X, y).

    * ``exact``   - constrained program on every pattern of X (exact enumeration, refused above
      ``max_patterns``);
    * ``sampled`` - constrained program on ``D`` if given, else on patterns of ``n_patterns`` Gaussian
      directions drawn with ``seed`` (default 100);
    * ``gated``   - gated-ReLU program on the same kind of patterns (gates ``H`` kept for prediction);
    * ``scp``     - random-feature l1 program on directions ``H`` if given, else ``n_patterns`` Gaussian
      directions;
    * ``robust``  - robust program of radius ``epsilon`` on ``D`` or sampled patterns;
    * ``robust_gated`` / ``robust_scp`` - the gated / random-feature program with the gates (activations)
      fixed at the clean points and the linear part robustified at radius ``epsilon``
      (:mod:`formulations.robust_unconstrained`), on the same kinds of patterns / directions.

    ``bias=True`` appends a ones column to X (never perturbed by the robust programs).
    """
    check_formulation(formulation)
    seed = check_seed(seed)
    bias = check_flag(bias, "bias")
    robust = formulation in ROBUST_FORMULATIONS
    if not robust and epsilon != 0.0:
        raise ValueError(f"epsilon applies to the robust formulations only; got epsilon={epsilon!r} for "
                         f"{formulation!r}")
    # the one validation pass: X and y are checked and copied here, and every constructor below trusts them
    X = add_bias_column(check_matrix(X, "X", copy=False), check_input=False) if bias else check_matrix(X, "X")
    n, d = X.shape
    # fail on bad targets / loss / beta / epsilon before any (possibly long) pattern enumeration
    y = get_loss(loss).validate_labels(check_vector(y, n))
    check_beta(beta)
    if robust:
        check_epsilon(epsilon)
    if n_patterns is not None:
        n_patterns = check_positive_int(n_patterns, "the number of patterns")
    if formulation == "exact":
        if D is not None:
            raise ValueError("the exact formulation enumerates its own patterns; "
                             "use --formulation sampled to solve on the given D")
        D, H = enumerate_patterns(X, max_patterns=max_patterns, check_input=False)
        return ReLUProgram(X, y, D, loss, beta, formulation="exact", H=H, check_input=False)
    if formulation in ("scp", "robust_scp"):
        if H is None:
            rng = np.random.default_rng(seed)
            H = rng.standard_normal((n_patterns or DEFAULT_SAMPLES, d)).T
        if formulation == "robust_scp":
            return RobustSCPProgram(X, y, check_directions(H, d), loss, beta, epsilon=epsilon, bias=bias,
                                    check_input=False)
        return SCPProgram(X, y, check_directions(H, d), loss, beta, check_input=False)
    if D is not None:
        D = check_patterns(D, n)
        if H is not None:
            H = check_directions(H, d)
            if H.shape[1] != D.shape[1] or not np.array_equal(X @ H >= 0, D > 0):
                H = None  # directions that do not produce D exactly are not gates for D
    elif H is not None:
        D, H = patterns_from_directions(X, check_directions(H, d))
    else:
        D, H = sample_patterns(X, n_patterns or DEFAULT_SAMPLES, seed=seed, check_input=False)
    if formulation == "sampled":
        return ReLUProgram(X, y, D, loss, beta, formulation="sampled", H=H, check_input=False)
    if formulation == "gated":
        return GatedReLUProgram(X, y, D, loss, beta, H=H, check_input=False)
    if formulation == "robust_gated":
        return RobustGatedReLUProgram(X, y, D, loss, beta, epsilon=epsilon, bias=bias, H=H, check_input=False)
    return RobustReLUProgram(X, y, D, loss, beta, epsilon=epsilon, bias=bias, H=H, check_input=False)
