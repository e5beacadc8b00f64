r"""Global-optimality certificates and column generation for the constrained ReLU program
(docs/math.md section 4).

Let :math:`(V, W)` solve the program on a pattern set, :math:`\hat y` its training predictions and
:math:`\lambda = \nabla \ell(\hat y)` the loss gradient there (squared: :math:`\hat y - y`; logistic:
:math:`-y\,\sigma(-y \hat y)`), which is the dual variable of the prediction equality. Adding a pattern
:math:`D` with a block :math:`v` in its cone :math:`K_D = \{w : (2D-1)\circ(Xw) \ge 0\}` changes the
objective at first order by :math:`\pm\lambda^\top(D\circ Xv) + \beta|v|_2`, so :math:`D` is *improving*
(the restricted optimum is not the optimum of the larger program) iff its dual-constraint value

.. math::
    g(D) = \max_{w \in K_D,\ |w|_2 \le 1} |\lambda^\top (D \circ X w)|
         = \max\big(|\Pi_{K_D}(c)|_2,\ |\Pi_{K_D}(-c)|_2\big),\qquad c = X^\top(D \circ \lambda),

exceeds :math:`\beta`. The equality uses :math:`\max_{w\in K, |w|\le 1} c^\top w = |\Pi_K(c)|` for a closed
convex cone K (Moreau decomposition), and the projection onto the polyhedral cone
:math:`\{w : A w \ge 0\}` (:math:`A = (2D-1)\circ X`) is :math:`c + A^\top\mu` with :math:`\mu \ge 0` the
non-negative least-squares solution of :math:`\min_{\mu\ge0} |A^\top\mu + c|`: one small NNLS per
pattern and sign (:func:`pattern_values`). By convexity, a point whose program satisfies its own KKT
conditions and has no improving pattern among ALL patterns is globally optimal for the exact program.

* :func:`optimality_certificate` - tests K fresh random patterns (or given directions) and reports the
  largest value, the improving patterns and a one-sided Clopper-Pearson bound on the share of
  improving patterns under the Gaussian direction distribution;
* :func:`column_generation` - solves, adds improving patterns, re-solves, until none is found (with
  an optional exhaustive check by exact enumeration on tiny problems).

Only smooth losses have a unique dual vector (squared, logistic); the hinge loss is refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from scipy.stats import beta as beta_distribution

from formulations.factory import add_bias_column
from formulations.losses import get_loss
from formulations.patterns import enumerate_patterns, max_pattern_count, sample_patterns
from formulations.relu import ReLUProgram
from formulations.robust import RobustReLUProgram
from formulations.validation import check_beta, check_matrix, check_patterns, check_positive_int

from .core.operators import project_onto_cone
from .registry import get_solver

__all__ = ["CertificateResult", "ColumnGenerationResult", "cone_projection", "pattern_values",
           "dual_vector", "optimality_certificate", "column_generation", "clopper_pearson_upper",
           "SMOOTH_LOSSES"]

#: losses whose dual vector is the (unique) gradient of the loss at the predictions
SMOOTH_LOSSES = ("squared", "logistic")


# ------------------------------------------------------------------------------------------------------
# the per-pattern subproblem
# ------------------------------------------------------------------------------------------------------
def cone_projection(A, c):
    r"""Euclidean projection of ``c`` onto the polyhedral cone :math:`\{w : A w \ge 0\}` (A is m x d).

    Dual form: :math:`\Pi(c) = c + A^\top\mu` with :math:`\mu = \arg\min_{\mu \ge 0} |A^\top \mu + c|_2`
    (KKT of :math:`\min |w - c|^2` s.t. :math:`Aw \ge 0`). Returns the projection (d,)."""
    A = np.asarray(A, float)
    c = np.asarray(c, float)
    if np.all(A @ c >= 0):  # already in the cone
        return c.copy()
    return project_onto_cone(A, c)


def _pattern_value(X, pattern, lam):
    """(value, unit maximiser, sign) of one pattern; sign +1 means the maximiser is for +c."""
    c = X.T @ (pattern * lam)
    if not np.any(c):
        return 0.0, np.zeros(X.shape[1]), 1.0
    A = (2.0 * pattern - 1.0)[:, None] * X
    best = (0.0, np.zeros(X.shape[1]), 1.0)
    for sign in (1.0, -1.0):
        p = cone_projection(A, sign * c)
        norm = float(np.linalg.norm(p))
        if norm > best[0]:
            best = (norm, p / norm, sign)
    return best


def pattern_values(X, D, lam):
    r"""Dual-constraint value :math:`g(D_j) = \max_{w\in K_{D_j}, |w|\le1} |\lambda^\top(D_j\circ Xw)|` of every
    column of ``D`` (n x K). Returns ``(values (K,), maximisers (d x K, unit or zero))``."""
    X = check_matrix(X, "X")
    D = np.asarray(D, float).reshape(X.shape[0], -1)
    lam = np.asarray(lam, float).reshape(-1)
    values = np.zeros(D.shape[1])
    W = np.zeros((X.shape[1], D.shape[1]))
    for j in range(D.shape[1]):
        values[j], W[:, j], _ = _pattern_value(X, D[:, j], lam)
    return values, W


def dual_vector(program, weights):
    """lambda = gradient of the loss at the convex predictions (the dual variable of the prediction
    equality). Refuses non-smooth losses and programs other than the constrained ReLU program."""
    _check_certifiable(program)
    return program.loss.gradient(program.predictions(weights), program.y)


def _check_certifiable(program):
    if not isinstance(program, ReLUProgram) or isinstance(program, RobustReLUProgram):
        raise ValueError("optimality certificates are defined for the constrained ReLU program "
                         f"(formulation 'exact' or 'sampled'); got {type(program).__name__}")
    if program.loss.name not in SMOOTH_LOSSES:
        raise ValueError(f"the certificate needs a smooth loss ({', '.join(SMOOTH_LOSSES)}): the dual vector "
                         f"of the {program.loss.name} loss is not determined by its gradient")


def _weights_of(program, weights):
    if hasattr(weights, "weights") and not isinstance(weights, dict):  # a SolveResult
        weights = weights.weights
    if weights is None:
        raise ValueError("no weights to certify (the solve returned no point)")
    return program.check_weights(weights)


def _pattern_keys(D):
    return [col.tobytes() for col in np.ascontiguousarray((D > 0).T.astype(np.uint8))]


def clopper_pearson_upper(k, n, confidence):
    """One-sided upper confidence bound on a binomial proportion after k successes in n trials."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    return float(beta_distribution.ppf(confidence, k + 1, n - k))


