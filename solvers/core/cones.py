"""Second-order cone algebra shared by the interior points, vectorised over many cones: a point of J cones
of dimension d + 1 is ``(x0 (J,), x1 (d, J))``; an orthant is any array. Also the dense interior points'
shared Cholesky and outer loop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["jdot", "jordan_product", "soc_max_step", "orthant_max_step", "NTScaling", "shifted_cholesky",
           "run_interior_point", "IterateReport", "max_cone_step", "mehrotra_step", "refined_direction", "preconditioned_cg",
           "interior_point_outcome", "BlockPoint", "reduced_solve", "newton_residual"]


def jdot(a0, a1, b0, b1):
    """``a0 b0 - a1^T b1`` per cone (the Lorentz form)."""
    return a0 * b0 - np.einsum("ij,ij->j", a1, b1)


def jordan_product(u0, u1, v0, v1):
    """``u o v`` per cone: ``(u0 v0 + u1^T v1, u0 v1 + v0 u1)``."""
    return u0 * v0 + np.einsum("ij,ij->j", u1, v1), u0 * v1 + v0 * u1


def shifted_cholesky(K, shifts=(1e-14, 1e-11, 1e-8)):
    """``scipy.linalg.cho_factor`` of the symmetric ``K`` (left unchanged), with the smallest relative
    diagonal shift of ``shifts`` that rounding needs to keep it positive definite (the Newton matrices
    of the dense interior points, late in a run)."""
    from scipy import linalg as sla
    diagonal = np.maximum(np.diag(K).copy(), 1e-300)
    for shift in shifts:
        shifted = K.copy()
        shifted[np.diag_indices(K.shape[0])] += shift * diagonal
        try:
            return sla.cho_factor(shifted, lower=True, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            if shift == shifts[-1]:
                raise


def soc_max_step(x0, x1, d0, d1):
    """Largest alpha >= 0 with ``x + alpha d`` in the cone, per cone (x in the interior): the first
    positive root of ``q(alpha) = jdot(x + alpha d, x + alpha d)``; inf when there is none."""
    a = jdot(d0, d1, d0, d1)
    b = jdot(x0, x1, d0, d1)
    c = jdot(x0, x1, x0, x1)
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    q = -(b + np.where(b >= 0, 1.0, -1.0) * root)  # stable roots q / a and c / q
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(a != 0, q / a, np.inf)
        r2 = np.where(q != 0, c / q, np.inf)
    out = np.full(a.shape, np.inf)
    for r in (r1, r2):
        out = np.where((disc >= 0) & (r > 0), np.minimum(out, r), out)
    linear = (a == 0) & (b < 0)  # q(alpha) = c + 2 b alpha
    return np.where(linear, -c / np.where(linear, 2.0 * b, 1.0), out)


def orthant_max_step(x, d):
    """The largest ``alpha`` with ``x + alpha d >= 0`` for ``x > 0``: ``-1 / min(d / x)`` when some
    ``d < 0`` (one pass over the arrays, no index arrays), else infinity."""
    if x.size == 0:
        return np.inf
    smallest = float(np.min(d / x))
    return -1.0 / smallest if smallest < 0 else np.inf


class NTScaling:
    """Nesterov-Todd scaling of the orthant (``W = diag(sqrt(s / z))``) and of every second-order cone
    (``W = b_w [[w0, w1^T], [w1, I + w1 w1^T / (1 + w0)]]`` with ``jdot(w, w) = 1``), and the scaled
    point ``lambda = W z = W^{-1} s``."""

    def __init__(self, sL, zL, s0, s1, z0, z1):
        self.wL = np.sqrt(sL / zL)
        self.wL_inverse = 1.0 / self.wL
        self.wL_inverse_squared = zL / sL
        self.lamL = np.sqrt(sL * zL)
        sn = np.sqrt(jdot(s0, s1, s0, s1))
        zn = np.sqrt(jdot(z0, z1, z0, z1))
        sb0, sb1, zb0, zb1 = s0 / sn, s1 / sn, z0 / zn, z1 / zn
        gamma = np.sqrt(0.5 * (1.0 + sb0 * zb0 + np.einsum("ij,ij->j", sb1, zb1)))
        self.w0 = (sb0 + zb0) / (2.0 * gamma)
        self.w1 = (sb1 - zb1) / (2.0 * gamma)
        self.bw = np.sqrt(sn / zn)
        self.lam0, self.lam1 = self.apply(z0, z1)

    def apply(self, v0, v1, inverse=False):
        """``W v`` (or ``W^{-1} v``) for one vector per cone."""
        sign = -1.0 if inverse else 1.0
        w1v = np.einsum("ij,ij->j", self.w1, v1)
        r0 = self.w0 * v0 + sign * w1v
        r1 = v1 + (sign * v0 + w1v / (1.0 + self.w0)) * self.w1
        f = 1.0 / self.bw if inverse else self.bw
        return f * r0, f * r1

    def inverse_squared(self):
        """``W^{-2}`` per cone, (J, d+1, d+1)."""
        J, d = self.w0.size, self.w1.shape[0]
        Wi = np.empty((J, d + 1, d + 1))
        Wi[:, 0, 0] = self.w0
        Wi[:, 0, 1:] = -self.w1.T
        Wi[:, 1:, 0] = -self.w1.T
        Wi[:, 1:, 1:] = np.eye(d)[None] + np.einsum("ij,kj->jik", self.w1, self.w1) / (1.0 + self.w0)[:, None, None]
        Wi /= self.bw[:, None, None]
        return Wi @ Wi

    def inverse_squared_schur(self):
        """The Schur complement of ``W^{-2}`` in its (0, 0) entry, per cone (J, d, d), in closed form. With
        ``W^{-2} = b_w^{-2} (2 (J w) (J w)^T - J)`` (``J = diag(1, -I)``, ``w0^2 - |w1|^2 = 1``) it is
        ``b_w^{-2} (I - 2 w1 w1^T / (1 + 2 |w1|^2))``, positive definite with the smallest eigenvalue
        ``b_w^{-2} / (1 + 2 |w1|^2)``: the same matrix as ``B_uu - B_ut B_tu / B_tt`` from the entries of
        :meth:`inverse_squared`, without the cancellation that formula suffers near the cone's boundary."""
        d = self.w1.shape[0]
        w1 = self.w1.T  # J x d
        outer = w1[:, :, None] * w1[:, None, :] * (2.0 / (1.0 + 2.0 * np.sum(w1 * w1, axis=1)))[:, None, None]
        return (np.eye(d)[None] - outer) / (self.bw ** 2)[:, None, None]

    def inverse_squared_apply(self, vL, v0, v1):
        """``W^{-2} v`` for an orthant part ``vL`` and one vector per cone ``(v0, v1)``."""
        return (vL * self.wL_inverse_squared, *self.apply(*self.apply(v0, v1, inverse=True), inverse=True))

    def reduced_rhs(self, bz, bs):
        """For the Newton equations ``G dx + ds = bz``, ``lambda o (W dz + W^{-T} ds) = bs`` with ``ds``
        eliminated: ``ez = bz - W^T (lambda \\ bs)`` and ``W^{-2} ez`` (each as orthant, cone-0, cone-1
        parts); then ``dz = W^{-2} (G dx - ez)`` and ``ds = bz - G dx``."""
        qL, q0, q1 = self.lam_solve(*bs)
        Wq0, Wq1 = self.apply(q0, q1)
        ez = (bz[0] - self.wL * qL, bz[1] - Wq0, bz[2] - Wq1)
        return ez, self.inverse_squared_apply(*ez)

    def lam_solve(self, bL, b0, b1):
        """``lambda \\ b``: the x with ``lambda o x = b`` (orthant: b / lambda; cone: the Jordan inverse)."""
        l0, l1 = self.lam0, self.lam1
        x0 = (l0 * b0 - np.einsum("ij,ij->j", l1, b1)) / jdot(l0, l1, l0, l1)
        return bL / self.lamL, x0, (b1 - x0 * l1) / l0


