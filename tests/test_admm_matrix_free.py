"""The ADMM's matrix-free a-update (solvers.admm.factorization.MatrixFreeFactorization): its solves against
the dense system built from the maps' definitions, its preconditioner blocks against a loop over the
patterns, the Nystrom preconditioner against the inverse of the dense system, and the ADMM on that route
against the oracle (the fixed battery at the ADMM's tolerances, and random instances of the randomised
battery)."""
import numpy as np
import pytest
from scipy import linalg as sla

from formulations import make_program
from solvers.admm import admm
from solvers.admm import factorization
from solvers.admm.factorization import (DENSE_MAX_N, NYSTROM_RANK_RULE, ADMMFactorization,
                                        MatrixFreeFactorization, a_update_factorization, a_update_route)
from solvers.core.operators import weighted_gram_blocks
from solvers.battery import (SMALL_RANDOM_LIMITS, reference_problems, run_battery, run_random_battery,
                             run_random_instance, random_problem)

#: small instances of the randomised battery (the fast seeds of the ADMM's own cases)
RANDOM_SEEDS = {"squared": (739607880, 519074008), "hinge": (739607880, 1999787903),
                "logistic": (1751953905, 1999787903)}


def _instance(n=60, d=4, P=9, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    D = np.unique((X @ rng.standard_normal((d, P)) >= 0).astype(float), axis=1)
    return rng, X, D


@pytest.mark.parametrize("preconditioner", ["block", "gram", "nystrom"])
@pytest.mark.parametrize("sigma", [1.0, 3.0])
@pytest.mark.parametrize("rho", [1e-2, 0.7, 40.0])
def test_matrix_free_solve_matches_the_dense_system(preconditioner, sigma, rho):
    rng, X, D = _instance()
    F = MatrixFreeFactorization(X, D, sigma, preconditioner)
    F.tolerance = 1e-13
    R = rng.standard_normal((X.shape[1], 2 * D.shape[1]))
    A, XA = F.solve(R.copy(), rho, return_XA=True)
    K, _, _ = ADMMFactorization(X, D, sigma).dense_system(rho)
    a_dense = np.linalg.solve(K, R.T.reshape(-1))
    assert np.max(np.abs(A.T.reshape(-1) - a_dense)) <= 1e-9 * max(1.0, np.abs(a_dense).max())
    assert np.allclose(XA, X @ A, atol=1e-12)
    steps = F.cg_steps
    F.solve(R.copy(), rho)  # warm-started from the solution: nothing left to do
    assert F.cg_steps == steps and F.describe()["a_update"] == "matrix_free"


def _difference_matrix(X, D, sigma, rho):
    """The difference system ``I_P (x) G + (2 / rho) M_h^T M_h`` as a dense dP x dP matrix, from the
    definitions (``M_h`` = the V half of the prediction matrix of the dense system, ``G = I + sigma^2 X^T X``)."""
    d, P = X.shape[1], D.shape[1]
    _, Mmat, _ = ADMMFactorization(X, D, sigma).dense_system(rho)
    Mh = Mmat[:, :d * P]
    return np.kron(np.eye(P), np.eye(d) + sigma ** 2 * X.T @ X) + (2.0 / rho) * Mh.T @ Mh, Mh


def _preconditioner_matrix(F):
    """The matrix of ``F.precondition`` (on vec(t), column by column), one unit vector at a time."""
    d, P = F.d, F.P
    return np.column_stack([F.precondition(unit.reshape(P, d).T).T.reshape(-1) for unit in np.eye(d * P)])


@pytest.mark.parametrize("sigma", [1.0, 3.0])
@pytest.mark.parametrize("rho", [1e-2, 0.7, 40.0])
def test_the_nystrom_preconditioner_is_exact_when_its_rank_exceeds_that_of_the_data_term(sigma, rho):
    # n = 12 samples: M_h^T M_h has rank <= 12 < ell = 20 < dP = 36, so the sketch sees its whole range
    _, X, D = _instance(n=12, d=4, P=9, seed=11)
    A, Mh = _difference_matrix(X, D, sigma, rho)
    assert np.linalg.matrix_rank(Mh) < 20 < A.shape[0]
    F = MatrixFreeFactorization(X, D, sigma, "nystrom", rank=20, seed=4)
    F.set_preconditioner(rho)
    Pinv = _preconditioner_matrix(F)
    assert np.allclose(Pinv, Pinv.T, atol=1e-14)
    assert np.abs(Pinv @ A - np.eye(A.shape[0])).max() <= 1e-9
    # below the data term's rank it is an SPD approximation, no longer the inverse
    low = MatrixFreeFactorization(X, D, sigma, "nystrom", rank=5, seed=4)
    low.set_preconditioner(rho)
    Pinv = _preconditioner_matrix(low)
    assert np.linalg.eigvalsh(0.5 * (Pinv + Pinv.T)).min() > 0
    assert np.abs(Pinv @ A - np.eye(A.shape[0])).max() > 1e-3


def test_the_nystrom_rank_grows_only_for_a_smaller_rho(monkeypatch):
    monkeypatch.setitem(NYSTROM_RANK_RULE, "initial", 16)
    _, X, D = _instance(n=400, d=6, P=24, seed=2)
    F = MatrixFreeFactorization(X, D, 1.0, "nystrom")
    N = F.nystrom
    assert N.rank == NYSTROM_RANK_RULE["initial"] and N.top == X.shape[1] * D.shape[1]
    # N = (I (x) G^{-1/2}) M_h^T M_h (I (x) G^{-1/2}) from the definitions, G^{-1/2} by scipy
    _, Mh = _difference_matrix(X, D, 1.0, 1.0)
    whitened = Mh @ np.kron(np.eye(D.shape[1]), sla.inv(sla.sqrtm(F.G)).real)
    lam = np.linalg.eigvalsh(whitened.T @ whitened)[::-1]
    rho_large = 1e3 * lam[0]
    F.set_preconditioner(rho_large)
    assert N.rank == NYSTROM_RANK_RULE["initial"]
    F.set_preconditioner(1e-3 * lam[0])  # (2 / rho) lam_k > tail for every k below dP / 2: the full rank
    assert N.rank == N.top
    F.set_preconditioner(rho_large)
    assert N.rank == N.top and F.describe()["nystrom_rank"] == N.top
    assert np.allclose(np.sort(N.lam)[::-1], lam[:N.rank], atol=1e-8 * lam[0])


def test_bad_nystrom_requests_are_refused(monkeypatch):
    _, X, D = _instance()
    for rank, preconditioner in ((0, "nystrom"), (2.5, "nystrom"), (8, "block")):
        with pytest.raises(ValueError, match="rank"):
            MatrixFreeFactorization(X, D, 1.0, preconditioner, rank=rank)
    monkeypatch.setattr(factorization, "BLOCK_PRECONDITIONER_BYTES", 8 * X.shape[1] * D.shape[1])
    with pytest.raises(ValueError, match="preconditioner='nystrom'"):
        MatrixFreeFactorization(X, D, 1.0, "nystrom")


def test_the_tolerance_bounds_the_relative_residual_of_the_difference_system():
    rng, X, D = _instance(seed=5)
    F = MatrixFreeFactorization(X, D)
    rhs = rng.standard_normal((X.shape[1], D.shape[1]))
    for tolerance in (1e-2, 1e-6):
        F.T = np.zeros_like(F.T)
        F.tolerance = tolerance
        T = F.solve_difference(rhs, 0.5)
        assert np.linalg.norm(rhs - F.difference_operator(T, 0.5)) <= tolerance * np.linalg.norm(rhs)


def test_the_difference_operator_over_row_chunks_matches_the_definition(monkeypatch):
    """The chunked products of the difference system (chunks of 7 rows, the last one short) against the
    dense matrix built from the definitions."""
    from solvers.core import operators

    monkeypatch.setattr(operators, "PASS_CHUNK_BYTES", 7 * 8 * 2 * 9)
    rng, X, D = _instance(n=60, P=9)
    F = MatrixFreeFactorization(X, D, 1.5)
    assert len(F.chunks) == 9 and F.chunks[-1].stop - F.chunks[-1].start == 4
    matrix, _ = _difference_matrix(X, D, 1.5, 0.3)
    T = rng.standard_normal((X.shape[1], F.P))
    image = F.difference_operator(T, 0.3)
    assert np.allclose(image.T.reshape(-1), matrix @ T.T.reshape(-1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
@pytest.mark.parametrize("route", ["dense", "matrix_free"])
def test_the_iterations_do_not_depend_on_the_row_chunks(loss, route, monkeypatch):
    """The fused passes over row chunks (the cone step, ``M a``, ``Q a`` and the next ``Q^T (c - kappa)``)
    take the same iterates whether the rows come in one chunk or in chunks of 5: the histories of 60
    unpolished iterations agree up to rounding (the sums run in another order, and conjugate gradients
    amplifies that to about 1e-8)."""
    from solvers.core import operators

    rng = np.random.default_rng(11)
    X = rng.standard_normal((48, 4))
    y = np.sign(rng.standard_normal(48)) if loss != "squared" else rng.standard_normal(48)
    program = make_program("sampled", X, y, loss, 0.05, n_patterns=8, seed=2)
    options = dict(a_update=route, max_iter=60, polish=False, working_set=False, tol_gap=1e-14, tol_abs=1e-14,
                   tol_rel=1e-14)
    histories = []
    for chunk_rows in (10 ** 6, 5):
        monkeypatch.setattr(operators, "PASS_CHUNK_BYTES", chunk_rows * 8 * 2 * program.n_patterns)
        with pytest.warns(Warning):
            result = admm(program, **options)
        histories.append(result.history)
    for key in ("objective", "primal_residual", "dual_residual", "gap"):
        assert np.allclose(histories[0][key], histories[1][key], rtol=1e-6, atol=1e-12), key


@pytest.mark.parametrize("d", [3, 70])
def test_weighted_gram_blocks(d):
    rng = np.random.default_rng(d)
    X, H = rng.standard_normal((150, d)), rng.random((150, 4))
    H[:, 3] -= 0.5  # a weight below 0: the wide route's GEMM instead of syrk
    blocks = weighted_gram_blocks(X, H)
    for j in range(H.shape[1]):
        assert np.allclose(blocks[j], X.T @ (H[:, j:j + 1] * X))


def test_the_largest_capacitance_eigenvalue():
    rng, X, D = _instance(n=90, d=3, P=7, seed=7)
    dense, free = ADMMFactorization(X, D, 2.0), MatrixFreeFactorization(X, D, 2.0)
    assert free.capacitance_max == pytest.approx(dense.capacitance_max, rel=1e-3)


def test_the_adaptive_tolerance_follows_the_residuals():
    from solvers.admm.schedules import Residuals
    _, X, D = _instance()
    F = MatrixFreeFactorization(X, D)
    F.adapt(Residuals(primal=1e-4, dual=1e-2, primal_scale=1.0, dual_scale=1.0))
    assert F.tolerance == pytest.approx(1e-5)
    F.adapt(Residuals(primal=1.0, dual=1.0, primal_scale=1.0, dual_scale=1.0))
    assert F.tolerance == 1e-3
    F.adapt(Residuals(primal=0.0, dual=1.0, primal_scale=1.0, dual_scale=1.0))
    assert F.tolerance == 1e-10


def test_the_route_is_chosen_by_size_and_reported():
    assert a_update_route(DENSE_MAX_N, 30, 100) == "dense"
    assert a_update_route(DENSE_MAX_N + 1, 30, 100) == "matrix_free"
    assert a_update_route(10, 2, 3, "matrix_free") == "matrix_free"
    _, X, D = _instance()
    assert a_update_factorization(X, D).route == "dense"
    assert a_update_factorization(X, D, route="matrix_free").route == "matrix_free"
    program = make_program("sampled", X, X[:, 0] - X[:, 1], "squared", 0.1, n_patterns=6, seed=0)
    assert admm(program, a_update="matrix_free").info["a_update"] == "matrix_free"
    assert admm(program).info["a_update"] == "dense"


@pytest.mark.parametrize("options, message", [({"a_update": "cg"}, "a_update must be"),
                                              ({"preconditioner": "jacobi"}, "preconditioner must be")])
@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_bad_route_options_are_refused(options, message, loss):
    _, X, D = _instance()
    program = make_program("sampled", X, np.sign(X[:, 0]), loss, 0.1, n_patterns=6, seed=0)
    with pytest.raises(ValueError, match=message):
        admm(program, **options)


def _matrix_free(program):
    return admm(program, a_update="matrix_free")


def _nystrom(program):
    return admm(program, a_update="matrix_free", preconditioner="nystrom")


#: the reference problems of the default run (the split ADMM's fast subset, tests/test_admm_split.py); the
#: slow run takes every one
FAST_SUBSET = ("exact_gp14", "breast_cancer_150x10", "X_scaled_100")
#: the Nystrom preconditioner's default run: one fast problem per loss (n = 40, dP = 100), a sparse and a
#: dense optimum
NYSTROM_SUBSET = {"squared": ("sparse_beta_2",), "hinge": ("dense_beta_0.0001",)}


def _check_battery(loss, names=None, solver=_matrix_free):
    problems = [p for p in reference_problems("relu", loss) if names is None or p.name in names]
    assert problems
    report = run_battery(solver, problems, name="admm")
    assert report.passed, "\n" + report.table()


@pytest.mark.parametrize("loss", ["squared", pytest.param("hinge", marks=pytest.mark.slow),
                                  pytest.param("logistic", marks=pytest.mark.slow)])
def test_the_fixed_battery_on_the_matrix_free_route(loss):
    _check_battery(loss, FAST_SUBSET)


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_the_fixed_battery_with_a_low_rank_nystrom_preconditioner(loss, monkeypatch):
    # rank 8, below the rank (n = 40) of the data term: CG works with an inexact preconditioner
    monkeypatch.setitem(NYSTROM_RANK_RULE, "initial", 8)
    monkeypatch.setitem(NYSTROM_RANK_RULE, "maximum", 8)
    _check_battery(loss, NYSTROM_SUBSET[loss], _nystrom)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_the_full_fixed_battery_with_the_nystrom_preconditioner(loss):
    _check_battery(loss, solver=_nystrom)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["squared", "hinge", "logistic"])
def test_the_full_fixed_battery_on_the_matrix_free_route(loss):
    _check_battery(loss)


@pytest.mark.parametrize("loss", list(RANDOM_SEEDS))
def test_random_instances_on_the_matrix_free_route(loss):
    for seed in RANDOM_SEEDS[loss]:
        run = run_random_instance(random_problem("sampled", loss, seed, SMALL_RANDOM_LIMITS), "admm",
                                  a_update="matrix_free")
        assert not run.failed, run.line()


@pytest.mark.slow
@pytest.mark.parametrize("loss", list(RANDOM_SEEDS))
def test_the_randomised_battery_on_the_matrix_free_route(loss):
    runs = run_random_battery("admm", "sampled", loss, count=30, seed=0, min_judged=30, a_update="matrix_free")
    failures = [run.line() for run in runs if run.failed]
    assert not failures, "\n".join(failures)
