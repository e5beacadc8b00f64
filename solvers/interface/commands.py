"""The commands of ``cvxnn`` (docs/cli.md): building the instance from the options, refusing what cannot
run before any solve, and ``solve``, ``verify``, ``predict``, ``datasets``. :mod:`.cli` parses the
arguments and handles every error; this module holds the work."""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from formulations import FORMULATIONS, LOSSES, make_program
from formulations.names import ROBUST_FORMULATIONS
from formulations.datasets import list_datasets, load_data, standardize

from ..battery import compare, tolerance_for
from ..core.memory import check_memory
from ..oracle import solve_oracle
from ..registry import auto_solver, check_solves, get_solver, solvers_for
from .cli import UsageError
from .model import load_model, save_model
from .report import oracle_provenance, plot_convergence, solve_summary, verify_table, write_json


def run(command, args, out):
    """Run ``command`` with the parsed ``args``, printing human-readable output to ``out``."""
    handler = {"solve": cmd_solve, "verify": cmd_verify, "predict": cmd_predict, "datasets": cmd_datasets}[command]
    with np.errstate(all="ignore"):
        return handler(args, out)


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
    if args.epsilon > 0 and args.formulation not in ROBUST_FORMULATIONS:
        raise UsageError(f"--epsilon applies to --formulation robust only (or "
                         f"{', '.join(ROBUST_FORMULATIONS[1:])})")
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
    if args.formulation in ROBUST_FORMULATIONS:
        instance["epsilon"] = args.epsilon
    if args.formulation == "robust":
        program.warn_if_cones_collapse()  # before any solve: one line on stderr (cli._show_warning)
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
    solver = auto_solver(program) if args.solver.lower() == "auto" else args.solver
    _check_fits([solver], program, args)
    verbose = args.verbose or "auto"
    result = _run(program, solver, args, verbose)
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
    """The solvers ``verify`` runs: ``--solvers`` (``all``: every hand-written solver of the program, by the
    registry's capability table), by default ``auto`` (the path ``solver="auto"`` takes, named once the
    program is built); every one checked against the program before any solve starts."""
    if args.solvers is None:
        names = ["auto"]
    elif args.solvers.strip().lower() == "all":
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
    names = list(dict.fromkeys(auto_solver(program) if name == "auto" else name for name in names))
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
