"""ADMM-specific checks (the accuracy battery against the oracle lives in solvers/battery.py)."""
import time
import warnings

import numpy as np
import pytest

from formulations import make_program
from solvers.admm import admm
from solvers.admm.factorization import ADMMFactorization
from solvers.result import ConvergenceWarning


def _data(n=14, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    y = rng.standard_normal(n)
    return X, y


@pytest.fixture(scope="module")
def exact_program(squared_exact_program):
    return squared_exact_program


@pytest.fixture(scope="module")
def oracle_objective(exact_program):
    from solvers.oracle import solve_oracle
    return solve_oracle(exact_program).objective


# -- the factorised a-update -------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [1.0, 0.3])
@pytest.mark.parametrize("rho", [1e-3, 0.7, 40.0])
def test_factorised_a_update_matches_dense_solve(rho, sigma):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 3))
    D = (X @ rng.standard_normal((3, 5)) >= 0).astype(float)
    D = np.unique(D, axis=1)
    F = ADMMFactorization(X, D, sigma)
    R = rng.standard_normal((3, 2 * D.shape[1]))
    A, XA = F.solve(R.copy(), rho, return_XA=True)
    K, Mmat, Qmat = F.dense_system(rho)
    # the dense system is built from the maps' definitions, block by block
    a_dense = np.linalg.solve(K, R.T.reshape(-1))
    assert np.max(np.abs(A.T.reshape(-1) - a_dense)) <= 1e-10 * max(1.0, np.abs(a_dense).max())
    assert np.allclose(XA, X @ A, atol=1e-12)
    # the vectorised maps agree with the dense matrices
    a = rng.standard_normal(A.shape)
    assert np.allclose(F.M(a), Mmat @ a.T.reshape(-1))
    assert np.allclose(F.Q(a).T.reshape(-1), Qmat @ a.T.reshape(-1))
    z = rng.standard_normal(9)
    assert np.allclose(F.MT(z).T.reshape(-1), Mmat.T @ z)


def test_capacitance_is_hadamard_identity():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((8, 3))
    D = np.unique((X @ rng.standard_normal((3, 6)) >= 0).astype(float), axis=1)
    F = ADMMFactorization(X, D)
    K, Mmat, Qmat = F.dense_system(1.0)
    Bmat = np.eye(Mmat.shape[1]) + Qmat.T @ Qmat
    dense_cap = Mmat @ np.linalg.solve(Bmat, Mmat.T)
    assert np.allclose(F.U @ np.diag(F.lam) @ F.U.T, dense_cap, atol=1e-10)


# -- solving ----------------------------------------------------------------------------------------
def test_solves_small_exact_program(exact_program, oracle_objective):
    res = admm(exact_program)
    assert res.status == "optimal"
    gap = (res.objective - oracle_objective) / max(1.0, abs(oracle_objective))
    assert gap <= 1e-6
    assert res.max_violation <= 1e-8
    for key in ("objective", "primal_residual", "dual_residual", "rho", "time", "gap"):
        assert res.history[key].shape == res.history["iteration"].shape
    assert res.info["cone_violation"] == pytest.approx(res.max_violation)


