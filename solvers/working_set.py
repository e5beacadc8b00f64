r"""Working sets of patterns: a second-order polish for the first-order solvers, and a solver of its own.

An ADMM iterate tells which patterns carry weight long before its residuals are small. Restricted to
those patterns (the working set ``W``), the program is small, and an interior point solves it to a
certified gap in a few dozen Newton steps, however degenerate the cones are: the structured one of
:mod:`solvers.ipm` for the squared loss, the dense one of :mod:`solvers.ipm_dense` for the hinge and the
logistic loss, :mod:`solvers.ipm_robust` for the robust hinge program and :mod:`solvers.ipm_robust_losses` for
the robust squared and logistic programs. Its point, with zero blocks on the
other patterns, is feasible for the full program. A lower bound for the full program comes from the
interior point's dual vector ``nu`` (the loss gradient's convention, already scaled so that the blocks of
``W`` are dual feasible) by pricing every pattern outside ``W``, both of its blocks (``M_j = +-D_j o X``):

.. math::
    \rho_j = \min_{\lambda \ge 0} |M_j^T \nu - X^T (S_j \circ \lambda)|_2
    \quad\text{(NNLS, d x n:}\ :func:`~solvers.core.dual.cone_residual`; past 200 features an upper bound
    by :func:`~solvers.core.dual.cone_residuals`),

and ``theta = min(1, beta / max_j rho_j)`` makes ``(theta nu, theta lambda)`` dual feasible for every
block (the dual constraints are homogeneous, and the conjugate's domain - the hinge's box - is
star-shaped about 0), so the loss's dual value ``-l^*(theta nu)`` (squared:
``-1/2 theta^2 |nu|^2 - theta nu^T y``; hinge: ``theta 1^T alpha`` with ``nu = -alpha o y``) is a lower
bound on the full program's optimum. The robust program prices with its own dual point (docs/math.md 7.1, 7.2).

Patterns priced above beta would lower the objective: they join ``W`` (the most violating first, as many
as ``W`` holds, at least 5) and the interior point runs again - column generation. The dense interior point
prices early: once its gap on ``W`` is below ``EARLY_PRICE_GAP``, a violator ends the round there
(:class:`_EarlyPricing`). The first-order
solvers call :func:`scheduled_attempt` on their iterate's patterns (a few rounds); :func:`working_set`
runs the loop alone from a screen of the patterns at the zero model (docs/math.md 6.9). On wide data, where
the interior point's Newton matrix on W would exceed ``IPM_MAX_NEWTON_SIZE``, the round is solved by the
ADMM and every pattern, W included, is priced at its dual vector (:func:`_price_admm`).
"""
from __future__ import annotations

import time
import warnings

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .core.dual import NNLS_MAX_FEATURES, certified_gap, cone_residual, cone_residuals, dual_scaling
from .core.heap import retains_heap
from .core.options import check_int, check_positive, keyword_signature, settings_from_options

__all__ = ["working_set", "WorkingSetSettings", "working_set_polish", "scheduled_attempt", "price_patterns",
           "WorkingSetSchedule", "patterns_in_use", "screen_patterns", "subsample_patterns", "LOSSES"]

#: the losses with a second-order inner solver
LOSSES = ("squared", "hinge", "logistic")

#: a pattern enters the working set when its price exceeds beta by more than this (relative)
PRICE_TOL = 1e-9
#: once some pattern violates, the patterns priced above this share of beta join with it (the most
#: violating first): a pattern just inside often enters the optimum once the others have, and each round
#: costs an interior-point solve
NEAR_PRICE = 0.9
#: a round's dense interior point prices the patterns outside the working set once its certified gap on the
#: set falls below this; if some pattern violates then, the round ends there and the violators join (the
#: Newton steps from there to the round's tolerance would be spent on a point about to be left)
EARLY_PRICE_GAP = 1e-2


