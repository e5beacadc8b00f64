"""scikit-learn estimators that train a two-layer ReLU network through a convex program.

:class:`ConvexReLUClassifier` and :class:`ConvexReLURegressor` build the program with
:func:`formulations.make_program`, solve it with a solver from :func:`solvers.registry.get_solver` and
predict on new data with the network the solution maps to:

* ``sampled`` / ``exact`` / ``robust`` - the recovered :class:`~formulations.network.ReLUNetwork`
  (square-root split, docs/math.md section 3);
* ``gated`` - the :class:`~formulations.network.GatedReLUNetwork` with the sampled gate directions;
* ``scp`` - the random-feature network (frozen first layer).

With ``bias=True`` (default) a column of ones is appended to X, in ``fit`` and at prediction time.

The classifier maps two classes to -1/+1 (``classes_[0]`` -> -1, ``classes_[1]`` -> +1, so a positive
decision value means ``classes_[1]``) and handles more classes one-vs-rest: one convex program per
class (``classes_[k]`` -> +1, every other class -> -1), all on the same activation patterns; the
predicted class is the argmax of the per-class decision values.

Losses are sums over samples (docs/math.md section 1), so ``beta`` is relative to the number of samples:
the same ``beta`` regularises less on a larger training set.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from formulations import add_bias_column, make_program
from formulations.validation import user_stacklevel

from ..registry import get_solver
from ..result import ConvergenceWarning as ToolkitConvergenceWarning

__all__ = ["ConvexReLUClassifier", "ConvexReLURegressor"]

#: formulations the estimators accept (every one has a network that predicts on new data)
ESTIMATOR_FORMULATIONS = ("sampled", "exact", "gated", "scp", "robust")


def _check_positive_number(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def _check_positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _clear_solver_cache(result):
    """Drop the compiled-solver cache CVXPY keeps on a solved problem.

    After a Clarabel solve, ``problem._solver_cache`` holds the native solver object, which cannot be
    pickled (and a fitted estimator must pickle). The cache only speeds up re-solves.
    """
    problem = getattr(getattr(result, "program", None), "problem", None)
    cache = getattr(problem, "_solver_cache", None)
    if isinstance(cache, dict):
        cache.clear()


class _ConvexReLUBase(BaseEstimator):
    """Shared fitting logic. Subclasses set ``_allowed_losses`` and define ``__init__``."""

    _allowed_losses: tuple = ()

    # -- hyperparameter checks (done in fit, never in __init__) --------------------------------------
    def _check_params(self):
        if self.formulation not in ESTIMATOR_FORMULATIONS:
            raise ValueError(f"formulation must be one of {', '.join(ESTIMATOR_FORMULATIONS)}; "
                             f"got {self.formulation!r}")
        if self.loss not in self._allowed_losses:
            raise ValueError(f"{type(self).__name__} supports loss in {{{', '.join(self._allowed_losses)}}}; "
                             f"got {self.loss!r}")
        if not isinstance(self.solver, str):
            raise ValueError(f"solver must be a solver name (e.g. 'clarabel', 'scs'), got {self.solver!r}")
        _check_positive_number(self.beta, "beta")
        _check_positive_int(self.n_patterns, "n_patterns")
        _check_positive_int(self.max_patterns, "max_patterns")
        _check_positive_number(self.tol, "tol", allow_none=True)
        _check_positive_int(self.max_iter, "max_iter", allow_none=True)
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, numbers.Real) \
                or not np.isfinite(self.epsilon) or self.epsilon < 0:
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")
        if self.epsilon > 0 and self.formulation != "robust":
            raise ValueError("epsilon > 0 needs formulation='robust'")
        return get_solver(self.solver)

    def _seed(self):
        """An integer seed for the pattern sampling: ``random_state`` itself when it is an int (so the
        patterns are those of ``make_program(..., seed=random_state)``), else one drawn from it."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _solve(self, solve, X, y, seed):
        """Build and solve one program on (X, y) (y already in the loss's label set)."""
        robust = {"epsilon": float(self.epsilon)} if self.formulation == "robust" else {}
        program = make_program(self.formulation, X, y, self.loss, self.beta, n_patterns=self.n_patterns,
                               seed=seed, bias=bool(self.bias), max_patterns=self.max_patterns, **robust)
        with warnings.catch_warnings():
            # the toolkit's own ConvergenceWarning is replaced by scikit-learn's below
            warnings.simplefilter("ignore", ToolkitConvergenceWarning)
            result = solve(program, tol=self.tol, max_iter=self.max_iter)
        if result.weights is None:
            raise RuntimeError(f"solver {result.solver!r} returned no solution (status {result.status!r}); "
                               f"info: {result.info}")
        if result.status != "optimal":
            warnings.warn(f"solver {result.solver!r} stopped with status {result.status!r} after "
                          f"{result.iterations} iterations; the fitted network is not certified optimal "
                          f"(raise max_iter or loosen tol)", ConvergenceWarning,
                          stacklevel=user_stacklevel())
        _clear_solver_cache(result)
        return result

    def _augment(self, X):
        return add_bias_column(X) if self.bias else X

    def _scores(self, X):
        """Network outputs on new data, one column per fitted network (n x K)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Xb = self._augment(X)
        return np.column_stack([net.predict(Xb) for net in self.networks_])

    def __getstate__(self):
        """What a fitted estimator pickles: its hyperparameters, networks and fitted statistics - not the
        solve results (``result_`` / ``results_`` hold the program with its data and compiled CVXPY
        problem; they stay available in the fitted object, not in its pickle)."""
        state = dict(super().__getstate__())
        state.pop("result_", None)
        state.pop("results_", None)
        return state


class ConvexReLUClassifier(ClassifierMixin, _ConvexReLUBase):
    """Two-layer ReLU network classifier trained by a convex program (global optimum of the program).

    Parameters
    ----------
    formulation : {"sampled", "exact", "gated", "scp", "robust"}, default="sampled"
        The convex program (docs/math.md): constrained program on sampled patterns, on all patterns
        (small data only), gated ReLU, random features (frozen first layer), l_inf-robust program.
    loss : {"hinge", "logistic", "squared"}, default="hinge"
        Sum-form training loss on labels mapped to -1/+1.
    solver : str, default="clarabel"
        Any name accepted by :func:`solvers.registry.get_solver` (CVXPY solvers such as "clarabel" or
        "scs"; hand-written solvers such as "admm" where they support the program).
    beta : float, default=1.0
        Weight decay (group-lasso strength); the loss is a sum over samples.
    n_patterns : int, default=50
        Gaussian directions sampled for the activation patterns (or random features for "scp").
    bias : bool, default=True
        Append a column of ones to X (the bias feature).
    random_state : int, RandomState instance or None, default=None
        Seed of the pattern sampling. An int is used as the seed of ``make_program``.
    tol, max_iter : float / int or None, default=None
        Solver tolerance and iteration limit (the solver's defaults when None).
    max_patterns : int, default=5000
        Refuse ``formulation="exact"`` when the data could have more activation patterns than this.
    epsilon : float, default=0.0
        Radius of the l_inf perturbations for ``formulation="robust"``.

    Attributes
    ----------
    classes_ : ndarray of the class labels.
    n_features_in_ : number of features seen in fit (before the bias column).
    results_ : list of :class:`~solvers.result.SolveResult`, one per convex program (one for two
        classes, one per class for more).
    networks_ : list of the fitted networks (one per program).
    result_, network_ : the single result / network when there are two classes.
    objective_ : float (two classes) or ndarray (one per class): convex objective at the solution.
    n_patterns_ : number of distinct activation patterns (or random features) of the program.
    n_iter_ : int or ndarray, solver iterations.
    """

    _allowed_losses = ("hinge", "logistic", "squared")

    def __init__(self, formulation="sampled", loss="hinge", solver="clarabel", beta=1.0, n_patterns=50,
                 bias=True, random_state=None, tol=None, max_iter=None, epsilon=0.0,
                 max_patterns=5000):
        self.formulation = formulation
        self.loss = loss
        self.solver = solver
        self.beta = beta
        self.n_patterns = n_patterns
        self.bias = bias
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter
        self.epsilon = epsilon
        self.max_patterns = max_patterns

    def fit(self, X, y):
        """Solve one convex program (two classes) or one per class (one-vs-rest)."""
        solve = self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data; "
                             f"got 1 class ({classes[0]!r})")
        seed = self._seed()
        if classes.shape[0] == 2:
            targets = [np.where(y_index == 1, 1.0, -1.0)]
        else:
            targets = [np.where(y_index == k, 1.0, -1.0) for k in range(classes.shape[0])]
        results = [self._solve(solve, X, t, seed) for t in targets]

        self.classes_ = classes
        self.results_ = results
        self.networks_ = [r.network for r in results]
        objectives = np.array([r.objective for r in results])
        iterations = np.array([r.iterations for r in results], dtype=int)
        if len(results) == 1:
            self.result_ = results[0]
            self.network_ = self.networks_[0]
            self.objective_ = float(objectives[0])
            self.n_iter_ = int(iterations[0])
        else:
            self.objective_ = objectives
            self.n_iter_ = iterations
        self.n_patterns_ = int(results[0].program.n_patterns)
        return self

    def decision_function(self, X):
        """Network output: shape (n,) for two classes (positive means ``classes_[1]``), else (n, K)."""
        scores = self._scores(X)
        return scores[:, 0] if self.classes_.shape[0] == 2 else scores

    def predict(self, X):
        scores = self._scores(X)
        if self.classes_.shape[0] == 2:
            return self.classes_[(scores[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _has_proba(self):
        if self.loss != "logistic":
            raise AttributeError(f"predict_proba is available only for loss='logistic' (loss={self.loss!r} "
                                 f"has no probabilistic interpretation)")
        return True

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Logistic loss only: sigmoid of the decision values (normalised one-vs-rest for K > 2)."""
        scores = self._scores(X)
        if self.classes_.shape[0] == 2:
            p = expit(scores[:, 0])
            return np.column_stack([1.0 - p, p])
        prob = expit(scores)
        total = prob.sum(axis=1, keepdims=True)
        uniform = np.full_like(prob, 1.0 / prob.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, prob / np.where(total > 0, total, 1.0), uniform)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))


