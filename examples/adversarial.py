"""Example - robust convex training vs PGD adversarial training of the non-convex network.

For each data set (breast cancer; digits 0-4 vs 5-9) and each l_inf radius eps of a grid (standardised
feature units; the bias column is never perturbed), with the same pattern / width budget:

(a) standard convex training: the sampled program (docs/math.md section 4), hinge loss, bias, Clarabel;
    it does not depend on eps, so it is solved once and attacked at every eps;
(b) robust convex training: ``make_program("robust", ..., epsilon=eps, bias=True)`` on the SAME sampled
    patterns, Clarabel (docs/math.md section 7); at eps = 0 it is the program of (a), whose solution is reused;
(c) PGD adversarial training of the non-convex network by back-propagation
    (:func:`solvers.baselines.adversarial.train_adversarial`, Adam, full batch) with width 2P - the
    largest width a P-pattern convex program can produce - and the same beta; at eps = 0 this is standard
    training.

Reported per (data set, eps, method): recovered / trained width, the adversarial training objective on
the training split (exact optimum for (b); PGD estimate - a lower bound - for (a) and (c)), clean test
accuracy, PGD-robust test accuracy (:func:`solvers.baselines.attacks.robust_accuracy`), the share of test
points certified by stability (:func:`solvers.baselines.adversarial.stable_certificates`, sound for any
network) and, for (b), the share of certified TRAINING points (``RobustReLUProgram.certificates``).

Data: the bundled standardised sets; a random training subsample of ``--train`` rows (the robust program
has n x d' l1 terms and 2 n P robust cone rows, so Clarabel's cost grows quickly), every remaining row is
the test split. Writes ``adversarial.md`` (table) and ``adversarial.png`` (PGD-robust test accuracy vs
eps, one line per method) into ``--out``.

    python examples/adversarial.py [--quick] [--out DIR]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from formulations import add_bias_column, make_program, sample_patterns  # noqa: E402
from formulations.datasets import breast_cancer, digits_binary  # noqa: E402
from solvers import SolveResult, solve_oracle  # noqa: E402
from solvers.baselines import adversarial_objective, evaluate_robustness, train_adversarial  # noqa: E402

DATASETS = {"breast_cancer": breast_cancer, "digits": digits_binary}
METHODS = ("(a) convex standard", "(b) convex robust", "(c) NC PGD adv. training")


def parse(argv):
    parser = argparse.ArgumentParser(description="robust convex training vs PGD adversarial training")
    parser.add_argument("--quick", action="store_true", help="small configuration (< 60 s)")
    parser.add_argument("--out", default="out")
    parser.add_argument("--datasets", default="breast_cancer,digits")
    parser.add_argument("--eps", default=None, help="comma-separated radii (default 0,0.02,0.05,0.1)")
    parser.add_argument("--train", type=int, default=None, help="training rows per data set (default 150)")
    parser.add_argument("--patterns", type=int, default=None, help="sampled directions P (default 20)")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--iterations", type=int, default=None, help="Adam epochs of (c) (default 400)")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--train-steps", type=int, default=10, help="PGD steps inside adversarial training")
    parser.add_argument("--eval-steps", type=int, default=None, help="PGD steps of the test attack (default 40)")
    parser.add_argument("--eval-restarts", type=int, default=None, help="PGD restarts of the test attack (5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    quick = {"eps": "0,0.05,0.1", "train": 50, "patterns": 8, "iterations": 150, "eval_steps": 20,
             "eval_restarts": 2}
    full = {"eps": "0,0.02,0.05,0.1", "train": 150, "patterns": 20, "iterations": 400, "eval_steps": 40,
            "eval_restarts": 5}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.eps = [float(e) for e in args.eps.split(",")]
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for name in args.datasets:
        if name not in DATASETS:
            parser.error(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if any(e < 0 for e in args.eps) or args.train < 4 or args.patterns < 1 or args.beta <= 0:
        parser.error("need eps >= 0, --train >= 4, --patterns >= 1, --beta > 0")
    return args


def split(ds, n_train, seed):
    """Random training subsample of n_train rows; every other row is the test split (no bias column).
    Features are standardised with statistics of the training rows only (Dataset.train_test_split)."""
    if n_train >= ds.n:
        raise ValueError(f"--train {n_train} leaves no test rows ({ds.name} has {ds.n})")
    X_tr, X_te, y_tr, y_te = ds.train_test_split(test_size=(ds.n - n_train) / ds.n, seed=seed)
    return X_tr, y_tr, X_te, y_te


def run_dataset(name, args, log):
    ds = DATASETS[name]()
    Xraw, ytr, Xte_raw, yte = split(ds, args.train, args.seed)
    Xtr, Xte = add_bias_column(Xraw), add_bias_column(Xte_raw)  # the programs append it themselves
    D, _ = sample_patterns(Xtr, args.patterns, seed=args.seed)
    P = D.shape[1]
    width_nc = 2 * P
    attack = {"steps": args.eval_steps, "restarts": args.eval_restarts, "seed": args.seed}
    log(f"{name}: {Xtr.shape[0]} training rows (subsample), {Xte.shape[0]} test rows, d = {Xtr.shape[1]} "
        f"(with bias), P = {P} sampled patterns, beta = {args.beta}")

    t0 = time.perf_counter()
    std = solve_oracle(make_program("sampled", Xraw, ytr, "hinge", args.beta, D=D, bias=True))
    t_std = time.perf_counter() - t0
    robust_prog = make_program("robust", Xraw, ytr, "hinge", args.beta, D=D, epsilon=0.0, bias=True)
    assert np.array_equal(robust_prog.X, Xtr) and np.array_equal(std.program.X, Xtr)
    log(f"  (a) sampled program: {std.status}, objective {std.objective:.4f}, width {std.network.width}, "
        f"{t_std:.1f} s")
    rows = []
    for eps in args.eps:
        # (a) standard convex training, attacked at eps
        rep = evaluate_robustness(std.network, Xte, yte, eps, bias=True, **attack)
        obj = adversarial_objective(std.network, Xtr, ytr, "hinge", args.beta, eps, bias=True, **attack)
        rows.append(dict(dataset=name, eps=eps, method=METHODS[0], width=std.network.width, train_obj=obj,
                         report=rep, certified_train=None, time_s=t_std, note=std.status))
        # (b) robust convex training
        robust_prog.set_epsilon(eps)
        t0 = time.perf_counter()
        if eps == 0.0:  # the robust program at eps = 0 is the sampled program of (a): reuse its solution
            rob = SolveResult(program=robust_prog, weights=std.weights, status=std.status, solver=std.solver)
            t_rob, note = t_std, f"{std.status}; = (a)"
        else:
            rob = solve_oracle(robust_prog)
            t_rob, note = time.perf_counter() - t0, rob.status
        if rob.weights is None:
            log(f"  (b) eps={eps}: no solution ({rob.status})")
        else:
            net = rob.network
            scale = float(np.max(np.abs(net.predict(Xtr)), initial=0.0))
            if scale < 1e-4:
                note += (f"; COLLAPSED to f ~ 0 (max|f(x_train)| = {scale:.0e}, objective = n): its accuracies "
                         f"and certificates come from solver noise")
            rep = evaluate_robustness(net, Xte, yte, eps, bias=True, result=rob, **attack)
            rows.append(dict(dataset=name, eps=eps, method=METHODS[1], width=net.width, train_obj=rob.objective,
                             report=rep, certified_train=rep.certified_share, time_s=t_rob, note=note))
            log(f"  (b) eps={eps}: {rob.status}, robust optimum {rob.objective:.4f}, width {net.width}, "
                f"{t_rob:.1f} s")
        # (c) PGD adversarial training of the non-convex network
        run = train_adversarial(Xtr, ytr, "hinge", args.beta, eps, width=width_nc, bias=True, method="adam",
                                seed=args.seed, max_iter=args.iterations, lr=args.lr, steps=args.train_steps,
                                restarts=1)
        rep = evaluate_robustness(run.network, Xte, yte, eps, bias=True, **attack)
        obj = adversarial_objective(run.network, Xtr, ytr, "hinge", args.beta, eps, bias=True, **attack)
        rows.append(dict(dataset=name, eps=eps, method=METHODS[2], width=run.network.width, train_obj=obj,
                         report=rep, certified_train=None, time_s=run.time_s, note=run.status))
        log(f"  (c) eps={eps}: {run.status} after {run.iterations} epochs, PGD adversarial objective "
            f"{obj:.4f} (history {run.history[0]:.1f} -> {run.history[-1]:.4f}), {run.time_s:.1f} s")
    return rows, dict(name=name, n_train=Xtr.shape[0], n_test=Xte.shape[0], d=Xtr.shape[1], P=P)


def table(rows):
    head = ("| data | eps | method | width | adv. train objective (b exact; a, c PGD) | clean test acc | "
            "PGD test acc | certified test (stability) | certified train (b) | time s | status / note |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        rep = r["report"]
        cert = "-" if r["certified_train"] is None else f"{r['certified_train']:.3f}"
        lines.append(f"| {r['dataset']} | {r['eps']:g} | {r['method']} | {r['width']} | {r['train_obj']:.4f} | "
                     f"{rep.clean_accuracy:.3f} | {rep.robust_accuracy:.3f} | {rep.stable_certified:.3f} | "
                     f"{cert} | {r['time_s']:.1f} | {r['note']} |")
    return "\n".join(lines)


def plot(rows, datasets, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.2), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        for method, marker in zip(METHODS, "osd"):
            pts = sorted((r["eps"], r["report"].robust_accuracy, r["report"].clean_accuracy,
                          "COLLAPSED" in r["note"]) for r in rows if r["dataset"] == name and r["method"] == method)
            if not pts:
                continue
            eps, robust, clean, collapsed = map(np.array, zip(*pts))
            line, = ax.plot(eps, robust, marker=marker, label=f"{method}: PGD-robust")
            ax.plot(eps, clean, marker=marker, ls=":", alpha=0.5, color=line.get_color(), label=f"{method}: clean")
            for e, r in zip(eps[collapsed], robust[collapsed]):
                ax.annotate("f ~ 0", (e, r), textcoords="offset points", xytext=(-28, -12), fontsize=8,
                            color=line.get_color())
        ax.set_xlabel("eps (l_inf, standardised units)")
        ax.set_ylabel("test accuracy")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse(argv)

    def log(msg):
        print(msg, flush=True)

    start = time.perf_counter()
    rows, infos = [], []
    for name in args.datasets:
        r, info = run_dataset(name, args, log)
        rows += r
        infos.append(info)
    text = table(rows)
    settings = "\n".join(
        [f"* {i['name']}: {i['n_train']} training rows (random subsample, seed {args.seed}), {i['n_test']} test rows "
         f"(all others), d = {i['d']} with bias, P = {i['P']} sampled patterns (from {args.patterns} directions)"
         for i in infos]
        + [f"* hinge loss, beta = {args.beta}, eps grid {args.eps} (standardised units, bias never perturbed)",
           f"* (c): width 2P, Adam lr {args.lr}, {args.iterations} full-batch epochs, PGD {args.train_steps} steps, "
           f"1 restart in training",
           f"* test attack: PGD {args.eval_steps} steps, {args.eval_restarts} restarts, step 2.5 eps / steps, "
           f"seed {args.seed}",
           f"* total time {time.perf_counter() - start:.0f} s"])
    os.makedirs(args.out, exist_ok=True)
    md = os.path.join(args.out, "adversarial.md")
    with open(md, "w") as fh:
        fh.write("# Robust convex training vs PGD adversarial training\n\n" + settings + "\n\n" + text + "\n")
    png = os.path.join(args.out, "adversarial.png")
    plot(rows, args.datasets, png)
    print()
    print(settings)
    print()
    print(text)
    print(f"\nwrote {md} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
