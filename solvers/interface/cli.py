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
import os
import signal
import sys
import threading
import warnings

from formulations.names import FORMULATIONS, LOSS_NAMES

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
    p.add_argument("--loss", default="squared", help=f"one of {', '.join(LOSS_NAMES)} (default squared)")
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
    solve.add_argument("--solver", default="auto",
                       help="auto, clarabel, scs, admm, ... (default auto: the fastest measured path for the "
                            "program, loss and size)")
    solve.add_argument("--save", default=None, metavar="MODEL.npz",
                       help="write the recovered network and its preprocessing (default: none)")
    verify = sub.add_parser("verify", help="compare solvers with the CVXPY oracle on one instance")
    _add_instance_options(verify, default_beta=1.0, default_patterns=50)
    verify.add_argument("--solvers", default=None,
                        help="comma-separated solvers, or all (every hand-written solver of the program); "
                             "default auto (the path solver='auto' takes)")
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
def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings reach the terminal as one line naming their kind (no source path or code line)."""
    text = str(message).splitlines()[0] if str(message) else category.__name__
    print(f"cvxnn: warning: {text}", file=sys.stderr)


class _InterruptRecord:
    """SIGINT's handler while a command runs: it notes the interrupt, then raises KeyboardInterrupt as
    Python's own handler does. An interrupt that lands inside an import can come out as another exception
    (the interpreter can lose the ImportError it was building and raise TypeError instead); the note lets
    :func:`main` report it as the interrupt it was."""

    def __init__(self):
        self.received = False

    def __call__(self, signum, frame):
        self.received = True
        raise KeyboardInterrupt


def _interrupted():
    print("cvxnn: interrupted", file=sys.stderr)
    return 130


def main(argv=None):
    parser = build_parser()
    warnings.showwarning = _show_warning
    interrupt = _InterruptRecord()
    own_handler = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if own_handler:
        signal.signal(signal.SIGINT, interrupt)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        json_stdout = getattr(args, "json", None) == "-" or getattr(args, "out", None) == "-"
        out = sys.stderr if json_stdout else sys.stdout
        if json_stdout and getattr(args, "verbose", False):
            raise UsageError("--verbose cannot be combined with --json - (solver logs would mix with the JSON)")
        from . import commands  # the numerical packages load here, inside the interrupt handling

        return commands.run(args.command, args, out)
    except BrokenPipeError:  # output piped into a command that stopped reading
        return 0
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:  # never a traceback on the terminal
        if interrupt.received:
            return _interrupted()
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        if isinstance(exc, ValueError):  # includes UsageError: bad input, exit 2 with one line
            print(f"cvxnn: error: {first_line or type(exc).__name__}", file=sys.stderr)
            return 2
        print(f"cvxnn: internal error: {type(exc).__name__}: {first_line}", file=sys.stderr)
        return 1
    finally:
        if own_handler and signal.getsignal(signal.SIGINT) is interrupt:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def console():
    """The ``cvxnn`` executable: :func:`main`, and after an interrupt the process ends at once with status
    130 (an import cut short by the interrupt can otherwise fail again while the interpreter shuts down,
    turning the 130 into a death by SIGINT)."""
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
