r"""The linear algebra of the ADMM a-update (docs/math.md section 6.2): a cached factorisation with an
n x n capacitance (:class:`ADMMFactorization`), or preconditioned conjugate gradients with no n x n matrix
(:class:`MatrixFreeFactorization`); :func:`a_update_route` chooses.

Notation: data X (n x d), patterns D (n x P), signs S = 2D - 1. The variable a = (v_1..v_P, w_1..w_P)
is stored as one d x 2P array ``A = [V, W]``. With ``Dpm = [D, -D]`` and ``S2 = [S, S]`` (n x 2P):

* prediction map  ``M a = sum(Dpm * (X @ A), axis=1)``              (n)
* its adjoint     ``M^T z = X^T (Dpm * z[:, None])``                (d x 2P)
* cone map        ``Q a = S2 * (X @ A)``                            (n x 2P)
* its adjoint     ``Q^T C = X^T (S2 * C)``                          (d x 2P)

The a-update solves ``(I + M^T M / rho + Q^T Q) a = r``. Since ``Q^T Q = I_{2P} (x) X^T X``, the matrix
``B = I + Q^T Q`` is block diagonal with the single d x d block ``G = I + X^T X``
(``I + sigma^2 X^T X`` when the cone split is weighted by sigma, i.e. ``Q`` uses ``sigma X``); by the matrix
inversion lemma

    (B + M^T M / rho)^{-1} = B^{-1} - B^{-1} M^T (rho I + M B^{-1} M^T)^{-1} M B^{-1},

with the n x n capacitance ``M B^{-1} M^T = 2 (X G^{-1} X^T) o (D D^T)`` (Hadamard identity). One
eigendecomposition ``M B^{-1} M^T = U diag(lam) U^T`` turns ``(rho I + M B^{-1} M^T)^{-1}`` into a
diagonal shift, so rho can change at every iteration without refactorising. No 2dP x 2dP matrix is
ever formed; every product is vectorised over the patterns. The matrix-free route solves the same system
in the halves' sums and differences (:class:`MatrixFreeFactorization`).
"""
from __future__ import annotations

import numpy as np
from scipy import linalg as sla

from ..core.operators import ConeMaps, weighted_gram_blocks


