r"""ADMM for the squared-loss constrained convex ReLU program (Bai, Gautam & Sojoudi, Algorithm 1).

:func:`solvers.admm.admm` sends the squared loss here; hinge and logistic go to :mod:`.split`, the robust
program to :mod:`.robust`.

Problem (docs/math.md sections 2 and 6), with a = (v_1..v_P, w_1..w_P), prediction map M and cone map Q:

.. math::
    \min_a\ \tfrac12 |M a - y|^2 + \beta \sum_j |a_j|_2 \quad\text{s.t.}\quad Q a \ge 0 .

Split ``a = b``, ``Q a = c`` and run scaled ADMM with penalty rho, dual step gamma and over-relaxation
alpha. One iteration (:meth:`_SquaredADMM.iterate`):

1. a-update: ``(I + M^T M / rho + Q^T Q) a = M^T y / rho + b - mu + Q^T (c - kappa)``, solved with the
   cached factorisation of :mod:`.factorization` (one d x d inverse, one n x n eigendecomposition; any
   rho is a diagonal shift);
2. over-relaxation: ``a_hat = alpha a + (1 - alpha) b_old``, ``(Q a)_hat = alpha Q a + (1 - alpha) c_old``
   (``alpha = 1`` is the plain algorithm);
3. b-update: group soft-threshold of every block of ``a_hat + mu`` at ``beta / rho``, and
   ``mu += gamma (a_hat - b)``;
4. cone update: ``c = max(0, (Q a)_hat + kappa)``, ``kappa += gamma ((Q a)_hat - c)``.

Every ``check_every`` iterations (:meth:`_SquaredADMM.check`): OSQP-style residuals and a duality-gap
estimate, the stopping tests, a certified stop, polishing, and residual balancing of rho.

The ingredients, each with its reason:

* data scaling (:class:`~solvers.core.scaling.Scaled`): the solver works on ``X / sx`` and ``y / sy``
  (with ``beta / (sx sy)``), so that ``X^T X`` and the identity of the split ``a = b`` have comparable
  size and one rho rule fits all data scales; results map back exactly (``v = sy/sx * v_scaled``);
* the initial penalty ``rho = 0.5 sqrt(beta_s beta_max)`` on the scaled problem, where
  ``beta_max = max_j |(M^T y)_j|`` is the weight decay above which the zero model is optimal;
* adaptive rho by OSQP residual balancing as a safeguard: the primal residual is normalised by the size
  of ``(a, Q a, b, c)``, the dual residual by the size of ``M^T M a``, ``M^T y`` (the linear term) and
  the dual variables, so balancing cannot drive rho to zero; rho only changes when the normalised
  residuals are ``adaptive_rho_tolerance**2`` apart; the eigendecomposition makes a change free;
* over-relaxation (``alpha = 1.6``);
* polishing (OSQP style, :mod:`.polish`): once the support of b and the set of active cone constraints
  stop changing, the smooth reduced problem on that support is solved by Newton's method in a null-space
  parametrisation of the active cone rows, with an active-set correction loop; the result comes with a
  Lagrange-dual certificate (relative duality gap) and is accepted if certified, or if it is feasible and
  not worse than the ADMM iterate;
* second-order polish on a working set (:mod:`solvers.working_set`): after ``working_set_after`` iterations (then
  4x as many, and once at the end of an uncertified run) the interior point solves the program on the
  patterns the iterate b uses, and pricing the other patterns at its dual vector certifies the result on
  the full program (patterns priced above beta join, column generation); the support settles long before
  the active cone rows that the active-set polish needs, which at small beta take tens of thousands of
  iterations;
* a final projection: every block of an unpolished ADMM point that violates its cone is projected
  onto it exactly (NNLS in the dual), so the returned point is feasible;
* Anderson acceleration of the fixed-point map (``anderson=m``), off by default.

Stopping: OSQP-style primal / dual residuals (infinity norms, on the scaled problem) with absolute and
relative tolerances together with a duality-gap estimate; or a polished point whose certified relative
duality gap is below ``tol_gap``; or - once the estimate is below ``tol_gap`` - the iterate b projected
onto the cones whose objective is within ``tol_gap`` of the dual bound (a certified stop, as in
:mod:`.split`); plus iteration and time limits.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from ..core.blas import run_with_blas_threads
from ..core.dual import block_dual_scaling, certified_gap
from ..core.log import IterationLog, record
from ..core.operators import cone_pair_step, project_cones
from ..core.options import (check_constrained_squared, check_flags, check_int, check_positive, check_print_every,
                            check_rho_tolerance, keyword_signature, limit_reached, settings_from_options,
                            verbose_after, warm_start_weights)
from ..core.prox import block_norms, group_soft, inf_norm
from ..core.scaling import Scaled
from ..result import finish_run
from .factorization import a_update_factorization, check_a_update
from .polish import polish as polish_active_set
from ..working_set import WorkingSetSchedule, patterns_in_use, scheduled_attempt
from .schedules import (CertifySchedule, PolishSchedule, Residuals, balanced_rho, final_candidates, initial_rho,
                        pick_returned_point, projection_deadline)

__all__ = ["admm_squared", "ADMMSettings"]

SOLVER = "admm"


# ------------------------------------------------------------------------------------------------------
# settings: every option and its default, validated in one place
# ------------------------------------------------------------------------------------------------------
@dataclass
class ADMMSettings:
    """The options of :func:`admm_squared` (their meaning is in its docstring), with their defaults."""

    rho: float | None = None  # None: 0.5 sqrt(beta_s beta_max) on the scaled problem
    gamma: float = 1.0  # dual step in (0, 1]; 1 is standard ADMM
    alpha: float = 1.6  # over-relaxation in (0, 2)
    tol_abs: float = 1e-7
    tol_rel: float = 1e-6
    tol_gap: float = 1e-7
    feas_tol: float = 1e-9
    max_iter: int = 20000
    time_limit: float | None = None
    warm_start: object = None
    verbose: object = False  # True / False, or the seconds after which the table starts
    adaptive_rho: bool = True
    adaptive_rho_tolerance: float = 30.0  # wide: rho changes only when the residuals are far out of balance
    scaling: bool = True
    polish: bool = True
    anderson: int = 0  # off: it did not save iterations and made each one dearer
    sigma: float = 1.0  # weight of the cone split (Q uses sigma X)
    check_every: int = 10
    polish_patience: int = 2
    working_set: bool = True  # second-order polish: the interior point on the patterns the iterate uses
    working_set_after: int = 1000  # iterations before its first attempt; then after 4x as many
    print_every: int | None = None  # None: about every 50 iterations (a multiple of check_every)
    blas_threads: int | None = 1  # the per-iteration products are small: one thread avoids oversubscription
    a_update: str = "auto"  # "dense" (n x n eigendecomposition), "matrix_free" (CG) or "auto" (by n)
    preconditioner: str = "auto"  # the matrix-free route's: "block", "gram", "nystrom" or "auto" (block when it fits)

    def validated(self):
        """A checked copy: a ValueError naming ``admm`` and the option for any bad value. ``print_every``
        gets its default, and ``verbose`` becomes the seconds after which the table starts (None: never).
        ``blas_threads`` is checked by :func:`~solvers.core.blas.run_with_blas_threads`."""
        def positive(name, allow_none=False, upper=None, upper_closed=True):
            return check_positive(SOLVER, name, getattr(self, name), allow_none, upper, upper_closed)

        def integer(name, minimum=1):
            return check_int(SOLVER, name, getattr(self, name), minimum)

        checked = dict(
            gamma=positive("gamma", upper=1.0), alpha=positive("alpha", upper=2.0, upper_closed=False),
            tol_abs=positive("tol_abs"), tol_rel=positive("tol_rel"), tol_gap=positive("tol_gap"),
            feas_tol=positive("feas_tol"), rho=positive("rho", allow_none=True), sigma=positive("sigma"),
            adaptive_rho_tolerance=check_rho_tolerance(SOLVER, self.adaptive_rho_tolerance),
            time_limit=positive("time_limit", allow_none=True), max_iter=integer("max_iter", minimum=0),
            check_every=integer("check_every"), anderson=integer("anderson", minimum=0),
            polish_patience=integer("polish_patience"), working_set_after=integer("working_set_after"))
        checked["print_every"] = check_print_every(SOLVER, self.print_every, checked["check_every"])
        check_flags(SOLVER, adaptive_rho=self.adaptive_rho, scaling=self.scaling, polish=self.polish,
                    working_set=self.working_set)
        checked["verbose"] = verbose_after(SOLVER, self.verbose)
        check_a_update(self.a_update, self.preconditioner)
        return replace(self, **checked)


# ------------------------------------------------------------------------------------------------------
# the cone split Q a = c in its two storage forms
# ------------------------------------------------------------------------------------------------------
class _ConeSplit:
    r"""The split ``Q a = c`` with its scaled dual kappa, for any dual step gamma:
    ``c = max(0, (Q a)_hat + kappa)``, ``kappa += gamma ((Q a)_hat - c)`` with the over-relaxed
    ``(Q a)_hat = alpha Q a + (1 - alpha) c_old``. The update keeps kappa <= 0, so ``-rho sigma kappa``
    are nonnegative cone multipliers."""

    def __init__(self, F, C, Kp, alpha, gamma):
        self.F, self.alpha, self.gamma = F, alpha, gamma
        self.C, self.Kp, self.QA = C, Kp, None

    def adjoint(self):
        """``Q^T (c - kappa)``: the cone split's share of the a-update's right-hand side."""
        return self.F.QT(self.C - self.Kp)

    def update(self, A, XA=None):
        """The cone step for the new iterate ``a``; ``X a`` is written into ``XA`` when it is given."""
        if XA is None:
            XA = self.F.X @ A
        else:
            np.matmul(self.F.X, A, out=XA)
        self.QA = self.F.S2q * XA
        QA_hat = self.alpha * self.QA + (1.0 - self.alpha) * self.C if self.alpha != 1.0 else self.QA
        self.C = np.maximum(QA_hat + self.Kp, 0.0)
        self.Kp += self.gamma * (QA_hat - self.C)

    def settle(self, XA):
        """Make ``QA``, ``C`` and ``Kp`` current (they always are here)."""

    def QT_kappa(self):
        return self.F.QT(self.Kp)

    def primal_residual(self):
        """``|Q a - c|_inf``."""
        return inf_norm(self.QA - self.C)

    def rescale(self, factor):
        """kappa is a scaled dual: ``kappa *= rho_old / rho_new`` when rho changes."""
        self.Kp *= factor

    def set_sum(self, Z):
        """``c = max(Z, 0)``, ``kappa = Z - c`` from a point ``Z = c + kappa`` of the fixed-point map."""
        self.C = np.maximum(Z, 0.0)
        self.Kp = Z - self.C

    def final(self):
        """After the iterations: ``C`` and ``Kp`` of the last iterate in arrays of their own (they are)."""


class _MergedConeSplit(_ConeSplit):
    r"""The cone split for gamma = 1, stored as ``Z = c + kappa``: then ``c = max(Z, 0)``,
    ``kappa = min(Z, 0)``, ``c - kappa = |Z|``, and the update
    ``Z <- min(Z, 0) + (1 - alpha) max(Z, 0) + alpha Q a = Z + alpha (Q a - max(Z, 0))`` runs in place.

    The update is one pass over row chunks (:meth:`update`): per chunk the product ``X a``, the step on
    ``Z`` and the next iteration's ``Q^T (c - kappa)``, with temporaries of one chunk. ``C``, ``Kp`` and
    ``QA`` are written into buffers of their own at checks."""

    def __init__(self, F, C, Kp, alpha, gamma=1.0):
        super().__init__(F, C, Kp, alpha, gamma)
        self.Z = C + Kp
        self.scratch, self.QA = np.empty_like(self.Z), np.empty_like(self.Z)
        self.C_buffer, self.K_buffer = np.empty_like(self.Z), np.empty_like(self.Z)
        self.chunk_product = np.empty((F.chunk_rows, 2 * F.P))
        self.chunk_step, self.chunk_cone = np.empty_like(self.chunk_product), np.empty_like(self.chunk_product)
        self.next_adjoint = None  # Q^T (c - kappa) of the current Z, left by update

    def adjoint(self):
        # Q^T (c - kappa) = sigma X^T (S2 o |Z|), and S2 o |Z| = copysign(Z, S2) (S2 = +-1)
        if self.next_adjoint is None:
            self.next_adjoint = self.F.sigma * (self.F.XT @ np.copysign(self.Z, self.F.S2, out=self.scratch))
        return self.next_adjoint

    def update(self, A, XA=None):
        """The step on ``Z`` for the new iterate ``a``, and ``Q^T (c - kappa)`` of the new ``Z``, in one pass
        over row chunks; ``X a`` is written into ``XA`` when it is given."""
        F, alpha = self.F, self.alpha
        adjoint = np.zeros_like(A)
        for rows in F.chunks:
            count = rows.stop - rows.start
            product = XA[rows] if XA is not None else self.chunk_product[:count]
            np.matmul(F.X[rows], A, out=product)
            Z, step, QA = self.Z[rows], self.chunk_step[:count], self.chunk_cone[:count]
            np.multiply(product, F.S2q[rows], out=QA)
            cone_pair_step(Z, QA, alpha, step)
            np.copysign(Z, F.S2[rows], out=step)
            adjoint += F.XT[:, rows] @ step
        self.next_adjoint = F.sigma * adjoint

    def settle(self, XA):
        np.multiply(XA, self.F.S2q, out=self.QA)
        self.C = np.maximum(self.Z, 0.0, out=self.C_buffer)
        self.Kp = np.subtract(self.Z, self.C, out=self.K_buffer)

    def QT_kappa(self):
        # kappa <= 0, so S2 o kappa = -copysign(kappa, S2)
        return -self.F.sigma * (self.F.XT @ np.copysign(self.Kp, self.F.S2, out=self.scratch))

    def primal_residual(self):
        return inf_norm(np.subtract(self.QA, self.C, out=self.scratch))

    def rescale(self, factor):
        self.Kp *= factor
        self.Z = self.C + self.Kp
        self.next_adjoint = None

    def final(self):
        self.set_sum(self.Z)


# ------------------------------------------------------------------------------------------------------
# Anderson acceleration
# ------------------------------------------------------------------------------------------------------
class _Anderson:
    """Type-II Anderson acceleration of a fixed-point map ``x -> T(x)`` with a restart safeguard.

    ``step(f)`` receives ``f = T(x_k)`` for the point ``x_k`` returned by the previous call (or given to
    :meth:`reset`) and returns ``x_{k+1} = f - (dX + dG) g`` with ``g = argmin |g_k - dG g|`` over the
    last ``memory`` differences (``g_k = f - x_k``). When the fixed-point residual ``|g_k|`` exceeds
    ``safeguard`` times the smallest residual since the last restart, the memory is cleared and the plain
    step ``f`` is taken."""

    def __init__(self, shapes, memory=5, safeguard=2.0, reg=1e-10):
        self.shapes = shapes
        self.sizes = [int(np.prod(s)) for s in shapes]
        self.memory, self.safeguard, self.reg = memory, safeguard, reg
        self.restarts = self.accelerated = 0
        self.x = None

    def _flat(self, parts):
        return np.concatenate([np.ravel(p) for p in parts])

    def _split(self, v):
        out, k = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            out.append(v[k:k + size].reshape(shape))
            k += size
        return out

    def reset(self, *parts):
        self.x = self._flat(parts)
        self.dX, self.dG = [], []
        self.g_prev = self.x_prev = None
        self.best = np.inf

    def step(self, *f_parts):
        f = self._flat(f_parts)
        g = f - self.x
        residual = float(np.linalg.norm(g))
        if residual > self.safeguard * self.best:
            self.restarts += 1
            self.reset(*f_parts)
            return f_parts
        self.best = min(self.best, residual)
        if self.g_prev is not None:
            self.dX.append(self.x - self.x_prev)
            self.dG.append(g - self.g_prev)
            if len(self.dX) > self.memory:
                self.dX.pop(0)
                self.dG.pop(0)
        self.x_prev, self.g_prev = self.x, g
        self.x = self._extrapolate(f, g)
        return tuple(self._split(self.x))

    def _extrapolate(self, f, g):
        """``f - (dX + dG) coef`` with ``coef = argmin |g - dG coef|`` (regularised normal equations)."""
        if not self.dG:
            return f
        G = np.array(self.dG)  # m x N
        gram = G @ G.T
        gram[np.diag_indices_from(gram)] += self.reg * max(float(np.trace(gram)), 1e-300)
        try:
            coef = np.linalg.solve(gram, G @ g)
        except np.linalg.LinAlgError:
            return f
        if not np.all(np.isfinite(coef)):
            return f
        self.accelerated += 1
        return f - (np.array(self.dX) + G).T @ coef


# ------------------------------------------------------------------------------------------------------
# the solver
# ------------------------------------------------------------------------------------------------------
@dataclass
class _Check:
    """What a check computes (scaled problem, except the objective): the OSQP residuals with their scales,
    the objective at a (original units), the Lagrange dual value (scaled) and the relative gap estimate."""
    residuals: Residuals
    objective: float
    dual_s: float
    gap: float
    dual_vector: np.ndarray  # the dual vector of dual_s (scaled problem)


class _SquaredADMM:
    """One run: the scaled data and factorisation, the iterates ``A``, ``B``, ``Mu`` and the cone split,
    the penalty rho, the schedules, the history and the best polished or certified point."""

    def __init__(self, program, settings, t_start):
        self.program, self.settings, self.t_start = program, settings, t_start
        self.warm_start = warm_start_weights(program, settings.warm_start)
        self.sc = Scaled(program, settings.scaling)
        self.F = a_update_factorization(self.sc.X, program.D, settings.sigma, settings.a_update,
                                        settings.preconditioner)
        self.ys, self.beta = self.sc.y, self.sc.beta
        self.MTy = self.F.MT(self.ys)
        self.rho = settings.rho if settings.rho is not None else self.default_rho()
        self.setup_time = time.perf_counter() - t_start
        self.yscale = max(1.0, inf_norm(self.ys))
        self.feas_abs = settings.feas_tol * self.yscale
        self.start_iterates()
        self.it, self.r_prim, self.r_dual = 0, np.inf, np.inf
        self.history = {key: [] for key in ("iteration", "objective", "primal_residual", "dual_residual", "rho",
                                            "time", "gap")}
        self.info = {"setup_time_s": self.setup_time, "scale_x": self.sc.sx, "scale_y": self.sc.sy,
                     "accelerations": {"scaling": bool(settings.scaling), "adaptive_rho": bool(settings.adaptive_rho),
                                       "over_relaxation": settings.alpha, "polish": bool(settings.polish),
                                       "anderson_memory": settings.anderson if settings.gamma == 1.0 else 0},
                     "gamma": settings.gamma, "rho_initial": self.rho, "polish_attempts": 0, "rho_updates": 0,
                     "polish_time_s": 0.0, "certify_attempts": 0, "certify_time_s": 0.0}
        self.best_polished = None
        self.certified_point = self.certified_gap = self.certified_dual = None
        self.certified_label = "admm_b_projected"
        self.working_set_schedule = WorkingSetSchedule(settings.working_set_after)
        self.best_dual = -np.inf  # the best Lagrange dual bound seen at any check (original units)
        self.best_dual_vector = None  # its dual vector (original units)
        self.polish_schedule = PolishSchedule(settings.polish_patience, 10 * settings.check_every)
        self.certify_schedule = CertifySchedule(settings.check_every)
        self.log = IterationLog(SOLVER, [("iter", 6), ("objective", 14), ("prim res", 10), ("dual res", 10),
                                         ("gap est", 10), ("rho", 10), ("time", 9)], settings.verbose)
        self.intro = (f"n={self.F.n}, d={self.F.d}, P={self.F.P}, beta={program.beta_value:g}, setup "
                      f"{self.setup_time:.3g}s, rho0={self.rho:.3g}, alpha={settings.alpha}, gamma={settings.gamma}")
        self.log.active(0.0, self.intro)

    # ---- setup -------------------------------------------------------------------------------------------
    def default_rho(self):
        """``0.5 sqrt(beta_s max(beta_max, beta_s))`` with ``beta_max = max_j |(M^T y)_j|`` (above it the zero
        model is optimal), clipped to [1e-6, the largest eigenvalue of the capacitance]
        (:func:`~solvers.admm.schedules.initial_rho`)."""
        return initial_rho(self.beta, self.MTy, 0.5, 1e-6, max(self.F.capacitance_max, 1.0))

    def start_iterates(self):
        """``a`` (zero, or the warm start), ``b = a``, ``c = max(Q a, 0)``, ``kappa = 0``; ``mu = 0``, or for a
        warm start the duals of ``a = b`` if the cone multipliers were zero (``rho mu = -M^T (M a - y)``)."""
        F, s = self.F, self.settings
        self.A = self.sc.from_weights(self.warm_start) if self.warm_start is not None else np.zeros((F.d, 2 * F.P))
        self.XA = F.X @ self.A
        self.XA_current = True
        self.B = self.A.copy()
        C = np.maximum(F.S2q * self.XA, 0.0)
        Kp = np.zeros_like(C)
        if self.warm_start is not None:
            self.Mu = -F.MT(F.M_from_XA(self.XA) - self.ys) / self.rho
        else:
            self.Mu = np.zeros_like(self.A)
        self.anderson = None
        if s.anderson and s.gamma == 1.0:
            self.anderson = _Anderson([self.B.shape, C.shape], memory=s.anderson)
            self.anderson.reset(self.B + self.Mu, C + Kp)
        merged = s.gamma == 1.0 and self.anderson is None
        self.cones = (_MergedConeSplit if merged else _ConeSplit)(F, C, Kp, s.alpha, s.gamma)

    # ---- the iterations ----------------------------------------------------------------------------------
    def run(self):
        """Iterate until a stopping test or a limit holds; returns the status."""
        status = self.polish_warm_start()
        while status is None:
            status = limit_reached(self.it, self.settings.max_iter, self.settings.time_limit, self.t_start)
            if status is not None:
                break
            self.iterate()
            if self.it % self.settings.check_every == 0 or self.it == 1:
                status = self.check()
            if status is None and self.anderson is not None:
                self.anderson_step()
        self.cones.final()
        return status

    def iterate(self):
        """One ADMM iteration: a-update, over-relaxation, b-update with mu, cone update with kappa. ``X a``
        (for the residuals and the polish) is kept only on the iterations that check."""
        self.it += 1
        self.A = self.a_update()
        A_hat = self.over_relaxed(self.A)
        self.b_update(A_hat)
        checks = self.it % self.settings.check_every == 0 or self.it == 1
        self.cones.update(self.A, self.XA if checks else None)
        self.XA_current = checks

    def current_XA(self):
        """``X a`` of the current iterate (the buffer, refreshed if the last iteration did not keep it)."""
        if not self.XA_current:
            np.matmul(self.F.X, self.A, out=self.XA)
            self.XA_current = True
        return self.XA

    def a_update(self):
        """Solve ``(I + M^T M / rho + Q^T Q) a = M^T y / rho + b - mu + Q^T (c - kappa)``; returns A."""
        R = self.MTy / self.rho + self.B - self.Mu + self.cones.adjoint()
        return self.F.solve(R, self.rho)

    def over_relaxed(self, A):
        """``a_hat = alpha a + (1 - alpha) b_old``."""
        alpha = self.settings.alpha
        return alpha * A + (1.0 - alpha) * self.B if alpha != 1.0 else A

    def b_update(self, A_hat):
        """``b = prox_{(beta / rho) sum_j |.|_2}(a_hat + mu)`` (group soft-threshold), ``mu += gamma (a_hat - b)``."""
        self.B = group_soft(A_hat + self.Mu, self.beta / self.rho)
        self.Mu += self.settings.gamma * (A_hat - self.B)

    def anderson_step(self):
        """Anderson acceleration of the fixed-point map ``zeta -> T(zeta)`` with ``zeta = (b + mu, c + kappa)``;
        b, mu, c and kappa are read back from the accelerated zeta."""
        zeta_b, zeta_c = self.anderson.step(self.B + self.Mu, self.cones.C + self.cones.Kp)
        self.B = group_soft(zeta_b, self.beta / self.rho)
        self.Mu = zeta_b - self.B
        self.cones.set_sum(zeta_c)

    # ---- the checks ----------------------------------------------------------------------------------------
    def check(self):
        """Residuals and stopping tests, certified stop, polishing, rho balancing; a status to stop with."""
        s = self.settings
        self.cones.settle(self.current_XA())
        checked = self.residuals()
        res = checked.residuals
        self.r_prim, self.r_dual = res.primal, res.dual
        self.F.adapt(res)
        if np.isfinite(checked.dual_s) and self.sc.sy ** 2 * checked.dual_s > self.best_dual:
            self.best_dual = self.sc.sy ** 2 * checked.dual_s
            self.best_dual_vector = self.sc.sy * checked.dual_vector
        self.log_check(checked)
        if not (res.finite() and np.isfinite(checked.objective)):
            return "diverged"
        if res.converged(s.tol_abs, s.tol_rel) and checked.gap <= max(s.tol_rel, s.tol_gap):
            return "optimal"
        if self.certified_stop(checked) or self.polish_if_stable() or self.working_set_if_due():
            return "optimal"
        self.balance_rho(checked)
        return None

    def residuals(self):
        """OSQP-style residuals on the scaled problem, ``r_prim = |(a - b, Q a - c)|_inf`` and
        ``r_dual = |M^T (M a - y) + rho mu + rho Q^T kappa|_inf`` with their scales, the objective and the
        duality-gap estimate."""
        F, A, B, cones, rho = self.F, self.A, self.B, self.cones, self.rho
        pred = F.M_from_XA(self.current_XA())
        MTMa = F.MT(pred)
        QTk = cones.QT_kappa()
        residuals = Residuals(
            primal=max(inf_norm(A - B), cones.primal_residual()),
            dual=inf_norm(MTMa - self.MTy + rho * (self.Mu + QTk)),
            primal_scale=max(inf_norm(A), inf_norm(cones.QA), inf_norm(B), float(cones.C.max(initial=0.0))),
            dual_scale=max(inf_norm(MTMa), inf_norm(self.MTy), rho * inf_norm(self.Mu), rho * inf_norm(QTk)))
        objective = self.objective(pred, A)
        dual_s, dual_vector = self.dual_value(pred, MTMa - self.MTy + rho * QTk)
        return _Check(residuals, objective, dual_s, certified_gap(objective, self.sc.sy ** 2 * dual_s), dual_vector)

    def objective(self, pred, Z):
        """The objective in original units of the scaled point ``Z`` with predictions ``pred``."""
        return self.sc.sy ** 2 * (0.5 * float((pred - self.ys) @ (pred - self.ys))
                                  + self.beta * float(np.sum(block_norms(Z))))

    def dual_value(self, pred, R):
        """The Lagrange dual value (scaled problem) at ``nu = M a - y``, ``lam = -rho sigma kappa`` (so that
        ``X^T (S o lam) = -rho Q^T kappa``), both scaled by theta into the dual feasible set; ``R`` holds the
        blocks' dual residuals ``M^T nu + rho Q^T kappa``. Returns the value and the dual vector ``theta nu``."""
        residual = pred - self.ys
        theta = block_dual_scaling(R, self.beta)
        return -0.5 * theta ** 2 * float(residual @ residual) - theta * float(residual @ self.ys), theta * residual

    def log_check(self, checked):
        """Record the check in the history; print a table row every ``print_every`` iterations."""
        now = time.perf_counter() - self.t_start
        res = checked.residuals
        record(self.history, iteration=self.it, objective=checked.objective, primal_residual=res.primal,
               dual_residual=res.dual, rho=self.rho, time=now, gap=checked.gap)
        if self.log.active(now, self.intro) and (self.it == 1 or self.it % self.settings.print_every == 0):
            self.log.row(f"{self.it:d}", f"{checked.objective:.8e}", f"{res.primal:.3e}", f"{res.dual:.3e}",
                         f"{checked.gap:.3e}", f"{self.rho:.3e}", f"{now:.2f}s")

    def certified_stop(self, checked):
        """Once the gap estimate is below ``tol_gap`` (on the certify schedule): project the group-sparse b
        onto the cones and compare its objective with the dual bound (valid: kappa <= 0 always, so the cone
        multipliers ``-rho sigma kappa`` are >= 0). True when the projected point is certified."""
        tol_gap = self.settings.tol_gap
        if not self.certify_schedule.due(self.it, checked.gap, tol_gap):
            return False
        self.info["certify_attempts"] += 1
        t0 = time.perf_counter()
        deadline = CertifySchedule.deadline(t0, self.t_start, self.settings.time_limit)
        projected = project_cones(self.F, self.B, deadline)
        self.info["certify_time_s"] += time.perf_counter() - t0
        if projected is None:
            return False
        objective = self.objective(self.F.M_from_XA(self.F.X @ projected), projected)
        gap = certified_gap(objective, self.sc.sy ** 2 * checked.dual_s)
        if gap > tol_gap:
            return False
        self.certified_point, self.certified_gap = projected, gap
        self.certified_dual = self.sc.sy ** 2 * checked.dual_s
        return True

    def balance_rho(self, checked):
        """OSQP residual balancing; the scaled duals follow a change of rho."""
        s = self.settings
        new_rho = balanced_rho(self.rho, checked.residuals, s.adaptive_rho_tolerance) if s.adaptive_rho else None
        if new_rho is None:
            return
        self.Mu *= self.rho / new_rho
        self.cones.rescale(self.rho / new_rho)
        self.rho = new_rho
        self.info["rho_updates"] += 1
        if self.anderson is not None:
            self.anderson.reset(self.B + self.Mu, self.cones.C + self.cones.Kp)

    # ---- polishing -----------------------------------------------------------------------------------------
    def try_polish(self, A_ref, support, active, lam_admm):
        """Polish from ``A_ref`` on ``support`` with the ``active`` cone rows; keeps the best polished point
        (with its certified relative gap ``gap_rel``) and returns this attempt's result or None."""
        s = self.settings
        self.info["polish_attempts"] += 1
        t0 = time.perf_counter()
        polished = polish_active_set(self.F, self.sc, A_ref, support, active, lam_admm, s.feas_tol,
                                     deadline=PolishSchedule.deadline(t0, self.t_start, s.time_limit))
        self.info["polish_time_s"] += time.perf_counter() - t0
        if polished is None:
            return None
        polished["gap_rel"] = certified_gap(polished["objective_s"], polished["dual_s"], unit=self.sc.sy ** 2)
        if self.best_polished is None or polished["objective_s"] < self.best_polished["objective_s"]:
            self.best_polished = polished
        return polished

    def polish_warm_start(self):
        """A warm start is polished first: a certified one needs no iteration."""
        if self.warm_start is None or not self.settings.polish:
            return None
        support = np.flatnonzero(np.linalg.norm(self.A, axis=0) > 0)
        active = np.abs(self.F.S2 * self.current_XA()) <= 1e-9 * self.yscale
        polished = self.try_polish(self.A, support, active, np.zeros_like(self.cones.C))
        return "optimal" if polished is not None and polished["gap_rel"] <= self.settings.tol_gap else None

    def polish_if_stable(self):
        """Polish once the support of b and the active cone rows stop changing; True when certified."""
        s = self.settings
        due = self.polish_schedule.due(self.it, self.B, self.cones.C, self.cones.Kp) if s.polish else None
        if due is None:
            return False
        polished = self.try_polish(self.A, *due, -self.rho * s.sigma * self.cones.Kp)
        if polished is None:
            return False
        self.log.line(f"polish: objective {self.sc.sy ** 2 * polished['objective_s']:.10e}, certified rel gap "
                      f"{polished['gap_rel']:.2e}, violation {self.sc.sy * polished['violation_s']:.1e}")
        return polished["gap_rel"] <= s.tol_gap

    def working_set_if_due(self, final=False):
        """Second-order polish (:mod:`solvers.working_set`) after ``working_set_after`` iterations, then after 4x as
        many each time, and once more at the end of a run that nothing certified: the interior point on
        the patterns whose blocks of b are nonzero, certified on the full program by pricing the others.
        A certified point becomes the run's certified point; True when it is."""
        s = self.settings
        if not (s.polish and s.working_set and self.working_set_schedule.due(self.it, final)):
            return False
        polished = scheduled_attempt(self.program, patterns_in_use(self.B, self.F.P), s.tol_gap,
                                     self.feas_abs * self.sc.sy, self.t_start, s.time_limit, self.info)
        if polished is None:
            return False
        self.log.line(f"working-set polish: {polished['patterns'].size} of {self.F.P} patterns, objective "
                      f"{polished['objective']:.10e}, certified rel gap {polished['gap']:.2e}")
        self.best_dual = max(self.best_dual, polished["dual_bound"])
        if not polished["certified"]:
            return False
        self.certified_point = self.sc.from_weights(polished["weights"])
        self.certified_gap, self.certified_dual = polished["gap"], polished["dual_bound"]
        self.certified_label = "working_set"
        return True

    def polish_final(self, status):
        """A last polish of the final iterate, unless the run diverged or is certified already; then the
        working-set polish if the point is still not certified."""
        polished = self.best_polished
        if not self.settings.polish or status == "diverged" or self.it == 0 or self.certified_point is not None \
                or (polished is not None and polished["gap_rel"] <= self.settings.tol_gap):
            return
        if self.working_set_if_due(final=True):
            return
        support = np.flatnonzero(np.any(self.B != 0, axis=0))
        active = (self.cones.C == 0) & (self.cones.Kp < 0)
        self.try_polish(self.A, support, active, -self.rho * self.settings.sigma * self.cones.Kp)

    # ---- the returned point --------------------------------------------------------------------------------
    def candidates(self, status):
        """``{label: (weights, objective, violation)}`` in original units: the best polished point, and the
        certified projection of b, or else the iterates b and a with their projections onto the cones."""
        listed = []
        if self.best_polished is not None:
            listed.append(("polished", self.best_polished["A"]))
        if self.certified_point is not None:
            listed.append((self.certified_label, self.certified_point))
        evaluated = final_candidates(self.F, listed, None, self.evaluate, project=False)
        if self.certified_point is None and status != "diverged":
            deadline = projection_deadline(time.perf_counter() - self.t_start, self.settings.time_limit)
            evaluated.update(final_candidates(self.F, (("admm_b", self.B), ("admm_a", self.A)), deadline,
                                              self.evaluate))
        return evaluated

    def evaluate(self, Z):
        """``(weights, objective, cone violation)`` of the scaled point ``Z`` in original units."""
        weights = self.sc.to_weights(Z, self.F.P)
        return weights, self.program.objective(weights), self.program.max_violation(weights)

    def finish(self, status):
        """Pick the returned point, settle the status and build the result."""
        s, loop_end = self.settings, time.perf_counter()
        self.polish_final(status)
        evaluated = self.candidates(status)
        # the ADMM iterate a is the comparator: a polished point that is not certified must not be worse than
        # it by more than a small slack (a wrong active set can make polishing feasible but poor)
        obj_iterate = evaluated["admm_a"][1] if "admm_a" in evaluated else np.inf
        certified = self.best_polished is not None and self.best_polished["gap_rel"] <= s.tol_gap
        if "polished" in evaluated and not certified \
                and evaluated["polished"][1] > obj_iterate + 1e-3 * max(1.0, abs(obj_iterate)):
            self.info["polish_rejected"] = "worse than the ADMM iterate and not certified"
            del evaluated["polished"]
        feas_orig = self.feas_abs * self.sc.sy
        point, weights, obj, viol = pick_returned_point(self.program, evaluated, feas_orig)
        if point == "zero":
            status = "diverged"
        if point == "polished" and certified and status in ("max_iter", "time_limit", "optimal"):
            status = "optimal"  # certified by the duality gap, whatever stopped the iterations
        elif self.certified_point is not None:
            # certified stop: the returned point must be feasible and within tol_gap of the dual bound
            certified = viol <= feas_orig and certified_gap(obj, self.certified_dual) <= s.tol_gap
            status = "optimal" if certified else "optimal_inaccurate"
        elif status == "optimal":
            # residual convergence: the returned point must be feasible and as good as the iterate
            if viol > feas_orig or obj > obj_iterate + 10.0 * s.tol_rel * max(1.0, abs(obj_iterate)):
                status = "optimal_inaccurate"
        dual_bound = self.best_dual_bound()
        gap = None if dual_bound is None else certified_gap(obj, dual_bound)
        certified = gap is not None and gap <= s.tol_gap and viol <= feas_orig
        if certified and point != "zero":
            status = "optimal"  # a certified gap at a feasible point, whatever stopped the iterations
        elif status == "optimal":
            status = "optimal_inaccurate"  # converged residuals, but no certified gap for this point
        total = time.perf_counter() - self.t_start
        self.report(point, viol, certified, gap, dual_bound, total - (loop_end - self.t_start))
        return finish_run(self.program, weights, status=status, solver=SOLVER, iterations=self.it,
                          solve_time_s=total, history=self.history, info=self.info, verbose=self.log.started)

    def best_dual_bound(self):
        """The best Lagrange dual bound of the run (original units): over every check, the polished
        points' certificates and the certified stop; None when there is none."""
        bounds = [self.best_dual]
        if self.best_polished is not None:
            bounds.append(self.sc.sy ** 2 * self.best_polished["dual_s"])
        if self.certified_dual is not None:
            bounds.append(self.certified_dual)
        best = max(bounds)
        return float(best) if np.isfinite(best) else None

    def report(self, point, violation, certified, gap, dual_bound, final_step_time):
        """The run's ``info`` entries about the final state and the returned point: its certified relative
        gap is measured against the best dual bound of the run, so it describes the point returned."""
        polished = self.best_polished
        self.info.update({
            "primal_residual": self.r_prim, "dual_residual": self.r_dual, "rho": self.rho,
            "cone_violation": violation, "returned_point": point, "final_step_time_s": final_step_time,
            "duality_gap_rel": gap, "dual_bound": dual_bound, "certified": bool(certified),
            "dual_vector": self.best_dual_vector,
            "polish_accepted": point == "polished", **self.F.describe(),
        })
        if self.anderson is not None:
            self.info["anderson_accelerated_steps"] = self.anderson.accelerated
            self.info["anderson_restarts"] = self.anderson.restarts
        if polished is not None:
            self.info["polish_rounds"] = polished["rounds"]
            self.info["polish_objective"] = self.sc.sy ** 2 * polished["objective_s"]


