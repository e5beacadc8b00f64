"""Example 2 - how good is a sampled program? Objective vs number of sampled patterns, with the
global-optimality certificate (docs/math.md section 4).

On a small problem whose activation patterns can all be enumerated (2 features + bias), the exact
program gives the global optimum. Sampled programs on nested samples of P_s Gaussian directions are
restrictions: their optimum is an upper bound that decreases towards the exact one as P_s grows. For each
sampled solution the certificate draws K fresh random patterns and measures the dual constraint
max_{w in cone, |w| <= 1} |lambda^T (D o X w)| against beta: the share of improving patterns (with a
Clopper-Pearson upper bound) says how likely one more random pattern is to help. Bai et al.'s bound
P_s >= (2 / psi) (n - 1 + ln(1 / xi)) is printed for comparison. Finally column generation adds
improving patterns until none is found and lands on the exact optimum.

Writes ``sampling_quality.png`` into ``--out``.

    python examples/sampling_quality.py [--n 16] [--out out]
"""
import argparse
import os
import sys

import numpy as np

from formulations import make_program
from solvers import column_generation, optimality_certificate, solve_oracle


def main(argv=None):
    parser = argparse.ArgumentParser(description="sampled optimum and certificate vs number of patterns")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--samples", type=int, nargs="+", default=[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    parser.add_argument("--fresh", type=int, default=1000, help="fresh patterns drawn by the certificate")
    parser.add_argument("--out", default="out")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, 2))
    y = np.maximum(0.0, X @ np.array([1.0, -0.5])) - np.maximum(0.0, X @ np.array([-0.3, 1.0])) \
        + 0.1 * rng.standard_normal(args.n)
    exact = make_program("exact", X, y, "squared", args.beta, bias=True)
    optimum = solve_oracle(exact).objective
    print(f"exact program: {exact.n_patterns} patterns, optimum {optimum:.8f}")

    rows = []
    print(f"{'P_s':>5} {'patterns':>8} {'objective':>12} {'rel gap':>9} {'max dual/beta':>13} "
          f"{'improving share':>15} {'95% upper':>9}")
    for n_dirs in args.samples:
        program = make_program("sampled", X, y, "squared", args.beta, n_patterns=n_dirs, seed=1, bias=True)
        result = solve_oracle(program)
        cert = optimality_certificate(program, result, n_samples=args.fresh, seed=2)
        gap = (result.objective - optimum) / optimum
        rows.append((n_dirs, program.n_patterns, result.objective, gap, cert.max_value / cert.beta,
                     cert.improving_share, cert.share_upper_bound))
        print(f"{n_dirs:>5} {program.n_patterns:>8} {result.objective:>12.8f} {gap:>9.2e} "
              f"{cert.max_value / cert.beta:>13.4f} {cert.improving_share:>15.3f} {cert.share_upper_bound:>9.3f}")
    psi, xi = 0.05, 0.05
    bound = 2 / psi * (args.n - 1 + np.log(1 / xi))
    print(f"Bai et al.: P_s >= {bound:.0f} makes a fresh pattern improve with probability <= {psi} "
          f"(confidence {1 - xi})")

    cg = column_generation(X, y, "squared", args.beta, initial_patterns=4, n_candidates=200, seed=3, bias=True)
    cg_gap = (cg.objective - optimum) / optimum
    print(f"column generation: {cg.rounds} rounds, {cg.program.n_patterns} patterns, objective "
          f"{cg.objective:.8f} (rel gap {cg_gap:.1e}), converged={cg.converged}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    data = np.array(rows, dtype=float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.loglog(data[:, 0], np.maximum(data[:, 3], 1e-12), "o-", label="sampled program")
    ax1.axhline(max(abs(cg_gap), 1e-12), color="tab:green", ls="--", label="column generation")
    ax1.set_xlabel("sampled directions P_s")
    ax1.set_ylabel("(sampled optimum - exact) / exact")
    ax1.set_title(f"n={args.n}: {exact.n_patterns} patterns in all")
    ax1.legend()
    ax2.semilogx(data[:, 0], data[:, 5], "o-", label="share of improving fresh patterns")
    ax2.semilogx(data[:, 0], data[:, 6], "v--", label="95% upper bound")
    ax2.axvline(bound, color="k", ls=":", label=f"Bai et al. bound (psi={psi}, xi={xi})")
    ax2.set_xlabel("sampled directions P_s")
    ax2.set_ylabel("share")
    ax2.set_title("global-optimality certificate")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "sampling_quality.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")
    return 0 if np.all(data[:, 3] >= -1e-6) else 1


if __name__ == "__main__":
    sys.exit(main())
