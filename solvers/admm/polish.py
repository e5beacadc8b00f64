r"""Active-set polishing for the ADMMs (OSQP style), with a Lagrange-dual certificate.

Once an ADMM's support (nonzero blocks of b) and active cone rows (c = 0 with a negative multiplier) stop
changing, the reduced smooth problem on that support, with the active rows as equalities, is solved by
damped Newton in a null-space parametrisation; an active-set correction loop adds violated rows, releases
rows with negative multipliers and lets zero blocks that violate dual feasibility enter. Every feasible
round point gets a certified relative duality gap (dual of docs/math.md section 6 evaluated at the loss
gradient and least-squares / NNLS cone multipliers). Works for any twice-differentiable loss (squared,
logistic); the squared loss has a fast path (its Hessian is formed once).

The hinge loss is piecewise linear, so its reduced problem also fixes the *pieces*: samples with margin
below 1 (loss linear), above 1 (loss zero) and on the kink (margin = 1, an equality whose multiplier is
the subgradient weight in [0, 1]). That problem (a linear term, group norms and linear equalities) is
solved by equality-constrained Newton on its KKT system, and the correction loop also moves samples
between pieces.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
from scipy import linalg as sla
from scipy.optimize import nnls

from ..core.dual import dual_scaling
from ..core.prox import block_norms, inf_norm as _inf

__all__ = ["polish", "dual_certificate"]

#: the SVD least-squares solve (LAPACK gelsd) that replaces a failed Newton factorisation costs about ten
#: times the symmetric solve that failed (10.3x measured at size 2273, one thread), and more than that
#: times a Cholesky
LSTSQ_COST = 12.0


def _null_spaces(F, support, active, rel_tol=1e-10):
    """Orthonormal null-space bases of the active cone rows of each support block (batched eigh).

    Returns a list of (block index, N_j) with N_j d x k_j; blocks whose active rows span R^d (k_j = 0,
    the block is pinned to zero) are left out."""
    X = F.X
    act = active[:, support].astype(float)  # n x J
    # Gram matrices X_A^T X_A of the active rows of every support block: J x d x d
    gram = np.einsum("nj,ni,nk->jik", act, X, X, optimize=True)
    w, V = np.linalg.eigh(gram)
    scale = max(float(np.max(np.sum(X * X, axis=1), initial=0.0)), 1e-300)
    out = []
    for idx, j in enumerate(support):
        keep = w[idx] <= rel_tol * scale * max(1.0, act[:, idx].sum())
        if np.any(keep):
            out.append((int(j), V[idx][:, keep]))
    return out


class _ReducedBlocks:
    """The reduced variables of the support blocks: ``a_j = N_j z_j``, ``z = [z_1, ..., z_J]`` (K entries),
    the reduced prediction matrix ``Fm = [Dpm_j o (X N_j)]`` (n x K), the start ``z0 = [N_j^T a_j]``, and the
    per-block pieces both reduced Newtons need (group norms, their curvature, collapse, back to A)."""

    def __init__(self, F, blocks, A0):
        self.F, self.blocks = F, blocks
        self.Fm = np.hstack([F.Dpm[:, j:j + 1] * (F.X @ N) for j, N in blocks])
        self.z0 = np.concatenate([N.T @ A0[:, j] for j, N in blocks])
        self.sizes = np.array([N.shape[1] for _, N in blocks])
        self.bounds = np.concatenate([[0], np.cumsum(self.sizes)])
        self.nb, self.K = len(blocks), int(self.bounds[-1])
        self.seg = np.repeat(np.arange(self.nb), self.sizes)
        self.reg = 1e-13 * max(1.0, float(np.einsum("ij,ij->", self.Fm, self.Fm)) / max(self.K, 1))

    def slice(self, k):
        return slice(self.bounds[k], self.bounds[k + 1])

    def norms(self, z):
        return np.sqrt(np.bincount(self.seg, weights=z * z, minlength=self.nb))

    def start_zero_blocks(self, z, direction):
        """Zero blocks of z start at a tiny step along ``direction`` (the group norm is not smooth at 0)."""
        for k in np.flatnonzero(self.norms(z) == 0):
            sl = self.slice(k)
            z[sl] = 1e-6 * direction[sl] / max(np.linalg.norm(direction[sl]), 1e-300)

    def add_norm_curvature(self, H, z, beta):
        """Add the Hessian of ``beta sum_j |z_j|`` (plus the regularisation) to the leading K x K block of H;
        returns the unit vectors ``u = z_j / |z_j|`` (the norms' gradient over beta)."""
        nz = self.norms(z)
        u = z / nz[self.seg]
        for k in range(self.nb):  # small dense diagonal blocks
            sl = self.slice(k)
            H[sl, sl] += (beta / nz[k]) * (np.eye(self.sizes[k]) - np.outer(u[sl], u[sl]))
        H[np.diag_indices(self.K)] += self.reg
        return u

    def collapsed(self, z):
        """Mask of the blocks whose norm collapsed (<= 1e-9 of the largest), or None."""
        nz = self.norms(z)
        small = nz <= 1e-9 * max(float(nz.max()), 1e-300)
        return small if np.any(small) else None

    def weights(self, z):
        """``A`` (d x 2P) with ``a_j = N_j z_j`` on the support blocks, zero elsewhere."""
        A = np.zeros((self.F.d, 2 * self.F.P))
        for k, (j, N) in enumerate(self.blocks):
            A[:, j] = N @ z[self.slice(k)]
        return A


def _newton_reduced(F, ys, beta, blocks, A0, max_newton=50, deadline=None, loss=None):
    r"""Minimise :math:`\ell(\sum_j F_j z_j, y) + \beta \sum_j |z_j|` by damped Newton, where
    ``F_j = Dpm_j o (X N_j)`` and ``a_j = N_j z_j`` (null-space parametrisation of the active rows);
    ``loss`` is any twice-differentiable :class:`~formulations.losses.Loss` (None: squared, whose Hessian
    ``F^T F`` is formed once).

    Blocks whose norm collapses (the group norm is not smooth at 0) are removed and Newton restarts.
    Returns (A (d x 2P), converged)."""
    blocks = list(blocks)
    A = np.zeros((F.d, 2 * F.P))
    converged = False
    for _restart in range(10):
        if not blocks:
            return A, True
        rb = _ReducedBlocks(F, blocks, A0)
        Fm, z = rb.Fm, rb.z0

        if loss is None:
            FtF = Fm.T @ Fm
            Fty = Fm.T @ ys

            def fval(v):
                r = Fm @ v - ys
                return 0.5 * float(r @ r) + beta * float(np.sum(rb.norms(v)))

            def smooth_grad_hess(v):
                return FtF @ v - Fty, FtF.copy()
        else:
            def fval(v):
                return loss.value(Fm @ v, ys) + beta * float(np.sum(rb.norms(v)))

            def smooth_grad_hess(v):
                pred = Fm @ v
                return Fm.T @ loss.gradient(pred, ys), Fm.T @ (loss.hessian(pred, ys)[:, None] * Fm)

        if np.any(rb.norms(z) == 0):  # zero blocks start along the steepest-descent direction
            rb.start_zero_blocks(z, -smooth_grad_hess(z)[0])
        f = fval(z)
        collapsed = None
        converged = False
        for _ in range(max_newton):
            if deadline is not None and time.perf_counter() > deadline:
                break
            grad, Hm = smooth_grad_hess(z)
            grad = grad + beta * rb.add_norm_curvature(Hm, z, beta)
            started = time.perf_counter()
            try:
                L = np.linalg.cholesky(Hm)
                step = -sla.cho_solve((L, True), grad)
            except np.linalg.LinAlgError:
                step = _least_squares_in_time(Hm, grad, time.perf_counter() - started, deadline)
                if step is None:
                    break
                step = -step
            decrement = float(-grad @ step)
            if decrement <= 1e-26 * max(1.0, abs(f)) or decrement <= 0:
                converged = decrement >= 0
                break
            t = 1.0
            while t > 1e-14:
                zn = z + t * step
                fn = fval(zn)
                if fn <= f - 1e-4 * t * decrement:
                    break
                t *= 0.5
            else:
                converged = True  # no decrease possible at machine precision
                break
            z, f = zn, fn
            collapsed = rb.collapsed(z)
            if collapsed is not None:
                break
        A = rb.weights(z)
        if collapsed is None:
            return A, converged
        A0 = A
        blocks = [b for b, c in zip(blocks, collapsed) if not c]
    return A, converged


def _least_squares_in_time(H, rhs, failed_solve_s, deadline):
    """The minimum-norm least-squares solution of ``H x = rhs`` (SVD), the fallback of a Newton step whose
    factorisation failed, or None when it would end past ``deadline``: the SVD is predicted to take
    ``LSTSQ_COST`` times the failed factorisation's ``failed_solve_s`` seconds."""
    if deadline is not None and time.perf_counter() + LSTSQ_COST * failed_solve_s > deadline:
        return None
    return np.linalg.lstsq(H, rhs, rcond=None)[0]


def _newton_reduced_hinge(F, ys, beta, blocks, A0, below, kink, max_newton=50, deadline=None):
    r"""The hinge loss with fixed pieces: minimise
    :math:`-\sum_{i \in L} y_i f_i + \beta \sum_j |z_j|` subject to :math:`y_i f_i = 1` for the kink
    samples ``i in K``, where ``f = sum_j F_j z_j``, ``F_j = Dpm_j o (X N_j)``, ``L = below`` (margin < 1).

    Infeasible-start Newton on the KKT system ``[H E^T; E 0] [dz; mu] = [-g; 1 - E z]`` with
    ``E = y_K o F_K``, ``g = c + beta z_j/|z_j|`` and ``H`` the group norms' curvature, backtracking on the
    KKT residual. Stationarity gives the kink subgradient weights ``alpha_K = -mu`` (in [0, 1] at the optimum
    of the full problem). Blocks whose norm collapses are removed and Newton restarts.

    Returns (A (d x 2P), converged, alpha_K)."""
    blocks = list(blocks)
    kink_idx = np.flatnonzero(kink)
    alpha = np.zeros(kink_idx.size)
    A = np.zeros((F.d, 2 * F.P))
    for _restart in range(10):
        if not blocks:
            return A, kink_idx.size == 0, alpha
        rb = _ReducedBlocks(F, blocks, A0)
        Fm, z, K = rb.Fm, rb.z0, rb.K
        c = -Fm[below].T @ ys[below]
        E = ys[kink_idx, None] * Fm[kink_idx]
        m = kink_idx.size
        rb.start_zero_blocks(z, -c)
        mu = np.zeros(m)

        def kkt_residual(v, w):
            g = c + beta * v / np.maximum(rb.norms(v)[rb.seg], 1e-300)
            return np.concatenate([g + E.T @ w, E @ v - 1.0])

        res = kkt_residual(z, mu)
        tol = 1e-12 * max(1.0, float(np.abs(c).max(initial=0.0)), beta)
        converged, collapsed = False, None
        for _ in range(max_newton):
            if deadline is not None and time.perf_counter() > deadline:
                break
            if _inf(res) <= tol:
                converged = True
                break
            H = np.zeros((K + m, K + m))
            u = rb.add_norm_curvature(H, z, beta)
            H[:K, K:] = E.T
            H[K:, :K] = E
            rhs = -np.concatenate([c + beta * u, E @ z - 1.0])
            started = time.perf_counter()
            try:  # an ill-conditioned KKT matrix (degenerate pieces) falls back to least squares
                with warnings.catch_warnings():
                    warnings.simplefilter("error", sla.LinAlgWarning)
                    sol = sla.solve(H, rhs, assume_a="sym")
            except (np.linalg.LinAlgError, sla.LinAlgWarning):
                sol = _least_squares_in_time(H, rhs, time.perf_counter() - started, deadline)
                if sol is None:
                    break
            dz, dmu = sol[:K], sol[K:] - mu
            norm0, t = np.linalg.norm(res), 1.0
            while t > 1e-10:
                zn, mun = z + t * dz, mu + t * dmu
                resn = kkt_residual(zn, mun)
                if np.linalg.norm(resn) <= (1.0 - 0.01 * t) * norm0:
                    break
                t *= 0.5
            else:
                break  # no progress: return the current point, not converged
            z, mu, res = zn, mun, resn
            collapsed = rb.collapsed(z)
            if collapsed is not None:
                break
        A = rb.weights(z)
        alpha = -mu
        if collapsed is None:
            return A, converged, alpha
        A0 = A
        blocks = [b for b, col in zip(blocks, collapsed) if not col]
    return A, False, alpha


def _block_gradients(F, ys, XA, loss=None, nu=None):
    """Loss gradient r = grad l(M a) (squared: ``M a - y``; ``nu`` when given, e.g. a hinge subgradient)
    and the block gradients ``M^T r`` (d x 2P)."""
    if nu is not None:
        r = np.asarray(nu, float)
    else:
        pred = np.einsum("ij,ij->i", F.Dpm, XA)
        r = pred - ys if loss is None else loss.gradient(pred, ys)
    return r, F.MT(r)


def dual_certificate(F, ys, beta, A, XA, active, lam_guess, price_tol=1e-9, deadline=None, loss=None, nu=None):
    r"""Lagrange-dual lower bound and pricing at the point ``A``.

    Dual of the scaled problem: maximise ``-l^*(nu)`` (squared: ``-0.5|nu|^2 - nu^T y``) subject to
    ``|(M^T nu - X^T(S o lam))_j| <= beta`` for every block, ``lam >= 0``. With ``nu = r = grad l(M a)``
    (or the given subgradient ``nu``, which must lie in the conjugate's domain):
    support blocks take least-squares multipliers on their active rows (stationarity
    ``M^T r + beta a_j/|a_j| = X^T(S_j o lam_j)``), zero blocks the guess ``lam_guess`` or, when that is not
    dual feasible, the NNLS multipliers ``argmin_{lam >= 0} |M^T r - X^T (S_j o lam)|``. (nu, lam) are
    scaled by theta in (0, 1] into the dual feasible set.

    Returns dict(dual, theta, lam, entering (zero blocks that violate dual feasibility: their steepest
    descent directions inside the cone), negative (support blocks' active rows with negative
    multipliers))."""
    r, G = _block_gradients(F, ys, XA, loss, nu)
    norms = np.linalg.norm(A, axis=0)
    lam = np.maximum(np.asarray(lam_guess, float), 0.0).copy()
    negative = np.zeros_like(active)
    for j in np.flatnonzero(norms > 0):
        rows = np.flatnonzero(active[:, j])
        lam[:, j] = 0.0
        if rows.size:
            g = G[:, j] + beta * A[:, j] / norms[j]
            Arows = (F.S2[rows, j:j + 1] * F.X[rows]).T  # d x |A|
            sol = np.linalg.lstsq(Arows, g, rcond=None)[0]
            negative[rows[sol < -price_tol * max(1.0, beta)], j] = True
            lam[rows, j] = np.maximum(sol, 0.0)
    R = G - F.XT @ (F.S2 * lam)
    rn = block_norms(R)
    entering = {}
    for j in np.flatnonzero((norms == 0) & (rn > beta * (1.0 + price_tol))):
        if deadline is not None and time.perf_counter() > deadline:
            break  # any lam >= 0 gives a valid bound; the remaining blocks keep their guess
        Aj = (F.S2[:, j:j + 1] * F.X).T  # d x n
        sol, res = nnls(Aj, G[:, j], maxiter=50 * Aj.shape[1])
        lam[:, j] = sol
        rvec = G[:, j] - Aj @ sol
        rn[j] = np.linalg.norm(rvec)
        if rn[j] > beta * (1.0 + price_tol):
            entering[int(j)] = (-rvec, sol > 0)  # descent direction in the cone, its active rows
    worst = float(rn.max(initial=0.0))  # support blocks: beta + stationarity error
    theta = dual_scaling(worst, beta)
    nu = theta * r
    dual = -0.5 * float(nu @ nu) - float(nu @ ys) if loss is None else loss.dual_value(nu, ys)
    return dict(dual=dual, theta=theta, lam=lam, entering=entering, negative=negative)


def polish(F, sc, A_start, support, active, lam_admm, feas_tol, max_rounds=8, deadline=None,
            max_reduced=2000, loss=None, pieces=None):
    """Active-set polishing seeded by an ADMM iterate.

    Each round solves the reduced smooth problem (support blocks, active cone rows as equalities) by
    Newton, then corrects the active set: violated rows are added, rows with negative multipliers are
    released, zero blocks that violate dual feasibility enter along their steepest descent direction in
    the cone. Every feasible round point is a candidate; the one with the smallest certified gap wins.
    ``loss``: a twice-differentiable loss (None: squared, the fast path), or the hinge loss together with
    ``pieces = (below, kink)``, boolean n-vectors of the samples with margin < 1 and on the kink (margin = 1),
    e.g. read off the ADMM's prox output; the loop then also moves samples whose margin left their piece,
    and kink samples whose weight alpha left [0, 1], to the piece they belong to.
    Returns dict(A, XA, objective_s, violation_s, dual_s, rounds, newton_converged) or None if no round was
    feasible."""
    ys, beta = sc.y, sc.beta
    feas_abs = feas_tol * max(1.0, _inf(ys))
    support = [int(j) for j in support]
    active = active.copy()
    hinge = None if pieces is None else _HingePieces(pieces)
    A_ref, best = A_start.copy(), None
    for rnd in range(1, max_rounds + 1):
        if deadline is not None and time.perf_counter() > deadline:
            break
        blocks = _null_spaces(F, np.asarray(support, dtype=int), active) if support else []
        if sum(N.shape[1] for _, N in blocks) > max_reduced:
            break  # the reduced Newton system would be too large to be cheap
        cand, cert, QA, pred, on = _polish_round(F, ys, beta, blocks, A_ref, active, lam_admm, rnd, deadline,
                                                 loss, hinge)
        if cand["violation_s"] <= feas_abs and (
                best is None or cand["objective_s"] - cand["dual_s"] < best["objective_s"] - best["dual_s"]):
            best = cand
        changed, violated = _correct_active_rows(active, QA, cert["negative"], on, feas_abs)
        if hinge is not None:
            changed |= hinge.correct(ys * pred)
        support = [int(j) for j in np.flatnonzero(on)]
        A_ref = cand["A"].copy()
        if cert["entering"] and not np.any(violated):
            _enter_blocks(A_ref, active, support, cert["entering"])
            changed = True
        if not changed:
            break
    return best


def _polish_round(F, ys, beta, blocks, A_ref, active, lam_admm, rnd, deadline, loss, hinge):
    """One polishing round: Newton on the reduced problem, then the point's objective, cone violation and
    dual certificate (scaled problem). Returns (candidate dict, certificate, Q a, predictions, nonzero
    blocks)."""
    nu = None
    if hinge is None:
        A, newton_ok = _newton_reduced(F, ys, beta, blocks, A_ref, deadline=deadline, loss=loss)
    else:
        A, newton_ok, nu = hinge.solve(F, ys, beta, blocks, A_ref, deadline)
    XA = F.X @ A
    QA = F.S2 * XA
    viol = max(0.0, -float(QA.min(initial=0.0)))
    pred = np.einsum("ij,ij->i", F.Dpm, XA)
    fit = 0.5 * float((pred - ys) @ (pred - ys)) if loss is None else loss.value(pred, ys)
    obj = fit + beta * float(np.sum(np.linalg.norm(A, axis=0)))
    on = np.linalg.norm(A, axis=0) > 0
    cert = dual_certificate(F, ys, beta, A, XA, active & on[None, :], lam_admm, deadline=deadline, loss=loss,
                            nu=nu)
    cand = dict(A=A, XA=XA, objective_s=obj, violation_s=viol, dual_s=cert["dual"], rounds=rnd,
                newton_converged=newton_ok)
    return cand, cert, QA, pred, on


def _correct_active_rows(active, QA, negative, on, feas_abs):
    """In place: violated cone rows of the nonzero blocks ``on`` join the active set, active rows with
    negative multipliers leave it. Returns (changed, violated rows)."""
    changed = False
    violated = QA < -feas_abs
    if np.any(violated):
        active |= violated & on[None, :]
        changed = True
    if np.any(negative):
        active &= ~negative
        changed = True
    return changed, violated


def _enter_blocks(A_ref, active, support, entering):
    """In place: every zero block that violates dual feasibility starts a tiny step along its steepest descent
    direction in its cone, with that direction's active rows, and joins the support."""
    scale = max(float(np.max(np.linalg.norm(A_ref, axis=0), initial=0.0)), 1.0) * 1e-6
    for j, (direction, rows) in entering.items():
        A_ref[:, j] = scale * direction / max(np.linalg.norm(direction), 1e-300)
        active[:, j] = rows
        support.append(j)


class _HingePieces:
    """The pieces of the hinge loss in the reduced problem: samples with margin below 1 (loss linear), on the
    kink (margin = 1; the loss's subgradient weight alpha in [0, 1] is a multiplier), and above 1 (loss
    zero)."""

    def __init__(self, pieces):
        self.below, self.kink = (np.asarray(p, bool).copy() for p in pieces)
        self.alpha = None

    def solve(self, F, ys, beta, blocks, A_ref, deadline):
        """Newton on the reduced hinge problem; returns (A, converged, nu) with ``nu`` the hinge subgradient
        (``-y`` below the kink, ``-y alpha`` on it with alpha clipped to [0, 1], 0 above)."""
        A, newton_ok, self.alpha = _newton_reduced_hinge(F, ys, beta, blocks, A_ref, self.below, self.kink,
                                                         deadline=deadline)
        nu = -ys * self.below
        nu[self.kink] = -ys[self.kink] * np.clip(self.alpha, 0.0, 1.0)
        return A, newton_ok, nu

    def correct(self, margin, tol=1e-9):
        """Move samples whose margin left their piece to the kink; when none did, the kink sample whose weight
        is furthest outside [0, 1] leaves the kink (above 1: below the kink; below 0: above it). One leaves per
        round, as in a primal active-set method: releasing every sign-wrong weight at once can leave too few
        kinks to pin the radial degrees of freedom. Returns True when a piece changed."""
        below, kink, alpha = self.below, self.kink, self.alpha
        to_kink = (below & (margin > 1.0 + tol)) | (~below & ~kink & (margin < 1.0 - tol))
        kink_idx = np.flatnonzero(kink)
        to_below = to_zero = kink_idx[:0]
        if alpha.size and not np.any(to_kink):
            k = int(np.argmax(np.maximum(alpha - 1.0, -alpha)))
            if alpha[k] > 1.0 + tol:
                to_below = kink_idx[k:k + 1]
            elif alpha[k] < -tol:
                to_zero = kink_idx[k:k + 1]
        if not (np.any(to_kink) or to_below.size or to_zero.size):
            return False
        below &= ~to_kink
        kink |= to_kink
        kink[to_below] = kink[to_zero] = False
        below[to_below] = True
        return True