class ADMMFactorization(ConeMaps):
    """The cached factorisation of the a-update for data ``X`` and patterns ``D``.

    Attributes
    ----------
    Ginv : (d, d) inverse of ``G = I + X^T X`` (symmetric positive definite, eigenvalues >= 1, so the
        explicit inverse is as accurate as a Cholesky solve and turns each application into one GEMM)
    lam, U : eigenvalues / eigenvectors of the capacitance ``M B^{-1} M^T`` (n x n, PSD); ``UT = U^T``
    sigma, S2q : the weight of the cone split and ``sigma * S2`` (the cone map is ``Q a = S2q o (X A)``)
    Dpm, S2 : n x 2P arrays ``[D, -D]`` and ``[S, S]``; ``M``, ``MT``, ``Q``, ``QT`` (from
        :class:`~solvers.core.operators.ConeMaps`)
    """

    route = "dense"

    def __init__(self, X, D, sigma=1.0):
        super().__init__(X, D, sigma)
        X, D = self.X, self.D
        G = np.eye(self.d) + self.sigma ** 2 * (X.T @ X)
        cho = sla.cho_factor(G, lower=True)
        self.Ginv = sla.cho_solve(cho, np.eye(self.d))
        self.Ginv = 0.5 * (self.Ginv + self.Ginv.T)
        K = X @ self.Ginv @ X.T  # X G^{-1} X^T, rank <= d
        H = 2.0 * K * (D @ D.T)  # M B^{-1} M^T by the Hadamard identity
        H = 0.5 * (H + H.T)
        lam, U = np.linalg.eigh(H)
        self.lam = np.maximum(lam, 0.0)
        self.U = U
        self.UT = np.ascontiguousarray(U.T)

    def capacitance_solve(self, m, rho):
        """``(rho I + M B^{-1} M^T)^{-1} m`` through the cached eigendecomposition (O(n^2))."""
        return self.U @ ((self.UT @ m) / (rho + self.lam))

    def solve(self, R, rho, return_XA=False):
        """Solve ``(I + M^T M / rho + Q^T Q) a = r`` for the right-hand side ``R`` (d x 2P).

        Returns ``A`` (and ``X @ A`` when ``return_XA``), using
        ``a = B^{-1} r - B^{-1} M^T s`` with ``s = (rho I + M B^{-1} M^T)^{-1} M B^{-1} r``.
        Cost: GEMMs with X of sizes n x d x P (twice) and n x d x 2P (for ``X @ A``), two n x n mat-vecs.
        """
        P = self.P
        Ur = self.Ginv @ R  # B^{-1} r
        # M B^{-1} r = sum_j Dpm_j o (X Ur_j) = rowsum(D o X (Ur_V - Ur_W)): one n x d x P product
        m = np.einsum("ij,ij->i", self.D, self.X @ (Ur[:, :P] - Ur[:, P:]))
        s = self.capacitance_solve(m, rho)
        t = self.Ginv @ (self.XT @ (self.D * s[:, None]))  # G^{-1} X^T (D o s): the V half of B^-1 M^T s
        A = Ur
        A[:, :P] -= t
        A[:, P:] += t
        if not return_XA:
            return A
        return A, self.X @ A

    @property
    def capacitance_max(self):
        """The largest eigenvalue of the capacitance ``M B^{-1} M^T``."""
        return float(self.lam.max(initial=0.0))

    def adapt(self, residuals):
        """The solves are exact: nothing to adapt to the ADMM's residuals."""

    def describe(self):
        """The route for the result's ``info``."""
        return {"a_update": self.route}

    def dense_system(self, rho):
        """The dense 2dP x 2dP matrix ``I + M^T M / rho + Q^T Q`` - for tests on tiny sizes only."""
        n, d, P = self.n, self.d, self.P
        # column ordering: vec of A = [V, W] in column-major block order (block j = column j of A)
        Mmat = np.zeros((n, 2 * P * d))
        Qmat = np.zeros((2 * P * n, 2 * P * d))
        for j in range(2 * P):
            Mmat[:, j * d:(j + 1) * d] = self.Dpm[:, j:j + 1] * self.X
            Qmat[j * n:(j + 1) * n, j * d:(j + 1) * d] = self.S2q[:, j:j + 1] * self.X
        return np.eye(2 * P * d) + Mmat.T @ Mmat / rho + Qmat.T @ Qmat, Mmat, Qmat


#: bytes the per-pattern d x d preconditioner blocks may take (two P x d x d arrays); above it the
#: preconditioner approximates each block by a multiple of the Gram matrix
BLOCK_PRECONDITIONER_BYTES = 2 ** 29


