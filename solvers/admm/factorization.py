r"""Cached linear algebra of the ADMM a-update (docs/math.md section 6).

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
ever formed; every product is vectorised over the patterns.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg as sla

from ..core.operators import ConeMaps


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
