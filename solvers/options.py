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
