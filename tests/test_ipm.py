"""Interior-point checks: the structured linear algebra against dense assemblies of the same equations,
the cone algebra against its definitions, and the certified answer against the oracle (the accuracy
battery for every hand-written solver lives in tests/test_battery.py)."""
import importlib
import time
import warnings

import numpy as np
import pytest

from formulations import make_program
from solvers import ipm as ipm_fn
from solvers.core import cones
from solvers.core.scaling import Scaled
from solvers.result import ConvergenceWarning

ipm_mod = importlib.import_module("solvers.ipm")  # the module; ``solvers.ipm`` is the function


def _data(n=14, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    return X, y


@pytest.fixture(scope="module")
def exact_program(squared_exact_program):
    return squared_exact_program


@pytest.fixture(scope="module")
def oracle_objective(exact_program):
    from solvers.oracle import solve_oracle
    return solve_oracle(exact_program, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10).objective


def _random_soc_interior(rng, d, J):
    x1 = rng.standard_normal((d, J))
    x0 = np.linalg.norm(x1, axis=0) + rng.uniform(0.01, 2.0, J)
    return x0, x1


def _state(seed=3, n=12, d=3, P=3):
    """A small program's data and a random strictly interior primal-dual point."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    prog = make_program("sampled", X, y, "squared", 0.3, n_patterns=P, seed=seed)
    data = ipm_mod._Data(Scaled(prog, True), prog.D)
    data.big_threads = 1
    J = data.J
    sL, zL = rng.uniform(0.1, 3.0, (n, J)), rng.uniform(0.1, 3.0, (n, J))
    s0, s1 = _random_soc_interior(rng, d, J)
    z0, z1 = _random_soc_interior(rng, d, J)
    return rng, data, (sL, zL, s0, s1, z0, z1)


def _dense_maps(data):
    """Dense M (n x dJ), the orthant map G_L (nJ x dJ, rows -S_j o X on block j) - column-major blocks."""
    n, d, J = data.n, data.d, data.J
    M = np.zeros((n, d * J))
    GL = np.zeros((n * J, d * J))
    for j in range(J):
        M[:, j * d:(j + 1) * d] = data.Dpm[:, j:j + 1] * data.X
        GL[j * n:(j + 1) * n, j * d:(j + 1) * d] = -data.S2[:, j:j + 1] * data.X
    return M, GL


def _dense_W(nt, J, d):
    """The NT scaling matrix of every second-order cone, (J, d+1, d+1)."""
    W = np.zeros((J, d + 1, d + 1))
    W[:, 0, 0] = nt.w0
    W[:, 0, 1:] = nt.w1.T
    W[:, 1:, 0] = nt.w1.T
    W[:, 1:, 1:] = np.eye(d)[None] + np.einsum("ij,kj->jik", nt.w1, nt.w1) / (1.0 + nt.w0)[:, None, None]
    return W * nt.bw[:, None, None]


# -- cone algebra -----------------------------------------------------------------------------------
def test_nt_scaling_identities():
    """W z = W^{-1} s = lambda, jdot(w, w) = 1, W^{-2} is the inverse of W^2, lambda o (lambda \\ b) = b."""
    rng, data, (sL, zL, s0, s1, z0, z1) = _state()
    nt = cones.NTScaling(sL, zL, s0, s1, z0, z1)
    J, d = data.J, data.d
    W = _dense_W(nt, J, d)
    s = np.vstack([s0, s1]).T[:, :, None]
    z = np.vstack([z0, z1]).T[:, :, None]
    lam = np.vstack([nt.lam0, nt.lam1]).T
    assert np.allclose((W @ z)[:, :, 0], lam, atol=1e-12)
    assert np.allclose(np.linalg.solve(W, s)[:, :, 0], lam, atol=1e-12)
    assert np.allclose(nt.w0 ** 2 - np.sum(nt.w1 ** 2, axis=0), 1.0, atol=1e-12)
    assert np.allclose(nt.inverse_squared() @ (W @ W), np.eye(d + 1)[None], atol=1e-10)
    assert np.allclose(nt.wL * zL, sL / nt.wL) and np.allclose(nt.lamL, nt.wL * zL)
    bL, b0, b1 = rng.standard_normal(sL.shape), rng.standard_normal(J), rng.standard_normal((d, J))
    xL, x0, x1 = nt.lam_solve(bL, b0, b1)
    assert np.allclose(nt.lamL * xL, bL)
    assert np.allclose(nt.lam0 * x0 + np.sum(nt.lam1 * x1, axis=0), b0, atol=1e-10)  # Jordan product
    assert np.allclose(nt.lam0 * x1 + x0 * nt.lam1, b1, atol=1e-10)



@pytest.mark.parametrize("scale", [1.0, 1e-6])  # scale: how close the points are to the cones' boundary
def test_the_closed_form_schur_complement_of_the_scaling(scale):
    """``NTScaling.inverse_squared_schur`` equals ``B_uu - B_ut B_tu / B_tt`` from the entries of
    ``inverse_squared`` (to rounding of the entries' size), and is positive definite even where that
    formula cancels: near the boundary ``W^{-2}`` is huge and its Schur complement small."""
    rng = np.random.default_rng(2)
    d, J = 4, 50
    s0, s1 = _random_soc_interior(rng, d, J)
    z0, z1 = _random_soc_interior(rng, d, J)
    s0 = np.linalg.norm(s1, axis=0) + scale * (s0 - np.linalg.norm(s1, axis=0))  # towards the boundary
    nt = cones.NTScaling(np.ones(2), np.ones(2), s0, s1, z0, z1)
    W = nt.inverse_squared()
    by_entries = W[:, 1:, 1:] - W[:, 1:, 0][:, :, None] * W[:, 1:, 0][:, None, :] / W[:, 0, 0][:, None, None]
    closed = nt.inverse_squared_schur()
    size = np.abs(W).max(axis=(1, 2))[:, None, None]
    assert np.all(np.abs(closed - by_entries) <= 1e-12 * size)
    assert np.all(np.linalg.eigvalsh(closed) > 0)


def test_soc_max_step_reaches_the_boundary():
    rng = np.random.default_rng(1)
    d, J = 4, 300
    x0, x1 = _random_soc_interior(rng, d, J)
    d0, d1 = rng.standard_normal(J) * 3, rng.standard_normal((d, J))
    alpha = cones.soc_max_step(x0, x1, d0, d1)
    finite = np.isfinite(alpha)
    alpha_f = np.where(finite, alpha, 0.0)
    assert finite.sum() > 50 and (~finite).sum() > 5  # both cases occur
    y0, y1 = x0 + alpha_f * d0, x1 + alpha_f * d1
    scale = (x0 + np.abs(alpha_f * d0)) ** 2
    assert np.all(np.abs((y0 ** 2 - np.sum(y1 ** 2, axis=0))[finite]) <= 1e-9 * scale[finite])  # on the boundary
    assert np.all(y0[finite] >= -1e-12)  # the cone, not its reflection
    for frac in (0.5, 0.999):  # strictly inside before it
        a = np.where(finite, frac * alpha, 1e3)
        w0, w1 = x0 + a * d0, x1 + a * d1
        assert np.all(w0 > np.linalg.norm(w1, axis=0))
    assert cones.orthant_max_step(np.array([1.0, 2.0]), np.array([-0.5, 1.0])) == pytest.approx(2.0)
    assert cones.orthant_max_step(np.array([1.0]), np.array([0.5])) == np.inf



def _linear_equations(rng, size=6):
    """A well-conditioned system ``A x = b`` split as refined_direction's 1 + 3 + 3 parts (n_x = 1)."""
    A = rng.standard_normal((size * 7, size * 7)) + 10 * np.eye(size * 7)
    b = rng.standard_normal(size * 7)

    def split(v):
        return tuple(v[i * size:(i + 1) * size] for i in range(7))

    def residual(step, bx, bz, bs):
        return split(np.concatenate(bx + bz + bs) - A @ np.concatenate(step))
    return A, split(b), split, residual


@pytest.mark.parametrize("exact", [True, False])
def test_refinement_stops_at_its_tolerance(exact):
    """refined_direction refines only while the largest residual is above REFINE_TOL of the right-hand side:
    an exact first solve is used as it is (one solve); an inexact one (a perturbed matrix) is refined until
    the residual is below the tolerance, and the result solves the equations to it."""
    rng = np.random.default_rng(4)
    A, b, split, residual = _linear_equations(rng)
    solver = A if exact else A + 1e-3 * rng.standard_normal(A.shape)
    calls = []

    def solve(bx, bz, bs):
        calls.append(1)
        return split(np.linalg.solve(solver, np.concatenate(bx + bz + bs)))

    step = cones.refined_direction(solve, residual, b[:1], b[1:4], b[4:], 1)
    largest = max(np.abs(r).max() for r in residual(step, b[:1], b[1:4], b[4:]))
    rhs = max(np.abs(part).max() for part in b)
    assert largest <= cones.REFINE_TOL * rhs
    assert len(calls) == 1 if exact else 1 < len(calls) <= 4


# -- the linear algebra ---------------------------------------------------------------------------------
def test_newton_system_matches_dense_solve():
    """The Woodbury + CG solve of (M^T M + B) dx = r equals a dense solve of the assembled matrix."""
    rng, data, (sL, zL, s0, s1, z0, z1) = _state()
    nt = cones.NTScaling(sL, zL, s0, s1, z0, z1)
    n, d, J = data.n, data.d, data.J
    Hs = nt.inverse_squared()
    system = ipm_mod._NewtonSystem(data, zL / sL, Hs, floor=1e-10)
    M, GL = _dense_maps(data)
    Nu = d * J
    K = np.zeros((Nu + J, Nu + J))
    K[:Nu, :Nu] = M.T @ M + GL.T @ np.diag((zL / sL).T.ravel()) @ GL
    for j in range(J):  # the second-order cone's W^{-2} on (t_j, a_j)
        idx = np.r_[Nu + j, np.arange(j * d, (j + 1) * d)]
        K[np.ix_(idx, idx)] += Hs[j]
    rU, rt = rng.standard_normal((d, J)), rng.standard_normal(J)
    ref = np.linalg.solve(K, np.r_[rU.T.ravel(), rt])
    xU, xt = system.solve(rU, rt)
    got = np.r_[xU.T.ravel(), xt]
    assert np.linalg.norm(got - ref) <= 1e-10 * np.linalg.norm(ref)
    aU, at = system.apply(xU, xt)  # and K x from the operator is the dense product
    assert np.allclose(np.r_[aU.T.ravel(), at], K @ got, atol=1e-9 * np.abs(K @ got).max())


def test_kkt_direction_matches_dense_kkt():
    """The refined direction solves P dx + G^T dz = bx, G dx + ds = bz, lambda o (W dz + W^{-T} ds) = bs,
    assembled densely (orthant and second-order cones)."""
    rng, data, (sL, zL, s0, s1, z0, z1) = _state(seed=5)
    nt = cones.NTScaling(sL, zL, s0, s1, z0, z1)
    n, d, J = data.n, data.d, data.J
    system = ipm_mod._NewtonSystem(data, zL / sL, nt.inverse_squared(), floor=1e-10)
    b = [rng.standard_normal((d, J)), rng.standard_normal(J), rng.standard_normal((n, J)),
         rng.standard_normal(J), rng.standard_normal((d, J)), rng.standard_normal((n, J)),
         rng.standard_normal(J), rng.standard_normal((d, J))]
    sol, res = ipm_mod._refined_solve(data, system, nt, b)
    assert res <= 1e-12
    dU, dt, dzL, dz0, dz1, dsL, ds0, ds1 = sol[:8]
    M, GL = _dense_maps(data)
    W = _dense_W(nt, J, d)
    # the equations, one by one, with dense operators
    bx_U = M.T @ (M @ dU.T.ravel()) + GL.T @ dzL.T.ravel() - dz1.T.ravel()
    assert np.allclose(bx_U, b[0].T.ravel(), atol=1e-9)
    assert np.allclose(-dz0, b[1], atol=1e-9)
    assert np.allclose((GL @ dU.T.ravel()).reshape(J, n).T + dsL, b[2], atol=1e-9)
    assert np.allclose(-dt + ds0, b[3], atol=1e-9) and np.allclose(-dU + ds1, b[4], atol=1e-9)
    assert np.allclose(nt.lamL * (nt.wL * dzL + dsL / nt.wL), b[5], atol=1e-9)
    g = ((W @ np.vstack([dz0, dz1]).T[:, :, None])[:, :, 0]
         + np.linalg.solve(W, np.vstack([ds0, ds1]).T[:, :, None])[:, :, 0])
    lam = np.vstack([nt.lam0, nt.lam1]).T
    assert np.allclose(np.sum(lam * g, axis=1), b[6], atol=1e-9)
    assert np.allclose(lam[:, :1] * g[:, 1:] + g[:, :1] * lam[:, 1:], b[7].T, atol=1e-9)


@pytest.mark.parametrize("seed", [2, 9])
def test_centrality_correctors_keep_the_equations_and_lengthen_the_step(seed):
    """At a feasible, badly centred point, a corrected direction still solves every Newton equation but
    the orthant's complementarity row (which it moves towards the target) and its step to the boundary is
    at least 1% longer (seeds where a corrector is kept)."""
    rng, data, (sL, zL, s0, s1, z0, z1) = _state(seed=seed, n=30, d=3, P=4)
    sL = sL * np.exp(2 * rng.standard_normal(sL.shape))  # badly centred products
    nt = cones.NTScaling(sL, zL, s0, s1, z0, z1)
    system = ipm_mod._NewtonSystem(data, zL / sL, nt.inverse_squared(), floor=1e-10)
    n, d, J = data.n, data.d, data.J
    mu = float(np.mean(sL * zL))
    b = [np.zeros((d, J)), np.zeros(J), np.zeros((n, J)), np.zeros(J), np.zeros((d, J)),
         -nt.lamL ** 2 + 0.1 * mu, -(nt.lam0 ** 2 + np.sum(nt.lam1 ** 2, axis=0)) + 0.1 * mu,
         -2 * nt.lam0 * nt.lam1]
    step, _ = ipm_mod._refined_solve(data, system, nt, b)
    info = {"correctors": 0}
    corrected = ipm_mod._centrality_correctors(data, system, nt, step, 0.1 * mu, info)
    assert info["correctors"] >= 1
    assert ipm_mod._max_step(nt, corrected) >= 1.01 * ipm_mod._max_step(nt, step)
    res = ipm_mod._kkt_residual(data, nt, corrected, b)
    for k in (0, 1, 2, 3, 4, 6, 7):  # every equation but the orthant complementarity
        assert np.max(np.abs(res[k])) <= 1e-9 * max(1.0, np.max(np.abs(b[k])))
    assert np.max(np.abs(res[5])) > 0  # that one was moved


def test_inaccurate_corrector_direction_raises_the_eigenvalue_floor(monkeypatch):
    """A corrector direction the solve leaves inaccurate is recomputed with a 100x larger block floor, as a
    predictor direction is, instead of ending the run (rounding decides which direction of a late
    iteration first meets a nearly singular block)."""
    rng, data, (sL, zL, s0, s1, z0, z1) = _state(seed=5)
    nt = cones.NTScaling(sL, zL, s0, s1, z0, z1)
    n, d, J = data.n, data.d, data.J
    system = ipm_mod._NewtonSystem(data, zL / sL, nt.inverse_squared(), floor=1e-10)
    b = [rng.standard_normal((d, J)), rng.standard_normal(J), rng.standard_normal((n, J)),
         rng.standard_normal(J), rng.standard_normal((d, J)), rng.standard_normal((n, J)),
         rng.standard_normal(J), rng.standard_normal((d, J))]
    exact_solve = ipm_mod._refined_solve
    affine, _ = exact_solve(data, system, nt, b)

    def inaccurate_below_1e8(data_, system_, nt_, b_):  # a solve that needs the floor 1e-8
        sol, res = exact_solve(data_, system_, nt_, b_)
        return sol, (1e-7 if system_.floor < 1e-8 * (1 - 1e-9) else res)

    class Run:
        floor = 1e-10

        def fail(self, reason):
            raise AssertionError(reason)

    run = Run()
    monkeypatch.setattr(ipm_mod, "_refined_solve", inaccurate_below_1e8)
    new_system, step = ipm_mod._corrector(data, nt, system, b, affine, 0.1, run)
    assert run.floor == pytest.approx(1e-8) and new_system.floor == run.floor
    assert step[0].shape == (d, J)

# -- solving ----------------------------------------------------------------------------------------
def test_solves_small_exact_program(exact_program, oracle_objective):
    res = ipm_fn(exact_program)
    assert res.status == "optimal" and res.info["certified"]
    assert res.info["dual_bound"] <= oracle_objective + 1e-9 * max(1.0, abs(oracle_objective))
    assert abs(res.objective - oracle_objective) <= 1e-6 * max(1.0, abs(oracle_objective))
    assert (res.objective - res.info["dual_bound"]) / max(1.0, abs(res.objective)) <= 1e-7
    assert res.max_violation <= 1e-9
    assert res.network_objective == pytest.approx(res.objective, rel=1e-9)  # the recovered ReLU network
    for key in ("objective", "dual_bound", "gap", "primal_residual", "dual_residual", "mu", "step", "time"):
        assert res.history[key].shape == res.history["iteration"].shape
    gaps = res.history["gap"][np.isfinite(res.history["gap"])]
    assert np.all(np.diff(gaps) <= 1e-15)  # the best certified gap never grows
    assert np.all(np.diff(res.history["time"]) >= 0)


def test_certificate_brackets_a_tightly_solved_oracle():
    """On a near-interpolating instance (beta = 1e-3) the dual bound is below, and the objective within
    tol_gap above, a tightly solved Clarabel optimum; the sparsified point keeps the certified gap."""
    from solvers.oracle import solve_oracle
    rng = np.random.default_rng(11)
    X = rng.standard_normal((80, 6))
    y = rng.choice([-1.0, 1.0], 80)
    prog = make_program("sampled", X, y, "squared", 1e-3, n_patterns=30, seed=2)
    opt = solve_oracle(prog, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10).objective
    res = ipm_fn(prog, tol_gap=1e-8)
    assert res.status == "optimal"
    assert res.info["dual_bound"] <= opt + 1e-9
    assert opt - 1e-9 <= res.objective <= res.info["dual_bound"] + 1e-8 * max(1.0, abs(res.objective))
    width = np.sum(np.linalg.norm(np.hstack([res.weights["V"], res.weights["W"]]), axis=0) > 0)
    assert width < 2 * prog.n_patterns  # tiny interior-point blocks were dropped


def test_zero_solution_is_found():
    """beta above max_i |X^T (D_i o y)| makes the zero network optimal: objective 0.5 |y|^2, no neuron."""
    from solvers.battery import zero_solution_beta
    X, y = _data(30, 3, seed=4)
    prog = make_program("sampled", X, y, "squared", 1.0, n_patterns=10, seed=1)
    prog.set_beta(1.01 * zero_solution_beta(prog))
    res = ipm_fn(prog)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(0.5 * float(y @ y), rel=1e-7)
    assert np.count_nonzero(np.linalg.norm(res.weights["V"], axis=0)) == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_battery_passes_with_one_and_two_blas_threads(threads):
    """The BLAS thread count changes the rounding of every product, so late iterations meet nearly singular
    blocks at other moments; the predictor and the corrector direction both escalate the eigenvalue floor
    until they are accurate, so the battery is certified optimal either way."""
    from solvers.battery import reference_problems, run_battery
    report = run_battery(ipm_fn, reference_problems("relu", "squared"), name="ipm", blas_threads=threads)
    assert report.passed, "\n" + report.table()
    for row in report.rows:
        assert row.status == "optimal", f"{row.problem}: {row.status}"

def test_program_arrays_not_modified(exact_program):
    before = {k: getattr(exact_program, k).copy() for k in ("X", "y", "D", "S")}
    ipm_fn(exact_program, max_iter=60)
    for k, v in before.items():
        assert np.array_equal(getattr(exact_program, k), v)


def test_max_iter_status_and_warning(exact_program):
    with pytest.warns(ConvergenceWarning):
        res = ipm_fn(exact_program, max_iter=3)
    assert res.status == "max_iter" and res.iterations == 3 and not res.info["certified"]
    assert res.max_violation <= 1e-6  # the returned point is still feasible (best iterate or projected)


def test_time_limit_honoured():
    X, y = _data(60, 4, seed=5)
    prog = make_program("sampled", X, y, "squared", 1e-3, n_patterns=60, seed=0, bias=True)
    start = time.perf_counter()
    with pytest.warns(ConvergenceWarning):
        res = ipm_fn(prog, time_limit=0.02, tol_gap=1e-15)
    assert res.status == "time_limit"
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("kwargs", [dict(tol_gap=0.0), dict(tol_gap=-1e-3), dict(feas_tol=float("nan")),
                                    dict(max_iter=-1), dict(max_iter=2.5), dict(time_limit=0),
                                    dict(blas_threads=0), dict(capacitance_threads=0),
                                    dict(tol_abs=-1.0)])
def test_bad_options_raise(exact_program, kwargs):
    with pytest.raises(ValueError, match="ipm option"):
        ipm_fn(exact_program, **kwargs)


def test_options_are_the_settings_fields(exact_program):
    """ipm's keyword signature is IPMSettings (each option and its default written once); an unknown keyword
    is a TypeError naming ipm, as Python words it for any function."""
    import dataclasses
    import inspect

    from solvers.ipm import IPMSettings
    params = list(inspect.signature(ipm_fn).parameters.values())[1:]
    assert [(p.name, p.default) for p in params] == [(f.name, f.default) for f in dataclasses.fields(IPMSettings)]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    with pytest.raises(TypeError, match=r"^ipm\(\) got an unexpected keyword argument 'tolerance'$"):
        ipm_fn(exact_program, tolerance=1e-6)


def test_other_programs_and_losses_rejected():
    X, y = _data()
    with pytest.raises(ValueError, match="constrained ReLU program"):
        ipm_fn(make_program("gated", X, y, "squared", 0.1, n_patterns=10, seed=0))
    ypm = np.where(np.arange(X.shape[0]) % 2, 1.0, -1.0)
    with pytest.raises(ValueError, match="squared loss; got hinge"):
        ipm_fn(make_program("sampled", X, ypm, "hinge", 0.1, n_patterns=10, seed=0))


def test_verbose_table_goes_to_stderr(exact_program, capsys):
    ipm_fn(exact_program, verbose=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "dual bound" in captured.err and "rel gap" in captured.err and "status optimal" in captured.err


def test_registry_and_cli_run_ipm(capsys):
    import json

    from solvers.interface.cli import main
    from solvers.registry import available_solvers, get_solver
    assert "ipm" in available_solvers()
    X, y = _data(20, 2, seed=2)
    prog = make_program("sampled", X, y, "squared", 0.2, n_patterns=8, seed=0)
    res = get_solver("ipm")(prog, tol=1e-8)
    assert res.solver == "ipm" and res.status == "optimal"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        code = main(["verify", "--data", "spiral", "--beta", "0.1", "--patterns", "10", "--solvers", "ipm",
                     "--json", "-"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    run = [r for r in report["runs"] if r["solver"] == "ipm"][0]
    assert run["status"] == "optimal"


def test_the_tall_data_route_takes_the_same_newton_steps():
    """The dP x dP Gram route and the n x n capacitance route solve the same Newton systems: the same
    iterations and the same certified optimum; for tall data "auto" picks the Gram route."""
    from formulations import make_program
    from solvers.ipm import ipm as run_ipm
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))
    y = np.maximum(X @ rng.standard_normal(3), 0.0) + 0.1 * rng.standard_normal(400)
    program = make_program("sampled", X, y, "squared", 0.5, n_patterns=6, seed=1, bias=True)
    capacitance = run_ipm(program, newton_route="nxn")
    gram = run_ipm(program)
    assert gram.info["newton_route"] == "gram" and capacitance.info["newton_route"] == "nxn"
    assert gram.status == capacitance.status == "optimal"
    assert gram.iterations == capacitance.iterations
    assert gram.objective == pytest.approx(capacitance.objective, rel=1e-9)
    np.testing.assert_allclose(gram.history["step"], capacitance.history["step"], rtol=1e-6, atol=1e-9)


def test_the_newton_route_follows_the_predicted_cost():
    from solvers.ipm import newton_route
    assert newton_route(300, 20, 60) == "nxn"  # wide: n < dP
    assert newton_route(100_000, 30, 100) == "gram"
    assert newton_route(100_000, 30, 100, "nxn") == "nxn"
    with pytest.raises(ValueError, match="newton_route"):
        ipm_fn(make_program("sampled", np.eye(3), np.ones(3), "squared", 0.1, n_patterns=2, seed=0), newton_route="x")