def price_patterns(program, nu, patterns, deadline=None):
    r"""``rho_j`` of the module docstring for the ``patterns`` (column indices of ``program.D``) at the dual
    vector ``nu`` (original units): the larger of the prices of the pattern's two blocks. Prices are exact
    above ``NEAR_PRICE * beta``; below it any value there is returned (a block whose gradient ``|M_j^T nu|``
    is that small needs no multipliers: its price is that norm). With more than ``NNLS_MAX_FEATURES``
    features they are upper bounds, as close as the projected gradient of :func:`_price_wide` came. The
    gated program has no cone rows, one block per gate, and its price is that norm. Patterns not reached
    before ``deadline`` are priced ``inf`` (the bound is then not claimed); on wide data they keep the
    upper bound reached."""
    X, D = program.X, program.D[:, patterns]
    G = X.T @ (D * nu[:, None])  # M_j^T nu of the v block; the w block's is -G_j
    prices = np.linalg.norm(G, axis=0)
    beta = program.beta_value
    if _gated(program):
        return prices
    if X.shape[1] > NNLS_MAX_FEATURES:
        return _price_wide(X, D, G, prices, NEAR_PRICE * beta, deadline)
    for k in np.flatnonzero(prices > NEAR_PRICE * beta):
        if deadline is not None and time.perf_counter() > deadline:
            prices[k:] = np.where(prices[k:] > beta, np.inf, prices[k:])
            break
        cone_rows = (2.0 * D[:, k] - 1.0)[:, None] * X  # n x d: X^T (S_j o lam) = cone_rows^T lam
        prices[k] = max(cone_residual(cone_rows, sign * G[:, k], target=NEAR_PRICE * beta)
                        for sign in (1.0, -1.0))
    return prices


def _price_wide(X, D, G, prices, target, deadline):
    """:func:`price_patterns` on wide data: the cone residuals of every block priced above ``target`` by the
    batched projected gradient of :func:`~solvers.core.dual.cone_residuals`, which stops a block at
    ``target``; a block cut short by ``deadline`` keeps the residual it reached (an upper bound on its
    price, so the bound stays valid)."""
    wide = np.flatnonzero(prices > target)
    if wide.size == 0:
        return prices
    signs = 2.0 * D[:, wide] - 1.0
    values, _ = cone_residuals(X, np.hstack([signs, signs]), np.hstack([G[:, wide], -G[:, wide]]),
                               target=target, deadline=deadline)
    prices[wide] = np.maximum(values[:wide.size], values[wide.size:])
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


#: the largest Newton matrix (d |W| for both interior points: the structured one's on tall data, the dense
#: one's paired system) of an interior point on a working set W of the constrained program; past it (wide
#: data: a Cholesky of that size per Newton step, about 1.8e11 flops and four 0.5 GB matrices at 8192) the
#: working set is solved by the ADMM instead, whose iterations cost O(n d |W|) on its matrix-free route but
#: which seldom reaches a small gap at the small beta users train with (docs/benchmarks.md). The limit holds on
#: the n x n routes too: late in a run they hand the solve to the d |W| system
IPM_MAX_NEWTON_SIZE = 8192


#: the Newton steps a round's interior point may take: the rounds stop on their certified gap or on the working
#: set's time limit, and the interior points' own default of 100 cut the hinge short at n = 4000 (random-4000 on
#: all 100 patterns: gap 3.9e-4 after 100 steps)
INNER_MAX_ITER = 500


def _admm_inner(program, tol_gap, time_limit):
    """The ADMM on a working-set program (its own working-set polish off), for wide data; its dual vector
    (``info["dual_vector"]``) prices the patterns. Its final projections may run 10% past the limit it is
    given (:func:`solvers.admm.schedules.projection_deadline`), so it is given ``time_limit / 1.1``."""
    from .admm import admm
    return admm(program, tol_gap=tol_gap, time_limit=None if time_limit is None else time_limit / 1.1,
                working_set=False)