class MatrixFreeFactorization(ConeMaps):
    r"""The a-update ``(I + M^T M / rho + Q^T Q) a = r`` by preconditioned conjugate gradients, with no
    n x n matrix: memory O(n P + n d), cost O(n d P) per CG step.

    In the sum and difference of the halves, ``s = v + w`` and ``t = v - w`` (d x P each), the system
    splits because ``M a = sum_j D_j o X t_j`` sees only t and ``B = I + Q^T Q`` has the same block
    ``G = I + sigma^2 X^T X`` on every column:

    * ``G s = r_v + r_w`` - one d x d solve per column;
    * ``G t + (2 / rho) M_h^T M_h t = r_v - r_w`` with ``M_h t = sum_j D_j o X t_j`` - symmetric positive
      definite, solved by CG warm-started from the previous solve's t.

    In the metric of ``G`` the difference system's condition number is at most
    ``1 + lambda_max(M B^{-1} M^T) / rho`` (independent of n). The preconditioner is block diagonal over
    the patterns, ``G + (2 / rho) X^T D_j X`` per column (``"block"``: the P blocks are formed once in
    O(n d^2 P) and inverted again when rho changes), or, when P d x d blocks do not fit in
    ``BLOCK_PRECONDITIONER_BYTES``, the same blocks with ``X^T D_j X`` replaced by ``f_j X^T X``
    (``f_j`` = the share of samples pattern j switches on; ``"gram"``: one eigendecomposition of
    ``X^T X`` serves every pattern and every rho).

    Inexactness: CG stops at a relative residual ``tolerance``, which the ADMM ties to its own residuals
    (:meth:`adapt`): loose in the first iterations, tighter as the ADMM converges.
    """

    route = "matrix_free"

    def __init__(self, X, D, sigma=1.0, preconditioner="auto", max_cg_steps=200):
        super().__init__(X, D, sigma)
        X, D = self.X, self.D
        gram = self.XT @ X
        self.G = np.eye(self.d) + self.sigma ** 2 * gram
        self.Ginv = np.linalg.inv(self.G)
        self.Ginv = 0.5 * (self.Ginv + self.Ginv.T)
        if preconditioner == "auto":
            fits = 2 * self.P * self.d ** 2 * 8 <= BLOCK_PRECONDITIONER_BYTES
            preconditioner = "block" if fits else "gram"
        self.preconditioner = preconditioner
        if preconditioner == "block":
            self.blocks = weighted_gram_blocks(X, D)
        else:
            self.gram_eigenvalues, self.gram_vectors = np.linalg.eigh(0.5 * (gram + gram.T))
            self.gram_eigenvalues = np.maximum(self.gram_eigenvalues, 0.0)
            self.shares = D.mean(axis=0)
        self.max_cg_steps = int(max_cg_steps)
        self.tolerance = 1e-3
        self.preconditioner_rho = None
        self.T = np.zeros((self.d, self.P))
        self.cg_steps = self.solves = 0
        self._capacitance_max = None

    # ---- the difference system ---------------------------------------------------------------------------
    def difference_operator(self, T, rho):
        """``G t + (2 / rho) M_h^T M_h t`` for t (d x P): two n x d x P GEMMs, an n x P temporary."""
        prediction = np.einsum("ij,ij->i", self.D, self.X @ T)
        return self.G @ T + (2.0 / rho) * (self.XT @ (self.D * prediction[:, None]))

    def set_preconditioner(self, rho):
        """The block-diagonal preconditioner for this rho (recomputed only when rho changes)."""
        if rho == self.preconditioner_rho:
            return
        if self.preconditioner == "block":
            self.block_inverses = np.linalg.inv(self.G[None, :, :] + (2.0 / rho) * self.blocks)
        else:
            scale = self.sigma ** 2 + (2.0 / rho) * self.shares  # (P,)
            self.gram_shift = 1.0 / (1.0 + self.gram_eigenvalues[:, None] * scale[None, :])  # d x P
        self.preconditioner_rho = rho

    def precondition(self, Rt):
        """The preconditioner's inverse applied to the d x P residual ``Rt``."""
        if self.preconditioner == "block":
            return np.einsum("pik,kp->ip", self.block_inverses, Rt)
        V = self.gram_vectors
        return V @ (self.gram_shift * (V.T @ Rt))

    def solve_difference(self, rhs, rho):
        """CG on the difference system from the previous solution; stops at ``|residual| <= tolerance
        |rhs|`` (Frobenius norms) or after ``max_cg_steps`` steps."""
        self.set_preconditioner(rho)
        T = self.T
        residual = rhs - self.difference_operator(T, rho)
        target = self.tolerance * np.linalg.norm(rhs)
        z = self.precondition(residual)
        direction = z.copy()
        rz = float(np.vdot(residual, z))
        steps = 0
        while np.linalg.norm(residual) > target and steps < self.max_cg_steps:
            image = self.difference_operator(direction, rho)
            step = rz / float(np.vdot(direction, image))
            T = T + step * direction
            residual -= step * image
            z = self.precondition(residual)
            rz, rz_old = float(np.vdot(residual, z)), rz
            direction = z + (rz / rz_old) * direction
            steps += 1
        self.cg_steps += steps
        self.solves += 1
        self.T = T
        return T

    def solve(self, R, rho, return_XA=False):
        """Solve ``(I + M^T M / rho + Q^T Q) a = r`` for ``R`` (d x 2P); returns ``A`` (and ``X @ A``)."""
        P = self.P
        S = self.Ginv @ (R[:, :P] + R[:, P:])
        T = self.solve_difference(R[:, :P] - R[:, P:], rho)
        A = np.hstack([0.5 * (S + T), 0.5 * (S - T)])
        if not return_XA:
            return A
        return A, self.X @ A

    def adapt(self, residuals):
        """Tie CG's relative tolerance to the ADMM's normalised residuals: a tenth of the smaller, within
        [1e-10, 1e-3]."""
        primal = residuals.primal / max(residuals.primal_scale, 1e-300)
        dual = residuals.dual / max(residuals.dual_scale, 1e-300)
        self.tolerance = float(np.clip(0.1 * min(primal, dual), 1e-10, 1e-3))

    def describe(self):
        """The route, the preconditioner and the CG steps taken, for the result's ``info``."""
        return {"a_update": self.route, "preconditioner": self.preconditioner, "cg_steps": self.cg_steps,
                "cg_steps_per_solve": self.cg_steps / max(self.solves, 1)}

    @property
    def capacitance_max(self):
        """The largest eigenvalue of the capacitance ``M B^{-1} M^T`` (Lanczos on its matrix-free product,
        three digits: it only clips the default rho)."""
        if self._capacitance_max is None:
            from scipy.sparse.linalg import LinearOperator, eigsh

            def capacitance(z):
                z = np.ravel(z)
                back = self.Ginv @ (self.XT @ (self.D * z[:, None]))
                return 2.0 * np.einsum("ij,ij->i", self.D, self.X @ back)

            operator = LinearOperator((self.n, self.n), matvec=capacitance, dtype=float)
            start = np.ones(self.n)
            value = eigsh(operator, k=1, which="LA", tol=1e-3, v0=start, return_eigenvectors=False)
            self._capacitance_max = float(max(value[0], 0.0))
        return self._capacitance_max


