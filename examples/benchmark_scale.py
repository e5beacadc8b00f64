"""Time and memory against n for the constrained program's solver paths (squared and hinge loss).

Data: seeded synthetic tasks (``formulations.datasets.synthetic``: a planted ReLU teacher, regression for
the squared loss, classification for the hinge), P sampled patterns, beta = ``--beta-fraction`` of the
zero-model bound beta_max. Every path runs in a subprocess of its own, so its peak resident memory
(``ru_maxrss``) is its own:

* squared loss: ``ipm`` with the n x n capacitance route, ``ipm`` with the dP x dP Gram route,
  ``admm`` with the dense a-update (the n x n eigendecomposition) and with the matrix-free one
  (preconditioned CG), ``working_set`` (column generation over the patterns), ``clarabel`` (the CVXPY
  oracle);
* hinge loss: both ``admm`` routes, ``working_set``, ``clarabel``.

A path is skipped, with the reason in the table, when its memory estimate (``solvers/core/memory.py``)
exceeds ``--max-memory``, when its n exceeds the path's ``--max-n-*`` limit, or it is stopped after
``--max-seconds`` (the ADMM gets half of that as its time limit, which leaves time for its final polish,
and reports where it stopped). Reported per run:
status, setup time, iterations, time per iteration (for the ADMM the median over its checks, so the
polishing attempts between two checks do not count as iterations), time to a certified
relative gap of 1e-2 / 1e-3 / 1e-4 (the interior point certifies every iterate, the working-set solver
every round; the ADMM only its final point), total time, final certified gap (shown only where the
returned point is certified: an infeasible point's objective can fall below the bound), training
accuracy (hinge), peak RSS. Writes
``OUT/benchmark_scale.md`` and, with matplotlib, ``OUT/benchmark_scale.png`` (time and memory against n,
log-log, with fitted exponents).

    python examples/benchmark_scale.py [--n 1000 10000 30000] [--d 30] [--patterns 100] [--quick]

``--quick`` runs n = 300 and 600, d = 5, P = 10 (unless given) in under a minute.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

PATHS = {"squared": ("ipm-nxn", "ipm-gram", "admm-dense", "admm-matrix_free", "working_set", "clarabel"),
         "hinge": ("admm-dense", "admm-matrix_free", "working_set", "clarabel")}
GAP_LEVELS = (1e-2, 1e-3, 1e-4)


def build(n, d, P, loss, beta_fraction, seed):
    from formulations import make_program
    from formulations.datasets import synthetic
    from solvers.battery import zero_model_beta
    task = "regression" if loss == "squared" else "classification"
    data = synthetic(n=n, d=d, task=task, seed=seed)
    program = make_program("sampled", data.X, data.y, loss, 1.0, n_patterns=P, seed=seed)
    program.set_beta(beta_fraction * zero_model_beta(program))
    return program


def time_to_gap(history, level):
    """Seconds until the certified gap of the history first reached ``level`` (None: never)."""
    gaps, times = np.asarray(history.get("gap", []), float), np.asarray(history.get("time", []), float)
    hit = np.flatnonzero(np.isfinite(gaps) & (gaps <= level))
    return float(times[hit[0]]) if hit.size else None


def median_iteration_time(history):
    """The median over consecutive checks of the seconds per iteration between them (None: too few)."""
    its, times = np.asarray(history.get("iteration", []), float), np.asarray(history.get("time", []), float)
    if its.size < 3:
        return None
    steps = np.diff(its)
    keep = steps > 0
    return float(np.median(np.diff(times)[keep] / steps[keep])) if np.any(keep) else None


def child(spec):
    """Run one path and print its measurements as one JSON line."""
    import resource
    import warnings
    warnings.simplefilter("ignore")
    from solvers import admm, ipm, solve_oracle, working_set
    start = time.perf_counter()
    program = build(spec["n"], spec["d"], spec["P"], spec["loss"], spec["beta_fraction"], spec["seed"])
    build_s = time.perf_counter() - start
    path = spec["path"]
    start = time.perf_counter()
    if path.startswith("ipm"):
        result = ipm(program, newton_route=path.split("-")[1], tol_gap=spec["tol_gap"])
    elif path.startswith("admm"):
        result = admm(program, tol_gap=spec["tol_gap"], a_update=path.split("-")[1],
                      time_limit=spec.get("time_limit"))
    elif path == "working_set":
        result = working_set(program, tol_gap=spec["tol_gap"])
    else:
        result = solve_oracle(program, "clarabel", fallback=None)
    total = time.perf_counter() - start
    info = result.info or {}
    certified_history = path.startswith("ipm") or path == "working_set"
    out = {"status": result.status, "objective": result.objective, "total_s": total, "build_s": build_s,
           "setup_s": info.get("setup_time_s", result.compile_time_s), "iterations": int(result.iterations or 0),
           "gap": info.get("duality_gap_rel") if info.get("certified") else None,
           "accuracy": result.train_accuracy(),
           "to_gap": [time_to_gap(result.history, level) if certified_history else None for level in GAP_LEVELS],
           "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "per_iteration_s": median_iteration_time(result.history) if path.startswith("admm") else None}
    print(json.dumps(out))


def skip_reason(path, n, d, P, args):
    from solvers.core.memory import describe_bytes, estimate_bytes
    solver = path.split("-")[0]
    limit = {"ipm-nxn": args.max_n_dense, "admm-dense": args.max_n_dense, "clarabel": args.max_n_clarabel}.get(path)
    if limit is not None and n > limit:
        return f"n > {limit} (--max-n-{'clarabel' if path == 'clarabel' else 'dense'})"
    need = estimate_bytes(solver, n, d, P)
    # the estimates follow the automatic routes; these two paths force the n x n ones
    if path == "ipm-nxn":
        need = max(need, 2 * n * n * 8 + 2 * n * 2 * d * P * 8)
    if path == "admm-dense":
        need = max(need, 3 * n * n * 8)
    if need > args.max_memory:
        return f"needs about {describe_bytes(need)} (> {describe_bytes(args.max_memory)})"
    return None


def run_path(spec, timeout):
    command = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"stopped after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"skipped": f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(value, pattern="{:.2f}"):
    return "-" if value is None else pattern.format(value)


def fitted_exponent(ns, values):
    """Least-squares slope of log(value) against log(n) (None with fewer than two points)."""
    points = [(n, v) for n, v in zip(ns, values) if v is not None and v > 0]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for (loss, solver), series in sorted(rows.items()):
        ns = [n for n, r in series if "total_s" in r]
        for axis, key, scale in ((axes[0], "total_s", 1.0), (axes[1], "per_iteration", 1.0),
                                 (axes[2], "peak_rss", 2.0 ** -30)):
            values = [r[key] * scale for n, r in series if "total_s" in r]
            if not values:
                continue
            slope = fitted_exponent(ns, values)
            label = f"{loss} {solver}" + (f" (n^{slope:.2f})" if slope is not None else "")
            axis.loglog(ns, values, "o-", label=label)
    axes[0].set(xlabel="n", ylabel="time to finish (s)", title="time")
    axes[1].set(xlabel="n", ylabel="seconds per iteration", title="time per iteration")
    axes[2].set(xlabel="n", ylabel="peak RSS (GiB)", title="memory")
    for axis in axes:
        axis.legend(fontsize=7)
        axis.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", help="default 1000 3000 10000 30000 (quick: 300 600)")
    parser.add_argument("--d", type=int, help="default 30 (quick: 5)")
    parser.add_argument("--patterns", type=int, help="default 100 (quick: 10)")
    parser.add_argument("--losses", nargs="+", default=["squared", "hinge"], choices=sorted(PATHS))
    parser.add_argument("--paths", nargs="+", help="default: every path of each loss")
    parser.add_argument("--beta-fraction", type=float, default=1e-2, help="beta / beta_max (default 1e-2)")
    parser.add_argument("--tol-gap", type=float, default=1e-4, help="certified relative gap to stop at")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-memory", type=float, default=8 * 2 ** 30, help="bytes (default 8 GiB)")
    parser.add_argument("--max-n-dense", type=int, default=10000, help="largest n for the n x n paths")
    parser.add_argument("--max-n-clarabel", type=int, default=10000)
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="per run")
    parser.add_argument("--out", default="out")
    parser.add_argument("--quick", action="store_true", help="n = 300 and 600, d = 5, P = 10")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    defaults = ([300, 600], 5, 10) if args.quick else ([1000, 3000, 10000, 30000], 30, 100)
    args.n, args.d, args.patterns = (given or default for given, default in
                                     zip((args.n, args.d, args.patterns), defaults))
    head = ("| loss | path | n | status | setup s | iterations | s / iteration | to 1e-2 s | to 1e-3 s | to 1e-4 s "
            "| total s | certified gap | train accuracy | peak RSS GiB |")
    lines = [f"# Scale: sampled program, d = {args.d}, P = {args.patterns}, beta = {args.beta_fraction:g} "
             f"beta_max, tol_gap = {args.tol_gap:g}", "",
             f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"{time.strftime('%Y-%m-%d')}", "", head, "|" + "---|" * (head.count("|") - 1)]
    rows = {}
    for loss in args.losses:
        for path in [p for p in PATHS[loss] if args.paths is None or p in args.paths]:
            for n in args.n:
                spec = {"n": n, "d": args.d, "P": args.patterns, "loss": loss, "path": path, "seed": args.seed,
                        "beta_fraction": args.beta_fraction, "tol_gap": args.tol_gap,
                        "time_limit": 0.5 * args.max_seconds}
                reason = skip_reason(path, n, args.d, args.patterns, args)
                result = {"skipped": reason} if reason else run_path(spec, args.max_seconds)
                rows.setdefault((loss, path), []).append((n, result))
                if "skipped" in result:
                    line = f"| {loss} | {path} | {n} | skipped: {result['skipped']} |" + " - |" * 10
                else:
                    per_iteration = result.get("per_iteration_s") or \
                        (result["total_s"] - (result["setup_s"] or 0.0)) / max(result["iterations"], 1)
                    result["per_iteration"] = per_iteration
                    line = (f"| {loss} | {path} | {n} | {result['status']} | {fmt(result['setup_s'])} | "
                            f"{result['iterations']} | {per_iteration:.3g} | "
                            + " | ".join(fmt(t) for t in result["to_gap"])
                            + f" | {result['total_s']:.2f} | {fmt(result['gap'], '{:.1e}')} | "
                            f"{fmt(result['accuracy'], '{:.3f}')} | {result['peak_rss'] / 2 ** 30:.2f} |")
                lines.append(line)
                print(line, file=sys.stderr, flush=True)
    lines += ["", "Fitted exponents (time and peak RSS against n, log-log least squares):", ""]
    for (loss, path), series in rows.items():
        done = [(n, r) for n, r in series if "total_s" in r]
        time_slope = fitted_exponent([n for n, _ in done], [r["total_s"] for _, r in done])
        memory_slope = fitted_exponent([n for n, _ in done], [r["peak_rss"] for _, r in done])
        iteration_slope = fitted_exponent([n for n, _ in done], [r["per_iteration"] for _, r in done])
        lines.append(f"- {loss} {path}: time n^{fmt(time_slope)}, time per iteration n^{fmt(iteration_slope)}, "
                     f"memory n^{fmt(memory_slope)}")
    os.makedirs(args.out, exist_ok=True)
    table = os.path.join(args.out, "benchmark_scale.md")
    with open(table, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    figure = plot(rows, os.path.join(args.out, "benchmark_scale.png"))
    print("\n".join(lines))
    print(f"wrote {table}" + (f" and {figure}" if figure else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
