r"""Back-propagation baseline for the NON-CONVEX two-layer ReLU objective (docs/math.md section 1).

The network of width m is :math:`f(x) = \sum_{j=1}^m \max(0, x^\top u_j)\,\alpha_j` with first layer
:math:`U = [u_1, \dots, u_m]` (d x m) and output weights :math:`\alpha \in \mathbb{R}^m`. Training minimises

.. math::
    F(U, \alpha) = \ell(f(X), y) + \frac{\beta}{2}\sum_j \big(|u_j|_2^2 + \alpha_j^2\big)

with a SUM-form loss :math:`\ell` from :mod:`formulations.losses` (squared, hinge or logistic). Writing
:math:`Z = XU`, :math:`A = \max(0, Z)`, :math:`\hat y = A\alpha` and :math:`g = \partial\ell/\partial\hat y`
(:meth:`formulations.losses.Loss.gradient`), back-propagation gives

.. math::
    \nabla_\alpha F = A^\top g + \beta\alpha, \qquad
    \nabla_U F = X^\top\big((g\,\alpha^\top) \circ 1[Z > 0]\big) + \beta U

(the ReLU derivative is taken as 0 at 0; the hinge loss uses its subgradient). This objective is
non-convex: every run ends at a network whose objective is an UPPER bound on the global minimum, which
the exact convex program of docs/math.md section 2 attains. The module is the baseline the convex solvers are
compared against; it is deliberately plain NumPy (no autodiff framework).

Methods of :func:`train_nonconvex`:

* ``"sgd"``   - (mini-batch) gradient descent with a constant step ``lr``;
* ``"adam"``  - Adam (Kingma & Ba) with the usual moments (0.9, 0.999) and constant step ``lr``;
* ``"lbfgs"`` - :func:`scipy.optimize.minimize` (L-BFGS-B, no bounds) on the flattened parameters,
  always full batch.

For ``sgd``/``adam`` one iteration is one epoch (a full pass over the data in mini-batches of
``batch_size``; one full-gradient step when ``batch_size`` is None). A mini-batch B gives the unbiased
estimate :math:`\frac{n}{|B|}\nabla \ell_B + \beta\,\theta` of the full gradient, because the loss is a sum.
"""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

try:  # L-BFGS-B's tiny BLAS calls slow down by 10-30x when BLAS threads compete for the cores
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    threadpool_limits = None

from formulations.losses import get_loss
from formulations.network import ReLUNetwork
from formulations.validation import check_beta, check_matrix, check_positive_int, check_X_y

METHODS = ("adam", "sgd", "lbfgs")
#: default constant step size of each first-order method (``lr=None``)
DEFAULT_LR = {"adam": 1e-2, "sgd": 1e-3}


@dataclass
class NonConvexResult:
    """Outcome of one non-convex training run.

    Attributes
    ----------
    network : :class:`formulations.network.ReLUNetwork` with the final weights (U d x m, alpha m)
    objective : full-batch NC objective F(U, alpha) of ``network`` on the training data
    iterations : epochs (sgd/adam) or L-BFGS iterations performed
    status : ``"converged"`` (gradient test met, or L-BFGS reported success), ``"max_iter"``,
        ``"diverged"`` (the objective became non-finite; the last finite iterate is returned) or
        ``"stalled"`` (L-BFGS stopped early without success, e.g. a line-search failure at a kink)
    history : full-batch objective after each iteration (``history[0]`` is the initial objective)
    grad_norm : max-abs entry of the full (sub)gradient at the returned point
    method, message, time_s : what ran, the stopping reason in words, wall time
    """

    network: ReLUNetwork
    objective: float
    iterations: int
    status: str
    history: np.ndarray = field(repr=False)
    grad_norm: float = float("nan")
    method: str = ""
    message: str = ""
    time_s: float = 0.0

    @property
    def converged(self):
        return self.status == "converged"