# ------------------------------------------------------------------------------------------------------
# certificate
# ------------------------------------------------------------------------------------------------------
@dataclass
class CertificateResult:
    """Outcome of :func:`optimality_certificate`.

    Attributes
    ----------
    beta : the program's beta (a pattern is improving iff its value > beta * (1 + tol))
    max_value : largest dual-constraint value over the tested (fresh) patterns
    own_max_value : largest value over the program's own patterns (about beta at an optimum with a
        nonzero block; above beta means the point does not even solve its own program)
    n_samples : directions tested; n_improving : how many of them gave an improving pattern
    improving_share : n_improving / n_samples (share under the direction distribution)
    share_upper_bound : one-sided Clopper-Pearson bound on that share at ``confidence``
    improving_patterns : n x k distinct improving patterns not in the program, by decreasing value
    improving_directions : d x k directions h with D == 1[X h >= 0] for them
    improving_maximizers : d x k unit vectors w in each pattern's cone attaining the value
    improving_values : k values
    own_values : values of the program's own patterns
    dual : the dual vector lambda used
    """

    beta: float
    max_value: float
    own_max_value: float
    n_samples: int
    n_improving: int
    improving_share: float
    share_upper_bound: float
    confidence: float
    tol: float
    improving_patterns: np.ndarray
    improving_directions: np.ndarray
    improving_maximizers: np.ndarray
    improving_values: np.ndarray
    own_values: np.ndarray
    dual: np.ndarray
    n_unique: int = 0
    n_exact_evaluations: int = 0

    @property
    def threshold(self):
        return self.beta * (1.0 + self.tol)

    @property
    def certified(self):
        """No improving pattern among the tested ones, and the point satisfies its own program's
        dual constraints (up to ``tol``)."""
        return self.n_improving == 0 and self.own_max_value <= self.threshold

    @property
    def statement(self):
        ratio = self.max_value / self.beta
        head = (f"largest dual-constraint value over {self.n_samples} tested patterns: {self.max_value:.6g} "
                f"({ratio:.6g} x beta); own patterns: {self.own_max_value:.6g} ({self.own_max_value / self.beta:.6g}"
                f" x beta). ")
        if self.n_improving == 0:
            return head + (f"No improving pattern found: with confidence {self.confidence:.0%}, a fresh random "
                           f"pattern improves the objective with probability at most {self.share_upper_bound:.3g}.")
        return head + (f"{self.n_improving} of {self.n_samples} tested directions ({self.improving_share:.3g}) give "
                       f"improving patterns ({self.improving_patterns.shape[1]} distinct): the point is NOT "
                       f"globally optimal; with confidence {self.confidence:.0%} the improving share is at most "
                       f"{self.share_upper_bound:.3g}.")

    def to_dict(self):
        return {"beta": self.beta, "max_value": self.max_value, "own_max_value": self.own_max_value,
                "n_samples": self.n_samples, "n_improving": self.n_improving,
                "n_improving_patterns": int(self.improving_patterns.shape[1]),
                "improving_share": self.improving_share, "share_upper_bound": self.share_upper_bound,
                "confidence": self.confidence, "certified": self.certified, "statement": self.statement}

    def __repr__(self):
        return (f"CertificateResult(max_value/beta={self.max_value / self.beta:.6g}, "
                f"own_max/beta={self.own_max_value / self.beta:.6g}, n_improving={self.n_improving}/"
                f"{self.n_samples}, certified={self.certified})")


