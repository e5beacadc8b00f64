"""scikit-learn estimators (solvers/interface/estimators.py): sklearn's own estimator checks plus the convex
program's guarantees seen through the estimator API."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from formulations import add_bias_column, make_program
from solvers import ConvexReLUClassifier, ConvexReLURegressor, solve_oracle

#: checks that fit several programs on hundreds of points (n = 150..300, up to 3 one-vs-rest problems)
HEAVY_CHECKS = {"check_classifiers_train", "check_regressors_train", "check_non_transformer_estimators_n_iter"}


def _check_name(check):
    return getattr(check, "func", check).__name__


# Few patterns keep sklearn's checks quick; the default-constructed estimators and the other losses and
# formulations run the same checks in the slow suite below.
FAST = [ConvexReLUClassifier(n_patterns=10), ConvexReLURegressor(n_patterns=10)]


@parametrize_with_checks(FAST)
def test_sklearn_checks_fast(estimator, check):
    if _check_name(check) in HEAVY_CHECKS:
        pytest.skip("heavy check (hundreds of points, several programs): run on the default-constructed "
                    "estimators by test_sklearn_checks_all (pytest -m slow)")
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks([ConvexReLUClassifier(), ConvexReLURegressor(),
                          ConvexReLUClassifier(loss="logistic", n_patterns=10),
                          ConvexReLUClassifier(loss="squared", formulation="gated", n_patterns=20),
                          ConvexReLUClassifier(formulation="scp", n_patterns=20),
                          ConvexReLURegressor(formulation="gated", n_patterns=20),
                          ConvexReLURegressor(formulation="scp", n_patterns=20)])
def test_sklearn_checks_all(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    labels = np.repeat(np.arange(3), 12)
    X = centers[labels] + 0.6 * rng.standard_normal((36, 2))
    return X, labels


def test_binary_string_labels_map_to_plus_minus_one(blobs):
    X, labels = blobs
    mask = labels < 2
    X, labels = X[mask], labels[mask]
    names = np.array(["cat", "dog"])[labels]
    clf = ConvexReLUClassifier(beta=0.1, n_patterns=20, random_state=3).fit(X, names)
    assert list(clf.classes_) == ["cat", "dog"]
    assert clf.n_features_in_ == 2 and clf.n_patterns_ == clf.result_.program.n_patterns
    # the same program as make_program on the +-1 labels ("dog" = classes_[1] -> +1), same seed
    y_pm = np.where(names == "dog", 1.0, -1.0)
    prog = make_program("sampled", X, y_pm, "hinge", 0.1, n_patterns=20, seed=3, bias=True)
    ref = solve_oracle(prog)
    np.testing.assert_array_equal(clf.result_.program.D, prog.D)
    assert clf.objective_ == pytest.approx(ref.objective, rel=1e-6)
    # decision values: the recovered network on [X, 1] = the convex model's training predictions
    dec = clf.decision_function(X)
    np.testing.assert_allclose(dec, clf.result_.predictions(), atol=1e-6)
    np.testing.assert_allclose(dec, clf.network_.predict(add_bias_column(X)))
    np.testing.assert_array_equal(clf.predict(X), np.where(dec > 0, "dog", "cat"))
    assert clf.score(X, names) == pytest.approx(clf.result_.train_accuracy())
    assert clf.score(X, names) >= 0.9


def test_multiclass_one_vs_rest(blobs):
    X, labels = blobs
    y = np.array([10, 20, 30])[labels]
    clf = ConvexReLUClassifier(loss="squared", beta=0.1, n_patterns=15, random_state=1).fit(X, y)
    assert list(clf.classes_) == [10, 20, 30]
    assert len(clf.results_) == 3 and len(clf.networks_) == 3
    assert clf.objective_.shape == (3,) and clf.n_iter_.shape == (3,)
    assert not hasattr(clf, "result_")
    dec = clf.decision_function(X)
    assert dec.shape == (36, 3)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(dec, axis=1)])
    for k, res in enumerate(clf.results_):  # problem k: class k against the rest, on shared patterns
        np.testing.assert_array_equal(res.program.y, np.where(labels == k, 1.0, -1.0))
        np.testing.assert_array_equal(res.program.D, clf.results_[0].program.D)
        np.testing.assert_allclose(dec[:, k], res.predictions(), atol=1e-6)
    assert clf.score(X, y) >= 0.9


def test_predict_proba_only_for_logistic(blobs):
    X, labels = blobs
    y = labels[labels < 2]
    X = X[labels < 2]
    hinge = ConvexReLUClassifier(n_patterns=10, random_state=0).fit(X, y)
    assert not hasattr(hinge, "predict_proba")
    with pytest.raises(AttributeError, match="predict_proba"):
        hinge.predict_proba(X)
    logi = ConvexReLUClassifier(loss="logistic", n_patterns=10, beta=0.1, random_state=0).fit(X, y)
    proba = logi.predict_proba(X)
    assert proba.shape == (X.shape[0], 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], expit(logi.decision_function(X)))
    np.testing.assert_array_equal(logi.classes_[np.argmax(proba, axis=1)], logi.predict(X))


def test_regressor_matches_program_and_recovered_network():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 3))
    y = np.maximum(0, X @ np.array([1.0, -1.0, 0.5])) - 0.5 * X[:, 2] + 0.05 * rng.standard_normal(30)
    reg = ConvexReLURegressor(beta=0.05, n_patterns=30, random_state=7).fit(X, y)
    prog = make_program("sampled", X, y, "squared", 0.05, n_patterns=30, seed=7, bias=True)
    ref = solve_oracle(prog)
    assert reg.objective_ == pytest.approx(ref.objective, rel=1e-6)
    # the network drops noise neurons: predictions move by at most NEURON_TOL * max |y|
    np.testing.assert_allclose(reg.predict(X), reg.result_.predictions(), atol=1e-6 * np.abs(y).max())
    assert reg.result_.network_objective == pytest.approx(reg.objective_, rel=1e-6)
    assert reg.score(X, y) > 0.9
    # new data: the recovered network on [X_new, 1]
    Xn = rng.standard_normal((7, 3))
    np.testing.assert_allclose(reg.predict(Xn), reg.network_.predict(add_bias_column(Xn)))
    # bias=False: no ones column, the network takes 3 inputs
    nob = ConvexReLURegressor(beta=0.05, n_patterns=30, random_state=7, bias=False).fit(X, y)
    assert nob.network_.d == 3 and reg.network_.d == 4


@pytest.mark.parametrize("formulation", ["gated", "scp", "exact"])
def test_other_formulations_predict_with_their_network(formulation):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((9, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    reg = ConvexReLURegressor(formulation=formulation, beta=0.1, n_patterns=25, random_state=0).fit(X, y)
    prog = reg.result_.program
    assert prog.formulation == formulation
    # on the training data the network (gates from the sampled directions for "gated", frozen
    # first layer for "scp", square-root split for "exact") reproduces the convex predictions, up to the
    # noise neurons it drops (predictions move by at most NEURON_TOL * max |y|)
    np.testing.assert_allclose(reg.predict(X), reg.result_.predictions(), atol=1e-6 * np.abs(y).max())
    if formulation == "gated":
        assert reg.network_.G is not None
        Xn = rng.standard_normal((5, 2))
        Xb = add_bias_column(Xn)
        gates = (Xb @ reg.network_.G >= 0).astype(float)
        np.testing.assert_allclose(reg.predict(Xn), ((Xb @ reg.network_.U) * gates) @ reg.network_.alpha)
    if formulation == "exact":  # the global optimum: same objective as the exact program by hand
        ref = solve_oracle(make_program("exact", X, y, "squared", 0.1, bias=True))
        assert reg.objective_ == pytest.approx(ref.objective, rel=1e-6)


def test_invalid_hyperparameters_fail_at_fit_not_init():
    X = np.random.default_rng(0).standard_normal((10, 2))
    y = X[:, 0]
    for est in [ConvexReLURegressor(loss="hinge"), ConvexReLURegressor(loss="logistic"),
                ConvexReLURegressor(formulation="nope"), ConvexReLURegressor(beta=0.0),
                ConvexReLURegressor(n_patterns=0), ConvexReLURegressor(solver="no_such_solver"),
                ConvexReLURegressor(epsilon=0.1), ConvexReLUClassifier(loss="cubic")]:
        with pytest.raises(ValueError):
            est.fit(X, y if isinstance(est, ConvexReLURegressor) else (y > 0))
    with pytest.raises(ValueError, match="1 class"):
        ConvexReLUClassifier().fit(X, np.zeros(10))
    with pytest.raises(ValueError, match="Unknown label type"):
        ConvexReLUClassifier().fit(X, y)


def test_sklearn_convergence_warning_when_not_optimal():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.standard_normal(20)
    clf = ConvexReLUClassifier(solver="admm", loss="logistic", max_iter=2, n_patterns=10, random_state=0)
    with pytest.warns(ConvergenceWarning, match="not certified optimal"):
        clf.fit(X, y > np.median(y))
    assert clf.result_.status != "optimal"
    assert clf.predict(X).shape == (20,)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ConvexReLURegressor(n_patterns=10, random_state=0).fit(X, y)  # clarabel: optimal, no warning


def test_random_state_and_pickle(blobs):
    X, labels = blobs
    a = ConvexReLUClassifier(n_patterns=10, random_state=np.random.RandomState(2)).fit(X, labels)
    b = ConvexReLUClassifier(n_patterns=10, random_state=np.random.RandomState(2)).fit(X, labels)
    np.testing.assert_array_equal(a.results_[0].program.D, b.results_[0].program.D)
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.decision_function(X), a.decision_function(X))
    assert c.objective_[0] == pytest.approx(a.results_[0].objective)  # the fitted objectives survive pickling
    fresh = clone(a)
    assert not hasattr(fresh, "results_") and fresh.get_params()["n_patterns"] == 10


@pytest.mark.slow
def test_pipeline_cross_val_breast_cancer():
    """Pipeline(StandardScaler, ConvexReLUClassifier) under cross_val_score on breast cancer."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    convex = cross_val_score(make_pipeline(StandardScaler(), ConvexReLUClassifier(n_patterns=20, random_state=0)),
                             X, y, cv=cv)
    linear = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), X, y, cv=cv)
    print(f"breast cancer 3-fold CV accuracy: convex ReLU {convex.mean():.4f}, logistic regression "
          f"{linear.mean():.4f}")
    assert convex.shape == (3,)
    assert convex.mean() >= 0.93
    assert convex.mean() >= linear.mean() - 0.03


