"""The ``cvxnn`` command line (docs/cli.md).

    cvxnn solve    --data NAME|FILE --formulation F --loss L --beta B --solver S [--json PATH|-] [--save MODEL.npz]
    cvxnn verify   [instance options] --solvers admm,ipm,... [--oracle clarabel] [--json PATH|-] [--plot PNG]
    cvxnn predict  --model MODEL.npz --data NAME|FILE [--out PATH.csv|PATH.json|-]
    cvxnn datasets

Input errors exit with status 2 and one line on standard error that names the problem; ``verify``
exits 1 when a solver misses the oracle beyond its tolerance. With ``--json -`` standard output holds
the JSON document and nothing else.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
import time

import numpy as np

from formulations import FORMULATIONS, LOSSES, make_program
from formulations.datasets import list_datasets, load_data, standardize

from ..battery import compare, tolerance_for
from ..registry import check_solves, get_solver, solvers_for
from ..core.memory import check_memory
from ..oracle import solve_oracle
from .model import load_model, save_model
from .report import oracle_provenance, plot_convergence, solve_summary, verify_table, write_json

DEFAULT_DATA = "breast_cancer"


class UsageError(ValueError):
    """Bad command-line input (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 - never the usage block
        raise UsageError(message)


def _add_instance_options(p, default_beta, default_patterns):
    p.add_argument("--data", default=DEFAULT_DATA, help="bundled dataset name or .npz/.csv file "
                   f"(default {DEFAULT_DATA})")
    p.add_argument("--target", default=None, help="target column of a CSV file (default: the last)")
    p.add_argument("--formulation", default="sampled", help=f"one of {', '.join(FORMULATIONS)} (default sampled)")
    p.add_argument("--loss", default="squared", help=f"one of {', '.join(LOSSES)} (default squared)")
    p.add_argument("--beta", type=float, default=default_beta, help=f"weight decay (default {default_beta:g})")
    p.add_argument("--patterns", type=int, default=default_patterns,
                   help=f"sampled directions / random features (default {default_patterns})")
    p.add_argument("--seed", type=int, default=0, help="seed of the pattern sampling (default 0)")
    p.add_argument("--epsilon", type=float, default=0.0, help="l_inf radius of the robust program (default 0)")
    p.add_argument("--bias", action="store_true", help="append a ones column, never perturbed (default off)")
    p.add_argument("--standardize", action="store_true", help="standardise the features first (default off)")
    p.add_argument("--max-patterns", type=int, default=5000,
                   help="limit of exact enumeration (default 5000)")
    p.add_argument("--tol", type=float, default=None, help="solver tolerance (default: the solver's own)")
    p.add_argument("--max-iter", type=int, default=None, help="solver iteration limit (default: the solver's own)")
    p.add_argument("--max-memory", type=float, default=None, metavar="GIB",
                   help="refuse solvers whose estimated memory exceeds this many GiB (default: the memory "
                        "available now)")
    p.add_argument("--json", default=None, metavar="PATH|-",
                   help="write the JSON report ('-' = stdout; default: none)")
    p.add_argument("--verbose", action="store_true", help="print the solvers' iteration logs on stderr (default off)")


def build_parser():
    parser = _Parser(prog="cvxnn", description="Global training of two-layer ReLU networks by convex programs")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    solve = sub.add_parser("solve", help="solve one program with one solver")
    _add_instance_options(solve, default_beta=1.0, default_patterns=50)
    solve.add_argument("--solver", default="clarabel", help="clarabel, scs, admm, ... (default clarabel)")
    solve.add_argument("--save", default=None, metavar="MODEL.npz",
                       help="write the recovered network and its preprocessing (default: none)")
    verify = sub.add_parser("verify", help="compare solvers with the CVXPY oracle on one instance")
    _add_instance_options(verify, default_beta=1.0, default_patterns=50)
    verify.add_argument("--solvers", default=None,
                        help="comma-separated solvers (default: admm, and ipm for the squared loss on the "
                             "exact or sampled program)")
    verify.add_argument("--oracle", default="clarabel", help="CVXPY oracle solver (default clarabel)")
    verify.add_argument("--gap-tol", type=float, default=None,
                        help="override the per-solver gap tolerance (default: solvers.battery.SOLVER_TOLERANCES)")
    verify.add_argument("--plot", default=None, metavar="PATH.png",
                        help="objective gap and residuals vs time (default: none)")
    predict = sub.add_parser("predict", help="apply a saved model (cvxnn solve --save) to data")
    predict.add_argument("--model", required=True, metavar="MODEL.npz", help="the saved model (required)")
    predict.add_argument("--data", required=True, help="bundled dataset name or .npz/.csv file (required)")
    predict.add_argument("--target", default=None, help="target column of a CSV file (default: the last)")
    predict.add_argument("--out", default="-", metavar="PATH|-",
                         help="predictions as .csv or .json ('-' = CSV on stdout; default -)")
    sub.add_parser("datasets", help="list the bundled datasets")
    return parser


# -- instance ------------------------------------------------------------------------------------------
def check_instance_options(args):
    """Refuse bad instance options (UsageError naming the option) before any data is read."""
    if args.formulation not in FORMULATIONS:
        raise UsageError(f"unknown formulation {args.formulation!r}; choose one of {', '.join(FORMULATIONS)}")
    if args.loss not in LOSSES:
        raise UsageError(f"unknown loss {args.loss!r}; choose one of {', '.join(LOSSES)}")
    if not math.isfinite(args.beta) or args.beta <= 0:
        raise UsageError(f"--beta must be a finite number > 0, got {args.beta}")
    if not math.isfinite(args.epsilon) or args.epsilon < 0:
        raise UsageError(f"--epsilon must be a finite number >= 0, got {args.epsilon}")
    if args.epsilon > 0 and args.formulation != "robust":
        raise UsageError("--epsilon applies to --formulation robust only")
    if args.patterns < 1:
        raise UsageError(f"--patterns must be a positive integer, got {args.patterns}")
    if args.tol is not None and (not math.isfinite(args.tol) or args.tol <= 0):
        raise UsageError(f"--tol must be a finite number > 0, got {args.tol}")
    if args.max_iter is not None and args.max_iter < 1:
        raise UsageError(f"--max-iter must be a positive integer, got {args.max_iter}")
    if args.seed < 0:
        raise UsageError(f"--seed must be an integer >= 0, got {args.seed}")
    if args.max_patterns < 1:
        raise UsageError(f"--max-patterns must be a positive integer, got {args.max_patterns}")
    if args.max_memory is not None and (not math.isfinite(args.max_memory) or args.max_memory <= 0):
        raise UsageError(f"--max-memory must be a finite number of GiB > 0, got {args.max_memory}")
    gap_tol = getattr(args, "gap_tol", None)
    if gap_tol is not None and (not math.isfinite(gap_tol) or gap_tol <= 0):
        raise UsageError(f"--gap-tol must be a finite number > 0, got {gap_tol}")
    _check_output_paths(args)


def _check_output_paths(args):
    """--json and --plot: a writable folder, a .png plot, and never the input file."""
    data_path = os.path.realpath(args.data) if os.path.isfile(args.data) else None
    for flag, path in (("--json", args.json), ("--plot", getattr(args, "plot", None)),
                       ("--save", getattr(args, "save", None))):
        if path is None or path == "-":
            continue
        if flag == "--plot" and not path.lower().endswith(".png"):
            raise UsageError(f"--plot needs a .png path, got {path}")
        if flag == "--save" and not path.lower().endswith(".npz"):
            raise UsageError(f"--save needs an .npz path, got {path}")
        if data_path is not None and os.path.realpath(path) == data_path:
            raise UsageError(f"{flag} {path} would overwrite the input data file")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise UsageError(f"{flag} {path}: the folder {folder} does not exist")
        if os.path.isdir(path) or not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
            raise UsageError(f"{flag} {path} is not a writable file path")


def _check_fits(solver_names, program, args):
    """Refuse, before any solve, a solver whose estimated peak memory exceeds --max-memory (or the memory
    available now), with the estimate and an alternative in the message."""
    limit = None if args.max_memory is None else args.max_memory * 2 ** 30
    for name in solver_names:
        check_memory(name, program.n, program.d, program.n_patterns, limit)


def build_instance(args):
    """Program and instance description from the parsed options (ValueError on bad input)."""
    check_instance_options(args)
    data = load_data(args.data, args.target)
    X, args.standardization = data.X, None
    if args.standardize:
        X, mean, scale = standardize(X)
        args.standardization = (mean, scale)
    # directions without patterns become patterns inside make_program (formulations.patterns_from_directions)
    try:
        program = make_program(args.formulation, X, data.y, args.loss, args.beta, D=data.D, H=data.H,
                               n_patterns=args.patterns, seed=args.seed, epsilon=args.epsilon, bias=args.bias,
                               max_patterns=args.max_patterns)
    except ValueError as exc:
        if "max_patterns=" in str(exc):  # name the command line's flag
            raise UsageError(str(exc).replace("raise max_patterns", "raise --max-patterns")) from None
        raise
    instance = {"data": args.data, "formulation": args.formulation, "loss": args.loss, "beta": args.beta,
                "n": program.n, "d": program.d, "n_patterns": program.n_patterns,
                "patterns_source": "file" if (data.D is not None or data.H is not None) and
                args.formulation != "exact" else ("enumerated" if args.formulation == "exact" else "sampled"),
                "seed": args.seed, "bias": args.bias, "standardize": args.standardize}
    if args.formulation == "robust":
        instance["epsilon"] = args.epsilon
    return program, instance


def _run(program, solver_name, args, verbose):
    solver = get_solver(solver_name)
    return solver(program, tol=args.tol, max_iter=args.max_iter, verbose=verbose)


# -- commands ------------------------------------------------------------------------------------------
def cmd_solve(args, out):
    check_instance_options(args)
    get_solver(args.solver)  # unknown names and solvers that do not solve the program fail before any work
    check_solves(args.solver, args.formulation, args.loss)
    program, instance = build_instance(args)
    _check_fits([args.solver], program, args)
    verbose = args.verbose or "auto"
    result = _run(program, args.solver, args, verbose)
    run = result.to_dict()
    lines = solve_summary(instance, program, run)
    print("\n".join(lines), file=out)
    if args.save:
        mean, scale = args.standardization or (None, None)
        save_model(args.save, result.network, bias=args.bias, mean=mean, scale=scale,
                   metadata={"instance": instance, "solver": result.solver, "status": result.status,
                             "objective": run["objective"]})
        print(f"wrote {args.save}", file=out)
    if args.json:
        write_json(run, args.json)
    return 0


def cmd_predict(args, out):
    """Apply a saved model to data and write one row per sample: the output f(x), and for a classifier
    (trained on labels in {-1, +1}) the label sign(f(x)), ties f = 0 reported as 0."""
    lower = args.out.lower()
    if args.out != "-" and not (lower.endswith(".csv") or lower.endswith(".json")):
        raise UsageError(f"--out needs a .csv or .json path (or -), got {args.out}")
    if args.out != "-" and os.path.isfile(args.data) and os.path.realpath(args.out) == os.path.realpath(args.data):
        raise UsageError(f"--out {args.out} would overwrite the input data file")
    model = load_model(args.model)
    data = load_data(args.data, args.target)
    outputs = model.predict(data.X)
    classifier = model.metadata.get("instance", {}).get("loss") in ("hinge", "logistic") or \
        bool(model.metadata.get("classifier"))
    labels = np.sign(outputs) if classifier else None
    if lower.endswith(".json"):
        write_json({"model": args.model, "data": args.data, "prediction": outputs.tolist(),
                    **({"label": labels.tolist()} if classifier else {})}, args.out)
    else:
        lines = ["prediction,label" if classifier else "prediction"]
        lines += [f"{f!r},{int(label)}" if classifier else repr(f)
                  for f, label in zip(outputs.tolist(), labels if classifier else outputs)]
        text = "\n".join(lines) + "\n"
        if args.out == "-":
            sys.stdout.write(text)
        else:
            try:
                with open(args.out, "w") as handle:
                    handle.write(text)
            except OSError as exc:
                raise ValueError(f"cannot write the predictions to {args.out}: {exc.strerror}") from None
    if args.out != "-":
        print(f"wrote {len(outputs)} predictions to {args.out}", file=out)
    return 0


def _verify_solver_names(args):
    """The solvers ``verify`` runs: ``--solvers``, or the hand-written solvers of the program (the registry's
    capability table); every one checked against the program before any solve starts."""
    if args.solvers is None:
        names = solvers_for(args.formulation, args.loss)
        if not names:
            raise UsageError(f"no hand-written solver solves the {args.formulation} program with the "
                             f"{args.loss} loss; name CVXPY solvers with --solvers (e.g. scs)")
    else:
        names = [s.strip().lower() for s in args.solvers.split(",") if s.strip()]
    if not names:
        raise UsageError("--solvers needs at least one solver name")
    for name in names:
        get_solver(name)  # unknown names
        check_solves(name, args.formulation, args.loss)
    return names


def _independent_reference(name, reference, program, others):
    """The oracle answer a solver named ``name`` is judged against: the oracle's, unless the oracle's answer
    came from that same solver (a fallback) - then the next CVXPY solver's (cached in ``others``), or None
    when no independent solver answered."""
    if name != reference.solver:
        return reference
    for other in ("clarabel", "scs"):
        if other == name:
            continue
        if other not in others:
            others[other] = solve_oracle(program, other, fallback=None)
        if others[other].weights is not None:
            return others[other]
    return None


def _judge(program, name, result, reference, args):
    """The run object of one solver under test, judged against ``reference`` (None: no independent oracle,
    the row is marked ``self`` and not judged)."""
    tolerance = tolerance_for(name, program.loss.name)
    if args.gap_tol is not None:
        tolerance["gap"] = args.gap_tol
    run = dict(result.to_dict(), role="solver", tolerance=tolerance)
    if reference is None:
        return dict(run, reference="self", rel_gap=None, violation_relative=None, prediction_error=None,
                    passed=None, reason="no independent oracle answered (the oracle's answer is this solver's)")
    row = compare(program, result, reference, tolerance)
    finite = lambda value: value if math.isfinite(value) else None  # noqa: E731
    return dict(run, reference=reference.solver, rel_gap=finite(row.rel_gap),
                violation_relative=finite(row.violation), prediction_error=finite(row.prediction_error),
                passed=row.passed, reason=row.reason)


def cmd_verify(args, out):
    check_instance_options(args)
    names = _verify_solver_names(args)
    oracle = get_solver(args.oracle)
    program, instance = build_instance(args)
    _check_fits([args.oracle, *names], program, args)
    start = time.perf_counter()
    print(f"verify: oracle {args.oracle} ...", file=out, flush=True)
    reference = oracle(program, verbose=bool(args.verbose))
    if reference.weights is None:
        raise RuntimeError(f"the oracle {args.oracle} found no solution (status {reference.status})")
    provenance = oracle_provenance(reference, args.oracle)
    print(f"verify: {provenance}", file=out, flush=True)
    runs = [dict(reference.to_dict(), role="oracle")]
    results, others = [], {}
    for name in names:
        print(f"verify: {name} ...", file=out, flush=True)
        result = get_solver(name)(program, tol=args.tol, max_iter=args.max_iter, verbose=bool(args.verbose))
        run = _judge(program, name, result, _independent_reference(name, reference, program, others), args)
        print(f"verify: {name} {result.status} in {result.solve_time_s:.2f} s", file=out, flush=True)
        runs.append(run)
        results.append(result)
    lines = verify_table(instance, program, runs, provenance)
    lines.append(f"total time {time.perf_counter() - start:.1f} s")
    print("\n".join(lines), file=out)
    if args.plot:
        plot_convergence(args.plot, reference, results)
        print(f"wrote {args.plot}", file=out)
    if args.json:
        write_json({"instance": instance, "oracle": reference.solver, "oracle_requested": args.oracle,
                    "oracle_fallback_from": reference.info.get("fallback_from"),
                    "oracle_fallback_reason": reference.info.get("fallback_reason"), "runs": runs}, args.json)
    return 1 if any(run.get("passed") is False for run in runs) else 0


def cmd_datasets(args, out):
    rows = list_datasets()
    print(f"{'name':<15} {'n':>6} {'d':>4}  {'task':<15} source", file=out)
    for r in rows:
        print(f"{r['name']:<15} {r['n']:>6} {r['d']:>4}  {r['task']:<15} {r['source']}", file=out)
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings reach the terminal as one line naming their kind (no source path or code line)."""
    text = str(message).splitlines()[0] if str(message) else category.__name__
    print(f"cvxnn: warning: {text}", file=sys.stderr)


def main(argv=None):
    parser = build_parser()
    warnings.showwarning = _show_warning
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        json_stdout = getattr(args, "json", None) == "-" or getattr(args, "out", None) == "-"
        out = sys.stderr if json_stdout else sys.stdout
        if json_stdout and getattr(args, "verbose", False):
            raise UsageError("--verbose cannot be combined with --json - (solver logs would mix with the JSON)")
        handler = {"solve": cmd_solve, "verify": cmd_verify, "predict": cmd_predict,
                   "datasets": cmd_datasets}[args.command]
        with np.errstate(all="ignore"):
            return handler(args, out)
    except ValueError as exc:  # includes UsageError: bad input, exit 2 with one line
        print(f"cvxnn: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a command that stopped reading
        return 0
    except KeyboardInterrupt:
        print("cvxnn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback on the terminal
        print(f"cvxnn: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