@dataclass
class IterateReport:
    """What a dense interior point's ``callback`` sees after each iterate: the number of Newton steps taken,
    the certified relative gap so far (None before the first bound), and the dual point of that bound
    (``theta nu`` in the loss gradient's convention; None before it)."""

    iteration: int
    gap: Optional[float]
    dual_vector: Optional[np.ndarray]


def run_interior_point(point, step, bounds, settings, degree, t_start, callback=None):
    """The outer loop of the dense interior points: record the point in ``bounds`` (its ``update`` and
    ``gap``), stop on a certified gap within ``settings.tol_gap``, on ``max_iter`` or ``time_limit``, on a
    collapsed step, or once complementarity ``point.mu(degree)`` is 1e-15 of its start; else take
    ``point, alpha = step(point)`` (arithmetic or factorisation failures stop the run). ``callback``
    (optional) is called with an :class:`IterateReport` after every uncertified iterate; raising
    StopIteration there ends the run with status ``stopped`` (SciPy's convention for callbacks). Returns
    ``(status, iterations, stopped_by)``; ``stopped_by`` says why an ``optimal_inaccurate`` or ``stopped``
    run ended."""
    import time
    iterations, alpha, initial_mu = 0, 1.0, point.mu(degree)
    while True:
        bounds.update(point)
        gap = bounds.gap()
        if gap is not None and gap <= settings.tol_gap:
            return "optimal", iterations, None
        if callback is not None:
            try:
                callback(IterateReport(iterations, gap, bounds.nu))
            except StopIteration:
                return "stopped", iterations, "the callback"
        if iterations >= settings.max_iter:
            return "max_iter", iterations, None
        if settings.time_limit is not None and time.perf_counter() - t_start >= settings.time_limit:
            return "time_limit", iterations, None
        if alpha < 1e-10:
            return "optimal_inaccurate", iterations, "the step collapsed"
        if point.mu(degree) < 1e-15 * initial_mu:
            return "optimal_inaccurate", iterations, "complementarity at the limit of double precision"
        try:
            with np.errstate(divide="raise", invalid="raise", over="raise"):
                point, alpha = step(point)
        except (FloatingPointError, np.linalg.LinAlgError) as error:
            return "optimal_inaccurate", iterations + 1, f"{type(error).__name__}: {error}"
        iterations += 1


