"""The pattern operators of the constrained program, built once per program and shared by every solver:
the stacked arrays ``Dpm = [D, -D]`` and ``S2 = [S, S]``, the prediction map ``M`` and its adjoint, the
ADMM's weighted cone map ``Q``, and the Euclidean projection onto the pattern cones."""
from __future__ import annotations

import time

import numpy as np
from scipy.optimize import nnls


#: bytes of the row chunk of products in :func:`weighted_gram_blocks` (small enough to stay in cache)
_CHUNK_BYTES = 2 ** 22


#: bytes of one row chunk of an n x 2P array in the ADMMs' fused passes (:func:`row_chunks`): the chunk
#: and its temporaries stay in the cache while every step of the pass reads them (the CG product was
#: fastest with chunks of 2-4 MiB on the 2-core machine, docs/benchmarks.md)
PASS_CHUNK_BYTES = 2 ** 21


def row_chunks(n, width, chunk_bytes=None):
    """Slices over ``n`` rows, each about ``chunk_bytes`` (default :data:`PASS_CHUNK_BYTES`) of an
    n x ``width`` float array (at least one row): the ADMMs pass over their n x 2P arrays a chunk at a
    time, so that each step of a pass reads a chunk that the previous step left in the cache instead of
    the whole array from memory."""
    chunk_bytes = PASS_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    rows = max(1, int(chunk_bytes // (8 * max(width, 1))))
    return [slice(start, min(n, start + rows)) for start in range(0, n, rows)]


def cone_pair_step(cone_sum, QA, alpha, step):
    r"""The ADMMs' cone step on rows of ``cone_sum = c + kappa``, in place: with the over-relaxed
    ``(Q a)_hat = alpha Q a + (1 - alpha) c_old`` and ``c_old = max(cone_sum, 0)``, the pair
    ``c = max(0, (Q a)_hat + kappa)``, ``kappa += (Q a)_hat - c`` has the sum
    ``cone_sum + alpha (Q a - c_old)``. ``step`` (same shape) is the temporary."""
    np.maximum(cone_sum, 0.0, out=step)
    np.subtract(QA, step, out=step)
    step *= alpha
    cone_sum += step


#: above this many features the blocks are one GEMM per column of H (the chunk of products would be
#: a few rows)
_PRODUCT_MAX_D = 64


def weighted_gram_blocks(X, H):
    """The blocks ``X^T diag(h_j) X`` for every column ``h_j`` of ``H`` (n x J) -> (J, d, d).

    Up to ``_PRODUCT_MAX_D`` features: accumulated over row chunks as one GEMM per chunk, ``H_c^T`` times
    the chunk's products ``x_ik x_il`` for ``k <= l`` (the upper triangle, built column group by column
    group and mirrored at the end), a temporary of ``_CHUNK_BYTES``, never n x d^2. Wider data: per column
    ``R_j^T R_j`` with ``R_j = sqrt(h_j) o X`` (:func:`weighted_gram_block`, an n x d temporary), a syrk:
    half the work of the GEMM ``(h_j o X)^T X`` and measured 4.5x faster at n = 12,000, d = 784
    (docs/benchmarks.md)."""
    n, d = X.shape
    if d > _PRODUCT_MAX_D:
        return np.stack([weighted_gram_block(X, H[:, j]) for j in range(H.shape[1])])
    upper_k, upper_l = np.triu_indices(d)
    packed = np.zeros((H.shape[1], upper_k.size))
    rows = max(1, _CHUNK_BYTES // (8 * upper_k.size))
    for start in range(0, n, rows):
        chunk = X[start:start + rows]
        products = np.concatenate([chunk[:, k:k + 1] * chunk[:, k:] for k in range(d)], axis=1)
        packed += H[start:start + rows].T @ products
    blocks = np.empty((H.shape[1], d, d))
    blocks[:, upper_k, upper_l] = packed
    blocks[:, upper_l, upper_k] = packed
    return blocks


def weighted_gram_block(X, h):
    """``X^T diag(h) X`` (d x d): ``R^T R`` with ``R = sqrt(h) o X`` where ``h >= 0`` (numpy hands a product
    of an array with its own transpose to BLAS syrk), else a GEMM ``(h o X)^T X``."""
    if np.any(h < 0):
        return (X * h[:, None]).T @ X
    root = np.sqrt(h)[:, None] * X
    return root.T @ root


class PatternMaps:
    """Data ``X`` (n x d), patterns ``D`` (n x P) and the maps every solver of the constrained program
    shares: ``Dpm = [D, -D]``, ``S2 = [S, S]`` (n x 2P), the prediction map ``M a`` and its adjoint."""

    def __init__(self, X, D):
        X = np.asarray(X, float)
        D = np.ascontiguousarray(D, dtype=float)  # row-major: the passes over rows read chunks of rows
        self.n, self.d = X.shape
        self.P = D.shape[1]
        self.X = X
        self.XT = np.ascontiguousarray(X.T)
        self.D = D
        self.Dpm = np.hstack([D, -D])
        S = 2.0 * D - 1.0
        self.S2 = np.hstack([S, S])
        self.chunks = row_chunks(self.n, 2 * self.P)
        self.chunk_rows = self.chunks[0].stop if self.chunks else 0

    def M(self, A):
        """``M a = sum_i D_i o X (v_i - w_i)``: predictions of the stacked blocks ``A`` (d x 2P) -> (n,)."""
        return np.einsum("ij,ij->i", self.D, self.X @ (A[:, :self.P] - A[:, self.P:]))

    def M_from_XA(self, XA):
        """``M a`` from the product ``X A`` (n x 2P) when it is at hand: ``sum_j Dpm_j o (X a_j)``."""
        return np.einsum("ij,ij->i", self.Dpm, XA)

    def MT(self, z):
        """``M^T z`` for z (n,) -> d x 2P (the W blocks are the negated V blocks); the V half
        ``X^T (D o z)`` is accumulated over row chunks (temporaries of one chunk)."""
        half = np.zeros((self.d, self.P))
        for rows in self.chunks:
            half += self.XT[:, rows] @ (self.D[rows] * z[rows, None])
        return np.hstack([half, -half])


class ConeMaps(PatternMaps):
    """:class:`PatternMaps` with the cone map of the ADMM's split ``Q a = c``, weighted by ``sigma``:
    ``Q a = sigma S2 o (X a)`` (n x 2P) and ``Q^T c = sigma X^T (S2 o c)`` (d x 2P); ``S2q = sigma S2``."""

    def __init__(self, X, D, sigma=1.0):
        super().__init__(X, D)
        self.sigma = float(sigma)
        self.S2q = self.sigma * self.S2

    def Q(self, A):
        """``Q a = sigma S2 o (X A)`` -> n x 2P."""
        return self.S2q * (self.X @ A)

    def QT(self, C):
        """``Q^T c = sigma X^T (S2 o C)`` -> d x 2P."""
        return self.XT @ (self.S2q * C)


def project_onto_cone(G, a, max_rounds=5):
    r"""Projection of ``a`` onto the polyhedral cone ``{v : G v >= 0}`` (rows of G: the constraints).

    Dual form: ``v = a + G^T lam`` with ``lam = argmin_{lam >= 0} |a + G^T lam|`` (NNLS). The NNLS is first
    solved on a candidate subset of rows - the violated ones and the ``4 d`` with the smallest normalised
    slack ``(G a)_i / |G_i|`` - and its answer is exact for the whole cone when ``G v >= 0`` holds on every
    row (the other rows keep ``lam = 0``, so the KKT conditions hold); rows it violates join the subset.
    Falls back to the NNLS on all rows."""
    n, d = G.shape
    if not np.any(a):
        return np.zeros_like(a)
    Ga = G @ a
    slack = Ga / np.maximum(np.linalg.norm(G, axis=1), 1e-300)
    k = min(n, 4 * d)
    rows = np.union1d(np.argpartition(slack, k - 1)[:k] if k < n else np.arange(n), np.flatnonzero(Ga < 0))
    tol = 1e-12 * max(float(np.max(np.abs(Ga))), 1e-300)
    for _ in range(max_rounds):
        if rows.size >= n:
            break
        GT = G[rows].T
        lam, _ = nnls(GT, -a, maxiter=50 * rows.size)
        v = a + GT @ lam
        violated = np.flatnonzero(G @ v < -tol)
        if violated.size == 0:
            return v
        rows = np.union1d(rows, violated)
    lam, _ = nnls(G.T, -a, maxiter=50 * n)
    return a + G.T @ lam


def project_cones(F, A, deadline=None):
    r"""Euclidean projection of every violating block onto its cone :math:`\{v : S_i \circ X v \ge 0\}`
    (:func:`project_onto_cone` per block, ``G = S_i o X``; an NNLS on candidate rows, exact by a KKT check).
    Only blocks that violate their cone are touched. Returns the projected point, or None if the deadline
    passed first or, at the pace of the blocks projected so far, would pass before the rest are done (one
    block on wide data takes seconds, so the deadline is kept to within one block's time)."""
    QA = F.S2 * (F.X @ A)
    bad = np.flatnonzero(QA.min(axis=0) < 0)
    out = A.copy()
    start = time.perf_counter()
    for done, j in enumerate(bad):
        if deadline is not None:
            now = time.perf_counter()
            if now > deadline or (done and now + (now - start) / done * (bad.size - done) > deadline):
                return None
        out[:, j] = project_onto_cone(F.S2[:, j:j + 1] * F.X, A[:, j])
    return out
