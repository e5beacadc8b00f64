"""BLAS thread control for the hand-written solvers (threadpoolctl)."""
from __future__ import annotations

import contextlib
import functools

import numpy as np


def run_with_blas_threads(solver, blas_threads, fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` with at most ``blas_threads`` BLAS threads (threadpoolctl); None leaves
    the BLAS setting alone. The per-iteration products of the hand-written solvers are small, so one
    thread avoids the cost of oversubscribed multi-threaded BLAS (docs/benchmarks.md)."""
    if blas_threads is not None and (isinstance(blas_threads, bool) or not isinstance(
            blas_threads, (int, np.integer)) or blas_threads < 1):
        raise ValueError(f"{solver} option blas_threads must be a positive integer or None, got {blas_threads!r}")
    if blas_threads is None:
        return fn(*args, **kwargs)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return fn(*args, **kwargs)
    with threadpool_limits(limits=int(blas_threads), user_api="blas"):
        return fn(*args, **kwargs)


@functools.lru_cache(maxsize=1)
def _controller():
    """threadpoolctl's controller (it ships with scikit-learn), built on first use; None without it."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


def blas_threads(limit):
    """Context setting the BLAS thread limit to ``limit`` for one product."""
    controller = _controller()
    if controller is None:  # pragma: no cover
        return contextlib.nullcontext()
    return controller.limit(limits=limit, user_api="blas")