def max_cone_step(point, slack_steps):
    """The largest step keeping the point's slacks ``(sL, s0, s1)`` and multipliers ``(zL, z0, z1)`` in their
    cones along ``slack_steps = (dsL, ds0, ds1, dzL, dz0, dz1)``."""
    dsL, ds0, ds1, dzL, dz0, dz1 = slack_steps
    return min(orthant_max_step(point.sL, dsL), orthant_max_step(point.zL, dzL),
               float(soc_max_step(point.s0, point.s1, ds0, ds1).min(initial=np.inf)),
               float(soc_max_step(point.z0, point.z1, dz0, dz1).min(initial=np.inf)))


def mehrotra_step(point, newton, nt, bx, bz, degree, n_x, step_fraction=0.95):
    """One Mehrotra predictor-corrector step of a dense interior point: the affine direction
    (``newton.direction(bx, bz, -lambda o lambda)``), the centring ``sigma = (mu_affine / mu)^3``, the
    corrector with the second-order term ``(W^{-T} ds_a) o (W dz_a)``, and ``step_fraction`` of the largest
    step. Directions are tuples of ``n_x`` primal blocks followed by ``(dsL, ds0, ds1, dzL, dz0, dz1)``;
    ``point`` has ``mu(degree)`` and ``moved(step, alpha)``. Returns (next point, step length)."""
    ll0, ll1 = jordan_product(nt.lam0, nt.lam1, nt.lam0, nt.lam1)
    affine_bs = (-nt.lamL ** 2, -ll0, -ll1)
    affine = newton.direction(bx, bz, affine_bs)
    mu = point.mu(degree)
    alpha = min(1.0, max_cone_step(point, affine[n_x:]))
    sigma = min(1.0, max(0.0, point.moved(affine, alpha).mu(degree) / mu)) ** 3
    dsL, ds0, ds1, dzL, dz0, dz1 = affine[n_x:]
    us0, us1 = nt.apply(ds0, ds1, inverse=True)
    uz0, uz1 = nt.apply(dz0, dz1)
    c0, c1 = jordan_product(us0, us1, uz0, uz1)
    cL = (dsL / nt.wL) * (nt.wL * dzL)
    bs = (affine_bs[0] - cL + sigma * mu, affine_bs[1] - c0 + sigma * mu, affine_bs[2] - c1)
    step = newton.direction(bx, bz, bs)
    alpha = min(1.0, step_fraction * max_cone_step(point, step[n_x:]))
    return point.moved(step, alpha), alpha


