"""What every convex program of cvxnn shares.

A program object holds the data (NumPy copies), the loss, the ``cvxpy.Problem`` (the oracle), its
variables and its ``cvxpy.Parameter`` s (``beta``, and ``epsilon`` for the robust program), so re-solving
for a new value reuses the compiled problem (DPP). It also evaluates - in NumPy, independently of any
solver - the objective, the constraint violation, the training predictions and the recovered network
at any point, so CVXPY and the hand-written solvers are judged by the same code.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
import cvxpy as cp
import numpy as np

from .losses import get_loss
from .validation import check_beta, check_X_y


#: neurons whose sizes (largest contribution to a training prediction, relative to max |y|) add up to at
#: most this are numerical noise - interior-point solvers leave every block slightly nonzero, at about their
#: accuracy: they are dropped from the recovered network and not counted in its width (so no training
#: prediction moves by more than this fraction of max |y|); a model that is all noise is the zero network
NEURON_TOL = 1e-6


class ConvexProgram(ABC):
    """Base class; subclasses declare ``formulation``, ``variable_names`` and the NumPy evaluators."""

    formulation = ""
    variable_names: tuple = ()

    def __init__(self, X, y, loss, beta, check_input=True):
        """``check_input=False`` trusts ``X`` and ``y`` as float64 arrays that :func:`make_program` has
        already validated and copied (the program keeps them as they are)."""
        self.loss = get_loss(loss)
        if check_input:
            X, y = check_X_y(X, y)
            y = self.loss.validate_labels(y)
        self.X, self.y = X, y
        self.beta = cp.Parameter(nonneg=True, name="beta", value=check_beta(beta))
        self.problem = None
        self.variables = {}

    # -- shape ------------------------------------------------------------------------------------
    @property
    def n(self):
        return self.X.shape[0]

    @property
    def d(self):
        return self.X.shape[1]

    @property
    @abstractmethod
    def n_patterns(self):
        """Number of activation patterns (blocks) or random features of the program."""

    # -- parameters -------------------------------------------------------------------------------
    def set_beta(self, beta):
        """Change beta in place; the compiled problem is reused at the next solve (DPP)."""
        self.beta.value = check_beta(beta)

    @property
    def beta_value(self):
        return float(self.beta.value)

    # -- the point a CVXPY solve left in the variables ----------------------------------------------
    def current_weights(self):
        """Variable values after a CVXPY solve, as a dict of NumPy arrays (None if unsolved)."""
        if any(v.value is None for v in self.variables.values()):
            return None
        return {name: np.array(var.value, dtype=float) for name, var in self.variables.items()}

    def zero_weights(self):
        return {name: np.zeros(var.shape) for name, var in self.variables.items()}

    def check_weights(self, weights):
        """Validate a solution dict (keys :attr:`variable_names`, right shapes, finite); return copies."""
        if not isinstance(weights, dict):
            raise ValueError(f"weights must be a dict with keys {self.variable_names}")
        out = {}
        for name in self.variable_names:
            if name not in weights:
                raise ValueError(f"weights is missing {name!r} (expected keys {self.variable_names})")
            arr = np.array(weights[name], dtype=float, copy=True)
            shape = self.variables[name].shape
            if arr.shape != shape:
                raise ValueError(f"weights[{name!r}] has shape {arr.shape}, expected {shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"weights[{name!r}] contains NaN or infinite values")
            out[name] = arr
        return out

    # -- NumPy evaluators (subclasses) -------------------------------------------------------------
    @abstractmethod
    def predictions(self, weights):
        """Training predictions of the convex model at ``weights``."""

    @abstractmethod
    def regularizer(self, weights):
        """The penalty multiplied by beta (group norms or l1 norm)."""

    def loss_value(self, weights):
        return self.loss.value(self.predictions(weights), self.y)

    def objective(self, weights):
        """Convex objective at ``weights``: sum-form loss + beta * penalty."""
        return self.loss_value(weights) + self.beta_value * self.regularizer(weights)

    def max_violation(self, weights):
        """Largest violation of the program's constraints at ``weights`` (0 if it has none)."""
        return 0.0

    @abstractmethod
    def network(self, weights, rel_tol=NEURON_TOL):
        """The non-convex network that realises the convex model at ``weights``, without the neurons whose
        size (:meth:`neuron_sizes`) is at most ``rel_tol``."""

    @abstractmethod
    def block_contributions(self, weights):
        """``{name: (n x P) array}``: each block's (neuron's) contribution to the training predictions."""

    def output_scale(self):
        """The scale neuron sizes are measured against: max |y| (1 when y is zero)."""
        top = float(np.abs(self.y).max(initial=0.0))
        return top if top > 0 else 1.0

    def neuron_sizes(self, weights):
        """``{name: (P,) array}``: the size of every block's neuron - its largest contribution to a training
        prediction, relative to :meth:`output_scale`. The one measure of a neuron's size: network width,
        pruning and the collapsed flag all read it."""
        scale = self.output_scale()
        return {name: np.abs(contribution).max(axis=0, initial=0.0) / scale
                for name, contribution in self.block_contributions(weights).items()}

    def noise_neurons(self, weights, rel_tol=NEURON_TOL):
        """``{name: (P,) bool}``: the noise neurons - the smallest ones, as many as fit with their sizes adding
        up to at most ``rel_tol``. Dropping them all moves no training prediction by more than ``rel_tol``
        times max |y|."""
        sizes = self.neuron_sizes(weights)
        if rel_tol <= 0:  # keep every block, dead ones included (the exact square-root split)
            return {name: np.zeros(size.shape, dtype=bool) for name, size in sizes.items()}
        names = list(sizes)
        flat = np.concatenate([sizes[name] for name in names])
        order = np.argsort(flat, kind="stable")
        noise = np.zeros(flat.size, dtype=bool)
        noise[order[np.cumsum(flat[order]) <= rel_tol]] = True
        bounds = np.cumsum([0] + [sizes[name].size for name in names])
        return {name: noise[bounds[k]:bounds[k + 1]] for k, name in enumerate(names)}

    def significant_weights(self, weights, rel_tol=NEURON_TOL):
        """``weights`` with the noise neurons' blocks (:meth:`noise_neurons`) set to zero."""
        noise = self.noise_neurons(weights, rel_tol)
        return {name: np.where(noise[name], 0.0, block) if block.ndim == 1 else block * ~noise[name][None, :]
                for name, block in weights.items()}

    def collapsed(self, weights):
        """True when the model at ``weights`` is numerically the zero network: all its neurons are noise
        (their sizes add up to at most :data:`NEURON_TOL`)."""
        return all(np.all(noise) for noise in self.noise_neurons(weights).values())

    def network_objective(self, weights):
        """Non-convex training objective of the recovered network (docs/math.md section 1)."""
        return self.network(weights).objective(self.X, self.y, self.loss, self.beta_value)

    def describe(self):
        return {"formulation": self.formulation, "loss": self.loss.name, "beta": self.beta_value,
                "n": self.n, "d": self.d, "n_patterns": self.n_patterns}

    def __repr__(self):
        return (f"{type(self).__name__}(n={self.n}, d={self.d}, n_patterns={self.n_patterns}, "
                f"loss={self.loss.name!r}, beta={self.beta_value:g})")


def group_norms(V):
    """Column norms |v_i|_2 of a d x P block."""
    return np.linalg.norm(V, axis=0)
