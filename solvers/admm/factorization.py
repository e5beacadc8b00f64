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

import time

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
#: preconditioner approximates each block by a multiple of the Gram matrix. The Nystrom preconditioner's
#: setup arrays (seven dP x ell arrays at once) are held to the same cap.
BLOCK_PRECONDITIONER_BYTES = 2 ** 29

#: the Nystrom preconditioner's rank rule (:class:`NystromPreconditioner`): sketch ``initial`` columns;
#: whenever a rho has ``(2 / rho) lam_{ell/2 + 1} > tail`` (the left-out part of the spectrum would leave a
#: preconditioned condition number above about ``1 + tail``), double the rank, never above ``maximum``
#: (nor dP, nor what fits in ``BLOCK_PRECONDITIONER_BYTES``). The first rank is set by measurement on the
#: synthetic family of examples/benchmark_scale.py (d = 30, P = 100, n = 10,000 and 30,000): rank 256
#: halved the CG steps of rank 64 (about 1.05 against 2.05 per a-update), rank 512 saved no more and its
#: sketch costs twice as much; growing from a small rank by the tail test stopped at 64 there (the sketch's
#: eigenvalues just past a cluster of about d large ones underestimate N's)
NYSTROM_RANK_RULE = {"initial": 256, "tail": 0.25, "maximum": 1024}

#: bytes of one row chunk of the explicit rows of ``M_h`` during the Nystrom sketch
_SKETCH_CHUNK_BYTES = 2 ** 25


