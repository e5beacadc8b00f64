r"""ADMM for the constrained convex ReLU program (Bai, Gautam & Sojoudi, Algorithm 1).

:func:`admm` is the one entry point for every constrained program: it runs :func:`admm_squared` (below)
for the squared loss, :func:`solvers.admm_split.admm_split` (loss split ``z = M a``) for hinge and
logistic, and :func:`solvers.admm_robust.admm_robust` for the robust hinge program. The rest of this
docstring describes the squared-loss variant.

Problem (docs/math.md sections 2 and 6), with a = (v_1..v_P, w_1..w_P), prediction map M and cone map Q:

.. math::
    \min_a\ \tfrac12 |M a - y|^2 + \beta \sum_j |a_j|_2 \quad\text{s.t.}\quad Q a \ge 0 .

Split ``a = b``, ``Q a = c`` and run scaled ADMM with penalty rho and dual step gamma:

1. a-update: ``(I + M^T M / rho + Q^T Q) a = M^T y / rho + b - mu + Q^T (c - kappa)`` - solved with the
   cached factorisation of :mod:`solvers.admm_linalg` (one d x d inverse of ``I + X^T X``, one
   eigendecomposition of the n x n capacitance ``2 (X (I+X^T X)^{-1} X^T) o (D D^T)``; any rho is a
   diagonal shift);
2. b-update: group soft-threshold each block of ``a_hat + mu`` at ``beta / rho``;
3. c-update: ``c = max(0, Q a_hat + kappa)``;
4. ``mu += gamma (a_hat - b)``, ``kappa += gamma (Q a_hat - c)``;

where ``a_hat = alpha a + (1 - alpha) b_old`` and ``Q a_hat = alpha Q a + (1 - alpha) c_old`` is the
over-relaxed iterate (``alpha = 1`` is the plain algorithm).

What is kept, and why (each switch measured; see ``adaptive_rho``, ``alpha``, ``polish``, ``anderson``):

* data scaling - the solver works on ``X / sx`` and ``y / sy`` (with ``beta / (sx sy)``), so that
  ``X^T X`` and the identity of the split ``a = b`` have comparable size and one rho rule fits all
  data scales; results are mapped back exactly (``v = sy/sx * v_scaled``);
* the initial penalty ``rho = 0.5 sqrt(beta_s beta_max)`` on the scaled problem, where
  ``beta_max = max_j |(M^T y)_j|`` is the weight decay above which the zero model is optimal;
* adaptive rho by OSQP residual balancing as a safeguard: the primal residual is normalised by the size
  of ``(a, Q a, b, c)``, the dual residual by the size of ``M^T M a``, ``M^T y`` (the linear term) and
  the dual variables, so balancing cannot drive rho to zero; rho only changes when the normalised
  residuals are ``adaptive_rho_tolerance**2`` apart (30 by default - the OSQP value 5 was measured to
  slow several problems down by an order of magnitude); the eigendecomposition makes a change free;
* over-relaxation (``alpha = 1.6``);
* polishing (OSQP style, :mod:`solvers.admm_polish`): once the support of b and the set of active cone
  constraints stop changing,
  the smooth reduced problem on that support is solved by Newton's method in a null-space
  parametrisation of the active cone rows, with an active-set correction loop; the result comes with a
  Lagrange-dual certificate (relative duality gap) and is accepted if certified, or if it is feasible and
  not worse than the ADMM iterate;
* a final projection: every block of an unpolished ADMM point that violates its cone is projected
  onto it exactly (NNLS in the dual), so the returned point is feasible.

Anderson acceleration of the fixed-point map (``anderson=m``) is implemented but off by default: it did
not reduce the iteration count on the problems measured and made each iteration several times dearer.

Stopping: OSQP-style primal / dual residuals (infinity norms, on the scaled problem) with absolute and
relative tolerances together with a duality-gap estimate, or a polished point whose certified relative
duality gap is below ``tol_gap``, or - once the estimate is below ``tol_gap`` - the iterate b projected onto
the cones whose objective is within ``tol_gap`` of the dual bound (a certified stop, as in
:mod:`solvers.admm_split`; on digits, squared loss, P = 50, beta = 10 it stops certified at 1e-3 in 23 s
where the residual tests alone ran to max_iter in 117 s); plus iteration and time limits.
"""
from __future__ import annotations

