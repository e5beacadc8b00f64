r"""A working-set Newton solver for the unconstrained programs (docs/math.md 5.1).

Both programs are a group lasso over P groups of size g,

.. math::
    \min_w\ \Phi(w) = \ell\Big(\sum_j A_j w_j,\ y\Big) + \beta \sum_j |w_j|_2 ,

* gated ReLU (:class:`formulations.gated.GatedReLUProgram`): g = d, :math:`A_j = \mathrm{diag}(D_j) X`,
  :math:`A_j^T r = X^T (D_j \circ r)`;
* SCP (:class:`formulations.scp.SCPProgram`): g = 1, :math:`A_j = F_j = \max(0, X h_j)` (the group norm of
  a scalar is its absolute value: the lasso).

Certificate. For any :math:`s \in \mathbb R^n` in the conjugate's domain, :math:`\theta s` with
:math:`\theta = \min(1, \beta / \max_j |A_j^T s|_2)` is feasible for the dual
:math:`\max_s -\ell^*(s)` s.t. :math:`|A_j^T s|_2 \le \beta` (:func:`solvers.core.dual.dual_scaling`),
so :math:`\Phi(w) + \ell^*(\theta s)` bounds the gap of w. The dual point is the loss gradient
:math:`s = \nabla\ell(Aw)`, the same bound :mod:`solvers.fista` certifies with. Pricing a group costs one :math:`A_j^T s`: O(n g).

Losses: squared and logistic (smooth). The hinge is not offered: Newton on its Moreau envelope inside
the method of multipliers was measured slower than :mod:`solvers.working_set` (gated) and Clarabel (SCP)
and stalled at ``max_iter`` on some instances; those solvers handle it.

Working set (outer loop, column generation as in celer / skglm). Order the groups by their price
:math:`p_j = |A_j^T \nabla\ell(0)|` at the zero model and start from those the (basic) strong rule of
Tibshirani et al. (2012) keeps, :math:`p_j \ge 2\beta - \max_k p_k` - every group when beta is below half
of beta_max, few near it - at least the ``initial_groups`` best and at most n of them (a heuristic screen:
the pricing after each round corrects it). Solve the program restricted to the working set W (the other
groups held at zero) to a relative gap ``0.1 * max(tol_gap, previous full gap)`` on W, then price every group at the dual point; if the
certified gap of the FULL program is at most ``tol_gap`` stop, else add the most violating groups
(:math:`|A_j^T s| > \beta`), as many as W holds (doubling).

Inner solver on W, gated program (groups of size d). Alternate

* a block coordinate sweep over W (sequential, in W's order): the block prox-gradient step
  :math:`w_j \leftarrow \mathrm{prox}_{\beta|\cdot|/L_j}(w_j - A_j^T\nabla\ell / L_j)` with
  :math:`L_j = c\,\lambda_{\max}(A_j^T A_j)` (c = 1 squared, 1/4 logistic)
  majorises the block, so every step descends; it moves groups in and out of zero;
* a Newton step on the groups that are nonzero (A). There :math:`\Phi` is smooth, with gradient
  :math:`G_j = A_j^T \nabla\ell + \beta e_j` (:math:`e_j = w_j / |w_j|`) and Hessian

  .. math::
      M = Z_A^T \mathrm{diag}(h) Z_A + \beta\,\mathrm{blockdiag}\big((I - e_j e_j^T) / |w_j|\big) + \mu I,

  h the loss curvature :math:`\ell''`, :math:`Z_A`
  the n x g|A| columns of the groups and :math:`\mu` a tiny regularisation (1e-10 of the largest
  block curvature: the penalty has no curvature along :math:`e_j`). The step :math:`p = -M^{-1} G` is
  damped by Armijo backtracking on :math:`\Phi` along the projected arc :math:`\Pi(w + t p)` (zero groups
  stay zero): a group whose component along :math:`e_j` changes sign is set to zero, since the smooth
  model of :math:`|w_j|` holds only on its side of zero; after a step that set groups to zero, Newton
  continues on the smaller set (a sweep would bring them straight back). The Newton model of
  :math:`|w_j|` is accurate only within about :math:`|w_j|` of :math:`w_j`: after a step shorter than 1/2
  the next one replaces the penalty's Hessian by its majoriser :math:`\beta/|w_j|\, I` (since
  :math:`|u| \le |u|^2 / (2|w_j|) + |w_j| / 2`: an iteratively reweighted least-squares step, which
  rescales the group norms freely), until such a step is taken in full. The sweep runs only after a
  damped step or while a zero group of W violates :math:`|A_j^T\nabla\ell| \le \beta`, so it does not
  blur the quadratic convergence of full Newton steps.

The Newton system is solved in whichever of two forms is cheaper:

* primal, g|A| unknowns: a Cholesky of M (for the squared loss :math:`Z_W^T Z_W` is formed once per
  working set and its A block read off);
* kernel, n unknowns, when g|A| > n (small beta: many groups active, the model interpolates). With
  :math:`\Lambda = \mathrm{blockdiag}(\lambda_j I)`, :math:`\lambda_j = \beta/|w_j| + \mu`,
  :math:`E = \mathrm{blockdiag}(e_j)` and :math:`H = \mathrm{diag}(h)`,
  :math:`M = \Lambda + U C U^T` with :math:`U = [Z^T H^{1/2}, E]`,
  :math:`C = \mathrm{diag}(I_n, -\mathrm{diag}(\beta/|w_j|))`. Woodbury gives
  :math:`M^{-1} = \Lambda^{-1} - \Lambda^{-1} U S^{-1} U^T \Lambda^{-1}` with the quasi-definite

  .. math::
      S = \begin{pmatrix} I + H^{1/2} K H^{1/2} & H^{1/2} V \\ V^T H^{1/2} &
          \mathrm{diag}(1/\lambda_j - |w_j|/\beta) \end{pmatrix},\quad
      K = Z\Lambda^{-1}Z^T = \sum_j \lambda_j^{-1} A_j A_j^T,\quad V_{:j} = \lambda_j^{-1} A_j e_j,

  solved by a Cholesky of the n x n block and of the (negated) |A| x |A| Schur complement. For the
  gated program :math:`A_j A_j^T = \mathrm{diag}(D_j) XX^T \mathrm{diag}(D_j)`, so
  :math:`K = (XX^T) \circ (D_A \mathrm{diag}(1/\lambda) D_A^T)`: O(n^2 (d + |A|)) to form, never
  :math:`O(n (d|A|)^2)`.

Inner solver on W, SCP program (the lasso, g = 1): proximal Newton (as glmnet and skglm). At
:math:`\theta` form the loss's quadratic model, with :math:`Q = F_W^T \mathrm{diag}(h) F_W` (|W| x |W|;
for the squared loss formed once per working set, and the model is then the objective itself), minimise
model plus :math:`\beta|\cdot|_1` exactly by an active-set method (coordinate-descent passes that move
coordinates in and out of zero, Newton steps on the nonzero ones cut at the first zero crossing - which
also copes with collinear features, where :math:`Q_{AA}` is singular), then backtrack on the objective
from the full step. The lasso penalty has no curvature, so Newton on the objective itself would step far
along the null space of nearly collinear features (small X scale, small beta) and crawl; on the model the
same steps are exact and cheap. For the squared loss one step solves the restricted program.

Code layout: :class:`NewtonSettings` (options), :class:`_Groups` (the A_j of either program),
:class:`_Smooth` (the loss piece), :class:`_Run` (the state, the sweep, the Newton
step, the certificate, the restricted solves), :func:`newton` (the outer working-set loop).
"""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import linalg as sla

