"""Solver names the toolkit knows - hand-written NumPy solvers and every installed CVXPY solver - and the
capability table that says which program (formulation x loss) each hand-written solver solves.

The table drives every "solver X does not solve Y" error, the command line's early checks of
``--solver`` / ``--solvers``, and the solvers ``cvxnn verify`` runs by default. CVXPY solvers solve every
program (they are the oracle).
"""
from __future__ import annotations

import importlib

import cvxpy as cp

from formulations.losses import LOSSES

from .core.memory import check_memory
from .oracle import installed_solvers, solve_oracle

#: hand-written solvers: name -> (module, function)
NUMPY_SOLVERS = {
    "admm": ("solvers.admm", "admm"),
    "fista": ("solvers.fista", "fista"),
    "ipm": ("solvers.ipm", "ipm"),
    "working_set": ("solvers.working_set", "working_set"),
    "newton": ("solvers.newton", "newton"),
    "ipm_robust_gated": ("solvers.ipm_robust_gated", "ipm_robust_gated"),
}

#: which (formulation, loss) pairs each hand-written solver solves
CAPABILITIES = {
    "admm": frozenset({(form, loss) for form in ("exact", "sampled") for loss in LOSSES} | {("robust", "hinge")}),
    "ipm": frozenset({("exact", "squared"), ("sampled", "squared")}),
    "fista": frozenset({(form, loss) for form in ("gated", "scp") for loss in LOSSES}),
    "working_set": frozenset({(form, loss) for form in ("exact", "sampled") for loss in LOSSES}
                             | {("gated", "hinge"), ("gated", "logistic")}
                             | {("robust", loss) for loss in LOSSES}),
    "newton": frozenset({(form, loss) for form in ("gated", "scp") for loss in ("squared", "logistic")}),
    "ipm_robust_gated": frozenset({(form, loss) for form in ("robust_gated", "robust_scp") for loss in LOSSES}),
}

#: solver="auto" skips these solvers past this many samples: the structured interior point's Newton
#: system is n x n or 2dP x 2dP, and Clarabel's compilation and factorisation grow with n d P
AUTO_MAX_N = {"ipm": 2000, "clarabel": 2000}

#: with verbose="auto", runs longer than this many seconds print their iteration table (stderr)
AUTO_VERBOSE_S = 3.0


def _load(name):
    module, attr = NUMPY_SOLVERS[name]
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def available_solvers():
    """Names usable with ``--solver``: ``auto``, the hand-written solvers present in this install, then
    CVXPY's."""
    return ["auto"] + [n for n in NUMPY_SOLVERS if _load(n) is not None] + installed_solvers()


def solves(name, formulation, loss):
    """True when solver ``name`` solves the ``formulation`` program with ``loss`` (CVXPY solvers: always)."""
    key = name.lower()
    return key not in CAPABILITIES or (formulation, loss) in CAPABILITIES[key]


def solvers_for(formulation, loss):
    """The hand-written solvers that solve this program, in the registry's order (verify's default)."""
    return [name for name in NUMPY_SOLVERS if (formulation, loss) in CAPABILITIES[name]]


def check_solves(name, formulation, loss):
    """ValueError naming the solver, the program and the solvers that do solve it, unless ``name`` solves
    the ``formulation`` program with ``loss``."""
    if solves(name, formulation, loss):
        return
    others = solvers_for(formulation, loss)
    alternatives = ", ".join(others + ["clarabel", "scs"])
    raise ValueError(f"solver {name.lower()!r} does not solve the {formulation} program with the {loss} loss; "
                     f"solvers that do: {alternatives}")