import sys
import time

import numpy as np


from .schedules import balanced_rho
from ..core.options import check_flags, check_rho_tolerance
from ..core.prox import group_soft as _group_soft
from .schedules import CertifySchedule, PolishSchedule, pick_returned_point
from ..core.log import record
from ..core.scaling import Scaled as _Scaled
from ..core.options import check_constrained_squared
from ..core.prox import inf_norm as _inf
from ..core.options import verbose_after as _verbose_after
from .factorization import ADMMFactorization
from ..core.operators import project_cones as _project_cones
from .polish import polish as _polish
from ..core.options import check_int, check_positive
from ..core.blas import run_with_blas_threads
from ..result import SolveResult

__all__ = ["admm_squared"]


# ------------------------------------------------------------------------------------------------------
# option checks
# ------------------------------------------------------------------------------------------------------
def _check_positive(name, value, allow_none=False, upper=None, upper_closed=True):
    return check_positive("admm", name, value, allow_none, upper, upper_closed)


def _check_int(name, value, minimum=1):
    return check_int("admm", name, value, minimum)


def _check_program(program):
    check_constrained_squared("admm", program, squared_name="admm_squared")


# ------------------------------------------------------------------------------------------------------
# small vectorised helpers
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
        self.memory = memory
        self.safeguard = safeguard
        self.reg = reg
        self.restarts = 0
        self.accelerated = 0
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
        self.g_prev = None
        self.x_prev = None
        self.best = np.inf

    def step(self, *f_parts):
        f = self._flat(f_parts)
        g = f - self.x
        gn = float(np.linalg.norm(g))
        if gn > self.safeguard * self.best:
            self.restarts += 1
            self.reset(*f_parts)
            return f_parts
        self.best = min(self.best, gn)
        if self.g_prev is not None:
            self.dX.append(self.x - self.x_prev)
            self.dG.append(g - self.g_prev)
            if len(self.dX) > self.memory:
                self.dX.pop(0)
                self.dG.pop(0)
        self.x_prev, self.g_prev = self.x, g
        if self.dG:
            G = np.array(self.dG)  # m x N
            gram = G @ G.T
            gram[np.diag_indices_from(gram)] += self.reg * max(float(np.trace(gram)), 1e-300)
            try:
                coef = np.linalg.solve(gram, G @ g)
            except np.linalg.LinAlgError:
                coef = None
            if coef is not None and np.all(np.isfinite(coef)):
                x_new = f - (np.array(self.dX) + G).T @ coef
                self.accelerated += 1
            else:
                x_new = f
        else:
            x_new = f
        self.x = x_new
        return tuple(self._split(x_new))


