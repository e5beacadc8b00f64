"""Benchmark: ADMM (loss split z = M a) against Clarabel and SCS on the constrained ReLU program, per loss.

For each data set (breast cancer 569 x 30, the binary digits task 1797 x 64; standardised, labels +/-1,
75/25 train/test split), each number of sampled directions P and each loss (logistic, hinge, and
squared through the squared-loss ADMM) it measures, in one run:

* Clarabel (the reference optimum) and SCS (eps 1e-5) solve times as CVXPY reports them (compile time
  listed separately); solves above ``--oracle-budget`` seconds are stopped and reported, and larger P
  of that case are skipped (said in the table);
* ADMM run to completion twice, with the certified-gap tolerance ``tol_gap`` set to 1e-3 and to 1e-4:
  the wall time of each run (setup, iterations, final projection onto the cones) is "time to 1e-3 /
  1e-4", and the table shows the true relative gap of the returned, feasible point to Clarabel's optimum
  - so the times are end to end, not read off an infeasible iterate;
* train and test accuracy of the ADMM model (sign of the prediction of the recovered network).

    python examples/benchmark_admm_losses.py --quick          # < 2 minutes: breast cancer, P = 50
    python examples/benchmark_admm_losses.py --datasets digits --patterns 200 --losses logistic

Writes ``benchmark_admm_losses.md`` and ``.json`` to ``--out``, rewritten after every row.

Memory: the oracle, not ADMM, is the limit on the large instances (measured in docs/benchmarks.md).
Each oracle solve therefore runs in its own process with its address space capped
(``--oracle-memory-gb``, default 16) and is reported as ``out_of_memory`` past the cap.
``--oracle-from`` reuses stored oracle runs.
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_fista import _oracle_cell, accuracy, fmt  # noqa: E402  (same table cells as the FISTA benchmark)

from formulations import make_program  # noqa: E402
from formulations.datasets import breast_cancer, digits_binary  # noqa: E402
from solvers import ConvergenceWarning, admm, solve_oracle  # noqa: E402

DATASETS = {"breast_cancer": breast_cancer, "digits": digits_binary}
LOSSES = ("logistic", "hinge", "squared")
TOLS = (1e-3, 1e-4)


def _oracle_child(conn, program, solver, opts, memory_bytes):
    """Child process: cap the address space, solve, send the summary back."""
    import faulthandler
    import resource
    faulthandler.disable()  # an allocation failure in native code aborts; no stack dump for that
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = solve_oracle(program, solver, fallback=None, **opts)
        conn.send({"status": res.status, "solve_time_s": res.solve_time_s, "compile_time_s": res.compile_time_s,
                   "objective": res.objective if res.weights is not None else None})
    except MemoryError:
        conn.send({"status": "out_of_memory", "solve_time_s": None, "compile_time_s": None, "objective": None})
    conn.close()


def run_oracle(program, solver, budget, memory_gb=None):
    """One CVXPY solve with a time budget, in a child process whose address space is capped at
    ``memory_gb`` GiB (None: no cap): an oracle that would need more memory than the machine has ends as
    ``out_of_memory`` instead of taking the machine and the benchmark down. The child is killed after
    ``3 budget + 60`` s of wall time (status ``wall_limit``): the solver's time limit does not cover
    CVXPY's compilation, which can alone exceed it on large instances. Returns (summary dict, wall
    seconds)."""
    import multiprocessing as mp
    opts = {"time_limit": budget} if solver == "clarabel" else {"time_limit_secs": budget, "eps_abs": 1e-5,
                                                                 "eps_rel": 1e-5}
    start = time.perf_counter()
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_oracle_child, args=(child, program, solver, opts,
                                                   None if memory_gb is None else int(memory_gb * 2 ** 30)))
    proc.start()
    child.close()
    wall_limit = 3.0 * budget + 60.0  # the solver's own limit does not cover CVXPY's compilation
    if not parent.poll(wall_limit):
        proc.kill()
        proc.join()
        return ({"status": "wall_limit", "solve_time_s": None, "compile_time_s": None, "objective": None,
                 "note": f"killed after {wall_limit:g}s wall (compilation included)"}, time.perf_counter() - start)
    try:
        out = parent.recv()
    except EOFError:  # the child died (an allocation failure in native code aborts the process)
        out = {"status": "out_of_memory" if memory_gb is not None else "crashed", "solve_time_s": None,
               "compile_time_s": None, "objective": None}
    proc.join()
    if out["status"] == "out_of_memory":
        out["note"] = f"memory cap {memory_gb:g} GiB (exit code {proc.exitcode})"
    return out, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description="ADMM vs Clarabel / SCS on the constrained program, per loss")
    parser.add_argument("--quick", action="store_true", help="breast cancer, P = 50, logistic and hinge")
    parser.add_argument("--datasets", default=None, help="comma list of breast_cancer,digits")
    parser.add_argument("--patterns", default=None, help="comma list of P (default 50,100,200,400)")
    parser.add_argument("--losses", default=None, help=f"comma list of {','.join(LOSSES)}")
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--admm-budget", type=float, default=None, help="ADMM time limit per run (s)")
    parser.add_argument("--oracle-budget", type=float, default=None, help="time limit per CVXPY solve (s)")
    parser.add_argument("--oracle-memory-gb", type=float, default=16.0,
                        help="address-space cap of each CVXPY solve (its own process); 0: no cap")
    parser.add_argument("--no-scs", action="store_true")
    parser.add_argument("--oracle-from", default=None,
                        help="JSON of an earlier run: reuse its Clarabel / SCS entries for the same "
                             "(data, loss, P, beta, seed) instead of solving again (marked in the table)")
    parser.add_argument("--out", default="benchmark_results")
    args = parser.parse_args(argv)
    if args.oracle_memory_gb < 0:
        parser.error("--oracle-memory-gb must be >= 0")
    args.oracle_memory_gb = args.oracle_memory_gb or None
    try:  # a shared 2-core machine: one BLAS thread for every solver
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass
    if args.quick:
        datasets, patterns, losses = ["breast_cancer"], [50], ["logistic", "hinge"]
        admm_budget, oracle_budget = args.admm_budget or 30.0, args.oracle_budget or 30.0
    else:
        datasets, patterns, losses = ["breast_cancer", "digits"], [50, 100, 200, 400], list(LOSSES)
        admm_budget, oracle_budget = args.admm_budget or 600.0, args.oracle_budget or 900.0
    datasets = args.datasets.split(",") if args.datasets else datasets
    patterns = [int(p) for p in args.patterns.split(",")] if args.patterns else patterns
    losses = args.losses.split(",") if args.losses else losses
    for name in datasets:
        if name not in DATASETS:
            parser.error(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    for loss in losses:
        if loss not in LOSSES:
            parser.error(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    os.makedirs(args.out, exist_ok=True)

    stored = {}
    if args.oracle_from:
        with open(args.oracle_from) as fh:
            for r in json.load(fh):
                stored[(r["dataset"], r["loss"], r["P"], r["beta"], r.get("seed", args.seed))] = r
    rows, over_budget = [], set()
    t_total = time.perf_counter()
    for ds_name in datasets:
        ds = DATASETS[ds_name]()
        X_tr, X_te, y_tr, y_te = ds.train_test_split(0.25, seed=args.seed)
        for P in patterns:
            for loss in losses:
                prog = make_program("sampled", X_tr, y_tr, loss, args.beta, n_patterns=P, seed=args.seed)
                row = {"dataset": ds_name, "n_train": prog.n, "d": prog.d, "loss": loss, "P": P,
                       "patterns_used": prog.n_patterns, "beta": args.beta, "seed": args.seed}
                ref = None
                old = stored.get((ds_name, loss, P, args.beta, args.seed))
                for solver in ("clarabel", "scs") if old is None else ():
                    key = (ds_name, loss, solver)
                    if solver == "scs" and args.no_scs:
                        row[solver] = {"skipped": "--no-scs"}
                        continue
                    if key in over_budget:
                        row[solver] = {"skipped": f"failed or exceeded the {oracle_budget:g}s budget at a smaller P"}
                        continue
                    res, wall = run_oracle(prog, solver, oracle_budget, args.oracle_memory_gb)
                    entry = {"status": res["status"], "solve_s": res["solve_time_s"],
                             "compile_s": res["compile_time_s"], "wall_s": wall, "objective": res["objective"]}
                    if res["status"] not in ("optimal", "optimal_inaccurate") or res["solve_time_s"] >= oracle_budget:
                        over_budget.add(key)
                        entry["note"] = res.get("note", f"budget {oracle_budget:g}s / status {res['status']}")
                    if solver == "clarabel" and res["status"] == "optimal":
                        ref = res["objective"]
                    row[solver] = entry
                if old is not None:  # oracle entries of an earlier run on the same instance
                    for solver in ("clarabel", "scs"):
                        row[solver] = dict(old[solver], note=(old[solver].get("note", "") + " stored run").strip())
                    if old["clarabel"].get("status") == "optimal":
                        ref = old["clarabel"]["objective"]
                runs = {}
                for tol in TOLS:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        start = time.perf_counter()
                        res = admm(prog, tol_gap=tol, time_limit=admm_budget)
                        wall = time.perf_counter() - start
                    runs[tol] = (res, wall)
                final = runs[TOLS[-1]][0]
                if ref is None:
                    ref = final.objective
                    row["reference"] = "admm (certified gap %.1e)" % (final.info.get("duality_gap_rel") or np.nan)
                else:
                    row["reference"] = "clarabel"
                row["reference_objective"] = ref
                if row.get("scs", {}).get("objective") is not None:
                    row["scs"]["rel_gap"] = (row["scs"]["objective"] - ref) / max(1.0, abs(ref))
                net = final.network
                row["admm"] = {
                    f"{tol:g}": {"status": r.status, "time_s": w, "iterations": r.iterations,
                                 "rel_gap": (r.objective - ref) / max(1.0, abs(ref)),
                                 "violation": r.max_violation}
                    for tol, (r, w) in runs.items()}
                row["admm"]["train_accuracy"] = accuracy(final.predictions(), prog.y)
                row["admm"]["test_accuracy"] = accuracy(net.predict(X_te), y_te)
                row["admm"]["width"] = int(net.width)
                rows.append(row)
                write_outputs(rows, args, admm_budget, oracle_budget, time.perf_counter() - t_total)
                a3, a4 = row["admm"]["0.001"], row["admm"]["0.0001"]
                print(f"{ds_name:<13} {loss:<8} P={P:<4} admm 1e-3 {a3['time_s']:7.2f}s (gap {a3['rel_gap']:.1e}) "
                      f"1e-4 {a4['time_s']:7.2f}s (gap {a4['rel_gap']:.1e}, {a4['status']})  clarabel "
                      f"{fmt(row['clarabel'].get('solve_s'))}  scs {fmt(row['scs'].get('solve_s'))}  acc "
                      f"{row['admm']['train_accuracy']:.3f}/{row['admm']['test_accuracy']:.3f}",
                      file=sys.stderr, flush=True)
    print(write_outputs(rows, args, admm_budget, oracle_budget, time.perf_counter() - t_total))
    return 0


def write_outputs(rows, args, admm_budget, oracle_budget, total):
    """Write the markdown table and the JSON of the rows so far (after every row: a run killed by its
    host - e.g. the out-of-memory killer during an oracle solve - keeps the rows it finished).
    Returns the markdown."""
    md = markdown(rows, args, admm_budget, oracle_budget, total)
    with open(os.path.join(args.out, "benchmark_admm_losses.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(args.out, "benchmark_admm_losses.json"), "w") as fh:
        json.dump(rows, fh, indent=1, default=lambda v: None if v is None else float(v))
    return md


def markdown(rows, args, admm_budget, oracle_budget, total):
    lines = [
        "# ADMM on the constrained program, per loss",
        "",
        f"beta = {args.beta:g} (sum-form losses), seed {args.seed}, 75/25 split, one BLAS thread, ADMM time "
        f"limit {admm_budget:g}s per run, CVXPY budget {oracle_budget:g}s. Total wall time {total:.0f}s.",
        "",
        "ADMM `t(1e-3)`, `t(1e-4)`: wall time of a complete ADMM run with `tol_gap` = 1e-3 / 1e-4 (setup, "
        "iterations, projection onto the cones); `gap`: true relative gap of its returned feasible point "
        "to the reference (Clarabel). Clarabel / SCS: solver time reported by CVXPY (SCS at eps 1e-5). "
        "`x`: Clarabel time / ADMM time, `x SCS`: SCS time / ADMM time (only where that solver ended optimal). `ref`: the reference optimum - Clarabel's when it solved the problem, "
        "otherwise the ADMM run at 1e-4 (certified within its duality gap, so its own gap reads 0).",
        "",
        "| data | loss | P (used) | ADMM t(1e-3) | gap | ADMM t(1e-4) | gap | status | Clarabel s | x (1e-3) "
        "| x (1e-4) | SCS s | x SCS (1e-4) | ref | train acc | test acc | width |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a3, a4 = r["admm"]["0.001"], r["admm"]["0.0001"]
        # speed-ups only against a solver that solved the problem
        cl = r["clarabel"].get("solve_s") if r["clarabel"].get("status") == "optimal" else None
        sc = r["scs"].get("solve_s") if r["scs"].get("status") == "optimal" else None
        lines.append(
            f"| {r['dataset']} | {r['loss']} | {r['P']} ({r['patterns_used']}) | {a3['time_s']:.3g} "
            f"| {a3['rel_gap']:.1e} | {a4['time_s']:.3g} | {a4['rel_gap']:.1e} | {a4['status']} "
            f"| {_oracle_cell(r['clarabel'])} | {fmt(None if cl is None else cl / a3['time_s'], '.1f')} "
            f"| {fmt(None if cl is None else cl / a4['time_s'], '.1f')} | {_oracle_cell(r['scs'])} "
            f"| {fmt(None if sc is None else sc / a4['time_s'], '.1f')} | {r['reference']} "
            f"| {r['admm']['train_accuracy']:.3f} | {r['admm']['test_accuracy']:.3f} | {r['admm']['width']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
