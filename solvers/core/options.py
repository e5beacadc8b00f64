"""Options shared by the hand-written solvers: the checks (every bad option is a ValueError naming the
solver and the option), the keyword signature read off a solver's settings dataclass, the warm start and
the iteration / time limits."""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np


def option_names(settings_class):
    """The options of a solver: the fields of its settings dataclass that ``__init__`` takes."""
    return tuple(f.name for f in fields(settings_class) if f.init)


def keyword_signature(settings_class, **extra):
    """``(program, *, option=default, ..., extra=default)``: the signature of a solver taking ``program`` and
    the options of ``settings_class`` as keywords (for ``help()`` and introspection), then the ``extra``
    keywords the solver function itself takes."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    options = [inspect.Parameter(f.name, keyword, default=f.default) for f in fields(settings_class) if f.init]
    return inspect.Signature([inspect.Parameter("program", inspect.Parameter.POSITIONAL_OR_KEYWORD), *options,
                              *(inspect.Parameter(name, keyword, default=value) for name, value in extra.items())])


def check_option_names(solver, settings_class, options):
    """A TypeError for the first keyword that is no option, worded as Python words it for any function."""
    names = option_names(settings_class)
    for name in options:
        if name not in names:
            raise TypeError(f"{solver}() got an unexpected keyword argument {name!r}")


def settings_from_options(solver, settings_class, options):
    """``settings_class(**options)`` once every keyword is known to be an option (a TypeError naming the
    solver function otherwise; the settings check the values)."""
    check_option_names(solver, settings_class, options)
    return settings_class(**options)


def warm_start_weights(program, warm_start):
    """The checked weights (copies) of a warm start: a weights dict, a SolveResult, or for a program with one
    variable an array of that variable; None for no warm start."""
    from ..result import SolveResult

    if warm_start is None:
        return None
    if isinstance(warm_start, SolveResult):
        if warm_start.weights is None:
            raise ValueError("warm_start is a SolveResult without weights")
        warm_start = warm_start.weights
    if isinstance(warm_start, np.ndarray) and len(program.variable_names) == 1:
        warm_start = {program.variable_names[0]: warm_start}
    return program.check_weights(warm_start)


def limit_reached(iterations, max_iter, time_limit, t_start):
    """``"max_iter"`` once ``iterations`` reach ``max_iter``, ``"time_limit"`` once ``time_limit`` seconds
    (None: no limit) have passed since ``t_start``, else None."""
    if iterations >= max_iter:
        return "max_iter"
    if time_limit is not None and time.perf_counter() - t_start >= time_limit:
        return "time_limit"
    return None


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


def check_flags(solver, **flags):
    """Every flag must be a bool (ValueError naming the option otherwise)."""
    for name, flag in flags.items():
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{solver} option {name} must be True or False, got {flag!r}")


def verbose_after(solver, verbose):
    """``verbose``: True / False, or a number of seconds after which the iteration table starts.
    Returns the number of seconds, or None for no table."""
    if isinstance(verbose, (bool, np.bool_)):
        return 0.0 if verbose else None
    if isinstance(verbose, (int, float, np.integer, np.floating)) and np.isfinite(verbose) and verbose >= 0:
        return float(verbose)
    raise ValueError(f"{solver} option verbose must be True, False or a number of seconds >= 0, got {verbose!r}")


def check_rho_tolerance(solver, value):
    """``adaptive_rho_tolerance``: a finite number > 1 (the factor by which the normalised residuals of an ADMM
    must differ before rho changes)."""
    value = check_positive(solver, "adaptive_rho_tolerance", value)
    if not value > 1.0:
        raise ValueError(f"{solver} option adaptive_rho_tolerance must be > 1, got {value}")
    return value


def check_print_every(solver, print_every, check_every):
    """Iterations between two rows of an ADMM's table: an integer >= 1, by default (None) the largest
    multiple of ``check_every`` up to 50 (at least ``check_every``: rows come from check iterations)."""
    if print_every is None:
        return check_every * max(1, 50 // check_every)
    return check_int(solver, "print_every", print_every)


def check_constrained_squared(solver, program, squared_name=None):
    """ValueError unless ``program`` is the constrained ReLU program (exact or sampled) with the squared
    loss; ``squared_name`` is how the message names the squared-loss solver (default: the solver)."""
    from formulations.relu import ReLUProgram

    if not isinstance(program, ReLUProgram) or program.formulation not in ("exact", "sampled"):
        raise ValueError(f"the {solver} solver supports the constrained ReLU program (formulation 'exact' or "
                         f"'sampled'); got {type(program).__name__}"
                         f"{' (' + program.formulation + ')' if hasattr(program, 'formulation') else ''}")
    if program.loss.name != "squared":
        raise ValueError(f"{squared_name or 'the ' + solver + ' solver'} solves the squared loss; got "
                         f"{program.loss.name} (use admm)")


@dataclass
class InteriorPointSettings:
    """The options the dense interior points share, with their defaults (``solver``: the name in errors)."""

    tol_gap: float = 1e-7
    feas_tol: float = 1e-9
    max_iter: int = 100
    time_limit: Optional[float] = None
    solver = "ipm_dense"

    def __post_init__(self):
        self.tol_gap = check_positive(self.solver, "tol_gap", self.tol_gap)
        self.feas_tol = check_positive(self.solver, "feas_tol", self.feas_tol)
        self.max_iter = check_int(self.solver, "max_iter", self.max_iter, 0)
        self.time_limit = check_positive(self.solver, "time_limit", self.time_limit, allow_none=True)
