"""PGD adversarial training of the non-convex network (solvers/baselines/adversarial.py;
docs/math.md sections 1 and 7).

The reference worst case here is EXACT for any two-layer ReLU network in two perturbed dimensions (plus
an unperturbed bias): f is piecewise affine on the cells cut out of the box by the neuron lines
{delta : (x + delta).u_j = 0}; on each cell the loss is a convex function of an affine function, so its
maximum over the box is attained at a vertex of that arrangement - a box corner, a line/edge crossing or
a line/line crossing inside the box. No stability assumption is needed.

Facts checked: eps = 0 adversarial training IS standard training (same path as train_nonconvex);
adversarial training lowers the exact adversarial objective and beats standard training on it; the PGD
estimate is a lower bound of the exact value; the robust convex program's network has exact adversarial
objective == its optimum (it is an upper bound on the adversarial training optimum, so nothing is
asserted between the two optima); the certificates are sound; inputs are never modified; bad input
raises ValueError.
"""
import importlib.util
import itertools
import pathlib
import warnings

import numpy as np
import pytest

from formulations import ReLUNetwork, add_bias_column, get_loss, make_program
from solvers import SolveResult, solve_oracle
from solvers.baselines.adversarial import AdversarialTrainingResult, adversarial_objective, evaluate_robustness, stable_certificates, train_adversarial
from solvers.baselines.attacks import pgd
from solvers.baselines.backprop import train_nonconvex


# -- exact worst case in two perturbed dimensions (independent of the library's attack code) ---------
def _candidates(x, U, eps):
    """Vertices of the arrangement of the neuron lines inside the box [-eps, eps]^2 (plus corners)."""
    A = U[:2].T  # line j: A_j . delta = b_j
    b = -(x @ U)
    pts = [np.array(c) * eps for c in itertools.product((-1.0, 1.0), repeat=2)]
    for j in range(U.shape[1]):
        a1, a2 = A[j]
        for s in (-eps, eps):
            if a2 != 0:
                pts.append(np.array([s, (b[j] - a1 * s) / a2]))
            if a1 != 0:
                pts.append(np.array([(b[j] - a2 * s) / a1, s]))
    for j, l in itertools.combinations(range(U.shape[1]), 2):
        M = A[[j, l]]
        if abs(np.linalg.det(M)) > 1e-14 * (1 + np.abs(M).max() ** 2):
            pts.append(np.linalg.solve(M, b[[j, l]]))
    P = np.array(pts)
    P = P[np.all(np.abs(P) <= eps * (1 + 1e-12) + 1e-15, axis=1)]
    return np.clip(P, -eps, eps)


def exact_worst_losses(net, X, y, loss, eps):
    """Per sample max over |delta|_inf <= eps (first two columns perturbed, third = bias) of the loss."""
    assert X.shape[1] == 3 and np.all(X[:, 2] == 1.0)
    L = get_loss(loss)
    out = np.empty(X.shape[0])
    for k in range(X.shape[0]):
        P = _candidates(X[k], net.U, eps)
        Z = np.tile(X[k], (len(P), 1))
        Z[:, :2] += P
        out[k] = L.per_sample(np.maximum(Z @ net.U, 0.0) @ net.alpha, y[k]).max()
    return out


def exact_worst_margins(net, X, y, eps):
    """Per sample min over the box of y f(x + delta) (exact, same arrangement argument)."""
    out = np.empty(X.shape[0])
    for k in range(X.shape[0]):
        P = _candidates(X[k], net.U, eps)
        Z = np.tile(X[k], (len(P), 1))
        Z[:, :2] += P
        out[k] = (y[k] * (np.maximum(Z @ net.U, 0.0) @ net.alpha)).min()
    return out


def exact_objective(net, X, y, loss, beta, eps):
    return float(exact_worst_losses(net, X, y, loss, eps).sum()) + beta * net.regularizer()


def toy(n=40, seed=0, gap=0.0):
    """2 features + bias column, labels from a slanted line (optionally with an empty band of half-width gap)."""
    rng = np.random.default_rng(seed)
    Z = rng.uniform(-1.5, 1.5, size=(4 * n, 2))
    s = Z[:, 0] + 0.5 * Z[:, 1] - 0.2
    Z = Z[np.abs(s) >= gap][:n]
    y = np.where(Z[:, 0] + 0.5 * Z[:, 1] - 0.2 >= 0, 1.0, -1.0)
    return add_bias_column(Z), y


