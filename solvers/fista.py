r"""FISTA (accelerated proximal gradient) for the unconstrained programs (docs/math.md section 5).

Both programs have the composite form

.. math::
    \min_w\ F(w) = \ell(A w, y) + \beta R(w)

with a linear prediction map :math:`A` and a penalty whose proximal operator is closed form:

* gated ReLU (:class:`formulations.gated.GatedReLUProgram`), w = U (d x P):
  :math:`A U = \sum_i D_i \circ X u_i`, :math:`A^T r = X^T (D \circ r)` (column i is
  :math:`X^T (D_i \circ r)`), :math:`R(U) = \sum_i |u_i|_2`, prox = group soft-thresholding
  :math:`u_i \mapsto u_i \max(0, 1 - \tau / |u_i|_2)`, dual norm :math:`R^*(G) = \max_i |g_i|_2`;
* SCP / random features (:class:`formulations.scp.SCPProgram`), w = theta (N):
  :math:`A\theta = F\theta` with :math:`F = \max(0, XH)`, :math:`R = |\theta|_1`, prox = soft-thresholding,
  :math:`R^* = |\cdot|_\infty`.

Smooth losses (squared, logistic)
---------------------------------
FISTA (Beck & Teboulle 2009) on :math:`f(w) = \ell(Aw, y)`, :math:`\nabla f(w) = A^T \nabla\ell(Aw)`:

.. math::
    y_k = x_k + \tfrac{t_{k-1} - 1}{t_k}(x_k - x_{k-1}),\quad
    x_{k+1} = \mathrm{prox}_{\beta R / L}\big(y_k - \nabla f(y_k) / L\big),\quad
    t_{k+1} = \tfrac12\big(1 + \sqrt{1 + 4 t_k^2}\big),

* backtracking: L is accepted when
  :math:`f(x_{k+1}) \le f(y_k) + \langle\nabla f(y_k), x_{k+1} - y_k\rangle + \tfrac L2 |x_{k+1} - y_k|^2`,
  otherwise multiplied by ``backtrack`` (2); every iteration first tries ``L * shrink`` (0.9), so L
  follows the local curvature (large for logistic far from the data, small near a good fit).
  The initial L is a power-iteration estimate of :math:`c\,|A|_2^2` (c = 1 squared, 1/4 logistic,
  rho for the hinge subproblems). L is capped at twice that bound, and the test allows a rounding slack
  of ~64 eps (|f| + |grad_z| |Ay|): a failure beyond either can only be rounding, so L cannot run away
  near convergence (where the function-value test loses its significant digits);
* adaptive restart (O'Donoghue & Candes 2015): momentum is reset (t = 1) when
  :math:`\langle y_k - x_{k+1}, x_{k+1} - x_k\rangle > 0` (``restart="gradient"``, default) or when
  :math:`F(x_{k+1}) > F(x_k)` (``"function"``); ``"both"`` uses either test, ``None`` none;
* predictions are linear in w, so :math:`A y_k` is combined from the cached :math:`A x_k, A x_{k-1}`:
  one :math:`A` and one :math:`A^T` product per iteration (plus one :math:`A` per backtracking step).

Stopping (residual based, scale free): the proximal-gradient mapping
:math:`G_L(w) = L\,(w - \mathrm{prox}_{\beta R/L}(w - \nabla f(w)/L))` vanishes exactly at the minimisers.
FISTA stops when at the candidate :math:`x_{k+1}`

.. math::
    |G_L(x_{k+1})|_2 \le \mathrm{tol\_abs} + \mathrm{tol\_rel}\,\max(|\nabla f(x_{k+1})|_2, \beta)

(the cheap :math:`|G_L(y_k)| = L|x_{k+1} - y_k|` is watched every iteration and the test at
:math:`x_{k+1}` runs only when it passes). Both sides scale by c when X is scaled by c and beta by c, so
the test is invariant under that rescaling; at an optimum every active group has
:math:`|\nabla_i f| = \beta`. The returned point is the better of :math:`x_{k+1}` and its prox-gradient
step :math:`p`, whose subdifferential contains an element of norm :math:`\le 2|G_L(x_{k+1})|`.
Every 25 iterations the certified duality gap (below) is evaluated as well (one extra gradient); a
relative gap ``<= tol_gap`` (default 1e-6, hinge 1e-5) also stops the solver with status ``optimal``
(``info["stopped_by"]`` says which test fired).

Hinge loss (non-smooth): augmented Lagrangian with FISTA inner solves
--------------------------------------------------------------------
Write the problem as :math:`\min\ \ell(z) + \beta R(w)` s.t. :math:`z = Aw` and apply the method of
multipliers with penalty rho and multiplier :math:`\lambda \in \mathbb R^n`. Minimising the augmented
Lagrangian over z in closed form leaves the smooth subproblem

.. math::
    \min_w\ M_\rho(Aw + \lambda/\rho) + \beta R(w),\qquad
    M_\rho(v) = \min_z \ell(z) + \tfrac\rho2 |z - v|^2 ,

a Huber-type smoothing of the hinge (Moreau envelope: value at :math:`z^* = \mathrm{prox}_{\ell/\rho}(v)`,
``Loss.prox``; gradient :math:`\rho (v - z^*)`, Lipschitz rho), solved by the FISTA above, warm started.
Then :math:`\lambda \leftarrow \rho(v - z^*) \in \partial\ell(z^*)`. Unlike plain Nesterov smoothing
(lambda = 0 and rho -> infinity) the fixed points are the exact minimisers for any rho, so rho stays
moderate and the subproblems stay well conditioned. KKT residuals of the original problem:

* dual residual: the inner gradient mapping, since :math:`\nabla f = A^T\lambda_+` - the same relative
  test as above;
* primal residual: :math:`|Aw - z^*|_2 / \max(|Aw|_2, |z^*|_2, \sqrt n) \le \mathrm{tol\_rel\_hinge}`
  (margins are O(1)); the hinge is 1-Lipschitz per sample, so this bounds
  :math:`\ell(Aw) - \ell(z^*)` by :math:`\sqrt n |Aw - z^*|_2`.

Inner solves stop at a relative tolerance tied to the current primal residual (inexact ALM) and never
looser than 1e-2; rho doubles when the primal residual falls by less than a factor 4 in one outer step
(standard ALM). Iterations count FISTA steps over all outer iterations, so ``max_iter`` and
``time_limit`` bound the total work. The certified gap (below) is checked every 25 FISTA iterations and
after every outer step; it is what usually stops the hinge solver: default ``tol_gap`` 1e-5 for hinge
(1e-6 for the smooth losses), because the subproblems of degenerate instances (tiny beta, data nearly
separable) converge slowly; 1e-5 certified is still 10x inside the battery's 1e-4 acceptance.
A warm start also re-estimates the multiplier from the warm point (:func:`_hinge_multiplier`), so a
start at a solution is accepted at once rather than after the multiplier is rebuilt from zero.

Code layout: :class:`FISTASettings` (options, defaults, checks), :class:`_Operator` (A, A^T, prox,
penalty, dual norm), :func:`_setup` (start point, Lipschitz estimate), :class:`_Run` (the FISTA loop
with its backtracking, restart and convergence steps, and :meth:`_Run.certify`), :func:`_solve_smooth`
and :func:`_solve_hinge` (the augmented-Lagrangian outer loop), :func:`_finish` (returned point, certified
gap, result).

Certificate (all losses): for a multiplier :math:`\lambda` (:math:`\nabla\ell(Aw)` for smooth losses,
the ALM multiplier for hinge) the scaled :math:`c\lambda`, :math:`c = \min(1, \beta / R^*(A^T\lambda))`,
is dual feasible for :math:`\max_\lambda -\ell^*(\lambda)` s.t. :math:`R^*(A^T\lambda)\le\beta`, so
:math:`F(w) - (-\ell^*(c\lambda))` is a certified upper bound on the objective gap (``info["duality_gap"]``).
Conjugates (sum form): squared :math:`\ell^*(s) = \tfrac12|s|^2 + s^Ty`; logistic with :math:`s = -y\sigma`,
:math:`\sigma\in[0,1]^n`: :math:`\sum \sigma\log\sigma + (1-\sigma)\log(1-\sigma)`; hinge with
:math:`s = -y a`, :math:`a \in [0, 1]^n`: :math:`-\sum a`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from formulations.gated import GatedReLUProgram
from formulations.losses import get_loss
from formulations.scp import SCPProgram

from .core.dual import certified_gap, dual_scaling
from .core.heap import retains_heap
from .core.log import IterationLog, record
from .core.options import (check_flags, check_int, check_positive, keyword_signature, limit_reached,
                           settings_from_options, warm_start_weights)
from .core.prox import group_soft, soft_threshold
from .result import finish_run

__all__ = ["fista", "FISTASettings"]

RESTARTS = ("gradient", "function", "both", None)
#: FISTA iterations between two certified-gap checks (each costs one gradient)
_CHECK_EVERY = 25


@dataclass
class FISTASettings:
    """The options of :func:`fista` with their defaults, checked once (``ValueError`` naming ``fista`` and
    the option)."""

    tol_abs: float = 1e-10
    tol_rel: float = 1e-7
    tol_rel_hinge: float = 1e-7
    #: None: 1e-6 for the smooth losses, 1e-5 for the hinge (its degenerate subproblems converge slowly)
    tol_gap: Optional[float] = None
    max_iter: int = 100_000
    time_limit: Optional[float] = None
    verbose: bool = False
    restart: Optional[str] = "gradient"
    lipschitz: Optional[float] = None
    backtrack: float = 2.0
    shrink: float = 0.9
    #: None: 1 (hinge margins are O(1))
    rho: Optional[float] = None
    print_every: int = 500
    #: gated hinge and logistic: the second-order polish on the gates in use (solvers.working_set), for
    #: the hinge first after this many iterations, then after 4x as many each time; for both at the end of
    #: an uncertified run
    working_set: bool = True
    working_set_after: int = 2000

    def __post_init__(self):
        self.tol_abs = check_positive("fista", "tol_abs", self.tol_abs)
        self.tol_rel = check_positive("fista", "tol_rel", self.tol_rel)
        self.tol_rel_hinge = check_positive("fista", "tol_rel_hinge", self.tol_rel_hinge)
        self.tol_gap = check_positive("fista", "tol_gap", self.tol_gap, allow_none=True)
        self.max_iter = check_int("fista", "max_iter", self.max_iter, 0)
        self.time_limit = check_positive("fista", "time_limit", self.time_limit, allow_none=True)
        self.lipschitz = check_positive("fista", "lipschitz", self.lipschitz, allow_none=True)
        self.backtrack = check_positive("fista", "backtrack", self.backtrack)
        if self.backtrack <= 1.0:
            raise ValueError(f"fista option backtrack must be > 1, got {self.backtrack}")
        self.shrink = check_positive("fista", "shrink", self.shrink)
        if self.shrink > 1.0:
            raise ValueError(f"fista option shrink must be in (0, 1], got {self.shrink}")
        self.rho = check_positive("fista", "rho", self.rho, allow_none=True)
        self.print_every = check_int("fista", "print_every", self.print_every)
        if self.restart not in RESTARTS:
            raise ValueError(f"fista option restart must be one of {RESTARTS}, got {self.restart!r}")
        check_flags("fista", verbose=self.verbose, working_set=self.working_set)
        self.working_set_after = check_int("fista", "working_set_after", self.working_set_after)

    def gap_tolerance(self, loss_name):
        """``tol_gap``, or its default for the loss."""
        if self.tol_gap is not None:
            return self.tol_gap
        return 1e-5 if loss_name == "hinge" else 1e-6


def _check_program(program):
    if isinstance(program, (GatedReLUProgram, SCPProgram)):
        return
    form = getattr(program, "formulation", None)
    if form in ("exact", "sampled", "robust"):
        raise ValueError(f"fista solves the unconstrained gated and scp programs only; the {form!r} "
                         f"program has cone constraints - use the 'admm' solver or a CVXPY oracle "
                         f"(clarabel, scs)")
    raise ValueError(f"fista needs a GatedReLUProgram or SCPProgram, got {type(program).__name__}")


# ------------------------------------------------------------------------------------------------------
# the two programs as (A, A^T, prox, penalty, dual norm)
# ------------------------------------------------------------------------------------------------------
class _Operator:
    """Prediction map, its adjoint and the penalty of one program (arrays are read, never written)."""

    def __init__(self, program):
        if isinstance(program, GatedReLUProgram):
            self.kind, self.name = "group", "U"
            self.X, self.D = program.X, program.D
            self.shape = (program.d, program.n_patterns)
        else:
            self.kind, self.name = "l1", "theta"
            self.F = program.F
            self.shape = (program.n_patterns,)

    def A(self, W):
        if self.kind == "group":
            return np.einsum("ij,ij->i", self.D, self.X @ W)
        return self.F @ W

    def AT(self, r):
        if self.kind == "group":
            return self.X.T @ (self.D * r[:, None])
        return self.F.T @ r

    def prox(self, W, tau):
        """argmin_V tau R(V) + |V - W|^2 / 2: group soft-thresholding of the columns u_i of U (d x P), or
        entrywise soft-thresholding of theta."""
        if self.kind == "group":
            return group_soft(W, tau)
        return soft_threshold(W, tau)

    def penalty(self, W):
        if self.kind == "group":
            return float(np.linalg.norm(W, axis=0).sum())
        return float(np.abs(W).sum())

    def dual_norm(self, G):
        if self.kind == "group":
            return float(np.linalg.norm(G, axis=0).max(initial=0.0))
        return float(np.abs(G).max(initial=0.0))

    def norm_sq_estimate(self, iterations=15):
        """Power-iteration estimate of |A|_2^2 (a lower bound; backtracking corrects it)."""
        v = np.random.default_rng(0).standard_normal(self.shape)
        est = 1.0
        for _ in range(iterations):
            nv = np.linalg.norm(v)
            if nv == 0 or not np.isfinite(nv):
                break
            v = self.AT(self.A(v / nv))
            est = float(np.linalg.norm(v))
        return max(est, 1e-300)


# ------------------------------------------------------------------------------------------------------
# smooth parts in prediction space: z -> (value, gradient)
# ------------------------------------------------------------------------------------------------------
def _smooth_loss(loss, y):
    def fun(z):
        return loss.value(z, y), loss.gradient(z, y)

    def val(z):
        return loss.value(z, y)
    return fun, val


def _hinge_envelope(loss, y, lam, rho):
    """Moreau envelope z -> M_rho(z + lam/rho) and its gradient rho (v - prox(v))."""
    def fun(z):
        v = z + lam / rho
        p = loss.prox(v, y, 1.0 / rho)
        return loss.value(p, y) + 0.5 * rho * float(np.dot(v - p, v - p)), rho * (v - p)

    def val(z):
        return fun(z)[0]
    return fun, val


def _hinge_multiplier(op, x, Ax, y, beta, margin_tol=1e-3, max_entries=4_000_000):
    r"""Estimate a hinge multiplier for a warm-start point w (the ALM would otherwise restart from 0).

    :math:`\lambda = -y \circ a` with :math:`a_k = 1` where the margin :math:`y_k (Aw)_k < 1`, 0 where it is
    > 1, and on the margin set E (:math:`|y_k (Aw)_k - 1| \le` ``margin_tol``) :math:`a_E \in [0, 1]^{|E|}` is
    fitted by bounded least squares to the stationarity :math:`(A^T\lambda)_S + \beta s_S = 0` on the
    support S of w (s = unit group directions / signs). At a minimiser this recovers a multiplier with
    which the first subproblem is already solved.
    """
    from scipy.optimize import lsq_linear

    m = y * Ax
    E = np.abs(m - 1.0) <= margin_tol
    a = np.where(m < 1.0, 1.0, 0.0)
    a[E] = 0.0
    if op.kind == "group":
        norms = np.linalg.norm(x, axis=0)
        act = norms > 1e-10 * max(norms.max(initial=0.0), 1e-300)
        s = x[:, act] / norms[act]
    else:
        act = np.abs(x) > 1e-12 * max(np.abs(x).max(initial=0.0), 1e-300)
        s = np.sign(x[act])
    if E.any() and act.any():
        base = op.AT(-y * a)[..., act] if op.kind == "group" else op.AT(-y * a)[act]
        if op.kind == "group":
            if op.X.shape[1] * act.sum() * E.sum() > max_entries:
                return -y * a
            B = np.einsum("kj,ki->jik", op.X[E], op.D[E][:, act]) * (-y[E])
            B = B.reshape(-1, int(E.sum()))
        else:
            if act.sum() * E.sum() > max_entries:
                return -y * a
            B = op.F[E][:, act].T * (-y[E])
        rhs = -(base + beta * s).reshape(-1)
        a[E] = lsq_linear(B, rhs, bounds=(0.0, 1.0)).x
    return -y * a


def _certified_dual(op, loss, lam, y, beta):
    """Dual objective at c * lam, c = min(1, beta / R^*(A^T lam)) (dual feasible): a lower bound on F^*."""
    c = dual_scaling(op.dual_norm(op.AT(lam)), beta)
    return get_loss(loss).dual_value(c * lam, y)


# ------------------------------------------------------------------------------------------------------
# the FISTA loop
# ------------------------------------------------------------------------------------------------------
_COLUMNS = [("iter", 7), ("objective", 16), ("residual", 10), ("step", 10), ("time", 8)]


class _Run:
    """One call's state: program pieces, options, counters, history, the best point seen, the best
    certified dual value, the Lipschitz cap, and the FISTA loop with its steps."""

    def __init__(self, program, op, settings, t_start, tol_gap, log):
        self.program, self.op = program, op
        self.loss, self.y, self.beta = program.loss, program.y, program.beta_value
        self.restart, self.backtrack, self.shrink = settings.restart, settings.backtrack, settings.shrink
        self.max_iter, self.time_limit, self.print_every = settings.max_iter, settings.time_limit, settings.print_every
        self.t_start = t_start
        self.tol_gap, self.log = tol_gap, log
        self.it = 0
        self.restarts = 0
        self.backtracks = 0
        self.grad_evals = 0
        self.t0 = time.perf_counter()
        self.hist = {"objective": [], "residual": [], "step": [], "time": []}
        self.best = (np.inf, None)
        self.best_dual = -np.inf
        self.L_cap = np.inf
        from .working_set import WorkingSetSchedule
        self.working_set_schedule = WorkingSetSchedule(settings.working_set_after)

    def true_objective(self, Ax, x):
        return self.loss.value(Ax, self.y) + self.beta * self.op.penalty(x)

    def keep_best(self, F, x):
        if np.isfinite(F) and F < self.best[0]:
            self.best = (F, x.copy())

    def certify(self, x, Ax, fun):
        """True when the certified relative duality gap at x is at most tol_gap: the multiplier is the
        gradient of ``fun`` (the loss, or the hinge envelope) at Ax; the best dual value is kept."""
        lam = fun(Ax)[1]
        self.grad_evals += 1
        self.best_dual = max(self.best_dual, _certified_dual(self.op, self.loss, lam, self.y, self.beta))
        return certified_gap(self.true_objective(Ax, x), self.best_dual) <= self.tol_gap

    def gradient_mapping(self, fun, x, Ax, L):
        """(|G_L(x)|, |grad f(x)|, p, grad_z) with p = prox step from x."""
        _, gz = fun(Ax)
        g = self.op.AT(gz)
        self.grad_evals += 1
        p = self.op.prox(x - g / L, self.beta / L)
        return L * float(np.linalg.norm(x - p)), float(np.linalg.norm(g)), p, gz

    def prox_step(self, val, yk, Ay, fy, gz, g, L):
        """The prox-gradient step from y_k with backtracking: L starts at ``L * shrink`` and grows by
        ``backtrack`` until ``f(x+) <= f(y) + <g, x+ - y> + L/2 |x+ - y|^2`` holds up to rounding (or L
        reaches its cap). Returns (x+, A x+, f(x+), |x+ - y|^2, L)."""
        op, beta = self.op, self.beta
        eps = np.finfo(float).eps
        gz_size = float(np.linalg.norm(gz))
        L *= self.shrink
        while True:
            x_new = op.prox(yk - g / L, beta / L)
            dlt = x_new - yk
            Ax_new = op.A(x_new)
            f_new = val(Ax_new)
            dd = float(np.vdot(dlt, dlt))
            bound = fy + float(np.vdot(g, dlt)) + 0.5 * L * dd
            # rounding in f: the predictions carry relative errors ~eps, worth |grad_z| |Ay| in f
            slack = 64 * eps * (abs(fy) + abs(f_new) + gz_size * float(np.linalg.norm(Ay)))
            if f_new <= bound + slack or dd == 0.0 or L >= self.L_cap:
                return x_new, Ax_new, f_new, dd, L
            L = min(L * self.backtrack, self.L_cap)
            self.backtracks += 1

    def restart_due(self, yk, x_new, x, F_new, F_x):
        """O'Donoghue-Candes adaptive restart: the gradient test, the function test, both or none."""
        if self.restart in ("gradient", "both") and float(np.vdot(yk - x_new, x_new - x)) > 0:
            return True
        return self.restart in ("function", "both") and F_new > F_x

    def log_iteration(self, F, residual, L):
        record(self.hist, objective=F, residual=residual, step=1.0 / L, time=time.perf_counter() - self.t0)
        if self.log.started and (self.it == 1 or self.it % self.print_every == 0):
            self.log.row(f"{self.it:d}", f"{F:.9e}", f"{residual:.2e}", f"{1.0 / L:.2e}",
                         f"{time.perf_counter() - self.t0:.3f}")

    def converged(self, fun, val, x, Ax, L, F_x, tol_abs, tol_rel):
        """The stopping test at the candidate x: ``|G_L(x)| <= tol_abs + tol_rel max(|grad f(x)|, beta)``.
        When it holds, returns the better of x and its prox-gradient step p as (x, Ax, L, "optimal",
        relative residual, grad_z at x); else None."""
        beta = self.beta
        G, gx, p, gz_x = self.gradient_mapping(fun, x, Ax, L)
        if G > tol_abs + tol_rel * max(gx, beta):
            return None
        Ap = self.op.A(p)
        if val(Ap) + beta * self.op.penalty(p) <= F_x:
            x, Ax = p, Ap
            _, gz_x = fun(Ax)
        return x, Ax, L, "optimal", G / max(gx, beta), gz_x

    def fista(self, fun, val, x, Ax, L, tol_abs, tol_rel):
        """FISTA with backtracking and adaptive restart on fun(A w) + beta R(w).

        Returns (x, Ax, L, reason, residual, grad_z at x) with reason in optimal / certified / max_iter /
        time_limit / diverged; ``residual`` is the relative gradient mapping at the returned x (at y for
        ``certified``).
        """
        op, beta = self.op, self.beta
        x_prev, Ax_prev = x, Ax
        t, momentum = 1.0, 0.0
        F_x = val(Ax) + beta * op.penalty(x)
        while True:
            limit = limit_reached(self.it, self.max_iter, self.time_limit, self.t_start)
            if limit is not None:
                return x, Ax, L, limit, np.nan, None
            self.it += 1
            yk = x + momentum * (x - x_prev) if momentum else x
            Ay = Ax + momentum * (Ax - Ax_prev) if momentum else Ax
            fy, gz = fun(Ay)
            g = op.AT(gz)
            self.grad_evals += 1
            if not (np.isfinite(fy) and np.all(np.isfinite(g))):
                return x, Ax, L, "diverged", np.nan, None
            x_new, Ax_new, f_new, dd, L = self.prox_step(val, yk, Ay, fy, gz, g, L)
            F_new = f_new + beta * op.penalty(x_new)
            scale = max(float(np.linalg.norm(g)), beta)
            res_y = L * np.sqrt(dd)  # |G_L(y_k)|
            F_true = F_new if self.loss.name != "hinge" else self.true_objective(Ax_new, x_new)
            self.log_iteration(F_true, res_y / scale, L)
            self.keep_best(F_true, x_new)
            if not np.isfinite(F_new):
                return x, Ax, L, "diverged", np.nan, None
            if self.restart_due(yk, x_new, x, F_new, F_x):
                self.restarts += 1
                t = 1.0
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            momentum = (t - 1.0) / t_new
            t = t_new
            x_prev, Ax_prev, x, Ax, F_x = x, Ax, x_new, Ax_new, F_new
            if self.it % _CHECK_EVERY == 0 and self.certify(x, Ax, fun):
                return x, Ax, L, "certified", res_y / scale, None
            # convergence: cheap test at y, confirmed at the candidate x
            if res_y <= tol_abs + tol_rel * scale:
                done = self.converged(fun, val, x, Ax, L, F_x, tol_abs, tol_rel)
                if done is not None:
                    return done


