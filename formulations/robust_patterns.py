r"""Activation patterns whose robust cones survive a given l_inf radius (docs/math.md 7.4).

The robust program keeps pattern :math:`D_i` (signs :math:`s = 2 D_i - 1`) on the cone
:math:`\{v : s \circ (X v) \ge \epsilon |v_p|_1\}` (``v_p``: the perturbed coordinates, every column but
the bias). The cone holds a nonzero point exactly when some direction h induces the pattern *with margin*:

.. math::
    s_k\, x_k^\top h \ge \epsilon\, |h_p|_1 \quad (k = 1..n),

i.e. no training point lies within l_inf distance :math:`\epsilon` of the hyperplane
:math:`\{x : x^\top h = 0\}` (the l_inf distance of x to it is :math:`|x^\top h| / |h_p|_1`, l1 being the
dual norm). Gaussian directions (:func:`formulations.patterns.sample_patterns`) ignore this: their
hyperplanes cut through the point cloud, and :math:`|h_p|_1` of a dense h is large, so few of their
patterns survive a moderate :math:`\epsilon`. Two samplers that know :math:`\epsilon`:

* ``"margin"`` - sparse random normals w (1 to :data:`MAX_SUPPORT` nonzero perturbed coordinates,
  normalised to :math:`|w|_1 = 1`; sparse normals have the smallest l1 norm for their spread, hence the
  widest l_inf margins). With a bias column the hyperplane :math:`x_p^\top w = t` may be shifted: sorting
  the projections :math:`z_k = x_{k,p}^\top w`, every gap :math:`z_{(j+1)} - z_{(j)} > 2\epsilon` holds a
  threshold t (its midpoint) at l_inf distance more than :math:`\epsilon` from every point, so
  :math:`h = (w, -t)` induces :math:`D = 1[z \ge t]` with margin - in closed form, vectorised over many
  normals. Among a normal's gaps the one splitting the data most evenly is taken (a pattern active on a
  handful of points fits little). Without a bias no shift is possible; the pattern of each sparse normal
  is kept when its widest-margin direction (one linear program) clears :math:`\epsilon`.
* ``"network"`` - the patterns :math:`1[X u_j \ge 0]` of the neurons of a given network (e.g. one trained
  by PGD adversarial training, :func:`solvers.baselines.adversarial.train_adversarial`), each kept when its
  widest-margin direction clears :math:`\epsilon`.

Every returned pattern is checked with :func:`formulations.robust.critical_epsilon` (its own linear
program) to have a critical radius above :math:`\epsilon`, duplicates are dropped, and the returned
directions H satisfy ``D == (X @ H >= 0)`` with the margin, so ``make_program("robust", ..., D=D, H=H)``
keeps them as gates.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linprog

from .network import perturbation_mask
from .patterns import unique_columns
from .robust import critical_epsilon
from .validation import (check_directions, check_epsilon, check_flag, check_matrix, check_patterns,
                         check_positive_int, check_seed)

METHODS = ("margin", "network")
DEFAULT_METHOD = "margin"
#: largest number of nonzero coordinates of a random normal of the "margin" sampler
MAX_SUPPORT = 3
#: relative safety of the margin: a pattern is kept when its margin exceeds eps (1 + MARGIN_SAFETY), so that
#: the linear program that verifies it (solved to ~1e-9) cannot read it as collapsed
MARGIN_SAFETY = 1e-6
#: random normals drawn per requested pattern before the "margin" sampler gives up: with a bias column (a
#: vectorised closed form per normal), and without one (a linear program per normal)
DRAWS_PER_PATTERN = 200
LPS_PER_PATTERN = 10


class FewSurvivingPatternsWarning(UserWarning):
    """Fewer patterns than requested survive epsilon (the sampler ran out of draws, or too few collapsed
    patterns could be replaced)."""


def _check_bias_column(X, bias):
    bias = check_flag(bias, "bias")
    if bias and not np.allclose(X[:, -1], 1.0):
        raise ValueError("bias=True needs the last column of X to be all ones (the unperturbed bias column)")
    if bias and X.shape[1] < 2:
        raise ValueError("bias=True needs at least one feature column besides the bias column")
    return bias


def _check_common(X, epsilon, bias, seed):
    X = check_matrix(X, "X", copy=False)
    epsilon = check_epsilon(epsilon)
    bias = _check_bias_column(X, bias)
    return X, epsilon, bias, check_seed(seed)


def widest_margin_direction(X, sign, perturbed):
    r"""A direction h inducing the signs ``sign`` with the widest l_inf margin, and that margin:

    .. math::
        \max_{h,\ |h_p|_1 \le 1}\ \min_k s_k x_k^\top h

    (the critical radius of the pattern). Returns ``(margin, h)``; ``h`` is None when the margin is not
    positive (the pattern cannot be induced with margin). When the unperturbed coordinates alone realise the
    pattern (the bias for the all-ones pattern) the margin is ``inf`` and h is that direction."""
    n, d = X.shape
    p_idx, f_idx = np.flatnonzero(perturbed), np.flatnonzero(~perturbed)
    SX = sign[:, None] * X
    if f_idx.size:
        fixed = linprog(np.zeros(f_idx.size), A_ub=-SX[:, f_idx], b_ub=-np.ones(n), bounds=(None, None),
                        method="highs")
        if fixed.status == 0:
            h = np.zeros(d)
            h[f_idx] = fixed.x
            return float("inf"), h
    k = p_idx.size
    # variables h+ (k), h- (k), h_free, t; maximise t subject to t <= s_k x_k.h and |h_p|_1 <= 1
    cost = np.zeros(2 * k + f_idx.size + 1)
    cost[-1] = -1.0
    A_ub = np.vstack([np.hstack([-SX[:, p_idx], SX[:, p_idx], -SX[:, f_idx], np.ones((n, 1))]),
                      np.concatenate([np.ones(2 * k), np.zeros(f_idx.size + 1)])[None, :]])
    b_ub = np.concatenate([np.zeros(n), [1.0]])
    bounds = [(0, None)] * (2 * k) + [(None, None)] * (f_idx.size + 1)
    result = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if result.status != 0 or -result.fun <= 0:
        return 0.0, None
    h = np.zeros(d)
    h[p_idx] = result.x[:k] - result.x[k:2 * k]
    h[f_idx] = result.x[2 * k:2 * k + f_idx.size]
    return float(-result.fun), h


def direction_margins(X, H, perturbed):
    r"""Per direction (column of H), the l_inf margin :math:`\min_k |x_k^\top h| / |h_p|_1` of its hyperplane
    to the training points (inf when :math:`h_p = 0` and no point lies on it)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(X @ H).min(axis=0) / np.abs(H[perturbed]).sum(axis=0)


