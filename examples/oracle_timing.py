"""Compile time vs solve time of the sampled program on breast cancer, Clarabel vs SCS.

For each number of sampled directions P the sampled program (squared loss) is built once per solver,
solved, then re-solved for a new beta: the second compile time shows the DPP re-use of the compiled
problem. Writes a markdown table (``--out DIR``, default ``out/``).

    python examples/oracle_timing.py [--patterns 50 100 200] [--loss squared] [--scs-eps 1e-6] [--quick]

``--quick`` runs one small configuration (80 rows, 5 directions) in a few seconds.
"""
import argparse
import os
import sys

from formulations import make_program
from formulations.datasets import breast_cancer
from solvers import solve_oracle


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--loss", default="squared")
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--scs-eps", type=float, default=1e-6, help="SCS eps_abs = eps_rel (default 1e-6)")
    parser.add_argument("--rows", type=int, default=None, help="use only the first ROWS samples (quick runs)")
    parser.add_argument("--out", default="out")
    parser.add_argument("--quick", action="store_true", help="80 rows and 5 directions: a few seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.patterns, args.rows = [5], 80
    data = breast_cancer()
    X, y = data.X[: args.rows], data.y[: args.rows]
    lines = [f"# Oracle timing: sampled program, {args.loss} loss, beta={args.beta:g}, breast cancer "
             f"(n={X.shape[0]}, d={X.shape[1]})", "",
             "| P (directions) | patterns | solver | status | objective | compile s | solve s | iterations "
             "| re-solve compile s (new beta) |", "|---|---|---|---|---|---|---|---|---|"]
    for P in args.patterns:
        for solver, opts in (("clarabel", {}), ("scs", {"eps_abs": args.scs_eps, "eps_rel": args.scs_eps})):
            program = make_program("sampled", X, y, args.loss, args.beta, n_patterns=P, seed=0)
            first = solve_oracle(program, solver, fallback=None, **opts)
            program.set_beta(2 * args.beta)
            second = solve_oracle(program, solver, fallback=None, **opts)
            row = (f"| {P} | {program.n_patterns} | {solver} | {first.status} | {first.objective:.8g} | "
                   f"{first.compile_time_s:.3f} | {first.solve_time_s:.2f} | {first.iterations} | "
                   f"{second.compile_time_s:.3f} |")
            lines.append(row)
            print(row, file=sys.stderr, flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "oracle_timing.md")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