# -- the objective ----------------------------------------------------------------------------------
def _objective_and_gradient(U, alpha, X, y, loss, beta, loss_scale=1.0):
    """Unchecked core: (F, dF/dU, dF/dalpha) with the loss part multiplied by ``loss_scale``."""
    Z = X @ U
    A = np.maximum(Z, 0.0)
    yhat = A @ alpha
    with np.errstate(over="ignore", invalid="ignore"):
        value = loss_scale * loss.value(yhat, y) + 0.5 * beta * (np.sum(U * U) + np.sum(alpha * alpha))
        g = loss_scale * loss.gradient(yhat, y)
        g_alpha = A.T @ g + beta * alpha
        g_U = X.T @ (np.outer(g, alpha) * (Z > 0)) + beta * U
    return float(value), g_U, g_alpha


def nc_objective_and_gradient(U, alpha, X, y, loss, beta):
    r"""Non-convex objective and its gradient (docs/math.md section 1).

    Returns ``(F, grad_U, grad_alpha)`` with
    :math:`F = \ell(\max(0, XU)\alpha, y) + \frac{\beta}{2}(|U|_F^2 + |\alpha|^2)`,
    :math:`\nabla_\alpha F = \max(0, XU)^\top g + \beta\alpha` and
    :math:`\nabla_U F = X^\top((g\alpha^\top)\circ 1[XU > 0]) + \beta U`, where
    :math:`g = \nabla_{\hat y}\ell` (a subgradient for hinge; ReLU'(0) := 0).

    ``U`` is d x m, ``alpha`` has m entries, ``X`` is n x d, ``y`` has n entries (labels validated for
    the loss), ``loss`` is a name or :class:`formulations.losses.Loss`, ``beta`` > 0. Inputs are not
    modified.
    """
    loss = get_loss(loss)
    X, y = check_X_y(X, y)
    y = loss.validate_labels(y)
    beta = check_beta(beta)
    U, alpha = _check_weights(U, alpha, X.shape[1], None)
    return _objective_and_gradient(U, alpha, X, y, loss, beta)


# -- validation helpers --------------------------------------------------------------------------------
def _check_weights(U, alpha, d, width):
    U = check_matrix(U, "U")
    if U.shape[0] != d:
        raise ValueError(f"shape mismatch: U has {U.shape[0]} rows but X has {d} columns")
    if width is not None and U.shape[1] != width:
        raise ValueError(f"shape mismatch: U has {U.shape[1]} columns (neurons) but width={width}")
    try:
        alpha = np.array(alpha, dtype=float, copy=True).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alpha must be a numeric array: {exc}") from None
    if alpha.shape[0] != U.shape[1]:
        raise ValueError(f"shape mismatch: U has {U.shape[1]} neurons but alpha has {alpha.shape[0]} entries")
    if not np.all(np.isfinite(alpha)):
        raise ValueError("alpha contains NaN or infinite values")
    return U, alpha


def _check_positive_float(value, name, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value}")
    return value


def _unflatten(theta, d, m):
    return theta[: d * m].reshape(d, m), theta[d * m:]


# -- training ------------------------------------------------------------------------------------------
def initial_point(rng, d, width, U0, alpha0, init_scale):
    r"""The starting weights ``(U, alpha)`` of a training run: ``U0`` / ``alpha0`` when given (copied and
    checked), otherwise drawn from ``rng`` as :math:`U_{ij} \sim N(0, s^2/d)`, :math:`\alpha_j \sim N(0, s^2/m)`
    (``U`` first, so runs with the same seed start from the same point whichever trainer draws them). The
    width m is inferred from ``U0`` or ``alpha0`` when ``width`` is None."""
    if width is None:
        if U0 is not None:
            width = check_matrix(U0, "U0").shape[1]
        elif alpha0 is not None:
            width = int(np.size(alpha0))
        else:
            raise ValueError("width (number of neurons) is required when U0 and alpha0 are not given")
    width = check_positive_int(width, "width")
    U = rng.standard_normal((d, width)) * (init_scale / np.sqrt(d)) if U0 is None else check_matrix(U0, "U0")
    if alpha0 is None:
        alpha = rng.standard_normal(width) * (init_scale / np.sqrt(width))
    elif np.size(alpha0) != width:
        raise ValueError(f"alpha0 must hold {width} numbers (one per neuron), got shape {np.shape(alpha0)}")
    else:
        alpha = alpha0
    return _check_weights(U, alpha, d, width)


