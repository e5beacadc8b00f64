"""Bad input in the Python API fails early with a ValueError that names the problem, and user arrays
are never modified (nor shared) by building or solving any program."""
from __future__ import annotations

import numpy as np
import pytest

from formulations import FORMULATIONS, ReLUProgram, make_program, sample_patterns
from formulations.network import ReLUNetwork
from solvers import solve_oracle
from solvers.baselines.backprop import nc_objective_and_gradient, train_nonconvex


@pytest.fixture
def data(tiny_data):
    return tiny_data["X"].copy(), tiny_data["y_reg"].copy(), tiny_data["y_cls"].copy()


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_non_finite_data_is_refused(data, formulation):
    X, y, _ = data
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[2, 1] = bad
        with pytest.raises(ValueError, match=r"X contains 1 NaN or infinite value"):
            make_program(formulation, Xb, y, bias=True)
        yb = y.copy()
        yb[3] = bad
        with pytest.raises(ValueError, match=r"y contains 1 NaN or infinite value"):
            make_program(formulation, X, yb)


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_shape_mismatch_is_refused(data, formulation):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"shape mismatch: X has 8 rows but y has 7 entries"):
        make_program(formulation, X, y[:7])
    with pytest.raises(ValueError, match=r"X must be a 2-D array"):
        make_program(formulation, X[:, 0], y)
    with pytest.raises(ValueError, match=r"y must be a 1-D array"):
        make_program(formulation, X, np.ones((8, 2)))


def test_pattern_and_direction_shapes_are_checked(data):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"shape mismatch: X has 8 rows but D has 7 rows"):
        make_program("sampled", X, y, D=np.ones((7, 3)))
    with pytest.raises(ValueError, match=r"shape mismatch: X has 3 columns but H has 2 rows"):
        make_program("scp", X, y, H=np.ones((2, 5)), bias=True)
    with pytest.raises(ValueError, match=r"D must contain only 0/1 entries"):
        make_program("sampled", X, y, D=np.full((8, 2), 0.5))
    with pytest.raises(ValueError, match=r"zero column"):
        make_program("scp", X, y, H=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"exact formulation enumerates its own patterns"):
        make_program("exact", X, y, D=np.ones((8, 1)))


@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("loss", ["hinge", "logistic"])
def test_wrong_label_set_is_refused(data, formulation, loss):
    X, y_reg, _ = data
    with pytest.raises(ValueError, match=rf"the {loss} loss needs labels in \{{-1, \+1\}}; found"):
        make_program(formulation, X, y_reg, loss)
    with pytest.raises(ValueError, match=r"needs labels in .*found \[0\.0\]"):
        make_program(formulation, X, np.where(y_reg > 0, 1.0, 0.0), loss)


@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("beta", [0.0, -1.0, np.nan, np.inf, "1", None, True])
def test_bad_beta_is_refused(data, formulation, beta):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"beta must be a"):
        make_program(formulation, X, y, beta=beta)


@pytest.mark.parametrize("eps", [-0.1, -1e-12, np.nan, np.inf, "0.1"])
def test_bad_epsilon_is_refused(data, eps):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"epsilon must be a"):
        make_program("robust", X, y, epsilon=eps)


def test_zero_patterns_are_refused(data):
    X, y, _ = data
    for formulation in ("sampled", "gated", "robust"):
        with pytest.raises(ValueError, match=r"D has zero activation patterns"):
            make_program(formulation, X, y, D=np.zeros((8, 0)))
    with pytest.raises(ValueError, match=r"zero activation patterns"):
        ReLUProgram(X, y, np.zeros((8, 0)))
    # one sampled direction h < 0 on data x > 0 gives only the all-zero pattern, which is dropped
    seed = next(s for s in range(100) if np.random.default_rng(s).standard_normal() < 0)
    with pytest.raises(ValueError, match=r"zero usable activation patterns"):
        sample_patterns(np.array([[1.0], [2.0]]), 1, seed=seed)
    with pytest.raises(ValueError, match=r"number of patterns must be a positive integer"):
        make_program("sampled", X, y, n_patterns=0)


def test_unknown_names_are_refused(data):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"unknown loss 'l1'"):
        make_program("sampled", X, y, "l1")
    with pytest.raises(ValueError, match=r"unknown formulation 'convex'; choose one of exact, sampled"):
        make_program("convex", X, y)
    prog = make_program("sampled", X, y)
    with pytest.raises(ValueError, match=r"CVXPY solver 'gurobi2' is not installed"):
        solve_oracle(prog, "gurobi2")
    with pytest.raises(ValueError, match=r"unknown method 'newton'"):
        train_nonconvex(X, y, width=3, method="newton")


