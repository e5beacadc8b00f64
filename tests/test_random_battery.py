"""The randomised battery (solvers.battery): random instances of every (solver, formulation, loss) of the
registry, each judged against Clarabel.

A run passes when it is within the solver's tolerance of Clarabel's optimum, or when it honestly ends
non-optimal with any reported dual bound below the optimum; a run that says ``optimal`` outside the
tolerance, or reports a dual bound above the optimum, fails. The default run solves two fixed small
instances per case (their seeds below); ``pytest -m slow`` judges 30 per case (more are drawn where
Clarabel fails; ``CVXNN_RANDOM_COUNT`` changes the count) and names the seed of every failure, which
``random_problem(formulation, loss, seed)`` rebuilds.
"""
import dataclasses
import os

import numpy as np
import pytest

import solvers.battery as battery
from formulations.losses import LOSSES
from solvers import solve_oracle
from solvers.battery import (RANDOM_LIMITS, SMALL_RANDOM_LIMITS, RandomSpec, format_random_report, random_cases,
                             random_problem, random_problems, random_seeds, random_verdict,
                             reported_dual_bound, run_random_battery, run_random_instance, zero_model_beta)
from solvers.result import SolveResult

#: two small instances per case (SMALL_RANDOM_LIMITS), chosen among random_seeds(6, 15) as the fastest
#: (seed 1487655053 of the exact hinge and logistic programs has the zero model as its optimum)
FAST_SEEDS = {
    ("admm", "exact", "squared"): (1999787903, 1487655053),
    ("admm", "exact", "hinge"): (1487655053, 1751953905),
    ("admm", "exact", "logistic"): (1487655053, 1751953905),
    ("admm", "sampled", "squared"): (739607880, 519074008),
    ("admm", "sampled", "hinge"): (739607880, 1999787903),
    ("admm", "sampled", "logistic"): (1751953905, 1999787903),
    ("admm", "robust", "hinge"): (739607880, 1751953905),
    ("fista", "gated", "squared"): (739607880, 1751953905),
    ("fista", "gated", "hinge"): (1751953905, 739607880),
    ("fista", "gated", "logistic"): (1751953905, 739607880),
    ("fista", "scp", "squared"): (1999787903, 1751953905),
    ("fista", "scp", "hinge"): (1751953905, 1487655053),
    ("fista", "scp", "logistic"): (1751953905, 1999787903),
    ("newton", "gated", "squared"): (1515174459, 1751953905),
    ("newton", "gated", "logistic"): (1515174459, 1487655053),
    ("newton", "scp", "squared"): (1751953905, 739607880),
    ("newton", "scp", "logistic"): (1515174459, 1751953905),
    ("ipm", "exact", "squared"): (1999787903, 1487655053),
    ("ipm", "sampled", "squared"): (1751953905, 739607880),
    ("working_set", "exact", "squared"): (1999787903, 1487655053),
    ("working_set", "exact", "hinge"): (1487655053, 1751953905),
    ("working_set", "exact", "logistic"): (1487655053, 1751953905),
    ("working_set", "sampled", "squared"): (739607880, 519074008),
    ("working_set", "sampled", "hinge"): (739607880, 1999787903),
    ("working_set", "sampled", "logistic"): (1751953905, 1999787903),
    ("working_set", "robust", "hinge"): (739607880, 1751953905),
    ("working_set", "robust", "squared"): (1999787903, 739607880),
    ("working_set", "robust", "logistic"): (1515174459, 1751953905),
    ("working_set", "gated", "hinge"): (1751953905, 739607880),
    ("working_set", "gated", "logistic"): (1751953905, 739607880),
    **{("ipm_robust_gated", form, loss): (739607880, 1751953905) for form in ("robust_gated", "robust_scp")
       for loss in LOSSES},
}
SLOW_COUNT = int(os.environ.get("CVXNN_RANDOM_COUNT", "30"))
SMALL_SEED = 739607880  # a small sampled instance for the judge's own tests


def _case_id(case):
    return "-".join(case)


def _assert_no_failures(runs):
    failures = [run for run in runs if run.failed]
    if failures:
        pytest.fail(f"{len(failures)} of {len(runs)} random instances failed (rebuild one with "
                    f"random_problem(formulation, loss, seed)):\n" + "\n".join(run.line() for run in failures))


# -- the instances ------------------------------------------------------------------------------------------
def test_the_cases_are_the_registry_capabilities():
    from solvers.registry import CAPABILITIES
    assert {(n, f, l) for n, caps in CAPABILITIES.items() for f, l in caps} == set(random_cases())
    assert set(FAST_SEEDS) == set(random_cases())
    assert ("admm", "exact", "squared") not in random_cases(include_exact=False)