class ConvexReLURegressor(RegressorMixin, _ConvexReLUBase):
    """Two-layer ReLU network regressor trained by a convex program (squared loss).

    Parameters are those of :class:`ConvexReLUClassifier` except ``loss``, which must be "squared"
    (hinge and logistic need labels in {-1, +1}: a ValueError at fit).

    Attributes: ``result_``, ``network_``, ``results_`` / ``networks_`` (one-element lists),
    ``objective_``, ``n_patterns_``, ``n_iter_``, ``n_features_in_``.
    """

    _allowed_losses = ("squared",)

    def __init__(self, formulation="sampled", loss="squared", solver="clarabel", beta=1.0, n_patterns=50,
                 bias=True, random_state=None, tol=None, max_iter=None, epsilon=0.0,
                 max_patterns=5000):
        self.formulation = formulation
        self.loss = loss
        self.solver = solver
        self.beta = beta
        self.n_patterns = n_patterns
        self.bias = bias
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter
        self.epsilon = epsilon
        self.max_patterns = max_patterns

    def fit(self, X, y):
        solve = self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        result = self._solve(solve, X, np.asarray(y, dtype=float), self._seed())
        self.result_ = result
        self.results_ = [result]
        self.network_ = result.network
        self.networks_ = [self.network_]
        self.objective_ = float(result.objective)
        self.n_patterns_ = int(result.program.n_patterns)
        self.n_iter_ = int(result.iterations)
        return self

    def predict(self, X):
        return self._scores(X)[:, 0]