def test_program_arrays_not_modified(exact_program):
    before = {k: getattr(exact_program, k).copy() for k in ("X", "y", "D", "S")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        admm(exact_program, max_iter=50)
    for k, v in before.items():
        assert np.array_equal(getattr(exact_program, k), v)


def test_warm_start_reduces_iterations(exact_program):
    cold = admm(exact_program)
    warm = admm(exact_program, warm_start=cold.weights)
    assert warm.iterations < cold.iterations
    assert warm.objective <= cold.objective + 1e-9 * max(1.0, abs(cold.objective))


def test_every_variant_checks_a_warm_start_alike():
    """The squared, split and robust ADMM read a warm start the same way (solvers.core.options)."""
    from solvers.result import SolveResult

    rng = np.random.default_rng(3)
    X = rng.standard_normal((16, 2))
    y = np.where(rng.standard_normal(16) > 0, 1.0, -1.0)
    for program in (make_program("sampled", X, y, "squared", 0.1, n_patterns=4, seed=0),
                    make_program("sampled", X, y, "hinge", 0.1, n_patterns=4, seed=0),
                    make_program("robust", X, y, "hinge", 0.1, n_patterns=4, seed=0, epsilon=0.01)):
        with pytest.raises(ValueError, match="SolveResult without weights"):
            admm(program, warm_start=SolveResult(program, None, "diverged", "x"))
        with pytest.raises(ValueError, match="shape"):
            admm(program, warm_start={"V": np.zeros((3, 3)), "W": np.zeros((3, 3))})


def test_max_iter_status_and_warning(exact_program):
    with pytest.warns(ConvergenceWarning):
        res = admm(exact_program, max_iter=3, polish=False)
    assert res.status == "max_iter"
    assert res.iterations == 3


def test_time_limit_honoured():
    X, y = _data(40, seed=5)
    prog = make_program("sampled", X, y, "squared", 1e-3, n_patterns=60, seed=0, bias=True)
    start = time.perf_counter()
    with pytest.warns(ConvergenceWarning):
        res = admm(prog, time_limit=0.05, max_iter=10 ** 9, tol_abs=1e-14, tol_rel=1e-14, tol_gap=1e-16,
                   polish=False)
    assert res.status == "time_limit"
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("kwargs", [dict(rho=0.0), dict(rho=-1.0), dict(gamma=0.0), dict(gamma=1.5),
                                    dict(alpha=2.0), dict(tol_abs=-1e-3), dict(max_iter=-1),
                                    dict(max_iter=2.5), dict(time_limit=0), dict(check_every=0),
                                    dict(adaptive_rho_tolerance=1.0),
                                    dict(blas_threads=0), dict(anderson=-1), dict(sigma=0.0),
                                    dict(verbose="yes")])
def test_bad_options_raise(exact_program, kwargs):
    with pytest.raises(ValueError, match="admm option"):
        admm(exact_program, **kwargs)


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_squared_variant_rejects_other_losses(loss):
    """admm_squared puts the loss into its a-update; other losses go through admm's loss split."""
    from solvers.admm.squared import admm_squared
    X, _ = _data()
    y = np.where(np.arange(X.shape[0]) % 2, 1.0, -1.0)
    prog = make_program("sampled", X, y, loss, 0.1, n_patterns=10, seed=0)
    with pytest.raises(ValueError, match=f"squared loss; got {loss}"):
        admm_squared(prog)


def test_other_program_types_rejected():
    X, y = _data()
    prog = make_program("gated", X, y, "squared", 0.1, n_patterns=10, seed=0)
    with pytest.raises(ValueError, match="constrained ReLU program"):
        admm(prog)


def test_verbose_table_goes_to_stderr(exact_program, capsys):
    admm(exact_program, verbose=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "prim res" in captured.err and "dual res" in captured.err and "rho" in captured.err


@pytest.mark.parametrize("spread", [1e-3, 1e-1, 1.0, 10.0])
def test_cone_projection_is_the_exact_projection(spread):
    """project_cones (NNLS on candidate rows, KKT-checked) == the NNLS on all rows, and satisfies the
    projection's optimality conditions: v in the cone, v - a = G^T lam with lam >= 0, lam_i (G v)_i = 0."""
    from scipy.optimize import nnls

    from solvers.admm.factorization import ADMMFactorization
    from solvers.core.operators import project_cones

    rng = np.random.default_rng(7)
    n, d, P = 300, 8, 6
    X = rng.standard_normal((n, d))
    D = (X @ rng.standard_normal((d, P)) >= 0).astype(float)
    F = ADMMFactorization(X, D)
    A = np.hstack([rng.standard_normal((d, P))] * 2)
    A = A * np.where(np.arange(2 * P) < P, 1.0, -1.0)  # w blocks: the v directions' opposites (violating)
    A = A + spread * rng.standard_normal(A.shape)
    A0 = A.copy()
    out = project_cones(F, A)
    assert np.array_equal(A, A0)  # input untouched
    for j in range(2 * P):
        G = F.S2[:, j:j + 1] * X
        lam, _ = nnls(G.T, -A[:, j], maxiter=50 * n)
        ref = A[:, j] + G.T @ lam
        scale = max(1.0, np.linalg.norm(A[:, j]))
        assert np.linalg.norm(out[:, j] - ref) <= 1e-9 * scale
        assert (G @ out[:, j]).min() >= -1e-9 * scale


def test_cone_projection_keeps_its_deadline_at_the_pace_of_its_blocks(monkeypatch):
    """Blocks that take long to project (wide data): project_cones gives up as soon as the blocks left would
    end past the deadline at the pace so far, not after the deadline has passed; with time enough it
    projects every block."""
    import time

    from solvers.admm.factorization import ADMMFactorization
    from solvers.core import operators

    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 4))
    F = ADMMFactorization(X, (X @ rng.standard_normal((4, 6)) >= 0).astype(float))
    A = -np.hstack([X[:4].T @ F.D[:4], X[:4].T @ F.D[:4]]) - 1.0  # every block violates its cone
    exact = operators.project_onto_cone

    def slow_projection(G, a):
        time.sleep(0.1)
        return exact(G, a)

    monkeypatch.setattr(operators, "project_onto_cone", slow_projection)
    start = time.perf_counter()
    assert operators.project_cones(F, A, deadline=start + 0.3) is None
    assert time.perf_counter() - start < 0.3
    projected = operators.project_cones(F, A, deadline=time.perf_counter() + 10.0)
    assert projected is not None and np.min(F.S2 * (X @ projected)) >= -1e-9


