r"""Exact l_inf robustness of a two-layer network by mixed-integer linear programming (docs/math.md 7.3).

A point (x, y), y in {-1, +1}, is robust at radius epsilon when no perturbation
:math:`|\delta|_\infty \le \epsilon` of the perturbed coordinates (the bias column never moves,
:func:`formulations.network.perturbed_columns`) makes the network misclassify it, i.e. when

.. math::
    m^* = \min_{|\delta|_\infty \le \epsilon} y\, f(x + \delta) > 0 .

For f piecewise linear in :math:`\delta` this minimum is a mixed-integer linear program, solved with
HiGHS through :func:`scipy.optimize.milp`.

**ReLU network** :math:`f(x) = \sum_j \alpha_j \max(0, x^\top u_j)`. Over the box the pre-activation
:math:`z_j = x^\top u_j + \delta^\top u_{j,p}` ranges exactly over
:math:`[l_j, h_j] = x^\top u_j \mp \epsilon |u_{j,p}|_1` (interval arithmetic is tight for one layer). A
neuron with :math:`l_j \ge 0` is affine there, one with :math:`h_j \le 0` is zero; an unstable neuron
(:math:`l_j < 0 < h_j`) gets a variable :math:`r_j \in [0, h_j]` with :math:`r_j \ge z_j`. The objective
weight of :math:`r_j` is :math:`c_j = y \alpha_j`. When :math:`c_j > 0` the minimiser pushes
:math:`r_j` down onto :math:`\max(0, z_j)` by itself (the relaxation is exact for a convex term); only when
:math:`c_j < 0` does it need the binary :math:`a_j` of the big-M encoding

.. math::
    r_j \le z_j - l_j (1 - a_j), \qquad r_j \le h_j a_j ,

which forces :math:`r_j = z_j` (a = 1) or :math:`r_j = 0` (a = 0).

**Gated network** :math:`f(x) = \sum_j \alpha_j 1[x^\top g_j \ge 0]\, x^\top u_j`. A gate whose
pre-activation interval :math:`[l^g_j, h^g_j]` lies in :math:`[0, \infty)` is always on, one with
:math:`h^g_j < 0` always off; an unstable gate gets a binary :math:`b_j` with
:math:`l^g_j (1 - b_j) \le x'^\top g_j \le h^g_j b_j` and its product with the linear part
:math:`v_j = x'^\top u_j \in [l^u_j, h^u_j]` becomes :math:`w_j` with
:math:`l^u_j b_j \le w_j \le h^u_j b_j` and
:math:`v_j - h^u_j (1 - b_j) \le w_j \le v_j - l^u_j (1 - b_j)`. The off side is the CLOSED half-space
:math:`x'^\top g_j \le 0`, so the program computes the infimum of the (discontinuous) gated network over the
box - a lower bound on every value it takes there, which keeps "robust" sound.

**Verdicts** (:func:`exact_robust_accuracy`). Misclassified clean points, and points an attack flips (its
point is checked: inside the box, bias unchanged, sign of f wrong), are ``"flipped"``; points the sound
interval bound :meth:`formulations.network.ReLUNetwork.certified_robust` certifies are ``"robust"``;
only the rest reach the MILP. With the tolerance :math:`\tau = \text{rel\_tol} \cdot \max(1, s)`, where
:math:`s = \sum_j |\alpha_j| (|x^\top u_j| + \epsilon |u_{j,p}|_1)` bounds the size of the terms of f in
the ball, the program searches for a flip only: it adds :math:`y f(x + \delta) \le \tau` and minimises
:math:`t \ge \max(y f(x + \delta), -\tau)`. Infeasible means :math:`m^* > \tau`: ``"robust"``. An
incumbent with :math:`t = -\tau` already meets the bound :math:`t \ge -\tau`, so HiGHS stops there, and
the point is ``"flipped"`` once the network itself (not the MILP) gives :math:`y f(x + \delta) < -\tau/2`
(and, for a gated network, no gate lies within rounding of its boundary there). Attack points are held to
the same test.
Anything else - a time limit, a worst margin within :math:`\tau` of zero, a MILP point that NumPy does not
confirm - is ``"undecided"`` and never counted robust. The exact robust accuracy therefore lies in
[robust share, (robust + undecided) share].
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_array, hstack, identity

from formulations.losses import get_loss
from formulations.network import GatedReLUNetwork, ReLUNetwork, perturbed_columns
from formulations.validation import check_epsilon, check_flag, check_X_y
from solvers.baselines.attacks import pgd

VERDICTS = ("flipped", "robust", "undecided")
#: relative room (times max(1, s), module docstring) that a gated point moved off its gate boundaries may
#: lose on the MILP's minimum in :func:`exact_worst_margins`
_REPAIR_SLACK = 1e-9
#: relative distance (times max(1, |x^T g_j| + epsilon |g_{j,p}|_1)) a gated point must keep from every
#: unstable gate's boundary, so that rounding in any later evaluation of the network sees the same gates
_GATE_MARGIN = 1e-9
#: how a verdict was reached: misclassified clean, a verified attack point, the interval certificate or
#: the MILP; or why a point stayed undecided: the MILP's minimum lies within the tolerance of a tie
#: ("tie"), the MILP hit its time limit ("time_limit"), the total budget was spent before the point's
#: turn ("budget"), or the network did not confirm the MILP's flipping point ("unconfirmed")
SOURCES = ("clean", "attack", "certificate", "milp", "tie", "time_limit", "budget", "unconfirmed")


@dataclass
class ExactRobustnessResult:
    """Exact l_inf robustness of a network on (X, y) at radius ``epsilon``.

    verdict : n strings in :data:`VERDICTS`
    source : n strings in :data:`SOURCES` - what decided each point
    X_worst : n x d - for a point flipped by a perturbation, a point of the ball (bias unchanged) where
        y f < -tau/2; for a point the MILP left undecided, the MILP's point when it has one; otherwise the
        clean point
    worst_margin : y f(X_worst) per point, evaluated by the network
    tolerance : per-point tolerance tau = rel_tol * max(1, s) of the MILP verdicts (module docstring)
    milp_time : seconds spent in the MILP per point (0 for points decided without it)
    epsilon, bias, rel_tol : what was evaluated; time_s : total wall time
    """

    verdict: np.ndarray
    source: np.ndarray
    X_worst: np.ndarray = field(repr=False)
    worst_margin: np.ndarray = field(repr=False)
    tolerance: np.ndarray = field(repr=False)
    milp_time: np.ndarray = field(repr=False)
    epsilon: float = 0.0
    bias: bool = False
    rel_tol: float = 1e-6
    time_s: float = 0.0

    @property
    def n(self):
        return int(self.verdict.shape[0])

    @property
    def counts(self):
        """Number of points per verdict."""
        return {v: int(np.count_nonzero(self.verdict == v)) for v in VERDICTS}

    @property
    def robust_accuracy_bounds(self):
        """(lower, upper): the exact robust accuracy lies in [robust share, (robust + undecided) share]."""
        c = self.counts
        return c["robust"] / self.n, (c["robust"] + c["undecided"]) / self.n

    @property
    def n_milp(self):
        """Number of points sent to the MILP."""
        return int(np.count_nonzero(self.milp_time > 0))


@dataclass
class _PointProgram:
    """y f(x + delta) = constant + objective @ z over the MILP variables z = (delta_p, continuous neuron
    variables, binaries), subject to ``rows`` (LinearConstraints) and the variable bounds ``lower`` /
    ``upper``; ``integrality`` marks the binaries, ``n_delta`` counts the perturbed coordinates."""

    objective: np.ndarray
    constant: float
    rows: list
    lower: np.ndarray
    upper: np.ndarray
    integrality: np.ndarray
    n_delta: int


# -- encodings -------------------------------------------------------------------------------------
def _relu_program(net, x, y, epsilon, p):
    """Big-M program of y f(x + delta) for a ReLU network at one point (module docstring)."""
    Up = net.U[p]
    z0 = x @ net.U
    radius = epsilon * np.abs(Up).sum(axis=0)
    low, high = z0 - radius, z0 + radius
    weight = y * net.alpha
    on = (low >= 0) & (weight != 0)
    unstable = np.flatnonzero((low < 0) & (high > 0) & (weight != 0))
    concave = unstable[weight[unstable] < 0]
    k, m, b = Up.shape[0], unstable.size, concave.size
    select = identity(m, format="csr")[np.flatnonzero(weight[unstable] < 0)]
    # r_j - u_j^T delta >= z0_j for every unstable neuron
    above = hstack([csr_array(-Up[:, unstable].T), identity(m), csr_array((m, b))])
    # r_j - u_j^T delta - l_j a_j <= z0_j - l_j  and  r_j - h_j a_j <= 0 for the concave ones
    below = hstack([csr_array(-Up[:, concave].T), select, csr_array(np.diag(-low[concave]))])
    cap = hstack([csr_array((b, k)), select, csr_array(np.diag(-high[concave]))])
    rows = [LinearConstraint(above, z0[unstable], np.inf),
            LinearConstraint(below, -np.inf, z0[concave] - low[concave]),
            LinearConstraint(cap, -np.inf, 0.0)]
    objective = np.concatenate([Up[:, on] @ weight[on], weight[unstable], np.zeros(b)])
    lower = np.concatenate([np.full(k, -epsilon), np.zeros(m + b)])
    upper = np.concatenate([np.full(k, epsilon), high[unstable], np.ones(b)])
    integrality = np.concatenate([np.zeros(k + m), np.ones(b)])
    return _PointProgram(objective, float(weight[on] @ z0[on]), rows, lower, upper, integrality, k)


def _gated_program(net, x, y, epsilon, p):
    """Indicator-times-linear program of y f(x + delta) for a gated network at one point."""
    Up, Gp = net.U[p], net.G[p]
    zu, zg = x @ net.U, x @ net.G
    u_radius = epsilon * np.abs(Up).sum(axis=0)
    g_radius = epsilon * np.abs(Gp).sum(axis=0)
    ulow, uhigh = zu - u_radius, zu + u_radius
    glow, ghigh = zg - g_radius, zg + g_radius
    weight = y * net.alpha
    on = (glow >= 0) & (weight != 0)
    unstable = np.flatnonzero((glow < 0) & (ghigh >= 0) & (weight != 0))
    k, m = Up.shape[0], unstable.size
    lu, hu, lg, hg = ulow[unstable], uhigh[unstable], glow[unstable], ghigh[unstable]
    eye, none = identity(m, format="csr"), csr_array((m, m))
    lin, gate = csr_array(-Up[:, unstable].T), csr_array(Gp[:, unstable].T)
    rows = [  # w in b [l^u, h^u];  v - h^u (1 - b) <= w <= v - l^u (1 - b);  l^g (1 - b) <= g'x' <= h^g b
        LinearConstraint(hstack([csr_array((m, k)), eye, csr_array(np.diag(-lu))]), 0.0, np.inf),
        LinearConstraint(hstack([csr_array((m, k)), eye, csr_array(np.diag(-hu))]), -np.inf, 0.0),
        LinearConstraint(hstack([lin, eye, csr_array(np.diag(-hu))]), zu[unstable] - hu, np.inf),
        LinearConstraint(hstack([lin, eye, csr_array(np.diag(-lu))]), -np.inf, zu[unstable] - lu),
        LinearConstraint(hstack([gate, none, csr_array(np.diag(lg))]), lg - zg[unstable], np.inf),
        LinearConstraint(hstack([gate, none, csr_array(np.diag(-hg))]), -np.inf, -zg[unstable])]
    objective = np.concatenate([Up[:, on] @ weight[on], weight[unstable], np.zeros(m)])
    lower = np.concatenate([np.full(k, -epsilon), np.minimum(lu, 0.0), np.zeros(m)])
    upper = np.concatenate([np.full(k, epsilon), np.maximum(hu, 0.0), np.ones(m)])
    integrality = np.concatenate([np.zeros(k + m), np.ones(m)])
    return _PointProgram(objective, float(weight[on] @ zu[on]), rows, lower, upper, integrality, k)


def _term_sizes(net, X, epsilon, p):
    r"""Per row, s = sum_j |alpha_j| (|x^T u_j| + epsilon |u_{j,p}|_1): a bound on the size of the terms of f in
    the ball, the scale of the verdicts' tolerance."""
    return (np.abs(X @ net.U) + epsilon * np.abs(net.U[p]).sum(axis=0)) @ np.abs(net.alpha)


