r"""ADMM with a loss split for the constrained convex ReLU program: hinge, logistic (and squared) losses.

Problem (docs/math.md sections 2 and 6), with a = (v_1..v_P, w_1..w_P), prediction map M and cone map Q:

.. math::
    \min_a\ \ell(M a, y) + \beta \sum_j |a_j|_2 \quad\text{s.t.}\quad Q a \ge 0 .

The squared-loss ADMM (:mod:`solvers.admm`) puts the loss into its a-update. Here the loss gets a split of
its own, ``z = M a`` (the second design of docs/math.md section 6), so it enters only through its per-sample
proximal operator and the one cached factorisation of :mod:`solvers.admm_linalg` serves every loss.
With splits ``z = M a`` (weight ``w``), ``a = b`` and ``Q a = c`` the scaled ADMM with penalty rho reads

1. a-update: ``(I + w M^T M + Q^T Q) a = w M^T (z - nu) + b - mu + Q^T (c - kappa)`` - the cached
   factorisation with the capacitance shift ``1 / w`` (``ADMMFactorization.solve(R, 1 / w)``);
2. z-update: ``z = prox_{l / (rho w)}(M a_hat + nu)`` - closed form for hinge and squared, safeguarded
   Newton for logistic (:meth:`formulations.losses.Loss.prox`), elementwise;
3. b-update: group soft-threshold of ``a_hat + mu`` at ``beta / rho``;
4. c-update: ``c = max(0, Q a_hat + kappa)``;
5. ``nu += M a_hat - z``, ``mu += a_hat - b``, ``kappa += Q a_hat - c``,

with the over-relaxed ``a_hat = alpha a + (1 - alpha) b_old`` (``M a_hat = alpha M a + (1 - alpha) z_old``,
``Q a_hat = alpha Q a + (1 - alpha) c_old``). Per iteration: two GEMMs of size n x d x 2P, two of
n x d x P, two n x n mat-vecs and one prox over n samples.

Data scaling: the solver works on ``X / sx`` with ``beta / sx`` (``sx`` = root mean eigenvalue scale
``|X|_F / sqrt(d)``); labels are not scaled (the hinge margin and the logistic loss are not scale free),
and a point maps back as ``a = a_s / sx``.

Certificate. The Lagrange dual is
``max_{s, lam >= 0} -l^*(s)`` subject to ``|(M^T s - X^T (S o lam))_j|_2 <= beta`` for every block j.
At the iterate, ``s`` is the loss gradient ``grad l(M a)`` (squared, logistic) or the ADMM multiplier
``rho w nu``, which lies in the hinge subdifferential at z; ``lam = max(0, -rho sigma kappa)``. The pair is
scaled by ``theta = min(1, beta / max_j |R_j|)`` into the dual feasible set (``theta s`` stays in the
conjugate's domain), so ``objective(a) - (-l^*(theta s))`` is a certified bound on the gap of the
relaxed point ``a`` (its cones hold only to the primal residual; the returned point is projected onto
the cones and re-evaluated).

Stopping: OSQP-style primal residual ``max(|M a - z|, |a - b|, |Q a - c|)`` and dual residual
``rho |w M^T (z - z_old) + (b - b_old) + Q^T (c - c_old)|`` (infinity norms, scaled problem) against
``tol_abs + tol_rel * scale``, together with the relative gap estimate ``<= tol_gap``; or a certified
point: (i) once the estimate is below ``tol_gap``, the group-sparse iterate b is projected onto the cones
(NNLS per violating block) and a sharper dual bound is computed at it (least-squares multipliers on its
active cone rows, NNLS ones for zero blocks that violate dual feasibility); (ii) polishing
(:mod:`solvers.admm_polish`, Newton on the reduced problem once the support and the active cone rows are
stable; for the hinge also the margin pieces read off the prox output z: below 1, on the kink, above 1). A point whose objective is within ``tol_gap`` (relative) of the best dual bound
stops the solver with status ``optimal``. Attempts back off geometrically in iterations. Iteration and
time limits. Adaptive rho: residual balancing (OSQP), applied when the normalised residuals are more than
``adaptive_rho_tolerance`` apart.

Measured (battery, ``solvers.battery.reference_problems("relu", loss)``): logistic, all 8 problems
certified (rel gap to Clarabel <= 2e-6); hinge, 7 of 8 polished and certified (rel gap to Clarabel
-1e-8; 2,300-10,000 iterations, where without the hinge polish they stopped 3e-7 to 2e-5 above the
optimum after 10,000-49,000), the degenerate beta = 1e-4 instance 3.6e-4 after 50,000 iterations - its
reduced KKT system is singular (as many kink samples as free directions), and even seeded by the oracle's
pieces the polish does not recover it.
"""
from __future__ import annotations

