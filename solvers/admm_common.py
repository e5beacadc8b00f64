"""Pieces shared by the three ADMM variants (:mod:`solvers.admm`, :mod:`solvers.admm_split`,
:mod:`solvers.admm_robust`): proximal maps, norms, option parsing and residual balancing."""
from __future__ import annotations

import numpy as np


def group_soft(A, thr):
    """Group soft-threshold of every column of ``A``: ``a_j * max(0, 1 - thr / |a_j|_2)`` (the prox of
    ``thr * sum_j |a_j|_2``)."""
    norms = np.sqrt(np.einsum("ij,ij->j", A, A))
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(norms > thr, 1.0 - thr / norms, 0.0)
    return A * shrink


def soft_threshold(x, thr):
    """Entrywise soft-threshold ``sign(x) max(|x| - thr, 0)`` (the prox of ``thr |.|_1``)."""
    return np.sign(x) * np.maximum(np.abs(x) - thr, 0.0)


def inf_norm(x):
    """``max_i |x_i|`` (0 for an empty array), from the largest and smallest entries: two reads, no
    temporary (a check of the n x 2P residuals costs a pass less)."""
    x = np.asarray(x)
    if x.size == 0:
        return 0.0
    return float(max(x.max(), -x.min()))


def check_flags(solver, **flags):
    """Every flag must be a bool (ValueError naming the option otherwise)."""
    for name, flag in flags.items():
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{solver} option {name} must be True or False, got {flag!r}")


def verbose_after(solver, verbose):
    """``verbose``: True / False, or a number of seconds after which the iteration table starts.
    Returns the number of seconds, or None for no table."""
    if isinstance(verbose, (bool, np.bool_)):
        return 0.0 if verbose else None
    if isinstance(verbose, (int, float, np.integer, np.floating)) and np.isfinite(verbose) and verbose >= 0:
        return float(verbose)
    raise ValueError(f"{solver} option verbose must be True, False or a number of seconds >= 0, got {verbose!r}")


def check_rho_tolerance(solver, value):
    if not value > 1.0:
        raise ValueError(f"{solver} option adaptive_rho_tolerance must be > 1, got {value}")
    return value


def balanced_rho(rho, r_prim, prim_scale, r_dual, dual_scale, tolerance, lower=1e-6, upper=1e6):
    """OSQP residual balancing: the new penalty ``rho * sqrt((r_p / p_scale) / (r_d / d_scale))`` when the
    normalised residuals are more than ``tolerance**2`` apart (clipped to [lower, upper]), else None.
    Scaled duals must be multiplied by ``rho / new_rho`` by the caller."""
    num = r_prim / max(prim_scale, 1e-300)
    den = r_dual / max(dual_scale, 1e-300)
    if not (num > 0 and den > 0):
        return None
    factor = np.sqrt(num / den)
    if 1.0 / tolerance <= factor <= tolerance:
        return None
    new_rho = float(np.clip(rho * factor, lower, upper))
    return None if new_rho == rho else new_rho


def pick_returned_point(program, evaluated, feas_tol):
    """The point an ADMM returns, from ``evaluated = {label: (weights, objective, violation)}``: the
    feasible candidate (violation <= ``feas_tol``) with the lowest objective, else the least violating.
    With no candidate the zero model (always feasible) comes back with ``label = "zero"``.
    Returns ``(label, weights, objective, violation)``."""
    feasible = {k: v for k, v in evaluated.items() if v[2] <= feas_tol}
    if feasible:
        label = min(feasible, key=lambda k: feasible[k][1])
    elif evaluated:
        label = min(evaluated, key=lambda k: evaluated[k][2])
    else:
        weights = program.zero_weights()
        return "zero", weights, program.objective(weights), 0.0
    weights, objective, violation = evaluated[label]
    return label, weights, objective, violation


def record(history, **values):
    """Append one check's values to the history lists (``history[name].append(value)``)."""
    for name, value in values.items():
        history[name].append(value)