def _point_program(net, x, y, epsilon, p):
    return (_gated_program if isinstance(net, GatedReLUNetwork) else _relu_program)(net, x, y, epsilon, p)


def _solve(prog, cutoff, time_limit):
    r"""Solve the point program with the extra variable t >= y f(x + delta), minimising t.

    ``cutoff=None``: t is free and the minimum is y f's exact minimum (relative gap 0). Otherwise
    t >= -cutoff and y f <= cutoff (the flip search of the module docstring). Returns scipy's
    OptimizeResult; t is the last variable."""
    n_var = prog.objective.size
    value_row = csr_array(np.concatenate([prog.objective, [-1.0]])[None, :])
    rows = [LinearConstraint(hstack([r.A, csr_array((r.A.shape[0], 1))]), r.lb, r.ub)
            for r in prog.rows if r.A.shape[0]]
    rows.append(LinearConstraint(value_row, -np.inf, -prog.constant))
    t_low = -np.inf
    if cutoff is not None:
        rows.append(LinearConstraint(csr_array(np.concatenate([prog.objective, [0.0]])[None, :]), -np.inf,
                                     cutoff - prog.constant))
        t_low = -cutoff
    c = np.zeros(n_var + 1)
    c[-1] = 1.0
    options = {"mip_rel_gap": 0.0}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    return milp(c, integrality=np.concatenate([prog.integrality, [0]]), constraints=rows,
                bounds=Bounds(np.concatenate([prog.lower, [t_low]]), np.concatenate([prog.upper, [np.inf]])),
                options=options)


