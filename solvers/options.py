"""Option checks shared by the hand-written solvers: every bad option is a ValueError naming the
solver and the option."""
from __future__ import annotations

import numpy as np


def check_positive(solver, name, value, allow_none=False, upper=None, upper_closed=True):
    """A finite number > 0 (optionally None, optionally below ``upper``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{solver} option {name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{solver} option {name} must be a finite number > 0, got {value}")
    if upper is not None and (value > upper if upper_closed else value >= upper):
        bound = f"in (0, {upper}]" if upper_closed else f"< {upper}"
        raise ValueError(f"{solver} option {name} must be {bound}, got {value}")
    return value


def check_int(solver, name, value, minimum=1):
    """An integer >= ``minimum`` (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{solver} option {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def run_with_blas_threads(solver, blas_threads, fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` with at most ``blas_threads`` BLAS threads (threadpoolctl); None leaves
    the BLAS setting alone. The per-iteration products of the hand-written solvers are small, and
    oversubscribed multi-threaded BLAS was measured 6x slower on a shared 2-core machine."""
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