def test_certified_stop_brackets_the_oracle_optimum():
    """With the polish off and residual tolerances out of reach, the run stops on the certified gap: the
    returned (feasible) point and the dual bound bracket the oracle's optimum within tol_gap."""
    from solvers.oracle import solve_oracle
    rng = np.random.default_rng(7)
    X = rng.standard_normal((80, 6))
    y = np.maximum(0.0, X @ rng.standard_normal(6)) + 0.1 * rng.standard_normal(80)
    prog = make_program("sampled", X, y, "squared", 0.5, n_patterns=30, seed=7)
    opt = solve_oracle(prog, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10).objective
    res = admm(prog, tol_gap=1e-3, polish=False, tol_abs=1e-14, tol_rel=1e-14, max_iter=20000)
    assert res.status == "optimal" and res.info["certified"] and res.info["certify_attempts"] >= 1
    assert res.max_violation <= 1e-9
    bound = res.info["dual_bound"]
    assert bound <= opt + 1e-9 * abs(opt)
    assert opt <= res.objective + 1e-9 * abs(opt)
    assert (res.objective - bound) / max(1.0, abs(res.objective)) <= 1e-3
    assert (res.objective - opt) / opt > 1e-7  # it did stop early, not at the optimum


def test_options_are_the_settings_fields(exact_program):
    """admm_squared's keyword signature is ADMMSettings (each option and its default written once)."""
    import dataclasses
    import inspect

    from solvers.admm.squared import ADMMSettings, admm_squared
    params = list(inspect.signature(admm_squared).parameters.values())[1:]
    assert [(p.name, p.default) for p in params] == [(f.name, f.default) for f in dataclasses.fields(ADMMSettings)]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    with pytest.raises(TypeError, match="unexpected keyword argument 'tolerance'"):
        admm_squared(exact_program, tolerance=1e-6)


@pytest.mark.parametrize("alpha", [1.0, 1.6])
def test_merged_cone_split_matches_separate_arrays(alpha):
    """For gamma = 1 the cone split stored as Z = c + kappa takes the same steps as separate c and kappa,
    also when its pass runs over several row chunks (here of 5 rows, the last one short)."""
    from solvers.admm.squared import _ConeSplit, _MergedConeSplit
    from solvers.core.operators import row_chunks

    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 3))
    D = np.unique((X @ rng.standard_normal((3, 6)) >= 0).astype(float), axis=1)
    F = ADMMFactorization(X, D, 0.7)
    F.chunks = row_chunks(12, 2 * F.P, chunk_bytes=5 * 8 * 2 * F.P)
    F.chunk_rows = 5
    assert [rows.stop - rows.start for rows in F.chunks] == [5, 5, 2]
    C = np.maximum(F.Q(rng.standard_normal((3, 2 * F.P))), 0.0)
    separate = _ConeSplit(F, C.copy(), np.zeros_like(C), alpha, 1.0)
    merged = _MergedConeSplit(F, C.copy(), np.zeros_like(C), alpha)
    for step in range(5):
        assert np.allclose(separate.adjoint(), merged.adjoint(), atol=1e-12)
        A = rng.standard_normal((3, 2 * F.P))
        XA = np.empty((12, 2 * F.P))
        separate.update(A)
        merged.update(A, XA if step % 2 else None)
        assert np.allclose(merged.adjoint(), F.QT(separate.C - separate.Kp), atol=1e-12)
        if step % 2 == 0:
            np.matmul(X, A, out=XA)
        merged.settle(XA)
        for name in ("QA", "C", "Kp"):
            assert np.allclose(getattr(separate, name), getattr(merged, name), atol=1e-12)
        assert np.all(merged.Kp <= 0)
        assert np.allclose(separate.QT_kappa(), merged.QT_kappa(), atol=1e-12)
        assert separate.primal_residual() == pytest.approx(merged.primal_residual(), abs=1e-12)
        separate.rescale(0.5)
        merged.rescale(0.5)


