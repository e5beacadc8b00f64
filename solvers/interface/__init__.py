"""The ways users meet cvxnn besides Python calls: the ``cvxnn`` command line, the scikit-learn estimators,
and the report helpers (tables, JSON, convergence plot) both of them and the examples use."""
from .report import plot_convergence, solve_summary, verify_table, write_json

__all__ = ["plot_convergence", "solve_summary", "verify_table", "write_json"]