def preconditioned_cg(apply, precondition, rU, rt, rel_tol, max_steps, on_step=None):
    """Conjugate gradients on ``K (xU, xt) = (rU, rt)`` (the interior points' reduced Newton systems, a block
    part and a per-cone part), with ``apply`` giving ``K x`` and ``precondition`` an approximate solve, started
    from the preconditioned right-hand side. Stops at a residual of ``rel_tol`` of the right-hand side, after
    ``max_steps`` steps, or when rounding makes the preconditioner or K indefinite. ``on_step()`` is called
    per step. Returns ``(xU, xt, residual)``: the iterate with the smallest residual (2-norm) and that
    residual."""
    def norm(eU, et):
        return np.sqrt(float(np.sum(eU * eU) + et @ et))

    xU, xt = precondition(rU, rt)
    KU, Kt = apply(xU, xt)
    eU, et = rU - KU, rt - Kt
    target = rel_tol * norm(rU, rt)
    best = (norm(eU, et), xU.copy(), xt.copy())
    zU, zt = precondition(eU, et)
    pU, pt = zU.copy(), zt.copy()
    rz = float(np.sum(eU * zU) + et @ zt)
    for _ in range(max_steps):
        if best[0] <= target or rz <= 0:
            break
        if on_step is not None:
            on_step()
        qU, qt = apply(pU, pt)
        pq = float(np.sum(pU * qU) + pt @ qt)
        if pq <= 0:
            break
        a = rz / pq
        xU += a * pU
        xt += a * pt
        eU -= a * qU
        et -= a * qt
        residual = norm(eU, et)
        if residual < best[0]:
            best = (residual, xU.copy(), xt.copy())
        zU, zt = precondition(eU, et)
        rz_new = float(np.sum(eU * zU) + et @ zt)
        pU = zU + (rz_new / rz) * pU
        pt = zt + (rz_new / rz) * pt
        rz = rz_new
    return best[1], best[2], best[0]


#: relative residual at which a direction counts as solved: refinement stops once the largest entry of the full
#: Newton residual is below this times the largest entry of the right-hand side
REFINE_TOL = 1e-10


def refined_direction(solve, kkt_residual, bx, bz, bs, n_x, refinements=3, tolerance=REFINE_TOL):
    """``solve(bx, bz, bs)`` refined on the full Newton equations: the residual ``kkt_residual(step, bx, bz,
    bs)`` (``n_x`` primal parts, then three of ``bz`` and three of ``bs``) is solved for again and the
    correction kept only when it lowers the largest residual (late in a run the reduced systems are
    ill-conditioned). Refinement stops once the largest residual is at most ``tolerance`` times the largest
    right-hand side entry: early in a run the first solve is already exact to rounding, and each further
    refinement would cost a solve and a residual for nothing."""
    def largest(arrays):
        return max(float(np.max(np.abs(a), initial=0.0)) for a in arrays)

    target = tolerance * max(largest(bx), largest(bz), largest(bs))
    step = solve(bx, bz, bs)
    residual = kkt_residual(step, bx, bz, bs)
    size = largest(residual)
    for _ in range(refinements):
        if size <= target:
            break
        correction = solve(residual[:n_x], residual[n_x:n_x + 3], residual[n_x + 3:])
        trial = tuple(a + b for a, b in zip(step, correction))
        trial_residual = kkt_residual(trial, bx, bz, bs)
        trial_size = largest(trial_residual)
        if trial_size >= size:
            break
        step, residual, size = trial, trial_residual, trial_size
    return step