# ------------------------------------------------------------------------------------------------------
# setup, the two methods, the result
# ------------------------------------------------------------------------------------------------------
@dataclass
class _Start:
    """The starting point and the Lipschitz data of a run."""

    x: np.ndarray
    Ax: np.ndarray
    curvature: float  # c in L = c |A|^2: 1 squared, 1/4 logistic (rho for the hinge subproblems)
    normA2: float  # power-iteration estimate of |A|_2^2
    #: |A|^2 from power iteration is a slight underestimate: 2x it bounds the curvature, so a failed
    #: sufficient-decrease test above the cap can only be rounding and L never runs away
    cap_factor: float


def _setup(program, settings, warm_start, t_start):
    """The run (with the operator and the verbose log), the start point (warm start or zero) with the
    Lipschitz estimate, and ``info``."""
    op = _Operator(program)
    loss = program.loss
    x = warm_start_weights(program, warm_start)[op.name] if warm_start is not None else np.zeros(op.shape)
    info = {"method": "fista" if loss.name != "hinge" else "augmented-lagrangian + fista",
            "restart": settings.restart}
    log = IterationLog("fista", _COLUMNS, 0.0 if settings.verbose else None)
    log.active(0.0, f"{program!r}, method {info['method']}")
    run = _Run(program, op, settings, t_start, settings.gap_tolerance(loss.name), log)
    curvature = {"squared": 1.0, "logistic": 0.25}.get(loss.name, 1.0)
    normA2 = op.norm_sq_estimate()
    start = _Start(x, op.A(x), curvature, normA2, 2.0 * curvature * normA2)
    return run, start, info