def test_pipeline_cross_val_small():
    """The same pipeline on a 120-point, 8-feature slice of breast cancer (quick)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.choice(X.shape[0], size=120, replace=False)
    X, y = X[idx][:, :8], y[idx]
    scores = cross_val_score(make_pipeline(StandardScaler(), ConvexReLUClassifier(n_patterns=10, random_state=0)),
                             X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,)
    assert scores.mean() >= 0.85


def test_robust_formulation_classifier(blobs):
    X, labels = blobs
    X, y = X[labels < 2], labels[labels < 2]
    clf = ConvexReLUClassifier(formulation="robust", epsilon=0.05, beta=0.1, n_patterns=10,
                               random_state=0).fit(X, y)
    prog = clf.result_.program
    assert prog.formulation == "robust" and prog.epsilon_value == 0.05 and prog.bias
    np.testing.assert_allclose(clf.decision_function(X), clf.result_.predictions(), atol=1e-6)
    # the robust objective is the exact adversarial objective of the network the estimator predicts with
    assert clf.result_.network_objective == pytest.approx(clf.objective_, rel=1e-5)
    with pytest.raises(ValueError, match="robust"):
        ConvexReLUClassifier(epsilon=0.05).fit(X, y)


def test_a_fitted_estimator_pickles_to_its_network_not_its_program():
    """The pickle holds the networks and fitted statistics, not the program with its data and compiled
    CVXPY problem: a breast-cancer pipeline pickles to kilobytes, and the unpickled model predicts the same."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from formulations.datasets import breast_cancer

    data = breast_cancer()
    model = make_pipeline(StandardScaler(), ConvexReLUClassifier(beta=1.0, n_patterns=10, random_state=0))
    model.fit(data.X, data.y)
    blob = pickle.dumps(model)
    assert len(blob) < 200_000, f"pickle of {len(blob)} bytes"
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.predict(data.X), model.predict(data.X))
    assert not hasattr(again[-1], "result_") and hasattr(model[-1], "result_")


def test_max_patterns_reaches_the_exact_program():
    X = np.random.default_rng(0).standard_normal((30, 3))
    y = np.sign(X[:, 0])
    with pytest.raises(ValueError, match="max_patterns"):
        ConvexReLUClassifier(formulation="exact", max_patterns=10).fit(X, y)
    with pytest.raises(ValueError, match="max_patterns must be a positive integer"):
        ConvexReLUClassifier(max_patterns=0).fit(X, y)