def _inner_solver(loss, robust=False, d=0, size=0):
    """The inner solver for a working set of ``size`` patterns in d features (d = 0: no choice by size)."""
    if not robust and d * size > IPM_MAX_NEWTON_SIZE:
        return _admm_inner
    if robust and loss != "hinge":
        from .ipm_robust_losses import ipm_robust_losses
        return ipm_robust_losses
    if robust:
        from .ipm_robust import ipm_robust
        return ipm_robust
    if loss == "squared":
        from .ipm import ipm
        return ipm
    from .ipm_dense import ipm_dense
    return ipm_dense


class _EarlyPricing:
    """The callback of a round's dense interior point (:class:`~solvers.core.cones.IterateReport`): once the
    certified gap on the working set is below ``EARLY_PRICE_GAP``, price the patterns ``outside`` at the dual
    point of that gap (dual feasible on the set, so the prices and the bound are those of :func:`_price_at`),
    once per round. If a pattern is priced above beta, keep the prices and the bound and end the round
    (StopIteration); else the interior point goes on to the round's tolerance."""

    def __init__(self, program, outside, deadline):
        self.program, self.outside, self.deadline = program, outside, deadline
        self.prices = self.bound = None
        self.done, self.priced = outside.size == 0, 0

    def __call__(self, report):
        if self.done or report.gap is None or report.gap > EARLY_PRICE_GAP or report.dual_vector is None:
            return
        self.done, self.priced = True, self.outside.size
        prices, bound = _price_at(self.program, report.dual_vector, self.outside, self.deadline)
        if bound is not None and np.any(prices > self.program.beta_value * (1.0 + PRICE_TOL)):
            self.prices, self.bound = prices, bound
            raise StopIteration


def _takes_callback(inner):
    from .ipm_dense import ipm_dense
    return inner is ipm_dense


def working_set_polish(program, patterns, tol_gap, deadline=None, max_rounds=4, free_patterns=None, on_round=None):
    """Solve the constrained ``program`` (squared, hinge or logistic loss; the gated one with the hinge or
    logistic loss; the robust one with any of the three) on the working set ``patterns`` by the interior point
    and certify the result on the full program (module docstring); patterns priced above beta join and the
    interior point runs again, up to ``max_rounds`` times. ``free_patterns``: robust patterns whose cone is
    ``{0}`` (their blocks are zero whatever the multipliers), left out of the pricing. ``on_round``: called
    with each round's dict (for a log).

    Returns None when no round produced a point, else a dict with ``weights`` (full program, original
    units), ``objective``, ``violation``, ``dual_bound`` (None when pricing did not finish), ``gap``
    (certified relative gap, None without a bound), ``patterns`` (the final working set), ``rounds`` and
    ``ipm_iterations``."""
    loss, gated, robust = program.loss.name, _gated(program), _robust(program)
    if loss not in LOSSES or (gated and loss == "squared"):
        raise ValueError(f"the working-set polish has no inner solver for the {loss} loss"
                         f"{' on the gated program' if gated else ' on the robust program' if robust else ''}")
    working = np.unique(np.asarray(patterns, dtype=int))
    P = program.D.shape[1]
    beta = program.beta_value
    best, iterations, priced = None, 0, 0
    for round_ in range(1, max_rounds + 1):
        remaining = None if deadline is None else deadline - time.perf_counter()
        if working.size == 0 or (remaining is not None and remaining <= 0):
            break
        sub = _restricted(program, working, gated, robust)
        inner = _inner_solver(loss, robust, 0 if gated else program.X.shape[1], working.size)
        outside = np.setdiff1d(np.arange(P), working)
        steps = {} if inner is _admm_inner else {"max_iter": INNER_MAX_ITER}
        early = _EarlyPricing(program, outside, deadline) if _takes_callback(inner) else None
        if early is not None:
            steps["callback"] = early
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the sub-program's status is judged here, on the full program
            result = inner(sub, tol_gap=0.1 * tol_gap, time_limit=remaining, **steps)
        iterations += int(result.iterations or 0)
        if result.weights is None:
            break
        weights = {key: np.zeros((program.X.shape[1], P)) for key in (("U",) if gated else ("V", "W"))}
        for key in weights:
            weights[key][:, working] = result.weights[key]
        priced += 0 if early is None else early.priced
        if early is not None and early.prices is not None:
            prices, bound = early.prices, early.bound
        elif robust:
            priced += outside.size
            prices, bound = _price_robust(program, result, working, outside, deadline, free_patterns)
        elif inner is _admm_inner:
            priced += P
            prices, bound = _price_admm(program, result, weights, outside, deadline)
        else:
            priced += outside.size
            prices, bound = _price(program, result, outside, deadline)
        objective = program.objective(weights)
        candidate = {"weights": weights, "objective": objective, "violation": program.max_violation(weights),
                     "dual_bound": None, "gap": None, "patterns": working, "rounds": round_,
                     "ipm_iterations": iterations}
        if bound is not None:
            candidate.update(dual_bound=bound, gap=certified_gap(objective, bound))
        if on_round is not None:
            on_round(candidate)
        if best is None or _better(candidate, best):
            best = candidate
        if candidate["gap"] is not None and candidate["gap"] <= tol_gap:
            break
        if prices is None:
            break
        if not np.any(prices > beta * (1.0 + PRICE_TOL)):
            break
        working = np.union1d(working, _entering(outside, prices, working.size, P, beta))
    if best is not None:
        best["ipm_iterations"], best["priced"] = iterations, priced
    return best


