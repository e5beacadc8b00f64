"""Schedules shared by the ADMM variants: the OSQP residuals and their stopping test, residual balancing of
the penalty, when to try a certified stop and when to polish, and the final point (the candidates a run
may return and which one it returns)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..core.operators import project_cones
from ..core.prox import block_norms


@dataclass
class Residuals:
    """The OSQP residuals of one check (infinity norms, scaled problem): the primal residual (the largest of
    the splits' residuals ``parts``, by name), the dual residual, and the sizes of the vectors they are made
    of, which the relative tolerance multiplies."""

    primal: float
    dual: float
    primal_scale: float
    dual_scale: float
    parts: dict = field(default_factory=dict)

    def finite(self):
        return bool(np.isfinite(self.primal) and np.isfinite(self.dual))

    def converged(self, tol_abs, tol_rel):
        """OSQP's test: each residual at most ``tol_abs + tol_rel * its scale``."""
        return (self.primal <= tol_abs + tol_rel * self.primal_scale
                and self.dual <= tol_abs + tol_rel * self.dual_scale)


def initial_rho(beta, slope_at_zero, factor=1.0, lower=0.0, upper=np.inf):
    """The initial penalty ``factor * sqrt(beta * max(beta_max, beta))`` clipped to ``[lower, upper]``, with
    ``beta_max = max_j |g_j|_2`` over the blocks of ``slope_at_zero`` (the loss gradient at the zero model,
    ``M^T grad l(0)``): the weight decay above which the zero model solves the relaxed problem. The
    geometric mean of beta and beta_max sets rho to the size of the prox threshold the problem needs."""
    beta_max = float(np.max(block_norms(slope_at_zero), initial=0.0))
    return float(np.clip(factor * np.sqrt(beta * max(beta_max, beta)), lower, upper))


def balanced_rho(rho, residuals, tolerance, lower=1e-6, upper=1e6):
    """OSQP residual balancing: the new penalty ``rho * sqrt((r_p / p_scale) / (r_d / d_scale))`` when the
    normalised residuals are more than ``tolerance**2`` apart (clipped to [lower, upper]), else None.
    Scaled duals must be multiplied by ``rho / new_rho`` by the caller."""
    num = residuals.primal / max(residuals.primal_scale, 1e-300)
    den = residuals.dual / max(residuals.dual_scale, 1e-300)
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


def projection_deadline(elapsed, time_limit):
    """When the final projections of a run that has lasted ``elapsed`` seconds must stop: they share a
    budget of a quarter of the run (at least 1 s), which overruns a time limit by at most 10% of it
    (at least 0.05 s)."""
    budget = max(1.0, 0.25 * elapsed)
    if time_limit is not None:
        budget = min(budget, max(0.05, 0.1 * time_limit))
    return time.perf_counter() + budget


def final_candidates(F, iterates, deadline, evaluate, project=True):
    """``{label: (weights, objective, violation)}`` for every ``(label, iterate)`` of ``iterates`` and, with
    ``project``, its projection onto the pattern cones (``label + "_projected"``; skipped once ``deadline``
    passes); ``evaluate`` maps a scaled point to that triple. Points with a non-finite objective are left
    out."""
    evaluated = {}
    for label, iterate in iterates:
        projected = project_cones(F, iterate, deadline) if project else None
        for name, point in ((label, iterate), (label + "_projected", projected)):
            if point is not None:
                candidate = evaluate(point)
                if np.isfinite(candidate[1]):
                    evaluated[name] = candidate
    return evaluated


class CertifySchedule:
    """When an ADMM should try a certified stop (project the iterate onto the cones, compare with the dual
    bound): once the gap estimate is below ``tol_gap``, with a geometric back-off in iterations capped at
    15% of the iterations so far (late attempts would otherwise lag the first certifiable iterate by up to
    the whole run so far)."""

    def __init__(self, check_every):
        self.check_every = check_every
        self.next_it, self.wait = 0, 5 * check_every

    @staticmethod
    def deadline(now, t_start, time_limit=None):
        """The end of an attempt started at ``now``: 10% of the run so far (since ``t_start``), at least 1 s,
        and never past the time limit (None: none)."""
        budget = max(1.0, 0.1 * (now - t_start))
        if time_limit is not None:
            budget = min(budget, max(0.0, time_limit - (now - t_start)))
        return now + budget

    def due(self, it, gap_estimate, tol_gap):
        """True when a certified stop should be tried at iteration ``it`` (and the next attempt is scheduled)."""
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

    @staticmethod
    def deadline(now, t_start, time_limit=None):
        """The end of an attempt started at ``now``: a safety cap only (attempts are scheduled by iteration
        counts) of the run so far, at least 2 s, and never past the time limit (None: none)."""
        budget = max(2.0, now - t_start)
        if time_limit is not None:
            budget = min(budget, max(0.0, time_limit - (now - t_start)))
        return now + budget
