"""One result object for every solver, CVXPY or hand-written (the OSQP / SciPy convention).

Everything important is on the object: the solution, the status, iterations, residual and objective
histories, timing, the constraint violation - nothing is hidden in logs. :meth:`SolveResult.to_dict`
gives the run object of the JSON report (docs/cli.md).
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

from formulations.base import NEURON_TOL
from formulations.validation import user_stacklevel

#: statuses a hand-written solver may report (``stopped``: a user's callback ended the run); CVXPY statuses
#: are passed through as CVXPY names them.
CONVERGED = ("optimal",)
STATUSES = ("optimal", "optimal_inaccurate", "max_iter", "time_limit", "stopped", "diverged", "infeasible",
            "solver_error")


class ConvergenceWarning(_SklearnConvergenceWarning):
    """A solver stopped before meeting its tolerances (status is not ``optimal``).

    A subclass of scikit-learn's ``ConvergenceWarning``, so filters and ``pytest.warns`` written for
    either one catch it."""


class CollapsedNetworkWarning(UserWarning):
    """The returned model is numerically the zero network: it predicts nothing, whatever its status."""


@dataclass
class SolveResult:
    """The outcome of solving one program.

    Attributes
    ----------
    program : the program object that was solved (data, loss, beta, NumPy evaluators)
    weights : dict of NumPy arrays (``V``/``W``, ``U`` or ``theta``), or None when no point came back
    status : ``optimal``, ``optimal_inaccurate``, ``max_iter``, ``time_limit``, ``diverged``, ...
    solver : name of the solver that produced ``weights`` (after any fallback)
    objective : convex objective at ``weights`` (sum-form loss + beta * penalty), evaluated in NumPy
    max_violation : largest constraint violation at ``weights`` (0 for unconstrained programs)
    iterations, solve_time_s, compile_time_s : effort (compile time is 0 for NumPy solvers)
    history : per-iteration arrays (objective, primal/dual residuals, rho, time) when the solver keeps them
    info : anything else the solver reports (fallback reasons, residuals, rho, ...)
    """

    program: Any
    weights: Optional[dict]
    status: str
    solver: str
    iterations: int = 0
    solve_time_s: float = 0.0
    compile_time_s: float = 0.0
    history: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.weights is not None:
            self.weights = self.program.check_weights(self.weights)
        self._network = None
        # snapshot what depends on the program's parameters (beta, epsilon), which a later
        # set_beta / set_epsilon changes in place: the result keeps describing the solve it came from
        self._description = dict(self.program.describe())
        ok = self.weights is not None
        self._objective = self.program.objective(self.weights) if ok else float("nan")
        self._max_violation = self.program.max_violation(self.weights) if ok else float("nan")
        self._network_objective = self.program.network_objective(self.weights) if ok else float("nan")

    # -- derived quantities (computed from the weights by the program's own NumPy code) -------------
    @property
    def objective(self):
        """Convex objective at ``weights`` for the parameters of this solve."""
        return self._objective

    @property
    def max_violation(self):
        return self._max_violation

    @property
    def converged(self):
        return self.status in CONVERGED

    @property
    def collapsed(self):
        """True when the returned model is numerically the zero network (no training prediction above
        ``NEURON_TOL`` of max |y|; see :meth:`formulations.base.ConvexProgram.collapsed`)."""
        return self.weights is not None and self.program.collapsed(self.weights)

    @property
    def network(self):
        if self._network is None and self.weights is not None:
            self._network = self.program.network(self.weights)
        return self._network

    @property
    def network_objective(self):
        return self._network_objective

    def predictions(self):
        """Training predictions of the convex model."""
        return self.program.predictions(self.weights)

    def train_accuracy(self):
        """Share of training points with sign(f) equal to their label, whenever the labels are in {-1, +1}
        (every loss: the squared loss trains classifiers too); None otherwise. A tie - an output within
        ``NEURON_TOL`` of max |y| of zero, where the sign is numerical noise - counts as an error."""
        y = self.program.y
        if self.weights is None or not np.all(np.isin(y, (-1.0, 1.0))):
            return None
        pred = self.predictions()
        decided = np.abs(pred) > NEURON_TOL * self.program.output_scale()
        return float(np.mean(decided & (np.sign(pred) == y)))

    def warn_if_collapsed(self):
        """A :class:`CollapsedNetworkWarning`, pointing at the user's call, when the model is zero."""
        if self.collapsed:
            warnings.warn(f"{self.solver}: the returned model is the zero network (no training prediction "
                          f"exceeds {NEURON_TOL:g} of max |y|); beta or epsilon leave no neuron",
                          CollapsedNetworkWarning, stacklevel=user_stacklevel())

    def warn_if_not_converged(self):
        """A :class:`ConvergenceWarning`, pointing at the user's call, unless the status is ``optimal``."""
        if not self.converged:
            warnings.warn(f"{self.solver} stopped with status {self.status!r} after {self.iterations} "
                          f"iterations; the returned point is not certified optimal",
                          ConvergenceWarning, stacklevel=user_stacklevel())

    def to_dict(self):
        """The JSON run object of docs/cli.md (plus compile time and solver info)."""
        out = dict(self._description)
        ok = self.weights is not None
        net = self.network if ok else None
        out.update({
            "solver": self.solver,
            "status": self.status,
            "objective": _num(self.objective),
            "max_violation": _num(self.max_violation),
            "network_objective": _num(self.network_objective),
            "network_width": None if net is None else (0 if self.collapsed else int(net.width)),
            "collapsed": bool(self.collapsed),
            "train_accuracy": self.train_accuracy(),
            "solve_time_s": float(self.solve_time_s),
            "compile_time_s": float(self.compile_time_s),
            "iterations": int(self.iterations),
            "fallback_from": self.info.get("fallback_from"),
        })
        out["info"] = {k: _jsonable(v) for k, v in self.info.items()}
        return out

    def summary(self):
        """One line: solver, status, iterations, objective, certified gap (when the solver has one),
        constraint violation and time."""
        gap = self.info.get("duality_gap_rel")
        gap_text = "-" if gap is None or not np.isfinite(gap) else f"{gap:.1e}"
        return (f"{self.solver}: status {self.status}{', zero network (collapsed)' if self.collapsed else ''}, "
                f"iterations {self.iterations}, objective {self.objective:.10e}, certified rel gap {gap_text}, "
                f"violation {self.max_violation:.1e}, time {self.solve_time_s:.3g}s")

    def __repr__(self):
        return (f"SolveResult(solver={self.solver!r}, status={self.status!r}, objective={self.objective:.10g}, "
                f"max_violation={self.max_violation:.2e}, iterations={self.iterations}, "
                f"solve_time_s={self.solve_time_s:.3g})")


def finish_run(program, weights, *, status, solver, iterations, solve_time_s, history=None, info=None,
               verbose=False):
    """The one place a hand-written run becomes a :class:`SolveResult`: histories become float arrays, the
    summary line goes to stderr when ``verbose``, and any status but ``optimal`` raises a
    :class:`ConvergenceWarning` that points at the user's call."""
    history = {key: np.asarray(values, dtype=float) for key, values in (history or {}).items()}
    result = SolveResult(program=program, weights=weights, status=status, solver=solver, iterations=iterations,
                         solve_time_s=solve_time_s, history=history, info=dict(info or {}))
    if verbose:
        print(result.summary(), file=sys.stderr)
    if status != "optimal":
        result.warn_if_not_converged()
    result.warn_if_collapsed()
    return result


def _num(x):
    x = float(x)
    return x if np.isfinite(x) else None


def _jsonable(v):
    """JSON-safe copy: NumPy scalars and arrays to Python, non-finite floats to None."""
    if isinstance(v, (np.integer, np.bool_)):
        return v.item()
    if isinstance(v, (float, np.floating)):
        return _num(v)
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v