def _solve(program, settings):
    """Validate, set up, iterate and return (BLAS threads already set)."""
    t_start = time.perf_counter()
    check_constrained_squared(SOLVER, program, squared_name="admm_squared")
    solver = _SquaredADMM(program, settings.validated(), t_start)
    return solver.finish(solver.run())


def admm_squared(program, **options):
    r"""Solve a squared-loss :class:`~formulations.relu.ReLUProgram` by ADMM (Bai et al., Algorithm 1).

    Notation of docs/math.md section 6: a = (v_1..v_P, w_1..w_P), ``M a = sum_i D_i o X (v_i - w_i)``,
    ``Q a = (S_i o X v_i, S_i o X w_i)``; the program is
    ``min 0.5 |M a - y|^2 + beta sum_j |a_j|_2  s.t.  Q a >= 0``. The options and their defaults are the
    fields of :class:`ADMMSettings`.

    Parameters
    ----------
    program : ReLUProgram (``exact`` or ``sampled``) with the squared loss; never modified.
    rho : initial penalty on the scaled problem; default ``0.5 sqrt(beta_s beta_max)`` with
        ``beta_max = max_j |(M^T y)_j|`` (both on the scaled data).
    gamma : dual step in (0, 1]; 1 is standard ADMM, the paper's damped choice is 0.2 - 0.33.
    alpha : over-relaxation in (0, 2); 1 disables it.
    tol_abs, tol_rel : OSQP-style tolerances (infinity norms, scaled problem): stop when
        ``r_prim = |(a - b, Q a - c)| <= tol_abs + tol_rel * max(|a|, |Q a|, |b|, |c|)`` and
        ``r_dual = |M^T (M a - y) + rho mu + rho Q^T kappa| <= tol_abs + tol_rel * max(|M^T M a|, |M^T y|,
        rho |mu|, rho |Q^T kappa|)``, and the relative duality-gap estimate (history ``gap``) is at most
        ``max(tol_rel, tol_gap)`` - the residual tests alone do not bound the objective's error.
    tol_gap : a polished point whose certified relative duality gap is below this stops the solver.
    feas_tol : cone violation accepted for the returned point, relative to max(1, |y|_inf) (it is
        compared in the original units as ``feas_tol * max(1, |y|_inf)``).
    max_iter, time_limit : iteration limit and wall-clock limit in seconds (None: no limit).
    warm_start : dict with ``V`` and ``W`` (original scale) or a SolveResult; it is polished first (a
        certified warm start returns after 0 iterations) and seeds (a, b, c) and the duals of ``a = b``.
    verbose : print an OSQP-style table (iter, objective, primal res, dual res, gap estimate, rho, elapsed)
        to ``sys.stderr`` every ``print_every`` iterations (default about 50), plus polishing events and a
        summary line. A number T >= 0 starts the table only once the run has lasted T seconds (the CLI uses
        this so that only long runs print).
    adaptive_rho, adaptive_rho_tolerance : residual balancing, applied when the normalised residuals are
        more than ``adaptive_rho_tolerance**2`` apart.
    scaling, polish : switch data scaling and polishing (for measurements).
    anderson : Anderson memory (0 = off); only with ``gamma = 1``.
    sigma : weight of the cone split (``Q`` uses ``sigma X``).
    a_update : the a-update's route: ``"dense"`` (the n x n eigendecomposition), ``"matrix_free"``
        (preconditioned CG with no n x n matrix, its tolerance tied to the residuals) or ``"auto"`` (dense
        up to 2000 samples, :func:`~solvers.admm.factorization.a_update_route`); ``info["a_update"]``.
    preconditioner : the matrix-free route's preconditioner: block diagonal, ``"block"`` (the exact
        ``X^T D_j X`` blocks) or ``"gram"`` (multiples of ``X^T X``); ``"nystrom"`` (a randomized low-rank
        approximation of the data term, :class:`~solvers.admm.factorization.NystromPreconditioner`,
        ``info["nystrom_rank"]``); or ``"auto"`` (block when it fits, else gram).
    check_every : residuals, rho adaptation and the history are computed every this many iterations.
    polish_patience : polish once support and active set have been unchanged for this many checks.
    working_set, working_set_after : the second-order polish on the working set of patterns (only with
        ``polish``) and the iterations before its first attempt (then after 4x as many each time).
    print_every : iterations between table rows.
    blas_threads : BLAS threads used during the solve (threadpoolctl); 1 by default because the
        per-iteration products are small; None leaves the BLAS setting alone.

    Returns
    -------
    SolveResult with ``weights = {"V", "W"}``, ``solver = "admm"`` and ``status``:
    ``optimal`` (residual tolerances met and the returned point feasible and as good as the iterate, or a
    polished point certified by the duality gap), ``optimal_inaccurate`` (residual tolerances met but
    the returned point violates the cones by more than ``feas_tol`` or lost objective in the final
    projection), ``max_iter``, ``time_limit``, ``diverged``. Any status but ``optimal`` also raises a
    :class:`~solvers.result.ConvergenceWarning`.
    ``history`` (arrays, one entry per check): iteration, objective (at a), primal_residual,
    dual_residual, rho, time, gap (relative duality-gap estimate: objective at a minus the Lagrange
    dual value at nu = M a - y, lam = -rho kappa, scaled into the dual feasible set).
    ``info``: primal_residual, dual_residual, rho, rho_initial, rho_updates,
    cone_violation, returned_point (polished / working_set / admm_b / admm_a / *_projected), duality_gap_rel,
    dual_bound, certified, setup_time_s, polish_time_s, final_step_time_s, polish_attempts,
    polish_rounds, polish_objective, certify_attempts, certify_time_s, working_set_attempts,
    working_set_time_s, working_set_patterns (when it certified), accelerations, gamma, scale_x, scale_y.
    """
    settings = settings_from_options("admm_squared", ADMMSettings, options)
    return run_with_blas_threads(SOLVER, settings.blas_threads, _solve, program, settings)


admm_squared.__signature__ = keyword_signature(ADMMSettings)