def optimality_certificate(program, weights, n_samples=1000, seed=None, *, directions=None, confidence=0.95,
                           tol=1e-6):
    """Certificate of global optimality for a solved constrained ReLU program (squared or logistic loss).

    ``weights`` is a weights dict or a :class:`~solvers.result.SolveResult`. Tests ``n_samples`` fresh
    Gaussian directions (seeded by ``seed``), or the given ``directions`` (d x K; e.g. the interior points
    of :func:`formulations.enumerate_patterns` to test every pattern). Returns a :class:`CertificateResult`.

    Only patterns whose bound ``|c| = |X^T (D o lambda)|`` can exceed beta or the running maximum are
    evaluated exactly, so the reported maximum and the improving set are exact.
    """
    _check_certifiable(program)
    weights = _weights_of(program, weights)
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol}")
    X = program.X
    lam = program.loss.gradient(program.predictions(weights), program.y)
    beta = program.beta_value
    threshold = beta * (1.0 + tol)

    own_values, _ = pattern_values(X, program.D, lam)
    own_max = float(own_values.max(initial=0.0))

    if directions is None:
        n_samples = check_positive_int(n_samples, "n_samples")
        rng = np.random.default_rng(seed)
        H = rng.standard_normal((n_samples, X.shape[1])).T
    else:
        H = check_matrix(directions, "directions")
        if H.shape[0] != X.shape[1]:
            raise ValueError(f"shape mismatch: directions have {H.shape[0]} rows, X has {X.shape[1]} columns")
    K = H.shape[1]
    Dall = (X @ H >= 0).astype(float)
    _, first, inverse = np.unique(Dall, axis=1, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    U = Dall[:, first]
    HU = H[:, first]
    bounds = np.linalg.norm(X.T @ (U * lam[:, None]), axis=0)
    values = np.full(U.shape[1], np.nan)
    maximizers = np.zeros((X.shape[1], U.shape[1]))
    running = 0.0
    evaluated = 0
    for j in np.argsort(-bounds, kind="stable"):
        if bounds[j] <= threshold and bounds[j] <= running:
            break  # every later pattern has value <= its bound <= both
        values[j], maximizers[:, j], _ = _pattern_value(X, U[:, j], lam)
        running = max(running, values[j])
        evaluated += 1
    improving_unique = np.flatnonzero(values > threshold)  # NaN compares False
    n_improving = int(np.isin(inverse, improving_unique).sum())
    own = set(_pattern_keys(program.D))
    keys = _pattern_keys(U[:, improving_unique])
    new = [j for j, key in zip(improving_unique, keys) if key not in own]
    new = sorted(new, key=lambda j: -values[j])
    return CertificateResult(
        beta=beta, max_value=float(running), own_max_value=own_max, n_samples=K, n_improving=n_improving,
        improving_share=n_improving / K, share_upper_bound=clopper_pearson_upper(n_improving, K, confidence),
        confidence=float(confidence), tol=float(tol), improving_patterns=U[:, new], improving_directions=HU[:, new],
        improving_maximizers=maximizers[:, new], improving_values=values[new], own_values=own_values, dual=lam,
        n_unique=int(U.shape[1]), n_exact_evaluations=evaluated)


# ------------------------------------------------------------------------------------------------------
# column generation
# ------------------------------------------------------------------------------------------------------
@dataclass
class ColumnGenerationResult:
    """Outcome of :func:`column_generation`.

    ``history[k]`` is the objective after round k (non-increasing), ``n_patterns_history[k]`` the
    program size, ``added[k]`` the patterns added after round k (0 in the last round when converged).
    ``converged`` is True when the final search found no improving pattern outside the program;
    ``exhaustive`` when that final search included every pattern of X (exact enumeration), which
    certifies the global optimum. ``certificate.certified`` additionally requires the point to satisfy
    its own program's dual constraints (False after an inaccurate solve).
    """

    program: Any
    result: Any
    weights: dict
    history: list
    n_patterns_history: list
    added: list
    rounds: int
    converged: bool
    exhaustive: bool
    certificate: Optional[CertificateResult]
    info: dict = field(default_factory=dict)

    @property
    def objective(self):
        return self.history[-1]

    def __repr__(self):
        return (f"ColumnGenerationResult(objective={self.objective:.10g}, rounds={self.rounds}, "
                f"n_patterns={self.n_patterns_history[-1]}, converged={self.converged}, "
                f"exhaustive={self.exhaustive})")


def _pad(weights, n_new):
    return {k: np.hstack([v, np.zeros((v.shape[0], n_new))]) for k, v in weights.items()}


def column_generation(X, y, loss="squared", beta=1.0, *, initial_patterns=10, n_candidates=200, max_rounds=50,
                      seed=None, solver="clarabel", bias=False, exact_search="auto", exact_limit=1000,
                      exact_directions=None, max_add=None, tol=1e-6, solver_tol=None, solver_max_iter=None):
    """Column generation for the constrained ReLU program (squared or logistic loss).

    Start from ``initial_patterns`` (an int: that many Gaussian directions; or an n x P 0/1 array),
    solve, draw ``n_candidates`` fresh directions, add the improving patterns among them (all, or the
    ``max_add`` best), re-solve, and stop when none is found or after ``max_rounds`` additions. When the
    random search finds nothing and ``exact_search`` is True (or "auto" and X has at most
    ``exact_limit`` patterns), every pattern of X is checked too (exact enumeration, done once), so a
    converged run with ``exhaustive=True`` has reached the exact program's optimum.
    ``exact_directions`` (d x K, one direction inside each cell, as returned by
    :func:`formulations.enumerate_patterns` for the same X - with the bias column if ``bias``) replaces
    that enumeration; it is trusted to cover every pattern.

    Each round's feasible set contains the previous one (the old solution padded with zero blocks); if
    a solver returns a worse point than that padded one, the padded point is kept, so the objective
    history is non-increasing by construction.
    """
    loss = get_loss(loss)
    if loss.name not in SMOOTH_LOSSES:
        raise ValueError(f"column generation needs a smooth loss ({', '.join(SMOOTH_LOSSES)}); got {loss.name}")
    beta = check_beta(beta)
    X = check_matrix(X, "X")
    if bias:
        X = add_bias_column(X, check_input=False)
    n_candidates, max_add = _check_rounds(n_candidates, max_rounds, max_add, exact_search)
    solve = get_solver(solver)
    rng = np.random.default_rng(seed)
    if isinstance(initial_patterns, (int, np.integer)) and not isinstance(initial_patterns, bool):
        D, H = sample_patterns(X, initial_patterns, seed=int(rng.integers(2 ** 63 - 1)))
    else:
        D, H = check_patterns(initial_patterns, X.shape[0]), None
    search = _ExactSearch(X, exact_search, exact_limit, exact_directions, bias)

    history, sizes, added = [], [], []
    prev_weights = None
    info = {"kept_previous_point": [], "exact_additions": 0, "solver_statuses": []}
    converged = False
    rounds = 0
    while True:
        program = ReLUProgram(X, y, D, loss, beta, formulation="sampled", H=H)
        result = solve(program, tol=solver_tol, max_iter=solver_max_iter)
        info["solver_statuses"].append(result.status)
        weights = _no_worse_than_previous(program, result, prev_weights, rounds, info)
        history.append(program.objective(weights))
        sizes.append(program.n_patterns)
        prev_weights = weights

        certificate = optimality_certificate(program, weights, n_candidates,
                                             seed=int(rng.integers(2 ** 63 - 1)), tol=tol)
        new_D, new_H = certificate.improving_patterns, certificate.improving_directions
        exhaustive = False
        if new_D.shape[1] == 0:  # the random search found nothing: price every pattern, when allowed
            full = search.price(program, weights, tol)
            if full is not None:
                new_D, new_H = full.improving_patterns, full.improving_directions
                exhaustive = new_D.shape[1] == 0
                info["exact_additions"] += int(new_D.shape[1])
                certificate = full if exhaustive else certificate
        if new_D.shape[1] == 0 or rounds >= max_rounds:
            converged = new_D.shape[1] == 0
            added.append(0)
            break
        if max_add is not None:
            new_D, new_H = new_D[:, :max_add], new_H[:, :max_add]
        added.append(int(new_D.shape[1]))
        D = np.hstack([D, new_D])
        H = None if H is None else np.hstack([H, new_H])
        rounds += 1

    if result.weights is None or not all(np.array_equal(result.weights[k], weights[k]) for k in weights):
        info["final_point"] = "previous round's point, padded (the last solve was not better)"
    return ColumnGenerationResult(program=program, result=result, weights=weights, history=history,
                                  n_patterns_history=sizes, added=added, rounds=rounds, converged=converged,
                                  exhaustive=exhaustive, certificate=certificate, info=info)


def _check_rounds(n_candidates, max_rounds, max_add, exact_search):
    """Column generation's round options: ValueError naming the bad one."""
    n_candidates = check_positive_int(n_candidates, "n_candidates")
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, (int, np.integer)) or max_rounds < 0:
        raise ValueError(f"max_rounds must be an integer >= 0, got {max_rounds!r}")
    if max_add is not None:
        max_add = check_positive_int(max_add, "max_add")
    if exact_search not in (True, False, "auto"):
        raise ValueError(f"exact_search must be True, False or 'auto', got {exact_search!r}")
    return n_candidates, max_add