def train_nonconvex(X, y, loss="squared", beta=1.0, width=None, method="adam", seed=None, max_iter=1000,
                    lr=None, batch_size=None, tol=1e-6, init_scale=1.0, U0=None, alpha0=None):
    r"""Train the non-convex two-layer ReLU network by back-propagation (local method).

    Minimises :math:`F(U,\alpha) = \ell(\max(0, XU)\alpha, y) + \frac{\beta}{2}(|U|_F^2 + |\alpha|^2)`
    from an initial point and returns a :class:`NonConvexResult`. Any run ends at an upper bound on the
    global minimum of F (which the exact convex program attains).

    Parameters
    ----------
    X, y : data (n x d) and targets (n); copied, never modified. Labels must suit the loss.
    loss : ``"squared"``, ``"hinge"``, ``"logistic"`` or a :class:`formulations.losses.Loss` (sum form).
    beta : weight decay > 0.
    width : number of neurons m (inferred from ``U0`` / ``alpha0`` when omitted; required otherwise).
    method : ``"adam"``, ``"sgd"`` or ``"lbfgs"``.
    seed : seed of the initialisation and of the mini-batch shuffling.
    max_iter : maximum epochs (sgd/adam) or L-BFGS iterations.
    lr : constant step size of sgd/adam (default ``DEFAULT_LR[method]``); ignored by lbfgs.
    batch_size : mini-batch size for sgd/adam (None: full batch; values >= n mean full batch).
    tol : stop when the largest absolute entry of the full gradient is <= ``tol`` (the ``gtol`` of
        L-BFGS-B); L-BFGS also stops on its relative objective-reduction test.
    init_scale : random initialisation :math:`U_{ij} \sim N(0, s^2/d)`, :math:`\alpha_j \sim N(0, s^2/m)`.
    U0, alpha0 : explicit initial weights (d x m and m); copied. A missing one is drawn at random.
    """
    start = time.perf_counter()
    loss = get_loss(loss)
    X, y = check_X_y(X, y)
    y = loss.validate_labels(y)
    beta = check_beta(beta)
    n, d = X.shape
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = _check_positive_float(tol, "tol", allow_zero=True)
    init_scale = _check_positive_float(init_scale, "init_scale")
    lr = DEFAULT_LR.get(method, 0.0) if lr is None else _check_positive_float(lr, "lr")
    if batch_size is not None:
        batch_size = min(check_positive_int(batch_size, "batch_size"), n)
    rng = np.random.default_rng(seed)
    U, alpha = initial_point(rng, d, width, U0, alpha0, init_scale)

    if method == "lbfgs":
        U, alpha, value, iterations, status, history, message = _run_lbfgs(
            U, alpha, X, y, loss, beta, max_iter, tol)
    else:
        U, alpha, value, iterations, status, history, message = _run_first_order(
            U, alpha, X, y, loss, beta, method, max_iter, lr, batch_size, tol, rng)
    value, gU, ga = _objective_and_gradient(U, alpha, X, y, loss, beta)
    grad_norm = float(max(np.abs(gU).max(initial=0.0), np.abs(ga).max(initial=0.0)))
    return NonConvexResult(network=ReLUNetwork(U, alpha), objective=value, iterations=iterations,
                           status=status, history=np.asarray(history, dtype=float), grad_norm=grad_norm,
                           method=method, message=message, time_s=time.perf_counter() - start)


class DescentStep:
    """One plain-gradient (``sgd``) or Adam step on (U, alpha); Adam keeps its moments here.

    Adam: m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2, x <- x - lr (m / (1 - b1^t)) /
    (sqrt(v / (1 - b2^t)) + eps) with b1 = 0.9, b2 = 0.999, eps = 1e-8."""

    b1, b2, eps = 0.9, 0.999, 1e-8

    def __init__(self, method, lr, U, alpha):
        self.method, self.lr, self.t = method, lr, 0
        self.mU, self.vU = np.zeros_like(U), np.zeros_like(U)
        self.ma, self.va = np.zeros_like(alpha), np.zeros_like(alpha)

    def __call__(self, U, alpha, gU, ga):
        lr = self.lr
        if self.method == "sgd":
            return U - lr * gU, alpha - lr * ga
        b1, b2 = self.b1, self.b2
        self.t += 1
        self.mU = b1 * self.mU + (1 - b1) * gU
        self.vU = b2 * self.vU + (1 - b2) * gU * gU
        self.ma = b1 * self.ma + (1 - b1) * ga
        self.va = b2 * self.va + (1 - b2) * ga * ga
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        U = U - lr * (self.mU / c1) / (np.sqrt(self.vU / c2) + self.eps)
        alpha = alpha - lr * (self.ma / c1) / (np.sqrt(self.va / c2) + self.eps)
        return U, alpha


