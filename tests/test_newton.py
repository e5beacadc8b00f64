"""The working-set Newton solver (solvers/newton.py) for the gated and SCP programs: agreement with Clarabel
on the fixed and random batteries, the zero model's closed-form optimality, honest statuses when stopped
early, and option checks."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from formulations import make_program
from solvers import newton, solve_oracle
from solvers.battery import random_problem, reference_problems, run_battery, run_random_battery, zero_model_beta
from solvers.result import ConvergenceWarning

#: newton certifies a relative gap of 1e-6; Clarabel's own answer is accurate to about 1e-8
GAP_TOL = 2e-6
CASES = [(form, loss) for form in ("gated", "scp") for loss in ("squared", "logistic")]


def _battery(form, loss):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_battery(newton, reference_problems(form, loss), name="newton", gap_tol=GAP_TOL)


def _check_rows(report):
    assert report.passed, report.table()


@pytest.mark.parametrize("form", ["gated", "scp"])
def test_the_squared_battery_agrees_with_clarabel(form):
    _check_rows(_battery(form, "squared"))


@pytest.mark.slow
@pytest.mark.parametrize("form, loss", CASES)
def test_the_full_battery(form, loss):
    _check_rows(_battery(form, loss))


@pytest.mark.slow
@pytest.mark.parametrize("form, loss", CASES)
def test_the_random_battery(form, loss):
    runs = run_random_battery("newton", form, loss, count=30)
    failed = [run.line() for run in runs if run.failed]
    assert not failed, "\n".join(failed)
    for run in runs:
        if run.status == "optimal":
            assert abs(run.rel_gap) <= GAP_TOL, run.line()
    assert all(run.verdict in ("pass", "skipped", "oracle_beaten") for run in runs), \
        "\n".join(run.line() for run in runs)


def _gated(loss="squared", n=80, d=4, P=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n) if loss == "squared" else np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
    return make_program("gated", X, y, loss, 1.0, n_patterns=P, seed=seed)


@pytest.mark.filterwarnings("ignore::solvers.result.CollapsedNetworkWarning")  # the zero model, as intended
@pytest.mark.parametrize("form", ["gated", "scp"])
def test_above_beta_max_the_zero_model_is_certified_at_once(form):
    """For beta >= max_j |A_j^T grad l(0)| zero is optimal (the subgradient condition): the solver
    certifies it from the screen alone, with the dual bound equal to l(0)."""
    gated = _gated()
    program = gated if form == "gated" else make_program("scp", gated.X, gated.y, "squared", 1.0, n_patterns=20,
                                                         seed=0)
    program.set_beta(1.01 * zero_model_beta(program))
    result = newton(program)
    assert result.status == "optimal" and result.iterations == 0
    assert all(np.all(w == 0) for w in result.weights.values())
    assert result.info["dual_bound"] == pytest.approx(0.5 * float(program.y @ program.y), rel=1e-12)


def test_a_small_beta_instance_matches_clarabel_and_uses_the_kernel_form():
    """Small beta: every group active, d |A| > n, so the Newton systems are solved in the n x n kernel form."""
    program = _gated(n=60, d=5, P=30)
    program.set_beta(1e-4)
    optimum = solve_oracle(program, "clarabel").objective
    result = newton(program, initial_groups=30)
    assert result.status == "optimal" and result.info["duality_gap_rel"] <= 1e-6
    assert result.info["kernel_steps"] > 0
    assert abs(result.objective - optimum) <= GAP_TOL * max(1.0, abs(optimum))
    assert result.info["dual_bound"] <= optimum + 1e-8 * max(1.0, abs(optimum))


@pytest.mark.filterwarnings("ignore::solvers.result.CollapsedNetworkWarning")  # the zero model, as intended
@pytest.mark.parametrize("limit", [{"max_iter": 1}, {"time_limit": 1e-9}])
def test_stopped_early_the_status_says_so(limit):
    program = _gated("logistic")
    program.set_beta(1e-3 * zero_model_beta(program))
    with pytest.warns(ConvergenceWarning):
        result = newton(program, **limit)
    assert result.status == next(iter(limit))
    assert result.info["duality_gap_rel"] > 1e-6


@pytest.mark.parametrize("options", [{"tol_gap": 0.0}, {"max_iter": -1}, {"max_iter": 1.5}, {"time_limit": -1.0},
                                     {"verbose": "yes"}, {"initial_groups": 0},
                                     {"tol_rel": -1e-6}, {"blas_threads": 0}, {"blas_threads": 1.5}])
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError, match="newton option"):
        newton(_gated(), **options)


def test_the_blas_thread_setting_does_not_change_the_answer():
    """blas_threads only changes how the products are computed: one thread and no limit give the same
    optimum."""
    program = _gated()
    one, unlimited = newton(program), newton(program, blas_threads=None)
    assert one.status == unlimited.status == "optimal"
    assert abs(one.objective - unlimited.objective) <= 1e-6 * max(1.0, abs(unlimited.objective))


def test_the_hinge_loss_is_refused_before_any_work():
    with pytest.raises(ValueError, match="squared and logistic losses; got the 'hinge' loss"):
        newton(_gated("hinge"))


def test_constrained_programs_are_refused():
    rng = np.random.default_rng(0)
    program = make_program("sampled", rng.standard_normal((20, 2)), rng.standard_normal(20), "squared", 0.1,
                           n_patterns=5, seed=0)
    with pytest.raises(ValueError, match="gated and scp"):
        newton(program)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_the_lasso_with_collinear_features_matches_clarabel(loss):
    """SCP with every direction repeated (F = [F0, F0, F0]: the Gram matrix is singular) on a small X scale
    and a small beta: the lasso's optimum is unique in objective only; the solver must still certify it."""
    from formulations.scp import SCPProgram
    rng = np.random.default_rng(3)
    X = 1e-2 * rng.standard_normal((60, 3))
    y = rng.standard_normal(60) if loss == "squared" else np.where(rng.standard_normal(60) >= 0, 1.0, -1.0)
    H = np.tile(rng.standard_normal((3, 8)), 3)
    program = SCPProgram(X, y, H, loss, 1.0)
    program.set_beta(1e-3 * zero_model_beta(program))
    optimum = solve_oracle(program, "clarabel").objective
    result = newton(program)
    assert result.status == "optimal" and result.info["duality_gap_rel"] <= 1e-6
    assert abs(result.objective - optimum) <= GAP_TOL * max(1.0, abs(optimum))


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_a_nearly_collinear_lasso_is_solved_by_few_proximal_newton_steps(loss):
    """A random-battery instance (X scale 1e-1.8, beta = 1e-3.3 beta_max, 58 ReLU features of 7 inputs:
    nearly collinear) on which Newton on the lasso objective crawled to max_iter. On the squared loss the
    proximal Newton model is the objective itself, so each round's restricted program takes one step."""
    program = random_problem("scp", loss, 72124473).build()
    optimum = solve_oracle(program, "clarabel").objective
    result = newton(program)
    assert result.status == "optimal" and abs(result.objective - optimum) <= GAP_TOL * max(1.0, abs(optimum))
    if loss == "squared":
        assert result.info["newton_steps"] == result.info["rounds"]
    assert result.info["newton_steps"] <= 10
