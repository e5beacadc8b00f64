"""Solvers for cvxnn programs: the CVXPY oracle runner, hand-written NumPy solvers, the verification
battery and the command line."""
from .oracle import installed_solvers, solve_oracle
from .result import ConvergenceWarning, SolveResult

__all__ = ["solve_oracle", "installed_solvers", "SolveResult", "ConvergenceWarning"]
from .certificate import CertificateResult, ColumnGenerationResult, column_generation, optimality_certificate  # noqa: E402
from .estimators import ConvexReLUClassifier, ConvexReLURegressor  # noqa: E402

__all__ += ["ConvexReLUClassifier", "ConvexReLURegressor", "optimality_certificate", "column_generation",
            "CertificateResult", "ColumnGenerationResult"]