def _solve_smooth(run, settings, start, info):
    """FISTA on the smooth loss. Returns (x, Ax, L, status, residual, multiplier)."""
    loss, y = run.loss, run.y
    fun, val = _smooth_loss(loss, y)
    L = settings.lipschitz if settings.lipschitz is not None else start.curvature * start.normA2
    run.L_cap = max(start.cap_factor, L)
    x, Ax, L, status, res, gz = run.fista(fun, val, start.x, start.Ax, L, settings.tol_abs, settings.tol_rel)
    info["stopped_by"] = {"certified": "duality_gap", "optimal": "residual"}.get(status)
    status = "optimal" if status == "certified" else status
    lam = gz if gz is not None else loss.gradient(Ax, y)
    if status not in ("optimal", "diverged"):
        polished = _working_set(run, x, settings, info, final=True)
        if polished is not None:
            x, Ax, status = polished, run.op.A(polished), "optimal"
            info["stopped_by"], lam = "duality_gap", loss.gradient(run.op.A(polished), y)
    return x, Ax, L, status, res, lam


def _multiplier_update(loss, y, Ax, lam, rho):
    """ALM step: ``z* = prox_{loss/rho}(Ax + lam/rho)``, the new multiplier ``rho (v - z*)`` and the relative
    primal residual ``|Ax - z*| / max(|Ax|, |z*|, sqrt n)``."""
    v = Ax + lam / rho
    z = loss.prox(v, y, 1.0 / rho)
    r_p = float(np.linalg.norm(Ax - z)) / max(np.linalg.norm(Ax), np.linalg.norm(z), np.sqrt(y.size))
    return rho * (v - z), r_p