def _run_first_order(U, alpha, X, y, loss, beta, method, max_iter, lr, batch_size, tol, rng):
    n = X.shape[0]
    value, gU, ga = _objective_and_gradient(U, alpha, X, y, loss, beta)
    history = [value]
    if not np.isfinite(value):
        return U, alpha, value, 0, "diverged", history, "the initial objective is not finite"
    descend = DescentStep(method, lr, U, alpha)
    full_batch = batch_size is None or batch_size >= n
    for epoch in range(1, max_iter + 1):
        if max(np.abs(gU).max(initial=0.0), np.abs(ga).max(initial=0.0)) <= tol:
            return U, alpha, value, epoch - 1, "converged", history, "gradient below tol"
        prev = (U.copy(), alpha.copy(), value)
        batches = [None] if full_batch else np.array_split(rng.permutation(n), int(np.ceil(n / batch_size)))
        for idx in batches:
            if idx is None:
                bU, ba = gU, ga
            else:
                _, bU, ba = _objective_and_gradient(U, alpha, X[idx], y[idx], loss, beta,
                                                    loss_scale=n / len(idx))
            U, alpha = descend(U, alpha, bU, ba)
        value, gU, ga = _objective_and_gradient(U, alpha, X, y, loss, beta)
        if not (np.isfinite(value) and np.all(np.isfinite(gU)) and np.all(np.isfinite(ga))):
            U, alpha, value = prev
            return U, alpha, value, epoch, "diverged", history, f"objective became non-finite at epoch {epoch}"
        history.append(value)
    if max(np.abs(gU).max(initial=0.0), np.abs(ga).max(initial=0.0)) <= tol:
        return U, alpha, value, max_iter, "converged", history, "gradient below tol"
    return U, alpha, value, max_iter, "max_iter", history, f"reached max_iter={max_iter}"


def _run_lbfgs(U, alpha, X, y, loss, beta, max_iter, tol):
    d, m = U.shape
    history = []

    last = {}

    def fun(theta):
        Ui, ai = _unflatten(theta, d, m)
        value, gU, ga = _objective_and_gradient(Ui, ai, X, y, loss, beta)
        if not np.isfinite(value):  # let the line search back off
            value, grad = np.inf, np.zeros_like(theta)
        else:
            grad = np.concatenate([gU.ravel(), ga])
        last["theta"], last["value"] = theta.copy(), value
        return value, grad

    def record(theta):  # the accepted iterate is almost always the last point evaluated
        if "theta" in last and np.array_equal(theta, last["theta"]):
            history.append(last["value"])
        else:
            history.append(fun(theta)[0])

    theta0 = np.concatenate([U.ravel(), alpha])
    history.append(fun(theta0)[0])
    options = {"maxiter": max_iter, "gtol": tol, "maxcor": 20}
    if threadpool_limits is None:  # pragma: no cover
        res = minimize(fun, theta0, jac=True, method="L-BFGS-B", callback=record, options=options)
    else:
        with threadpool_limits(limits=1, user_api="blas"):
            res = minimize(fun, theta0, jac=True, method="L-BFGS-B", callback=record, options=options)
    U, alpha = _unflatten(np.array(res.x, dtype=float), d, m)
    value = fun(res.x)[0]
    message = str(res.message)
    if not np.isfinite(value):
        status = "diverged"
    elif res.success:
        status = "converged"
    elif res.nit >= max_iter or "ITERATIONS REACHED LIMIT" in message.upper():
        status = "max_iter"
    else:
        status = "stalled"
    return U.copy(), alpha.copy(), value, int(res.nit), status, history, message