# ------------------------------------------------------------------------------------------------------
# the solver
# ------------------------------------------------------------------------------------------------------
def _admm(program, *, rho=None, gamma=1.0, alpha=1.6, tol_abs=1e-7, tol_rel=1e-6, tol_gap=1e-7,
         feas_tol=1e-9, max_iter=20000, time_limit=None, warm_start=None, verbose=False,
         adaptive_rho=True, scaling=True, polish=True, check_every=10, polish_patience=2,
         print_every=None, sigma=1.0, anderson=0, adaptive_rho_tolerance=30.0):
    """Implementation of :func:`admm` (same arguments, BLAS threads already set)."""
    t_start = time.perf_counter()
    _check_program(program)
    gamma = _check_positive("gamma", gamma, upper=1.0)
    alpha = _check_positive("alpha", alpha, upper=2.0, upper_closed=False)
    tol_abs = _check_positive("tol_abs", tol_abs)
    tol_rel = _check_positive("tol_rel", tol_rel)
    tol_gap = _check_positive("tol_gap", tol_gap)
    feas_tol = _check_positive("feas_tol", feas_tol)
    rho = _check_positive("rho", rho, allow_none=True)
    sigma = _check_positive("sigma", sigma)
    adaptive_rho_tolerance = check_rho_tolerance("admm", _check_positive("adaptive_rho_tolerance",
                                                                      adaptive_rho_tolerance))
    time_limit = _check_positive("time_limit", time_limit, allow_none=True)
    max_iter = _check_int("max_iter", max_iter, minimum=0)
    check_every = _check_int("check_every", check_every)
    anderson = _check_int("anderson", anderson, minimum=0)
    polish_patience = _check_int("polish_patience", polish_patience)
    print_every = check_every * max(1, 50 // check_every) if print_every is None else _check_int(
        "print_every", print_every)
    check_flags("admm", adaptive_rho=adaptive_rho, scaling=scaling, polish=polish)
    # verbose: True/False, or a number of seconds after which the table starts (long runs only)
    verbose_after = _verbose_after("admm", verbose)
    verbose = False  # set once the table starts (see start_log)
    if warm_start is not None:
        if isinstance(warm_start, SolveResult):
            warm_start = warm_start.weights
        warm_start = program.check_weights(warm_start)

    # ---- setup: scaling and the cached factorisation -------------------------------------------------
    sc = _Scaled(program, scaling)
    F = ADMMFactorization(sc.X, program.D, sigma)
    P = F.P
    ys, beta = sc.y, sc.beta
    MTy = F.MT(ys)
    if rho is None:
        # measured on the scaled problem (n = 12 ... 1000, beta = 1e-3 ... 1): the best fixed rho is
        # about 0.5 sqrt(beta_s); the eigenvalues of the capacitance bound it from above
        # beta_max = max_j |(M^T y)_j|: above it the zero model is optimal; rho ~ 0.5 sqrt(beta beta_max)
        beta_max = float(np.max(np.sqrt(np.einsum("ij,ij->j", MTy, MTy)), initial=0.0))
        rho = float(np.clip(0.5 * np.sqrt(beta * max(beta_max, beta)), 1e-6,
                            max(float(F.lam.max(initial=1.0)), 1e-6)))
    setup_time = time.perf_counter() - t_start

    yscale = max(1.0, _inf(ys))
    feas_abs = feas_tol * yscale

    # ---- state ---------------------------------------------------------------------------------------
    if warm_start is not None:
        A = sc.from_weights(warm_start)
    else:
        A = np.zeros((F.d, 2 * P))
    XA = F.X @ A
    QA = F.S2q * XA
    B = A.copy()
    C = np.maximum(QA, 0.0)
    Kp = np.zeros_like(C)
    if warm_start is not None:
        r0 = np.einsum("ij,ij->i", F.Dpm, XA) - ys
        Mu = -F.MT(r0) / rho  # duals of a = b if the cone multipliers were zero
    else:
        Mu = np.zeros_like(A)

    aa = None
    if anderson and gamma == 1.0:
        aa = _Anderson([B.shape, C.shape], memory=anderson)
        aa.reset(B + Mu, C + Kp)
    fast = gamma == 1.0 and aa is None
    if fast:
        Z = C + Kp
        T = np.empty_like(Z)
        QA = np.empty_like(Z)
        S2q_alpha = alpha * F.S2q
        C_buf, K_buf = np.empty_like(Z), np.empty_like(Z)
    hist = {k: [] for k in ("iteration", "objective", "primal_residual", "dual_residual", "rho", "time",
                            "gap")}
    info = {"setup_time_s": setup_time, "scale_x": sc.sx, "scale_y": sc.sy,
            "accelerations": {"scaling": bool(scaling), "adaptive_rho": bool(adaptive_rho),
                              "over_relaxation": alpha, "polish": bool(polish),
                              "anderson_memory": anderson if gamma == 1.0 else 0},
            "gamma": gamma, "rho_initial": rho, "polish_attempts": 0,
            "rho_updates": 0, "polish_time_s": 0.0}
    best_polished = None
    status = None
    it = 0
    r_p = r_d = np.inf
    schedule = PolishSchedule(polish_patience, 10 * check_every)
    certify_schedule = CertifySchedule(check_every)
    certified_point = certified_gap = certified_dual = None
    info.update(certify_attempts=0, certify_time_s=0.0)

    def objective_orig(pred, Z):
        """The objective in original units of the scaled point ``Z`` with predictions ``pred``."""
        return sc.sy ** 2 * (0.5 * float((pred - ys) @ (pred - ys))
                             + beta * float(np.sum(np.sqrt(np.einsum("ij,ij->j", Z, Z)))))

    def log_header():
        print(f"{'iter':>6} {'objective':>14} {'prim res':>10} {'dual res':>10} {'gap est':>10} {'rho':>10} "
              f"{'time':>9}",
              file=sys.stderr)

    def start_log(now):
        """Start the table once ``verbose_after`` seconds have passed (at once for verbose=True)."""
        nonlocal verbose
        if not verbose and verbose_after is not None and now >= verbose_after:
            verbose = True
            print(f"admm: n={F.n}, d={F.d}, P={P}, beta={program.beta_value:g}, setup {setup_time:.3g}s, "
                  f"rho0={rho:.3g}, alpha={alpha}, gamma={gamma}", file=sys.stderr)
            log_header()
        return verbose

    start_log(0.0)

    def try_polish(A_ref, support, active, lam_admm):
        nonlocal best_polished
        info["polish_attempts"] += 1
        t0 = time.perf_counter()
        # a safety cap only (attempts are scheduled by iteration counts): the time spent so far, >= 2 s
        budget = max(2.0, t0 - t_start)
        if time_limit is not None:
            budget = min(budget, max(0.0, time_limit - (t0 - t_start)))
        res = _polish(F, sc, A_ref, support, active, lam_admm, feas_tol, deadline=t0 + budget)
        info["polish_time_s"] += time.perf_counter() - t0
        if res is None:
            return None
        res["gap_rel"] = sc.sy ** 2 * (res["objective_s"] - res["dual_s"]) / max(
            1.0, sc.sy ** 2 * abs(res["objective_s"]))
        if best_polished is None or res["objective_s"] < best_polished["objective_s"]:
            best_polished = res
        return res

    if warm_start is not None and polish:
        supp = np.flatnonzero(np.linalg.norm(A, axis=0) > 0)
        active0 = np.abs(F.S2 * XA) <= 1e-9 * yscale
        res = try_polish(A, supp, active0, np.zeros_like(C))
        if res is not None and res["gap_rel"] <= tol_gap:
            status = "optimal"

    # ---- iterations ----------------------------------------------------------------------------------
    while status is None:
        if it >= max_iter:
            status = "max_iter"
            break
        if time_limit is not None and time.perf_counter() - t_start >= time_limit:
            status = "time_limit"
            break
        it += 1
        do_check = it % check_every == 0 or it == 1
        if fast:
            # gamma = 1: the cone variables live in Z = c + kappa (c = max(Z, 0), kappa = min(Z, 0),
            # c - kappa = |Z|); in-place updates, no n x 2P temporaries
            # Q^T (c - kappa) = sigma X^T (S2 o |Z|), and S2 o |Z| = copysign(Z, S2) (S2 = +-1): one pass
            np.copysign(Z, F.S2, out=T)
            R = MTy / rho + B - Mu + sigma * (F.XT @ T)
            A, XA = F.solve(R, rho, return_XA=True)
            Ah = alpha * A + (1.0 - alpha) * B if alpha != 1.0 else A
            B = _group_soft(Ah + Mu, beta / rho)
            Mu = Mu + (Ah - B)
            # Z <- min(Z, 0) + (1 - alpha) max(Z, 0) + alpha Q a  =  Z - alpha max(Z, 0) + (alpha S2q) o XA
            np.maximum(Z, 0.0, out=T)
            T *= alpha
            Z -= T
            np.multiply(XA, S2q_alpha, out=T)
            Z += T
            if do_check:  # c = max(Z, 0), kappa = min(Z, 0), into buffers of their own
                np.multiply(XA, F.S2q, out=QA)
                C = np.maximum(Z, 0.0, out=C_buf)
                Kp = np.subtract(Z, C, out=K_buf)
        else:
            R = MTy / rho + B - Mu + F.QT(C - Kp)
            A, XA = F.solve(R, rho, return_XA=True)
            QA = F.S2q * XA
            if alpha != 1.0:
                Ah = alpha * A + (1.0 - alpha) * B
                QAh = alpha * QA + (1.0 - alpha) * C
            else:
                Ah, QAh = A, QA
            B = _group_soft(Ah + Mu, beta / rho)
            Mu += gamma * (Ah - B)
            C = np.maximum(QAh + Kp, 0.0)
            Kp += gamma * (QAh - C)

        if do_check:
            # ---- residuals (OSQP style, on the scaled problem) ---------------------------------------
            pred = np.einsum("ij,ij->i", F.Dpm, XA)
            MTMa = F.MT(pred)
            if fast:  # the scratch T is free here: no n x 2P temporaries (Kp <= 0, so S2 o Kp = -copysign)
                QTk = -sigma * (F.XT @ np.copysign(Kp, F.S2, out=T))
                r_p = max(_inf(A - B), _inf(np.subtract(QA, C, out=T)))
            else:
                QTk = F.QT(Kp)
                r_p = max(_inf(A - B), _inf(QA - C))
            dual_vec = MTMa - MTy + rho * (Mu + QTk)
            r_d = _inf(dual_vec)
            p_scale = max(_inf(A), _inf(QA), _inf(B), float(C.max(initial=0.0)))
            d_scale = max(_inf(MTMa), _inf(MTy), rho * _inf(Mu), rho * _inf(QTk))
            obj = objective_orig(pred, A)
            # duality-gap estimate from the same quantities: nu = M a - y, lam = -rho sigma kappa
            # (X^T(S o lam) = -rho Q^T kappa), scaled by theta into the dual feasible set
            res_vec = pred - ys
            Rd = MTMa - MTy + rho * QTk
            worst = float(np.max(np.sqrt(np.einsum("ij,ij->j", Rd, Rd)), initial=0.0))
            theta = 1.0 if worst <= beta else beta / worst
            dual_s = -0.5 * theta ** 2 * float(res_vec @ res_vec) - theta * float(res_vec @ ys)
            gap_est = (obj - sc.sy ** 2 * dual_s) / max(1.0, abs(obj))
            now = time.perf_counter() - t_start
            record(hist, iteration=it, objective=obj, primal_residual=r_p, dual_residual=r_d, rho=rho, time=now,
                   gap=gap_est)
            if start_log(now) and (it == 1 or it % print_every == 0):
                print(f"{it:6d} {obj:14.8e} {r_p:10.3e} {r_d:10.3e} {gap_est:10.3e} {rho:10.3e} {now:8.2f}s",
                      file=sys.stderr)
            if not (np.isfinite(r_p) and np.isfinite(r_d) and np.isfinite(obj)):
                status = "diverged"
                break
            eps_p = tol_abs + tol_rel * p_scale
            eps_d = tol_abs + tol_rel * d_scale
            if r_p <= eps_p and r_d <= eps_d and gap_est <= max(tol_rel, tol_gap):
                status = "optimal"
                break
            # certified stop: once the estimate is below tol_gap, project the group-sparse iterate b onto
            # the cones and compare its objective with the dual bound (valid: kappa <= 0 always, so the
            # cone multipliers -rho sigma kappa are >= 0)
            if certify_schedule.due(it, gap_est, tol_gap):
                info["certify_attempts"] += 1
                t0 = time.perf_counter()
                Bp = _project_cones(F, B, t0 + max(1.0, 0.1 * (t0 - t_start)))
                info["certify_time_s"] += time.perf_counter() - t0
                if Bp is not None:
                    obj_p = objective_orig(np.einsum("ij,ij->i", F.Dpm, F.X @ Bp), Bp)
                    gap_c = (obj_p - sc.sy ** 2 * dual_s) / max(1.0, abs(obj_p))
                    if gap_c <= tol_gap:
                        certified_point, certified_gap, certified_dual = Bp, gap_c, sc.sy ** 2 * dual_s
                        status = "optimal"
                        break

            # ---- polishing once the support and active set stop changing --------------------------------
            due = schedule.due(it, B, C, Kp) if polish else None
            if due is not None:
                res = try_polish(A, *due, -rho * sigma * Kp)
                if verbose and res is not None:
                    print(f"{'':6} polish: objective {sc.sy ** 2 * res['objective_s']:.10e}, certified rel gap "
                          f"{res['gap_rel']:.2e}, violation {sc.sy * res['violation_s']:.1e}", file=sys.stderr)
                if res is not None and res["gap_rel"] <= tol_gap:
                    status = "optimal"
                    break

            # ---- adaptive rho by residual balancing ---------------------------------------------------
            new_rho = balanced_rho(rho, r_p, p_scale, r_d, d_scale, adaptive_rho_tolerance) if adaptive_rho \
                else None
            if new_rho is not None:
                Mu *= rho / new_rho
                Kp *= rho / new_rho
                rho = new_rho
                info["rho_updates"] += 1
                if fast:
                    Z = C + Kp
                if aa is not None:
                    aa.reset(B + Mu, C + Kp)

        # ---- Anderson acceleration of the fixed-point map zeta -> T(zeta) (gamma = 1) ------------
        if aa is not None:
            zeta_b, zeta_c = aa.step(B + Mu, C + Kp)
            B = _group_soft(zeta_b, beta / rho)
            Mu = zeta_b - B
            C = np.maximum(zeta_c, 0.0)
            Kp = zeta_c - C

    if fast:
        C = np.maximum(Z, 0.0)
        Kp = Z - C
    # ---- final point: polish, compare with the (projected) ADMM iterate --------------------------------
    solve_loop_end = time.perf_counter()
    if polish and status != "diverged" and (best_polished is None or best_polished["gap_rel"] > tol_gap) \
            and it > 0 and certified_point is None:
        support = np.flatnonzero(np.any(B != 0, axis=0))
        active = (C == 0) & (Kp < 0)
        try_polish(A, support, active, -rho * sigma * Kp)

    candidates = []
    if best_polished is not None:
        candidates.append(("polished", best_polished["A"]))
    if certified_point is not None:
        candidates.append(("admm_b_projected", certified_point))
    elif status != "diverged":
        proj_budget = max(1.0, 0.25 * (time.perf_counter() - t_start))
        if time_limit is not None:  # the final step may overrun the limit by at most 10% (>= 0.05 s)
            proj_budget = min(proj_budget, max(0.05, 0.1 * time_limit))
        proj_deadline = time.perf_counter() + proj_budget
        for label, Z in (("admm_b", B), ("admm_a", A)):
            candidates.append((label, Z))
            Zp = _project_cones(F, Z, proj_deadline)
            if Zp is not None:
                candidates.append((label + "_projected", Zp))

    def evaluate(Z):
        w = sc.to_weights(Z, P)
        return w, program.objective(w), program.max_violation(w)

    feas_orig = feas_abs * sc.sy
    evaluated = {}
    for label, Z in candidates:
        w, obj, viol = evaluate(Z)
        if np.isfinite(obj):
            evaluated[label] = (w, obj, viol)
    # the ADMM iterate a is the comparator: a polished point that is not certified must not be worse
    # than it by more than a small slack (a wrong active set can make polishing feasible but poor)
    obj_iterate = evaluated["admm_a"][1] if "admm_a" in evaluated else np.inf
    slack = 1e-3 * max(1.0, abs(obj_iterate))
    certified = best_polished is not None and best_polished["gap_rel"] <= tol_gap
    if "polished" in evaluated and not certified and evaluated["polished"][1] > obj_iterate + slack:
        info["polish_rejected"] = "worse than the ADMM iterate and not certified"
        del evaluated["polished"]
    point, weights, obj, viol = pick_returned_point(program, evaluated, feas_orig)
    if point == "zero":
        status = "diverged"
    if point == "polished" and certified and status in ("max_iter", "time_limit", "optimal"):
        status = "optimal"  # certified by the duality gap, whatever stopped the iterations
    elif certified_point is not None:
        # certified stop: the returned point is feasible and within tol_gap of the dual bound
        certified = viol <= feas_orig and (obj - certified_dual) / max(1.0, abs(obj)) <= tol_gap
        status = "optimal" if certified else "optimal_inaccurate"
    elif status == "optimal":
        # residual convergence: the returned point must be feasible and as good as the iterate
        if viol > feas_orig or obj > obj_iterate + 10.0 * tol_rel * max(1.0, abs(obj_iterate)):
            status = "optimal_inaccurate"

    total = time.perf_counter() - t_start
    info.update({
        "primal_residual": r_p, "dual_residual": r_d, "rho": rho, "cone_violation": viol,
        "returned_point": point, "final_step_time_s": total - (solve_loop_end - t_start),
        "duality_gap_rel": (certified_gap if certified_point is not None and point != "polished" else
                            None if best_polished is None else best_polished["gap_rel"]),
        "certified": bool(certified and (point == "polished" or certified_point is not None)),
        "polish_accepted": point == "polished",
    })
    if aa is not None:
        info["anderson_accelerated_steps"] = aa.accelerated
        info["anderson_restarts"] = aa.restarts
    if best_polished is not None:
        info["polish_rounds"] = best_polished["rounds"]
        info["polish_objective"] = sc.sy ** 2 * best_polished["objective_s"]
        info["dual_bound"] = sc.sy ** 2 * best_polished["dual_s"]
    if certified_point is not None and point != "polished":
        info["dual_bound"] = certified_dual
    history = {k: np.asarray(v, dtype=float) for k, v in hist.items()}
    result = SolveResult(program=program, weights=weights, status=status, solver="admm", iterations=it,
                         solve_time_s=total, history=history, info=info)
    if verbose:
        print(f"admm: status {status}, iterations {it}, objective {obj:.10e}, cone violation {viol:.1e}, "
              f"point {point}, time {total:.3g}s", file=sys.stderr)
    if status not in ("optimal",):
        result.warn_if_not_converged(stacklevel=4)
    return result


