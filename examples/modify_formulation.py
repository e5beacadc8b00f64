"""Example 5 - modify a formulation: the CVXPY problem is yours to extend.

Every cvxnn program exposes its ``cvxpy.Problem``, variables and parameters. Here we take the sampled
and the gated programs on breast cancer (hinge loss) and

1. add a feature-sparsity penalty ``gamma * sum_j |row j of the first-layer weights|_2`` - a group norm
   over the weights of each input feature, so whole features can leave the network. It works on the
   gated program; on the constrained program the cone constraints ``S_i o (X v_i) >= 0`` pin every
   block to the narrow cone of its activation pattern, and features hardly leave - a property of the
   formulation that this experiment makes visible;
2. require non-negative output weights (``W == 0``): the network becomes a sum of ReLUs with positive
   output weights, a convex function of its input, and the training accuracy shows what that costs.

Each variant is re-solved by the same oracle; the program's own NumPy evaluators report the original
objective, the features in use and the train/test accuracy of the recovered network.

    python examples/modify_formulation.py [--patterns 20] [--gamma 10]
"""
import argparse
import sys

import cvxpy as cp
import numpy as np

from formulations import make_program
from formulations.datasets import breast_cancer


def summarize(name, program, Xte_b, yte, used_tol=1e-4):
    weights = program.current_weights()
    net = program.network(weights)
    first_layer = np.hstack([weights[key] for key in program.variable_names])
    rows = np.linalg.norm(first_layer, axis=1)[:-1]  # bias row excluded
    features = int(np.sum(rows > used_tol * rows.max()))
    train = np.mean(np.sign(net.predict(program.X)) == program.y)
    test = np.mean(np.sign(net.predict(Xte_b)) == yte)
    return (f"| {name} | {program.objective(weights):.4f} | {features} of {program.d - 1} | {net.width} | "
            f"{100 * train:.1f}% | {100 * test:.1f}% |")


def main(argv=None):
    parser = argparse.ArgumentParser(description="extend the sampled program with your own terms")
    parser.add_argument("--patterns", type=int, default=20)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=10.0, help="feature-sparsity strength")
    args = parser.parse_args(argv)
    data = breast_cancer()
    Xtr, Xte, ytr, yte = data.train_test_split(test_size=0.3, seed=0)
    Xte_b = np.hstack([Xte, np.ones((Xte.shape[0], 1))])
    lines = ["| variant | original objective | features used | neurons | train acc | test acc |",
             "|---|---|---|---|---|---|"]
    for formulation in ("sampled", "gated"):
        program = make_program(formulation, Xtr, ytr, "hinge", args.beta, n_patterns=args.patterns, seed=0,
                               bias=True)
        base = program.problem
        base.solve(solver="CLARABEL")
        lines.append(summarize(f"{formulation} program as built", program, Xte_b, yte))

        # 1. feature sparsity: one group per input feature (a row of the first layer), bias row left free
        first_layer = cp.hstack([program.variables[key] for key in program.variable_names])
        feature_norms = cp.norm(first_layer[:-1, :], 2, axis=1)
        sparse = cp.Problem(base.objective + cp.Minimize(args.gamma * cp.sum(feature_norms)), base.constraints)
        sparse.solve(solver="CLARABEL")
        lines.append(summarize(f"{formulation} + feature group norm (gamma={args.gamma:g})", program, Xte_b, yte))

        if formulation == "sampled":
            # 2. non-negative output weights: drop the negative neurons entirely
            positive = cp.Problem(base.objective, base.constraints + [program.W == 0])
            positive.solve(solver="CLARABEL")
            lines.append(summarize("sampled + output weights >= 0 (W = 0)", program, Xte_b, yte))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
