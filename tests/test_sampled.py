"""Sampled, gated and SCP programs (docs/math.md sections 4 and 5) against the exact optimum and the algebra
of their recovered networks.

* the sampled program is a restriction: its optimum is >= the exact optimum, non-increasing along nested
  pattern samples, and equal to the exact optimum when handed every pattern (in any column order);
* its recovered ReLU network has the sampled objective as NC objective (a valid upper bound);
* the gated program is a relaxation of the constrained one on the same patterns (optimum <=), and its
  gated network reproduces the convex predictions and objective;
* the SCP network has EXACTLY the SCP objective (an identity valid at every theta), and, being a
  ReLU network, never beats the exact optimum.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import LOSSES, labels_for
from formulations import ReLUProgram, make_program, sample_patterns
from solvers import solve_oracle

SOLVER_RTOL = 1e-6


def solve(prog):
    res = solve_oracle(prog, "clarabel")
    assert res.status == "optimal", res.status
    return res


@pytest.mark.parametrize("loss", LOSSES)
def test_sampled_optimum_is_above_exact_and_decreases_with_nested_samples(gp_data, exact_solutions, ref, loss):
    exact_prog, exact_res = exact_solutions[loss]
    opt = exact_res.objective
    tol = SOLVER_RTOL * max(1.0, abs(opt))
    y = labels_for(loss, gp_data)
    values, prev_D = [], None
    for m in (4, 16, 64, 400):
        prog = make_program("sampled", gp_data["X"], y, loss, gp_data["beta"], n_patterns=m, seed=2024,
                            bias=True)
        np.testing.assert_array_equal(prog.X, exact_prog.X)
        if prev_D is not None:  # nested samples: the earlier patterns come first, unchanged
            np.testing.assert_array_equal(prog.D[:, :prev_D.shape[1]], prev_D)
        prev_D = prog.D
        res = solve(prog)
        values.append(res.objective)
        assert res.objective >= opt - tol
        # its recovered network is a valid network with (to solver tolerance) that objective
        net = res.network
        nc = ref.nc_objective(net.U, net.alpha, prog.X, prog.y, loss, prog.beta_value)
        assert nc == pytest.approx(res.objective, rel=SOLVER_RTOL)
        assert nc >= opt - tol
    assert all(b <= a + tol for a, b in zip(values, values[1:])), values
    assert values[0] > opt + 10 * tol  # four directions are not enough here: the restriction is felt


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_sampled_program_on_all_patterns_is_the_exact_program(exact_solutions, loss):
    exact_prog, exact_res = exact_solutions[loss]
    perm = np.random.default_rng(1).permutation(exact_prog.n_patterns)
    prog = ReLUProgram(exact_prog.X, exact_prog.y, exact_prog.D[:, perm], loss, exact_prog.beta_value)
    np.testing.assert_array_equal(prog.D, exact_prog.D[:, perm])  # used as given, no reordering
    assert solve(prog).objective == pytest.approx(exact_res.objective, rel=SOLVER_RTOL)


@pytest.mark.parametrize("loss", LOSSES)
def test_gated_relaxes_the_constrained_program_and_its_network_reproduces_it(gp_data, ref, loss):
    y = labels_for(loss, gp_data)
    X = np.hstack([gp_data["X"], np.ones((12, 1))])
    D, H = sample_patterns(X, 30, seed=5)
    gated = make_program("gated", gp_data["X"], y, loss, gp_data["beta"], D=D, H=H, bias=True)
    constrained = make_program("sampled", gp_data["X"], y, loss, gp_data["beta"], D=D, bias=True)
    np.testing.assert_array_equal(gated.D, D)
    g_res, c_res = solve(gated), solve(constrained)
    # dropping the cones can only lower the optimum (U = V - W is feasible with no larger penalty)
    assert g_res.objective <= c_res.objective + SOLVER_RTOL * max(1.0, c_res.objective)

    # at the solver point the split drops blocks below 1e-8 x the largest (solver noise): solver
    # tolerance; at a random point no block is dropped and the identity holds to rounding
    random_U = np.random.default_rng(0).standard_normal((3, D.shape[1]))
    for U, rtol in ((g_res.weights["U"], SOLVER_RTOL), (random_U, 1e-12)):
        weights = {"U": U}
        pred = ref.convex_predictions(X, D, U, np.zeros_like(U))
        obj = ref.loss(pred, gated.y, loss) + gated.beta_value * ref.group_penalty(U)
        assert gated.objective(weights) == pytest.approx(obj, rel=1e-12)
        net = gated.network(weights)
        # gates from the kept directions reproduce the training patterns and the convex predictions
        np.testing.assert_allclose(net.predict(X), pred, rtol=0, atol=rtol * max(1.0, np.abs(pred).max()))
        assert gated.network_objective(weights) == pytest.approx(obj, rel=rtol)


@pytest.mark.parametrize("loss", LOSSES)
def test_scp_network_objective_is_exactly_the_scp_objective(gp_data, exact_solutions, ref, loss):
    y = labels_for(loss, gp_data)
    prog = make_program("scp", gp_data["X"], y, loss, gp_data["beta"], n_patterns=40, seed=8, bias=True)
    res = solve(prog)
    Hn = prog.H / np.linalg.norm(prog.H, axis=0)
    np.testing.assert_allclose(np.linalg.norm(prog.H, axis=0), 1.0)
    rng = np.random.default_rng(3)
    for theta in (res.weights["theta"], rng.standard_normal(prog.n_patterns)):
        pred = np.maximum(0.0, prog.X @ Hn) @ theta
        obj = ref.loss(pred, prog.y, loss) + prog.beta_value * np.abs(theta).sum()
        assert prog.objective({"theta": theta}) == pytest.approx(obj, rel=1e-12)
        net = prog.network({"theta": theta}, rel_tol=0.0)  # every feature kept: the identity is exact
        nc = ref.nc_objective(net.U, net.alpha, prog.X, prog.y, loss, prog.beta_value)
        assert nc == pytest.approx(obj, rel=1e-12)
        # the reported network drops the noise features (sizes adding up to NEURON_TOL of max |y|)
        pruned = prog.network({"theta": theta})
        pruned_nc = ref.nc_objective(pruned.U, pruned.alpha, prog.X, prog.y, loss, prog.beta_value)
        assert prog.network_objective({"theta": theta}) == pytest.approx(pruned_nc, rel=1e-12)
        kept = prog.significant_weights({"theta": theta})  # the same identity, for the features kept
        assert pruned_nc == pytest.approx(prog.objective(kept), rel=1e-12)
        assert pruned_nc <= obj * (1 + 1e-6)  # noise features move the objective by at most ~NEURON_TOL
    # a network with the first layer frozen is still a network: never below the global optimum
    opt = exact_solutions[loss][1].objective
    assert res.objective >= opt - SOLVER_RTOL * max(1.0, opt)
