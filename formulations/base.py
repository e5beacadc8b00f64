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
    def network(self, weights, rel_tol=1e-8):
        """The non-convex network that realises the convex model at ``weights``."""

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
