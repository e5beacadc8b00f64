r"""The dual scaling every certificate of the constrained program uses (docs/math.md section 6).

A Lagrange-dual point ``(nu, lam)`` of the group-lasso program is feasible when every block's dual residual
``R_j = M_j^T nu - X^T (S_j o lam_j)`` satisfies ``|R_j|_2 <= beta``. A point read off an iterate rarely
does; since the constraints are homogeneous in ``(nu, lam)`` and the set ``{|R_j| <= beta}`` contains the
origin, scaling both by

    theta = min(1, beta / max_j |R_j|_2)

lands in the feasible set, and the dual objective there is a valid lower bound on the optimum (for any
loss whose conjugate's domain contains ``theta nu`` - true for the squared loss always, and for the
hinge and logistic losses because their domains are intervals containing 0).
"""
from __future__ import annotations


def dual_scaling(worst, beta):
    """``theta = min(1, beta / worst)``: the factor that makes a dual point whose largest block residual
    norm is ``worst`` feasible for the weight-decay constraint ``|R_j| <= beta``."""
    return 1.0 if worst <= beta else beta / worst
