"""Benchmark: FISTA against the CVXPY solvers (Clarabel, SCS) on the gated-ReLU and SCP programs.

For each data set (breast cancer 569 x 30 and the binary digits task 1797 x 64, both standardised with
labels +/-1, split 75/25 by ``Dataset.train_test_split``), each number of sampled directions P, each
loss (squared, logistic, hinge) and each program (gated, scp) it measures

* FISTA: status, iterations, total time, and the time (from its history) at which the objective first
  came within rel 1e-3 and 1e-4 of the reference optimum, and its certified duality gap;
* Clarabel (interior point, the reference) and SCS (eps 1e-5) solve times - solver time as CVXPY
  reports it, compile time listed separately. Solves whose problem is too large (``--oracle-max-nnz``,
  estimated nonzeros of the canonicalised data) or that hit ``--oracle-budget`` seconds (then larger P
  for the same case are skipped too) are reported as skipped, with the reason;
* the training and test accuracy of the FISTA model (sign of the prediction; also for the squared loss).

The reference optimum is Clarabel's objective when it solved the problem; otherwise FISTA's own final
objective (certified within its duality gap, printed), marked ``ref=fista`` in the table.

    python examples/benchmark_fista.py --quick            # < 60 s: breast cancer, P = 50
    python examples/benchmark_fista.py --out results/     # full grid, a few minutes per data set

Writes ``benchmark_fista.md`` (and ``benchmark_fista.json``) to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from formulations import make_program  # noqa: E402
from formulations.datasets import breast_cancer, digits_binary  # noqa: E402
from solvers import ConvergenceWarning, fista, solve_oracle  # noqa: E402

DATASETS = {"breast_cancer": breast_cancer, "digits": digits_binary}
LOSSES = ("squared", "logistic", "hinge")
FORMS = ("gated", "scp")
TOLS = (1e-3, 1e-4)


def time_to(history, reference, tol):
    """First history time at which (objective - reference) / max(1, |reference|) <= tol (None if never)."""
    gap = (history["objective"] - reference) / max(1.0, abs(reference))
    hit = np.flatnonzero(gap <= tol)
    return float(history["time"][hit[0]]) if hit.size else None


def test_predictions(program, weights, X_test):
    if program.formulation == "gated":
        H = program.H
        return np.sum((X_test @ H >= 0) * (X_test @ weights["U"]), axis=1)
    return np.maximum(0.0, X_test @ program.H) @ weights["theta"]


def accuracy(pred, y):
    return float(np.mean(np.where(pred >= 0, 1.0, -1.0) == y))


def canonical_nnz(program):
    """Rough size of the conic data CVXPY builds: n d P for gated (D o (X U)), n P for scp."""
    return program.n * program.d * program.n_patterns if program.formulation == "gated" else \
        program.n * program.n_patterns


def run_oracle(program, solver, budget, options):
    opts = dict(options)
    if solver == "clarabel":
        opts["time_limit"] = budget
    else:
        opts["time_limit_secs"] = budget
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve_oracle(program, solver, fallback=None, **opts)
    wall = time.perf_counter() - start
    return res, wall


def fmt(x, spec=".3g", none="-"):
    return none if x is None else format(x, spec)


def main(argv=None):
    parser = argparse.ArgumentParser(description="FISTA vs Clarabel / SCS on the gated and SCP programs")
    parser.add_argument("--quick", action="store_true", help="breast cancer, P = 50 only (< 60 s)")
    parser.add_argument("--datasets", default=None, help="comma list of breast_cancer,digits")
    parser.add_argument("--patterns", default=None, help="comma list of P (default 50,100,200,400)")
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fista-budget", type=float, default=None, help="FISTA time limit per run (s)")
    parser.add_argument("--oracle-budget", type=float, default=None,
                        help="time limit per Clarabel / SCS solve (s); larger P of a case that hit it are skipped")
    parser.add_argument("--oracle-max-nnz", type=float, default=1e7,
                        help="skip CVXPY solves whose canonical data would exceed this many nonzeros")
    parser.add_argument("--no-scs", action="store_true")
    parser.add_argument("--out", default="benchmark_results")
    args = parser.parse_args(argv)

    try:  # a shared 2-core machine: one BLAS thread for every solver
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass

    if args.quick:
        datasets = ["breast_cancer"]
        patterns = [50]
        fista_budget = args.fista_budget or 10.0
        oracle_budget = args.oracle_budget or 10.0
    else:
        datasets = ["breast_cancer", "digits"]
        patterns = [50, 100, 200, 400]
        fista_budget = args.fista_budget or 60.0
        oracle_budget = args.oracle_budget or 60.0
    if args.datasets:
        datasets = args.datasets.split(",")
    if args.patterns:
        patterns = [int(p) for p in args.patterns.split(",")]
    losses = args.losses.split(",")
    for name in datasets:
        if name not in DATASETS:
            parser.error(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    for loss in losses:
        if loss not in LOSSES:
            parser.error(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    os.makedirs(args.out, exist_ok=True)

    rows = []
    over_budget = set()  # (dataset, form, loss, solver) that hit the oracle budget
    t_total = time.perf_counter()
    for ds_name in datasets:
        ds = DATASETS[ds_name]()
        X_tr, X_te, y_tr, y_te = ds.train_test_split(0.25, seed=args.seed)
        for P in patterns:
            for form in FORMS:
                for loss in losses:
                    prog = make_program(form, X_tr, y_tr, loss, args.beta, n_patterns=P, seed=args.seed)
                    row = {"dataset": ds_name, "n_train": prog.n, "d": prog.d, "program": form, "loss": loss,
                           "P": P, "patterns_used": prog.n_patterns, "beta": args.beta}
                    # -- CVXPY solvers ------------------------------------------------------------------
                    oracle_obj = None
                    for solver, options in (("clarabel", {}), ("scs", {"eps_abs": 1e-5, "eps_rel": 1e-5})):
                        if solver == "scs" and args.no_scs:
                            row[solver] = {"skipped": "--no-scs"}
                            continue
                        key = (ds_name, form, loss, solver)
                        if canonical_nnz(prog) > args.oracle_max_nnz:
                            row[solver] = {"skipped": f"size (~{canonical_nnz(prog):.1e} nonzeros > "
                                                      f"{args.oracle_max_nnz:.0e})"}
                            continue
                        if key in over_budget:
                            row[solver] = {"skipped": f"smaller P exceeded the {oracle_budget:g}s budget"}
                            continue
                        res, wall = run_oracle(prog, solver, oracle_budget, options)
                        entry = {"status": res.status, "solve_s": res.solve_time_s,
                                 "compile_s": res.compile_time_s, "wall_s": wall,
                                 "objective": res.objective if res.weights is not None else None}
                        if res.status not in ("optimal", "optimal_inaccurate") or res.solve_time_s >= oracle_budget:
                            over_budget.add(key)
                            entry["note"] = f"budget {oracle_budget:g}s / status {res.status}"
                        if solver == "clarabel" and res.status == "optimal":
                            oracle_obj = res.objective
                        row[solver] = entry
                    # -- FISTA --------------------------------------------------------------------------
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        start = time.perf_counter()
                        res = fista(prog, time_limit=fista_budget)
                        wall = time.perf_counter() - start
                    ref = oracle_obj if oracle_obj is not None else res.objective
                    row["reference"] = "clarabel" if oracle_obj is not None else "fista"
                    row["reference_objective"] = ref
                    scs = row.get("scs", {})
                    if scs.get("objective") is not None:
                        scs["rel_gap"] = (scs["objective"] - ref) / max(1.0, abs(ref))
                    row["fista"] = {
                        "status": res.status, "iterations": res.iterations, "time_s": wall,
                        "objective": res.objective, "rel_gap": (res.objective - ref) / max(1.0, abs(ref)),
                        "certified_rel_gap": res.info["rel_duality_gap"],
                        **{f"time_to_{tol:g}": time_to(res.history, ref, tol) for tol in TOLS},
                        "train_accuracy": accuracy(res.predictions(), prog.y),
                        "test_accuracy": accuracy(test_predictions(prog, res.weights, X_te), y_te),
                    }
                    rows.append(row)
                    f = row["fista"]
                    print(f"{ds_name:<13} {form:<5} {loss:<8} P={P:<4} fista {f['status']:<10} "
                          f"{f['iterations']:>6} it {f['time_s']:7.2f}s  t1e-3 {fmt(f['time_to_0.001'])}  "
                          f"t1e-4 {fmt(f['time_to_0.0001'])}  clarabel {fmt(row['clarabel'].get('solve_s'))}  "
                          f"scs {fmt(row.get('scs', {}).get('solve_s'))}  acc {f['train_accuracy']:.3f}/"
                          f"{f['test_accuracy']:.3f}", file=sys.stderr, flush=True)

    md = markdown(rows, args, fista_budget, oracle_budget, time.perf_counter() - t_total)
    with open(os.path.join(args.out, "benchmark_fista.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(args.out, "benchmark_fista.json"), "w") as fh:
        json.dump(rows, fh, indent=1, default=lambda v: None if v is None else float(v))
    print(md)
    return 0


def _oracle_cell(entry):
    if "skipped" in entry:
        return "skipped: " + entry["skipped"]
    # no solver time when the solve never ran to the solver's end (out of memory, killed at the wall limit)
    cell = entry["status"] if entry.get("solve_s") is None else f"{entry['solve_s']:.3g}"
    if entry.get("rel_gap") is not None:
        cell += f" (gap {entry['rel_gap']:.0e})"
    if entry.get("note"):
        cell += f" [{entry['note']}]"
    return cell


def markdown(rows, args, fista_budget, oracle_budget, total):
    lines = [
        "# FISTA benchmark (gated ReLU and SCP programs)",
        "",
        f"beta = {args.beta:g} (sum-form losses), seed {args.seed}, 75/25 train/test split, one BLAS thread, "
        f"FISTA time limit {fista_budget:g}s, CVXPY solver budget {oracle_budget:g}s, "
        f"CVXPY size limit {args.oracle_max_nnz:.0e} nonzeros. Total wall time {total:.0f}s.",
        "",
        "Times in seconds. `t(1e-3)`, `t(1e-4)`: FISTA time until the objective is within that relative gap "
        "(objective - ref) / max(1, |ref|) of the reference; ref = Clarabel's optimum, or FISTA's own final "
        "objective (`ref=fista`, certified within `cert. gap`) when Clarabel was skipped or failed. "
        "Clarabel / SCS: solver time reported by CVXPY (compile time excluded); SCS at eps 1e-5 with its gap "
        "to the reference. Accuracy: sign of the FISTA model's prediction (for the squared loss too).",
        "",
        "| data | program | loss | P (used) | FISTA status | iters | FISTA s | t(1e-3) | t(1e-4) | cert. gap "
        "| Clarabel s | SCS s | ref | train acc | test acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        f = r["fista"]
        lines.append(
            f"| {r['dataset']} | {r['program']} | {r['loss']} | {r['P']} ({r['patterns_used']}) | {f['status']} "
            f"| {f['iterations']} | {f['time_s']:.3g} | {fmt(f['time_to_0.001'])} | {fmt(f['time_to_0.0001'])} "
            f"| {f['certified_rel_gap']:.1e} | {_oracle_cell(r['clarabel'])} "
            f"| {_oracle_cell(r.get('scs', {'skipped': 'n/a'}))} "
            f"| {r['reference']} | {f['train_accuracy']:.3f} | {f['test_accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