def _no_worse_than_previous(program, result, prev_weights, round_index, info):
    """The round's point: the solver's, unless the previous round's point padded with zero blocks (feasible
    for this round's larger program) is better or the solver returned none - so the objective history never
    increases."""
    weights = result.weights
    if prev_weights is not None:
        padded = _pad(prev_weights, program.n_patterns - prev_weights["V"].shape[1])
        if weights is None or program.objective(weights) > program.objective(padded):
            weights = padded
            info["kept_previous_point"].append(round_index)
    if weights is None:
        raise RuntimeError(f"solver {result.solver!r} returned no point (status {result.status!r})")
    return weights


class _ExactSearch:
    """Pricing of every pattern of X, for column generation once the random search finds nothing: on the
    given ``exact_directions``, else on an enumeration done once (``exact_search="auto"``: only when the
    general-position count of X's patterns is at most ``exact_limit``)."""

    def __init__(self, X, exact_search, exact_limit, exact_directions, bias):
        self.X, self.exact_search, self.exact_limit = X, exact_search, exact_limit
        self.directions = None
        if exact_directions is not None:
            self.directions = check_matrix(exact_directions, "exact_directions")
            if self.directions.shape[0] != X.shape[1]:
                raise ValueError(f"shape mismatch: exact_directions have {self.directions.shape[0]} rows, X has "
                                 f"{X.shape[1]} columns{' (with the bias column)' if bias else ''}")
            self.enabled = exact_search is not False
        elif exact_search == "auto":
            nonzero = int(np.count_nonzero(np.linalg.norm(X, axis=1)))
            self.enabled = max_pattern_count(nonzero, int(np.linalg.matrix_rank(X))) <= exact_limit
        else:
            self.enabled = bool(exact_search)

    def price(self, program, weights, tol):
        """The certificate over every pattern of X, or None when the exact search is off or X has too many
        patterns to enumerate (an error only when ``exact_search=True`` asked for it)."""
        if not self.enabled:
            return None
        if self.directions is None:
            try:
                _, self.directions = enumerate_patterns(self.X, max_patterns=max(self.exact_limit, 1),
                                                        check_input=False)
            except ValueError:
                if self.exact_search is True:
                    raise
                self.enabled = False
                return None
        return optimality_certificate(program, weights, directions=self.directions, tol=tol)