def test_an_instance_is_rebuilt_from_its_seed():
    first, again = random_problem("robust", "hinge", 12345), random_problem("robust", "hinge", 12345)
    assert "12345" in first.name and "seed 12345" in first.description
    a, b = first.build(), again.build()
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y) and np.array_equal(a.D, b.D)
    assert a.beta_value == b.beta_value and a.epsilon.value == b.epsilon.value
    other = random_problem("robust", "hinge", 12346).build()
    assert a.X.shape != other.X.shape or not np.array_equal(a.X, other.X)
    names = [p.name for p in random_problems("gated", "logistic", 4, seed=3)]
    assert names == [f"random_gated_logistic_seed{s}" for s in random_seeds(4, 3)]


def test_the_draws_cover_their_ranges():
    specs = [RandomSpec.draw("sampled", "squared", s) for s in random_seeds(300, 1)]
    for key in ("n", "d", "patterns"):
        values = [getattr(spec, key) for spec in specs]
        low, high = RANDOM_LIMITS[key]
        assert low <= min(values) and max(values) <= high and max(values) - min(values) > 0.8 * (high - low)
    for key in ("beta_exponent", "scale_exponent"):
        values = [getattr(spec, key) for spec in specs]
        low, high = RANDOM_LIMITS[key]
        assert low <= min(values) < low + 0.2 and high - 0.2 < max(values) <= high
    assert {spec.bias for spec in specs} == {False, True}
    assert {spec.labels for spec in specs} == {"random", "teacher"}
    exact = [RandomSpec.draw("exact", "hinge", s, SMALL_RANDOM_LIMITS) for s in random_seeds(50, 2)]
    assert max(spec.n for spec in exact) <= 24 and {spec.d for spec in exact} == {2}


def test_labels_data_scale_and_radius():
    spec = RandomSpec.draw("robust", "hinge", 5, SMALL_RANDOM_LIMITS)
    for labels in ("random", "teacher"):
        classed = dataclasses.replace(spec, labels=labels)
        program = classed.build()
        assert set(np.unique(program.y)) == {-1.0, 1.0}
        scale = 10.0 ** classed.scale_exponent
        assert np.isclose(program.epsilon.value, classed.epsilon_fraction * scale)
    # teacher labels of the squared loss come from the scaled X: they scale with it
    base = dataclasses.replace(RandomSpec.draw("sampled", "squared", 8, SMALL_RANDOM_LIMITS), labels="teacher",
                               bias=True)
    X1, y1 = dataclasses.replace(base, scale_exponent=0.0).data()
    X2, y2 = dataclasses.replace(base, scale_exponent=1.5).data()
    assert np.allclose(X2, 10 ** 1.5 * X1) and np.allclose(y2, 10 ** 1.5 * y1)
    program = dataclasses.replace(base, scale_exponent=1.5).build()  # the bias column is ones, not scaled
    assert np.allclose(program.X[:, -1], 1.0) and np.allclose(program.X[:, :-1], X2)


