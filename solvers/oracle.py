"""The reference oracle: solve any cvxnn program with an installed CVXPY solver.

Clarabel (interior point) is the default; SCS (first-order conic) is the second opinion. Clarabel can
fail outright on exponential-cone (logistic) programs; :func:`solve_oracle` detects a failed or
non-optimal solve and, unless told otherwise, retries with SCS at high accuracy, recording in
``result.solver`` and ``result.info`` which solver produced the answer and why.
"""
from __future__ import annotations

import time
import warnings

import cvxpy as cp
import numpy as np

from .result import SolveResult

#: options that make each solver an oracle (tight tolerances); user options override them.
ORACLE_OPTIONS = {
    "CLARABEL": {},
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000},
}
ACCEPTED = ("optimal", "optimal_inaccurate")
#: each solver's name for its wall-clock limit in seconds; a limit given to the first solver also bounds the
#: fallback, which gets the time the first one left
TIME_LIMIT_OPTIONS = {"CLARABEL": "time_limit", "SCS": "time_limit_secs", "OSQP": "time_limit"}


def installed_solvers():
    """Lower-case names of the CVXPY solvers installed here."""
    return sorted(s.lower() for s in cp.installed_solvers())


def check_cvxpy_solver(name):
    """Canonical CVXPY name of ``name``; ValueError listing the installed solvers if it is missing."""
    if not isinstance(name, str) or name.upper() not in cp.installed_solvers():
        raise ValueError(f"CVXPY solver {name!r} is not installed; installed: {', '.join(installed_solvers())}")
    return name.upper()


def _check_generic_options(options):
    """The iteration limits every CVXPY solver takes under some name: integers >= 1 (a negative one would
    reach the solver's C code as an overflow)."""
    for key in ("max_iter", "max_iters", "maxiter"):
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"solve_oracle option {key} must be an integer >= 1, got {value!r}")


def _attempt(program, name, verbose, options):
    opts = dict(ORACLE_OPTIONS.get(name, {}))
    opts.update(options)
    start = time.perf_counter()
    error = None
    try:
        with warnings.catch_warnings(record=True) as caught:  # the status says it; keep the text in info
            warnings.simplefilter("always")
            program.problem.solve(solver=name, verbose=verbose, **opts)
    except cp.error.SolverError as exc:
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    wall = time.perf_counter() - start
    status = "solver_error" if error else str(program.problem.status)
    stats = program.problem.solver_stats
    compile_time = float(program.problem.compilation_time or 0.0)
    solve_time = stats.solve_time if (stats is not None and stats.solve_time is not None and not error) \
        else max(wall - compile_time, 0.0)
    iterations = int(stats.num_iters) if (stats is not None and stats.num_iters is not None and not error) else 0
    weights = None if error or status not in ACCEPTED else program.current_weights()
    notes = [str(w.message) for w in caught] if not error else []
    return dict(status=status, weights=weights, error=error, compile_time=compile_time,
                solve_time=float(solve_time), iterations=iterations, wall=wall, notes=notes)


def solve_oracle(program, solver="clarabel", *, fallback="scs", verbose=False, **options):
    """Solve ``program.problem`` with the CVXPY solver ``solver`` and return a :class:`SolveResult`.

    ``options`` go to the solver (over :data:`ORACLE_OPTIONS`). If the solve raises or ends without an
    optimal point and ``fallback`` names another installed solver, it is retried with that solver at its
    oracle accuracy; ``result.solver`` names the solver that produced the point and
    ``result.info["fallback_from"]`` / ``["fallback_reason"]`` say what failed. A time limit given to the
    first solver under its own name (:data:`TIME_LIMIT_OPTIONS`) bounds both: the fallback gets what is
    left of it, and none is tried when nothing is left (``info["fallback_skipped"]`` says so).
    """
    from formulations.base import ConvexProgram

    if not isinstance(program, ConvexProgram):
        raise ValueError(f"program must be a cvxnn program (see formulations.make_program), got "
                         f"{type(program).__name__}")
    name = check_cvxpy_solver(solver)
    _check_generic_options(options)
    if hasattr(program, "warn_if_cones_collapse"):  # the robust program: say it before a long solve
        program.warn_if_cones_collapse()
    run = _attempt(program, name, verbose, options)
    info = {"wall_time_s": run["wall"]}
    used = name
    limit = options.get(TIME_LIMIT_OPTIONS.get(name, ""))
    left = None if limit is None else float(limit) - run["wall"]
    if run["weights"] is None and fallback and fallback.upper() != name and left is not None and left <= 0:
        info["fallback_skipped"] = f"{fallback.lower()}: the time limit of {float(limit):g} s was used up"
    elif run["weights"] is None and fallback and fallback.upper() != name:
        second = check_cvxpy_solver(fallback)
        info["fallback_from"] = name.lower()
        info["fallback_reason"] = run["error"] or f"status {run['status']}"
        first = run
        limited = {} if left is None or second not in TIME_LIMIT_OPTIONS else {TIME_LIMIT_OPTIONS[second]: left}
        run = _attempt(program, second, verbose, limited)
        run["compile_time"] += first["compile_time"]
        run["solve_time"] += first["solve_time"]
        info["wall_time_s"] = first["wall"] + run["wall"]
        used = second
    if run["error"]:
        info["error"] = run["error"]
    if run["notes"]:
        info["solver_warnings"] = run["notes"]
    result = SolveResult(program=program, weights=run["weights"], status=run["status"], solver=used.lower(),
                       iterations=run["iterations"], solve_time_s=run["solve_time"],
                       compile_time_s=run["compile_time"], info=info)
    result.warn_if_collapsed()
    return result
