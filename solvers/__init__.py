"""Solvers for cvxnn programs: the CVXPY oracle runner, hand-written NumPy solvers, the verification
battery, scikit-learn estimators and the command line."""
import importlib

from .admm import admm
from .fista import fista
from .ipm import ipm
from .oracle import installed_solvers, solve_oracle
from .registry import solve
from .result import ConvergenceWarning, SolveResult

#: public names loaded on first use (keeps ``import solvers`` and the CLI start-up light)
_LAZY = {
    "ConvexReLUClassifier": "interface.estimators",
    "ConvexReLURegressor": "interface.estimators",
    "optimality_certificate": "certificate",
    "column_generation": "certificate",
    "CertificateResult": "certificate",
    "ColumnGenerationResult": "certificate",
    "run_battery": "battery",
    "reference_problems": "battery",
}

__all__ = ["solve", "solve_oracle", "installed_solvers", "SolveResult", "ConvergenceWarning", "admm", "fista", "ipm", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
