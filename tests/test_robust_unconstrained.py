"""The robust gated and robust random-feature programs with fixed gates (formulations.robust_unconstrained)
and their interior point (solvers.ipm_robust_gated): the closed-form worst-case losses against brute force
over the vertices of the box, CVXPY's value against the NumPy evaluator, the solver against Clarabel, the
dual bound's soundness, the registry and the command line."""
import itertools
import warnings

import numpy as np
import pytest

from formulations import GatedReLUNetwork, ReLUNetwork, make_program
from solvers.ipm_robust_gated import fixed_gate_dual_bound, ipm_robust_gated
from solvers.oracle import solve_oracle
from solvers.registry import auto_solver, solve

FORMS = ("robust_gated", "robust_scp")
LOSSES = ("hinge", "logistic", "squared")
AGREE_RTOL = 1e-4


def instance(form, loss, eps=0.1, n=24, d=3, patterns=5, seed=0, beta=0.5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sign(X[:, 0] + 0.5 * rng.standard_normal(n)) if loss != "squared" else X[:, 1] + 0.3 * rng.standard_normal(n)
    return make_program(form, X, y, loss, beta, n_patterns=patterns, seed=seed + 1, epsilon=eps, bias=True)


def fixed_gate_outputs(program, weights, Z):
    """Outputs at the rows of Z of the model with the gates / activations of the CLEAN points X (row k of Z
    uses the gates of x_k), written from the definitions, not from the program's slopes."""
    if program.formulation == "robust_gated":
        return np.sum(program.D * (Z @ weights["U"]), axis=1)
    active = (program.X @ program.H >= 0).astype(float)
    return (active * (Z @ program.H)) @ weights["theta"]


def brute_force_worst_loss(program, weights):
    """max over the 2^d' vertices of the box of the per-sample loss of the fixed-gate model (the model is
    affine in the perturbation, the loss convex, so the maximum over the box is at a vertex)."""
    mask, eps = program.perturbed_mask, program.epsilon_value
    worst = np.full(program.n, -np.inf)
    for signs in itertools.product((-1.0, 1.0), repeat=int(mask.sum())):
        delta = np.zeros(program.d)
        delta[mask] = eps * np.asarray(signs)
        out = fixed_gate_outputs(program, weights, program.X + delta[None, :])
        worst = np.maximum(worst, program.loss.per_sample(out, program.y))
    return float(worst.sum())


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_closed_form_is_the_vertex_maximum_and_cvxpy_agrees(form, loss):
    program = instance(form, loss, eps=0.15, d=4)
    rng = np.random.default_rng(7)
    for _ in range(3):
        weights = {name: rng.standard_normal(var.shape) for name, var in program.variables.items()}
        assert program.loss_value(weights) == pytest.approx(brute_force_worst_loss(program, weights), rel=1e-12)
        for name, var in program.variables.items():
            var.value = weights[name]
        assert program.problem.objective.value == pytest.approx(program.objective(weights), rel=1e-12)


@pytest.mark.parametrize("form,loss", [("robust_gated", "hinge"), ("robust_scp", "logistic"),
                                       ("robust_gated", "squared")])
def test_interior_point_agrees_with_clarabel(form, loss):
    program = instance(form, loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ipm_robust_gated(program)
    oracle = solve_oracle(program, "clarabel")
    check_honest_run(result, oracle)


def check_honest_run(result, oracle):
    """Within 1e-4 of Clarabel's optimum; the reported bound below it (to Clarabel's accuracy); ``optimal``
    only with a certified gap within tol_gap (the status is never better than the certificate)."""
    scale = max(1.0, abs(oracle.objective))
    assert abs(result.objective - oracle.objective) <= AGREE_RTOL * scale
    assert result.info["dual_bound"] <= oracle.objective + 1e-7 * scale
    assert result.info["certified"] == (result.status == "optimal")
    if result.status == "optimal":
        assert result.info["duality_gap_rel"] <= 1e-7
    else:
        assert result.status in ("optimal_inaccurate", "max_iter")


@pytest.mark.slow
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3])
def test_interior_point_agrees_with_clarabel_everywhere(form, loss, eps):
    program = instance(form, loss, eps=eps, n=60, d=5, patterns=8, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ipm_robust_gated(program)
    check_honest_run(result, solve_oracle(program, "clarabel"))


@pytest.mark.parametrize("loss", LOSSES)
def test_dual_bound_is_sound_at_arbitrary_dual_points(loss):
    program = instance("robust_gated", loss, n=16)
    optimum = solve_oracle(program, "clarabel").objective
    rng = np.random.default_rng(1)
    for _ in range(20):
        nu, q, U = rng.standard_normal(program.n), rng.uniform(0, 2, program.n), rng.uniform(-2, 2, (program.n, program.d))
        bound, t = fixed_gate_dual_bound(program, nu, q, U)
        assert 0.0 <= t <= 1.0 and bound <= optimum + 1e-7 * max(1.0, abs(optimum))


def test_networks_registry_and_input_checks():
    gated, scp = instance("robust_gated", "hinge"), instance("robust_scp", "hinge")
    assert auto_solver(gated) == "clarabel"  # measured as fast as the interior point here, and more reliable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = solve(gated, "ipm_robust_gated")
    assert result.solver == "ipm_robust_gated"
    assert isinstance(result.network, GatedReLUNetwork)
    assert isinstance(scp.network(scp.zero_weights()), ReLUNetwork)
    # the network objective is this program's objective at the kept neurons
    assert result.network_objective == pytest.approx(result.objective, rel=1e-5)
    with pytest.raises(ValueError, match="epsilon must be a finite number >= 0"):
        instance("robust_gated", "hinge", eps=-0.1)
    with pytest.raises(ValueError, match="epsilon applies to the robust formulations only"):
        make_program("gated", gated.X[:, :-1], gated.y, "hinge", epsilon=0.1)
    with pytest.raises(ValueError, match="ipm_robust_gated solves the robust_gated and robust_scp programs"):
        ipm_robust_gated(make_program("gated", gated.X, gated.y, "hinge"))
    with pytest.raises(ValueError, match="does not solve the robust_gated program"):
        solve(gated, "fista")


def test_command_line_solves_the_robust_gated_program(capsys):
    from solvers.interface.cli import main
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["solve", "--data", "moons", "--formulation", "robust_gated", "--epsilon", "0.05",
                     "--loss", "hinge", "--patterns", "4", "--bias", "--json", "-"])
    out = capsys.readouterr().out
    assert code == 0 and '"formulation": "robust_gated"' in out and '"epsilon": 0.05' in out
