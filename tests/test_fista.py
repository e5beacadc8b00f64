"""FISTA for the gated-ReLU and SCP programs: accuracy against the CVXPY oracle (shared battery), the
pieces it is built from (operators, gradients, proxes, the hinge envelope), warm starts, limits,
statuses and option checking.

The default run covers both programs with every loss on a fast subset of the battery; the complete
battery (6 program x loss combinations, 7 problems each) is marked slow.
"""
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from formulations import make_program
from formulations.losses import get_loss
from solvers.battery import reference_problems, run_battery, tolerance_for
from solvers.fista import _certified_dual, _hinge_envelope, _Operator, fista
from solvers.oracle import solve_oracle
from solvers.result import ConvergenceWarning, SolveResult

FORMS = ("gated", "scp")
LOSSES = ("squared", "hinge", "logistic")
#: problems of the default run per loss (the slow dense-beta / degenerate ones are in the full run)
FAST_SUBSET = {
    "squared": ("gaussian_60x5", "X_scaled_100", "sparse_beta_2"),
    "logistic": ("breast_cancer_150x10", "X_scaled_0.01", "sparse_beta_2"),
    "hinge": ("breast_cancer_150x10", "sparse_beta_2"),
}


def _data(n=40, d=4, seed=0, loss="squared"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if loss == "squared":
        y = np.maximum(0.0, X @ rng.standard_normal(d)) + 0.1 * rng.standard_normal(n)
    else:
        y = np.where(X[:, 0] - 0.5 * X[:, 1] + 0.4 * rng.standard_normal(n) >= 0, 1.0, -1.0)
    return X, y


def _program(form="gated", loss="squared", beta=0.1, n=40, d=4, P=15, seed=0):
    X, y = _data(n, d, seed, loss)
    return make_program(form, X, y, loss, beta, n_patterns=P, seed=seed)


class _Recorder:
    """The solver handed to the battery: FISTA, remembering every result it returned."""

    def __init__(self, **options):
        self.options = options
        self.results = []
        self.__name__ = "fista"

    def __call__(self, program, **kw):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)  # a non-optimal stop fails the test
            result = fista(program, **{**self.options, **kw})
        self.results.append(result)
        return result


def _check_battery(form, loss, names=None):
    problems = reference_problems(form, loss)
    if names is not None:
        problems = [p for p in problems if p.name in names]
        assert len(problems) == len(names)
    solver = _Recorder()
    report = run_battery(solver, problems, name="fista")
    assert tolerance_for("fista")["gap"] == 1e-4
    assert report.passed, "\n" + report.table()
    for row in report.rows:
        assert row.status == "optimal", row
        assert abs(row.rel_gap) <= 1e-4, row
    for result in solver.results:
        assert result.status == "optimal"
        assert result.weights is not None and result.max_violation == 0.0
        # the certificate is an upper bound on the true gap, and it is small
        assert result.info["rel_duality_gap"] >= -1e-9
        if loss == "hinge":
            assert result.info["rel_duality_gap"] <= 1e-5 + 1e-9
        if loss != "squared":  # same training accuracy as the oracle, within half a percentage point
            oracle = solve_oracle(result.program)
            assert oracle.status == "optimal"
            acc, acc_oracle = result.train_accuracy(), oracle.train_accuracy()
            if abs(acc - acc_oracle) > 0.005 + 1e-12:
                # only ties may differ: points the model predicts as 0 (e.g. no active feature in a
                # sparse SCP solution), where FISTA returns exactly 0 (class +1) and the interior-point
                # oracle returns -1e-8-sized noise of either sign
                p, q = result.predictions(), oracle.predictions()
                differ = np.sign(p) != np.sign(q)
                noise = 1e-6 * max(1.0, np.abs(q).max())
                assert np.all(np.abs(p[differ]) <= noise) and np.all(np.abs(q[differ]) <= noise), \
                    (acc, acc_oracle, p[differ], q[differ])
    return report


