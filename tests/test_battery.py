"""The shared battery: every solver runs through the same reference problems against the oracle.

The per-solver tolerances live in ``solvers.battery.SOLVER_TOLERANCES``; optional solvers that are not
installed are skipped, not failed (the cvxpy convention).
"""
import numpy as np
import pytest

from solvers import solve_oracle
from solvers.battery import SOLVER_TOLERANCES, reference_problems, run_battery
from solvers.registry import available_solvers, get_solver


def _assert_passed(report):
    assert report.passed, "\n" + report.table()


def test_battery_known_optima_hold_for_the_oracle():
    """Zero-solution and rescaling optima are mathematical facts; the oracle must meet them."""
    problems = [p for p in reference_problems("relu", "squared") if p.known_optimum is not None]
    assert {p.name for p in problems} >= {"zero_solution", "X_scaled_0.01", "X_scaled_100"}
    _assert_passed(run_battery(lambda prog: solve_oracle(prog, "clarabel"), problems, name="clarabel"))


def test_battery_fails_a_wrong_solver():
    """A solver that returns the zero model must be caught (the battery can fail)."""
    def zero_solver(program):
        return program.zero_weights()
    problems = [p for p in reference_problems("relu", "squared") if p.name in ("gaussian_60x5", "zero_solution")]
    report = run_battery(zero_solver, problems, name="zero")
    by_name = {row.problem: row for row in report.rows}
    assert not by_name["gaussian_60x5"].passed and "gap" in by_name["gaussian_60x5"].reason
    assert by_name["zero_solution"].passed  # the zero model IS optimal there
    assert "FAIL" in report.table()


def test_battery_flags_cone_violations():
    """An infeasible point with a good objective must fail on the violation check."""
    def gated_point(program):
        # the unconstrained optimum ignores the cones: lower objective, but infeasible
        from formulations import GatedReLUProgram
        gated = GatedReLUProgram(program.X, program.y, program.D, program.loss, program.beta_value)
        U = solve_oracle(gated).weights["U"]
        return {"V": np.maximum(U, 0), "W": np.maximum(-U, 0)}
    problems = [p for p in reference_problems("relu", "squared") if p.name == "gaussian_60x5"]
    report = run_battery(gated_point, problems, name="gated_point", gap_tol=1.0)
    assert not report.passed and "violation" in report.rows[0].reason


HAND_WRITTEN = [name for name in ("admm", "ipm") if name in SOLVER_TOLERANCES]


@pytest.mark.parametrize("solver_name", HAND_WRITTEN)
def test_hand_written_solver_matches_oracle_on_battery(solver_name):
    if solver_name not in available_solvers():
        pytest.skip(f"{solver_name} is not installed")
    solver = get_solver(solver_name)
    report = run_battery(solver, reference_problems("relu", "squared"), name=solver_name)
    _assert_passed(report)
    for row in report.rows:
        assert row.prediction_error <= 1e-4, f"{row.problem}: predictions differ by {row.prediction_error:.1e}"
