r"""l_inf attacks on a recovered ReLU network, and the exact worst case for small input dimension.

For a network f (docs/math.md section 1) and a training point (x_k, y_k), an attack looks for a perturbation
:math:`|\delta|_\infty \le \epsilon` (bias coordinate never perturbed) that maximises the loss. Every loss
here is a monotone function of one scalar - the margin :math:`-y f(x)` for hinge and logistic,
:math:`s\,(f(x) - y)` with :math:`s = \mathrm{sign}(f(x_k) - y_k)` for the squared loss - so the attacks
ascend that scalar:

* :func:`fgsm` - one signed-gradient step of size epsilon;
* :func:`pgd`  - projected signed-gradient ascent with random restarts, vectorised over samples; the
  best perturbation over restarts is kept per sample. Restarts begin at uniform points of the box or at
  random vertices (``starts="corners"``): where every neuron is off the gradient is zero and a signed
  step does not move, so a start inside such a flat region never leaves it, while a vertex start is the
  farthest point from the clean one and often already switches neurons on;
* :func:`worst_case_vertices` - the maximum over the 2^d' vertices of the box. On an epsilon-stable
  point f is affine in the ball, the loss is convex in the perturbation and the maximum is attained at a
  vertex, so this is the exact worst case there (elsewhere it is a lower bound).
"""
from __future__ import annotations

import itertools

import numpy as np

from formulations.losses import get_loss
from formulations.network import perturbed_columns
from formulations.validation import check_epsilon, check_positive_int, check_X_y


def _ascent_sign(net, X, y, loss):
    """Per-sample sign s such that the loss increases with s * f(x)."""
    if loss.classification:
        return -y
    s = np.sign(net.predict(X) - y)
    return np.where(s == 0, 1.0, s)


def input_gradient(net, X, y, loss, bias=False):
    r"""Gradient of the per-sample loss with respect to the perturbed inputs (n x d'):
    :math:`\ell'(f(x_k), y_k)\, a_k` with :math:`a_k = \sum_j 1[x_k^\top u_j \ge 0]\,\alpha_j u_j`."""
    X, y = check_X_y(X, y)
    loss = get_loss(loss)
    return loss.gradient(net.predict(X), y)[:, None] * net.input_slopes(X, bias)


def _check(net, X, y, loss, epsilon):
    X, y = check_X_y(X, y)
    loss = get_loss(loss)
    y = loss.validate_labels(y)
    if X.shape[1] != net.d:
        raise ValueError(f"shape mismatch: the network takes {net.d} features, X has {X.shape[1]}")
    return X, y, loss, check_epsilon(epsilon)


def fgsm(net, X, y, loss, epsilon, bias=False):
    """Fast gradient sign attack: x + epsilon * sign(d/dx of the ascent scalar). Returns X_adv (copy)."""
    X, y, loss, epsilon = _check(net, X, y, loss, epsilon)
    p = perturbed_columns(X.shape[1], bias)
    direction = _ascent_sign(net, X, y, loss)[:, None] * net.input_slopes(X, bias)
    X_adv = X.copy()
    X_adv[:, p] += epsilon * np.sign(direction)
    return X_adv


STARTS = ("random", "corners", "both")


def _start_offsets(rng, starts, restart, shape, epsilon):
    """Offset of restart ``restart`` >= 1 from the clean points: uniform in the box (``"random"``), a
    uniformly random vertex epsilon * (+-1, ..., +-1) per sample (``"corners"``), or the two alternating,
    corners on odd restarts (``"both"``)."""
    corner = starts == "corners" or (starts == "both" and restart % 2 == 1)
    if corner:
        return epsilon * rng.choice((-1.0, 1.0), size=shape)
    return rng.uniform(-epsilon, epsilon, size=shape)


def pgd(net, X, y, loss, epsilon, steps=40, step_size=None, restarts=5, seed=None, bias=False, starts="random"):
    """Projected gradient ascent in the l_inf ball with random restarts.

    The first restart starts at the clean point, every other one at a random point of the box: uniform in
    the box (``starts="random"``, the default), a random vertex - an independent random sign per sample and
    coordinate (``"corners"``), or the two alternating (``"both"``, corners on odd restarts). Each takes
    ``steps`` signed-gradient steps of ``step_size`` (default 2.5 * epsilon / steps) on the ascent scalar
    and projects back onto the box. The perturbation with the largest loss over all iterates and restarts
    is returned per sample (never worse than the clean point). Returns X_adv (copy).

    Corner starts matter for robust networks: where every neuron is off at a point, the gradient is zero
    there and signed steps stay put, so uniform starts inside an all-off region see nothing.
    """
    X, y, loss, epsilon = _check(net, X, y, loss, epsilon)
    steps = check_positive_int(steps, "steps")
    restarts = check_positive_int(restarts, "restarts")
    if starts not in STARTS:
        raise ValueError(f"unknown starts {starts!r}; choose one of {', '.join(STARTS)}")
    step = 2.5 * epsilon / steps if step_size is None else float(step_size)
    if not np.isfinite(step) or step < 0:
        raise ValueError(f"step_size must be a finite number >= 0, got {step_size}")
    rng = np.random.default_rng(seed)
    p = perturbed_columns(X.shape[1], bias)
    sign = _ascent_sign(net, X, y, loss)  # fixed from the clean point (squared: away from the target)
    best = X.copy()
    best_loss = loss.per_sample(net.predict(X), y)
    lo, hi = X[:, p] - epsilon, X[:, p] + epsilon
    for r in range(restarts):
        Z = X.copy()
        if r > 0:
            Z[:, p] += _start_offsets(rng, starts, r, Z[:, p].shape, epsilon)
        for _ in range(steps):
            grad = sign[:, None] * net.input_slopes(Z, bias)
            Z[:, p] = np.clip(Z[:, p] + step * np.sign(grad), lo, hi)
            current = loss.per_sample(net.predict(Z), y)
            better = current > best_loss
            best[better] = Z[better]
            best_loss = np.where(better, current, best_loss)
    return best


def worst_case_vertices(net, X, y, loss, epsilon, bias=False, max_dim=16):
    """Per-sample maximum of the loss over the 2^d' vertices of the l_inf box (d' = perturbed inputs).

    Exact worst case on epsilon-stable points (f affine in the ball, loss convex in the perturbation);
    a lower bound elsewhere. Refuses d' > ``max_dim``. Returns (losses, X_worst).
    """
    X, y, loss, epsilon = _check(net, X, y, loss, epsilon)
    p = perturbed_columns(X.shape[1], bias)
    dp = p.stop - p.start
    if dp > max_dim:
        raise ValueError(f"vertex enumeration needs 2^{dp} evaluations per point; limit is 2^{max_dim}")
    best_loss = np.full(X.shape[0], -np.inf)
    best = X.copy()
    for signs in itertools.product((-1.0, 1.0), repeat=dp):
        Z = X.copy()
        Z[:, p] += epsilon * np.asarray(signs)
        current = loss.per_sample(net.predict(Z), y)
        better = current > best_loss
        best[better] = Z[better]
        best_loss = np.where(better, current, best_loss)
    return best_loss, best


def robust_accuracy(net, X, y, epsilon, bias=False, **pgd_options):
    """Share of points still classified correctly (sign of f) after a PGD attack on the margin."""
    X_adv = pgd(net, X, y, "hinge", epsilon, bias=bias, **pgd_options)
    return float(np.mean(np.where(net.predict(X_adv) >= 0, 1.0, -1.0) == check_X_y(X, y)[1]))
