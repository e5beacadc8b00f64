"""The CVXPY oracle: two independent solvers agree, programs are DPP, parameters re-solve without
recompiling, and the runner falls back and reports failures honestly.

Agreement tolerance (stated): |obj_SCS - obj_Clarabel| <= 1e-6 * max(1, |obj_Clarabel|) on every
program (exact / sampled / gated / scp / robust x squared / hinge / logistic); for the squared loss,
which is 1-strongly convex in the (unique) optimal predictions p*, 0.5 |p - p*|^2 <= f(p) - f* turns
that into a prediction tolerance 2 sqrt(2e-6 max(1, f*)).
"""
from __future__ import annotations

import numpy as np
import pytest
from cvxpy.reductions.chain import Chain

from conftest import LOSSES, labels_for
from formulations import FORMULATIONS, make_program
from solvers import solve_oracle
from solvers.oracle import check_cvxpy_solver, installed_solvers

AGREE_RTOL = 1e-6


def build(formulation, data, loss, **kw):
    if formulation == "robust":
        kw.setdefault("epsilon", 0.05)
    return make_program(formulation, data["X"], labels_for(loss, data), loss, data["beta"], n_patterns=20,
                        seed=0, bias=True, **kw)


@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_clarabel_and_scs_agree_and_programs_are_dpp(tiny_data, formulation, loss):
    prog = build(formulation, tiny_data, loss)
    assert prog.problem.is_dpp()
    a = solve_oracle(prog, "clarabel", fallback=None)
    b = solve_oracle(prog, "scs", fallback=None)
    assert (a.solver, b.solver) == ("clarabel", "scs")
    assert a.status == "optimal" and b.status in ("optimal", "optimal_inaccurate"), (a.status, b.status)
    assert abs(b.objective - a.objective) <= AGREE_RTOL * max(1.0, abs(a.objective)), (a.objective, b.objective)
    # the NumPy evaluator agrees with CVXPY's own value at the returned point (last solve: SCS)
    assert b.objective == pytest.approx(prog.problem.value, rel=1e-7)
    assert a.max_violation <= 1e-7 and b.max_violation <= 1e-7
    if loss == "squared":  # 1-strongly convex in the predictions: 0.5 |p - p*|^2 <= f(p) - f*
        atol = 2 * np.sqrt(2 * AGREE_RTOL * max(1.0, abs(a.objective)))
        np.testing.assert_allclose(b.predictions(), a.predictions(), rtol=0, atol=atol)


@pytest.fixture
def chain_applications(monkeypatch):
    """Counts full canonicalisations (the reduction chain's apply), which a DPP re-solve bypasses."""
    calls = []
    original = Chain.apply

    def counting(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Chain, "apply", counting)
    return calls


@pytest.mark.parametrize("formulation", ["exact", "sampled", "gated", "scp", "robust"])
def test_set_beta_resolves_without_recompiling(tiny_data, chain_applications, formulation):
    prog = build(formulation, tiny_data, "squared")
    first = solve_oracle(prog, "clarabel", fallback=None)
    assert len(chain_applications) >= 1  # the first solve compiles (so the counter works)
    chain_applications.clear()
    prog.set_beta(0.37)
    second = solve_oracle(prog, "clarabel", fallback=None)
    assert chain_applications == []  # no canonicalisation: the cached parametrised program was reused
    assert prog.beta_value == 0.37
    # and the new beta really is in the solve: it equals a program built with beta = 0.37
    fresh_data = dict(tiny_data, beta=0.37)
    fresh = solve_oracle(build(formulation, fresh_data, "squared"), "clarabel", fallback=None)
    assert second.objective == pytest.approx(fresh.objective, rel=AGREE_RTOL)
    assert second.objective != pytest.approx(first.objective, rel=1e-3)
    print(f"\n{formulation}: compile {first.compile_time_s:.4f}s first, {second.compile_time_s:.4f}s after set_beta")


def test_set_epsilon_resolves_without_recompiling(tiny_data, chain_applications):
    prog = build("robust", tiny_data, "hinge", epsilon=0.0)
    solve_oracle(prog, "clarabel", fallback=None)
    chain_applications.clear()
    prog.set_epsilon(0.1)
    second = solve_oracle(prog, "clarabel", fallback=None)
    assert chain_applications == []
    fresh = solve_oracle(build("robust", tiny_data, "hinge", epsilon=0.1), "clarabel", fallback=None)
    assert second.objective == pytest.approx(fresh.objective, rel=AGREE_RTOL)
    with pytest.raises(ValueError, match="epsilon"):
        prog.set_epsilon(-0.1)
    with pytest.raises(ValueError, match="beta"):
        prog.set_beta(0.0)
    assert prog.epsilon_value == 0.1 and prog.beta_value == tiny_data["beta"]  # unchanged by the refusals