class BlockPoint:
    """An iterate of the interior points whose primal part is a tuple of blocks ``x``: the orthant's slacks
    and multipliers (flat) and the second-order cones' (parts 0 and 1)."""

    def __init__(self, x, sL, s0, s1, zL, z0, z1):
        self.x, self.sL, self.s0, self.s1, self.zL, self.z0, self.z1 = x, sL, s0, s1, zL, z0, z1

    def mu(self, degree):
        return (float(self.sL @ self.zL) + float(self.s0 @ self.z0) + float(np.sum(self.s1 * self.z1))) / degree

    def moved(self, step, alpha):
        blocks = len(self.x)
        x = tuple(v + alpha * dv for v, dv in zip(self.x, step[:blocks]))
        rest = (v + alpha * dv for v, dv in zip((self.sL, self.s0, self.s1, self.zL, self.z0, self.z1),
                                                step[blocks:]))
        return BlockPoint(x, *rest)


def reduced_solve(data, nt, solve_x, bx, bz, bs):
    """One solve of the Newton equations ``H dx + G^T dz = bx``, ``G dx + ds = bz``, ``lambda o (W dz +
    W^{-T} ds) = bs`` through the reduced system: ``dz`` and ``ds`` eliminated by the scaling ``nt``,
    ``solve_x`` the reduced solve on the primal blocks (``data.G``, ``data.GT``: the constraint map and its
    transpose on block tuples). Returns the primal blocks followed by ``(dsL, ds0, ds1, dzL, dz0, dz1)``."""
    (ezL, ez0, ez1), v = nt.reduced_rhs(bz, bs)
    gv = data.GT(*v)
    dx = solve_x(tuple(b + g for b, g in zip(bx, gv)))
    gL, g0, g1 = data.G(dx)
    dzL, dz0, dz1 = nt.inverse_squared_apply(gL - ezL, g0 - ez0, g1 - ez1)
    return (*dx, bz[0] - gL, bz[1] - g0, bz[2] - g1, dzL, dz0, dz1)


def newton_residual(data, nt, step, bx, bz, bs, hessian_times=None):
    """``(bx - H dx - G^T dz, bz - G dx - ds, bs - lambda o (W dz + W^{-T} ds))`` for a step of
    :func:`reduced_solve`'s layout (``hessian_times``: ``H dx`` on the blocks, None for a linear
    objective)."""
    blocks = len(bx)
    dx, (dsL, ds0, ds1, dzL, dz0, dz1) = step[:blocks], step[blocks:]
    gx = data.GT(dzL, dz0, dz1)
    hx = hessian_times(dx) if hessian_times is not None else (0.0,) * blocks
    gL, g0, g1 = data.G(dx)
    wz0, wz1 = nt.apply(dz0, dz1)
    ws0, ws1 = nt.apply(ds0, ds1, inverse=True)
    j0, j1 = jordan_product(nt.lam0, nt.lam1, wz0 + ws0, wz1 + ws1)
    uL = nt.wL * dzL + dsL / nt.wL
    return (*(b - g - h for b, g, h in zip(bx, gx, hx)), bz[0] - gL - dsL, bz[1] - g0 - ds0, bz[2] - g1 - ds1,
            bs[0] - nt.lamL * uL, bs[1] - j0, bs[2] - j1)


def interior_point_outcome(status, bounds, tol_gap, stopped_by, **extra):
    """The status and ``info`` of a dense interior point's run: ``optimal`` only with a certified gap within
    ``tol_gap`` (``bounds.gap()``); the gap, the bound (``bounds.dual``), ``extra`` and ``stopped_by``."""
    gap = bounds.gap()
    if status == "optimal" and (gap is None or gap > tol_gap):
        status = "optimal_inaccurate"
    info = {"duality_gap_rel": gap, "dual_bound": bounds.dual if np.isfinite(bounds.dual) else None, **extra,
            "certified": status == "optimal"}
    if stopped_by is not None:
        info["stopped_by"] = stopped_by
    return status, info
