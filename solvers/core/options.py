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
    if not value > 1.0:
        raise ValueError(f"{solver} option adaptive_rho_tolerance must be > 1, got {value}")
    return value


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
