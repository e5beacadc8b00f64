"""The shared verification battery: reference problems, and a runner that checks any solver against
the CVXPY oracle (the way cvxpy's and OSQP's test suites run every solver through one set of problems).

A *solver* here is any callable ``solver(program, **options)`` returning a
:class:`~solvers.result.SolveResult` or a weights dict (``{"V": ..., "W": ...}`` for the constrained
program). :func:`run_battery` solves each reference problem with the oracle and with the solver, and
reports per problem the relative gap ``(objective - oracle) / max(1, |oracle|)``, the constraint
violation (relative to the data scale), and whether the recovered networks' predictions agree.

Reference problems carry their known optimum where mathematics gives it: for
``beta >= max_i |X^T (D_i o y)|_2`` the zero network is optimal for the squared loss (no pattern can
improve on it), so the optimum is ``0.5 |y|^2``; and rescaling X by c with beta by c leaves the optimum
unchanged (v -> v / c; epsilon scales by c too), so the scaled problems must reach the unscaled
optimum.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from formulations import make_program
from formulations.datasets import breast_cancer

from .oracle import solve_oracle
from .result import SolveResult

#: per-solver acceptance: relative objective gap and cone violation (relative to the data scale).
SOLVER_TOLERANCES = {
    "admm": {"gap": 1e-5, "violation": 1e-6},
    "fista": {"gap": 1e-4, "violation": 1e-6},
    "ipm": {"gap": 1e-6, "violation": 1e-7},
    "scs": {"gap": 1e-5, "violation": 1e-6},
    "clarabel": {"gap": 1e-6, "violation": 1e-7},
}
DEFAULT_TOLERANCE = {"gap": 1e-4, "violation": 1e-6}
#: per-loss overrides of a solver's acceptance. ADMM on the classification losses: the loss-split ADMM
#: (solvers.admm.split) certifies a relative duality gap of 1e-5, inside 1e-4; the hinge program is
#: piecewise linear (LP-like) and its degenerate small-beta instances converge slowly, hence 1e-3
#: (measurements in docs/benchmarks.md).
LOSS_TOLERANCES = {
    ("admm", "logistic"): {"gap": 1e-4, "violation": 1e-6},
    ("admm", "hinge"): {"gap": 1e-3, "violation": 1e-6},
}


def tolerance_for(name, loss=None):
    """Acceptance ``{"gap", "violation"}`` of solver ``name`` (optionally for one loss)."""
    if loss is not None and (name, loss) in LOSS_TOLERANCES:
        return dict(LOSS_TOLERANCES[(name, loss)])
    return dict(SOLVER_TOLERANCES.get(name, DEFAULT_TOLERANCE))


def relative_gap(objective, reference):
    """(objective - reference) / max(1, |reference|)."""
    return (objective - reference) / max(1.0, abs(reference))


def data_scale(program):
    """Scale for judging cone violations: max |X| (violations are O(|X| |v|))."""
    return max(1.0, float(np.abs(program.X).max()))


@dataclass
class ReferenceProblem:
    """A named problem builder; ``known_optimum(program)`` returns the optimum when math gives it."""

    name: str
    build: Callable[[], object]
    description: str = ""
    known_optimum: Optional[Callable[[object], float]] = None
    tags: tuple = ()


def _gaussian(n, d, seed, labels):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if labels == "pm1":
        y = np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
    else:
        y = np.maximum(0.0, X @ rng.standard_normal(d)) - 0.5 * np.maximum(0.0, -X @ rng.standard_normal(d))
        y = y + 0.1 * rng.standard_normal(n)
    return X, y


def zero_solution_beta(program):
    """Smallest beta of the bound max_i |X^T (D_i o y)|_2 above which the zero model is optimal
    (squared loss; the cone is relaxed, so the bound is sufficient)."""
    return float(np.linalg.norm(program.X.T @ (program.D * program.y[:, None]), axis=0).max())


def reference_problems(formulation="relu", loss="squared"):
    """The battery's reference problems for the constrained ReLU program (``formulation="relu"``:
    exact and sampled) or for ``gated`` / ``scp`` / ``robust``, with the given loss."""
    labels = "pm1" if loss in ("hinge", "logistic") else "real"
    problems = []

    def add(name, description, builder, known=None, tags=()):
        problems.append(ReferenceProblem(name, builder, description, known, tags))

    if formulation == "relu":
        def exact_small():
            X, y = _gaussian(14, 2, 0, labels)
            return make_program("exact", X, y, loss, 0.1, bias=True)
        add("exact_gp14", "exact program, all patterns, n=14, 2 features + bias", exact_small, tags=("exact",))
        form = "sampled"
    else:
        form = formulation

    extra = {"epsilon": 0.05} if formulation == "robust" else {}

    def sampled():
        X, y = _gaussian(60, 5, 1, labels)
        return make_program(form, X, y, loss, 0.05, n_patterns=40, seed=1, **extra)
    add("gaussian_60x5", f"{form} program, n=60, d=5, 40 directions", sampled)

    def with_bias():
        X, y = _gaussian(50, 3, 2, labels)
        return make_program(form, X, y, loss, 0.1, n_patterns=30, seed=2, bias=True, **extra)
    add("bias_50x3", f"{form} program with a bias column, n=50, d=3+1", with_bias)

    def real():
        ds = breast_cancer()
        rng = np.random.default_rng(3)
        rows = rng.choice(ds.n, size=150, replace=False)
        return make_program(form, ds.X[rows, :10], ds.y[rows], loss, 0.5, n_patterns=20, seed=3, **extra)
    add("breast_cancer_150x10", "breast cancer (150 rows, first 10 features), 20 directions", real, tags=("real",))

    for tag, beta in (("dense", 1e-4), ("sparse", 2.0)):
        def builder(beta=beta):
            X, y = _gaussian(40, 4, 4, labels)
            return make_program(form, X, y, loss, beta, n_patterns=25, seed=4, **extra)
        add(f"{tag}_beta_{beta:g}", f"{form} program, n=40, d=4, beta={beta:g} ({tag} solution)", builder)

    def scaled_instance(scale):
        X, y = _gaussian(40, 4, 5, labels)
        scaled_extra = {key: scale * value for key, value in extra.items()}  # epsilon scales with X
        return make_program(form, scale * X, y, loss, 0.1 * scale, n_patterns=25, seed=5, **scaled_extra)

    def unscaled_optimum(_program):
        return solve_oracle(scaled_instance(1.0)).objective

    for scale in (1e-2, 1e2):
        add(f"X_scaled_{scale:g}", f"X scaled by {scale:g}, beta by the same factor (same optimum as unscaled)",
            lambda scale=scale: scaled_instance(scale),
            known=unscaled_optimum, tags=("scaled",))

    if formulation == "relu" and loss == "squared":
        def zero():
            X, y = _gaussian(30, 3, 6, labels)
            prog = make_program("sampled", X, y, loss, 1.0, n_patterns=20, seed=6)
            prog.set_beta(1.05 * zero_solution_beta(prog))
            return prog
        add("zero_solution", "beta above the bound where the zero network is optimal", zero,
            known=lambda prog: 0.5 * float(prog.y @ prog.y), tags=("known",))
    return problems


@dataclass
class BatteryRow:
    problem: str
    solver: str
    status: str
    objective: float
    oracle_objective: float
    rel_gap: float
    violation: float
    prediction_error: float
    solve_time_s: float
    oracle_time_s: float
    iterations: int
    passed: bool
    reason: str = ""


@dataclass
class BatteryReport:
    solver: str
    rows: list = field(default_factory=list)
    tolerance: dict = field(default_factory=dict)

    @property
    def passed(self):
        return all(r.passed for r in self.rows)

    def table(self):
        """A fixed-width text table, one row per reference problem."""
        head = (f"{'problem':<22} {'status':<12} {'rel_gap':>10} {'viol/scale':>10} {'pred_err':>9} "
                f"{'time_s':>8} {'oracle_s':>8} {'iters':>6}  result")
        lines = [f"battery for solver {self.solver!r} (gap tol {self.tolerance['gap']:g}, "
                 f"violation tol {self.tolerance['violation']:g})", head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.problem:<22} {r.status:<12} {r.rel_gap:>10.2e} {r.violation:>10.2e} "
                         f"{r.prediction_error:>9.2e} {r.solve_time_s:>8.3f} {r.oracle_time_s:>8.3f} "
                         f"{r.iterations:>6d}  {'ok' if r.passed else 'FAIL ' + r.reason}")
        lines.append(f"{sum(r.passed for r in self.rows)} passed, {sum(not r.passed for r in self.rows)} failed")
        return "\n".join(lines)


def as_result(program, output, name, elapsed):
    """Wrap a solver's output (SolveResult or weights dict) into a SolveResult."""
    if isinstance(output, SolveResult):
        if not output.solve_time_s:  # the solver did not time itself: use the battery's clock
            output.solve_time_s = elapsed
        return output
    if isinstance(output, dict):
        return SolveResult(program=program, weights=output, status="optimal", solver=name, solve_time_s=elapsed)
    raise ValueError(f"solver {name!r} returned {type(output).__name__}; expected a SolveResult or a weights dict")


