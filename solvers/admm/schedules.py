"""Schedules shared by the ADMM variants: residual balancing of the penalty, when to try a certified stop
and when to polish, and which candidate point a run returns."""
from __future__ import annotations

import numpy as np


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


class CertifySchedule:
    """When an ADMM should try a certified stop (project the iterate onto the cones, compare with the dual
    bound): once the gap estimate is below ``tol_gap``, with a geometric back-off in iterations capped at
    15% of the iterations so far (late attempts would otherwise lag the first certifiable iterate by up to
    the whole run so far)."""

    def __init__(self, check_every):
        self.check_every = check_every
        self.next_it, self.wait = 0, 5 * check_every

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