def _sparse_normals(rng, varying, count, d):
    """``count`` random normals (d x count) supported on 1..MAX_SUPPORT of the ``varying`` rows (the perturbed
    columns of X that are not constant), Gaussian entries, normalised to |w|_1 = 1."""
    support = min(MAX_SUPPORT, varying.size)
    sizes = rng.integers(1, support + 1, size=count)
    # a random subset of `sizes[j]` varying columns per normal: the smallest random keys win
    keys = rng.random((varying.size, count))
    ranks = np.argsort(np.argsort(keys, axis=0), axis=0)
    W = np.zeros((d, count))
    W[varying] = np.where(ranks < sizes[None, :], rng.standard_normal((varying.size, count)), 0.0)
    return W / np.abs(W).sum(axis=0)


def _gap_directions(Xp, W, epsilon):
    r"""Closed-form shift (bias column present): per normal w (column of W, |w|_1 = 1) the hyperplane
    :math:`x_p^\top w = t` through the midpoint of the most even gap wider than :math:`2\epsilon(1 +` safety)
    between consecutive sorted projections. Returns the directions ``(w, -t)`` of the normals that have such a
    gap (d x N', bias coordinate last)."""
    n = Xp.shape[0]
    Z = np.sort(Xp @ W, axis=0)
    gaps = np.diff(Z, axis=0)  # (n-1) x N: gap j lies between the j+1 smallest and the others
    split = np.minimum(np.arange(1, n), np.arange(n - 1, 0, -1))[:, None]  # points on the smaller side
    score = np.where(gaps > 2 * epsilon * (1 + MARGIN_SAFETY), split + gaps / (gaps.max(initial=0) + 1), -1.0)
    best = np.argmax(score, axis=0)
    columns = np.arange(W.shape[1])
    found = score[best, columns] > 0
    threshold = 0.5 * (Z[best, columns] + Z[best + 1, columns])
    return np.vstack([W[:, found], -threshold[found][None, :]])


