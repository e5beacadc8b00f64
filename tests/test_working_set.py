"""The working-set solver (solvers/working_set.py): column generation over the patterns with an interior
point on the working set, certified on the full program; and the screened NNLS that prices a pattern."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import nnls

from formulations import make_program
from solvers import solve, solve_oracle, working_set
from solvers.battery import reference_problems, run_battery, zero_model_beta
from solvers.core.dual import cone_residual


@pytest.mark.parametrize("n", [40, 2000, 20000])
def test_cone_residual_is_the_full_nnls(n):
    """Rows of one pattern's cone (``s_k x_k`` with ``s = sign(X h)``: a pointed cone, so the residual is
    not 0) against scipy's NNLS on all n rows; with a target it stops early at a value between the true
    minimum and the target."""
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 12))
    rows = np.where(X @ rng.standard_normal(12) >= 0, 1.0, -1.0)[:, None] * X
    for scale in (1.0, 30.0):
        g = scale * rng.standard_normal(12)
        exact = nnls(rows.T, g, maxiter=50 * n)[1]
        assert cone_residual(rows, g) == pytest.approx(exact, rel=1e-9, abs=1e-9)
        target = exact + 0.5 * (np.linalg.norm(g) - exact)
        assert exact - 1e-9 <= cone_residual(rows, g, target=target) <= target + 1e-9


@pytest.mark.parametrize("formulation, loss", [pytest.param("relu", "squared", marks=pytest.mark.slow),
                                               ("relu", "hinge"), ("gated", "logistic"),
                                               pytest.param("robust", "hinge", marks=pytest.mark.slow)])
def test_the_battery_passes_at_the_interior_points_tolerance(formulation, loss):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_battery(working_set, reference_problems(formulation, loss), name="working_set")
    assert report.passed, report.table()


def _teacher_program(loss="squared", beta_fraction=0.2, n=300, P=60):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 5))
    y = np.maximum(X @ rng.standard_normal(5), 0.0) - np.maximum(X @ rng.standard_normal(5), 0.0)
    if loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    program = make_program("sampled", X, y, loss, 1.0, n_patterns=P, seed=0)
    program.set_beta(beta_fraction * zero_model_beta(program))
    return program


def test_a_sparse_optimum_is_found_from_a_few_patterns_and_certified():
    program = _teacher_program()
    optimum = solve_oracle(program).objective
    result = working_set(program)
    assert result.status == "optimal" and result.solver == "working_set"
    assert result.info["duality_gap_rel"] <= 1e-6 and result.info["dual_bound"] <= optimum + 1e-7 * optimum
    assert abs(result.objective - optimum) <= 1e-6 * optimum
    assert result.info["working_set_patterns"] < program.n_patterns   # the rest were only priced
    used = np.flatnonzero(np.linalg.norm(result.weights["V"], axis=0) + np.linalg.norm(result.weights["W"], axis=0))
    assert used.size <= result.info["working_set_patterns"]


@pytest.mark.parametrize("loss", ["squared", pytest.param("hinge", marks=pytest.mark.slow),
                                  pytest.param("logistic", marks=pytest.mark.slow)])
def test_wide_working_sets_are_solved_by_the_admm_and_priced_in_full(monkeypatch, loss):
    """Past ``IPM_MAX_NEWTON_SIZE`` (wide data) the working set's inner solver is the ADMM; its dual vector
    is feasible only to the ADMM's accuracy, so every pattern is priced, and the certificate holds on the
    full program against the oracle."""
    import importlib
    module = importlib.import_module("solvers.working_set")  # the package exports the function under this name
    monkeypatch.setattr(module, "IPM_MAX_NEWTON_SIZE", 1)
    assert module._inner_solver(loss, d=5, size=1) is module._admm_inner
    program = _teacher_program(loss, beta_fraction=0.3, n=200, P=30)
    optimum = solve_oracle(program).objective
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = working_set(program, tol_gap=1e-4)
    assert result.status == "optimal" and result.info["duality_gap_rel"] <= 1e-4
    assert result.info["dual_bound"] <= optimum + 1e-7 * abs(optimum)
    assert abs(result.objective - optimum) <= 1e-4 * abs(optimum)



def test_a_working_set_solved_by_the_admm_keeps_its_time_limit(monkeypatch):
    """The ADMM's round is given a limit that leaves room for its final projections, and its polish stops
    before a least-squares fallback that would end past the limit (here one of size 2273, seconds long)."""
    import importlib
    module = importlib.import_module("solvers.working_set")
    monkeypatch.setattr(module, "IPM_MAX_NEWTON_SIZE", 1)
    program = _teacher_program("hinge", beta_fraction=0.01, n=3000, P=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = working_set(program, tol_gap=1e-8, time_limit=3.0)
    assert result.status == "time_limit"
    assert result.solve_time_s <= 3.0 * 1.1


def test_a_round_is_not_cut_short_by_the_interior_points_step_limit(monkeypatch):
    """The rounds' interior points take up to INNER_MAX_ITER Newton steps (their own default of 100 left the
    hinge uncertified at n = 4000): the limit reaches the inner solver, and a round still certifies."""
    import importlib
    module = importlib.import_module("solvers.working_set")
    inner = importlib.import_module("solvers.ipm_dense").ipm_dense
    limits = []

    def recorded(program, **options):
        limits.append(options.get("max_iter"))
        return inner(program, **options)

    monkeypatch.setattr(module, "_inner_solver", lambda *args: recorded)
    program = _teacher_program("hinge", beta_fraction=0.3, n=200, P=30)
    result = working_set(program, tol_gap=1e-6)
    assert result.status == "optimal"
    assert limits and all(limit == module.INNER_MAX_ITER > 100 for limit in limits)


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_a_round_ends_once_its_early_pricing_finds_violators(monkeypatch, loss):
    """A round's interior point prices the other patterns once its gap on the set is below EARLY_PRICE_GAP
    and stops there when some pattern violates: fewer Newton steps, the same rounds, sets and certified
    optimum as rounds that run to their tolerance (EARLY_PRICE_GAP = 0: never)."""
    import importlib
    module = importlib.import_module("solvers.working_set")
    program = _teacher_program(loss, beta_fraction=0.05)
    optimum = solve_oracle(program).objective
    runs = []
    for level in (0.0, 1e-2):
        monkeypatch.setattr(module, "EARLY_PRICE_GAP", level)
        runs.append(working_set(program, tol_gap=1e-6))
    late, early = runs
    assert late.status == early.status == "optimal" and late.info["rounds"] == early.info["rounds"] >= 3
    assert np.array_equal(late.info["working_set"], early.info["working_set"])
    assert early.info["ipm_iterations"] < late.info["ipm_iterations"]
    for result in runs:
        assert result.info["dual_bound"] <= optimum + 1e-7 * abs(optimum)
        assert abs(result.objective - optimum) <= 1e-6 * abs(optimum)


def test_the_working_set_doubles_until_it_would_hold_half_of_the_patterns():
    """Patterns priced above NEAR_PRICE beta join, the most violating first, as many as the set holds (at least
    5); once that would bring the set past half of the patterns, every one of them joins."""
    import importlib
    module = importlib.import_module("solvers.working_set")
    beta, P = 1.0, 100
    outside = np.arange(40, 100)
    prices = np.linspace(0.5, 2.0, outside.size)[::-1]  # pattern 40 the most violating
    near = outside[prices > module.NEAR_PRICE * beta]
    assert np.array_equal(module._entering(outside, prices, 10, P, beta), outside[:10])
    assert np.array_equal(module._entering(outside, prices, 2, P, beta), outside[:5])
    assert np.array_equal(np.sort(module._entering(outside, prices, 40, P, beta)), near)  # 40 + 40 > 50
    few = np.where(outside < 43, prices, 0.1)  # three near beta: all join, whatever the size
    assert np.array_equal(module._entering(outside, few, 40, P, beta), outside[:3])
    assert np.array_equal(module._entering(outside, few, 10, P, beta), outside[:3])


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_the_interior_point_takes_working_sets_up_to_its_newton_size(loss):
    """Both interior points factorise a d |W| matrix (the dense one through its paired system), so every loss
    keeps the interior point up to ``d |W| = IPM_MAX_NEWTON_SIZE`` and goes to the ADMM past it."""
    import importlib
    module = importlib.import_module("solvers.working_set")
    d = 30
    largest = module.IPM_MAX_NEWTON_SIZE // d
    assert module._inner_solver(loss, d=d, size=largest) is not module._admm_inner
    assert module._inner_solver(loss, d=d, size=largest + 1) is module._admm_inner

def test_beyond_beta_max_the_zero_network_is_certified():
    program = _teacher_program(beta_fraction=1.5)
    with pytest.warns(UserWarning, match="zero network"):
        result = working_set(program)
    assert result.status == "optimal" and result.objective == pytest.approx(0.5 * np.sum(program.y ** 2))
    assert all(np.all(w == 0) for w in result.weights.values())


def test_the_round_limit_is_reported_honestly():
    program = _teacher_program(beta_fraction=0.01)
    with pytest.warns(UserWarning):
        result = working_set(program, initial_patterns=1, max_rounds=1)
    assert result.status == "max_iter" and result.iterations == 1
    bound = result.info["dual_bound"]
    assert bound is None or bound <= solve_oracle(program).objective * (1 + 1e-7)


def test_bad_requests_are_refused_with_the_reason():
    program = _teacher_program()
    with pytest.raises(ValueError, match="program must be a cvxnn program"):
        working_set({"X": program.X})
    scp = make_program("scp", program.X, program.y, "squared", 0.1, n_patterns=4, seed=0)
    with pytest.raises(ValueError, match="working_set solver solves"):
        working_set(scp)
    with pytest.raises(ValueError, match="max_rounds"):
        working_set(program, max_rounds=0)
    with pytest.raises(TypeError, match="no_such_option"):
        working_set(program, no_such_option=1)
    with pytest.raises(ValueError, match="memory"):
        solve(program, "working_set", max_memory=1000)
    assert solve(program, "working_set").status == "optimal"


@pytest.mark.slow
def test_a_subsample_gives_the_first_working_set():
    """With more samples than ``subsample_above``, the first working set comes from the same solver on a
    random half of that many rows (beta scaled): the run still certifies on the full program, and the
    subsample's patterns are a subset of the patterns in use or priced into the working set."""
    from solvers.working_set import subsample_patterns
    program = _teacher_program(n=600)
    optimum = solve_oracle(program).objective
    first = subsample_patterns(program, 150, seed=1)
    assert first.size >= 1 and np.all((0 <= first) & (first < program.n_patterns))
    result = working_set(program, subsample_above=300, seed=1)
    assert result.status == "optimal" and abs(result.objective - optimum) <= 1e-6 * optimum
    with pytest.raises(ValueError, match="subsample_above"):
        working_set(program, subsample_above=1)


def test_a_robust_program_whose_cones_all_collapsed_is_certified_at_zero():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), np.where(rng.standard_normal(30) > 0, 1.0, -1.0)
    program = make_program("robust", X, y, "hinge", 0.1, n_patterns=5, seed=0, epsilon=10.0)
    with pytest.warns(UserWarning):
        result = working_set(program)
    assert result.status == "optimal" and result.objective == pytest.approx(program.n)
    assert result.info["dual_bound"] == pytest.approx(program.n)