from formulations.gated import GatedReLUProgram
from formulations.scp import SCPProgram

from .core.blas import run_with_blas_threads
from .core.dual import certified_gap, dual_scaling
from .core.heap import retains_heap
from .core.log import record
from .core.operators import weighted_gram_blocks
from .core.options import check_flags, check_int, check_positive, keyword_signature, settings_from_options
from .core.prox import block_norms, group_soft
from .result import finish_run

__all__ = ["newton", "NewtonSettings"]

#: Armijo constant and the number of halvings before a Newton step is given up (the sweep then moves)
_ARMIJO, _MAX_HALVINGS = 1e-4, 40
#: the Newton regularisation mu, relative to the largest block curvature
_MU_REL = 1e-10
#: Newton steps shorter than this switch the next step to the majorised Hessian
_FULL_STEP = 0.5
#: the lasso's model solve: a zero coordinate violates when |q_j| > beta (1 + _KKT_REL); at most this many
#: coordinate-descent passes (each followed by Newton steps on the nonzero coordinates)
_KKT_REL, _CD_MAX_PASSES = 1e-9, 100
#: the restricted solves stop at this share of the gap they are to reach on the full program
_INNER_SHARE = 0.1


@dataclass
class NewtonSettings:
    """The options of :func:`newton` with their defaults (checked once; ``ValueError`` naming the option).

    tol_gap : certified relative duality gap of the full program that ends the run (``optimal``).
    max_iter : Newton steps plus block sweeps (gated) or proximal Newton steps (SCP), over all rounds.
    time_limit : seconds (None: none).
    verbose : one line per working-set round on stderr.
    initial_groups : the fewest groups of the first working set (the zero model's highest priced; the
        strong rule may keep more).
    blas_threads : BLAS threads (None: leave the BLAS setting alone). One by default, as for the ADMM and
        the interior point: the products of a Newton step are small, and two threads made the measured runs
        3-4x slower (docs/benchmarks.md, "Every program against Clarabel").
    tol_abs, tol_rel : the registry's generic ``--tol``; when given, ``tol_gap`` becomes the smallest.
    """

    tol_gap: float = 1e-6
    max_iter: int = 1000
    time_limit: Optional[float] = None
    verbose: bool = False
    initial_groups: int = 10
    blas_threads: Optional[int] = 1
    tol_abs: Optional[float] = None
    tol_rel: Optional[float] = None

    def __post_init__(self):
        self.tol_gap = check_positive("newton", "tol_gap", self.tol_gap)
        self.max_iter = check_int("newton", "max_iter", self.max_iter, 0)
        self.time_limit = check_positive("newton", "time_limit", self.time_limit, allow_none=True)
        check_flags("newton", verbose=self.verbose)
        self.initial_groups = check_int("newton", "initial_groups", self.initial_groups)
        if self.blas_threads is not None:
            self.blas_threads = check_int("newton", "blas_threads", self.blas_threads)
        tols = [check_positive("newton", key, value) for key, value in (("tol_abs", self.tol_abs),
                                                                       ("tol_rel", self.tol_rel)) if value is not None]
        if tols:
            self.tol_gap = min([self.tol_gap, *tols])