@pytest.mark.filterwarnings("ignore::solvers.result.CollapsedNetworkWarning")
@pytest.mark.parametrize("formulation", ["sampled", "gated", "scp"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_beta_max_is_the_zero_model_bound(formulation, loss):
    """Just above beta_max the zero model is optimal; for the gated and scp programs the bound is tight, so
    just below it the optimum is lower."""
    spec = RandomSpec.draw(formulation, loss, 21, SMALL_RANDOM_LIMITS)
    above = dataclasses.replace(spec, beta_exponent=0.005).build()
    at_zero = above.objective(above.zero_weights())
    assert np.isclose(above.beta_value, 10 ** 0.005 * zero_model_beta(above))
    assert solve_oracle(above).objective == pytest.approx(at_zero, rel=1e-6, abs=1e-9)
    if formulation != "sampled":
        below = dataclasses.replace(spec, beta_exponent=-0.05).build()
        assert solve_oracle(below).objective < below.objective(below.zero_weights()) - 1e-9


# -- the judge: it must catch wrong solvers ------------------------------------------------------------------
def _small_problem():
    return random_problem("sampled", "squared", SMALL_SEED, SMALL_RANDOM_LIMITS)


def _faked(status, scale=1.0, dual_bound=None):
    """A solver that returns Clarabel's point scaled by ``scale`` with the given status and dual bound."""
    def solver(program):
        weights = {k: scale * v for k, v in solve_oracle(program).weights.items()}
        info = {} if dual_bound is None else {"dual_bound": dual_bound(program)}
        return SolveResult(program=program, weights=weights, status=status, solver="fake", info=info)
    return solver


def test_the_judge_passes_the_oracle_itself():
    run = run_random_instance(_small_problem(), "ipm", solver=_faked("optimal"))
    assert run.verdict == "pass" and not run.failed and abs(run.rel_gap) < 1e-9


def test_the_judge_fails_a_wrong_optimal_claim():
    run = run_random_instance(_small_problem(), "admm", solver=_faked("optimal", scale=1.05))
    assert run.failed and "status optimal but gap" in run.reason
    assert f"seed {SMALL_SEED}" in run.line()
    with pytest.raises(pytest.fail.Exception, match=f"seed {SMALL_SEED}"):
        _assert_no_failures([run])


def test_the_judge_accepts_an_honest_stop_and_fails_a_false_bound():
    honest = run_random_instance(_small_problem(), "admm", solver=_faked(
        "max_iter", scale=1.05, dual_bound=lambda p: solve_oracle(p).objective - 1.0))
    assert honest.verdict == "honest" and not honest.failed and honest.bound_excess < 0
    false_bound = run_random_instance(_small_problem(), "admm", solver=_faked(
        "max_iter", scale=1.05, dual_bound=lambda p: 1.01 * solve_oracle(p).objective + 1e-3))
    assert false_bound.failed and "dual bound above the optimum" in false_bound.reason
    # a false bound fails even when the point itself is within the tolerance
    assert run_random_instance(_small_problem(), "admm", solver=_faked(
        "optimal", dual_bound=lambda p: solve_oracle(p).objective + 1e-3)).failed
    unbounded = run_random_instance(_small_problem(), "admm", solver=_faked("time_limit", scale=0.0))
    assert unbounded.verdict == "honest" and "no dual bound" in unbounded.reason


def test_the_judge_fails_a_solver_that_raises_or_is_infeasible():
    def raises(program):
        raise RuntimeError("boom")
    run = run_random_instance(_small_problem(), "admm", solver=raises)
    assert run.failed and "RuntimeError: boom" in run.reason

    def infeasible(program):  # the gated optimum: low objective, outside the cones
        from formulations import GatedReLUProgram
        U = solve_oracle(GatedReLUProgram(program.X, program.y, program.D, "squared", program.beta_value)).weights["U"]
        return SolveResult(program=program, weights={"V": U, "W": np.zeros_like(U)}, status="optimal", solver="fake")
    run = run_random_instance(_small_problem(), "admm", solver=infeasible)
    assert run.failed and "violation" in run.reason


def test_an_instance_clarabel_does_not_solve_is_skipped(monkeypatch):
    def not_optimal(program, *args, **kwargs):
        return SolveResult(program=program, weights=None, status="solver_error", solver="clarabel")
    monkeypatch.setattr(battery, "solve_oracle", not_optimal)
    run = run_random_instance(_small_problem(), "admm", solver=_faked("optimal", scale=2.0))
    assert run.verdict == "skipped" and not run.failed and "clarabel status solver_error" in run.reason


def test_scs_judges_when_clarabel_fails_but_never_itself(monkeypatch):
    calls = []

    def clarabel_inaccurate(program, solver="clarabel", *, fallback="scs", **options):
        calls.append(solver)
        if solver == "clarabel":  # an answer, but not an optimal one: it must not judge
            result = solve_oracle(program, "clarabel")
            result.status = "optimal_inaccurate"
            return result
        return solve_oracle(program, solver, fallback=None)
    monkeypatch.setattr(battery, "solve_oracle", clarabel_inaccurate)
    run = run_random_instance(_small_problem(), "admm", solver=_faked("optimal"))
    assert calls == ["clarabel", "scs"]
    assert run.oracle == "scs" and run.verdict == "pass" and "vs scs" in run.line()
    assert "by scs" in format_random_report([run])
    run = run_random_instance(_small_problem(), "scs", solver=_faked("optimal"))
    assert calls[2:] == ["clarabel"] and run.verdict == "skipped"


def test_a_false_certificate_is_confirmed_at_tight_tolerances(monkeypatch):
    """Clarabel's default answer can lie below the optimum by more than the slack; a bound above it fails
    only if Clarabel at tight tolerances agrees."""
    calls = []

    def loose_then_tight(program, solver="clarabel", *, fallback="scs", **options):
        calls.append(bool(options))
        result = solve_oracle(program, solver, fallback=None)
        if not options:  # the default solve: 3e-6 below the optimum, as a slightly infeasible answer can be
            result._objective *= 1.0 - 3e-6
        return result
    monkeypatch.setattr(battery, "solve_oracle", loose_then_tight)
    exact_bound = _faked("optimal", dual_bound=lambda p: solve_oracle(p).objective)
    run = run_random_instance(_small_problem(), "admm", solver=exact_bound)
    assert calls == [False, True] and run.verdict == "pass" and not run.failed
    false_bound = _faked("optimal", dual_bound=lambda p: solve_oracle(p).objective * (1 + 1e-3) + 1e-3)
    run = run_random_instance(_small_problem(), "admm", solver=false_bound)
    assert run.failed and "tight tolerances" in run.reason


def test_a_feasible_point_below_clarabel_leaves_the_instance_out(monkeypatch):
    """Clarabel can say optimal and be wrong (it happens on exponential-cone programs): a feasible point
    with a lower objective proves it, and the instance is not held against the solver."""
    def worse_oracle(program, *args, **kwargs):
        weights = {k: 0.5 * v for k, v in solve_oracle(program).weights.items()}
        return SolveResult(program=program, weights=weights, status="optimal", solver="clarabel")
    monkeypatch.setattr(battery, "solve_oracle", worse_oracle)
    run = run_random_instance(_small_problem(), "admm", solver=_faked("optimal"))
    assert run.verdict == "oracle_beaten" and not run.failed and run.rel_gap < -1e-5
    assert "beaten" in format_random_report([run])


def test_more_instances_are_drawn_until_enough_are_judged(monkeypatch):
    fast = dict(SMALL_RANDOM_LIMITS, n=(30, 40))
    runs = run_random_battery("fista", "scp", "squared", count=1, seed=5, min_judged=2, limits=fast)
    assert [run.seed for run in runs] == random_seeds(2, 5) and all(run.verdict == "pass" for run in runs)

    def never_optimal(program, *args, **kwargs):
        return SolveResult(program=program, weights=None, status="solver_error", solver="clarabel")
    monkeypatch.setattr(battery, "solve_oracle", never_optimal)
    runs = run_random_battery("fista", "scp", "squared", count=1, seed=5, min_judged=2, limits=fast)
    assert len(runs) == 6 and all(run.verdict == "skipped" for run in runs)  # at most 3x as many


def test_the_verdict_rules():
    tolerance = {"gap": 1e-4, "violation": 1e-6}
    assert random_verdict("max_iter", 5e-5, 0.0, None, tolerance) == ("pass", "")
    assert random_verdict("optimal", 2e-4, 0.0, -1e-3, tolerance)[0] == "FAIL"
    assert random_verdict("optimal", 0.0, 1e-5, None, tolerance)[0] == "FAIL"
    assert random_verdict("optimal", -1e-3, 1e-5, None, tolerance)[0] == "FAIL"  # lower, but infeasible
    assert random_verdict("optimal", -1e-3, 0.0, None, tolerance)[0] == "oracle_beaten"
    assert random_verdict("max_iter", 1e-2, 0.0, -1e-2, tolerance)[0] == "honest"
    assert random_verdict("max_iter", 1e-2, 0.0, 1e-5, tolerance)[0] == "FAIL"
    assert random_verdict("optimal", 0.0, 0.0, 1e-5, tolerance)[0] == "FAIL"


def test_the_dual_bound_each_solver_reports():
    program = _small_problem().build()
    weights = program.zero_weights()

    def result(info):
        return SolveResult(program=program, weights=weights, status="max_iter", solver="x", info=info)
    assert reported_dual_bound(result({"dual_bound": 2.0, "dual_objective": 3.0})) == 2.0  # admm, ipm
    assert reported_dual_bound(result({"dual_objective": 3.0})) == 3.0  # fista
    assert reported_dual_bound(result({"dual_bound": -np.inf})) is None
    robust = {"polish_certified_gap": 0.25, "candidates": {"polished": {"objective": 8.0, "violation": 0.0}}}
    assert reported_dual_bound(result(robust)) == pytest.approx(6.0)  # 8 - 0.25 * max(1, 8)
    assert reported_dual_bound(result({})) is None


def test_the_report_names_every_failure_and_the_cli_runs(capsys):
    runs = run_random_battery("admm", "sampled", "squared", count=2, seed=4, solver=_faked("optimal", scale=1.1),
                              limits=SMALL_RANDOM_LIMITS)
    table = format_random_report(runs)
    assert "admm   sampled     squared      2      2/2      0/2" in table
    assert all(f"seed {run.seed}" in table for run in runs) and "failures (2):" in table
    assert battery._main(["--random", "--count", "1", "--solver", "fista", "--formulation", "scp",
                          "--loss", "squared", "--seed", "2"]) == 0
    assert "fista  scp         squared      1      1/1      1/1" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        battery._main(["--count", "1"])


# -- the hand-written solvers on random instances ------------------------------------------------------------
@pytest.mark.parametrize("case", list(FAST_SEEDS), ids=_case_id)
def test_random_instances_fast(case):
    name, formulation, loss = case
    _assert_no_failures([run_random_instance(random_problem(formulation, loss, seed, SMALL_RANDOM_LIMITS), name)
                         for seed in FAST_SEEDS[case]])


@pytest.mark.slow
@pytest.mark.parametrize("case", random_cases(), ids=_case_id)
def test_random_instances(case):
    name, formulation, loss = case
    _assert_no_failures(run_random_battery(name, formulation, loss, count=SLOW_COUNT, seed=0, min_judged=SLOW_COUNT))