def admm_squared(program, *, rho=None, gamma=1.0, alpha=1.6, tol_abs=1e-7, tol_rel=1e-6, tol_gap=1e-7,
         feas_tol=1e-9, max_iter=20000, time_limit=None, warm_start=None, verbose=False,
         adaptive_rho=True, adaptive_rho_tolerance=30.0, scaling=True, polish=True, anderson=0,
         sigma=1.0, check_every=10, polish_patience=2, print_every=None, blas_threads=1):
    r"""Solve a squared-loss :class:`~formulations.relu.ReLUProgram` by ADMM (Bai et al., Algorithm 1).

    Notation of docs/math.md section 6: a = (v_1..v_P, w_1..w_P), ``M a = sum_i D_i o X (v_i - w_i)``,
    ``Q a = (S_i o X v_i, S_i o X w_i)``; the program is
    ``min 0.5 |M a - y|^2 + beta sum_j |a_j|_2  s.t.  Q a >= 0``.

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
        ``max(tol_rel, tol_gap)`` - the residual tests alone, normalised by ``|M^T y|``, were measured to
        stop 4e-2 above the optimum on near-interpolating problems (beta = 1e-3).
    tol_gap : a polished point whose certified relative duality gap is below this stops the solver.
    feas_tol : cone violation accepted for the returned point, relative to max(1, |y|_inf) (it is
        compared in the original units as ``feas_tol * max(1, |y|_inf)``).
    max_iter, time_limit : iteration limit and wall-clock limit in seconds (None: no limit).
    warm_start : dict with ``V`` and ``W`` (original scale) or a SolveResult; it is polished first (a
        certified warm start returns after 0 iterations) and seeds (a, b, c) and the duals of ``a = b``.
    verbose : print an OSQP-style table (iter, objective, primal res, dual res, rho, elapsed) to
        ``sys.stderr`` every ``print_every`` iterations (default 50), plus polishing events. A number
        T >= 0 starts the table only once the run has lasted T seconds (the CLI uses this so that
        only long runs print).
    adaptive_rho, adaptive_rho_tolerance : residual balancing, applied when the normalised residuals are
        more than ``adaptive_rho_tolerance**2`` apart.
    scaling, polish : switch data scaling and polishing (for measurements).
    anderson : Anderson memory (0 = off); only with ``gamma = 1``.
    sigma : weight of the cone split (``Q`` uses ``sigma X``).
    check_every : residuals, rho adaptation and the history are computed every this many iterations.
    polish_patience : polish once support and active set have been unchanged for this many checks.
    blas_threads : BLAS threads used during the solve (threadpoolctl); 1 by default because the
        per-iteration products are small and oversubscribed multi-threaded BLAS was measured 6x slower
        on a shared 2-core machine (194 ms vs 29 ms per iteration, n=1000, d=30, P=100); None leaves
        the BLAS setting alone.

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
    cone_violation, returned_point (polished / admm_b / admm_a / *_projected), duality_gap_rel,
    dual_bound, certified, setup_time_s, polish_time_s, final_step_time_s, polish_attempts,
    polish_rounds, polish_objective, accelerations, gamma, scale_x, scale_y.
    """
    options = dict(rho=rho, gamma=gamma, alpha=alpha, tol_abs=tol_abs, tol_rel=tol_rel, tol_gap=tol_gap,
                   feas_tol=feas_tol, max_iter=max_iter, time_limit=time_limit, warm_start=warm_start,
                   verbose=verbose, adaptive_rho=adaptive_rho, adaptive_rho_tolerance=adaptive_rho_tolerance,
                   scaling=scaling, polish=polish, anderson=anderson, sigma=sigma, check_every=check_every,
                   polish_patience=polish_patience, print_every=print_every)
    return run_with_blas_threads("admm", blas_threads, _admm, program, **options)


