"""The ways users meet cvxnn besides Python calls: the ``cvxnn`` command line, the scikit-learn estimators,
the saved models, and the report helpers (tables, JSON, convergence plot) the command line and the
examples share. Names load on first use (the command line starts before any numerical package)."""
import importlib

_PUBLIC = {"plot_convergence": "report", "solve_summary": "report", "verify_table": "report",
           "write_json": "report", "save_model": "model", "load_model": "model"}

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