class NystromPreconditioner:
    r"""A randomized Nystrom preconditioner for the difference system ``G t + c M_h^T M_h t = r``,
    ``c = 2 / rho`` (t is d x P, vectorised column by column, ``vec(t)[j d + k] = t[k, j]``).

    **The G metric.** With ``W = G^{-1/2}`` (symmetric; G is one d x d block applied to every column) and
    ``t = (I_P (x) W) u`` the system becomes ``(I + c N) u = (I_P (x) W) r`` with

        N = (I_P (x) W) M_h^T M_h (I_P (x) W) = K^T K,   K = M_h (I_P (x) W)  (n x dP; N is dP x dP, PSD).

    Row i of K is ``D_i (x) (W x_i)`` (the patterns' indicators times the whitened sample), so K is
    ``M_h`` of the whitened data ``X W``; its rows are formed a chunk at a time, never all n x dP at once.

    **The sketch.** ``N ~ U diag(lam) U^T`` of rank ell from one Gaussian test matrix ``Omega`` (dP x ell)
    and one batched product ``N Omega = K^T (K Omega)`` (two GEMMs per row chunk, 2 n dP ell flops each:
    about as much as ell CG steps); with ``Omega = Q R``, ``Y = N Q = (N Omega) R^{-1}``. The numerically
    stable construction shifts N by ``nu = eps ||Y||_F``: ``Y_nu = Y + nu Q``, ``C C^T = Q^T Y_nu``
    (Cholesky), ``B = Y_nu C^{-T}``, thin SVD ``B = U Sigma V^T``, ``lam = max(Sigma^2 - nu, 0)``; then
    ``U diag(lam) U^T`` is the Nystrom approximation ``Y (Q^T Y)^+ Y^T`` (up to the shift).

    **The rank.** The sketch starts with ``initial`` columns (:data:`NYSTROM_RANK_RULE`). A rho whose
    ``c lam_{ell/2 + 1}`` exceeds ``tail`` (:attr:`tail_estimate`) doubles the rank (new Gaussian columns,
    the old products kept, so all the doublings together cost what one sketch of the final rank costs),
    up to ``maximum``. The rank only grows, at most log2(maximum / initial) times in a run; a rho change
    that triggers no doubling costs nothing. A fixed ``rank`` skips the rule.

    **The inverse.** Treating N as ``U diag(lam) U^T`` on the range of U and as ``lam_ell I`` on its
    complement (where every eigenvalue of N is at most about lam_ell) gives the SPD preconditioner
    ``P_u = U diag(1 + c lam) U^T + (1 + c lam_ell) (I - U U^T)`` with the explicit inverse

        P_u^{-1} = U diag(1 / (1 + c lam)) U^T + (I - U U^T) / (1 + c lam_ell)
                 = [U diag((1 + c lam_ell) / (1 + c lam)) U^T + (I - U U^T)] / (1 + c lam_ell),

    positive definite because ``lam >= 0`` and ``c > 0`` (eigenvalues ``1 / (1 + c lam_i)`` on range U and
    ``1 / (1 + c lam_ell)`` on its complement, all in (0, 1]). When ell exceeds the rank of N, the sketch
    sees all of N's range, ``U diag(lam) U^T = N`` and ``lam_ell = 0``, so ``P_u^{-1} = (I + c N)^{-1}``
    exactly (ell = rank N is not enough: lam_ell > 0 then weights the null space of N by
    ``1 / (1 + c lam_ell)`` instead of 1). In t's coordinates the preconditioner's inverse is
    ``(I_P (x) W) P_u^{-1} (I_P (x) W)``, i.e. ``A^{-1}`` in the exact case (A = the difference operator).
    Rho enters only through the scalar c. Applying it costs two d x d x P products and two dP x ell
    mat-vecs. CG on ``I + c N`` preconditioned by ``P_u`` converges at the rate of the condition number
    of ``P_u^{-1/2} (I + c N) P_u^{-1/2}``, at most ``1 + c (lam_ell + ||N - U diag(lam) U^T||)`` (the
    Nystrom PCG bound, with ``1 / c`` as the regularisation).
    """

    def __init__(self, X, D, G, rank=None, seed=0):
        self.size = X.shape[1] * D.shape[1]
        eigenvalues, vectors = np.linalg.eigh(0.5 * (G + G.T))
        self.W = (vectors / np.sqrt(eigenvalues)) @ vectors.T  # G^{-1/2}
        self.Xw = X @ self.W
        self.D = D
        self.rng = np.random.default_rng(seed)
        fits = BLOCK_PRECONDITIONER_BYTES // (7 * 8 * self.size)
        first = min(NYSTROM_RANK_RULE["initial"] if rank is None else int(rank), self.size)
        if first > fits:
            raise ValueError(f"admm option preconditioner='nystrom' needs seven dP x ell arrays, more than "
                             f"BLOCK_PRECONDITIONER_BYTES at dP={self.size} and ell={first}; use 'gram'")
        largest = min(self.size, NYSTROM_RANK_RULE["maximum"], fits)
        self.top = first if rank is not None else max(first, largest)
        self.Omega = np.empty((self.size, 0))
        self.Y = np.empty((self.size, 0))
        self.seconds = 0.0
        self.grow(first)
        self.c = None

    def grow(self, rank):
        """Extend the sketch to ``rank`` columns (new Gaussian columns; the old products are kept) and
        recompute the approximation."""
        start = time.perf_counter()
        new = self.rng.standard_normal((self.size, rank - self.Omega.shape[1]))
        self.Omega = np.hstack([self.Omega, new])
        self.Y = np.hstack([self.Y, self.gram_product(new)])
        self.lam, self.U = self.stable_nystrom(self.Omega, self.Y)
        self.rank = rank
        self.seconds += time.perf_counter() - start

    @property
    def tail_estimate(self):
        """The eigenvalue ``lam_{ell/2 + 1}`` of the rank-ell sketch (0 at full rank). With an
        oversampling of two the sketch estimates N's eigenvalue there fairly (from below), and N's
        eigenvalues past ell, the ones the preconditioner leaves out, are no larger; the sketch's own
        ``lam_ell`` underestimates them badly whenever ell ends just past a cluster of eigenvalues."""
        return float(self.lam[self.rank // 2]) if self.rank < self.size else 0.0

    def whitened_rows(self, start, stop):
        """Rows ``start:stop`` of ``K = M_h (I (x) W)``: ``D_i (x) (W x_i)`` as a (rows, dP) array."""
        rows = self.D[start:stop, :, None] * self.Xw[start:stop, None, :]
        return rows.reshape(stop - start, self.size)

    def gram_product(self, right):
        """``N right = K^T (K right)`` for a dP x m block, accumulated over row chunks of K."""
        n = self.Xw.shape[0]
        rows = max(1, _SKETCH_CHUNK_BYTES // (8 * self.size))
        out = np.zeros((self.size, right.shape[1]))
        for start in range(0, n, rows):
            chunk = self.whitened_rows(start, min(n, start + rows))
            out += chunk.T @ (chunk @ right)
        return out

    @staticmethod
    def stable_nystrom(Omega, Y):
        """Eigenvalues (descending, >= 0) and orthonormal vectors of the shifted Nystrom approximation
        from the test matrix ``Omega`` and its image ``Y = N Omega``."""
        Q, R = np.linalg.qr(Omega)
        YQ = sla.solve_triangular(R, Y.T, trans="T", lower=False).T  # N Q = Y R^{-1}
        scale = max(np.linalg.norm(YQ), 1e-300)
        for shift in (np.finfo(float).eps * scale, np.sqrt(np.finfo(float).eps) * scale):
            Yshift = YQ + shift * Q
            core = Q.T @ Yshift
            try:  # Q^T N Q + nu I is positive definite; rounding may still defeat the smaller shift
                C = sla.cholesky(0.5 * (core + core.T), lower=True)
                break
            except np.linalg.LinAlgError:
                continue
        else:
            raise np.linalg.LinAlgError("the Nystrom core Q^T N Q is not positive definite even when shifted")
        B = sla.solve_triangular(C, Yshift.T, lower=True).T  # Y_nu C^{-T}
        U, singular, _ = sla.svd(B, full_matrices=False)
        return np.maximum(singular ** 2 - shift, 0.0), U

    def set_rho(self, rho):
        """The scalar coefficients of ``P_u^{-1}`` for ``c = 2 / rho``, after doubling the rank while
        ``c lam_{ell/2 + 1}`` exceeds the rule's tail (only up to its maximum rank)."""
        self.c = 2.0 / rho
        while self.c * self.tail_estimate > NYSTROM_RANK_RULE["tail"] and self.rank < self.top:
            self.grow(min(2 * self.rank, self.top))
        self.tail = 1.0 / (1.0 + self.c * self.lam[-1])
        self.coefficients = 1.0 / (1.0 + self.c * self.lam) - self.tail

    def apply(self, Rt):
        """``(I (x) W) P_u^{-1} (I (x) W)`` applied to the d x P residual ``Rt``."""
        whitened = self.W @ Rt
        flat = whitened.T.reshape(-1)  # vec, column by column
        flat = self.tail * flat + self.U @ (self.coefficients * (self.U.T @ flat))
        return self.W @ flat.reshape(Rt.shape[1], Rt.shape[0]).T


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
    ``X^T X`` serves every pattern and every rho). ``"nystrom"`` instead approximates the whole data term
    in the metric of G by a randomized low-rank sketch (:class:`NystromPreconditioner`; ``rank`` fixes its
    rank instead of :data:`NYSTROM_RANK_RULE`, ``seed`` seeds its test matrix). ``"auto"`` is block when
    it fits, else gram; Nystrom is opt-in (docs/math.md section 6.2).

    Inexactness: CG stops at a relative residual ``tolerance``, which the ADMM ties to its own residuals
    (:meth:`adapt`): loose in the first iterations, tighter as the ADMM converges.
    """

    route = "matrix_free"

    def __init__(self, X, D, sigma=1.0, preconditioner="auto", max_cg_steps=200, rank=None, seed=0):
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
        if rank is not None and (preconditioner != "nystrom" or int(rank) != rank or rank < 1):
            raise ValueError(f"the Nystrom rank must be a positive integer, and only with "
                             f"preconditioner='nystrom'; got rank={rank!r} with {preconditioner!r}")
        if preconditioner == "block":
            self.blocks = weighted_gram_blocks(X, D)
        elif preconditioner == "nystrom":
            self.nystrom = NystromPreconditioner(X, D, self.G, rank, seed)
        else:
            self.gram_eigenvalues, self.gram_vectors = np.linalg.eigh(0.5 * (gram + gram.T))
            self.gram_eigenvalues = np.maximum(self.gram_eigenvalues, 0.0)
            self.shares = D.mean(axis=0)
        self.max_cg_steps = int(max_cg_steps)
        self.chunk_product = np.empty((self.chunk_rows, self.P))
        self.chunk_prediction = np.empty(self.chunk_rows)
        self.tolerance = 1e-3
        self.preconditioner_rho = None
        self.T = np.zeros((self.d, self.P))
        self.cg_steps = self.solves = 0
        self._capacitance_max = None

    # ---- the difference system ---------------------------------------------------------------------------
    def difference_operator(self, T, rho):
        """``G t + (2 / rho) M_h^T M_h t`` for t (d x P): the products ``M_h t = rowsum(D o X t)`` and
        ``M_h^T m = X^T (D o m)`` (two n x d x P GEMMs) one row chunk at a time, so the n x P products never
        leave the cache."""
        data_term = np.zeros_like(T)
        product, prediction = self.chunk_product, self.chunk_prediction
        for rows in self.chunks:
            count = rows.stop - rows.start
            D_rows = self.D[rows]
            XT_rows = np.matmul(self.X[rows], T, out=product[:count])
            np.einsum("ij,ij->i", D_rows, XT_rows, out=prediction[:count])
            np.multiply(D_rows, prediction[:count, None], out=XT_rows)
            data_term += self.XT[:, rows] @ XT_rows
        return self.G @ T + (2.0 / rho) * data_term

    def set_preconditioner(self, rho):
        """The block-diagonal preconditioner for this rho (recomputed only when rho changes)."""
        if rho == self.preconditioner_rho:
            return
        if self.preconditioner == "block":
            self.block_inverses = np.linalg.inv(self.G[None, :, :] + (2.0 / rho) * self.blocks)
        elif self.preconditioner == "nystrom":
            self.nystrom.set_rho(rho)
        else:
            scale = self.sigma ** 2 + (2.0 / rho) * self.shares  # (P,)
            self.gram_shift = 1.0 / (1.0 + self.gram_eigenvalues[:, None] * scale[None, :])  # d x P
        self.preconditioner_rho = rho

    def precondition(self, Rt):
        """The preconditioner's inverse applied to the d x P residual ``Rt``."""
        if self.preconditioner == "block":
            return np.einsum("pik,kp->ip", self.block_inverses, Rt)
        if self.preconditioner == "nystrom":
            return self.nystrom.apply(Rt)
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
        """The route, the preconditioner (and the Nystrom rank) and the CG steps taken, for ``info``."""
        info = {"a_update": self.route, "preconditioner": self.preconditioner, "cg_steps": self.cg_steps,
                "cg_steps_per_solve": self.cg_steps / max(self.solves, 1)}
        if self.preconditioner == "nystrom":
            info.update(nystrom_rank=self.nystrom.rank, nystrom_seconds=self.nystrom.seconds)
        return info

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
    if preconditioner not in ("auto", "block", "gram", "nystrom"):
        raise ValueError(f"admm option preconditioner must be 'auto', 'block', 'gram' or 'nystrom', "
                         f"got {preconditioner!r}")


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
