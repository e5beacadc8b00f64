"""Benchmark: every hand-written path against Clarabel, program by program, and what ``solver="auto"`` picks.

Cells: program (the constrained program on sampled patterns, ``sampled``; the gated program, ``gated``)
x loss (squared, hinge, logistic) x instance:

* ``random-1000`` - Gaussian X (1000 x 30), random labels (N(0, 1) targets for the squared loss, random
  signs otherwise), P = 100 sampled patterns, beta = 1e-3;
* ``teacher-1000`` - the planted-teacher data of ``formulations.datasets.synthetic`` (1000 x 30), P = 100,
  beta = 1e-3;
* ``random-4000`` - the random family at n = 4000;
* ``breast_cancer-100`` / ``-400`` - breast cancer (569 x 30, standardised) with a bias column,
  P = 100 / 400, beta = 1e-2;
* ``digits-200`` - digits 0-4 vs 5-9 (1797 x 64, standardised) with a bias column, P = 200, beta = 1e-2.

Every solver of a cell sees the same program (same patterns) and is asked for a certified relative gap
of ``--tol`` (1e-6); each cell runs in its own process (``--cell``), Clarabel first (time limit
``--budget``, shared with the SCS fallback when Clarabel fails; the table names SCS when it answered), then each hand-written solver the registry lists for the program, with the time limit
``--path-share`` (0.5) of Clarabel's time (its limit when it did not finish), at least 5 s: a path still
running then is at most 2x faster, far from the 10x asked of it, and its status says so. ``--resume``
keeps the cells already in ``--out``'s JSON and runs the others. Reported
per cell and solver: status (as the solver states it), seconds, certified gap, relative difference of the
objective to Clarabel's, the speed-up over Clarabel (only for certified runs against an optimal
Clarabel), the working set's size at the end and the patterns priced; and the path that ``solver="auto"``
takes (:func:`solvers.registry.auto_solver`). A floor measured in the same process - the time of one
product ``X^T (D o r)`` over all patterns - is listed with each cell.

    python examples/benchmark_programs.py --quick          # < 1 minute: a 300 x 10 instance, P = 20
    python examples/benchmark_programs.py --out results/   # every cell (an hour or more on 2 cores)

Writes ``benchmark_programs.md`` and ``benchmark_programs.json`` to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from formulations import add_bias_column, make_program, sample_patterns  # noqa: E402
from formulations.datasets import breast_cancer, digits_binary, synthetic  # noqa: E402
from solvers.registry import auto_solver, solve, solvers_for  # noqa: E402

FORMS = ("sampled", "gated")
LOSSES = ("squared", "hinge", "logistic")


def _random(n, d, loss, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n) if loss == "squared" else np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return X, y


def _teacher(n, d, loss, seed):
    data = synthetic(n=n, d=d, task="regression" if loss == "squared" else "classification", seed=seed)
    return data.X, data.y


def _real(loader):
    def build(loss):
        data = loader()
        return add_bias_column(data.X), data.y
    return build


#: name -> (data builder(loss), P, beta)
INSTANCES = {
    "random-1000": (lambda loss: _random(1000, 30, loss, 0), 100, 1e-3),
    "teacher-1000": (lambda loss: _teacher(1000, 30, loss, 0), 100, 1e-3),
    "random-4000": (lambda loss: _random(4000, 30, loss, 0), 100, 1e-3),
    "breast_cancer-100": (_real(breast_cancer), 100, 1e-2),
    "breast_cancer-400": (_real(breast_cancer), 400, 1e-2),
    "digits-200": (_real(digits_binary), 200, 1e-2),
}
QUICK_INSTANCES = {"random-300": (lambda loss: _random(300, 10, loss, 0), 20, 1e-2)}


def build_program(instance, form, loss, instances):
    data, P, beta = instances[instance]
    X, y = data(loss)
    D, H = sample_patterns(X, P, seed=0)
    return make_program(form, X, y, loss, beta, D=D, H=H)


def floor_seconds(program, repeats=5):
    """One pass over the data for every pattern - ``X^T (D o r)`` - the least any iteration does."""
    residual = np.ones(program.n)
    start = time.perf_counter()
    for _ in range(repeats):
        program.X.T @ (program.D * residual[:, None])
    return (time.perf_counter() - start) / repeats


def run_solver(program, name, tol, budget):
    options = {"time_limit": budget}
    if name == "clarabel":
        options.update(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=1e-8)
    else:
        options["tol_gap"] = tol
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = solve(program, name, **options)
        except Exception as error:  # reported in the table: a benchmark records failures, it does not stop
            return {"solver": name, "status": f"error: {type(error).__name__}: {error}"[:120],
                    "seconds": time.perf_counter() - start}
    info = result.info or {}
    gap = info.get("duality_gap_rel")
    return {"solver": name, "answered_by": result.solver, "status": result.status,
            "seconds": time.perf_counter() - start,
            "objective": None if result.weights is None else float(result.objective),
            "certified_gap": None if gap is None or not info.get("certified", result.status == "optimal")
            else float(gap),
            "working_set": info.get("working_set_patterns", info.get("working_set_size")),
            "priced": info.get("patterns_priced", info.get("groups_priced")),
            "iterations": result.iterations}


def run_cell(instance, form, loss, tol, budget, quick, path_share=0.5):
    instances = QUICK_INSTANCES if quick else INSTANCES
    program = build_program(instance, form, loss, instances)
    cell = {"instance": instance, "form": form, "loss": loss, "n": program.n, "d": program.d,
            "P": program.n_patterns, "beta": program.beta_value, "floor_s": floor_seconds(program),
            "auto": auto_solver(program), "runs": []}
    reference = run_solver(program, "clarabel", tol, budget)
    cell["runs"].append(reference)
    limit = max(5.0, path_share * reference["seconds"])
    for name in solvers_for(form, loss):
        run = run_solver(program, name, tol, min(budget, limit))
        if reference.get("objective") is not None and run.get("objective") is not None:
            run["rel_diff"] = (run["objective"] - reference["objective"]) / max(1.0, abs(reference["objective"]))
        if run["status"] == "optimal" and reference["status"] == "optimal":
            run["speedup"] = reference["seconds"] / run["seconds"]
        cell["runs"].append(run)
    return cell


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(cells):
    lines = ["| instance | program | loss | n x d, P | Clarabel | solver | status | s | cert. gap | "
             "rel. diff | speed-up | working set | priced | auto |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        reference = cell["runs"][0]
        answered_by = reference.get("answered_by", "clarabel")
        clarabel = (f"{reference['status']} {reference['seconds']:.2f}s"
                    + (f" (from {answered_by})" if answered_by != "clarabel" else "")
                    + (" (auto)" if cell["auto"] == "clarabel" else ""))
        for run in cell["runs"][1:]:
            lines.append(
                f"| {cell['instance']} | {cell['form']} | {cell['loss']} | {cell['n']} x {cell['d']}, {cell['P']} | "
                f"{clarabel} | {run['solver']} | {run['status']} | {run['seconds']:.2f} | "
                f"{_fmt(run.get('certified_gap'), '.1e')} | {_fmt(run.get('rel_diff'), '.1e')} | "
                f"{_fmt(run.get('speedup'), '.1f')} | {_fmt(run.get('working_set'), 'd')} | "
                f"{_fmt(run.get('priced'), 'd')} | {'yes' if run['solver'] == cell['auto'] else ''} |")
    return "\n".join(lines)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small instance (under a minute)")
    parser.add_argument("--instances", nargs="+", default=None, help="a subset of the instances")
    parser.add_argument("--forms", nargs="+", default=list(FORMS), choices=FORMS)
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=LOSSES)
    parser.add_argument("--tol", type=float, default=1e-6, help="certified relative gap asked of every solver")
    parser.add_argument("--budget", type=float, default=600.0, help="time limit per solver run, seconds")
    parser.add_argument("--path-share", type=float, default=0.5,
                        help="time limit of each hand-written path as a share of Clarabel's time (at least 5 s)")
    parser.add_argument("--out", default=".", help="directory for benchmark_programs.md / .json")
    parser.add_argument("--resume", action="store_true", help="keep the cells already measured in --out")
    parser.add_argument("--cell", default=None, help=argparse.SUPPRESS)  # INSTANCE:FORM:LOSS, one process
    args = parser.parse_args(argv)
    if args.quick:
        args.budget = min(args.budget, 30.0)
    names = QUICK_INSTANCES if args.quick else INSTANCES
    args.instances = args.instances or list(names)
    unknown = [name for name in args.instances if name not in names]
    if unknown:
        parser.error(f"unknown instance(s) {', '.join(unknown)}; known: {', '.join(names)}")
    if not (args.tol > 0 and args.budget > 0 and args.path_share > 0):
        parser.error("--tol, --budget and --path-share must be positive")
    return args


def _cell_in_subprocess(instance, form, loss, args):
    command = [sys.executable, os.path.abspath(__file__), "--cell", f"{instance}:{form}:{loss}",
               "--tol", repr(args.tol), "--budget", repr(args.budget), "--path-share", repr(args.path_share)] + (["--quick"] if args.quick else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # a negative code is the signal that ended the process: 9 is how the kernel's out-of-memory killer ends one
        last = done.stderr.strip().splitlines()[-1:] or [f"ended by signal {-done.returncode}"
                                                         if done.returncode < 0 else f"exit code {done.returncode}"]
        raise RuntimeError(f"cell {instance}:{form}:{loss} failed: {last[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    args = parse(argv)
    if args.cell:
        instance, form, loss = args.cell.split(":")
        print(json.dumps(run_cell(instance, form, loss, args.tol, args.budget, args.quick, args.path_share)))
        return 0
    os.makedirs(args.out, exist_ok=True)
    header = (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"{platform.system()}; {time.strftime('%Y-%m-%d')}. Certified relative gap asked: {args.tol:g}; "
              f"Clarabel's time limit {args.budget:g} s, each path's {args.path_share:g} of Clarabel's time "
              f"(at least 5 s).\n\n")
    cells = []
    saved = os.path.join(args.out, "benchmark_programs.json")
    if args.resume and os.path.exists(saved):
        with open(saved) as handle:
            cells = json.load(handle)
    done = {(cell["instance"], cell["form"], cell["loss"]) for cell in cells}
    for instance in args.instances:
        for form in args.forms:
            for loss in args.losses:
                if (instance, form, loss) in done:
                    continue
                cell = _cell_in_subprocess(instance, form, loss, args)
                cells.append(cell)
                best = ", ".join(f"{run['solver']} {run['status']} {run['seconds']:.2f}s" for run in cell["runs"])
                print(f"{instance} {form} {loss}: {best}", flush=True)
                # written after every cell: a long run that is stopped keeps what it measured
                with open(os.path.join(args.out, "benchmark_programs.md"), "w") as handle:
                    handle.write(header + table(cells) + "\n")
                with open(os.path.join(args.out, "benchmark_programs.json"), "w") as handle:
                    json.dump(cells, handle, indent=1)
    print(table(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
