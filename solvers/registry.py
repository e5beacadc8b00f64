"""Solver names the toolkit knows: hand-written NumPy solvers and every installed CVXPY solver."""
from __future__ import annotations

import importlib

import cvxpy as cp

from .oracle import installed_solvers, solve_oracle

#: hand-written solvers: name -> (module, function, formulations it solves)
NUMPY_SOLVERS = {
    "admm": ("solvers.admm", "admm"),
    "fista": ("solvers.fista", "fista"),
    "ipm": ("solvers.ipm", "ipm"),
}


#: with verbose="auto", runs longer than this many seconds print their iteration table (stderr)
AUTO_VERBOSE_S = 3.0


def _load(name):
    module, attr = NUMPY_SOLVERS[name]
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def available_solvers():
    """Names usable with ``--solver``: hand-written solvers present in this install, then CVXPY's."""
    return [n for n in NUMPY_SOLVERS if _load(n) is not None] + installed_solvers()


def cvxpy_options(name, tol=None, max_iter=None):
    """Map the generic --tol / --max-iter onto a CVXPY solver's own option names."""
    name = name.upper()
    opts = {}
    if name == "CLARABEL":
        if tol is not None:
            opts.update(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
        if max_iter is not None:
            opts["max_iter"] = max_iter
    elif name == "SCS":
        if tol is not None:
            opts.update(eps_abs=tol, eps_rel=tol)
        if max_iter is not None:
            opts["max_iters"] = max_iter
    elif tol is not None or max_iter is not None:
        raise ValueError(f"--tol/--max-iter are not mapped for the CVXPY solver {name.lower()!r}; "
                         f"use clarabel or scs")
    return opts


def get_solver(name):
    """A callable ``solver(program, tol=None, max_iter=None, verbose=False)`` for ``name``."""
    if not isinstance(name, str):
        raise ValueError(f"solver must be a name, got {name!r}")
    key = name.lower()
    if key in NUMPY_SOLVERS:
        fn = _load(key)
        if fn is None:
            raise ValueError(f"solver {key!r} is not available in this version; available: "
                             f"{', '.join(available_solvers())}")

        def run_numpy(program, tol=None, max_iter=None, verbose=False):
            opts = {}
            if tol is not None:
                opts.update(tol_abs=tol, tol_rel=tol)
            if max_iter is not None:
                opts["max_iter"] = max_iter
            # "auto" (the CLI default): ADMM shows its table once a run has lasted AUTO_VERBOSE_S seconds
            if verbose == "auto":
                verbose = AUTO_VERBOSE_S if key == "admm" else False
            return fn(program, verbose=verbose, **opts)
        run_numpy.__name__ = key
        return run_numpy
    if key.upper() in cp.installed_solvers():
        def run_cvxpy(program, tol=None, max_iter=None, verbose=False):
            # CVXPY solvers print their logs on standard output: only on an explicit request
            return solve_oracle(program, key, verbose=verbose is True, **cvxpy_options(key, tol, max_iter))
        run_cvxpy.__name__ = key
        return run_cvxpy
    raise ValueError(f"unknown solver {name!r}; available: {', '.join(available_solvers())}")