def compare(program, result, oracle_result, tolerance, known=None):
    """Judge one solver result against the oracle; returns a BatteryRow."""
    ref = oracle_result.objective if known is None else known
    obj = result.objective if result.weights is not None else float("nan")
    gap = relative_gap(obj, ref)
    viol = result.max_violation / data_scale(program) if result.weights is not None else float("nan")
    if result.weights is not None and oracle_result.weights is not None:
        p, q = result.predictions(), oracle_result.predictions()
        pred_err = float(np.abs(p - q).max() / max(1.0, np.abs(q).max()))
    else:
        pred_err = float("nan")
    reasons = []
    if not np.isfinite(gap) or abs(gap) > tolerance["gap"]:
        reasons.append(f"gap {gap:.1e}")
    if not np.isfinite(viol) or viol > tolerance["violation"]:
        reasons.append(f"violation {viol:.1e}")
    return BatteryRow(problem="", solver=result.solver, status=result.status, objective=obj,
                      oracle_objective=ref, rel_gap=gap, violation=viol, prediction_error=pred_err,
                      solve_time_s=result.solve_time_s, oracle_time_s=oracle_result.solve_time_s,
                      iterations=result.iterations, passed=not reasons, reason=", ".join(reasons))


def run_battery(solver, problems=None, *, name=None, oracle="clarabel", gap_tol=None, violation_tol=None,
                verbose=False, **options):
    """Run ``solver`` on every reference problem and compare it with the oracle.

    ``solver`` is a callable ``solver(program, **options)``; ``name`` defaults to its ``__name__`` and
    selects the per-solver tolerance (:data:`SOLVER_TOLERANCES`, or :data:`LOSS_TOLERANCES` for each
    problem's loss), overridden by ``gap_tol`` /
    ``violation_tol``. Problems with a known optimum are judged against it (and the oracle too).
    Returns a :class:`BatteryReport`; ``report.table()`` prints it, ``report.passed`` sums it up.
    """
    if not callable(solver):
        raise ValueError("solver must be a callable solver(program, **options)")
    name = name or getattr(solver, "__name__", "solver")
    problems = reference_problems() if problems is None else list(problems)
    report = BatteryReport(solver=name)
    for problem in problems:
        program = problem.build()
        tolerance = tolerance_for(name, program.loss.name)
        if gap_tol is not None:
            tolerance["gap"] = float(gap_tol)
        if violation_tol is not None:
            tolerance["violation"] = float(violation_tol)
        if not report.tolerance:
            report.tolerance = tolerance
        reference = solve_oracle(program, oracle)
        if reference.solver == name:  # never judge a solver by its own answer: ask the other CVXPY oracle
            reference = solve_oracle(program, "scs" if name == "clarabel" else "clarabel", fallback=None)
        known = problem.known_optimum(program) if problem.known_optimum else None
        start = time.perf_counter()
        output = solver(program, **options)
        result = as_result(program, output, name, time.perf_counter() - start)
        row = compare(program, result, reference, tolerance, known)
        row.problem = problem.name
        report.rows.append(row)
        if verbose:
            print(report.table().splitlines()[-2])
    if not report.tolerance:
        report.tolerance = tolerance_for(name)
    return report
