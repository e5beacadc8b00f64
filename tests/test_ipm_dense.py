"""The dense interior point for the hinge and logistic losses (solvers/ipm_dense.py) and the working-set
polish that uses it (split ADMM, gated-hinge FISTA), against Clarabel."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from formulations import make_program
from solvers import solve_oracle
from solvers.battery import RandomSpec, reference_problems, run_battery
from solvers.ipm_dense import ipm_dense
from solvers.result import ConvergenceWarning


@pytest.mark.parametrize("formulation, loss", [("relu", "hinge"), ("gated", "hinge"), ("relu", "logistic")])
def test_the_battery_passes_at_the_interior_points_tolerance(formulation, loss):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_battery(ipm_dense, reference_problems(formulation, loss), name="ipm")
    assert report.passed, report.table()


def test_its_certificate_brackets_the_oracle_optimum():
    program = RandomSpec.draw("sampled", "hinge", 72124473).build()  # n = 533, d = 7 with bias, 3 patterns
    optimum = solve_oracle(program).objective
    result = ipm_dense(program)
    assert result.status == "optimal" and result.info["duality_gap_rel"] <= 1e-7
    assert result.info["dual_bound"] <= optimum + 1e-8 * max(1.0, optimum)  # Clarabel's own accuracy
    assert abs(result.objective - optimum) <= 1e-7 * max(1.0, optimum)
    assert result.max_violation <= 1e-9
    nu = result.info["dual_vector"]  # nu = -alpha o y with alpha in [0, 1]: the hinge dual's box
    assert np.all(-program.y * nu >= 0) and np.all(-program.y * nu <= 1)
    assert program.loss.dual_value(nu, program.y) == pytest.approx(result.info["dual_bound"], rel=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.3, 2.0])
def test_the_smoothed_hinge_certifies_the_exact_hinge(smoothing):
    program = RandomSpec.draw("sampled", "hinge", 72124473).build()
    optimum = solve_oracle(program).objective
    result = ipm_dense(program, smoothing=smoothing)
    assert result.status == "optimal" and result.info["duality_gap_rel"] <= 1e-7
    exact = program.loss.value(program.predictions(result.weights), program.y) \
        + program.beta_value * program.regularizer(result.weights)
    assert result.objective == pytest.approx(exact, rel=1e-12)  # the exact hinge, not the smoothed one
    assert result.info["dual_bound"] <= optimum + 1e-8 * max(1.0, optimum)
    assert abs(result.objective - optimum) <= 1e-7 * max(1.0, optimum)
    assert result.info["smoothing"] <= smoothing


def test_a_callback_sees_every_iterate_and_may_stop_the_run():
    """SciPy's convention: the callback gets each uncertified iterate (Newton steps, certified gap, the dual
    point of that gap), and StopIteration ends the run with status ``stopped`` at the best point so far; the
    dual point is feasible (every pattern priced within beta), so its bound holds."""
    from solvers.working_set import price_patterns
    program = RandomSpec.draw("sampled", "hinge", 72124473).build()
    optimum = solve_oracle(program).objective
    reports = []

    def stop_at_step_12(report):
        reports.append(report)
        if report.iteration == 12:
            raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stopped = ipm_dense(program, callback=stop_at_step_12)
    assert stopped.status == "stopped" and stopped.iterations == 12 and stopped.info["stopped_by"] == "the callback"
    assert [report.iteration for report in reports] == list(range(13))
    last = reports[-1]
    assert last.gap is not None and stopped.info["duality_gap_rel"] == last.gap > 1e-7
    prices = price_patterns(program, last.dual_vector, np.arange(program.n_patterns))
    assert np.max(prices) <= program.beta_value * (1.0 + 1e-9)
    assert stopped.info["dual_bound"] <= optimum + 1e-8 * max(1.0, optimum) <= stopped.objective + 1e-8
    silent = ipm_dense(program, callback=lambda report: None)
    assert silent.status == "optimal" and silent.objective == ipm_dense(program).objective
    with pytest.raises(ValueError, match="callback must be callable"):
        ipm_dense(program, callback=3)


def test_a_stopped_smoothed_run_still_bounds_the_exact_optimum():
    program = RandomSpec.draw("sampled", "hinge", 72124473).build()
    optimum = solve_oracle(program).objective
    for max_iter in (3, 8, 15):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = ipm_dense(program, smoothing=1.0, max_iter=max_iter)
        if result.info["dual_bound"] is not None:
            assert result.info["dual_bound"] <= optimum + 1e-8 * max(1.0, optimum)
        assert result.objective >= optimum - 1e-8 * max(1.0, optimum)
        gap = result.info["duality_gap_rel"]
        assert (result.status == "optimal") == (gap is not None and gap <= 1e-7)


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_the_dual_ceiling_bounds_every_scaled_dual_value(loss):
    """dual_ceiling is at least -l^*(theta nu) for every theta in [theta_low, 1] (checked on a fine grid), and
    the hinge's is attained at theta = 1."""
    from formulations.losses import LOSSES
    from solvers.ipm_dense import dual_ceiling
    rng = np.random.default_rng(5)
    loss_ = LOSSES[loss]()
    for _ in range(20):
        y = np.where(rng.random(200) < 0.5, -1.0, 1.0)
        nu = -y * rng.uniform(0.0, 1.0, 200) ** rng.uniform(0.2, 5.0)
        low = rng.uniform(0.0, 1.0)
        high = rng.choice([1.0, rng.uniform(low, 1.0)])
        values = [loss_.dual_value(theta * nu, y) for theta in np.linspace(low, high, 2001)]
        ceiling = dual_ceiling(loss_, nu, y, low, high)
        assert ceiling >= max(values) - 1e-9 * max(1.0, abs(ceiling))
        if loss == "hinge":
            assert ceiling == pytest.approx(values[-1], rel=1e-12)


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_the_exact_multipliers_are_found_only_where_they_could_certify(monkeypatch, loss):
    """The bound's NNLS runs on fewer steps than the run takes, and the run still certifies against
    Clarabel; a run stopped by max_iter gets the sharpened bound of its last step."""
    import solvers.ipm_dense as module
    program = RandomSpec.draw("sampled", loss, 72124473).build()
    optimum = solve_oracle(program).objective
    events = []
    exact, gate = module._Bounds.best_multipliers, module._Bounds.could_certify
    monkeypatch.setattr(module._Bounds, "best_multipliers",
                        lambda self, *blocks: events.append("nnls") or exact(self, *blocks))
    monkeypatch.setattr(module._Bounds, "could_certify",
                        lambda self, *point: events.append(gate(self, *point)) or events[-1])
    result = ipm_dense(program)
    assert result.status == "optimal" and result.info["duality_gap_rel"] <= 1e-7
    assert result.info["dual_bound"] <= optimum + 1e-8 * max(1.0, optimum)
    nnls = [i for i, event in enumerate(events) if event == "nnls"]
    assert nnls and all(events[i - 1] is True for i in nnls)  # each one where the gate said it could certify
    assert len(nnls) < events.count(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sharpened = [ipm_dense(program, max_iter=stop) for stop in (4, 6, 8)]
        monkeypatch.setattr(module._Bounds, "sharpen", lambda self: None)
        unsharpened = [ipm_dense(program, max_iter=stop) for stop in (4, 6, 8)]
    for sharp, loose in zip(sharpened, unsharpened):
        assert loose.info["dual_bound"] <= sharp.info["dual_bound"] <= optimum + 1e-8 * max(1.0, optimum)
        assert sharp.info["duality_gap_rel"] < loose.info["duality_gap_rel"]


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_multipliers_cut_short_still_bound_the_exact_ones(monkeypatch, loss):
    """Where the blocks' NNLS stop because a certificate is ruled out, the value returned is never below the
    exact one (every block's NNLS), so the bound stays valid."""
    import solvers.ipm_dense as module
    program = RandomSpec.draw("sampled", loss, 1826701614).build()
    exact, pairs = module._Bounds.best_multipliers, []

    def both(self, G, R, nu=None):
        value = exact(self, G, R, nu)
        if nu is not None:
            pairs.append((value, exact(self, G, R)))
        return value

    monkeypatch.setattr(module._Bounds, "best_multipliers", both)
    ipm_dense(program)
    assert pairs and all(short >= full * (1.0 - 1e-12) for short, full in pairs)
    assert any(short > full * (1.0 + 1e-6) for short, full in pairs)  # some were cut short


@pytest.mark.parametrize("chunk_bytes", [8, 8 * 45, 2 ** 26])  # one row, a few rows, every row per chunk
def test_the_newton_gram_matrix_is_the_definition_whatever_the_row_chunks(monkeypatch, chunk_bytes):
    from solvers import ipm_dense as module
    monkeypatch.setattr(module, "GRAM_CHUNK_BYTES", chunk_bytes)
    program = RandomSpec.draw("sampled", "hinge", 72124473).build()
    data = module._Data(program, gated=False)
    omega = np.random.default_rng(0).random(program.n)
    Zh = np.hstack([program.D[:, [j]] * data.X for j in range(program.n_patterns)])  # [D_j o X] by definition
    assert np.allclose(data.weighted_gram(omega), Zh.T @ (omega[:, None] * Zh), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("gated", [False, True])
def test_the_block_by_block_gram_matrix_is_the_definition(monkeypatch, gated):
    """The route for wide data (one syrk per pattern pair on the rows both hold), forced on narrow data."""
    from solvers import ipm_dense as module
    monkeypatch.setattr(module, "BLOCK_GRAM_MIN_D", 0)
    program = RandomSpec.draw("gated" if gated else "sampled", "hinge", 72124473).build()
    data = module._Data(program, gated=gated)
    omega = np.random.default_rng(1).random(program.n)
    omega[::7] = 0.0
    Zh = np.hstack([program.D[:, [j]] * data.X for j in range(program.n_patterns)])
    assert np.allclose(data.weighted_gram(omega), Zh.T @ (omega[:, None] * Zh), rtol=1e-12, atol=1e-10)


def _reduced_system(rng, d, P, singular_v=()):
    """A random instance of the constrained program's reduced Newton system: the weighted Gram matrix G
    (dP x dP) and per-block curvature ``B = [[B_tt, B_tu], [B_ut, B_uu]]`` ((d+1) x (d+1), positive
    definite); the v blocks in ``singular_v`` get a Schur complement with an eigenvalue near 1e-13 (a
    nonzero block late in a run). Returns (G, Buu, But, Btt, K): K the stacked matrix in (v, w, t) built
    from the definition ``[[E G E^T + B_uu, B_ut], [B_tu, B_tt]]``."""
    n, J = 3 * d * P, 2 * P
    Zh = rng.standard_normal((n, d * P))
    G = Zh.T @ (rng.random(n)[:, None] * Zh)
    B = np.empty((J, d + 1, d + 1))
    for j in range(J):
        Q = np.linalg.qr(rng.standard_normal((d + 1, d + 1)))[0]
        eigenvalues = 10.0 ** rng.uniform(-2, 2, d + 1)
        B[j] = (Q * eigenvalues) @ Q.T
    Buu, But, Btt = B[:, 1:, 1:].copy(), B[:, 1:, 0].copy(), B[:, 0, 0].copy()
    for j in singular_v:  # S_j = B_uu - b b^T / B_tt gets a direction of curvature ~1e-13
        S = Buu[j] - np.outer(But[j], But[j]) / Btt[j]
        eigenvalues, Q = np.linalg.eigh(S)
        eigenvalues[0] = 1e-13
        Buu[j] = (Q * eigenvalues) @ Q.T + np.outer(But[j], But[j]) / Btt[j]
    E = np.vstack([np.eye(d * P), -np.eye(d * P)])
    K = np.zeros((d * J + J, d * J + J))
    K[:d * J, :d * J] = E @ G @ E.T
    for j in range(J):
        block = slice(j * d, (j + 1) * d)
        K[block, block] += Buu[j]
        K[block, d * J + j] = K[d * J + j, block] = But[j]
        K[d * J + j, d * J + j] = Btt[j]
    return G, Buu, But, Btt, K


@pytest.mark.parametrize("singular_v", [(), (0, 2)])
def test_the_paired_system_solves_the_stacked_one(singular_v):
    """The constrained program's Newton system solved at size dP in ``z = v - w`` (docs/math.md 6.8) against a
    dense solve of the stacked (2dP + 2P) system built from the definition, also with nearly singular
    blocks (eigenvalue 1e-13 in S_V), where a solve through ``S_V^{-1}`` loses every digit."""
    from solvers.ipm_dense import _PairedSystem
    rng = np.random.default_rng(3)
    d, P = 4, 3
    G, Buu, But, Btt, K = _reduced_system(rng, d, P, singular_v)
    rU, rt = rng.standard_normal((d, 2 * P)), rng.standard_normal(2 * P)
    x, t = _PairedSystem(G, Buu, But, Btt).solve(rU, rt)
    expected = np.linalg.solve(K, np.concatenate([rU.T.reshape(-1), rt]))
    got = np.concatenate([x.T.reshape(-1), t])
    assert np.linalg.norm(K @ got - K @ expected) <= 1e-10 * np.linalg.norm(rU)
    assert np.allclose(got, expected, rtol=1e-6, atol=1e-8 * np.abs(expected).max())


@pytest.mark.parametrize("singular_v", [(), (0, 2)])
def test_the_capacitance_system_solves_the_stacked_one(singular_v):
    """The n x n route (Woodbury on the parallel sums, docs/math.md 6.8) on data with fewer samples than dP,
    against a dense solve of the stacked system built from the definition; with nearly singular blocks too,
    where its conjugate gradients may hand the solve to the paired system (and the run's later steps with
    it)."""
    from solvers import ipm_dense as module
    rng = np.random.default_rng(4)
    n, d, P = 20, 4, 20
    X = rng.standard_normal((n, d))
    D = (X @ rng.standard_normal((d, P)) >= 0).astype(float)
    program = make_program("sampled", X, np.where(rng.random(n) < 0.5, -1.0, 1.0), "hinge", 0.1, D=D)
    data = module._Data(program, gated=False)
    P, D = data.P, program.D  # duplicate patterns are dropped
    assert n < d * P and data.capacitance_route  # "auto" picks the n x n route here
    omega = rng.random(n) + 0.01
    _, Buu, But, Btt, _ = _reduced_system(rng, d, P, singular_v)
    Zh = np.hstack([D[:, [j]] * data.X for j in range(P)])
    G = Zh.T @ (omega[:, None] * Zh)
    E = np.vstack([np.eye(d * P), -np.eye(d * P)])
    K = np.zeros((2 * d * P + 2 * P,) * 2)
    K[:2 * d * P, :2 * d * P] = E @ G @ E.T
    for j in range(2 * P):
        block = slice(j * d, (j + 1) * d)
        K[block, block] += Buu[j]
        K[block, 2 * d * P + j] = K[2 * d * P + j, block] = But[j]
        K[2 * d * P + j, 2 * d * P + j] = Btt[j]
    system = module._CapacitanceSystem(data, omega, Buu, But, Btt)
    for _ in range(3):
        rU, rt = rng.standard_normal((d, 2 * P)), rng.standard_normal(2 * P)
        x, t = system.solve(rU, rt)
        got = np.concatenate([x.T.reshape(-1), t])
        expected = np.linalg.solve(K, np.concatenate([rU.T.reshape(-1), rt]))
        assert np.linalg.norm(K @ got - K @ expected) <= 1e-10 * np.linalg.norm(rU)
    if not singular_v:
        assert not data.capacitance_failed


def test_the_newton_route_follows_the_predicted_cost():
    from solvers.ipm_dense import newton_route
    assert newton_route(1000, 31, 100) == "nxn"  # the benchmark's random-1000 on its full pattern set
    assert newton_route(1000, 31, 10) == "gram"
    assert newton_route(100000, 30, 40) == "gram"  # tall data
    assert newton_route(1000, 31, 10, "nxn") == "nxn"


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_both_newton_routes_take_the_same_steps_to_the_oracle(loss):
    """On data with fewer samples than dP, the n x n route and the dP x dP route give the same Newton steps
    and the same certified optimum as Clarabel; ``info`` names the route (and the switch when the n x n
    route fell short late in the run)."""
    program = RandomSpec.draw("sampled", loss, 1826701614).build()  # n = 233, d = 14 with bias, 59 patterns
    optimum = solve_oracle(program).objective
    routes = {route: ipm_dense(program, newton_route=route) for route in ("gram", "nxn")}
    assert routes["gram"].info["newton_route"] == "gram"
    assert routes["nxn"].info["newton_route"] in ("nxn", "nxn, then gram")
    assert ipm_dense(program).info["newton_route"] == routes["nxn"].info["newton_route"]  # auto
    for result in routes.values():
        assert result.status == "optimal" and result.info["dual_bound"] <= optimum + 1e-8 * max(1.0, optimum)
        assert abs(result.objective - optimum) <= 1e-6 * max(1.0, optimum)
    assert routes["gram"].iterations == routes["nxn"].iterations
    assert routes["gram"].objective == pytest.approx(routes["nxn"].objective, rel=1e-9)
    with pytest.raises(ValueError, match="newton_route"):
        ipm_dense(program, newton_route="cholesky")


@pytest.mark.parametrize("form", ["sampled", "gated"])
def test_the_prediction_products_are_the_definition(form):
    """``Z a`` and ``Z^T r``, computed from X and D without the n x dP map, against the stacked map built
    from the definition (constrained: ``[D_j o X, -D_j o X]``; gated: ``[D_j o X]``)."""
    from solvers import ipm_dense as module
    program = RandomSpec.draw("sampled", "hinge", 72124473).build()
    if form == "gated":
        program = make_program("gated", program.X, program.y, "hinge", program.beta_value, D=program.D)
    data = module._Data(program, gated=form == "gated")
    blocks = [program.D[:, [j]] * data.X for j in range(program.n_patterns)]
    Z = np.hstack(blocks + ([-block for block in blocks] if form == "sampled" else []))
    rng = np.random.default_rng(1)
    A = rng.standard_normal((data.d, data.J))
    r = rng.standard_normal(program.n)
    assert np.allclose(data.predict(A), Z @ A.T.reshape(-1), rtol=1e-12, atol=1e-12)
    assert np.allclose(data.ZT(r).T.reshape(-1), Z.T @ r, rtol=1e-12, atol=1e-12)


def test_its_smoothing_option_is_checked():
    program = RandomSpec.draw("sampled", "hinge", 72124473).build()
    for bad in (-0.1, float("nan"), "a"):
        with pytest.raises(ValueError, match="smoothing"):
            ipm_dense(program, smoothing=bad)


def test_it_refuses_other_programs():
    X, y = np.eye(4), np.array([1.0, -1.0, 1.0, -1.0])
    for program in (make_program("sampled", X, y, "squared", 0.1, n_patterns=2, seed=0),
                    make_program("scp", X, y, "hinge", 0.1, n_patterns=2, seed=0),
                    make_program("robust", X, y, "hinge", 0.1, n_patterns=2, seed=0, epsilon=0.01)):
        with pytest.raises(ValueError, match="hinge- or logistic-loss constrained program"):
            ipm_dense(program)


@pytest.mark.parametrize("formulation, seed, solver_name, max_iter, bound_key", [
    ("sampled", 1440696407, "admm", 1000, "dual_bound"),       # n = 251, d = 8 + bias, 36 patterns
    ("gated", 161576974, "fista", 2000, "dual_objective"),    # n = 546, d = 15 + bias, 6 gates
])
def test_the_hinge_working_set_certifies_where_the_first_order_solver_stalls(formulation, seed, solver_name,
                                                                            max_iter, bound_key):
    import solvers
    solver = getattr(solvers, solver_name)
    program = RandomSpec.draw(formulation, "hinge", seed).build()
    optimum = solve_oracle(program).objective
    with pytest.warns(ConvergenceWarning):
        plain = solver(program, max_iter=max_iter, working_set=False)
    assert plain.status == "max_iter"
    result = solver(program, max_iter=max_iter)
    assert result.status == "optimal" and result.info["working_set_patterns"] >= 1
    assert result.info[bound_key] <= optimum + 1e-8 * max(1.0, optimum)
    assert abs(result.objective - optimum) <= 1e-6 * max(1.0, optimum)
