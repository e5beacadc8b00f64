"""Example 3 - verify your own solver against the oracle with the shared battery.

A solver is any function ``solver(program, **options)`` that returns a weights dict or a SolveResult.
Below, in under 50 lines, an accelerated proximal-gradient method (FISTA with restart) for the gated
ReLU program with squared loss (docs/math.md section 5):

    minimize_U  0.5 |sum_i D_i o X u_i - y|^2 + beta sum_i |u_i|_2

gradient step on the smooth loss, then group soft-thresholding of each column u_i at step * beta.
``run_battery`` solves every reference problem with the CVXPY oracle and with this solver, and prints
the gap, the constraint violation and the agreement of the predictions, problem by problem.

    python examples/verify_your_solver.py [--max-iter 5000]
"""
import argparse
import sys

import numpy as np

from solvers import SolveResult
from solvers.battery import reference_problems, run_battery


def proximal_gradient(program, max_iter=5000, tol=1e-10):
    """FISTA with gradient restart for the gated-ReLU program, squared loss."""
    X, D, y, beta = program.X, program.D, program.y, program.beta_value

    def predict(U):                                     # sum_i D_i o X u_i
        return np.sum(D * (X @ U), axis=1)

    def gradient(U):                                    # X^T (D_i o residual), one column per pattern
        return X.T @ (D * (predict(U) - y)[:, None])

    # Lipschitz constant of the gradient: |M|^2 by power iteration on M^T M
    U = np.random.default_rng(0).standard_normal((X.shape[1], D.shape[1]))
    for _ in range(50):
        U = X.T @ (D * predict(U)[:, None])
        U /= np.linalg.norm(U)
    step = 1.0 / (1.01 * np.linalg.norm(predict(U)) ** 2)
    U = Z = np.zeros_like(U)
    t = 1.0
    for iteration in range(1, max_iter + 1):
        G = Z - step * gradient(Z)
        norms = np.maximum(np.linalg.norm(G, axis=0), 1e-300)
        U_new = G * np.maximum(0.0, 1.0 - step * beta / norms)      # group soft-thresholding
        if np.sum((Z - U_new) * (U_new - U)) > 0:                    # restart when momentum hurts
            t = 1.0
        t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        Z = U_new + ((t - 1) / t_new) * (U_new - U)
        change = np.linalg.norm(U_new - U) / max(1.0, np.linalg.norm(U_new))
        U, t = U_new, t_new
        if change < tol:
            break
    status = "optimal" if change < tol else "max_iter"
    return SolveResult(program=program, weights={"U": U}, status=status, solver="proximal_gradient",
                       iterations=iteration)


def main(argv=None):
    parser = argparse.ArgumentParser(description="check a custom solver with the shared battery")
    parser.add_argument("--max-iter", type=int, default=5000)
    parser.add_argument("--gap-tol", type=float, default=1e-5)
    args = parser.parse_args(argv)
    report = run_battery(proximal_gradient, reference_problems("gated", "squared"), name="proximal_gradient",
                         gap_tol=args.gap_tol, max_iter=args.max_iter)
    print(report.table())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