# -- accuracy: the shared battery ------------------------------------------------------------------
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("form", FORMS)
def test_battery_fast_subset(form, loss):
    _check_battery(form, loss, FAST_SUBSET[loss])


@pytest.mark.slow
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("form", FORMS)
def test_battery_full(form, loss):
    report = _check_battery(form, loss)
    assert len(report.rows) == 7


# -- building blocks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("form", FORMS)
def test_operator_matches_program_and_is_adjoint(form):
    prog = _program(form)
    op = _Operator(prog)
    rng = np.random.default_rng(1)
    W = rng.standard_normal(op.shape)
    r = rng.standard_normal(prog.n)
    assert np.allclose(op.A(W), prog.predictions({op.name: W}), rtol=1e-12, atol=1e-12)
    assert np.isclose(float(np.vdot(op.A(W), r)), float(np.vdot(W, op.AT(r))), rtol=1e-11)
    assert np.isclose(op.penalty(W), prog.regularizer({op.name: W}))
    # dual norm: max over the unit penalty ball of <G, W> is attained at the arg of the dual norm
    G = rng.standard_normal(op.shape)
    if form == "gated":
        assert np.isclose(op.dual_norm(G), np.linalg.norm(G, axis=0).max())
    else:
        assert np.isclose(op.dual_norm(G), np.abs(G).max())
    # power iteration does not overestimate |A|^2 by more than rounding, and is close to it
    dense = np.column_stack([op.A(e.reshape(op.shape)) for e in np.eye(W.size)])
    true = np.linalg.norm(dense, 2) ** 2
    est = op.norm_sq_estimate()
    assert est <= true * (1 + 1e-10) and est >= 0.5 * true


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", ("squared", "logistic"))
def test_gradient_matches_finite_differences(form, loss):
    prog = _program(form, loss)
    op = _Operator(prog)
    rng = np.random.default_rng(2)
    W = 0.3 * rng.standard_normal(op.shape)
    L = get_loss(loss)

    def f(V):
        return L.value(op.A(V), prog.y)

    g = op.AT(L.gradient(op.A(W), prog.y))
    for _ in range(5):
        E = rng.standard_normal(op.shape)
        h = 1e-6
        fd = (f(W + h * E) - f(W - h * E)) / (2 * h)
        assert np.isclose(fd, float(np.vdot(g, E)), rtol=1e-5, atol=1e-7)


def test_hinge_prox_is_the_exact_minimiser():
    loss = get_loss("hinge")
    rng = np.random.default_rng(3)
    v = 2.0 * rng.standard_normal(30)
    y = np.where(rng.standard_normal(30) >= 0, 1.0, -1.0)
    for t in (0.05, 0.7, 3.0):
        p = loss.prox(v, y, t)
        for k in range(v.size):
            obj = lambda z: max(0.0, 1.0 - y[k] * z) + (z - v[k]) ** 2 / (2 * t)  # noqa: E731
            ref = minimize_scalar(obj, bounds=(v[k] - 2 * t - 5, v[k] + 2 * t + 5), method="bounded",
                                  options={"xatol": 1e-12}).x
            assert obj(p[k]) <= obj(ref) + 1e-10
            assert abs(p[k] - ref) <= 1e-5