def _entering(outside, prices, size, P, beta):
    """The patterns that join a working set of ``size`` of the ``P`` patterns, from those ``outside`` it
    with their ``prices``: the ones priced above ``NEAR_PRICE * beta``, the most violating first, as many
    as the set holds (at least 5) - unless that would bring it past half of the patterns. Then the
    program is not sparse in patterns, the next doubling round would cost about as much as the full
    set's, and every one of them joins."""
    close = prices > NEAR_PRICE * beta
    near = outside[close]
    if size + min(near.size, max(5, size)) > P / 2:
        return near
    return near[np.argsort(-prices[close], kind="stable")][: max(5, size)]


def _restricted(program, working, gated, robust):
    """The program on the patterns ``working`` (the same data, loss and beta; and epsilon when robust)."""
    from formulations import make_program
    from formulations.robust import RobustReLUProgram
    if robust:
        return RobustReLUProgram(program.X, program.y, program.D[:, working], program.loss.name,
                                 program.beta_value, program.epsilon_value, bias=program.bias, check_input=False)
    return make_program("gated" if gated else "sampled", program.X, program.y, program.loss.name,
                        program.beta_value, D=program.D[:, working])


def _price(program, result, outside, deadline):
    """Prices of the patterns ``outside`` at the interior point's dual vector and the bound of the module
    docstring, or (None, None) without a dual vector ((prices, None) when pricing did not finish)."""
    nu = result.info.get("dual_vector")
    if nu is None:
        return None, None
    prices, bound = _price_at(program, nu, outside, deadline)
    return prices, None if result.info.get("dual_bound") is None else bound


def _price_at(program, nu, patterns, deadline):
    """Prices of ``patterns`` at the dual vector ``nu`` and the bound ``-l^*(theta nu)`` with theta from the
    largest of them (None when pricing did not finish)."""
    prices = price_patterns(program, nu, patterns, deadline)
    if not np.all(np.isfinite(prices)):
        return prices, None
    theta = dual_scaling(float(np.max(prices, initial=0.0)), program.beta_value)
    return prices, program.loss.dual_value(theta * nu, program.y)


def _price_admm(program, result, weights, outside, deadline):
    """The ADMM's point is priced on every pattern (its dual point is feasible on the working set only to
    the ADMM's accuracy): at the loss gradient of the returned point for the smooth losses (the optimal
    dual vector is that gradient at the optimum), at the ADMM's hinge multiplier for the hinge."""
    if program.loss.name == "hinge":
        nu = result.info.get("dual_vector")
        if nu is None:
            return None, None
    else:
        nu = program.loss.gradient(program.predictions(weights), program.y)
    prices, bound = _price_at(program, nu, np.arange(program.n_patterns), deadline)
    return prices[outside], bound


