"""The ways users meet cvxnn besides Python calls: the ``cvxnn`` command line, the scikit-learn estimators,
the saved models, and the report helpers (tables, JSON, convergence plot) the command line and the
examples share. Names load on first use (the command line starts before any numerical package)."""
from formulations.lazy import lazy_public_names

_PUBLIC = {"plot_convergence": "report", "solve_summary": "report", "verify_table": "report",
           "write_json": "report", "save_model": "model", "load_model": "model"}

__all__ = list(_PUBLIC)


__getattr__, __dir__ = lazy_public_names(__name__, _PUBLIC)
