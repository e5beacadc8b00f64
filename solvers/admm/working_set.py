r"""Second-order polish of the ADMMs (and of FISTA on the gated program) on a working set of patterns.

An ADMM iterate tells which patterns carry weight long before its residuals are small. Restricted to
those patterns (the working set ``W``), the program is small, and an interior point solves it to a
certified gap in a few dozen Newton steps, however degenerate the cones are: the structured one of
:mod:`solvers.ipm` for the squared loss, the dense one of :mod:`solvers.ipm_dense` for the hinge and the
logistic loss. Its
point, with zero blocks on the other patterns, is feasible for the full program. A lower bound for the
full program comes from the interior point's dual vector ``nu`` (the loss gradient's convention, already
scaled so that the blocks of ``W`` are dual feasible) by pricing every pattern outside ``W``, both of its
blocks (``M_j = +-D_j o X``):

.. math::
    \rho_j = \min_{\lambda \ge 0} |M_j^T \nu - X^T (S_j \circ \lambda)|_2 \quad\text{(NNLS, d x n)},

and ``theta = min(1, beta / max_j rho_j)`` makes ``(theta nu, theta lambda)`` dual feasible for every
block (the dual constraints are homogeneous, and the conjugate's domain - the hinge's box - is
star-shaped about 0), so the loss's dual value ``-l^*(theta nu)`` (squared:
``-1/2 theta^2 |nu|^2 - theta nu^T y``; hinge: ``theta 1^T alpha`` with ``nu = -alpha o y``) is a lower
bound on the full program's optimum.

Patterns priced above beta would lower the objective: they join ``W`` (the most violating first) and the
interior point runs again - column generation, a few rounds at most.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.optimize import nnls

from ..core.dual import certified_gap, dual_scaling

__all__ = ["working_set_polish", "scheduled_attempt", "price_patterns", "WorkingSetSchedule", "patterns_in_use",
           "LOSSES"]

#: the losses with a second-order inner solver
LOSSES = ("squared", "hinge", "logistic")

#: a pattern enters the working set when its price exceeds beta by more than this (relative)
PRICE_TOL = 1e-9


def price_patterns(program, nu, patterns, deadline=None):
    r"""``rho_j`` of the module docstring for the ``patterns`` (column indices of ``program.D``) at the dual
    vector ``nu`` (original units): the larger of the prices of the pattern's two blocks. A block whose
    gradient ``|M_j^T nu|`` is at most beta needs no multipliers (price = that norm); the gated program has
    no cone rows, one block per gate, and its price is that norm. Patterns not reached before ``deadline``
    are priced ``inf`` (the bound is then not claimed)."""
    X, D = program.X, program.D[:, patterns]
    G = X.T @ (D * nu[:, None])  # M_j^T nu of the v block; the w block's is -G_j
    prices = np.linalg.norm(G, axis=0)
    beta = program.beta_value
    if _gated(program):
        return prices
    for k in np.flatnonzero(prices > beta):
        if deadline is not None and time.perf_counter() > deadline:
            prices[k:] = np.where(prices[k:] > beta, np.inf, prices[k:])
            break
        cone_rows = ((2.0 * D[:, k] - 1.0)[:, None] * X).T  # d x n: X^T (S_j o lam) = cone_rows @ lam
        prices[k] = max(nnls(cone_rows, sign * G[:, k], maxiter=50 * cone_rows.shape[1])[1] for sign in (1.0, -1.0))
    return prices


class WorkingSetSchedule:
    """When an ADMM tries the working-set polish: after ``after`` iterations, then each time after 4x as
    many as at the last attempt, and once at the end of a run that nothing certified (``final``)."""

    def __init__(self, after):
        self.next_it = after

    def due(self, it, final=False):
        if not final and it < self.next_it:
            return False
        self.next_it = 4 * max(it, 1)
        return True

    @staticmethod
    def deadline(now, t_start, time_limit=None):
        """The end of an attempt started at ``now``: twice the run so far, at least 10 s (an interior point
        cut short is wasted, and at the small beta where the first-order iterations stall it is the
        faster finish), and never past the time limit (None: none)."""
        end = now + max(10.0, 2.0 * (now - t_start))
        return end if time_limit is None else min(end, t_start + time_limit)


def patterns_in_use(B, P):
    """The patterns (column indices of D) whose v or w block is nonzero in the d x 2P iterate ``B``."""
    used = np.any(B != 0, axis=0)
    return np.flatnonzero(used[:P] | used[P:])


def scheduled_attempt(program, patterns, tol_gap, feas_abs, t_start, time_limit, info, free_patterns=None):
    """One attempt of :func:`working_set_polish` inside a solver run: counted and timed in ``info``
    (``working_set_attempts``, ``working_set_time_s``, and ``working_set_patterns`` when certified), with
    the budget of :meth:`WorkingSetSchedule.deadline`. Returns None (no pattern in use, or no bound), else
    the polish's dict with ``certified``: a gap within ``tol_gap`` at a cone violation within ``feas_abs``
    (original units)."""
    if patterns.size == 0:
        return None
    info["working_set_attempts"] = info.get("working_set_attempts", 0) + 1
    start = time.perf_counter()
    polished = working_set_polish(program, patterns, tol_gap,
                                  WorkingSetSchedule.deadline(start, t_start, time_limit),
                                  free_patterns=free_patterns)
    info["working_set_time_s"] = info.get("working_set_time_s", 0.0) + time.perf_counter() - start
    if polished is None or polished["dual_bound"] is None:
        return None
    polished["certified"] = polished["violation"] <= feas_abs and polished["gap"] <= tol_gap
    if polished["certified"]:
        info["working_set_patterns"] = int(polished["patterns"].size)
    return polished


def _gated(program):
    from formulations.gated import GatedReLUProgram
    return isinstance(program, GatedReLUProgram)


def _robust(program):
    from formulations.robust import RobustReLUProgram
    return isinstance(program, RobustReLUProgram)


def _inner_solver(loss, robust=False):
    if robust:
        from ..ipm_robust import ipm_robust
        return ipm_robust
    if loss == "squared":
        from ..ipm import ipm
        return ipm
    from ..ipm_dense import ipm_dense
    return ipm_dense


def working_set_polish(program, patterns, tol_gap, deadline=None, max_rounds=4, free_patterns=None):
    """Solve the constrained ``program`` (squared, hinge or logistic loss; the gated one with the hinge or
    logistic loss; the robust one with the hinge loss) on the working set ``patterns`` by the interior point
    and certify the result on the full program (module docstring); patterns priced above beta join and the
    interior point runs again, up to ``max_rounds`` times. ``free_patterns``: robust patterns whose cone is
    ``{0}`` (their blocks are zero whatever the multipliers), left out of the pricing.

    Returns None when no round produced a point, else a dict with ``weights`` (full program, original
    units), ``objective``, ``violation``, ``dual_bound`` (None when pricing did not finish), ``gap``
    (certified relative gap, None without a bound), ``patterns`` (the final working set), ``rounds`` and
    ``ipm_iterations``."""
    loss, gated, robust = program.loss.name, _gated(program), _robust(program)
    if loss not in LOSSES or (gated and loss == "squared") or (robust and loss != "hinge"):
        raise ValueError(f"the working-set polish has no inner solver for the {loss} loss"
                         f"{' on the gated program' if gated else ' on the robust program' if robust else ''}")
    inner = _inner_solver(loss, robust)
    working = np.unique(np.asarray(patterns, dtype=int))
    P = program.D.shape[1]
    beta = program.beta_value
    best, iterations = None, 0
    for round_ in range(1, max_rounds + 1):
        remaining = None if deadline is None else deadline - time.perf_counter()
        if working.size == 0 or (remaining is not None and remaining <= 0):
            break
        sub = _restricted(program, working, gated, robust)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the sub-program's status is judged here, on the full program
            result = inner(sub, tol_gap=0.1 * tol_gap, time_limit=remaining)
        iterations += int(result.iterations or 0)
        if result.weights is None:
            break
        weights = {key: np.zeros((program.X.shape[1], P)) for key in (("U",) if gated else ("V", "W"))}
        for key in weights:
            weights[key][:, working] = result.weights[key]
        outside = np.setdiff1d(np.arange(P), working)
        prices, bound = (_price_robust(program, result, working, outside, deadline, free_patterns) if robust
                         else _price(program, result, outside, deadline))
        objective = program.objective(weights)
        candidate = {"weights": weights, "objective": objective, "violation": program.max_violation(weights),
                     "dual_bound": None, "gap": None, "patterns": working, "rounds": round_,
                     "ipm_iterations": iterations}
        if bound is not None:
            candidate.update(dual_bound=bound, gap=certified_gap(objective, bound))
        if best is None or _better(candidate, best):
            best = candidate
        if candidate["gap"] is not None and candidate["gap"] <= tol_gap:
            break
        if prices is None:
            break
        entering = outside[np.argsort(-prices)][: max(5, working.size)]
        entering = entering[prices[np.searchsorted(outside, entering)] > beta * (1.0 + PRICE_TOL)]
        if entering.size == 0:
            break
        working = np.union1d(working, entering)
    if best is not None:
        best["ipm_iterations"] = iterations
    return best


def _restricted(program, working, gated, robust):
    """The program on the patterns ``working`` (the same data, loss and beta; and epsilon when robust)."""
    from formulations import make_program
    from formulations.robust import RobustReLUProgram
    if robust:
        return RobustReLUProgram(program.X, program.y, program.D[:, working], "hinge", program.beta_value,
                                 program.epsilon_value, bias=program.bias, check_input=False)
    return make_program("gated" if gated else "sampled", program.X, program.y, program.loss.name,
                        program.beta_value, D=program.D[:, working])


def _price(program, result, outside, deadline):
    """Prices of the patterns ``outside`` at the interior point's dual vector and the bound of the module
    docstring, or (None, None) without a dual vector ((prices, None) when pricing did not finish)."""
    nu = result.info.get("dual_vector")
    if nu is None:
        return None, None
    prices = price_patterns(program, nu, outside, deadline)
    if not (np.all(np.isfinite(prices)) and result.info.get("dual_bound") is not None):
        return prices, None
    theta = dual_scaling(float(np.max(prices, initial=0.0)), program.beta_value)
    return prices, program.loss.dual_value(theta * nu, program.y)


def _price_robust(program, result, working, outside, deadline, free_patterns):
    r"""The robust program's version of :func:`_price`: the working set's multipliers ``(alpha, U,
    lambda)`` (zero cone multipliers elsewhere), every block left dual infeasible re-priced by NNLS
    (:func:`~solvers.admm.robust_polish.restore_dual_feasibility`), the prices ``max`` of each outside
    pattern's two block norms, and the bound ``t sum alpha`` of
    :func:`~solvers.admm.robust_polish.robust_dual_bound` - valid whatever pricing reached before
    ``deadline``."""
    from .robust_polish import restore_dual_feasibility, robust_block_norms, robust_dual_bound
    multipliers = result.info.get("multipliers")
    if multipliers is None:
        return None, None
    alpha, U, lam_working = multipliers
    P, m = program.n_patterns, working.size
    lam = np.zeros((program.n, 2 * P))
    lam[:, working], lam[:, P + working] = lam_working[:, :m], lam_working[:, m:]
    free = np.zeros(2 * P, dtype=bool)
    if free_patterns is not None:
        free[free_patterns] = free[P + np.asarray(free_patterns, dtype=int)] = True
    lam = restore_dual_feasibility(program, alpha, U, lam, free, deadline=deadline)
    norms = np.where(free, 0.0, robust_block_norms(program, alpha, U, lam))
    bound, _ = robust_dual_bound(program, alpha, U, lam, free)
    return np.maximum(norms[outside], norms[P + outside]), bound


def _better(candidate, best):
    """The certified candidate with the smaller gap; else the smaller objective."""
    if candidate["gap"] is not None and best["gap"] is not None:
        return candidate["gap"] < best["gap"]
    if candidate["gap"] is not None:
        return True
    return best["gap"] is None and candidate["objective"] < best["objective"]
