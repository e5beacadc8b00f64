"""Solvers for cvxnn programs: the CVXPY oracle runner, hand-written NumPy solvers, the verification
battery, scikit-learn estimators and the command line.

Every public name is loaded on first use, so that ``import solvers`` (and the ``cvxnn`` command's start-up,
before its arguments are parsed) loads no numerical package. ``solvers.admm``, ``solvers.ipm``,
``solvers.fista`` and ``solvers.working_set`` are the solver functions; their modules of the same name are imported as
``from solvers.admm.squared import ...``, ``from solvers.ipm import IPMSettings`` and so on.
"""
from formulations.lazy import lazy_public_names
import sys
import types

#: public name -> the module (relative to this package) that defines it
_PUBLIC = {
    "solve": "registry",
    "solve_oracle": "oracle",
    "installed_solvers": "oracle",
    "SolveResult": "result",
    "ConvergenceWarning": "result",
    "admm": "admm",
    "ipm": "ipm",
    "fista": "fista",
    "working_set": "working_set",
    "newton": "newton",
    "run_battery": "battery",
    "reference_problems": "battery",
    "optimality_certificate": "certificate",
    "column_generation": "certificate",
    "CertificateResult": "certificate",
    "ColumnGenerationResult": "certificate",
    "ConvexReLUClassifier": "interface.estimators",
    "ConvexReLURegressor": "interface.estimators",
}
#: public functions that share their name with the module defining them
_SOLVER_FUNCTIONS = ("admm", "ipm", "fista", "working_set", "newton")

__all__ = list(_PUBLIC)


class _Package(types.ModuleType):
    """This package's module type: importing the module ``solvers.admm`` (or ``.ipm``, ``.fista``) never
    rebinds the package attribute of that name, which stays the solver function."""

    def __setattr__(self, name, value):
        if name in _SOLVER_FUNCTIONS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__getattr__, __dir__ = lazy_public_names(__name__, _PUBLIC)
