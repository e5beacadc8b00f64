r"""PGD adversarial training of the NON-CONVEX two-layer ReLU network by back-propagation (NumPy only).

Same network, loss and weight decay as docs/math.md section 1, with the loss taken at the worst point of the
l_inf ball of radius :math:`\epsilon` around every sample (docs/math.md section 7; the bias column, when
``bias=True`` marks the last column of X as the ones column, is never perturbed):

.. math::
    F_\epsilon(U, \alpha) = \sum_k \max_{|\delta_k|_\infty \le \epsilon}
        \ell\big(f(x_k + \delta_k), y_k\big) + \frac{\beta}{2}\big(|U|_F^2 + |\alpha|^2\big).

* Inner maximisation: :func:`solvers.baselines.attacks.pgd` (signed-gradient ascent with restarts; the best of
  the clean point and all iterates is kept per sample), run at the CURRENT weights before every step.
* Outer minimisation: Adam (or plain (sub)gradient descent, ``method="sgd"``) with the gradient of the
  NC objective at the adversarial points, :func:`solvers.baselines.backprop.nc_objective_and_gradient`
  (Danskin: at an exact, unique maximiser this is the gradient of :math:`F_\epsilon` wherever that is
  differentiable; with PGD maximisers it is the usual adversarial-training approximation).

The recorded objective is the PGD estimate of :math:`F_\epsilon` - a LOWER bound on the exact
adversarial objective (PGD may miss the maximiser); it is exact on epsilon-stable points
(:meth:`formulations.network.ReLUNetwork.stable_mask`), where f is affine in the ball. The robust convex
program (:class:`formulations.robust.RobustReLUProgram`) gives a network whose exact adversarial
objective equals its optimum, i.e. an UPPER bound on :math:`\min F_\epsilon`.

With ``epsilon=0`` the attack returns the clean points and :func:`train_adversarial` follows exactly
the path of :func:`solvers.baselines.backprop.train_nonconvex` (same seed, same initialisation, same steps;
bit-identical in full batch, equal up to rounding with mini-batches).

:func:`evaluate_robustness` measures a network: clean accuracy, PGD robust accuracy
(:func:`solvers.baselines.attacks.robust_accuracy`), a sound stability-based certificate on the given points and,
for a result of the robust convex program, the share of certified training points
(:meth:`formulations.robust.RobustReLUProgram.certificates`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from formulations.losses import get_loss
from formulations.network import GatedReLUNetwork, ReLUNetwork
from formulations.validation import check_beta, check_epsilon, check_flag, check_positive_int, check_seed, check_X_y
from solvers.baselines.attacks import pgd, robust_accuracy, worst_case_vertices
from solvers.baselines.exact_robustness import _check_time, exact_robust_accuracy
from solvers.baselines.backprop import DescentStep, _check_positive_float, initial_point, nc_objective_and_gradient

METHODS = ("adam", "sgd")
#: default constant step size of each method (``lr=None``), as in :mod:`solvers.baselines.backprop`
DEFAULT_LR = {"adam": 1e-2, "sgd": 1e-3}
ATTACKS = ("pgd", "vertices", "closed_form")


@dataclass
class AdversarialTrainingResult:
    """Outcome of one adversarial training run.

    Attributes
    ----------
    network : :class:`formulations.network.ReLUNetwork` with the final weights (U d x m, alpha m)
    objective : PGD estimate of the adversarial objective F_eps at ``network`` (``history[-1]``)
    iterations : epochs performed (one epoch = one pass over the data in mini-batches)
    status : ``"converged"`` (largest gradient entry <= tol), ``"max_iter"`` or ``"diverged"`` (the
        objective became non-finite; the last finite iterate is returned)
    history : PGD estimate of F_eps after each epoch (``history[0]``: at the initial weights)
    clean_history : NC objective on the clean points at the same weights (always <= ``history``)
    epsilon, bias, method, lr, batch_size : what ran
    attack : the PGD settings used during training (steps, restarts, step_size)
    grad_norm : largest absolute entry of the full-batch (sub)gradient at the adversarial points of the
        returned weights
    message, time_s : stopping reason in words, wall time
    """

    network: ReLUNetwork
    objective: float
    iterations: int
    status: str
    history: np.ndarray = field(repr=False)
    clean_history: np.ndarray = field(repr=False)
    epsilon: float = 0.0
    bias: bool = False
    method: str = "adam"
    lr: float = 0.0
    batch_size: Optional[int] = None
    attack: dict = field(default_factory=dict)
    grad_norm: float = float("nan")
    message: str = ""
    time_s: float = 0.0

    @property
    def converged(self):
        return self.status == "converged"


@dataclass
class RobustnessReport:
    """Robustness of a network on data (X, y) at radius ``epsilon``.

    clean_accuracy : share of points with sign(f(x)) == y (f(x) = 0 counts as +1)
    robust_accuracy : share still correct after the PGD attack of :func:`solvers.baselines.attacks.robust_accuracy`
        (an UPPER bound on the true robust accuracy: PGD may miss an adversarial point)
    stable_certified : share of points that are epsilon-stable (no activation can flip in the ball, to
        the tolerance of :meth:`ReLUNetwork.stable_mask`) with worst-case margin
        y f(x) - eps |a(x)|_1 > 0 - a LOWER bound on the true robust accuracy, valid for any network
    certified_share : for a result of the robust convex program, the share of its TRAINING points
        certified by :meth:`RobustReLUProgram.certificates` at the program's epsilon (None otherwise)
    certified_epsilon : the radius ``certified_share`` refers to (None without a result)
    epsilon, n : the radius and number of points evaluated
    attack : the PGD settings used
    exact_robust_lower, exact_robust_upper : with ``exact=True``, the exact robust accuracy's interval from
        :func:`solvers.baselines.exact_robustness.exact_robust_accuracy` - [robust share, (robust + undecided)
        share]; equal when the MILP decided every point (None otherwise)
    exact_undecided : number of points left undecided (time limits, or a worst margin within the tolerance
        of a tie); exact_time_s : the exact evaluation's wall time
    """

    clean_accuracy: float
    robust_accuracy: float
    stable_certified: float
    certified_share: Optional[float]
    certified_epsilon: Optional[float]
    epsilon: float
    n: int
    attack: dict = field(default_factory=dict)
    exact_robust_lower: Optional[float] = None
    exact_robust_upper: Optional[float] = None
    exact_undecided: Optional[int] = None
    exact_time_s: Optional[float] = None

    def to_dict(self):
        return asdict(self)


# -- validation helpers -----------------------------------------------------------------------------
def _check_nonnegative(value, name, allow_zero=True, allow_none=False):
    if value is None and allow_none:
        return None
    return _check_positive_float(value, name, allow_zero=allow_zero)


def _check_bias(X, bias):
    if not isinstance(bias, (bool, np.bool_)):
        raise ValueError(f"bias must be True or False, got {bias!r}")
    if bias and not np.all(X[:, -1] == 1.0):
        raise ValueError("bias=True needs the last column of X to be the ones column (it is never perturbed)")
    return bool(bias)


def _check_net(net, d):
    if not isinstance(net, (ReLUNetwork, GatedReLUNetwork)):
        raise ValueError(f"net must be a formulations.network.ReLUNetwork or GatedReLUNetwork, got "
                         f"{type(net).__name__}")
    if isinstance(net, GatedReLUNetwork) and net.G is None:
        raise ValueError("a gated network needs its gate directions G to be attacked or certified")
    if net.d != d:
        raise ValueError(f"shape mismatch: the network takes {net.d} features, X has {d}")
    return net


def _attack_options(steps, restarts, step_size):
    return {"steps": check_positive_int(steps, "steps (PGD steps)"),
            "restarts": check_positive_int(restarts, "restarts (PGD restarts)"),
            "step_size": _check_nonnegative(step_size, "step_size", allow_none=True)}


def _regularizer(U, alpha):
    return 0.5 * (float(np.sum(U * U)) + float(np.sum(alpha * alpha)))


# -- the adversarial objective ----------------------------------------------------------------------
def adversarial_objective(net, X, y, loss, beta, epsilon, bias=False, attack="pgd", steps=40, restarts=5,
                          step_size=None, seed=0):
    r"""Estimate of :math:`\sum_k \max_{|\delta_k|_\infty\le\epsilon} \ell(f(x_k+\delta_k), y_k)
    + \frac{\beta}{2}(|U|^2 + |\alpha|^2)` for the network ``net``.

    ``attack``:

    * ``"pgd"``         - :func:`solvers.baselines.attacks.pgd` (a lower bound; exact on epsilon-stable points);
    * ``"vertices"``    - maximum over the 2^d' box vertices, :func:`solvers.baselines.attacks.worst_case_vertices`
      (small d' only; exact on epsilon-stable points, a lower bound elsewhere);
    * ``"closed_form"`` - :meth:`ReLUNetwork.adversarial_objective` (exact; raises ValueError unless every
      point is epsilon-stable).
    """
    X, y = check_X_y(X, y)
    loss = get_loss(loss)
    y = loss.validate_labels(y)
    beta = check_beta(beta)
    epsilon = check_epsilon(epsilon)
    bias = _check_bias(X, bias)
    net = _check_net(net, X.shape[1])
    if attack == "pgd":
        opts = _attack_options(steps, restarts, step_size)
        X_adv = pgd(net, X, y, loss, epsilon, seed=seed, bias=bias, **opts)
        losses = loss.per_sample(net.predict(X_adv), y)
    elif attack == "vertices":
        losses, _ = worst_case_vertices(net, X, y, loss, epsilon, bias=bias)
    elif attack == "closed_form":
        return net.adversarial_objective(X, y, loss, beta, epsilon, bias, check=True)
    else:
        raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    return float(np.sum(losses)) + beta * net.regularizer()


# -- training ---------------------------------------------------------------------------------------
def train_adversarial(X, y, loss="hinge", beta=1.0, epsilon=0.0, width=None, bias=False, method="adam",
                      seed=None, max_iter=300, lr=None, batch_size=None, tol=1e-6, init_scale=1.0, U0=None,
                      alpha0=None, steps=10, restarts=1, step_size=None, attack_seed=None):
    r"""PGD adversarial training of :math:`f(x) = \sum_j \max(0, x^\top u_j)\alpha_j` by back-propagation.

    Minimises the adversarial objective :math:`F_\epsilon(U, \alpha)` (module docstring) from an initial
    point and returns an :class:`AdversarialTrainingResult`.

    Parameters
    ----------
    X, y : data (n x d) and targets (n); copied, never modified. Labels must suit the loss.
    loss : ``"hinge"``, ``"logistic"``, ``"squared"`` or a :class:`formulations.losses.Loss` (sum form).
    beta : weight decay > 0 (the objective has (beta/2)(|U|^2 + |alpha|^2)).
    epsilon : l_inf radius >= 0 in the units of X. ``epsilon=0`` is standard training.
    width : neurons m (inferred from ``U0``/``alpha0`` when omitted; required otherwise).
    bias : True when the last column of X is the ones column; it is never perturbed.
    method : ``"adam"`` (Kingma & Ba, moments 0.9/0.999) or ``"sgd"`` ((sub)gradient descent); both with
        the constant step ``lr`` (default ``DEFAULT_LR[method]``).
    seed : None or an int >= 0: seed of the initialisation and of the mini-batch shuffling - the same stream as
        :func:`solvers.baselines.backprop.train_nonconvex`, so the initial weights are the same for the same seed.
    max_iter : epochs. batch_size : mini-batch size (None: full batch, one step per epoch). Each
        mini-batch is attacked at the current weights; its gradient is rescaled by n/|B| (sum-form loss).
    tol : stop when the largest entry of the full-batch gradient at the adversarial points is <= tol.
    init_scale : random initialisation :math:`U_{ij} \sim N(0, s^2/d)`, :math:`\alpha_j \sim N(0, s^2/m)`.
    U0, alpha0 : explicit initial weights (copied).
    steps, restarts, step_size : PGD settings of the inner maximisation (:func:`solvers.baselines.attacks.pgd`).
    attack_seed : None or an int >= 0: seed of the PGD random restarts (default: derived from ``seed``).
    """
    start = time.perf_counter()
    loss = get_loss(loss)
    X, y = check_X_y(X, y)
    y = loss.validate_labels(y)
    beta = check_beta(beta)
    epsilon = check_epsilon(epsilon)
    bias = _check_bias(X, bias)
    n, d = X.shape
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = _check_nonnegative(tol, "tol")
    init_scale = _check_nonnegative(init_scale, "init_scale", allow_zero=False)
    lr = DEFAULT_LR[method] if lr is None else _check_nonnegative(lr, "lr", allow_zero=False)
    if batch_size is not None:
        batch_size = min(check_positive_int(batch_size, "batch_size"), n)
    attack = _attack_options(steps, restarts, step_size)
    seed = check_seed(seed, "seed")
    attack_seed = check_seed(attack_seed, "attack_seed")
    rng = np.random.default_rng(seed)  # the initialisation stream of solvers.baselines.backprop.train_nonconvex
    U, alpha = initial_point(rng, d, width, U0, alpha0, init_scale)
    attack_rng = np.random.default_rng(([int(seed), 0xAD5] if seed is not None else None)
                                       if attack_seed is None else attack_seed)
    run = _AdversarialRun(X, y, loss, beta, epsilon, bias, attack, attack_rng)
    state = run.start(U, alpha)
    status, message, epochs = "max_iter", f"reached max_iter={max_iter}", max_iter
    descend = DescentStep(method, lr, U, alpha)
    if not np.isfinite(state[2]):
        status, message, epochs = "diverged", "the initial objective is not finite", 0
    for epoch in range(1, max_iter + 1):
        if status == "diverged":
            break
        if _largest_entry(state[3], state[4]) <= tol:
            status, message, epochs = "converged", "gradient below tol", epoch - 1
            break
        batches = run.batches(rng, batch_size)
        new_state = run.epoch(state, batches, descend)
        if new_state is None:
            status, message, epochs = "diverged", f"objective became non-finite at epoch {epoch}", epoch
            break
        state = new_state
        run.record(state)
    else:
        if _largest_entry(state[3], state[4]) <= tol:
            status, message = "converged", "gradient below tol"
    U, alpha, value, gU, ga = state
    return AdversarialTrainingResult(
        network=ReLUNetwork(U, alpha), objective=float(value), iterations=epochs, status=status,
        history=np.asarray(run.history, float), clean_history=np.asarray(run.clean_history, float),
        epsilon=epsilon, bias=bias, method=method, lr=lr, batch_size=batch_size, attack=dict(attack),
        grad_norm=_largest_entry(gU, ga), message=message, time_s=time.perf_counter() - start)


def _largest_entry(gU, ga):
    """The largest absolute entry of the gradient ``(gU, ga)`` (the stopping test of both trainers)."""
    return float(max(np.abs(gU).max(initial=0.0), np.abs(ga).max(initial=0.0)))


class _AdversarialRun:
    """One PGD adversarial-training run: the data, the inner attack, and the per-epoch descent.

    A state is ``(U, alpha, objective, grad_U, grad_alpha)`` with the objective and gradient taken at the
    PGD points of the full training set (Danskin: the gradient of the max is the gradient at the maximiser)."""

    def __init__(self, X, y, loss, beta, epsilon, bias, attack, attack_rng):
        self.X, self.y, self.loss, self.beta = X, y, loss, beta
        self.epsilon, self.bias, self.attack, self.attack_rng = epsilon, bias, attack, attack_rng
        self.history, self.clean_history = [], []

    def adversarial_step(self, U, alpha, Xb, yb):
        """(objective at the PGD points, grad_U, grad_alpha) for the samples (Xb, yb)."""
        X_adv = pgd(ReLUNetwork(U, alpha), Xb, yb, self.loss, self.epsilon, bias=self.bias,
                    seed=int(self.attack_rng.integers(2 ** 63)), **self.attack)
        return nc_objective_and_gradient(U, alpha, X_adv, yb, self.loss, self.beta)

    def clean_objective(self, U, alpha):
        return self.loss.value(np.maximum(self.X @ U, 0.0) @ alpha, self.y) + self.beta * _regularizer(U, alpha)

    def start(self, U, alpha):
        state = (U, alpha, *self.adversarial_step(U, alpha, self.X, self.y))
        self.record(state)
        return state

    def record(self, state):
        self.history.append(state[2])
        self.clean_history.append(self.clean_objective(state[0], state[1]))

    def batches(self, rng, batch_size):
        """The epoch's mini-batches (index arrays), or ``[None]`` for one full-batch step."""
        n = self.X.shape[0]
        if batch_size is None or batch_size >= n:
            return [None]
        return np.array_split(rng.permutation(n), int(np.ceil(n / batch_size)))

    def epoch(self, state, batches, descend):
        """One epoch: a descent step per mini-batch (each attacked at the current weights, its gradient
        rescaled by n/|B| for the sum-form loss), then the full-batch objective and gradient. None when
        anything became non-finite (the caller keeps the previous state)."""
        U, alpha, _, gU, ga = state
        n, beta = self.X.shape[0], self.beta
        with np.errstate(over="ignore", invalid="ignore"):
            for idx in batches:
                if idx is None:
                    bU, ba = gU, ga
                else:
                    _, bU, ba = self.adversarial_step(U, alpha, self.X[idx], self.y[idx])
                    scale = n / len(idx)
                    bU = scale * (bU - beta * U) + beta * U
                    ba = scale * (ba - beta * alpha) + beta * alpha
                U, alpha = descend(U, alpha, bU, ba)
                if not (np.all(np.isfinite(U)) and np.all(np.isfinite(alpha))):
                    return None
            value, gU, ga = self.adversarial_step(U, alpha, self.X, self.y)
        if not (np.isfinite(value) and np.all(np.isfinite(gU)) and np.all(np.isfinite(ga))):
            return None
        return U, alpha, value, gU, ga


# -- evaluation -------------------------------------------------------------------------------------
def stable_certificates(net, X, y, epsilon, bias=False):
    r"""Per point: True when no perturbation of l_inf size <= epsilon changes the sign of y f(x) - by the
    sound worst-margin bound of :meth:`formulations.network.ReLUNetwork.certified_robust` (stable neurons
    exactly, every other neuron by its interval, a margin above a tolerance scaled to the network's
    output). The same rule certifies the robust program's training points
    (:meth:`formulations.robust.RobustReLUProgram.certificates`)."""
    X, y = check_X_y(X, y)
    y = get_loss("hinge").validate_labels(y)
    epsilon = check_epsilon(epsilon)
    bias = _check_bias(X, bias)
    net = _check_net(net, X.shape[1])
    return net.certified_robust(X, y, epsilon, bias)


def evaluate_robustness(net, X, y, epsilon, bias=False, *, result=None, steps=40, restarts=5, step_size=None,
                        seed=0, exact=False, exact_time_limit=10.0, exact_total_time=None):
    """Clean accuracy, PGD robust accuracy and certificates of ``net`` on (X, y) (labels +-1).

    ``result`` - optionally a :class:`solvers.result.SolveResult` of the robust convex program
    (:class:`formulations.robust.RobustReLUProgram`); then ``certified_share`` is the share of its
    TRAINING points certified by ``program.certificates`` at the program's own epsilon (``net=None``
    evaluates ``result.network``). ``steps``,
    ``restarts``, ``step_size``, ``seed`` configure the PGD attack. ``exact=True`` adds the exact robust
    accuracy by MILP (:func:`solvers.baselines.exact_robustness.exact_robust_accuracy`, its own PGD run with the
    same settings and corner starts first), with at most ``exact_time_limit`` seconds per point and
    ``exact_total_time`` seconds in all (None: no total limit). Returns a :class:`RobustnessReport`.
    """
    if net is None and result is not None and getattr(result, "weights", None) is not None:
        net = result.network
    X, y = check_X_y(X, y)
    y = get_loss("hinge").validate_labels(y)
    epsilon = check_epsilon(epsilon)
    bias = _check_bias(X, bias)
    net = _check_net(net, X.shape[1])
    attack = _attack_options(steps, restarts, step_size)
    exact = check_flag(exact, "exact")
    if exact:  # checked here, before the PGD run
        _check_time(exact_time_limit, "exact_time_limit")
        _check_time(exact_total_time, "exact_total_time")
    clean = float(np.mean(np.where(net.predict(X) >= 0, 1.0, -1.0) == y))
    robust = robust_accuracy(net, X, y, epsilon, bias=bias, seed=seed, **attack)
    stable = float(np.mean(stable_certificates(net, X, y, epsilon, bias)))
    certified, cert_eps = None, None
    if result is not None:
        program = getattr(result, "program", None)
        if program is None or not hasattr(program, "certificates") or not hasattr(program, "epsilon_value"):
            raise ValueError("result must be a SolveResult of the robust convex program (formulation 'robust')")
        if result.weights is None:
            raise ValueError(f"result has no solution (status {result.status!r}); nothing to certify")
        if not program.loss.classification:
            raise ValueError("certificates need a classification loss (hinge or logistic)")
        certified = float(np.mean(program.certificates(result.weights)))
        cert_eps = program.epsilon_value
    report = RobustnessReport(clean_accuracy=clean, robust_accuracy=robust, stable_certified=stable,
                              certified_share=certified, certified_epsilon=cert_eps, epsilon=epsilon,
                              n=int(X.shape[0]), attack=dict(attack, seed=seed))
    if exact:
        verdicts = exact_robust_accuracy(net, X, y, epsilon, bias, pgd_options=dict(attack, seed=seed, starts="both"),
                                         point_time_limit=exact_time_limit, time_limit=exact_total_time)
        report.exact_robust_lower, report.exact_robust_upper = verdicts.robust_accuracy_bounds
        report.exact_undecided = verdicts.counts["undecided"]
        report.exact_time_s = verdicts.time_s
    return report