def _price_robust(program, result, working, outside, deadline, free_patterns):
    r"""The robust program's version of :func:`_price`: the working set's multipliers ``(alpha, U,
    lambda)`` (zero cone multipliers elsewhere), every block left dual infeasible re-priced by NNLS
    (:func:`~solvers.admm.robust_polish.restore_dual_feasibility`), the prices ``max`` of each outside
    pattern's two block norms, and the bound ``t sum alpha`` of
    :func:`~solvers.admm.robust_polish.robust_dual_bound` - valid whatever pricing reached before
    ``deadline``. The squared and logistic losses' multipliers are ``(nu, q, U, lambda)``, priced by
    :func:`~solvers.robust_losses_dual.price_working_set`."""
    from .admm.robust_polish import restore_dual_feasibility, robust_block_norms, robust_dual_bound
    multipliers = result.info.get("multipliers")
    if multipliers is None:
        return None, None
    if program.loss.name != "hinge":
        from .robust_losses_dual import price_working_set
        return price_working_set(program, multipliers, working, outside, deadline, free_patterns)
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


# ------------------------------------------------------------------------------------------------------
# the working-set solver
# ------------------------------------------------------------------------------------------------------
@dataclass
class WorkingSetSettings:
    """The options of :func:`working_set` with their defaults.

    tol_gap : certified relative gap on the full program that ends the run.
    feas_tol : cone violation accepted for the returned point, times ``max(1, |y|_inf)``.
    initial_patterns : size of the first working set (the screen's best).
    subsample_above : with more samples than this, the first working set is the patterns that the same
        solver uses on a random subsample of ``subsample_above / 2`` rows (beta scaled by the subsample's
        share, gap 1e-3), plus the screen's best (None: never).
    seed : the subsample's seed.
    max_rounds : interior-point solves (rounds of column generation) at most.
    time_limit : seconds (None: none).
    verbose : one line per round on stderr.
    tol_abs, tol_rel : the registry's generic ``--tol``; when given, ``tol_gap`` becomes the smaller.
    """

    tol_gap: float = 1e-6
    feas_tol: float = 1e-9
    initial_patterns: int = 10
    subsample_above: Optional[int] = 20000
    seed: int = 0
    max_rounds: int = 20
    time_limit: Optional[float] = None
    verbose: Any = False
    tol_abs: Optional[float] = None
    tol_rel: Optional[float] = None

    def __post_init__(self):
        name = "working_set"
        self.tol_gap = check_positive(name, "tol_gap", self.tol_gap)
        self.feas_tol = check_positive(name, "feas_tol", self.feas_tol)
        self.initial_patterns = check_int(name, "initial_patterns", self.initial_patterns)
        self.max_rounds = check_int(name, "max_rounds", self.max_rounds)
        if self.subsample_above is not None:
            self.subsample_above = check_int(name, "subsample_above", self.subsample_above, minimum=2)
        self.seed = check_int(name, "seed", self.seed, minimum=0)
        self.time_limit = check_positive(name, "time_limit", self.time_limit, allow_none=True)
        tols = [check_positive(name, key, value) for key, value in (("tol_abs", self.tol_abs),
                                                                    ("tol_rel", self.tol_rel)) if value is not None]
        if tols:
            self.tol_gap = min(tols)


def screen_patterns(program, size):
    r"""The ``size`` patterns that the zero model's loss gradient ``nu0`` prices highest by the plain norm
    ``|X^T (D_j o nu0)|`` (``-y`` for the squared loss and the hinge, ``-y / 2`` for the logistic): an
    ``O(n d P)`` screen, a heuristic only - certification prices with the cone multipliers."""
    nu0 = -program.y / 2.0 if program.loss.name == "logistic" else -program.y
    norms = np.linalg.norm(program.X.T @ (program.D * nu0[:, None]), axis=0)
    size = min(size, norms.size)
    return np.sort(np.argsort(-norms, kind="stable")[:size])