# ------------------------------------------------------------------------------------------------------
# the groups A_j of the two programs
# ------------------------------------------------------------------------------------------------------
class _Groups:
    """The prediction maps A_j of a gated (g = d) or SCP (g = 1) program; weights are g x P arrays (the
    SCP's theta is row 0). ``idx`` arguments are arrays of group indices; arrays are read, never written."""

    def __init__(self, program):
        self.gated = isinstance(program, GatedReLUProgram)
        self.n = program.n
        if self.gated:
            self.X, self.D = program.X, program.D
            self.g = program.d
        else:
            self.F = program.F
            self.g = 1
        self.P = program.n_patterns
        self._XXt = None

    def predict(self, idx, Wsub):
        """``sum_{j in idx} A_j w_j`` for the g x |idx| block ``Wsub``."""
        if self.gated:
            return np.einsum("ij,ij->i", self.D[:, idx], self.X @ Wsub)
        return self.F[:, idx] @ Wsub[0]

    def adjoint(self, r, idx=None):
        """``A_j^T r`` for the groups ``idx`` (all when None) -> g x |idx|."""
        if self.gated:
            D = self.D if idx is None else self.D[:, idx]
            return self.X.T @ (D * r[:, None])
        F = self.F if idx is None else self.F[:, idx]
        return (F.T @ r)[None, :]

    def group_predictions(self, idx, Wsub):
        """The n x |idx| matrix of the single groups' predictions ``A_j w_j``."""
        if self.gated:
            return self.D[:, idx] * (self.X @ Wsub)
        return self.F[:, idx] * Wsub[0]

    def columns(self, idx):
        """``Z = [A_j]_{j in idx}`` (n x g|idx|, group-major: group k owns columns k g .. k g + g - 1)."""
        if self.gated:
            return (self.D[:, idx][:, :, None] * self.X[:, None, :]).reshape(self.n, -1)
        return self.F[:, idx]

    def block_curvature(self, idx):
        """``lambda_max(A_j^T A_j)`` for the groups ``idx`` (the block Lipschitz constants over c)."""
        if self.gated:
            return np.linalg.eigvalsh(weighted_gram_blocks(self.X, self.D[:, idx]))[:, -1]
        return np.einsum("ij,ij->j", self.F[:, idx], self.F[:, idx])

    def kernel(self, idx, weights):
        """The lower triangle of ``sum_j weights_j A_j A_j^T`` (n x n; the strict upper triangle is zero);
        gated: ``(X X^T) o (D diag(weights) D^T)``."""
        if self.gated:
            if self._XXt is None:
                self._XXt = self.X @ self.X.T
            return self._XXt * _gram_rows(self.D[:, idx] * np.sqrt(weights))
        return _gram_rows(self.F[:, idx] * np.sqrt(weights))