def test_backprop_input_validation(data):
    X, y, y_cls = data
    U, a = np.ones((2, 3)), np.ones(3)
    with pytest.raises(ValueError, match=r"shape mismatch: U has 3 rows but X has 2 columns"):
        nc_objective_and_gradient(np.ones((3, 3)), a, X, y, "squared", 1.0)
    with pytest.raises(ValueError, match=r"U has 3 neurons but alpha has 2 entries"):
        nc_objective_and_gradient(U, a[:2], X, y, "squared", 1.0)
    with pytest.raises(ValueError, match=r"hinge loss needs labels"):
        nc_objective_and_gradient(U, a, X, y, "hinge", 1.0)
    with pytest.raises(ValueError, match=r"beta must be"):
        train_nonconvex(X, y, beta=0.0, width=3)
    with pytest.raises(ValueError, match=r"width \(number of neurons\) is required"):
        train_nonconvex(X, y)
    with pytest.raises(ValueError, match=r"width must be a positive integer"):
        train_nonconvex(X, y, width=0)
    with pytest.raises(ValueError, match=r"U has 3 columns \(neurons\) but width=4"):
        train_nonconvex(X, y, width=4, U0=U)
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0"):
        train_nonconvex(X, y, width=3, lr=-1.0)
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer"):
        train_nonconvex(X, y, width=3, batch_size=0)
    with pytest.raises(ValueError, match=r"max_iter must be a positive integer"):
        train_nonconvex(X, y, width=3, max_iter=2.5)
    with pytest.raises(ValueError, match=r"tol must be a finite number >= 0"):
        train_nonconvex(X, y, width=3, tol=np.nan)
    with pytest.raises(ValueError, match=r"init_scale must be a finite number > 0"):
        train_nonconvex(X, y, width=3, init_scale=0)
    with pytest.raises(ValueError, match=r"U0 contains 1 NaN"):
        train_nonconvex(X, y, U0=np.array([[np.nan, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"X contains 1 NaN"):
        train_nonconvex(np.where(X == X[0, 0], np.nan, X), y_cls, "logistic", width=2)


def _snapshot(*arrays):
    return [np.array(a, copy=True) for a in arrays]


@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_user_arrays_are_never_modified(data, formulation):
    X, y_reg, y_cls = data
    y = y_cls if formulation in ("gated", "robust") else y_reg
    loss = "hinge" if formulation in ("gated", "robust") else "squared"
    Xb = np.hstack([X, np.ones((8, 1))])
    D, H = sample_patterns(Xb, 15, seed=1)
    if formulation == "scp":
        kwargs = {"H": H}
    elif formulation == "exact":
        kwargs = {}
    else:
        kwargs = {"D": D, "H": H}
    before = _snapshot(X, y, D, H)
    X_id, y_id = X.ctypes.data, y.ctypes.data
    if formulation == "robust":
        kwargs["epsilon"] = 0.05
    prog = make_program(formulation, X, y, loss, 0.1, bias=True, **kwargs)
    res = solve_oracle(prog, "clarabel")
    res.to_dict()
    net = res.network
    net.predict(prog.X)
    for arr, old in zip((X, y, D, H), before):
        np.testing.assert_array_equal(arr, old)
    assert X.shape == (8, 2) and X.ctypes.data == X_id and y.ctypes.data == y_id
    # the program holds its own copies: nothing it stores aliases the user's memory
    for arr in (X, y, D, H):
        for mine in (prog.X, prog.y, getattr(prog, "D", None), getattr(prog, "H", None)):
            if mine is not None:
                assert not np.shares_memory(arr, mine)


def test_backprop_does_not_modify_inputs(data):
    X, y, _ = data
    U0 = np.random.default_rng(0).standard_normal((2, 4))
    a0 = np.random.default_rng(1).standard_normal(4)
    before = _snapshot(X, y, U0, a0)
    for method in ("adam", "sgd", "lbfgs"):
        run = train_nonconvex(X, y, beta=0.1, method=method, U0=U0, alpha0=a0, max_iter=20, batch_size=3)
        assert not np.shares_memory(run.network.U, U0) and not np.shares_memory(run.network.alpha, a0)
    nc_objective_and_gradient(U0, a0, X, y, "squared", 0.1)
    for arr, old in zip((X, y, U0, a0), before):
        np.testing.assert_array_equal(arr, old)
    net = ReLUNetwork(U0, a0)
    U0[0, 0] += 1.0  # the network holds a copy
    assert net.U[0, 0] == before[2][0, 0]


def test_make_program_validates_once_and_the_constructors_trust_it(monkeypatch):
    """make_program checks and copies X and y once; the program classes then trust them (check_input=False),
    keep their own copy, and never modify the user's arrays. Built directly, a program still checks."""
    import formulations.base as base

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), rng.standard_normal(12)
    X_before, y_before = X.copy(), y.copy()

    def refuse(*args, **kwargs):
        raise AssertionError("a trusted program re-validated its data")
    monkeypatch.setattr(base, "check_X_y", refuse)
    for formulation in ("exact", "sampled", "gated", "scp", "robust"):
        program = make_program(formulation, X, y, beta=0.5, n_patterns=5, seed=1,
                               loss="squared" if formulation != "robust" else "squared")
        assert program.X is not X and not np.shares_memory(program.X, X)
        program.X[0, 0] += 1.0
    assert np.array_equal(X, X_before) and np.array_equal(y, y_before)
    with pytest.raises(AssertionError, match="re-validated"):
        ReLUProgram(X, y, np.ones((12, 1)))


def test_directions_without_patterns_become_the_program_patterns():
    """Directions H given without D make the patterns 1[X H >= 0] (duplicates and the zero pattern dropped),
    the same function the command line uses."""
    from formulations import patterns_from_directions

    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    H = rng.standard_normal((3, 6))
    program = make_program("sampled", X, y, H=np.hstack([H, H[:, :2]]))
    D, kept = patterns_from_directions(X, H)
    assert np.array_equal(program.D, D) and np.array_equal(program.H, kept)
    with pytest.raises(ValueError, match="zero usable activation patterns"):
        patterns_from_directions(np.abs(X), -np.ones((3, 1)))


@pytest.mark.parametrize("call, message", [
    (lambda X, y, p: __import__("solvers").solve_oracle({"X": X}), "program must be a cvxnn program"),
    (lambda X, y, p: __import__("solvers").solve_oracle(p, max_iter=-5), "max_iter must be an integer >= 1"),
    (lambda X, y, p: __import__("solvers").admm(p, max_iter=-5), "max_iter"),
    (lambda X, y, p: make_program("sampled", X, y, seed="abc"), "seed must be None or an integer >= 0"),
    (lambda X, y, p: make_program("sampled", X, y, seed=-3), "seed must be None or an integer >= 0"),
    (lambda X, y, p: make_program("sampled", X, y, epsilon=0.1), "epsilon applies to the robust formulation"),
    (lambda X, y, p: make_program("sampled", X, y, bias="yes"), "bias must be True or False"),
])
def test_python_api_refuses_bad_arguments_by_name(call, message):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 2)), rng.standard_normal(12)
    program = make_program("sampled", X, y, beta=0.5, n_patterns=4, seed=0)
    with pytest.raises(ValueError, match=message):
        call(X, y, program)


@pytest.mark.parametrize("formulation, loss, solver_name, options", [
    ("sampled", "squared", "admm", {"working_set": False}),
    ("sampled", "hinge", "admm", {"working_set": False}),
    ("sampled", "logistic", "admm", {"working_set": False}),
    ("robust", "hinge", "admm", {"working_set": False}),
    ("sampled", "squared", "ipm", {}),
    ("gated", "hinge", "fista", {"working_set": False}),
])
def test_a_convergence_warning_names_the_users_call(data, formulation, loss, solver_name, options):
    """However deep in the package a solver stops (dispatchers, BLAS thread limits, run objects), its
    ConvergenceWarning points at the line that called it."""
    import warnings

    import solvers
    from solvers.result import ConvergenceWarning
    X, y_reg, y_cls = data
    labels = y_reg if loss == "squared" else y_cls
    extra = {"epsilon": 0.01} if formulation == "robust" else {}
    program = make_program(formulation, X, labels, loss, 1e-3, n_patterns=8, seed=0, **extra)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(solvers, solver_name)(program, max_iter=2, **options)
    found = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert found and all(w.filename == __file__ for w in found), [(w.filename, w.lineno) for w in found]