def _lower_bound(result):
    """HiGHS's proven lower bound on the minimum (for a program without binaries, solved as an LP, the
    optimum itself); -inf when there is none."""
    bound = result.mip_dual_bound
    if bound is not None and np.isfinite(bound):
        return float(bound)
    return float(result.fun) if result.status == 0 and result.fun is not None else -np.inf


def _moved_point(net, x, y, result, prog, p, epsilon, target):
    """The MILP's perturbed point x + delta (delta clipped to the box, bias unchanged), or None.

    For a gated network the MILP may place a gate it treats as off exactly on its boundary, where the
    network's gate is on; then the gate pattern of the MILP is kept and :func:`_gate_interior_point` moves
    the point strictly into the off side, with y f still <= ``target``."""
    if result.x is None:
        return None
    z = x.copy()
    z[p] += np.clip(result.x[:prog.n_delta], -epsilon, epsilon)
    if isinstance(net, GatedReLUNetwork):
        z = _gate_interior_point(net, x, y, z, result.x[prog.n_delta:-1], p, epsilon, target)
    return z


def _gate_interior_point(net, x, y, z, neuron_values, p, epsilon, target):
    r"""Repair a gated MILP point whose unstable gates sit on (or within rounding of) their boundary - an
    off gate at 0 is on for the network, and which side a gate at 1e-17 falls on depends on how the
    product is rounded: with the gate pattern of the MILP fixed (on for stable-on
    gates and binaries 1), one LP maximises the slack sigma of the unstable gates,
    :math:`g_j^\top x' \le -\sigma` (off) and :math:`\ge \sigma` (on), within the box and with
    :math:`y f(x') \le` ``target`` (f is affine once the pattern is fixed). Returns ``z`` unchanged when no
    repair is needed or none exists."""
    Gp, Up = net.G[p], net.U[p]
    zg = x @ net.G
    g_radius = epsilon * np.abs(Gp).sum(axis=0)
    unstable = np.flatnonzero((zg - g_radius < 0) & (zg + g_radius >= 0) & (net.alpha != 0))
    chosen = np.zeros(net.width, dtype=bool)
    chosen[zg - g_radius >= 0] = True
    chosen[unstable] = np.round(neuron_values[unstable.size:]) == 1
    side = np.where(chosen[unstable], 1.0, -1.0)
    needed = _GATE_MARGIN * np.maximum(1.0, np.abs(zg) + g_radius)[unstable]
    if np.all(side * (z @ net.G)[unstable] >= needed):
        return z
    off = np.setdiff1d(unstable, np.flatnonzero(chosen))
    on = np.intersect1d(unstable, np.flatnonzero(chosen))
    weight = y * net.alpha * chosen
    k = Up.shape[0]
    A = np.vstack([np.hstack([Gp[:, off].T, np.ones((off.size, 1))]),
                   np.hstack([-Gp[:, on].T, np.ones((on.size, 1))]),
                   np.concatenate([Up @ weight, [0.0]])[None, :]])
    b = np.concatenate([-zg[off], zg[on], [target - weight @ (x @ net.U)]])
    cost = np.zeros(k + 1)
    cost[-1] = -1.0
    cap = 1.0 + np.abs(zg).max(initial=0.0)
    lp = linprog(cost, A_ub=A, b_ub=b, bounds=[(-epsilon, epsilon)] * k + [(None, cap)], method="highs")
    if lp.status != 0 or lp.x[-1] < needed.max(initial=0.0):
        return z
    repaired = x.copy()
    repaired[p] += np.clip(lp.x[:k], -epsilon, epsilon)
    return repaired