def _gram_rows(B):
    """The lower triangle of ``B B^T`` (the strict upper one is zero) by one BLAS syrk: half the flops of
    the product, and all a lower Cholesky factorisation reads."""
    from scipy.linalg.blas import dsyrk
    return dsyrk(1.0, np.asfortranarray(B), lower=1)


# ------------------------------------------------------------------------------------------------------
# the loss piece: value, gradient, curvature of z -> l(z)
# ------------------------------------------------------------------------------------------------------
class _Smooth:
    """The squared or logistic loss as a function of the predictions; ``bound`` is sup l''."""

    def __init__(self, loss, y):
        self.loss, self.y = loss, y
        self.bound = 1.0 if loss.name == "squared" else 0.25
        self.constant_curvature = loss.name == "squared"

    def value(self, z):
        return self.loss.value(z, self.y)

    def gradient(self, z):
        return self.loss.gradient(z, self.y)

    def curvature(self, z):
        return self.loss.hessian(z, self.y)


# ------------------------------------------------------------------------------------------------------
# one run
# ------------------------------------------------------------------------------------------------------
class _Limit(Exception):
    """Raised inside a restricted solve when max_iter or time_limit is reached."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class _Run:
    """The state of one call: the point (w, its predictions z), the working set, counters, the best
    certified dual bound, and the pieces of the inner solver."""

    def __init__(self, program, settings, t_start):
        self.program, self.settings, self.t_start = program, settings, t_start
        self.groups = _Groups(program)
        self.loss, self.y, self.beta = program.loss, program.y, program.beta_value
        self.w = np.zeros((self.groups.g, self.groups.P))
        self.z = np.zeros(program.n)
        self.curv = np.full(self.groups.P, np.nan)  # lambda_max(A_j^T A_j), filled for the working set
        self.gram = None  # squared loss: (nonzero groups A, Z_A^T Z_A)
        self.it = self.newton_steps = self.sweeps = 0
        self.kernel_steps = 0
        self.dropped = False  # the last accepted Newton step set some group to zero
        self.best_bound = -np.inf

    # -- limits, objective, certificate -----------------------------------------------------------
    def check_limits(self):
        if self.it >= self.settings.max_iter:
            raise _Limit("max_iter")
        limit = self.settings.time_limit
        if limit is not None and time.perf_counter() - self.t_start >= limit:
            raise _Limit("time_limit")

    def objective(self):
        return self.loss.value(self.z, self.y) + self.beta * float(block_norms(self.w).sum())

    def dual_point(self):
        """The loss gradient at the predictions."""
        return self.loss.gradient(self.z, self.y)

    def certify(self, idx=None):
        """(relative gap, bound, prices): the certificate of the module docstring with theta from the
        groups ``idx`` (None: every group - a bound on the full program, kept in ``best_bound``)."""
        s = self.dual_point()
        prices = block_norms(self.groups.adjoint(s, idx))
        theta = dual_scaling(float(np.max(prices, initial=0.0)), self.beta)
        bound = self.loss.dual_value(theta * s, self.y)
        if idx is None:
            self.best_bound = max(self.best_bound, bound)
            bound = self.best_bound
        return certified_gap(self.objective(), bound), bound, prices

    # -- the block coordinate sweep ---------------------------------------------------------------
    def ensure_curvature(self, idx):
        missing = idx[np.isnan(self.curv[idx])]
        if missing.size:
            self.curv[missing] = self.groups.block_curvature(missing)

    def sweep(self, smooth, idx):
        """One pass of block prox-gradient steps over ``idx`` (sequential: each step sees the last)."""
        self.check_limits()
        self.it += 1
        self.sweeps += 1
        groups, beta = self.groups, self.beta
        for j in idx:
            L = smooth.bound * self.curv[j]
            if L <= 0:
                continue
            sel = np.array([j])
            old = self.w[:, j]
            new = group_soft((old - groups.adjoint(smooth.gradient(self.z), sel)[:, 0] / L)[:, None], beta / L)[:, 0]
            if np.any(new != old):
                self.z = self.z + groups.predict(sel, (new - old)[:, None])
                self.w[:, j] = new

    # -- the Newton step on the nonzero groups ----------------------------------------------------
    def newton_step(self, smooth, working, majorize=False):
        """One damped Newton step on the nonzero groups of ``working`` (module docstring); with
        ``majorize`` the penalty's Hessian is replaced by its majoriser ``beta / |w_j| I`` (module
        docstring). Returns the step length taken (0: no step - no nonzero group, or the line search
        failed)."""
        self.check_limits()
        norms = block_norms(self.w[:, working])
        active = working[norms > 0]
        if active.size == 0:
            return 0.0
        self.it += 1
        self.newton_steps += 1
        groups, beta, g, n = self.groups, self.beta, self.groups.g, self.groups.n
        wA = self.w[:, active]
        nA = block_norms(wA)
        E = wA / nA
        grad = groups.adjoint(smooth.gradient(self.z), active) + beta * E
        h = smooth.curvature(self.z)
        self.ensure_curvature(active)
        mu = _MU_REL * max(float(smooth.bound * np.max(self.curv[active])), float(np.max(beta / nA)), 1e-300)
        size = g * active.size
        cached = smooth.constant_curvature and self.gram is not None and np.array_equal(self.gram[0], active)
        primal_cost = size ** 3 / 3.0 + (0.0 if cached else n * size ** 2)
        kernel_cost = n ** 2 * ((g if groups.gated else 0) + 2 * active.size) + n ** 3 / 3.0
        if g > 1 and kernel_cost < primal_cost:
            p = self._kernel_direction(active, wA, nA, E, grad, h, mu, majorize)
            self.kernel_steps += 1
        else:
            p = self._primal_direction(working, active, nA, E, grad, h, mu, smooth, majorize)
        if p is None or not np.all(np.isfinite(p)):
            return 0.0
        return self._line_search(smooth, active, wA, p, grad)

    def _primal_direction(self, working, active, nA, E, grad, h, mu, smooth, majorize):
        g, beta = self.groups.g, self.beta
        if smooth.constant_curvature:  # Z_A^T Z_A is kept while the nonzero groups stay the same
            if self.gram is None or not np.array_equal(self.gram[0], active):
                Z = self.groups.columns(active)
                self.gram = (active.copy(), Z.T @ Z)
            M = self.gram[1].copy()
        else:
            Z = self.groups.columns(active)
            M = Z.T @ (h[:, None] * Z)
        if g > 1:
            k = active.size
            blocks = (beta / nA)[:, None, None] * (np.eye(g)[None] - (0.0 if majorize else 1.0)
                                                   * np.einsum("ik,jk->kij", E, E))
            rows = (np.arange(k)[:, None] * g + np.arange(g)).ravel()
            M[rows.reshape(k, g)[:, :, None], rows.reshape(k, g)[:, None, :]] += blocks
        M[np.diag_indices_from(M)] += mu
        try:
            factor = sla.cho_factor(M, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        b = -grad.T.ravel()  # group-major
        return sla.cho_solve(factor, b, check_finite=False).reshape(active.size, g).T

    def _kernel_direction(self, active, wA, nA, E, grad, h, mu, majorize):
        groups, beta = self.groups, self.beta
        lam_inv = 1.0 / (beta / nA + mu)
        sh = np.sqrt(h)
        T = groups.kernel(active, lam_inv)
        T *= sh[:, None]
        T *= sh[None, :]
        T[np.diag_indices_from(T)] += 1.0
        V = sh[:, None] * groups.group_predictions(active, E * lam_inv)
        corner = lam_inv - nA / beta
        b = -grad
        Lb = b * lam_inv
        q1 = sh * groups.predict(active, Lb)
        q2 = np.einsum("ij,ij->j", E, Lb)
        try:
            L = sla.cholesky(T, lower=True, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        if majorize:  # M = Lambda + Z^T H Z: the n x n block alone
            x1 = sla.cho_solve((L, True), q1, check_finite=False)
            return Lb - lam_inv * groups.adjoint(sh * x1, active)
        # with T = L L^T: [L^{-1} V, L^{-1} q1], the negated Schur complement (L^{-1}V)^T (L^{-1}V) - corner
        # (positive definite), then x1 = L^{-T} (L^{-1} q1 - L^{-1} V x2)
        Y = sla.solve_triangular(L, np.column_stack([V, q1]), lower=True, check_finite=False)
        schur = Y[:, :-1].T @ Y[:, :-1] - np.diag(corner)
        try:  # an ill-conditioned Schur complement (a group norm near 0) still gives a direction the line
            # search judges on the objective itself, so scipy's conditioning warning is not passed on
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", sla.LinAlgWarning)
                x2 = sla.solve(schur, Y[:, :-1].T @ Y[:, -1] - q2, assume_a="pos", check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return None
        x1 = sla.solve_triangular(L, Y[:, -1] - Y[:, :-1] @ x2, lower=True, trans="T", check_finite=False)
        return Lb - lam_inv * (groups.adjoint(sh * x1, active) + E * x2)

    def _line_search(self, smooth, active, wA, p, grad):
        r"""Armijo backtracking along the projected arc :math:`w(t) = \Pi(w + t p)`, where :math:`\Pi` sets
        to zero every group whose component along its own direction changes sign
        (:math:`w_j^T (w_j + t p_j) \le 0`): the smooth model of :math:`|w_j|` holds only on that side, so
        a step through zero is cut there (the orthant projection of OWL-QN, per group) instead of being
        halved until no group crosses. Accepts the first t with
        :math:`\Phi(w(t)) \le \Phi(w) + c\, G^T (w(t) - w)`; returns t (0 when none is found)."""
        if not float(np.vdot(grad, p)) < 0:
            return 0.0
        Zp = self.groups.predict(active, p)
        base = smooth.value(self.z) + self.beta * float(block_norms(wA).sum())
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            w_new = wA + t * p
            crossed = np.einsum("ij,ij->j", wA, w_new) <= 0
            z_new = self.z + t * Zp
            if np.any(crossed):
                z_new = z_new - self.groups.predict(active[crossed], w_new[:, crossed])
                w_new[:, crossed] = 0.0
            value = smooth.value(z_new) + self.beta * float(block_norms(w_new).sum())
            if value <= base + _ARMIJO * float(np.vdot(grad, w_new - wA)):
                self.w[:, active] = w_new
                self.z = z_new
                self.dropped = bool(np.any(crossed))
                return t
            t *= 0.5
        return 0.0

    # -- restricted solves ------------------------------------------------------------------------
    def zero_groups_violate(self, smooth, working):
        """True when a zero group of ``working`` violates its optimality condition |A_j^T grad| <= beta."""
        zero = working[~np.any(self.w[:, working] != 0, axis=0)]
        if zero.size == 0:
            return False
        return bool(np.any(block_norms(self.groups.adjoint(smooth.gradient(self.z), zero)) > self.beta))

    def solve_smooth(self, smooth, working, done):
        """Sweeps and Newton steps on ``working`` until ``done()``."""
        self.ensure_curvature(working)
        majorize, sweep = False, True
        while not done():
            if sweep:
                self.sweep(smooth, working)
                if done():
                    return
            self.dropped = False
            t = self.newton_step(smooth, working, majorize)
            if self.dropped:  # the step ended where groups left: Newton again on the fewer nonzero groups
                majorize, sweep = False, False
                continue
            # a damped Newton step means the model of the group norms is poor here: majorise until the
            # majorised step is taken in full, then try Newton again
            majorize = t < _FULL_STEP
            # the sweep moves groups in and out of zero; while the Newton steps are full and no zero group
            # of W violates, it would only blur their quadratic convergence
            sweep = majorize or self.zero_groups_violate(smooth, working)

    def solve_restricted(self, working, tol):
        """Solve on ``working`` to a relative gap ``tol`` (certified on W with theta from W)."""
        smooth = _Smooth(self.loss, self.y)
        done = lambda: self.certify(working)[0] <= tol  # noqa: E731
        if self.groups.g == 1:
            self.solve_lasso(smooth, working, done)
        else:
            self.solve_smooth(smooth, working, done)

    # -- the SCP's lasso: proximal Newton --------------------------------------------------------------
    def solve_lasso(self, smooth, working, done):
        """Proximal Newton steps (:meth:`lasso_step`) on ``working`` until ``done()``, or until a step makes
        no progress (the outer loop then tightens the tolerance or reports the arithmetic's limit)."""
        while not done():
            if not self.lasso_step(smooth, working):
                return

    def lasso_step(self, smooth, working):
        r"""One proximal Newton step of the lasso on ``working`` (module docstring): minimise the quadratic
        model :math:`g^T d + \tfrac12 d^T Q d + \beta|\theta + d|_1`, :math:`Q = F_W^T \mathrm{diag}(h) F_W`
        (kept while W is the same, for the squared loss), by coordinate descent, then backtrack on the
        objective until :math:`\Phi(\theta + t d) \le \Phi(\theta) + c\, t\, \Delta` with
        :math:`\Delta = g^T d + \beta(|\theta + d|_1 - |\theta|_1) < 0` (Tseng & Yun). Returns False
        when the step makes no progress."""
        self.check_limits()
        self.it += 1
        self.newton_steps += 1
        F = self.groups.F[:, working]
        grad = F.T @ smooth.gradient(self.z)
        if smooth.constant_curvature and self.gram is not None and np.array_equal(self.gram[0], working):
            Q = self.gram[1]
        else:
            Q = F.T @ (smooth.curvature(self.z)[:, None] * F)
            if smooth.constant_curvature:
                self.gram = (working.copy(), Q)
        theta = self.w[0, working]
        d = self._lasso_model_descent(Q, grad, theta)
        decrease = float(grad @ d) + self.beta * float(np.abs(theta + d).sum() - np.abs(theta).sum())
        if not decrease < 0:
            return False
        Fd = F @ d
        base = self.objective()
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            value = smooth.value(self.z + t * Fd) + self.beta * float(np.abs(theta + t * d).sum())
            if value <= base + _ARMIJO * t * decrease:
                self.w[0, working] = theta + t * d
                self.z = self.z + t * Fd
                return True
            t *= 0.5
        return False

    def _lasso_model_descent(self, Q, grad, theta):
        r"""The minimiser d of the lasso model of :meth:`lasso_step`, :math:`g^T d + \tfrac12 d^T Q d +
        \beta|\theta + d|_1`, by an active-set method on :math:`u = \theta + d`. A coordinate descent pass
        moves coordinates in and out of zero; then, on the nonzero set A with signs s, the model is the
        quadratic :math:`q_A^T \delta + \tfrac12 \delta^T Q_{AA} \delta + \beta s^T \delta` (q the
        model's smooth gradient), whose minimiser :math:`\delta = -Q_{AA}^{-1}(q_A + \beta s)` is followed
        up to the first zero crossing: a full step solves the model on A, a shorter one sets the crossing
        coordinate to zero (where :math:`Q_{AA}` is singular - collinear features - the step along its null
        space is long and ends at such a crossing) and is repeated on the smaller set. Every move lowers the
        model, so the sign patterns do not repeat; it ends when no zero coordinate violates
        :math:`|q_j| \le \beta` after a full Newton step. Returns d."""
        beta, diag = self.beta, np.diag(Q)
        u = theta.copy()
        q = grad.copy()  # g + Q (u - theta)
        ridge = _MU_REL * max(float(np.max(diag, initial=0.0)), 1e-300)
        for _ in range(_CD_MAX_PASSES):
            self.sweeps += 1
            for j in np.flatnonzero(diag > 0):
                step = u[j] - q[j] / diag[j]
                new = np.sign(step) * max(abs(step) - beta / diag[j], 0.0)
                if new != u[j]:
                    q += (new - u[j]) * Q[:, j]
                    u[j] = new
            while True:
                A = np.flatnonzero(u)
                if A.size == 0:
                    break
                s = np.sign(u[A])
                QA = Q[np.ix_(A, A)]
                QA[np.diag_indices_from(QA)] += ridge
                try:
                    delta = sla.solve(QA, -(q[A] + beta * s), assume_a="pos", check_finite=False)
                except (np.linalg.LinAlgError, ValueError):
                    break
                towards = delta * s < 0
                t, hit = 1.0, -1
                if np.any(towards):
                    ratios = np.full(A.size, np.inf)
                    ratios[towards] = -u[A][towards] / delta[towards]
                    hit = int(np.argmin(ratios))
                    t = min(1.0, float(ratios[hit]))
                u[A] += t * delta
                q += Q[:, A] @ (t * delta)
                if t < 1.0:
                    u[A[hit]] = 0.0
                    continue
                break
            zero = u == 0
            if not np.any(np.abs(q[zero]) > beta * (1.0 + _KKT_REL)):
                break
        return u - theta


# ------------------------------------------------------------------------------------------------------
# the solver
# ------------------------------------------------------------------------------------------------------
def _check_program(program):
    if not isinstance(program, (GatedReLUProgram, SCPProgram)):
        form = getattr(program, "formulation", type(program).__name__)
        raise ValueError(f"newton solves the unconstrained gated and scp programs; got the {form!r} program "
                         f"(use admm, working_set or a CVXPY solver)")
    if program.loss.name not in ("squared", "logistic"):
        raise ValueError(f"newton solves the squared and logistic losses; got the {program.loss.name!r} loss "
                         f"(use working_set for the gated program, fista or a CVXPY solver)")


def _initial_working_set(prices, beta, least, most):
    """The first working set (sorted): the groups the basic strong rule keeps at the zero model,
    ``prices_j >= 2 beta - max_k prices_k``, at least the ``least`` and at most the ``most`` highest priced."""
    order = np.argsort(-prices, kind="stable")
    kept = int(np.count_nonzero(prices >= 2.0 * beta - float(np.max(prices, initial=0.0))))
    return np.sort(order[:min(max(kept, least), most, prices.size)])


def _grow(working, prices, beta, P):
    """The working set after a round: W plus the groups outside it priced above beta, the most violating
    first, at most |W| of them (doubling). Returns the new set (sorted) and the number added."""
    outside = np.setdiff1d(np.arange(P), working)
    violating = outside[prices[outside] > beta]
    if violating.size == 0:
        return working, 0
    entering = violating[np.argsort(-prices[violating], kind="stable")][:max(working.size, 1)]
    return np.union1d(working, entering), entering.size


@retains_heap
def newton(program, **options):
    r"""Solve a gated-ReLU or SCP program (squared or logistic loss) by a working set of groups
    with a Newton-type inner solver (module docstring): screen the groups at the zero model, solve on the
    working set, price every group at the dual point, add the violators, stop on a certified gap of the
    full program.

    Options (:class:`NewtonSettings`): tol_gap (1e-6), max_iter (1000), time_limit (None), verbose
    (False), initial_groups (10), blas_threads (1), tol_abs / tol_rel (the registry's ``--tol``).

    Returns a SolveResult (``solver = "newton"``, ``iterations`` as counted by max_iter), ``optimal``
    only with a certified relative gap ``<= tol_gap`` on the full program; else ``max_iter`` or
    ``time_limit``, or ``optimal_inaccurate`` when no group violates but the gap stays above ``tol_gap``
    at the arithmetic's limit. ``info``: duality_gap_rel, dual_bound (valid at any status), rounds,
    working_set_size (final), active_groups (nonzero groups), groups_priced (pricings summed over the
    rounds), newton_steps (kernel_steps of them in the kernel form; SCP: proximal Newton steps), sweeps
    (gated: block sweeps; SCP: coordinate-descent passes on the Newton models). ``history``: per round its
    objective, certified gap, working-set size and time.
    """
    t_start = time.perf_counter()
    _check_program(program)
    settings = settings_from_options("newton", NewtonSettings, options)
    return run_with_blas_threads("newton", settings.blas_threads, _newton, program, settings, t_start)


def _newton(program, settings, t_start):
    """The working-set loop of :func:`newton` on checked input."""
    run = _Run(program, settings, t_start)
    P, beta, tol = run.groups.P, run.beta, settings.tol_gap
    gap, _, prices = run.certify()
    working = _initial_working_set(prices, beta, settings.initial_groups, max(settings.initial_groups, program.n))
    history = {"objective": [], "gap": [], "working_set": [], "time": []}
    status, rounds, priced, inner_tol = None, 0, P, _INNER_SHARE * max(tol, gap)
    if gap <= tol:
        status, working = "optimal", working[:0]
    while status is None:
        rounds += 1
        try:
            run.solve_restricted(working, inner_tol)
        except _Limit as stop:
            status = stop.status
        gap, _, prices = run.certify()
        priced += P
        record(history, objective=run.objective(), gap=gap, working_set=working.size,
               time=time.perf_counter() - t_start)
        if settings.verbose:
            print(f"newton: round {rounds}, {working.size} of {P} groups in the working set, "
                  f"{int(np.count_nonzero(block_norms(run.w)))} nonzero, objective {run.objective():.10e}, "
                  f"certified rel gap {gap:.2e}, {run.it} iterations, {time.perf_counter() - t_start:.3f}s",
                  file=sys.stderr)
        if gap <= tol:
            status = "optimal"
            break
        if status is not None:
            break
        working, added = _grow(working, prices, beta, P)
        if added == 0 and inner_tol <= 1e-15:
            status = "optimal_inaccurate"
            break
        if working.size == P:  # the restricted program is the full one
            inner_tol = min(inner_tol, tol) if added else _INNER_SHARE * min(inner_tol, tol)
        elif added == 0:  # no group violates: the restricted solve was not accurate enough
            inner_tol = _INNER_SHARE * min(inner_tol, gap)
        else:
            inner_tol = _INNER_SHARE * max(tol, min(gap, inner_tol / _INNER_SHARE))
    gap = certified_gap(run.objective(), run.best_bound)
    weights = {"U": run.w.copy()} if run.groups.gated else {"theta": run.w[0].copy()}
    info = {"method": "working set + Newton",
            "duality_gap_rel": gap, "dual_bound": run.best_bound, "rounds": rounds,
            "working_set_size": int(working.size), "active_groups": int(np.count_nonzero(block_norms(run.w))),
            "groups_priced": int(priced), "newton_steps": run.newton_steps, "kernel_steps": run.kernel_steps,
            "sweeps": run.sweeps, "tol_gap": tol}
    return finish_run(program, weights, status=status, solver="newton", iterations=run.it,
                      solve_time_s=time.perf_counter() - t_start, history=history, info=info,
                      verbose=settings.verbose)


newton.__signature__ = keyword_signature(NewtonSettings)