def test_unknown_solver_is_refused_by_name(tiny_data):
    prog = build("sampled", tiny_data, "squared")
    with pytest.raises(ValueError, match=r"'nosuchsolver' is not installed; installed: .*clarabel"):
        solve_oracle(prog, "nosuchsolver")
    with pytest.raises(ValueError, match="not installed"):
        check_cvxpy_solver("nosuch")
    assert {"clarabel", "scs"} <= set(installed_solvers())


def test_failed_solve_falls_back_and_says_so(tiny_data):
    """OSQP cannot take second-order / exponential cones: the runner retries with SCS and records why."""
    if "osqp" not in installed_solvers():
        pytest.skip("OSQP not installed")
    prog = build("sampled", tiny_data, "logistic")
    res = solve_oracle(prog, "osqp")
    assert res.solver == "scs" and res.info["fallback_from"] == "osqp" and res.info["fallback_reason"]
    ref = solve_oracle(prog, "clarabel", fallback=None)
    assert res.objective == pytest.approx(ref.objective, rel=AGREE_RTOL)
    none = solve_oracle(prog, "osqp", fallback=None)
    assert none.weights is None and none.status == "solver_error" and np.isnan(none.objective)


def test_solve_is_one_entry_point_over_every_solver():
    """solvers.solve dispatches by name to the hand-written solvers and to CVXPY, and refuses what the
    capability table says a solver does not solve, or something that is not a program."""
    from formulations import make_program
    from solvers import solve
    from solvers.registry import CAPABILITIES, solvers_for

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 2)), rng.standard_normal(20)
    program = make_program("sampled", X, y, beta=0.5, n_patterns=4, seed=0)
    oracle = solve(program, "clarabel")
    mine = solve(program, "ipm")
    assert oracle.solver == "clarabel" and mine.solver == "ipm"
    assert abs(mine.objective - oracle.objective) <= 1e-6 * max(1.0, oracle.objective)
    gated = make_program("gated", X, y, beta=0.5, n_patterns=4, seed=0)
    with pytest.raises(ValueError, match="'ipm' does not solve the gated program.*fista"):
        solve(gated, "ipm")
    with pytest.raises(ValueError, match="program must be a cvxnn program"):
        solve({"X": X}, "admm")
    with pytest.raises(ValueError, match="unknown solver"):
        solve(program, "no_such_solver")
    assert solvers_for("sampled", "squared") == ["admm", "ipm", "working_set"]
    assert solvers_for("gated", "hinge") == ["fista", "working_set"]
    assert all(("robust", "hinge") in CAPABILITIES[n] for n in solvers_for("robust", "hinge"))


def test_auto_picks_a_solver_of_the_program_and_says_which():
    """solver="auto" (the default of solvers.solve) runs the registry's preferred solver for the program -
    the interior point on a small constrained squared program, the working set on the hinge and logistic
    ones, Newton on the gated and SCP smooth programs; past AUTO_MAX_N samples the interior point gives way
    to the working-set solver - names it in result.solver, and its answer agrees with Clarabel's."""
    from formulations import make_program
    from solvers import solve
    from solvers.registry import AUTO_MAX_N, auto_solver, solves

    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    y = rng.standard_normal(30)
    labels = np.where(y >= 0, 1.0, -1.0)
    cases = [("sampled", y, "squared", "ipm"), ("sampled", labels, "hinge", "working_set"),
             ("sampled", labels, "logistic", "working_set"), ("gated", y, "squared", "newton"),
             ("scp", labels, "logistic", "newton")]
    for formulation, target, loss, expected in cases:
        program = make_program(formulation, X, target, loss, beta=0.3, n_patterns=5, seed=0)
        chosen = auto_solver(program)
        assert chosen == expected and solves(chosen, formulation, loss)
        result = solve(program)
        assert result.solver == chosen and result.status == "optimal"
        oracle = solve(program, "scs" if chosen == "clarabel" else "clarabel")
        assert abs(result.objective - oracle.objective) <= 1e-5 * max(1.0, abs(oracle.objective))
    big = rng.standard_normal((max(AUTO_MAX_N.values()) + 1, 2))
    for loss, target in (("squared", big[:, 0]), ("hinge", np.where(big[:, 0] >= 0, 1.0, -1.0))):
        program = make_program("sampled", big, target, loss, beta=1.0, n_patterns=2, seed=0)
        assert auto_solver(program) == "working_set"