# -- the reference itself -----------------------------------------------------------------------------
def test_exact_reference_dominates_dense_sampling_and_vertices():
    rng = np.random.default_rng(3)
    net = ReLUNetwork(rng.standard_normal((3, 6)), rng.standard_normal(6))
    X, y = toy(12, seed=1)
    eps = 0.3
    exact = exact_worst_losses(net, X, y, "hinge", eps)
    grid = np.linspace(-eps, eps, 61)
    G = np.array(list(itertools.product(grid, grid)))
    for k in range(X.shape[0]):
        Z = np.tile(X[k], (len(G), 1))
        Z[:, :2] += G
        sampled = get_loss("hinge").per_sample(net.predict(Z), y[k]).max()
        assert sampled <= exact[k] + 1e-12
        assert sampled >= exact[k] - 0.05 * (1 + exact[k])  # a fine grid gets close to the maximum


# -- eps = 0 is standard training --------------------------------------------------------------------
@pytest.mark.parametrize("method, batch_size", [("adam", None), ("adam", 7), ("sgd", None)])
def test_epsilon_zero_follows_standard_training(method, batch_size):
    X, y = toy(30, seed=2)
    kw = dict(width=6, method=method, seed=4, max_iter=60, lr=1e-2 if method == "adam" else 1e-3,
              batch_size=batch_size)
    adv = train_adversarial(X, y, "hinge", 0.1, 0.0, bias=True, steps=3, restarts=2, **kw)
    std = train_nonconvex(X, y, "hinge", 0.1, **kw)
    assert isinstance(adv, AdversarialTrainingResult)
    assert adv.iterations == std.iterations == 60 and adv.status == std.status == "max_iter"
    np.testing.assert_allclose(adv.history, std.history, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(adv.clean_history, adv.history, rtol=1e-12)
    np.testing.assert_allclose(adv.network.U, std.network.U, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(adv.network.alpha, std.network.alpha, rtol=1e-9, atol=1e-12)
    assert adv.objective == pytest.approx(std.objective, rel=1e-10)


# -- adversarial training does what it claims ---------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    X, y = toy(40, seed=0)
    eps, beta = 0.2, 0.05
    common = dict(width=8, seed=1, max_iter=400, lr=1e-2)
    adv = train_adversarial(X, y, "hinge", beta, eps, bias=True, steps=10, restarts=2, **common)
    std = train_nonconvex(X, y, "hinge", beta, **common)
    init = train_nonconvex(X, y, "hinge", beta, width=8, seed=1, max_iter=1, lr=1e-12)  # ~ the initial point
    return dict(X=X, y=y, eps=eps, beta=beta, adv=adv, std=std, init=init)


def test_adversarial_training_lowers_the_exact_adversarial_objective(trained):
    X, y, eps, beta, adv = trained["X"], trained["y"], trained["eps"], trained["beta"], trained["adv"]
    h = adv.history
    assert len(h) == adv.iterations + 1 == 401
    assert h[-1] < 0.25 * h[0]
    assert np.mean(h[-20:]) < np.mean(h[:20]) and np.mean(h[-20:]) < np.mean(h[180:200])
    assert np.all(adv.clean_history <= h + 1e-12)  # PGD keeps the clean point when nothing is worse
    start = exact_objective(trained["init"].network, X, y, "hinge", beta, eps)
    final = exact_objective(adv.network, X, y, "hinge", beta, eps)
    assert final < 0.25 * start
    # the PGD estimate is a lower bound of the exact adversarial objective, and a close one here
    assert adv.objective <= final + 1e-9
    estimate = adversarial_objective(adv.network, X, y, "hinge", beta, eps, bias=True, steps=40, restarts=5)
    assert adv.objective - 1e-9 <= estimate + 1e-9 and estimate <= final + 1e-9
    assert estimate >= final - 0.05 * final
    # ... and it beats standard training (same init, same budget) on the exact adversarial objective,
    # while standard training wins on the clean objective it optimises
    std = trained["std"].network
    assert final < exact_objective(std, X, y, "hinge", beta, eps)
    assert std.objective(X, y, "hinge", beta) <= adv.network.objective(X, y, "hinge", beta)


def test_certificates_and_attacks_sandwich_the_exact_robust_accuracy(trained):
    X_test, y_test = toy(200, seed=9)
    eps = trained["eps"]
    for run in (trained["adv"], trained["std"]):
        net = run.network
        rep = evaluate_robustness(net, X_test, y_test, eps, bias=True, steps=30, restarts=3, seed=0)
        exact = exact_worst_margins(net, X_test, y_test, eps) > 0
        clean = np.mean(np.where(net.predict(X_test) >= 0, 1.0, -1.0) == y_test)
        assert rep.clean_accuracy == pytest.approx(clean)
        assert rep.stable_certified <= np.mean(exact) <= rep.robust_accuracy <= rep.clean_accuracy
        assert rep.certified_share is None and rep.n == 200 and rep.epsilon == eps
        certified = stable_certificates(net, X_test, y_test, eps, bias=True)
        assert np.all(exact[certified])  # sound: a certified point has a positive exact worst margin


def test_pgd_training_is_more_robust_than_standard_training_on_separable_toy():
    X, y = toy(60, seed=5, gap=0.3)
    X_test, y_test = toy(300, seed=6, gap=0.3)
    eps, beta = 0.2, 0.01
    common = dict(width=10, seed=2, max_iter=300, lr=2e-2)
    adv = train_adversarial(X, y, "hinge", beta, eps, bias=True, steps=10, restarts=1, **common).network
    std = train_nonconvex(X, y, "hinge", beta, **common).network
    r_adv = evaluate_robustness(adv, X_test, y_test, eps, bias=True, steps=30, restarts=3, seed=1)
    r_std = evaluate_robustness(std, X_test, y_test, eps, bias=True, steps=30, restarts=3, seed=1)
    assert r_adv.robust_accuracy >= r_std.robust_accuracy
    assert r_adv.robust_accuracy >= 0.95
    exact_adv = np.mean(exact_worst_margins(adv, X_test, y_test, eps) > 0)
    exact_std = np.mean(exact_worst_margins(std, X_test, y_test, eps) > 0)
    assert exact_adv >= exact_std


# -- the robust convex program: its network's exact adversarial objective is its optimum -------------
@pytest.fixture(scope="module")
def robust_solution():
    rng = np.random.default_rng(8)
    Z = rng.standard_normal((24, 2))
    y = np.where(Z[:, 0] - 0.6 * Z[:, 1] + 0.3 * rng.standard_normal(24) >= 0, 1.0, -1.0)
    program = make_program("robust", Z, y, "hinge", 0.1, epsilon=0.1, n_patterns=12, seed=1, bias=True)
    result = solve_oracle(program, "clarabel")
    assert result.status == "optimal"
    return program, result


def test_robust_program_network_exact_adversarial_objective_is_its_optimum(robust_solution):
    program, result = robust_solution
    X, y, beta, eps = program.X, program.y, program.beta_value, program.epsilon_value
    net = result.network
    exact = exact_objective(net, X, y, "hinge", beta, eps)  # no stability assumption in the reference
    assert exact == pytest.approx(result.objective, rel=1e-6, abs=1e-7)
    for attack in ("vertices", "closed_form", "pgd"):
        value = adversarial_objective(net, X, y, "hinge", beta, eps, bias=True, attack=attack, steps=30,
                                      restarts=2)
        assert value == pytest.approx(exact, rel=1e-6, abs=1e-7), attack
    # adversarial training from the convex solution cannot make the exact objective much worse; it is an
    # upper bound on the adversarial training optimum, so a local run may only go below it (not asserted)
    run = train_adversarial(X, y, "hinge", beta, eps, bias=True, U0=net.U, alpha0=net.alpha, max_iter=50,
                            lr=1e-3, steps=10, restarts=1, seed=0)
    assert run.history[0] == pytest.approx(exact, rel=1e-6, abs=1e-7)


def test_evaluate_robustness_reports_the_programs_certificates(robust_solution):
    program, result = robust_solution
    X, y, eps = program.X, program.y, program.epsilon_value
    net = result.network
    rep = evaluate_robustness(net, X, y, eps, bias=True, result=result, steps=30, restarts=3)
    cert = program.certificates(result.weights)
    assert rep.certified_share == pytest.approx(np.mean(cert)) and rep.certified_epsilon == eps
    assert 0 < rep.certified_share < 1
    exact_margin = exact_worst_margins(net, X, y, eps)
    assert np.all(exact_margin[cert] > 0)
    # on the program's own (epsilon-stable) training points the stability certificate is the program's
    stable = stable_certificates(net, X, y, eps, bias=True)
    clear = np.abs(exact_margin) > 1e-6
    np.testing.assert_array_equal(stable[clear], cert[clear])
    assert rep.stable_certified <= np.mean(exact_margin > 0) <= rep.robust_accuracy
    assert rep.robust_accuracy == pytest.approx(np.mean(exact_margin > 0))  # PGD is exact on stable points
    same = evaluate_robustness(None, X, y, eps, bias=True, result=result, steps=30, restarts=3)
    assert same == rep  # net=None evaluates the result's network
    d = rep.to_dict()
    assert d["certified_share"] == rep.certified_share and d["attack"]["steps"] == 30


# -- hygiene -------------------------------------------------------------------------------------------
def test_inputs_are_never_modified(robust_solution):
    X, y = toy(20, seed=3)
    U0, a0 = np.ones((3, 4)), np.array([1.0, -1.0, 0.5, -0.5])
    copies = [a.copy() for a in (X, y, U0, a0)]
    run = train_adversarial(X, y, "hinge", 0.1, 0.2, bias=True, U0=U0, alpha0=a0, max_iter=5, batch_size=6,
                            steps=3, restarts=2, seed=0)
    evaluate_robustness(run.network, X, y, 0.2, bias=True, steps=3, restarts=2)
    adversarial_objective(run.network, X, y, "hinge", 0.1, 0.2, bias=True, steps=3, restarts=2)
    stable_certificates(run.network, X, y, 0.2, bias=True)
    for a, b in zip((X, y, U0, a0), copies):
        np.testing.assert_array_equal(a, b)
    program, result = robust_solution
    V = result.weights["V"].copy()
    evaluate_robustness(result.network, program.X, program.y, 0.1, bias=True, result=result, steps=2,
                        restarts=1)
    np.testing.assert_array_equal(result.weights["V"], V)


@pytest.mark.parametrize("batch_size", [None, 5])
def test_divergence_is_reported_and_the_last_finite_point_returned(batch_size):
    X, y = toy(20, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow is handled, not warned about
        run = train_adversarial(X, 10.0 * y, "squared", 0.1, 0.1, width=4, bias=True, method="sgd", lr=1e3,
                                max_iter=200, seed=0, steps=2, batch_size=batch_size)
    assert run.status == "diverged"
    assert np.all(np.isfinite(run.network.U)) and np.isfinite(run.objective)
    assert len(run.history) == run.iterations


def test_training_with_other_losses_and_mini_batches_runs():
    X, y = toy(30, seed=7)
    for loss in ("logistic", "squared"):
        run = train_adversarial(X, y, loss, 0.1, 0.1, width=5, bias=True, batch_size=10, max_iter=40, seed=3,
                                steps=5)
        assert run.status == "max_iter" and run.history[-1] < run.history[0]
        assert np.all(run.clean_history <= run.history + 1e-12)
    # without bias every coordinate (including a constant one) may be perturbed
    net = ReLUNetwork(np.array([[0.0], [0.0], [1.0]]), np.array([1.0]))
    y_pos = np.ones(X.shape[0])
    with_bias = adversarial_objective(net, X, y_pos, "hinge", 0.1, 0.5, bias=True, attack="vertices")
    without = adversarial_objective(net, X, y_pos, "hinge", 0.1, 0.5, bias=False, attack="vertices")
    assert without == pytest.approx(with_bias + 0.5 * X.shape[0])
    X_adv = pgd(net, X, y_pos, "hinge", 0.5, bias=True, seed=0)
    np.testing.assert_array_equal(X_adv[:, 2], 1.0)


X_OK, Y_OK = toy(10, seed=1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epsilon=-0.1), "epsilon"),
    (dict(epsilon=float("nan")), "epsilon"),
    (dict(beta=0.0), "beta"),
    (dict(width=0), "width"),
    (dict(width=None), "width"),
    (dict(method="lbfgs"), "method"),
    (dict(steps=0), "steps"),
    (dict(restarts=0), "restarts"),
    (dict(step_size=-1.0), "step_size"),
    (dict(max_iter=0), "max_iter"),
    (dict(lr=0.0), "lr"),
    (dict(batch_size=0), "batch_size"),
    (dict(loss="hinge", y=2 * Y_OK), "labels"),
    (dict(loss="cubic"), "loss"),
    (dict(X=X_OK[:, :2]), "ones column"),
    (dict(X=np.where(np.arange(30).reshape(10, 3) == 4, np.nan, X_OK)), "NaN"),
    (dict(y=Y_OK[:-1]), "shape mismatch"),
    (dict(U0=np.ones((2, 3))), "shape mismatch"),
    (dict(width=3, alpha0=np.ones(2)), "alpha0"),
    (dict(bias="yes"), "bias"),
    (dict(seed=1.5), "seed"),
    (dict(attack_seed=-1), "attack_seed"),
])
def test_bad_training_input_raises(kwargs, match):
    args = dict(X=X_OK, y=Y_OK, loss="hinge", beta=0.1, epsilon=0.1, width=3, bias=True, max_iter=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train_adversarial(**args)


def test_bad_evaluation_input_raises(robust_solution):
    net = ReLUNetwork(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="labels"):
        evaluate_robustness(net, X_OK, np.zeros(10), 0.1, bias=True)
    with pytest.raises(ValueError, match="features"):
        evaluate_robustness(net, X_OK[:, :2], Y_OK, 0.1)
    with pytest.raises(ValueError, match="epsilon"):
        evaluate_robustness(net, X_OK, Y_OK, -1.0, bias=True)
    with pytest.raises(ValueError, match="ReLUNetwork"):
        evaluate_robustness("net", X_OK, Y_OK, 0.1, bias=True)
    with pytest.raises(ValueError, match="robust convex program"):
        evaluate_robustness(net, X_OK, Y_OK, 0.1, bias=True, result=object())
    program, result = robust_solution
    empty = SolveResult(program=program, weights=None, status="infeasible", solver="clarabel")
    with pytest.raises(ValueError, match="no solution"):
        evaluate_robustness(net, X_OK, Y_OK, 0.1, bias=True, result=empty)
    with pytest.raises(ValueError, match="attack"):
        adversarial_objective(net, X_OK, Y_OK, "hinge", 0.1, 0.1, bias=True, attack="fgsm")
    unstable = ReLUNetwork(np.array([[1.0], [0.0], [0.0]]), np.array([1.0]))
    with pytest.raises(ValueError, match="stable"):
        adversarial_objective(unstable, X_OK, Y_OK, "hinge", 0.1, 0.1, bias=True, attack="closed_form")


# -- the example ---------------------------------------------------------------------------------------
def _example():
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "adversarial.py"
    spec = importlib.util.spec_from_file_location("example_adversarial", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table_rows(table):
    """The data rows of the example's markdown table, split into cells."""
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| breast_cancer |") or line.startswith("| digits |")]


def test_example_tiny_configuration(tmp_path):
    """Table and figure are written, and every row obeys what holds for any network: a point the MILP
    proves robust survives every attack (exact lower <= PGD accuracy <= clean accuracy), a
    stability-certified point is never proven flipped (certified share <= exact upper), and the eps-aware
    patterns all survive eps. Standardisation statistics come from the whole training split, with its
    constant columns dropped."""
    module = _example()
    code = module.main(["--datasets", "breast_cancer", "--train", "20", "--test", "12", "--patterns", "3",
                        "--eps", "0.1", "--iterations", "10", "--eval-steps", "2", "--eval-restarts", "1",
                        "--milp-point-time", "0.2", "--milp-total-time", "1", "--out", str(tmp_path)])
    assert code == 0
    rows = _table_rows((tmp_path / "adversarial.md").read_text())
    assert [r[2] for r in rows] == list(module.METHODS)
    for r in rows:
        clean, attacked, certified = float(r[3]), float(r[4]), float(r[6])
        lower, upper = (float(v) for v in r[5].split("]")[0].strip("[").split(","))
        assert lower <= attacked + 1e-12 and attacked <= clean + 1e-12 and certified <= upper + 1e-12
    surviving, total = rows[2][7].split("/")
    assert surviving == total
    assert (tmp_path / "adversarial.png").stat().st_size > 10_000
    ds = module.DATASETS["digits"]()
    X_train, _, _, _, info = module.prepare(ds, 24, 10, seed=0)
    assert info["dropped"] > 0 and X_train.shape[1] == ds.d - info["dropped"]
    assert np.all(np.isfinite(X_train)) and not np.allclose(X_train.mean(axis=0), 0.0)


@pytest.mark.slow
def test_example_quick(tmp_path):
    module = _example()
    assert module.main(["--quick", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "adversarial.md").read_text()
    rows_per_dataset = len(module.parse(["--quick"]).eps) * len(module.METHODS)
    assert table.count("| digits |") == rows_per_dataset and table.count("| breast_cancer |") == rows_per_dataset