#: the largest n for which ``"auto"`` keeps the dense route: up to it both routes take the same time per
#: iteration (measured, docs/benchmarks.md) and the dense solves are exact; above it the n^3
#: eigendecomposition (12 s at n = 4000, 160 s at n = 10,000) and the n x n arrays dominate
DENSE_MAX_N = 2000


def a_update_route(n, d, P, requested="auto"):
    """The a-update's route for n samples, d features and P patterns: ``requested`` unless ``"auto"``;
    then ``"dense"`` up to ``DENSE_MAX_N`` samples, ``"matrix_free"`` above."""
    if requested != "auto":
        return requested
    return "dense" if n <= DENSE_MAX_N else "matrix_free"


def check_a_update(route, preconditioner):
    """ValueError naming the option when the a-update's route or preconditioner is not one of the choices."""
    if route not in ("auto", "dense", "matrix_free"):
        raise ValueError(f"admm option a_update must be 'auto', 'dense' or 'matrix_free', got {route!r}")
    if preconditioner not in ("auto", "block", "gram"):
        raise ValueError(f"admm option preconditioner must be 'auto', 'block' or 'gram', got {preconditioner!r}")


def a_update_factorization(X, D, sigma=1.0, route="auto", preconditioner="auto"):
    """The a-update's factorisation on the route :func:`a_update_route` picks; a dense route whose n x n
    arrays do not fit in the memory available is refused before they are allocated."""
    n, d = X.shape
    if a_update_route(n, d, D.shape[1], route) == "dense":
        from ..core.memory import available_bytes, describe_bytes
        need, limit = 3 * n * n * 8, available_bytes()
        if limit is not None and need > limit:
            raise ValueError(f"admm option a_update='dense' needs about {describe_bytes(need)} for the n x n "
                             f"capacitance at n={n}, more than the {describe_bytes(limit)} available; use "
                             f"a_update='matrix_free' (or 'auto')")
        return ADMMFactorization(X, D, sigma)
    return MatrixFreeFactorization(X, D, sigma, preconditioner)
