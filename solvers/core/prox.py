"""Proximal maps and norms shared by the hand-written solvers."""
from __future__ import annotations

import numpy as np


def block_norms(A):
    """``|a_j|_2`` for every column (block) ``a_j`` of ``A`` (one pass, no temporary)."""
    return np.sqrt(np.einsum("ij,ij->j", A, A))


def group_soft(A, thr):
    """Group soft-threshold of every column of ``A``: ``a_j * max(0, 1 - thr / |a_j|_2)`` (the prox of
    ``thr * sum_j |a_j|_2``)."""
    norms = block_norms(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(norms > thr, 1.0 - thr / norms, 0.0)
    return A * shrink


def soft_threshold(x, thr):
    """Entrywise soft-threshold ``sign(x) max(|x| - thr, 0)`` (the prox of ``thr |.|_1``)."""
    return np.sign(x) * np.maximum(np.abs(x) - thr, 0.0)


def inf_norm(x):
    """``max_i |x_i|`` (0 for an empty array), from the largest and smallest entries: two reads, no
    temporary (a check of the n x 2P residuals costs a pass less)."""
    x = np.asarray(x)
    if x.size == 0:
        return 0.0
    return float(max(x.max(), -x.min()))
