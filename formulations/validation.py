"""Input checks shared by every formulation and solver, and where their warnings point.

Every public entry point converts user input through these functions, so bad input fails early with a
``ValueError`` that names the problem, and user arrays are copied (never modified in place).
"""
from __future__ import annotations

import numbers
import os
import sys

import numpy as np

from .names import FORMULATIONS  # noqa: F401  (re-exported)


def check_matrix(X, name="X", copy=True):
    """Return a float64 copy of the 2-D array ``X`` after checking shape and finiteness (``copy=False``: the
    array itself when it already is float64, for callers that build a new array from it anyway)."""
    try:
        arr = np.array(X, dtype=float, copy=True) if copy else np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n samples x d features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return arr


def check_vector(y, n=None, name="y"):
    """Return a float64 copy of the 1-D array ``y`` (length ``n`` if given), finite."""
    try:
        arr = np.array(y, dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"shape mismatch: X has {n} rows but {name} has {arr.shape[0]} entries")
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return arr


def check_X_y(X, y):
    """Validate a data set: ``X`` (n x d) and ``y`` (n), both finite; returns copies."""
    X = check_matrix(X, "X")
    y = check_vector(y, X.shape[0], "y")
    return X, y


def check_beta(beta):
    """The weight-decay strength must be a finite number > 0."""
    if isinstance(beta, bool) or not isinstance(beta, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"beta must be a positive number, got {beta!r}")
    beta = float(beta)
    if not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a finite number > 0, got {beta}")
    return beta


def check_epsilon(epsilon):
    """The perturbation radius must be a finite number >= 0."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"epsilon must be a number >= 0, got {epsilon!r}")
    epsilon = float(epsilon)
    if not np.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon}")
    return epsilon


def check_patterns(D, n):
    """Validate activation patterns ``D`` (n x P, entries 0/1) and drop exact duplicate columns.

    Columns keep their order (first occurrence wins). Returns a float64 copy.
    """
    try:
        arr = np.array(D, dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"D must be a numeric 0/1 array: {exc}") from None
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"D must be a 2-D array (n x P), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"shape mismatch: X has {n} rows but D has {arr.shape[0]} rows")
    if arr.shape[1] == 0:
        raise ValueError("D has zero activation patterns; at least one is required")
    if not np.all(np.isfinite(arr)) or not np.all((arr == 0) | (arr == 1)):
        raise ValueError("D must contain only 0/1 entries (activation patterns)")
    _, first = np.unique(arr, axis=1, return_index=True)
    return arr[:, np.sort(first)]


def check_directions(H, d, name="H"):
    """Validate first-layer directions ``H`` (d x N): finite, no zero column."""
    H = check_matrix(H, name)
    if H.shape[0] != d:
        raise ValueError(f"shape mismatch: X has {d} columns but {name} has {H.shape[0]} rows")
    if np.any(np.linalg.norm(H, axis=0) == 0):
        raise ValueError(f"{name} has a zero column; every direction must be nonzero")
    return H


def check_formulation(name):
    if name not in FORMULATIONS:
        raise ValueError(f"unknown formulation {name!r}; choose one of {', '.join(FORMULATIONS)}")
    return name


def check_seed(seed, name="seed"):
    """A random seed: None or an integer >= 0 (what ``numpy.random.default_rng`` accepts as one number)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be None or an integer >= 0, got {seed!r}")
    return int(seed)


def check_flag(value, name):
    """A True/False option (a string such as "yes" is refused, not read as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


#: the folders of cvxnn's own packages: a warning points at the first frame outside them
_PACKAGE_FOLDERS = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), name) + os.sep
                         for name in ("solvers", "formulations"))


def user_stacklevel():
    """The ``stacklevel`` for a ``warnings.warn`` issued by the caller of this function that makes the
    warning name the first frame outside cvxnn's packages: the user's call, however deep in the package
    the warning was raised (solver dispatchers, BLAS thread limits and helpers add frames)."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_FOLDERS):
        frame, level = frame.f_back, level + 1
    return level
