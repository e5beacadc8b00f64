"""The oracle runner reports failures and falls back to SCS, saying which solver answered."""
import numpy as np
import pytest

from formulations import make_program
from solvers import solve_oracle


@pytest.fixture
def logistic_program():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((20, 2))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(20) > 0, 1.0, -1.0)
    return make_program("sampled", X, y, "logistic", 0.1, bias=True, n_patterns=10, seed=0)


def test_failed_clarabel_run_falls_back_to_scs(logistic_program):
    # one interior-point iteration cannot reach optimality: the runner must notice and retry with SCS
    result = solve_oracle(logistic_program, "clarabel", max_iter=1)
    assert result.solver == "scs"
    assert result.info["fallback_from"] == "clarabel"
    assert result.info["fallback_reason"].startswith("status")
    reference = solve_oracle(logistic_program, "clarabel")
    assert result.status == "optimal"
    assert result.objective == pytest.approx(reference.objective, rel=1e-6)


def test_failure_is_reported_without_fallback(logistic_program):
    result = solve_oracle(logistic_program, "clarabel", fallback=None, max_iter=1)
    assert result.solver == "clarabel"
    assert result.status not in ("optimal",)
    assert result.weights is None or result.status == "optimal_inaccurate"


def test_missing_solver_lists_installed(logistic_program):
    with pytest.raises(ValueError, match="not installed; installed: .*clarabel"):
        solve_oracle(logistic_program, "no_such_solver")


def test_result_keeps_describing_its_own_solve_after_set_beta(logistic_program):
    first = solve_oracle(logistic_program)
    objective, beta = first.objective, first.to_dict()["beta"]
    logistic_program.set_beta(2 * beta)
    second = solve_oracle(logistic_program)
    assert first.objective == objective and first.to_dict()["beta"] == beta
    assert second.to_dict()["beta"] == 2 * beta
    # the first point, re-evaluated at the new beta, cannot beat the new optimum
    assert logistic_program.objective(first.weights) >= second.objective - 1e-7


def test_a_time_limit_bounds_the_fallback_too(logistic_program, monkeypatch):
    """The first solver's time limit, under its own name, is the budget of both: SCS gets what Clarabel left
    (under SCS's name for it), and is not tried once nothing is left."""
    from solvers import oracle

    seen = []
    attempt = oracle._attempt

    def recording(program, name, verbose, options):
        seen.append((name, dict(options)))
        return attempt(program, name, verbose, options)

    monkeypatch.setattr(oracle, "_attempt", recording)
    result = solve_oracle(logistic_program, "clarabel", max_iter=1, time_limit=60.0)
    assert result.solver == "scs" and [name for name, _ in seen] == ["CLARABEL", "SCS"]
    left = seen[1][1]["time_limit_secs"]
    # 60 s less Clarabel's wall time, which is part of the total wall time of both attempts
    assert 60.0 - result.info["wall_time_s"] <= left < 60.0

    seen.clear()
    clock = iter([0.0, 100.0])  # the first attempt "takes" 100 s of a 60 s limit
    monkeypatch.setattr(oracle.time, "perf_counter", lambda: next(clock))
    result = solve_oracle(logistic_program, "clarabel", max_iter=1, time_limit=60.0)
    assert [name for name, _ in seen] == ["CLARABEL"] and result.solver == "clarabel"
    assert "used up" in result.info["fallback_skipped"] and result.status != "optimal"