class CertifySchedule:
    """When an ADMM should try a certified stop (project the iterate onto the cones, compare with the dual
    bound): once the gap estimate is below ``tol_gap``, with a geometric back-off in iterations capped at
    15% of the iterations so far (late attempts would otherwise lag the first certifiable iterate by up to
    the whole run so far)."""

    def __init__(self, check_every):
        self.check_every = check_every
        self.next_it, self.wait = 0, 5 * check_every

    def due(self, it, gap_estimate, tol_gap):
        if gap_estimate > tol_gap or it < self.next_it:
            return False
        self.next_it = it + min(self.wait, max(5 * self.check_every, int(0.15 * it)))
        self.wait *= 2
        return True


class PolishSchedule:
    """When an ADMM should try polishing: once the support of ``b`` and the active cone rows
    (``c = 0`` with a negative multiplier) have been unchanged for ``patience`` checks, were not polished
    before, and the back-off has elapsed. Each attempt doubles the wait (in iterations), so polishing costs
    O(log iterations) attempts."""

    def __init__(self, patience, first_wait):
        self.patience, self.wait = patience, first_wait
        self.stable, self.last, self.polished, self.next_it = 0, None, None, 0

    def due(self, it, B, C, Kp, pieces=None):
        """``(support, active)`` if polishing is due at iteration ``it``, else None. ``pieces`` (boolean
        arrays, e.g. the hinge's margin pieces) must be unchanged as well."""
        support = np.flatnonzero(np.any(B != 0, axis=0))
        active = (C == 0) & (Kp < 0)
        signature = (support.tobytes(), np.packbits(active[:, support]).tobytes(),
                     b"" if pieces is None else np.packbits(np.concatenate(pieces)).tobytes())
        self.stable = self.stable + 1 if signature == self.last else 0
        self.last = signature
        if self.stable < self.patience or signature == self.polished or it < self.next_it:
            return None
        self.polished = signature
        self.next_it = it + self.wait
        self.wait *= 2
        return support, active


class Scaled:
    """The scaled problem: ``Xs = X / sx``, ``ys = y / sy``, ``beta_s = beta / (sx sy)``.

    A point ``a_s`` of the scaled problem is ``a = (sy / sx) a_s`` of the original one, with
    ``objective = sy**2 * objective_s`` and the same cone constraints up to the factor sy."""

    def __init__(self, program, scaling):
        X, y = program.X, program.y
        n, d = X.shape
        if scaling:
            # average eigenvalue of Xs^T Xs equal to 1: the cone split and the a = b split weigh alike.
            # Measured alternative: unit root-mean-square entry (sx = |X|_F / sqrt(n d)) needs 1.6-14x
            # fewer iterations at moderate beta but failed to certify beta = 1e-4 and was 15x further
            # from the optimum after 2000 iterations at beta = 1e-3 (n = 300, d = 30, P = 100)
            sx = np.linalg.norm(X) / np.sqrt(d)
            sy = np.linalg.norm(y) / np.sqrt(n)
            sx = sx if sx > 0 else 1.0
            sy = sy if sy > 0 else 1.0
        else:
            sx = sy = 1.0
        self.sx, self.sy = float(sx), float(sy)
        self.X = X / sx
        self.y = y / sy
        self.beta = program.beta_value / (sx * sy)

    def to_weights(self, A, P):
        f = self.sy / self.sx
        return {"V": f * A[:, :P], "W": f * A[:, P:]}

    def from_weights(self, weights):
        f = self.sx / self.sy
        return f * np.hstack([np.asarray(weights["V"], float), np.asarray(weights["W"], float)])


def check_constrained_squared(solver, program, squared_name=None):
    """ValueError unless ``program`` is the constrained ReLU program (exact or sampled) with the squared
    loss; ``squared_name`` is how the message names the squared-loss solver (default: the solver)."""
    from formulations.relu import ReLUProgram

    if not isinstance(program, ReLUProgram) or program.formulation not in ("exact", "sampled"):
        raise ValueError(f"the {solver} solver supports the constrained ReLU program (formulation 'exact' or "
                         f"'sampled'); got {type(program).__name__}"
                         f"{' (' + program.formulation + ')' if hasattr(program, 'formulation') else ''}")
    if program.loss.name != "squared":
        raise ValueError(f"{squared_name or 'the ' + solver + ' solver'} solves the squared loss; got "
                         f"{program.loss.name} (use admm)")