def _solve_hinge(run, settings, start, warm, info):
    """The augmented-Lagrangian outer loop: FISTA on the envelope subproblem (inexact, tolerance tied to
    the primal residual), multiplier update, certificate, stopping test, rho doubling when the primal
    residual falls by less than 4x. Returns (x, Ax, L, status, residual, multiplier)."""
    op, loss, y, beta = run.op, run.loss, run.y, run.beta
    tol_rel = settings.tol_rel
    rho = 1.0 if settings.rho is None else settings.rho
    info["rho_initial"] = rho
    x, Ax = start.x, start.Ax
    lam = _hinge_multiplier(op, x, Ax, y, beta) if warm else np.zeros(y.size)
    outer_hist = {"outer_iteration": [], "primal_residual": [], "rho": [], "rel_duality_gap": []}
    L, r_p_prev, r_p, outer, inner_rel = None, np.inf, np.nan, 0, 1e-2
    while True:
        outer += 1
        fun, val = _hinge_envelope(loss, y, lam, rho)
        if L is None:
            L = rho * (settings.lipschitz if settings.lipschitz is not None else start.normA2)
        run.L_cap = max(rho * start.cap_factor, L)
        tol_inner = max(tol_rel, inner_rel)
        x, Ax, L, reason, res, _ = run.fista(fun, val, x, Ax, L, settings.tol_abs, tol_inner)
        lam_new, r_p = _multiplier_update(loss, y, Ax, lam, rho)
        certified = False
        if reason != "diverged":
            lam = lam_new
            certified = run.certify(x, Ax, fun) or reason == "certified"
            polished = None if certified else _working_set(run, x, settings, info)
            if polished is not None:
                x, Ax, certified = polished, op.A(polished), True
        F_w = run.true_objective(Ax, x)
        gap_rel = certified_gap(F_w, run.best_dual)
        record(outer_hist, outer_iteration=run.it, primal_residual=r_p, rho=rho, rel_duality_gap=gap_rel)
        if run.log.started:
            print(f"  outer {outer}: rho {rho:.3g}, primal residual {r_p:.2e}, inner residual {res:.2e}, "
                  f"certified rel. gap {gap_rel:.2e}, iterations {run.it}", file=run.log.stream)
        if certified or (reason == "optimal" and r_p <= settings.tol_rel_hinge and tol_inner <= tol_rel):
            status = "optimal"
            info["stopped_by"] = "duality_gap" if certified else "residual"
            break
        if reason not in ("optimal", "certified"):
            status = reason
            break
        if r_p > 0.25 * r_p_prev and rho < 1e8:
            rho *= 2.0
            L *= 2.0
        r_p_prev = r_p
        inner_rel = max(tol_rel, min(inner_rel, 0.1 * r_p))
    if status not in ("optimal", "diverged"):
        polished = _working_set(run, x, settings, info, final=True)
        if polished is not None:
            x, Ax, status = polished, op.A(polished), "optimal"
            info["stopped_by"] = "duality_gap"
    run.hist.update(outer_hist)
    info.update({"outer_iterations": outer, "primal_residual": r_p, "rho": rho})
    return x, Ax, L, status, res, lam