# -- validation ------------------------------------------------------------------------------------
def _check_inputs(net, X, y, epsilon, bias):
    if not isinstance(net, (ReLUNetwork, GatedReLUNetwork)):
        raise ValueError(f"net must be a ReLUNetwork or a GatedReLUNetwork, got {type(net).__name__}")
    if isinstance(net, GatedReLUNetwork) and net.G is None:
        raise ValueError("the gated network has no gate directions G; its gates under perturbation are unknown")
    X, y = check_X_y(X, y)
    y = get_loss("hinge").validate_labels(y)
    epsilon = check_epsilon(epsilon)
    bias = check_flag(bias, "bias")
    if X.shape[1] != net.d:
        raise ValueError(f"shape mismatch: the network takes {net.d} features, X has {X.shape[1]}")
    if bias and not np.all(X[:, -1] == 1.0):
        raise ValueError("bias=True needs the last column of X to be the ones column (it is never perturbed)")
    return X, y, epsilon, bias


def _check_time(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be None or a finite number of seconds > 0, got {value!r}")
    return float(value)


def _misclassified(net, Z, y):
    """sign(f) != y, with f = 0 predicting +1 (the convention of every accuracy in cvxnn)."""
    return np.where(net.predict(Z) >= 0, 1.0, -1.0) != y


def _confirmed_flips(net, Z, X, y, tolerance, epsilon, p):
    """Rows where the perturbed point Z flips the clean point X beyond doubt: y f(Z) < -tolerance / 2, and
    for a gated network every gate (of a neuron with alpha != 0) at least the rounding margin
    :data:`_GATE_MARGIN` from its boundary - at a gate on its boundary the network's value depends on how
    x^T g rounds, and a flip there is not reproducible."""
    flipped = y * net.predict(Z) < -0.5 * tolerance
    if isinstance(net, GatedReLUNetwork):
        needed = _GATE_MARGIN * np.maximum(1.0, np.abs(X @ net.G) + epsilon * np.abs(net.G[p]).sum(axis=0))
        clear = (np.abs(Z @ net.G) >= needed) | (net.alpha == 0)
        flipped &= np.all(clear, axis=1)
    return flipped


# -- the exact minimum -----------------------------------------------------------------------------
def exact_worst_margins(net, X, y, epsilon, bias=False, time_limit=None):
    r"""Per row: :math:`\min_{|\delta|_\infty \le \epsilon} y f(x + \delta)` (bias fixed) by the MILP of the
    module docstring, solved to optimality (relative gap 0; HiGHS's absolute gap 1e-6 remains).

    Returns ``(value, lower_bound, X_worst)``: ``value`` is y f at ``X_worst`` evaluated by the network (an
    upper bound on the minimum; equal to it up to HiGHS's tolerances when solved), ``lower_bound`` HiGHS's
    proven bound (the minimum itself when solved; lower under a per-point ``time_limit``). For a gated
    network the minimum is the infimum over the box (module docstring) and may be approached, not taken,
    at a gate boundary; ``value`` is then the network's value at the MILP's point."""
    X, y, epsilon, bias = _check_inputs(net, X, y, epsilon, bias)
    time_limit = _check_time(time_limit, "time_limit")
    p = perturbed_columns(X.shape[1], bias)
    X_worst, bound = X.copy(), np.full(X.shape[0], -np.inf)
    size = _term_sizes(net, X, epsilon, p)
    for k in range(X.shape[0]):
        prog = _point_program(net, X[k], y[k], epsilon, p)
        result = _solve(prog, None, time_limit)
        bound[k] = _lower_bound(result)
        if result.x is not None:
            target = result.fun + _REPAIR_SLACK * max(1.0, size[k])
            X_worst[k] = _moved_point(net, X[k], y[k], result, prog, p, epsilon, target)
    return y * net.predict(X_worst), bound, X_worst


# -- verdicts --------------------------------------------------------------------------------------
def _attack_points(net, X, y, epsilon, bias, attack, X_attack, pgd_options):
    """Candidate adversarial points: the caller's ``X_attack`` (checked to lie in the ball), or PGD with
    random and corner starts, or none."""
    if X_attack is not None:
        Z = np.array(X_attack, dtype=float, copy=True)
        if Z.shape != X.shape:
            raise ValueError(f"shape mismatch: X_attack has shape {Z.shape}, X has {X.shape}")
        if not np.all(np.isfinite(Z)):
            raise ValueError("X_attack contains NaN or infinite values")
        p = perturbed_columns(X.shape[1], bias)
        fixed = np.ones(X.shape[1], dtype=bool)
        fixed[p] = False
        outside = np.any(np.abs(Z[:, p] - X[:, p]) > epsilon * (1 + 1e-12), axis=1) \
            | np.any(Z[:, fixed] != X[:, fixed], axis=1)
        if np.any(outside):
            raise ValueError(f"{int(np.sum(outside))} row(s) of X_attack lie outside the l_inf ball of radius "
                             f"{epsilon} (or move the bias column)")
        return Z
    if attack is None:
        return None
    if attack != "pgd":
        raise ValueError(f"unknown attack {attack!r}; choose 'pgd' or None (or pass X_attack)")
    options = {"steps": 40, "restarts": 6, "seed": 0, "starts": "both"}
    options.update(pgd_options or {})
    return pgd(net, X, y, "hinge", epsilon, bias=bias, **options)


def exact_robust_accuracy(net, X, y, epsilon, bias=False, *, attack="pgd", X_attack=None, pgd_options=None,
                     point_time_limit=10.0, time_limit=None, rel_tol=1e-6):
    """Exact l_inf robust accuracy of a ReLU or gated network on (X, y), labels +-1 (module docstring).

    Order of work: clean misclassifications and verified attack points are ``"flipped"``; points certified
    by the network's sound interval bound (``certified_robust``) are ``"robust"``; every other point
    gets the flip-search MILP, each with at most ``point_time_limit`` seconds, the whole call (attack
    included) with at most ``time_limit`` seconds (None: no limit); points left when the budget is spent,
    and points the MILP does not settle, are ``"undecided"`` (``source`` says why, :data:`SOURCES`).

    ``attack``: ``"pgd"`` (default) runs :func:`solvers.baselines.attacks.pgd` on the margin with
    ``starts="both"``, 40 steps, 6 restarts, seed 0 - overridden by ``pgd_options``; ``None`` runs no
    attack. ``X_attack``: candidate adversarial points (n x d, e.g. an attack the caller already ran); they
    replace the attack, must lie in the ball with the bias unchanged, and flip a point only where the
    network misclassifies them. ``rel_tol``: the tolerance tau = rel_tol * max(1, s) of the MILP verdicts.
    Returns an :class:`ExactRobustnessResult`.
    """
    start = time.perf_counter()
    X, y, epsilon, bias = _check_inputs(net, X, y, epsilon, bias)
    point_time_limit = _check_time(point_time_limit, "point_time_limit")
    time_limit = _check_time(time_limit, "time_limit")
    if isinstance(rel_tol, bool) or not isinstance(rel_tol, (int, float, np.integer, np.floating)) \
            or not np.isfinite(rel_tol) or rel_tol <= 0:
        raise ValueError(f"rel_tol must be a finite number > 0, got {rel_tol!r}")
    n, p = X.shape[0], perturbed_columns(X.shape[1], bias)
    verdict, source = np.full(n, "undecided", dtype=object), np.full(n, "budget", dtype=object)
    X_worst = X.copy()
    clean_wrong = _misclassified(net, X, y)
    verdict[clean_wrong], source[clean_wrong] = "flipped", "clean"
    tolerance = rel_tol * np.maximum(1.0, _term_sizes(net, X, epsilon, p))
    Z = _attack_points(net, X, y, epsilon, bias, attack, X_attack, pgd_options)
    if Z is not None:
        broken = _confirmed_flips(net, Z, X, y, tolerance, epsilon, p) & ~clean_wrong
        X_worst[broken] = Z[broken]
        verdict[broken], source[broken] = "flipped", "attack"
    certified = net.certified_robust(X, y, epsilon, bias) & (verdict == "undecided")
    verdict[certified], source[certified] = "robust", "certificate"
    milp_time = np.zeros(n)
    for k in np.flatnonzero(verdict == "undecided"):
        limits = [point_time_limit]
        if time_limit is not None:
            limits.append(time_limit - (time.perf_counter() - start))
            if limits[-1] <= 0:
                break
        limits = [t for t in limits if t is not None]
        prog = _point_program(net, X[k], y[k], epsilon, p)
        tick = time.perf_counter()
        result = _solve(prog, tolerance[k], min(limits) if limits else None)
        milp_time[k] = max(time.perf_counter() - tick, np.finfo(float).tiny)
        verdict[k], source[k], X_worst[k] = _milp_verdict(net, X[k], y[k], result, prog, p, epsilon,
                                                          tolerance[k])
    return ExactRobustnessResult(
        verdict=verdict.astype(str), source=source.astype(str), X_worst=X_worst, worst_margin=y * net.predict(X_worst),
        tolerance=tolerance, milp_time=milp_time, epsilon=epsilon, bias=bias, rel_tol=float(rel_tol),
        time_s=time.perf_counter() - start)


def _milp_verdict(net, x, y, result, prog, p, epsilon, tolerance):
    """(verdict, source, point) of one flip-search MILP: infeasible -> robust (the clean point is returned);
    a confirmed flipping point (:func:`_confirmed_flips`) -> flipped; anything else -> undecided, with the
    reason: a solved program whose optimum t > -tolerance is a tie, an unsolved one a time limit, and the
    MILP's point (the clean point when it has none)."""
    if result.status == 2:
        return "robust", "milp", x
    reason = "time_limit" if result.status != 0 else ("tie" if result.fun > -tolerance else "unconfirmed")
    point = _moved_point(net, x, y, result, prog, p, epsilon, -0.5 * tolerance)
    if point is None:
        return "undecided", reason, x
    if _confirmed_flips(net, point[None, :], x[None, :], np.array([y]), np.array([tolerance]), epsilon, p)[0]:
        return "flipped", "milp", point
    return "undecided", reason, point