#: solver="auto": the preferred solvers per (formulation, loss), fastest first, as measured against
#: Clarabel (docs/benchmarks.md, "Every program against Clarabel", and the randomised battery's median
#: time ratios); the first that is installed, solves the program and is within its ``AUTO_MAX_N`` runs,
#: else Clarabel
AUTO_PREFERENCE = {
    **{(form, "squared"): ("ipm", "working_set") for form in ("exact", "sampled")},
    # the hinge on sampled patterns: the working set (median 0.45x Clarabel's time on the randomised battery,
    # 0.17x on random-1000 and 0.27x on teacher-1000; its memory follows the patterns in use); on the exact
    # program, whose instances are tiny, Clarabel up to 2000 samples (the working set's median 8.9x
    # Clarabel's time there, under a second either way)
    ("sampled", "hinge"): ("working_set",),
    ("exact", "hinge"): ("clarabel", "working_set"),
    # the logistic: the working set (median 0.23-0.35x Clarabel's time on the randomised battery in two
    # runs, the ADMM's 0.35x; it certifies where the ADMM stops at its limit and Clarabel fails:
    # breast_cancer-400 in 96 s against SCS's inaccurate 656 s, teacher-1000 in 294 s), then the ADMM
    **{(form, "logistic"): ("working_set", "admm") for form in ("exact", "sampled")},
    **{(form, loss): ("newton", "fista") for form in ("gated", "scp") for loss in ("squared", "logistic")},
    # the hinge on the unconstrained programs: Clarabel was the fastest measured (working_set 3.7-5x and
    # FISTA 10-100x slower on the gated and SCP programs at n = 569-1000)
    ("gated", "hinge"): (),
    ("scp", "hinge"): (),
    **{("robust", loss): ("working_set", "admm") for loss in LOSSES},
    # the fixed-gate robust programs: Clarabel as fast (breast cancer, 180 rows, P = 20) and more reliable
    **{(form, loss): () for form in ("robust_gated", "robust_scp") for loss in LOSSES},
}


def auto_solver(program):
    """The solver that ``solver="auto"`` runs on ``program``: the first of ``AUTO_PREFERENCE`` for its
    formulation and loss that is installed, solves it and is within its ``AUTO_MAX_N`` samples, else
    ``clarabel``."""
    formulation, loss = program.formulation, program.loss.name
    for name in AUTO_PREFERENCE.get((formulation, loss), ()):
        if program.n > AUTO_MAX_N.get(name, float("inf")):
            continue
        if name == "clarabel" or (solves(name, formulation, loss) and _load(name) is not None):
            return name
    return "clarabel"


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
    if key == "auto":
        def run_auto(program, tol=None, max_iter=None, verbose=False):
            return get_solver(auto_solver(program))(program, tol=tol, max_iter=max_iter, verbose=verbose)
        run_auto.__name__ = "auto"
        return run_auto
    if key in NUMPY_SOLVERS:
        fn = _load(key)
        if fn is None:
            raise ValueError(f"solver {key!r} is not available in this version; available: "
                             f"{', '.join(available_solvers())}")

        def run_numpy(program, tol=None, max_iter=None, verbose=False):
            check_solves(key, program.formulation, program.loss.name)
            opts = {}
            if tol is not None:
                opts.update(tol_abs=tol, tol_rel=tol)
            if max_iter is not None:
                opts["max_rounds" if key == "working_set" else "max_iter"] = max_iter
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


def solve(program, solver="auto", *, max_memory=None, **options):
    """Solve ``program`` with the solver named ``solver`` and return its :class:`~solvers.result.SolveResult`.

    One entry point over every solver (as ``scipy.optimize.minimize(method=...)``): ``"auto"`` (the
    default: the solver :func:`auto_solver` picks for the program, named by ``result.solver``), a
    hand-written solver (``admm``, ``ipm``, ``fista``, ``newton``, ``working_set``, ...; ``options`` are its
    keyword options) or a CVXPY solver (``clarabel``, ``scs``, ...; ``options`` go to
    :func:`~solvers.oracle.solve_oracle`). With ``"auto"`` the options go to the solver it picks, so pass
    only ``time_limit`` there (every solver takes it) or name the solver. A solver that does not solve the
    program is refused with the solvers that do, and one whose estimated peak memory exceeds ``max_memory``
    bytes (default: the memory available now) is refused before it allocates anything
    (:mod:`solvers.core.memory`).
    """
    from formulations.base import ConvexProgram

    if not isinstance(program, ConvexProgram):
        raise ValueError(f"program must be a cvxnn program (see formulations.make_program), "
                         f"got {type(program).__name__}")
    if not isinstance(solver, str):
        raise ValueError(f"solver must be a name, got {solver!r}")
    key = solver.lower()
    if key == "auto":
        key = auto_solver(program)
    if key in NUMPY_SOLVERS:
        check_solves(key, program.formulation, program.loss.name)
        check_memory(key, program.n, program.d, program.n_patterns, max_memory)
        fn = _load(key)
        if fn is None:
            raise ValueError(f"solver {key!r} is not available in this version")
        return fn(program, **options)
    if key.upper() not in cp.installed_solvers():
        raise ValueError(f"unknown solver {solver!r}; available: {', '.join(available_solvers())}")
    check_memory(key, program.n, program.d, program.n_patterns, max_memory)
    return solve_oracle(program, key, **options)
