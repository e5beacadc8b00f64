"""Benchmark the robust-hinge ADMM (solvers/admm/robust.py) against the Clarabel oracle.

    python examples/benchmark_robust.py [--quick] [--no-oracle] [--n N] [--d D] [--patterns P]
                                        [--eps EPS] [--beta BETA] [--time-limit SECONDS]

Instance: the first n rows and d features of the breast cancer data (standardised, labels +-1), P sampled
patterns (seed 0), the robust program with the hinge loss. Default n=500, d=30, P=60, eps=0.005, beta=1
(at eps=0.05 every robust cone of that instance is {0}: the optimum is the zero network, objective n).
``--quick``: n=80, d=5, P=20 (finishes in well under a minute). ``--no-oracle`` skips Clarabel (the
slowest part at the default size; measured times in docs/benchmarks.md); the relative gaps are then
measured against the best feasible objective found by the ADMM run (an upper bound, marked as such).

Prints a markdown table: solver, status, time, objective, relative gap, cone violation, certified share
(training points with y_k yhat_k > eps |a_k|_1), and the ADMM time to relative gap 1e-3 / 1e-4 read from its
history (objective of the iterate a, counted only once the primal residual is below 1e-4 - an
infeasible iterate can sit below the optimum).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from formulations import make_program  # noqa: E402
from formulations.datasets import breast_cancer  # noqa: E402
from solvers import ConvergenceWarning, admm, solve_oracle  # noqa: E402


def rel_gap(obj, ref):
    return (obj - ref) / max(1.0, abs(ref))


def time_to_gap(history, reference, gap, residual=1e-4):
    """First history time at which the iterate's objective is within ``gap`` of ``reference`` and the
    primal residual is below ``residual``; None if never."""
    obj = np.asarray(history["objective"])
    ok = (np.abs(rel_gap(obj, reference)) <= gap) & (np.asarray(history["primal_residual"]) <= residual)
    idx = np.flatnonzero(ok)
    return None if idx.size == 0 else float(history["time"][idx[0]])


def build(n, d, P, eps, beta):
    ds = breast_cancer()
    X, y = ds.X[:n, :d], ds.y[:n]
    return make_program("robust", X, y, "hinge", beta, n_patterns=P, seed=0, epsilon=eps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small instance (n=80, d=5, P=20)")
    parser.add_argument("--no-oracle", action="store_true", help="skip Clarabel")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--d", type=int, default=30)
    parser.add_argument("--patterns", type=int, default=60)
    parser.add_argument("--eps", type=float, default=0.005)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--time-limit", type=float, default=600.0, help="ADMM wall-clock limit (s)")
    parser.add_argument("--max-iter", type=int, default=50000)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.d, args.patterns = 80, 5, 20
        args.time_limit = min(args.time_limit, 30.0)
        args.max_iter = min(args.max_iter, 20000)

    t0 = time.perf_counter()
    program = build(args.n, args.d, args.patterns, args.eps, args.beta)
    print(f"instance: breast cancer n={program.n}, d={program.d}, P={program.n_patterns}, eps={args.eps:g}, "
          f"beta={args.beta:g} (built in {time.perf_counter() - t0:.2f}s)")

    rows = []
    oracle = None
    if not args.no_oracle:
        oracle = solve_oracle(program, "clarabel")
        rows.append(("clarabel", oracle))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = admm(program, time_limit=args.time_limit, max_iter=args.max_iter)  # admm_robust
    rows.append(("admm_robust", res))

    if oracle is not None and oracle.weights is not None:
        reference, ref_label = oracle.objective, "Clarabel objective"
    else:
        reference, ref_label = res.objective, "ADMM's returned (feasible) objective - an upper bound"

    print(f"\nreference: {ref_label} = {reference:.10g}\n")
    print("| solver | status | time (s) | objective | rel gap | cone violation | certified share |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        ok = r.weights is not None
        cert = float(program.certificates(r.weights).mean()) if ok else float("nan")
        print(f"| {name} | {r.status} | {r.solve_time_s:.3f} | {r.objective:.10g} | "
              f"{rel_gap(r.objective, reference):+.2e} | {r.max_violation:.1e} | {cert:.3f} |")
    t3, t4 = (time_to_gap(res.history, reference, g) for g in (1e-3, 1e-4))

    def fmt(t):
        return "not reached" if t is None else f"{t:.3f} s"
    print(f"\nADMM: {res.iterations} iterations, rho {res.info['rho_initial']:.3g} -> {res.info['rho']:.3g}, "
          f"cone LPs {res.info['cone_lp_time_s']:.3f} s, {res.info['pinned_blocks']} of "
          f"{2 * program.n_patterns} blocks pinned to zero (robust cone = {{0}}), returned point "
          f"{res.info['returned_point']!r}")
    print(f"ADMM time to rel gap 1e-3: {fmt(t3)}; to 1e-4: {fmt(t4)} (from its history of iterates, before "
          f"any polish)")
    print(f"ADMM polish: {res.info['polish_attempts']} attempts, {res.info['polish_time_s']:.3f} s, best certified "
          f"gap {res.info.get('polish_certified_gap', float('nan')):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
