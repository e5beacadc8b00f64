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

import numpy as np

from .prox import block_norms


def dual_scaling(worst, beta):
    """``theta = min(1, beta / worst)``: the factor that makes a dual point whose largest block residual
    norm is ``worst`` feasible for the weight-decay constraint ``|R_j| <= beta``."""
    return 1.0 if worst <= beta else beta / worst


def block_dual_scaling(R, beta):
    """theta for the block dual residuals ``R`` (column j is ``R_j``): :func:`dual_scaling` of their largest
    norm ``max_j |R_j|_2``."""
    return dual_scaling(float(np.max(block_norms(R), initial=0.0)), beta)


def certified_gap(objective, bound, unit=1.0):
    """The relative gap ``(objective - bound) / max(1, |objective|)`` of a point with objective ``objective``
    against a dual bound ``bound`` (a certified bound on its suboptimality when ``bound`` is a valid dual
    value). ``unit`` converts a scaled problem's values to the original units, in which the gap is relative:
    ``unit (objective - bound) / max(1, unit |objective|)``."""
    return unit * (objective - bound) / max(1.0, unit * abs(objective))