import sys
import time

from types import SimpleNamespace

import numpy as np

from .schedules import balanced_rho
from ..core.options import check_flags, check_rho_tolerance
from ..core.prox import group_soft as _group_soft
from .schedules import CertifySchedule, PolishSchedule, pick_returned_point
from ..core.log import record
from ..core.prox import inf_norm as _inf
from ..core.options import verbose_after as _verbose_after
from .factorization import ADMMFactorization
from ..core.operators import project_cones as _project_cones
from .polish import dual_certificate as _dual_certificate, polish as _polish
from ..core.options import check_int, check_positive
from ..result import SolveResult

__all__ = ["admm_split"]


def admm_split(program, *, rho=None, weight=1.0, alpha=1.6, sigma=3.0, tol_abs=1e-7, tol_rel=1e-6,
               tol_gap=1e-5, feas_tol=1e-9, max_iter=50000, time_limit=None, warm_start=None,
               verbose=False, adaptive_rho=True, adaptive_rho_tolerance=10.0, scaling=True, polish=True,
               polish_patience=2, check_every=10, print_every=None):
    r"""Solve a constrained :class:`~formulations.relu.ReLUProgram` (exact or sampled, any loss) by ADMM
    with the loss split ``z = M a`` (module docstring).

    Parameters
    ----------
    program : ReLUProgram, formulation ``exact`` or ``sampled``; never modified.
    rho : initial penalty (scaled problem). Default ``sqrt(beta_s * beta_max) / 2`` capped to
        ``[1e-4, 1e2]``, with ``beta_max = max_j |(M^T grad l(0))_j|`` (above it the zero model is optimal
        for the relaxed problem).
    weight : weight ``w`` of the split ``z = M a`` relative to ``a = b`` and ``Q a = c`` (0.3 to 3 were
        measured within 1.5x of each other on the battery; 1 kept).
    alpha : over-relaxation in (0, 2).
    sigma : weight of the cone split (``Q`` uses ``sigma X``); 3 by default: with 1 the cone residual
        stalled (logistic battery, 3 of 8 problems unsolved in 50000 iterations), 3 and 10 certified
        them in 2000-6000 iterations, 0.3 was worse.
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
    check_every : residuals, the certificate and rho adaptation every this many iterations.

    Returns
    -------
    SolveResult (``solver="admm"``) with status ``optimal`` / ``optimal_inaccurate`` / ``max_iter`` /
    ``time_limit`` / ``diverged``, history (iteration, objective, primal_residual, dual_residual, rho,
    time, gap, and each split's primal residual r_z, r_b, r_c) and info (residuals, rho, duality_gap_rel,
    dual_bound, returned_point, cone_violation, setup_time_s, weight, scale_x, certify/polish attempts).
    """
    t_start = time.perf_counter()
    name = "admm"
    rho = check_positive(name, "rho", rho, allow_none=True)
    weight = check_positive(name, "weight", weight)
    alpha = check_positive(name, "alpha", alpha, upper=2.0, upper_closed=False)
    sigma = check_positive(name, "sigma", sigma)
    tol_abs = check_positive(name, "tol_abs", tol_abs)
    tol_rel = check_positive(name, "tol_rel", tol_rel)
    tol_gap = check_positive(name, "tol_gap", tol_gap)
    feas_tol = check_positive(name, "feas_tol", feas_tol)
    time_limit = check_positive(name, "time_limit", time_limit, allow_none=True)
    adaptive_rho_tolerance = check_rho_tolerance(name, check_positive(name, "adaptive_rho_tolerance",
                                                                      adaptive_rho_tolerance))
    max_iter = check_int(name, "max_iter", max_iter, minimum=0)
    check_every = check_int(name, "check_every", check_every)
    print_every = check_every * max(1, 50 // check_every) if print_every is None else check_int(
        name, "print_every", print_every)
    check_flags(name, adaptive_rho=adaptive_rho, scaling=scaling, polish=polish)
    polish_patience = check_int(name, "polish_patience", polish_patience)
    verbose_after = _verbose_after(name, verbose)
    if warm_start is not None:
        if isinstance(warm_start, SolveResult):
            warm_start = warm_start.weights
        warm_start = program.check_weights(warm_start)

    loss, y = program.loss, program.y
    # ---- scaling and the cached factorisation ------------------------------------------------------
    X = program.X
    sx = float(np.linalg.norm(X) / np.sqrt(X.shape[1])) if scaling else 1.0
    sx = sx if sx > 0 else 1.0
    Xs = X / sx
    beta = program.beta_value / sx
    F = ADMMFactorization(Xs, program.D, sigma)
    P = F.P
    g0 = loss.gradient(np.zeros_like(y), y)
    G0 = F.MT(g0)
    beta_max = float(np.max(np.sqrt(np.einsum("ij,ij->j", G0, G0)), initial=0.0))
    if rho is None:
        rho = float(np.clip(0.5 * np.sqrt(beta * max(beta_max, beta)), 1e-4, 1e2))
    setup_time = time.perf_counter() - t_start
    shift = 1.0 / weight  # (I + w M^T M + Q^T Q) = (I + M^T M / (1/w) + Q^T Q)

    # ---- state ----------------------------------------------------------------------------------------
    A = sx * np.hstack([warm_start["V"], warm_start["W"]]) if warm_start is not None else np.zeros((F.d, 2 * P))
    XA = F.X @ A
    QA = F.S2q * XA
    Ma = np.einsum("ij,ij->i", F.Dpm, XA)
    B, Z = A.copy(), Ma.copy()
    # the cone pair (c, kappa) lives in one array Wc = c + kappa: c = max(Wc, 0), kappa = min(Wc, 0) (they
    # are complementary after every c-update), c - kappa = |Wc|; the c-update and the kappa-update become
    # Wc += alpha (Q a - max(Wc, 0)) - four fewer passes over the n x 2P arrays per iteration
    Wc = np.maximum(QA, 0.0)
    C, Kp = Wc.copy(), np.zeros_like(Wc)  # c and kappa themselves, refreshed on check iterations
    T = np.empty_like(Wc)
    Mu = np.zeros_like(A)
    Nu = np.zeros_like(Z)
    if warm_start is not None:  # loss multiplier of the warm point: rho w nu = grad l(z)
        Nu = loss.gradient(Z, y) / (rho * weight)

    hist = {k: [] for k in ("iteration", "objective", "primal_residual", "dual_residual", "rho", "time", "gap",
                            "r_z", "r_b", "r_c")}
    info = {"setup_time_s": setup_time, "rho_initial": rho, "rho_updates": 0, "weight": weight, "scale_x": sx,
            "alpha": alpha, "sigma": sigma, "variant": "loss split z = M a"}
    status, it = "max_iter", 0
    r_p = r_d = float("inf")
    gap = float("inf")
    dual_best = -np.inf
    deadline = None if time_limit is None else t_start + time_limit
    certify_schedule, certified_point, sharper_misses = CertifySchedule(check_every), None, 0
    info.update(certify_attempts=0, certify_time_s=0.0, polish_attempts=0, polish_time_s=0.0, polished=False)
    scaled = SimpleNamespace(y=y, beta=beta)
    schedule = PolishSchedule(polish_patience, 10 * check_every)
    logging = False

    def start_log(now):
        nonlocal logging
        if not logging and verbose_after is not None and now >= verbose_after:
            logging = True
            print(f"admm ({loss.name}, loss split): n={F.n}, d={F.d}, P={P}, beta={program.beta_value:g}, "
                  f"rho0={info['rho_initial']:.3g}, w={weight:g}", file=sys.stderr)
            print(f"{'iter':>6} {'objective':>14} {'prim res':>10} {'dual res':>10} {'rel gap':>10} "
                  f"{'rho':>10} {'time':>9}", file=sys.stderr)
        return logging

    def objective_s(Ma_, A_):
        return loss.value(Ma_, y) + beta * float(np.sum(np.sqrt(np.einsum("ij,ij->j", A_, A_))))

    for it in range(1, max_iter + 1):
        check = it % check_every == 0 or it == max_iter
        if check:
            B_old, C_old, Z_old = B.copy(), np.maximum(Wc, 0.0), Z.copy()
        # 1. a-update
        np.abs(Wc, out=T)
        T *= F.S2q
        R = weight * F.MT(Z - Nu) + (B - Mu) + F.XT @ T  # Q^T (c - kappa)
        A, XA = F.solve(R, shift, return_XA=True)
        np.multiply(XA, F.S2q, out=QA)
        Ma = np.einsum("ij,ij->i", F.Dpm, XA)
        # over-relaxation
        Ah = alpha * A + (1.0 - alpha) * B
        Mh = alpha * Ma + (1.0 - alpha) * Z
        # 2.-4. z, b, c updates
        Z = loss.prox(Mh + Nu, y, 1.0 / (rho * weight))
        B = _group_soft(Ah + Mu, beta / rho)
        # 5. scaled duals
        Nu += Mh - Z
        Mu += Ah - B
        np.maximum(Wc, 0.0, out=T)  # c and kappa updates: Wc += alpha (Q a - c)
        np.subtract(QA, T, out=T)
        T *= alpha
        Wc += T

        if check:
            C = np.maximum(Wc, 0.0)
            Kp = Wc - C
            r_parts = (_inf(Ma - Z), _inf(A - B), _inf(QA - C))
            r_p = max(r_parts)
            r_d = rho * _inf(weight * F.MT(Z - Z_old) + (B - B_old) + F.QT(C - C_old))
            p_scale = max(_inf(Ma), _inf(Z), _inf(A), _inf(B), _inf(QA), _inf(C))
            d_scale = rho * max(weight * _inf(F.MT(Nu)), _inf(Mu), _inf(F.QT(Kp)))
            obj = objective_s(Ma, A)
            # certificate: s = loss (sub)gradient, lam = max(0, -rho sigma kappa), scaled by theta
            if loss.name == "hinge":  # the multiplier, clipped into the conjugate's domain -y s in [0, 1]
                s = -y * np.clip(-y * (rho * weight * Nu), 0.0, 1.0)
            else:
                s = loss.gradient(Ma, y)
            lam = np.maximum(-rho * sigma * Kp, 0.0)
            Rd = F.MT(s) - F.XT @ (F.S2 * lam)
            worst = float(np.max(np.sqrt(np.einsum("ij,ij->j", Rd, Rd)), initial=0.0))
            theta = 1.0 if worst <= beta else beta / worst
            dual = loss.dual_value(theta * s, y)
            dual_best = max(dual_best, dual)
            gap = (obj - dual_best) / max(1.0, abs(obj))
            now = time.perf_counter() - t_start
            record(hist, iteration=it, objective=obj, primal_residual=r_p, dual_residual=r_d, rho=rho, time=now,
                   gap=gap, r_z=r_parts[0], r_b=r_parts[1], r_c=r_parts[2])
            if start_log(now) and (it == check_every or it % print_every == 0):
                print(f"{it:6d} {obj:14.8e} {r_p:10.3e} {r_d:10.3e} {gap:10.3e} {rho:10.3e} {now:8.2f}s",
                      file=sys.stderr)
            if not (np.isfinite(r_p) and np.isfinite(r_d) and np.isfinite(obj)):
                status = "diverged"
                break
            eps_p = tol_abs + tol_rel * p_scale
            eps_d = tol_abs + tol_rel * d_scale
            if r_p <= eps_p and r_d <= eps_d and gap <= tol_gap:
                status = "optimal"
                break
            # polishing (smooth losses): once the support of b and the active cone rows have not changed
            # for polish_patience checks, Newton on the reduced problem with a duality-gap certificate
            pieces = None
            if loss.name == "hinge":  # the prox puts kink samples exactly on margin 1
                margin = y * Z
                pieces = (margin < 1.0 - 1e-12, np.abs(margin - 1.0) <= 1e-12)
            due = schedule.due(it, B, C, Kp, pieces) if polish else None
            if due is not None:
                info["polish_attempts"] += 1
                t0 = time.perf_counter()
                res = _polish(F, scaled, A, *due, -rho * sigma * Kp, feas_tol,
                              deadline=t0 + max(2.0, t0 - t_start), max_reduced=800, loss=loss,
                              pieces=pieces)
                info["polish_time_s"] += time.perf_counter() - t0
                if res is not None:
                    dual_best = max(dual_best, res["dual_s"])
                    if (res["objective_s"] - dual_best) / max(1.0, abs(res["objective_s"])) <= tol_gap:
                        certified_point = res["A"]
                        info["polished"] = True
                        status = "optimal"
                        break
            # certified stop: once the estimate is below tol_gap, project the group-sparse iterate b onto
            # the cones and compare its objective with the dual bound; attempts back off geometrically
            if certify_schedule.due(it, gap, tol_gap):
                info["certify_attempts"] += 1
                t0 = time.perf_counter()
                Bp = _project_cones(F, B, t0 + max(1.0, 0.1 * (t0 - t_start)))
                if Bp is not None:
                    XBp = F.X @ Bp
                    obj_p = objective_s(np.einsum("ij,ij->i", F.Dpm, XBp), Bp)
                    if (obj_p - dual_best) / max(1.0, abs(obj_p)) > tol_gap and sharper_misses < 2:
                        # a sharper dual bound at the projected point: least-squares multipliers on the
                        # (numerically) active cone rows of its support, NNLS ones for violating zero blocks;
                        # dropped after two attempts that did not raise the bound (measured on digits P = 200,
                        # logistic: its bound stayed below 3% of the ADMM's, at 0.5-1 s per attempt)
                        act = np.abs(F.S2 * XBp) <= 1e-9 * max(1.0, _inf(XBp))
                        cert = _dual_certificate(F, y, beta, Bp, XBp, act, np.maximum(-rho * sigma * Kp, 0.0),
                                            deadline=t0 + max(1.0, 0.1 * (t0 - t_start)), loss=loss)
                        sharper_misses = 0 if cert["dual"] > dual_best else sharper_misses + 1
                        dual_best = max(dual_best, cert["dual"])
                    info["certify_time_s"] += time.perf_counter() - t0
                    if (obj_p - dual_best) / max(1.0, abs(obj_p)) <= tol_gap:
                        certified_point = Bp
                        status = "optimal"
                        break
            if deadline is not None and time.perf_counter() > deadline:
                status = "time_limit"
                break
            new_rho = balanced_rho(rho, r_p, p_scale, r_d, d_scale, adaptive_rho_tolerance) if adaptive_rho \
                else None
            if new_rho is not None:
                for dual_var in (Nu, Mu, Kp):
                    dual_var *= rho / new_rho
                np.add(C, Kp, out=Wc)
                rho = new_rho
                info["rho_updates"] += 1
    loop_end = time.perf_counter()

    # ---- final point: the iterates b and a, each projected onto the cones if they violate them ----------
    program_feas = feas_tol * max(1.0, _inf(y))
    evaluated = {}
    if status != "diverged":
        budget = max(1.0, 0.25 * (loop_end - t_start))
        if time_limit is not None:
            budget = min(budget, max(0.05, 0.1 * time_limit))
        proj_deadline = time.perf_counter() + budget
        if certified_point is not None:
            w = {"V": certified_point[:, :P] / sx, "W": certified_point[:, P:] / sx}
            evaluated["certified"] = (w, program.objective(w), program.max_violation(w))
        for label, Zs in (("admm_b", B), ("admm_a", A)):
            # a certified point is within tol_gap of the optimum: projecting the iterates as well (NNLS per
            # block, 12 s of a 193 s run on digits P = 200) cannot change the verdict
            projected = None if certified_point is not None else _project_cones(F, Zs, proj_deadline)
            for lab, pt in ((label, Zs), (label + "_projected", projected)):
                if pt is None:
                    continue
                w = {"V": pt[:, :P] / sx, "W": pt[:, P:] / sx}
                obj_o, viol_o = program.objective(w), program.max_violation(w)
                if np.isfinite(obj_o):
                    evaluated[lab] = (w, obj_o, viol_o)
    point, weights, obj, viol = pick_returned_point(program, evaluated, program_feas)
    if point == "zero":
        status = "diverged"
    else:
        # the certificate is a lower bound on the optimum in original units (dual of the scaled problem
        # has the same value: only X and beta were scaled)
        gap_returned = (obj - dual_best) / max(1.0, abs(obj)) if np.isfinite(dual_best) else float("inf")
        info["duality_gap_rel"] = gap_returned
        if status == "optimal" and (viol > program_feas or gap_returned > max(10 * tol_gap, 1e-5)):
            status = "optimal_inaccurate"
    total = time.perf_counter() - t_start
    info.update({"primal_residual": r_p, "dual_residual": r_d, "rho": rho, "cone_violation": viol,
                 "returned_point": point, "dual_bound": dual_best, "final_step_time_s": total - (loop_end - t_start),
                 "certified": bool(status == "optimal")})
    history = {k: np.asarray(v, dtype=float) for k, v in hist.items()}
    result = SolveResult(program=program, weights=weights, status=status, solver="admm", iterations=it,
                         solve_time_s=total, history=history, info=info)
    if logging:
        print(f"admm: status {status}, iterations {it}, objective {obj:.10e}, cone violation {viol:.1e}, "
              f"point {point}, time {total:.3g}s", file=sys.stderr)
    if status != "optimal":
        result.warn_if_not_converged(stacklevel=3)
    return result
