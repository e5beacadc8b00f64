"""Example 1 - the convex twin finds the global optimum that back-propagation can miss.

On a small 2-D data set (two moons, with a bias feature) the exact convex program uses every activation
pattern of the data, so its optimum is the global minimum of the non-convex training objective
(docs/math.md sections 2-3). We solve it with the CVXPY oracle, recover the ReLU network, then train the same
non-convex objective 50 times by back-propagation (Adam, random initialisations, width n + 1, enough for
the non-convex optimum to equal the convex one)
and compare: no run can end below the convex optimum; many end above it.

Writes ``convex_vs_backprop.png`` (histogram of the 50 final objectives against the optimum, decision
boundaries of the convex network and of the worst back-prop run) into ``--out``.

    python examples/convex_vs_backprop.py [--n 20] [--runs 50] [--out out]
"""
import argparse
import os
import sys

import numpy as np

from formulations import make_program
from formulations.datasets import moons
from solvers import solve_oracle
from solvers.baselines import train_nonconvex


def main(argv=None):
    parser = argparse.ArgumentParser(description="exact convex program vs back-propagation")
    parser.add_argument("--n", type=int, default=20, help="number of points (exact enumeration: keep small)")
    parser.add_argument("--runs", type=int, default=50, help="back-propagation runs")
    parser.add_argument("--beta", type=float, default=0.01)
    parser.add_argument("--loss", default="squared")
    parser.add_argument("--iterations", type=int, default=3000, help="Adam iterations per run")
    parser.add_argument("--out", default="out")
    args = parser.parse_args(argv)

    data = moons(n=args.n, noise=0.15, seed=1)
    program = make_program("exact", data.X, data.y, args.loss, args.beta, bias=True)
    result = solve_oracle(program)
    optimum = result.objective
    net = result.network
    print(f"exact program: {program.n_patterns} patterns (all of them), optimum {optimum:.6f}, "
          f"recovered width {net.width}, NC objective of the recovered network {result.network_objective:.6f}")

    finals = []
    worst = None
    for seed in range(args.runs):
        run = train_nonconvex(program.X, program.y, args.loss, args.beta, width=program.n + 1,
                              method="adam", seed=seed, max_iter=args.iterations, lr=1e-2)
        finals.append(run.objective)
        if worst is None or run.objective > worst.objective:
            worst = run
    finals = np.array(finals)
    excess = (finals - optimum) / optimum
    below = int(np.sum(finals < optimum * (1 - 1e-6)))
    print(f"{args.runs} back-prop runs: best {finals.min():.6f}, median {np.median(finals):.6f}, "
          f"worst {finals.max():.6f}; runs within 1% of the optimum: {int(np.sum(excess <= 0.01))}; "
          f"runs below it: {below}")
    if below:
        print("ERROR: a local run went below the global optimum", file=sys.stderr)
        return 1

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    axes[0].hist(finals, bins=20, color="tab:gray")
    axes[0].axvline(optimum, color="tab:red", lw=2, label="convex optimum (global)")
    axes[0].set_xlabel("final non-convex objective")
    axes[0].set_ylabel("back-prop runs")
    axes[0].set_title(f"{args.runs} Adam runs vs the exact convex program")
    axes[0].legend()
    lo, hi = data.X.min(axis=0) - 0.5, data.X.max(axis=0) + 0.5
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = np.column_stack([g1.ravel(), g2.ravel(), np.ones(g1.size)])
    for ax, model, title in ((axes[1], net, f"convex: objective {optimum:.4f}"),
                             (axes[2], worst.network, f"worst back-prop run: objective {worst.objective:.4f}")):
        z = model.predict(grid).reshape(g1.shape)
        ax.contourf(g1, g2, z, levels=[-np.inf, 0, np.inf], colors=["#c2d4f4", "#f4c2c2"], alpha=0.8)
        ax.contour(g1, g2, z, levels=[0], colors="k", linewidths=1)
        ax.scatter(data.X[:, 0], data.X[:, 1], c=data.y, cmap="coolwarm", edgecolors="k", s=30)
        ax.set_title(title)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "convex_vs_backprop.png")
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