def test_hinge_envelope_value_and_gradient():
    """M_rho(z + lam/rho) is the Moreau envelope: value by brute force, gradient by differences."""
    loss = get_loss("hinge")
    rng = np.random.default_rng(4)
    n = 12
    y = np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
    lam = -y * rng.uniform(0, 1, n)
    z = 1.5 * rng.standard_normal(n)
    for rho in (0.5, 4.0):
        fun, val = _hinge_envelope(loss, y, lam, rho)
        value, grad = fun(z)
        assert np.isclose(val(z), value)
        v = z + lam / rho
        grid = np.linspace(-8, 8, 160001)
        brute = sum(np.min(np.maximum(0, 1 - y[k] * grid) + 0.5 * rho * (grid - v[k]) ** 2) for k in range(n))
        assert np.isclose(value, brute, atol=1e-6)
        for k in range(n):
            e = np.zeros(n)
            e[k] = 1e-6
            fd = (fun(z + e)[0] - fun(z - e)[0]) / 2e-6
            assert np.isclose(fd, grad[k], atol=1e-5)
        # the gradient is a hinge subgradient at the prox point: -y * a with a in [0, 1]
        a = -y * grad
        assert np.all(a >= -1e-12) and np.all(a <= 1 + 1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_prox_of_the_penalty(form):
    """prox_{tau R}(W) satisfies 0 in P - W + tau dR(P), checked group by group / entry by entry."""
    prog = _program(form)
    op = _Operator(prog)
    rng = np.random.default_rng(5)
    W = rng.standard_normal(op.shape)
    tau = 1.2
    P = op.prox(W, tau)
    if form == "gated":
        for i in range(W.shape[1]):
            w, p = W[:, i], P[:, i]
            if np.linalg.norm(p) > 0:
                assert np.allclose(W[:, i] - p, tau * p / np.linalg.norm(p))
            else:
                assert np.linalg.norm(w) <= tau
    else:
        nz = P != 0
        assert np.allclose((W - P)[nz], tau * np.sign(P[nz]))
        assert np.all(np.abs(W[~nz]) <= tau)


@pytest.mark.parametrize("loss", LOSSES)
def test_certified_gap_bounds_the_true_gap(loss):
    prog = _program("gated", loss, beta=0.2)
    oracle = solve_oracle(prog)
    res = fista(prog)
    op = _Operator(prog)
    assert res.objective - oracle.objective <= res.info["duality_gap"] + 1e-6 * max(1.0, abs(oracle.objective))
    # any point gives a valid lower bound (weak duality), e.g. the loss gradient at zero
    lam = get_loss(loss).gradient(np.zeros(prog.n), prog.y)  # a (sub)gradient: in the conjugate's domain
    assert _certified_dual(op, loss, lam, prog.y, prog.beta_value) <= oracle.objective + 1e-6


# -- behaviour -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("form,loss", [("gated", "squared"), ("scp", "logistic"), ("gated", "hinge"), ("scp", "hinge")])
def test_warm_start_reduces_iterations(form, loss):
    prog = _program(form, loss, beta=0.3)
    first = fista(prog)
    assert first.status == "optimal"
    prog.set_beta(0.33)  # a nearby problem: the previous solution is a good start
    cold = fista(prog)
    warm = fista(prog, warm_start=first)
    assert cold.status == warm.status == "optimal"
    assert warm.iterations < cold.iterations, (warm.iterations, cold.iterations)
    assert abs(warm.objective - cold.objective) <= 1e-4 * max(1.0, abs(cold.objective))
    # the optimum itself as start: accepted after very few iterations; also as a dict or an array
    again = fista(prog, warm_start={first.program.variable_names[0]: warm.weights[prog.variable_names[0]]})
    # (hinge: the multiplier is re-estimated from the warm point by bounded least squares)
    assert again.iterations <= max(30, cold.iterations // 3), (again.iterations, cold.iterations)
    arr = fista(prog, warm_start=warm.weights[prog.variable_names[0]])
    assert arr.status == "optimal"


def test_max_iter_tiny_gives_status_and_warning():
    prog = _program("gated", "logistic")
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        res = fista(prog, max_iter=3, working_set=False)
    assert res.status == "max_iter" and res.iterations == 3
    assert isinstance(res, SolveResult) and not res.converged
    assert np.all(np.isfinite(res.weights["U"]))
    # the best point seen is returned: never worse than the zero start
    zero = prog.objective(prog.zero_weights())
    assert res.objective <= zero
    with pytest.warns(ConvergenceWarning):
        res0 = fista(prog, max_iter=0)
    assert res0.iterations == 0 and np.all(res0.weights["U"] == 0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        resh = fista(_program("scp", "hinge"), max_iter=5)
    assert resh.status == "max_iter" and resh.iterations == 5


def test_time_limit():
    prog = _program("gated", "hinge", beta=1e-3, n=80, P=40)
    with pytest.warns(ConvergenceWarning, match="time_limit"):
        res = fista(prog, time_limit=0.05, tol_gap=1e-12, tol_rel=1e-14, tol_rel_hinge=1e-14)
    assert res.status == "time_limit"
    assert res.solve_time_s < 2.0


def test_history_and_info():
    prog = _program("scp", "squared")
    res = fista(prog)
    h = res.history
    for key in ("objective", "residual", "step", "time"):
        assert isinstance(h[key], np.ndarray) and h[key].shape == (res.iterations,)
    assert np.all(np.diff(h["time"]) >= 0) and np.all(h["step"] > 0)
    assert h["objective"][-1] <= h["objective"][0]
    for key in ("method", "stopped_by", "residual", "tolerance", "restarts", "backtracks", "gradient_evaluations",
                "lipschitz", "duality_gap", "rel_duality_gap", "dual_objective"):
        assert key in res.info
    if res.info["stopped_by"] == "residual":
        assert res.info["residual"] <= 1e-7
    else:
        assert res.info["stopped_by"] == "duality_gap" and res.info["rel_duality_gap"] <= 1e-6
    resh = fista(_program("gated", "hinge", beta=0.3))
    for key in ("outer_iteration", "primal_residual", "rho", "rel_duality_gap"):
        assert key in resh.history and len(resh.history[key]) == resh.info["outer_iterations"]
    assert resh.info["method"].startswith("augmented")
    res.to_dict()  # JSON-able run object


@pytest.mark.parametrize("restart", ["gradient", "function", "both", None])
def test_restart_variants_reach_the_optimum(restart):
    prog = _program("gated", "squared", beta=0.2, P=10)
    oracle = solve_oracle(prog)
    res = fista(prog, restart=restart, max_iter=50_000)
    assert res.status == "optimal"
    assert abs(res.objective - oracle.objective) <= 1e-5 * max(1.0, abs(oracle.objective))
    if restart is None:
        assert res.info["restarts"] == 0
    else:
        assert res.info["restarts"] > 0


def test_program_arrays_are_not_modified():
    for form, loss in (("gated", "logistic"), ("scp", "hinge")):
        prog = _program(form, loss)
        before = {k: getattr(prog, k).copy() for k in ("X", "y", "D", "F", "H") if getattr(prog, k, None) is not None}
        start = {prog.variable_names[0]: np.ones(prog.variables[prog.variable_names[0]].shape)}
        start_copy = start[prog.variable_names[0]].copy()
        fista(prog, warm_start=start)
        for k, v in before.items():
            assert np.array_equal(getattr(prog, k), v), k
        assert np.array_equal(start[prog.variable_names[0]], start_copy)


def test_verbose_goes_to_stderr(capsys):
    fista(_program("gated", "squared"), verbose=True, print_every=10)
    out, err = capsys.readouterr()
    assert out == "" and "fista: status optimal" in err


def test_registry_runs_fista():
    from solvers.registry import available_solvers, get_solver
    assert "fista" in available_solvers()
    run = get_solver("fista")
    res = run(_program("scp", "logistic"), tol=1e-8, max_iter=20_000)
    assert res.solver == "fista" and res.status == "optimal"


# -- input validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("options,match", [
    ({"tol_abs": -1.0}, "tol_abs"), ({"tol_rel": 0}, "tol_rel"), ({"tol_rel": float("nan")}, "tol_rel"),
    ({"tol_gap": "1e-3"}, "tol_gap"), ({"max_iter": 1.5}, "max_iter"), ({"max_iter": -1}, "max_iter"),
    ({"max_iter": True}, "max_iter"), ({"time_limit": 0.0}, "time_limit"), ({"restart": "sometimes"}, "restart"),
    ({"backtrack": 1.0}, "backtrack"), ({"shrink": 1.5}, "shrink"), ({"rho": -2}, "rho"),
    ({"lipschitz": 0}, "lipschitz"), ({"verbose": "yes"}, "verbose"), ({"print_every": 0}, "print_every"),
])
def test_bad_options_raise(options, match):
    with pytest.raises(ValueError, match=match):
        fista(_program("gated", "squared"), **options)


def test_options_are_the_settings_fields():
    """fista's keyword signature is FISTASettings (each option and its default written once) and warm_start;
    an unknown keyword is a TypeError naming fista, as Python words it for any function."""
    import dataclasses
    import inspect

    from solvers.fista import FISTASettings
    params = list(inspect.signature(fista).parameters.values())[1:]
    assert [(p.name, p.default) for p in params] == ([(f.name, f.default) for f in dataclasses.fields(FISTASettings)]
                                                     + [("warm_start", None)])
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    with pytest.raises(TypeError, match=r"^fista\(\) got an unexpected keyword argument 'tolerance'$"):
        fista(_program("gated", "squared"), tolerance=1e-6)


def test_bad_program_and_warm_start_raise():
    X, y = _data(20, 3, 0)
    relu = make_program("sampled", X, y, "squared", 0.1, n_patterns=5, seed=0)
    with pytest.raises(ValueError, match="admm"):
        fista(relu)
    with pytest.raises(ValueError, match="GatedReLUProgram or SCPProgram"):
        fista("not a program")
    prog = _program("gated", "squared")
    with pytest.raises(ValueError, match="shape"):
        fista(prog, warm_start={"U": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="missing"):
        fista(prog, warm_start={"theta": np.zeros(3)})
    with pytest.raises(ValueError, match="NaN"):
        fista(prog, warm_start={"U": np.full(prog.U.shape, np.nan)})
    with pytest.raises(ValueError, match="SolveResult without weights"):
        fista(prog, warm_start=SolveResult(prog, None, "diverged", "x"))


def test_benchmark_example_runs(tmp_path):
    """examples/benchmark_fista.py in a tiny configuration: table written, FISTA matches Clarabel."""
    import importlib.util
    import json
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "benchmark_fista.py"
    spec = importlib.util.spec_from_file_location("benchmark_fista_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--patterns", "10", "--losses", "logistic", "--no-scs",
                        "--out", str(tmp_path)]) == 0
    table = (tmp_path / "benchmark_fista.md").read_text()
    assert table.count("| breast_cancer |") == 2 and "skipped: --no-scs" in table
    rows = json.loads((tmp_path / "benchmark_fista.json").read_text())
    for row in rows:
        assert row["reference"] == "clarabel" and row["fista"]["status"] == "optimal"
        assert abs(row["fista"]["rel_gap"]) <= 1e-4 and row["fista"]["time_to_0.0001"] is not None
        assert 0.5 <= row["fista"]["test_accuracy"] <= 1.0


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("form", FORMS)
def test_zero_solution_found_immediately(form, loss):
    """beta above max_i R^*(A^T grad loss(0)): zero is optimal; FISTA returns exact zeros at once."""
    prog = _program(form, loss)
    op = _Operator(prog)
    g0 = op.AT(get_loss(loss).gradient(np.zeros(prog.n), prog.y))
    prog.set_beta(1.05 * op.dual_norm(g0))
    res = fista(prog)
    assert res.status == "optimal" and res.iterations <= 2
    assert np.all(res.weights[op.name] == 0.0)
    assert np.isclose(res.objective, get_loss(loss).value(np.zeros(prog.n), prog.y))