def _working_set(run, x, settings, info, final=False):
    """Gated hinge and logistic: the second-order polish on the gates ``x`` uses
    (:mod:`solvers.working_set`, the dense interior point priced on every gate), on its schedule (the
    smooth loss only at the end of an uncertified run). Its bound joins the run's; returns the certified U,
    or None."""
    from .working_set import scheduled_attempt
    if not (settings.working_set and isinstance(run.program, GatedReLUProgram)
            and run.loss.name in ("hinge", "logistic") and run.working_set_schedule.due(run.it, final)):
        return None
    polished = scheduled_attempt(run.program, np.flatnonzero(np.any(x != 0, axis=0)), run.tol_gap, np.inf,
                                 run.t_start, settings.time_limit, info)
    if polished is None:
        return None
    run.best_dual = max(run.best_dual, polished["dual_bound"])
    return polished["weights"]["U"] if polished["certified"] else None


def _finish(program, run, settings, solved, info, t_start):
    """The returned point (the best point seen when not optimal and better), its certified duality gap
    from the multiplier and every dual value met, and the result."""
    x, Ax, L, status, res, lam = solved
    op, loss, y = run.op, run.loss, run.y
    if status != "optimal" and run.best[1] is not None and run.best[0] < run.true_objective(Ax, x):
        x = run.best[1]
        Ax = op.A(x)
        if loss.name != "hinge":
            lam = loss.gradient(Ax, y)
    F_final = run.true_objective(Ax, x)
    # every certified dual value is a lower bound on the optimum
    dual = max(_certified_dual(op, loss, np.asarray(lam, float), y, run.beta), run.best_dual)
    gap = F_final - dual
    rel_gap = certified_gap(F_final, dual)
    info.update({"residual": res, "tolerance": {"tol_abs": settings.tol_abs, "tol_rel": settings.tol_rel,
                                                "tol_rel_hinge": settings.tol_rel_hinge, "tol_gap": run.tol_gap},
                 "restarts": run.restarts, "backtracks": run.backtracks,
                 "gradient_evaluations": run.grad_evals, "lipschitz": L,
                 "dual_objective": dual, "duality_gap": gap, "rel_duality_gap": rel_gap,
                 "duality_gap_rel": rel_gap})
    return finish_run(program, {op.name: x}, status=status, solver="fista", iterations=run.it,
                      solve_time_s=time.perf_counter() - t_start, history=run.hist, info=info,
                      verbose=settings.verbose)