def _central_directions(X, W, epsilon, perturbed):
    """No bias column: per normal, the widest-margin direction of its pattern when that margin clears
    epsilon (one linear program each)."""
    out = []
    for w in W.T:
        sign = np.where(X @ w >= 0, 1.0, -1.0)
        margin, h = widest_margin_direction(X, sign, perturbed)
        if h is not None and margin > epsilon * (1 + MARGIN_SAFETY):
            out.append(h)
    return np.array(out).T if out else np.zeros((X.shape[1], 0))


def _new_columns(D, H, known):
    """Columns of (D, H) that are nonzero, distinct, and not columns of ``known`` (n x K)."""
    D, H = unique_columns(D, H)
    keep = D.any(axis=0)
    if known.shape[1]:
        keep &= ~(D.T[:, None, :] == known.T[None, :, :]).all(axis=2).any(axis=1)
    return D[:, keep], H[:, keep]


def _draw_margin_patterns(X, count, epsilon, bias, rng, known):
    """Up to ``count`` new patterns (not in ``known``) with margin above epsilon, from sparse normals drawn in
    batches until enough are found or DRAWS_PER_PATTERN * count normals have been tried."""
    n, d = X.shape
    perturbed = perturbation_mask(d, bias)
    p_idx = np.flatnonzero(perturbed)
    varying = p_idx[np.ptp(X[:, p_idx], axis=0) > 0]
    D_out, H_out = np.zeros((n, 0)), np.zeros((d, 0))
    if varying.size == 0 or count == 0:
        return D_out, H_out
    budget, batch = (DRAWS_PER_PATTERN if bias else LPS_PER_PATTERN) * count, max(4 * count, 64)
    drawn = 0
    while D_out.shape[1] < count and drawn < budget:
        size = min(batch, budget - drawn) if bias else min(count - D_out.shape[1], budget - drawn)
        W = _sparse_normals(rng, varying, size, p_idx.size)
        drawn += size
        if bias:
            H = _gap_directions(X[:, p_idx], W, epsilon)
        else:
            H = _central_directions(X, W, epsilon, perturbed)
        if H.shape[1] == 0:
            continue
        D_new, H_new = _new_columns((X @ H >= 0).astype(float), H, np.hstack([known, D_out]))
        take = count - D_out.shape[1]
        D_out, H_out = np.hstack([D_out, D_new[:, :take]]), np.hstack([H_out, H_new[:, :take]])
    return D_out, H_out


def _network_directions(network, d):
    U = getattr(network, "U", network)
    return check_directions(U, d, "the network's first-layer weights")


def _surviving_columns(X, D, epsilon, perturbed):
    """Per column of D: (survives, widest-margin direction or None). A column survives when its critical
    radius (:func:`formulations.robust.critical_epsilon`) exceeds epsilon and a direction inducing it with that
    margin was found."""
    survives, directions = np.zeros(D.shape[1], dtype=bool), []
    for i, column in enumerate(D.T):
        sign = 2.0 * column - 1.0
        margin, h = widest_margin_direction(X, sign, perturbed)
        ok = h is not None and margin > epsilon * (1 + MARGIN_SAFETY) and np.array_equal(X @ h >= 0, column > 0)
        survives[i] = ok and critical_epsilon(X, sign, perturbed) > epsilon
        directions.append(h if survives[i] else None)
    return survives, directions


def _verified(X, D, H, epsilon, perturbed):
    """Keep the columns whose critical radius (the library's linear program) exceeds epsilon and whose
    direction induces them with margin above epsilon."""
    margins = direction_margins(X, H, perturbed)
    induced = ((X @ H >= 0) == (D > 0)).all(axis=0)
    critical = np.array([critical_epsilon(X, 2.0 * column - 1.0, perturbed) for column in D.T])
    keep = induced & (margins > epsilon) & (critical > epsilon)
    return D[:, keep], H[:, keep]