def test_every_status_describes_the_returned_point():
    """Stopped early, the ADMM reports the gap of the point it returns against the best dual bound of the
    run - a bound below the oracle's optimum - not the gap of some other (rejected) point; a certified
    feasible point is optimal whatever stopped the iterations."""
    from solvers import solve_oracle

    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 10))
    y = np.maximum(X @ rng.standard_normal(10), 0) + 0.1 * rng.standard_normal(200)
    program = make_program("sampled", X, y, "squared", 0.01, n_patterns=40, seed=3)
    optimum = solve_oracle(program).objective
    for max_iter in (30, 300):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = admm(program, max_iter=max_iter)
        info = result.info
        assert info["dual_bound"] <= optimum + 1e-7 * abs(optimum)
        gap = (result.objective - info["dual_bound"]) / max(1.0, abs(result.objective))
        assert info["duality_gap_rel"] == pytest.approx(gap, rel=1e-9, abs=1e-15)
        assert info["certified"] == (gap <= 1e-7 and result.max_violation <= 1e-6 * max(1.0, np.abs(y).max()))
        assert (result.status == "optimal") == info["certified"]


# ---- the second-order polish on a working set of patterns -------------------------------------------------
SLOW_ADMM_SEED = 1440696407  # sampled/squared: n=251, d=8+bias, beta = 10^-3.4 beta_max; plain ADMM stalls


def _slow_admm_program():
    from solvers.battery import RandomSpec
    return RandomSpec.draw("sampled", "squared", SLOW_ADMM_SEED).build()


def test_pattern_prices_are_the_least_violations_of_the_dual_constraint():
    """price_patterns against CVXPY: rho_j = min over lam >= 0 of |M_j^T nu - X^T (S_j o lam)| (the larger
    of the pattern's two blocks)."""
    import cvxpy as cp
    from solvers.working_set import price_patterns
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 3))
    program = make_program("sampled", X, rng.standard_normal(30), "squared", 0.5, n_patterns=6, seed=1)
    nu = 3.0 * rng.standard_normal(30)
    prices = price_patterns(program, nu, np.arange(program.D.shape[1]))
    for j, price in enumerate(prices):
        D, S = program.D[:, j], 2.0 * program.D[:, j] - 1.0
        gradient = X.T @ (D * nu)
        worst = 0.0
        for sign in (1.0, -1.0):
            lam = cp.Variable(30, nonneg=True)
            problem = cp.Problem(cp.Minimize(cp.norm(sign * gradient - X.T @ cp.multiply(S, lam))))
            problem.solve(solver="CLARABEL")
            worst = max(worst, problem.value)
        if np.linalg.norm(gradient) <= 0.5:
            worst = np.linalg.norm(gradient)  # below beta no multipliers are needed, and none are computed
        assert price == pytest.approx(worst, rel=1e-6, abs=1e-8)


def test_working_set_polish_certifies_where_plain_admm_stalls():
    from solvers import solve_oracle
    program = _slow_admm_program()
    optimum = solve_oracle(program).objective
    with pytest.warns(ConvergenceWarning):
        plain = admm(program, max_iter=1000, working_set=False)
    assert plain.status == "max_iter"
    polished = admm(program, max_iter=1000)
    assert polished.status == "optimal" and polished.info["returned_point"] == "working_set"
    assert polished.info["duality_gap_rel"] <= 1e-7 and polished.max_violation <= 1e-9 * max(1, np.abs(program.y).max())
    assert polished.info["dual_bound"] <= optimum + 1e-8 * abs(optimum)
    assert abs(polished.objective - optimum) <= 1e-6 * abs(optimum)


def test_working_set_grows_by_pricing_to_the_full_optimum():
    """Started from one pattern, pricing adds the patterns the optimum needs (column generation), and the
    bound it certifies is a bound for the full program."""
    from solvers import solve_oracle
    from solvers.working_set import working_set_polish
    program = _slow_admm_program()
    optimum = solve_oracle(program).objective
    used = np.flatnonzero(np.linalg.norm(solve_oracle(program).weights["V"], axis=0) > 1e-6)
    polished = working_set_polish(program, used[:1], tol_gap=1e-7, max_rounds=10)
    assert polished["rounds"] > 1 and polished["patterns"].size > 1
    assert polished["dual_bound"] <= optimum + 1e-8 * abs(optimum)
    assert polished["gap"] <= 1e-7 and abs(polished["objective"] - optimum) <= 1e-6 * abs(optimum)