def _row_subprogram(program, rows):
    """The same program (patterns, loss, epsilon) on the samples ``rows``, with beta scaled by their share
    (the loss is a sum over samples, so this keeps the balance of loss and penalty)."""
    from formulations.gated import GatedReLUProgram
    from formulations.relu import ReLUProgram
    from formulations.robust import RobustReLUProgram
    X, y, D = program.X[rows], program.y[rows], program.D[rows]
    beta = program.beta_value * rows.size / program.n
    if _robust(program):
        return RobustReLUProgram(X, y, D, program.loss.name, beta, program.epsilon_value, bias=program.bias,
                                 check_input=False)
    if _gated(program):
        return GatedReLUProgram(X, y, D, program.loss.name, beta, check_input=False)
    return ReLUProgram(X, y, D, program.loss.name, beta, check_input=False)


def subsample_patterns(program, size, seed=0, deadline=None):
    """The patterns (indices of ``program.D``) that :func:`working_set` uses on ``size`` random rows of the
    program (:func:`_row_subprogram`), solved to a certified gap of 1e-3: where the optimum is sparse in
    patterns, a sample of the data points to nearly the same ones, at a fraction of the cost. (Its whole
    final working set, near-violators included, was measured worse: more patterns, none of the missing
    ones - docs/benchmarks.md.)"""
    rows = np.sort(np.random.default_rng(seed).choice(program.n, size=size, replace=False))
    sub = _row_subprogram(program, rows)
    remaining = None if deadline is None else max(1.0, 0.5 * (deadline - time.perf_counter()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = working_set(sub, tol_gap=1e-3, subsample_above=None, time_limit=remaining)
    weights = np.hstack([result.weights[key] for key in sorted(result.weights)])
    used = np.any(weights != 0, axis=0)
    return np.flatnonzero(used.reshape(-1, program.n_patterns).any(axis=0))


def _free_patterns(program):
    """Robust patterns whose cone is {0} at the program's epsilon (their blocks are zero); none otherwise."""
    if not _robust(program):
        return None
    from .admm.robust import cone_margins
    margins, _ = cone_margins(program.X, program.S, program.epsilon_value, program.perturbed_mask)
    return np.flatnonzero(margins <= 0)


def _check_program(program):
    from formulations.relu import ReLUProgram
    loss, gated, robust = program.loss.name, _gated(program), _robust(program)
    supported = (robust and loss in LOSSES) or (gated and loss in ("hinge", "logistic")) or (
        not gated and not robust and isinstance(program, ReLUProgram) and loss in LOSSES)
    if not supported:
        form = getattr(program, "formulation", type(program).__name__)
        raise ValueError(f"the working_set solver solves the constrained program (squared, hinge, logistic), the "
                         f"gated program (hinge, logistic) and the robust program (squared, hinge, logistic); got "
                         f"{form} with the {loss} loss")


@retains_heap
def working_set(program, **options):
    r"""Solve ``program`` by column generation over its patterns (module docstring): the screen's
    ``initial_patterns`` best patterns (:func:`screen_patterns`), the interior point on them, pricing of
    every other pattern, the violators (and the patterns priced near beta) in, until the bound certifies the
    point on the full program.
    Solves the constrained program (squared, hinge, logistic loss), the gated program (hinge, logistic)
    and the robust program (squared, hinge, logistic). Where the optimum uses few patterns it touches the others
    only through pricing, ``O(n d)`` each; its memory is that of the interior point on the working set.

    Options (:class:`WorkingSetSettings`): tol_gap (1e-6), feas_tol (1e-9), initial_patterns (10),
    subsample_above (20000), seed (0), max_rounds (20), time_limit (None), verbose (False).

    Returns a SolveResult (``solver = "working_set"``, ``iterations`` = rounds): ``optimal`` with a
    certified gap at a feasible point; else ``max_iter`` (rounds spent), ``time_limit``, or
    ``optimal_inaccurate`` (pricing found no violator but the bound stayed above ``tol_gap``). ``info``:
    duality_gap_rel, dual_bound, certified, working_set (the final working set's pattern indices),
    working_set_patterns (its size), ipm_iterations, patterns_priced (pricings summed over the rounds),
    screen_time_s (the screen and the subsample's solve), rounds.
    ``history``: per round, its number, objective, certified gap on the full program (nan without a bound),
    working-set size and elapsed time.
    """
    import sys
    from formulations.base import ConvexProgram
    from .result import finish_run
    if not isinstance(program, ConvexProgram):
        raise ValueError(f"program must be a cvxnn program, got {type(program).__name__}")
    _check_program(program)
    settings = settings_from_options("working_set", WorkingSetSettings, options)
    t_start = time.perf_counter()
    deadline = None if settings.time_limit is None else t_start + settings.time_limit
    free = _free_patterns(program)
    screened = screen_patterns(program, program.n_patterns)
    if free is not None:
        screened = screened[~np.isin(screened, free)]
    initial = screened[:settings.initial_patterns]
    if settings.subsample_above is not None and program.n > settings.subsample_above:
        from_sample = subsample_patterns(program, settings.subsample_above // 2, settings.seed, deadline)
        if free is not None:
            from_sample = from_sample[~np.isin(from_sample, free)]
        initial = np.union1d(initial, from_sample)
    screen_time = time.perf_counter() - t_start
    rounds = []

    history = {"round": [], "objective": [], "gap": [], "patterns": [], "time": []}

    def log(candidate):
        rounds.append(candidate)
        for key, value in (("round", candidate["rounds"]), ("objective", candidate["objective"]),
                           ("gap", candidate["gap"]), ("patterns", candidate["patterns"].size),
                           ("time", time.perf_counter() - t_start)):
            history[key].append(value)
        if settings.verbose:
            gap = "-" if candidate["gap"] is None else f"{candidate['gap']:.2e}"
            print(f"working_set: round {candidate['rounds']}, {candidate['patterns'].size} of {program.n_patterns} "
                  f"patterns, objective {candidate['objective']:.10e}, certified rel gap {gap}, "
                  f"{time.perf_counter() - t_start:.1f}s", file=sys.stderr)

    best = working_set_polish(program, initial, settings.tol_gap, deadline, settings.max_rounds, free, log)
    feas_abs = settings.feas_tol * max(1.0, float(np.max(np.abs(program.y), initial=0.0)))
    if best is None:
        weights = {key: np.zeros(variable.shape) for key, variable in program.variables.items()}
        objective = program.objective(weights)
        # every robust cone {0}: the zero network is the only feasible point, hence optimal
        forced = free is not None and free.size == program.n_patterns
        best = {"weights": weights, "objective": objective, "dual_bound": objective if forced else None,
                "gap": 0.0 if forced else None, "violation": 0.0, "patterns": np.array([], dtype=int),
                "ipm_iterations": 0, "priced": 0}
    certified = best["gap"] is not None and best["gap"] <= settings.tol_gap and best["violation"] <= feas_abs
    elapsed = time.perf_counter() - t_start
    if certified:
        status = "optimal"
    elif deadline is not None and elapsed >= settings.time_limit:
        status = "time_limit"
    elif len(rounds) >= settings.max_rounds:
        status = "max_iter"
    else:
        status = "optimal_inaccurate"
    info = {"duality_gap_rel": best["gap"], "dual_bound": best["dual_bound"], "certified": bool(certified),
            "working_set_patterns": int(best["patterns"].size), "working_set": best["patterns"].copy(),
            "ipm_iterations": int(best["ipm_iterations"]), "patterns_priced": int(best["priced"]),
            "screen_time_s": screen_time, "rounds": len(rounds)}
    return finish_run(program, best["weights"], status=status, solver="working_set", iterations=len(rounds),
                      solve_time_s=elapsed, history=history, info=info)


working_set.__signature__ = keyword_signature(WorkingSetSettings)