def sample_robust_patterns(X, n_patterns, epsilon, bias=False, seed=None, method=DEFAULT_METHOD, network=None):
    r"""Up to ``n_patterns`` distinct activation patterns whose robust cones are nonzero at ``epsilon``.

    ``X`` is the data the robust program sees: with ``bias=True`` its last column must be the ones column
    (never perturbed; ``make_program(..., bias=True)`` appends it to the raw features, so pass
    ``add_bias_column(X_raw)`` here). ``method`` (module docstring):

    * ``"margin"`` (default) - sparse random normals, shifted in closed form to a gap of the data wider than
      :math:`2\epsilon` (with a bias) or kept when their pattern's widest margin clears :math:`\epsilon`;
    * ``"network"`` - the patterns of the neurons of ``network`` (a :class:`formulations.network.ReLUNetwork`
      or a d x m array of first-layer weights), those that survive, in neuron order.

    Returns ``(D, H)``: D (n x P', float 0/1, P' <= n_patterns) and H (d x P') with ``D == (X @ H >= 0)`` and
    :math:`s_k x_k^\top h \ge \epsilon |h_p|_1` for every column; every pattern's
    :func:`formulations.robust.critical_epsilon` exceeds ``epsilon``. Warns
    (:class:`FewSurvivingPatternsWarning`) when fewer than ``n_patterns`` were found; ValueError when none.
    """
    X, epsilon, bias, seed = _check_common(X, epsilon, bias, seed)
    n_patterns = check_positive_int(n_patterns, "n_patterns")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "network" and network is None:
        raise ValueError("method='network' needs network= (a ReLUNetwork or a d x m array of weights)")
    if method != "network" and network is not None:
        raise ValueError(f"network= is used by method='network' only, not by {method!r}")
    n, d = X.shape
    perturbed = perturbation_mask(d, bias)
    if method == "network":
        U = _network_directions(network, d)
        D, _ = unique_columns((X @ U >= 0).astype(float))
        D = D[:, D.any(axis=0)]
        survives, directions = _surviving_columns(X, D, epsilon, perturbed)
        keep = np.flatnonzero(survives)[:n_patterns]
        D, H = D[:, keep], np.array([directions[i] for i in keep]).reshape(len(keep), d).T
    else:
        D, H = _draw_margin_patterns(X, n_patterns, epsilon, bias, np.random.default_rng(seed), np.zeros((n, 0)))
    D, H = _verified(X, D, H, epsilon, perturbed)
    if D.shape[1] == 0:
        raise ValueError(f"no activation pattern survives epsilon={epsilon:g} (method {method!r}): every robust "
                         f"cone found is {{0}}; use a smaller epsilon")
    if D.shape[1] < n_patterns:
        warnings.warn(f"only {D.shape[1]} of the {n_patterns} requested patterns survive epsilon={epsilon:g} "
                      f"(method {method!r})", FewSurvivingPatternsWarning, stacklevel=2)
    return D, H


def replace_collapsed_patterns(X, D, epsilon, bias=False, seed=None):
    r"""Keep the patterns of ``D`` whose robust cones survive ``epsilon`` and replace the collapsed ones by new
    surviving patterns of the ``"margin"`` sampler (distinct from the kept ones and from each other).

    The all-zero pattern (a neuron never active) counts as collapsed. Returns ``(D_new, H_new, n_unreplaced)``:
    the surviving columns of D first, unchanged and in their order,
    then the replacements; H_new (d x P') induces every column with margin above epsilon; ``n_unreplaced`` is
    the number of collapsed patterns no new surviving pattern was found for (they are dropped: a collapsed
    pattern forces its blocks to zero). Warns (:class:`FewSurvivingPatternsWarning`) when it is positive.
    """
    X, epsilon, bias, seed = _check_common(X, epsilon, bias, seed)
    n, d = X.shape
    D = check_patterns(D, n)
    perturbed = perturbation_mask(d, bias)
    survives, directions = _surviving_columns(X, D, epsilon, perturbed)
    kept = np.flatnonzero(survives & D.any(axis=0))  # a never-active pattern fits nothing: replace it too
    D_kept = D[:, kept]
    H_kept = np.array([directions[i] for i in kept]).reshape(len(kept), d).T
    missing = D.shape[1] - kept.size
    D_new, H_new = _draw_margin_patterns(X, missing, epsilon, bias, np.random.default_rng(seed), D_kept)
    D_new, H_new = _verified(X, D_new, H_new, epsilon, perturbed)
    unreplaced = missing - D_new.shape[1]
    if unreplaced:
        warnings.warn(f"{unreplaced} of the {missing} collapsed patterns could not be replaced by a pattern that "
                      f"survives epsilon={epsilon:g}; they are dropped", FewSurvivingPatternsWarning, stacklevel=2)
    return np.hstack([D_kept, D_new]), np.hstack([H_kept, H_new]), unreplaced
