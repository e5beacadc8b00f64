r"""ADMM with a loss split for the constrained convex ReLU program: hinge, logistic (and squared) losses.

Problem (docs/math.md sections 2 and 6), with a = (v_1..v_P, w_1..w_P), prediction map M and cone map Q:

.. math::
    \min_a\ \ell(M a, y) + \beta \sum_j |a_j|_2 \quad\text{s.t.}\quad Q a \ge 0 .

The squared-loss ADMM (:mod:`solvers.admm.squared`) puts the loss into its a-update. Here the loss gets a
split of its own, ``z = M a`` (the second design of docs/math.md section 6), so it enters only through its
per-sample proximal operator and the one cached factorisation of :mod:`solvers.admm.factorization` serves
every loss. With splits ``z = M a`` (weight ``w``), ``a = b`` and ``Q a = c`` the scaled ADMM with penalty
rho reads (one method of :class:`SplitIterate` per step)

1. a-update: ``(I + w M^T M + Q^T Q) a = w M^T (z - nu) + b - mu + Q^T (c - kappa)`` - the cached
   factorisation with the capacitance shift ``1 / w`` (``F.solve(R, 1 / w)``, dense or matrix-free);
2. z-update: ``z = prox_{l / (rho w)}(M a_hat + nu)`` - closed form for hinge and squared, safeguarded
   Newton for logistic (:meth:`formulations.losses.Loss.prox`), elementwise;
3. b-update: group soft-threshold of ``a_hat + mu`` at ``beta / rho``;
4. c-update: ``c = max(0, Q a_hat + kappa)`` and ``kappa += Q a_hat - c``;
5. ``nu += M a_hat - z``, ``mu += a_hat - b``,

with the over-relaxed ``a_hat = alpha a + (1 - alpha) b_old`` (``M a_hat = alpha M a + (1 - alpha) z_old``,
``Q a_hat = alpha Q a + (1 - alpha) c_old``). Step 4 needs only ``Q a`` and ``c_old``, so it runs in the
same pass over row chunks that forms ``X a`` after step 1, together with ``M a`` and the next iteration's
``Q^T (c - kappa)`` (:meth:`SplitIterate.update_a`). Per iteration: two GEMMs of size n x d x 2P, two of
n x d x P, two n x n mat-vecs (or the conjugate-gradient steps of the matrix-free route) and one prox over
n samples.

Data scaling: the solver works on ``X / sx`` with ``beta / sx`` (``sx`` = root mean eigenvalue scale
``|X|_F / sqrt(d)``); labels are not scaled (the hinge margin and the logistic loss are not scale free),
and a point maps back as ``a = a_s / sx``.

Certificate. The Lagrange dual is
``max_{s, lam >= 0} -l^*(s)`` subject to ``|(M^T s - X^T (S o lam))_j|_2 <= beta`` for every block j.
At the iterate, ``s`` is the loss gradient ``grad l(M a)`` (squared, logistic) or the ADMM multiplier
``rho w nu``, which lies in the hinge subdifferential at z; ``lam = max(0, -rho sigma kappa)``. The pair is
scaled by ``theta = min(1, beta / max_j |R_j|)`` (:func:`solvers.core.dual.dual_scaling`) into the dual
feasible set (``theta s`` stays in the conjugate's domain), so ``objective(a) - (-l^*(theta s))`` is a
certified bound on the gap of the relaxed point ``a`` (its cones hold only to the primal residual; the
returned point is projected onto the cones and re-evaluated).

Stopping (:meth:`SplitADMM.check`): OSQP-style primal residual ``max(|M a - z|, |a - b|, |Q a - c|)`` and
dual residual ``rho |w M^T (z - z_old) + (b - b_old) + Q^T (c - c_old)|`` (infinity norms, scaled problem)
against ``tol_abs + tol_rel * scale``, together with the relative gap estimate ``<= tol_gap``; or a
certified point: (i) once the estimate is below ``tol_gap``, the group-sparse iterate b is projected onto
the cones (NNLS per violating block) and a sharper dual bound is computed at it (least-squares multipliers
on its active cone rows, NNLS ones for zero blocks that violate dual feasibility); (ii) polishing
(:mod:`solvers.admm.polish`, Newton on the reduced problem once the support and the active cone rows are
stable; for the hinge also the margin pieces read off the prox output z: below 1, on the kink, above 1).
(iii) for the hinge, the working-set polish (:mod:`solvers.working_set`: the dense interior point on
the patterns b uses, priced on all of them). A point whose objective is within ``tol_gap`` (relative) of
the best dual bound stops the solver. The returned point - the certified one, or the best of b and a and
their projections onto the cones - is graded ``optimal`` when its own certified gap against the best bound
of the run is at most ``tol_gap`` at a feasible point. When the iterations stopped on their tests but the
projection onto the cones cost the returned point some of the iterate's gap, the status is
``optimal_inaccurate``; after a limit it stays the limit's. ``info["duality_gap_rel"]`` gives the gap
itself. Attempts back off geometrically in iterations. Iteration and time limits. Adaptive
rho: residual balancing (OSQP), applied when the normalised residuals are more than
``adaptive_rho_tolerance`` apart.

On nearly separable data (small beta) the reduced KKT system of the hinge's active-set polish is singular
(as many kink samples as free directions); the working-set interior point is what certifies those runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..core.dual import block_dual_scaling, certified_gap
from ..core.log import IterationLog, record
from ..core.operators import cone_pair_step, project_cones
from ..core.options import (check_flags, check_int, check_positive, check_print_every, check_rho_tolerance,
                            keyword_signature, settings_from_options, verbose_after as check_verbose,
                            warm_start_weights)
from ..core.prox import block_norms, group_soft, inf_norm
from ..core.scaling import root_mean_scale
from ..result import finish_run
from .factorization import a_update_factorization, check_a_update
from .polish import dual_certificate, polish
from ..working_set import LOSSES as WORKING_SET_LOSSES
from ..working_set import WorkingSetSchedule, patterns_in_use, scheduled_attempt
from .schedules import (CertifySchedule, PolishSchedule, Residuals, balanced_rho, final_candidates, initial_rho,
                        pick_returned_point, projection_deadline)

__all__ = ["admm_split", "SplitADMMSettings"]

SOLVER = "admm"
HISTORY_KEYS = ("iteration", "objective", "primal_residual", "dual_residual", "rho", "time", "gap",
                "r_z", "r_b", "r_c")
#: the verbose iteration table: (title, width) per column
COLUMNS = (("iter", 6), ("objective", 14), ("prim res", 10), ("dual res", 10), ("rel gap", 10), ("rho", 10),
           ("time", 9))


@dataclass
class SplitADMMSettings:
    """Options of :func:`admm_split`, each with its default; validated on construction (a ValueError naming
    ``admm`` and the option).

    rho : initial penalty (scaled problem); None: ``sqrt(beta_s * beta_max) / 2`` capped to ``[1e-4, 1e2]``,
        with ``beta_max = max_j |(M^T grad l(0))_j|`` (above it the zero model is optimal for the relaxed
        problem).
    weight : weight ``w`` of the split ``z = M a`` relative to ``a = b`` and ``Q a = c`` (1: the battery is
        insensitive to it).
    alpha : over-relaxation in (0, 2).
    sigma : weight of the cone split (``Q`` uses ``sigma X``); 3, because with 1 the cone residual stalls.
    tol_abs, tol_rel, tol_gap : stopping tolerances (module docstring).
    feas_tol : cone violation accepted for the returned point, relative to ``max(1, |y|_inf)``.
    max_iter, time_limit : limits (None: no time limit).
    warm_start : weights dict ``{"V", "W"}`` or a SolveResult; seeds ``a``, ``b``, ``c`` and ``z``.
    verbose : True / False, or seconds after which the iteration table starts (stderr).
    adaptive_rho, adaptive_rho_tolerance, scaling : switches for measurements.
    polish, polish_patience : polishing: once the support, the active cone rows (and for the hinge the
        margin pieces) have been unchanged for ``polish_patience`` checks, the reduced problem on that
        support is solved by Newton (the squared ADMM's active-set polish, with the loss's Hessian; for
        the hinge, equality-constrained Newton with the kink samples as equalities) and accepted when its
        certified relative gap is at most ``tol_gap``; attempts back off geometrically in iterations.
    working_set, working_set_after : the second-order polish on the working set of patterns
        (:mod:`solvers.working_set`; hinge loss, only with ``polish``): after this many iterations, then after 4x
        as many each time, and at the end of an uncertified run.
    check_every : residuals, the certificate and rho adaptation every this many iterations.
    a_update : the a-update's route: ``"dense"`` (the n x n eigendecomposition of
        :class:`~solvers.admm.factorization.ADMMFactorization`), ``"matrix_free"`` (preconditioned CG,
        :class:`~solvers.admm.factorization.MatrixFreeFactorization`) or ``"auto"`` (dense up to 2000
        samples, :func:`~solvers.admm.factorization.a_update_route`).
    preconditioner : the matrix-free route's preconditioner, ``"block"``, ``"gram"``, ``"nystrom"`` or
        ``"auto"`` (:class:`~solvers.admm.factorization.MatrixFreeFactorization`).
    print_every : a table row every this many iterations; None: about every 50 (a multiple of ``check_every``).
    """

    rho: Optional[float] = None
    weight: float = 1.0
    alpha: float = 1.6
    sigma: float = 3.0
    tol_abs: float = 1e-7
    tol_rel: float = 1e-6
    tol_gap: float = 1e-5
    feas_tol: float = 1e-9
    max_iter: int = 50000
    time_limit: Optional[float] = None
    warm_start: Any = None
    verbose: Any = False
    adaptive_rho: bool = True
    adaptive_rho_tolerance: float = 10.0
    scaling: bool = True
    polish: bool = True
    polish_patience: int = 2
    working_set: bool = True
    working_set_after: int = 1000
    check_every: int = 10
    print_every: Optional[int] = None
    a_update: str = "auto"
    preconditioner: str = "auto"
    #: seconds after which the iteration table starts (None: never), from ``verbose``
    verbose_after: Optional[float] = field(init=False, default=None)

    def __post_init__(self):
        for name, options in (("rho", dict(allow_none=True)), ("weight", {}),
                              ("alpha", dict(upper=2.0, upper_closed=False)), ("sigma", {}), ("tol_abs", {}),
                              ("tol_rel", {}), ("tol_gap", {}), ("feas_tol", {}),
                              ("time_limit", dict(allow_none=True))):
            setattr(self, name, check_positive(SOLVER, name, getattr(self, name), **options))
        self.adaptive_rho_tolerance = check_rho_tolerance(SOLVER, self.adaptive_rho_tolerance)
        self.max_iter = check_int(SOLVER, "max_iter", self.max_iter, minimum=0)
        self.check_every = check_int(SOLVER, "check_every", self.check_every)
        self.print_every = check_print_every(SOLVER, self.print_every, self.check_every)
        check_flags(SOLVER, adaptive_rho=self.adaptive_rho, scaling=self.scaling, polish=self.polish,
                    working_set=self.working_set)
        self.polish_patience = check_int(SOLVER, "polish_patience", self.polish_patience)
        self.working_set_after = check_int(SOLVER, "working_set_after", self.working_set_after)
        self.verbose_after = check_verbose(SOLVER, self.verbose)
        check_a_update(self.a_update, self.preconditioner)


class ScaledProblem:
    """The problem the iterations see: ``X / sx`` and ``beta / sx`` (labels unscaled), with the cached
    a-update factorisation ``F`` for the cone weight ``sigma``. Has ``y`` and ``beta``, as the polish
    expects of a scaled problem."""

    def __init__(self, program, sigma, scaling, route="auto", preconditioner="auto"):
        X = program.X
        self.sx = float(root_mean_scale(X, X.shape[1])) if scaling else 1.0
        self.F = a_update_factorization(X / self.sx, program.D, sigma, route, preconditioner)
        self.loss, self.y = program.loss, program.y
        self.beta = program.beta_value / self.sx

    def objective(self, Ma, A):
        """``l(M a, y) + beta sum_j |a_j|`` of the scaled problem."""
        return self.loss.value(Ma, self.y) + self.beta * float(np.sum(block_norms(A)))

    def default_rho(self):
        """``sqrt(beta * beta_max) / 2`` in ``[1e-4, 1e2]`` (:func:`~solvers.admm.schedules.initial_rho`,
        ``beta_max = max_j |(M^T grad l(0))_j|``)."""
        slope_at_zero = self.F.MT(self.loss.gradient(np.zeros_like(self.y), self.y))
        return initial_rho(self.beta, slope_at_zero, 0.5, 1e-4, 1e2)

    def weights(self, A):
        """The network weights ``{"V", "W"}`` of the scaled point ``A`` (``a = a_s / sx``)."""
        P = self.F.P
        return {"V": A[:, :P] / self.sx, "W": A[:, P:] / self.sx}


class SplitIterate:
    """The ADMM variables of the scaled problem and the steps of one iteration.

    ``A`` (a), ``Ma`` and ``QA`` (its images; ``QA`` only on check iterations), ``B`` (b), ``Z`` (z), scaled
    duals ``Mu`` (of a = b) and ``Nu`` (of z = M a). The cone pair lives in one array
    ``cone_sum = c + kappa``: after every c-update ``c = max(cone_sum, 0)`` and ``kappa = min(cone_sum, 0)``
    (they are complementary) and ``c - kappa = |cone_sum|``, which saves four passes over the n x 2P arrays
    per iteration. ``C`` and ``Kappa`` themselves are refreshed on check iterations
    (:meth:`split_cone_pair`)."""

    def __init__(self, problem, settings, rho, warm_start):
        F = problem.F
        self.problem, self.F, self.rho = problem, F, rho
        self.weight, self.alpha, self.sigma = settings.weight, settings.alpha, settings.sigma
        if warm_start is None:
            self.A = np.zeros((F.d, 2 * F.P))
        else:
            self.A = problem.sx * np.hstack([warm_start["V"], warm_start["W"]])
        XA = F.X @ self.A
        self.QA = F.S2q * XA
        self.Ma = F.M_from_XA(XA)
        self.B, self.Z = self.A.copy(), self.Ma.copy()
        self.cone_sum = np.maximum(self.QA, 0.0)
        self.C, self.Kappa = self.cone_sum.copy(), np.zeros_like(self.cone_sum)
        self.scratch = np.empty_like(self.cone_sum)
        self.chunk_product = np.empty((F.chunk_rows, 2 * F.P))
        self.chunk_step = np.empty_like(self.chunk_product)
        self.next_adjoint = None  # Q^T (c - kappa) of the current cone pair, left by update_a
        self.Mu = np.zeros_like(self.A)
        self.Nu = np.zeros_like(self.Z)
        if warm_start is not None:  # the loss multiplier of the warm point: rho w nu = grad l(z)
            self.Nu = problem.loss.gradient(self.Z, problem.y) / (rho * self.weight)

    def step(self, keep_QA=False):
        """One ADMM iteration (module docstring, steps 1-5; step 4 within step 1's pass). ``Q a`` is kept
        (for the residuals) only when ``keep_QA``."""
        self.update_a(keep_QA)
        A_hat, Ma_hat = self.over_relaxed()
        self.update_z(Ma_hat)
        self.update_b(A_hat)
        self.update_duals(A_hat, Ma_hat)

    def cone_adjoint(self):
        """``Q^T (c - kappa) = X^T (S2q o |c + kappa|)`` of the current cone pair."""
        if self.next_adjoint is None:
            np.abs(self.cone_sum, out=self.scratch)
            self.scratch *= self.F.S2q
            self.next_adjoint = self.F.XT @ self.scratch
        return self.next_adjoint

    def update_a(self, keep_QA=False):
        """1. ``(I + w M^T M + Q^T Q) a = w M^T (z - nu) + b - mu + Q^T (c - kappa)``; then one pass over row
        chunks for ``M a``, ``Q a`` (into ``QA`` when ``keep_QA``), 4. the cone pair's step
        ``c = max(0, Q a_hat + kappa)``, ``kappa += Q a_hat - c``
        (:func:`~solvers.core.operators.cone_pair_step`) and the next ``Q^T (c - kappa)``."""
        F = self.F
        R = self.weight * F.MT(self.Z - self.Nu) + (self.B - self.Mu) + self.cone_adjoint()
        self.A = F.solve(R, 1.0 / self.weight)
        self.Ma = np.empty(F.n)
        adjoint = np.zeros_like(self.A)
        for rows in F.chunks:
            count = rows.stop - rows.start
            product = self.chunk_product[:count]
            np.matmul(F.X[rows], self.A, out=product)
            np.einsum("ij,ij->i", F.Dpm[rows], product, out=self.Ma[rows])
            QA = np.multiply(product, F.S2q[rows], out=self.QA[rows] if keep_QA else product)
            cone_sum, step = self.cone_sum[rows], self.chunk_step[:count]
            cone_pair_step(cone_sum, QA, self.alpha, step)  # 4.
            np.abs(cone_sum, out=step)
            step *= F.S2q[rows]
            adjoint += F.XT[:, rows] @ step
        self.next_adjoint = adjoint

    def over_relaxed(self):
        """``a_hat = alpha a + (1 - alpha) b_old`` and ``M a_hat = alpha M a + (1 - alpha) z_old``."""
        alpha = self.alpha
        return alpha * self.A + (1.0 - alpha) * self.B, alpha * self.Ma + (1.0 - alpha) * self.Z

    def update_z(self, Ma_hat):
        """2. ``z = prox_{l / (rho w)}(M a_hat + nu)``, elementwise."""
        problem = self.problem
        self.Z = problem.loss.prox(Ma_hat + self.Nu, problem.y, 1.0 / (self.rho * self.weight))

    def update_b(self, A_hat):
        """3. ``b = `` group soft-threshold of ``a_hat + mu`` at ``beta / rho``."""
        self.B = group_soft(A_hat + self.Mu, self.problem.beta / self.rho)

    def update_duals(self, A_hat, Ma_hat):
        """5. ``nu += M a_hat - z``, ``mu += a_hat - b``."""
        self.Nu += Ma_hat - self.Z
        self.Mu += A_hat - self.B

    # -- check iterations ------------------------------------------------------------------------------
    def snapshot(self):
        """``(b, c, z)`` before an iteration, for the dual residual."""
        return self.B.copy(), np.maximum(self.cone_sum, 0.0), self.Z.copy()

    def split_cone_pair(self):
        """``C = max(c + kappa, 0)``, ``Kappa = (c + kappa) - C``."""
        self.C = np.maximum(self.cone_sum, 0.0)
        self.Kappa = self.cone_sum - self.C

    def residuals(self, snapshot):
        """OSQP residuals (infinity norms) against the iterate ``snapshot`` taken before the iteration; the
        primal residual is the largest of the three splits' (``r_z``, ``r_b``, ``r_c``)."""
        F, rho, inf = self.F, self.rho, inf_norm
        B_old, C_old, Z_old = snapshot
        parts = {"r_z": inf(self.Ma - self.Z), "r_b": inf(self.A - self.B), "r_c": inf(self.QA - self.C)}
        return Residuals(
            primal=max(parts.values()), parts=parts,
            dual=rho * inf(self.weight * F.MT(self.Z - Z_old) + (self.B - B_old) + F.QT(self.C - C_old)),
            primal_scale=max(inf(self.Ma), inf(self.Z), inf(self.A), inf(self.B), inf(self.QA), inf(self.C)),
            dual_scale=rho * max(self.weight * inf(F.MT(self.Nu)), inf(self.Mu), inf(F.QT(self.Kappa))))

    def cone_multiplier(self):
        """The (unclipped) multiplier of the cone constraints, ``-rho sigma kappa``."""
        return -self.rho * self.sigma * self.Kappa

    def dual_bound(self):
        """``(-l^*(theta s), theta s)`` at ``s`` = the loss (sub)gradient, ``lam = max(0, -rho sigma kappa)``,
        scaled by theta into the dual feasible set: a lower bound on the optimum of the scaled problem (the
        same number in original units: labels are not scaled) and its dual vector."""
        problem, F, y = self.problem, self.F, self.problem.y
        if problem.loss.name == "hinge":  # the multiplier, clipped into the conjugate's domain -y s in [0, 1]
            s = -y * np.clip(-y * (self.rho * self.weight * self.Nu), 0.0, 1.0)
        else:
            s = problem.loss.gradient(self.Ma, y)
        lam = np.maximum(self.cone_multiplier(), 0.0)
        Rd = F.MT(s) - F.XT @ (F.S2 * lam)
        theta = block_dual_scaling(Rd, problem.beta)
        return problem.loss.dual_value(theta * s, y), theta * s

    def margin_pieces(self):
        """Hinge only: the samples below the margin and on the kink (the prox puts them exactly at 1)."""
        margin = self.problem.y * self.Z
        return margin < 1.0 - 1e-12, np.abs(margin - 1.0) <= 1e-12

    def change_rho(self, new_rho):
        """The scaled duals follow the penalty: ``nu, mu, kappa *= rho / new_rho``."""
        for dual in (self.Nu, self.Mu, self.Kappa):
            dual *= self.rho / new_rho
        np.add(self.C, self.Kappa, out=self.cone_sum)
        self.next_adjoint = None
        self.rho = new_rho


class SplitADMM:
    """One run of the loss-split ADMM: setup, iterations, checks (residuals, certificate, polish, certified
    stop, rho balancing), the returned point and the result."""

    def __init__(self, program, settings, t_start):
        self.program, self.settings, self.t_start = program, settings, t_start
        warm_start = warm_start_weights(program, settings.warm_start)
        self.problem = problem = ScaledProblem(program, settings.sigma, settings.scaling, settings.a_update,
                                                settings.preconditioner)
        rho = problem.default_rho() if settings.rho is None else settings.rho
        setup_time = time.perf_counter() - t_start
        self.state = SplitIterate(problem, settings, rho, warm_start)
        self.history = {key: [] for key in HISTORY_KEYS}
        self.info = {"setup_time_s": setup_time, "rho_initial": rho, "rho_updates": 0, "weight": settings.weight,
                     "scale_x": problem.sx, "alpha": settings.alpha, "sigma": settings.sigma,
                     "variant": "loss split z = M a", "certify_attempts": 0, "certify_time_s": 0.0,
                     "polish_attempts": 0, "polish_time_s": 0.0, "polished": False}
        self.status, self.iterations = "max_iter", 0
        self.residuals = None
        self.dual_best, self.dual_vector = -np.inf, None
        self.deadline = None if settings.time_limit is None else t_start + settings.time_limit
        self.certify_schedule = CertifySchedule(settings.check_every)
        self.certified_point, self.sharper_misses = None, 0
        self.polish_schedule = PolishSchedule(settings.polish_patience, 10 * settings.check_every)
        self.working_set_schedule = WorkingSetSchedule(settings.working_set_after)
        self.log = IterationLog(SOLVER, COLUMNS, settings.verbose_after)
        F = problem.F
        self.log_intro = (f"loss split, {problem.loss.name} loss: n={F.n}, d={F.d}, P={F.P}, "
                          f"beta={program.beta_value:g}, rho0={rho:.3g}, w={settings.weight:g}")

    def elapsed(self):
        """Seconds since the call."""
        return time.perf_counter() - self.t_start

    def solve(self):
        """Iterate; every ``check_every`` iterations (and at the last) check and maybe stop."""
        settings, state = self.settings, self.state
        for it in range(1, settings.max_iter + 1):
            self.iterations = it
            check = it % settings.check_every == 0 or it == settings.max_iter
            snapshot = state.snapshot() if check else None
            state.step(keep_QA=check)
            if check:
                status = self.check(it, snapshot)
                if status is not None:
                    self.status = status
                    break
        if self.status != "diverged" and self.certified_point is None:
            self.try_working_set(self.iterations, final=True)
        loop_end = time.perf_counter()
        return self.result(loop_end)

    # -- a check iteration -----------------------------------------------------------------------------
    def check(self, it, snapshot):
        """Residuals, the dual bound and the stopping tests; the status to stop with, or None."""
        settings, state = self.settings, self.state
        state.split_cone_pair()
        self.residuals = res = state.residuals(snapshot)
        self.problem.F.adapt(res)
        objective = self.problem.objective(state.Ma, state.A)
        bound, vector = state.dual_bound()
        if bound > self.dual_best:
            self.dual_best, self.dual_vector = bound, vector
        gap = certified_gap(objective, self.dual_best)
        self.log_check(it, objective, gap, res)
        if not (res.finite() and np.isfinite(objective)):
            return "diverged"
        if res.converged(settings.tol_abs, settings.tol_rel) and gap <= settings.tol_gap:
            return "optimal"
        if settings.polish and (self.try_polish(it) or self.try_working_set(it)):
            return "optimal"
        if self.certify_schedule.due(it, gap, settings.tol_gap) and self.try_certified_stop():
            return "optimal"
        if self.deadline is not None and time.perf_counter() > self.deadline:
            return "time_limit"
        if settings.adaptive_rho:
            self.balance_rho(res)
        return None

    def log_check(self, it, objective, gap, res):
        """One history entry; a table row when the table is on."""
        now, rho = self.elapsed(), self.state.rho
        record(self.history, iteration=it, objective=objective, primal_residual=res.primal,
               dual_residual=res.dual, rho=rho, time=now, gap=gap, **res.parts)
        settings = self.settings
        if self.log.active(now, self.log_intro) and (it == settings.check_every or it % settings.print_every == 0):
            self.log.row(f"{it:6d}", f"{objective:14.8e}", f"{res.primal:10.3e}", f"{res.dual:10.3e}",
                         f"{gap:10.3e}", f"{rho:10.3e}", f"{now:8.2f}s")

    def balance_rho(self, res):
        """OSQP residual balancing (:func:`solvers.admm.schedules.balanced_rho`)."""
        new_rho = balanced_rho(self.state.rho, res, self.settings.adaptive_rho_tolerance)
        if new_rho is not None:
            self.state.change_rho(new_rho)
            self.info["rho_updates"] += 1

    def try_polish(self, it):
        """Newton on the reduced problem once the support, the active cone rows (and the hinge's margin
        pieces) are stable (:class:`PolishSchedule`); True when the polished point is certified."""
        state, problem, info = self.state, self.problem, self.info
        pieces = state.margin_pieces() if problem.loss.name == "hinge" else None
        due = self.polish_schedule.due(it, state.B, state.C, state.Kappa, pieces)
        if due is None:
            return False
        info["polish_attempts"] += 1
        t0 = time.perf_counter()
        deadline = PolishSchedule.deadline(t0, self.t_start, self.settings.time_limit)
        polished = polish(problem.F, problem, state.A, *due, state.cone_multiplier(), self.settings.feas_tol,
                          deadline=deadline, max_reduced=800, loss=problem.loss, pieces=pieces)
        info["polish_time_s"] += time.perf_counter() - t0
        if polished is None:
            return False
        self.dual_best = max(self.dual_best, polished["dual_s"])
        if certified_gap(polished["objective_s"], self.dual_best) > self.settings.tol_gap:
            return False
        self.certified_point = polished["A"]
        info["polished"] = True
        return True

    def try_working_set(self, it, final=False):
        """The second-order polish on the patterns b uses (:mod:`solvers.working_set`), on its schedule; its bound
        joins the run's, and a certified point becomes the run's certified point (True)."""
        settings, info, problem = self.settings, self.info, self.problem
        if not (settings.polish and settings.working_set and problem.loss.name in WORKING_SET_LOSSES
                and self.working_set_schedule.due(it, final)):
            return False
        polished = scheduled_attempt(self.program, patterns_in_use(self.state.B, problem.F.P), settings.tol_gap,
                                     settings.feas_tol * max(1.0, inf_norm(problem.y)), self.t_start,
                                     settings.time_limit, info)
        if polished is None:
            return False
        self.dual_best = max(self.dual_best, polished["dual_bound"])
        if not polished["certified"]:
            return False
        weights = polished["weights"]
        self.certified_point = problem.sx * np.hstack([weights["V"], weights["W"]])
        return True

    def try_certified_stop(self):
        """Project the group-sparse iterate b onto the cones and compare its objective with the dual bound
        (sharpened at the projected point while that helps); True when certified."""
        info, F, tol_gap = self.info, self.problem.F, self.settings.tol_gap
        info["certify_attempts"] += 1
        t0 = time.perf_counter()
        deadline = CertifySchedule.deadline(t0, self.t_start, self.settings.time_limit)
        Bp = project_cones(F, self.state.B, deadline)
        if Bp is None:
            return False
        XBp = F.X @ Bp
        objective = self.problem.objective(F.M_from_XA(XBp), Bp)
        if certified_gap(objective, self.dual_best) > tol_gap and self.sharper_misses < 2:
            self.sharpen_dual_bound(Bp, XBp, deadline)
        info["certify_time_s"] += time.perf_counter() - t0
        if certified_gap(objective, self.dual_best) > tol_gap:
            return False
        self.certified_point = Bp
        return True

    def sharpen_dual_bound(self, Bp, XBp, deadline):
        """A dual bound at the projected point: least-squares multipliers on the (numerically) active cone
        rows of its support, NNLS ones for violating zero blocks. Dropped after two attempts that did not
        raise the bound (each costs NNLS solves per block)."""
        problem, state = self.problem, self.state
        active = np.abs(problem.F.S2 * XBp) <= 1e-9 * max(1.0, inf_norm(XBp))
        certificate = dual_certificate(problem.F, problem.y, problem.beta, Bp, XBp, active,
                                       np.maximum(state.cone_multiplier(), 0.0), deadline=deadline,
                                       loss=problem.loss)
        self.sharper_misses = 0 if certificate["dual"] > self.dual_best else self.sharper_misses + 1
        self.dual_best = max(self.dual_best, certificate["dual"])

    # -- the returned point and the result -------------------------------------------------------------
    def evaluate(self, A):
        """``(weights, objective, cone violation)`` of the scaled point ``A`` in original units."""
        weights = self.problem.weights(A)
        return weights, self.program.objective(weights), self.program.max_violation(weights)

    def candidate_points(self, loop_end):
        """``{label: (weights, objective, violation)}``: the certified point, and the iterates b and a, each
        also projected onto the cones - unless a point is certified (within tol_gap of the optimum, the
        projections cannot change the verdict). Projections share a budget of a quarter of the run."""
        state, certified = self.state, self.certified_point
        deadline = projection_deadline(loop_end - self.t_start, self.settings.time_limit)
        evaluated = {} if certified is None else {"certified": self.evaluate(certified)}
        evaluated.update(final_candidates(self.problem.F, (("admm_b", state.B), ("admm_a", state.A)), deadline,
                                          self.evaluate, project=certified is None))
        return evaluated

    def result(self, loop_end):
        """Pick the returned point, grade the status by its certified gap and cone violation, and build
        the SolveResult (the dual bound of the scaled problem is one of the original: only X and beta
        were scaled)."""
        settings, info, status = self.settings, self.info, self.status
        feas_tol = settings.feas_tol * max(1.0, inf_norm(self.problem.y))
        evaluated = self.candidate_points(loop_end) if status != "diverged" else {}
        point, weights, objective, violation = pick_returned_point(self.program, evaluated, feas_tol)
        if point == "zero":
            status = "diverged"
        else:
            gap = certified_gap(objective, self.dual_best) if np.isfinite(self.dual_best) else float("inf")
            info["duality_gap_rel"] = gap
            # the status follows from what the returned point proves: a certified gap at a feasible point is
            # optimal whatever stopped the iterations, and nothing else is
            if violation <= feas_tol and gap <= settings.tol_gap:
                status = "optimal"
            elif status == "optimal":
                status = "optimal_inaccurate"
        total = self.elapsed()
        res = self.residuals
        info.update({"primal_residual": float("inf") if res is None else res.primal,
                     "dual_residual": float("inf") if res is None else res.dual, "rho": self.state.rho,
                     "cone_violation": violation, "returned_point": point, "dual_bound": self.dual_best,
                     "dual_vector": self.dual_vector,
                     "final_step_time_s": total - (loop_end - self.t_start), "certified": bool(status == "optimal"),
                     **self.problem.F.describe()})
        return finish_run(self.program, weights, status=status, solver=SOLVER, iterations=self.iterations,
                          solve_time_s=total, history=self.history, info=info, verbose=self.log.started)


def admm_split(program, **options):
    r"""Solve a constrained :class:`~formulations.relu.ReLUProgram` (exact or sampled, any loss) by ADMM
    with the loss split ``z = M a`` (module docstring).

    Parameters
    ----------
    program : ReLUProgram, formulation ``exact`` or ``sampled``; never modified.
    options : the fields of :class:`SplitADMMSettings` (keyword-only; their defaults are written there).

    Returns
    -------
    SolveResult (``solver="admm"``) with status ``optimal`` / ``optimal_inaccurate`` / ``max_iter`` /
    ``time_limit`` / ``diverged``, history (iteration, objective, primal_residual, dual_residual, rho,
    time, gap, and each split's primal residual r_z, r_b, r_c) and info (residuals, rho, duality_gap_rel,
    dual_bound, dual_vector - the loss-gradient vector ``theta s`` of the best bound the iterates gave, or
    None -, returned_point, cone_violation, setup_time_s, weight, scale_x, certify/polish attempts, the
    a-update's route).
    """
    t_start = time.perf_counter()
    settings = settings_from_options("admm_split", SplitADMMSettings, options)
    return SplitADMM(program, settings, t_start).solve()


admm_split.__signature__ = keyword_signature(SplitADMMSettings)