@retains_heap
def fista(program, *, warm_start=None, **options):
    r"""Solve a gated-ReLU or SCP program (squared, logistic or hinge loss) by FISTA.

    Minimises :math:`\ell(Aw, y) + \beta R(w)` (module docstring): plain FISTA with backtracking and
    adaptive restart for the smooth losses; for the hinge loss an augmented-Lagrangian outer loop whose
    smooth subproblems (Moreau envelope of the hinge) are solved by the same FISTA.

    Parameters
    ----------
    program : :class:`~formulations.gated.GatedReLUProgram` or :class:`~formulations.scp.SCPProgram`;
        its arrays are read, never modified. Constrained programs (exact / sampled / robust) raise
        ValueError (use ``admm`` or a CVXPY solver).
    warm_start : weights dict (``{"U": ...}`` / ``{"theta": ...}``), an array of the variable's shape, or
        a SolveResult; default: zero.
    **options : the fields of :class:`FISTASettings`:

        tol_abs (1e-10), tol_rel (1e-7) : stop when the prox-gradient mapping satisfies
            ``|G_L(w)| <= tol_abs + tol_rel * max(|grad f(w)|, beta)`` (for hinge: of the last subproblem).
        tol_rel_hinge (1e-7) : hinge only, relative primal residual ``|Aw - z| / max(|Aw|, |z|, sqrt(n))``.
        tol_gap (None) : also stop (status ``optimal``) when the certified relative duality gap
            ``(F(w) - dual) / max(1, |F(w)|) <= tol_gap``; default 1e-6 (squared, logistic), 1e-5 (hinge).
        max_iter (100000) : limit on FISTA iterations (summed over the outer hinge iterations); 0 returns
            the start.
        time_limit (None) : wall-clock limit in seconds (None: none).
        verbose (False) : print progress to ``sys.stderr`` every ``print_every`` (500) iterations.
        restart ("gradient") : ``"gradient"``, ``"function"``, ``"both"`` or None (plain FISTA).
        lipschitz (None) : initial Lipschitz estimate (default: power iteration); backtracking adapts it.
        backtrack (2.0) : factor > 1 applied to L when the sufficient-decrease test fails.
        shrink (0.9) : factor in (0, 1] applied to L at each iteration before the test (1: L never
            decreases).
        rho (None) : hinge only, initial augmented-Lagrangian penalty (default 1, margins are O(1)).

    Returns
    -------
    SolveResult, ``solver="fista"``, ``weights`` = ``{"U"}`` or ``{"theta"}``; ``status`` ``optimal``
    (tolerances met), ``max_iter``, ``time_limit`` or ``diverged`` (non-finite values; the best finite
    point is returned). When not optimal the best point seen is returned and a ConvergenceWarning is
    issued. ``history``: per iteration ``objective`` (true objective at x_k), ``residual`` (relative
    gradient mapping at y_k), ``step`` (1/L), ``time``; hinge adds per outer iteration ``outer_iteration``
    (FISTA iterations so far), ``primal_residual``, ``rho``, ``rel_duality_gap``. ``info``: method,
    residual, tolerance, restarts, backtracks, gradient_evaluations, lipschitz, duality_gap,
    rel_duality_gap (also as duality_gap_rel, the key every solver's summary reads), dual_objective,
    stopped_by (``residual`` / ``duality_gap``, None when not optimal), (hinge) outer_iterations,
    primal_residual, rho, rho_initial.
    """
    t_start = time.perf_counter()
    _check_program(program)
    settings = settings_from_options("fista", FISTASettings, options)
    run, start, info = _setup(program, settings, warm_start, t_start)
    if program.loss.name != "hinge":
        solved = _solve_smooth(run, settings, start, info)
    else:
        solved = _solve_hinge(run, settings, start, warm_start is not None, info)
    return _finish(program, run, settings, solved, info, t_start)


fista.__signature__ = keyword_signature(FISTASettings, warm_start=None)
