"""Example - convex robust training against PGD adversarial training of the non-convex network.

For each data set (breast cancer; digits 0-4 vs 5-9) and each l_inf radius eps of a grid (standardised
feature units; the bias column is never perturbed), with the same pattern / width budget P:

(a)  standard convex training: the sampled program (docs/math.md section 4) on P Gaussian patterns, hinge
     loss, bias; it does not depend on eps, so it is solved once and attacked at every eps;
(b)  convex robust training (docs/math.md section 7) on the SAME Gaussian patterns: most of their robust
     cones are {0} at a moderate eps (their hyperplanes cut through the data), and those blocks are forced
     to zero;
(b') convex robust training on P eps-aware patterns
     (:func:`formulations.robust_patterns.sample_robust_patterns`, ``method="margin"``): every one of them
     has a nonzero robust cone at eps, and its direction H is kept as the gate;
(c)  PGD adversarial training of the non-convex network by back-propagation
     (:func:`solvers.baselines.adversarial.train_adversarial`, Adam, full batch) with width 2P - the
     largest width a P-pattern convex program can produce - and the same beta;
(d)  the robust gated program (``make_program("robust_gated", ...)``, docs/math.md section 7) on the
     Gaussian patterns of (a) with their directions as gates: the gates are held at the clean points and
     only the linear part is robustified, so no cone collapses; its optimum is the adversarial loss of the
     fixed-gate model only. The recovered gated network's gates do move with the input, and it is judged
     like every other network: by PGD and the exact MILP on test points.

``--methods`` runs a subset (e.g. ``--methods d``); the data, patterns and seeds do not depend on it, so
rows of separate runs belong to one table.

The convex programs are solved by ``solvers.registry.solve(program, --solver)`` (``auto`` picks the
hand-written solver for the program; the table names the solver that answered).

Reported per (data set, eps, method), all on held-out TEST points: clean accuracy; PGD robust accuracy
(40 signed-gradient steps, restarts alternating uniform and box-vertex starts - vertex starts leave the
flat all-off regions of robust networks where uniform starts stall); the EXACT robust accuracy by one
MILP per undecided point (:func:`solvers.baselines.exact_robustness.exact_robust_accuracy`: PGD flips and
interval certificates first, the MILP for the rest, each with a time limit), reported as the interval
[robust share, (robust + undecided) share] with the undecided count; the share certified by sound
stability certificates (:func:`solvers.baselines.adversarial.stable_certificates`); surviving patterns
(nonzero robust cones at eps) for (b) and (b'); the width of the network; the training time; and the
training objective: the robust optimum for (b) and (b') (the exact adversarial training objective of
their networks, an upper bound on the adversarial training optimum) and, for (c), its adversarial
objective bracketed by PGD (a lower bound) and by the MILP's proven bounds on each training point's worst
margin (an upper bound) - so "robust optimum > (c)'s upper bound" is a measured looseness of the convex
restriction, not an attack artefact.

Data handling: the raw features are split at random into a training split (75%) and held-out rows; they
are standardised with the mean and standard deviation of the FULL training split (not of the training
subsample), and columns that are constant on the training split are dropped: the model cannot use them,
so they are left out of the perturbation as well (otherwise eps would move a pixel the network never saw,
and a rare nonzero test value of such a column would be a huge standardised number). The convex programs
and (c) train on a random subsample of ``--train`` rows of the training split (the robust program has
n x d' l1 terms and 2 n P cone rows, so the solvers' cost grows quickly with n); the test points are
at most ``--test`` random held-out rows (the MILP costs up to ``--milp-point-time`` seconds per point).

Writes ``adversarial.md`` (table) and ``adversarial.png`` (exact robust test accuracy against eps, one
line per method, one panel per data set; the bars span the undecided points) into ``--out``.

    python examples/adversarial.py [--quick] [--out DIR]
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from formulations import add_bias_column, make_program, sample_patterns  # noqa: E402
from formulations.datasets import breast_cancer, digits_binary, standardize  # noqa: E402
from formulations.robust import CollapsedConesWarning  # noqa: E402
from formulations.robust_patterns import FewSurvivingPatternsWarning, sample_robust_patterns  # noqa: E402
from solvers.baselines import adversarial_objective, evaluate_robustness, train_adversarial  # noqa: E402
from solvers.baselines.attacks import robust_accuracy  # noqa: E402
from solvers.baselines.exact_robustness import exact_worst_margins  # noqa: E402
from solvers.registry import solve  # noqa: E402
from solvers.result import CollapsedNetworkWarning  # noqa: E402

DATASETS = {"breast_cancer": breast_cancer, "digits": digits_binary}
METHODS = ("(a) convex standard", "(b) convex robust, Gaussian patterns", "(b') convex robust, eps-aware patterns",
           "(c) NC PGD adv. training", "(d) convex robust, fixed gates")
#: the letters of --methods, in the order of METHODS
METHOD_KEYS = ("a", "b", "b'", "c", "d")
#: share of the rows that form the training split (standardisation statistics, training subsample)
TRAIN_SHARE = 0.75


def parse(argv):
    parser = argparse.ArgumentParser(description="convex robust training vs PGD adversarial training")
    parser.add_argument("--quick", action="store_true", help="small configuration (about 20 s)")
    parser.add_argument("--out", default="out")
    parser.add_argument("--datasets", default="breast_cancer,digits")
    parser.add_argument("--eps", default=None, help="comma-separated radii (default 0.01,0.02,0.05,0.1)")
    parser.add_argument("--train", type=int, default=None, help="training rows per data set (default 300)")
    parser.add_argument("--test", type=int, default=None, help="most held-out test rows evaluated (default 200)")
    parser.add_argument("--patterns", type=int, default=None, help="sampled patterns P (default 20)")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--solver", default="auto", help="solver of the convex programs (default auto)")
    parser.add_argument("--iterations", type=int, default=None, help="Adam epochs of (c) (default 400)")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--train-steps", type=int, default=10, help="PGD steps inside adversarial training")
    parser.add_argument("--eval-steps", type=int, default=None, help="PGD steps of the test attack (default 40)")
    parser.add_argument("--eval-restarts", type=int, default=None, help="PGD restarts of the test attack (6)")
    parser.add_argument("--milp-point-time", type=float, default=None,
                        help="MILP seconds per undecided point (default 5)")
    parser.add_argument("--milp-total-time", type=float, default=None,
                        help="MILP seconds per (method, eps) evaluation (default 120)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHOD_KEYS),
                        help="comma-separated subset of a,b,b',c,d (default all)")
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHOD_KEYS]
    if unknown or not args.methods:
        parser.error(f"--methods takes a comma-separated subset of {', '.join(METHOD_KEYS)}; got {unknown or 'none'}")
    quick = {"eps": "0.05", "train": 40, "test": 30, "patterns": 4, "iterations": 60, "eval_steps": 8,
             "eval_restarts": 2, "milp_point_time": 0.3, "milp_total_time": 2.0}
    full = {"eps": "0.01,0.02,0.05,0.1", "train": 300, "test": 200, "patterns": 20, "iterations": 400,
            "eval_steps": 40, "eval_restarts": 6, "milp_point_time": 5.0, "milp_total_time": 120.0}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.eps = [float(e) for e in args.eps.split(",")]
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for name in args.datasets:
        if name not in DATASETS:
            parser.error(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if any(e < 0 for e in args.eps) or args.train < 4 or args.test < 1 or args.patterns < 1 or args.beta <= 0:
        parser.error("need eps >= 0, --train >= 4, --test >= 1, --patterns >= 1, --beta > 0")
    if args.milp_point_time <= 0 or args.milp_total_time <= 0:
        parser.error("need --milp-point-time > 0 and --milp-total-time > 0")
    return args


def prepare(ds, n_train, n_test, seed):
    """Training subsample and test points of a data set, in the units the models see.

    The raw rows are split at random into a training split (TRAIN_SHARE) and held-out rows; statistics of
    the whole training split standardise both; columns constant on the training split are dropped (the
    model cannot use them, so they are not perturbed either). Returns (X_train, y_train, X_test, y_test,
    info) without the bias column: n_train random rows of the training split and min(n_test, held-out)
    random held-out rows."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(ds.n)
    n_split = int(round(TRAIN_SHARE * ds.n))
    train_split, held_out = order[:n_split], order[n_split:]
    if n_train > train_split.size:
        raise ValueError(f"{ds.name}: --train {n_train} exceeds the training split ({train_split.size} rows)")
    n_test = min(n_test, held_out.size)
    raw = ds.raw_X if ds.raw_X is not None else ds.X
    varying = np.ptp(raw[train_split], axis=0) > 0
    _, mean, scale = standardize(raw[train_split][:, varying])
    train, test = train_split[:n_train], held_out[:n_test]  # both already in random order
    X_train = (raw[train][:, varying] - mean) / scale
    X_test = (raw[test][:, varying] - mean) / scale
    info = dict(name=ds.name, n_split=int(train_split.size), n_held_out=int(held_out.size),
                dropped=int(np.count_nonzero(~varying)), d=int(np.count_nonzero(varying)),
                test_range=float(np.abs(X_test).max()), n_train=n_train, n_test=n_test)
    return X_train, ds.y[train].copy(), X_test, ds.y[test].copy(), info


def solve_convex(program, solver):
    """Solve one convex program with the named solver; returns (result, seconds)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapsedConesWarning)  # reported as the surviving-pattern count
        warnings.simplefilter("ignore", CollapsedNetworkWarning)  # reported as "zero network" in the table
        result = solve(program, solver)
    return result, time.perf_counter() - t0


def evaluate(net, Xte, yte, eps, args):
    """Clean, PGD (uniform and vertex starts) and exact robust test accuracy, and stability certificates."""
    attack = {"steps": args.eval_steps, "restarts": args.eval_restarts, "seed": args.seed}
    report = evaluate_robustness(net, Xte, yte, eps, bias=True, exact=True, exact_time_limit=args.milp_point_time,
                                 exact_total_time=args.milp_total_time, **attack)
    pgd_both = robust_accuracy(net, Xte, yte, eps, bias=True, starts="both", **attack)
    return report, pgd_both


def adversarial_bracket(net, Xtr, ytr, eps, args):
    r"""(PGD lower bound, proven upper bound) on the hinge adversarial training objective of ``net``:
    PGD with uniform and vertex starts from below; from above, :math:`\sum_k \max(0, 1 - m_k)` with
    :math:`m_k` HiGHS's proven lower bound on the worst margin of training point k (exact when the MILP
    is solved within the per-point time limit) plus (beta/2)(|U|^2 + |alpha|^2)."""
    low = adversarial_objective(net, Xtr, ytr, "hinge", args.beta, eps, bias=True, steps=args.eval_steps,
                                restarts=args.eval_restarts, seed=args.seed)
    _, margin_bound, _ = exact_worst_margins(net, Xtr, ytr, eps, bias=True, time_limit=args.milp_point_time)
    regularizer = 0.5 * args.beta * (np.sum(net.U ** 2) + np.sum(net.alpha ** 2))
    return low, float(np.sum(np.maximum(0.0, 1.0 - margin_bound)) + regularizer)


def row(name, eps, method, net, report, pgd_both, seconds, solver, objective, surviving=None, note=""):
    return dict(dataset=name, eps=eps, method=method, width=net.width, report=report, pgd=pgd_both,
                time_s=seconds, solver=solver, objective=objective, surviving=surviving, note=note)


def run_dataset(name, args, log):
    Xraw, ytr, Xte_raw, yte, info = prepare(DATASETS[name](), args.train, args.test, args.seed)
    Xtr, Xte = add_bias_column(Xraw), add_bias_column(Xte_raw)  # the programs append it themselves
    D, H = sample_patterns(Xtr, args.patterns, seed=args.seed)
    run = set(args.methods)
    P = D.shape[1]
    info["P"] = P
    log(f"{name}: {info['n_train']} training rows (of a {info['n_split']}-row training split), {info['n_test']} "
        f"test rows (of {info['n_held_out']} held out), d = {info['d']} + bias ({info['dropped']} constant "
        f"columns dropped), P = {P}, beta = {args.beta}")

    if "a" in run:
        std, t_std = solve_convex(make_program("sampled", Xraw, ytr, "hinge", args.beta, D=D, bias=True),
                                  args.solver)
        assert np.array_equal(std.program.X, Xtr)
        log(f"  (a) {std.solver}: {std.status}, objective {std.objective:.4f}, width {std.network.width}, "
            f"{t_std:.1f} s")
    rows = []
    for eps in args.eps:
        t_eps = time.perf_counter()
        if "a" in run:
            report, pgd_both = evaluate(std.network, Xte, yte, eps, args)
            rows.append(row(name, eps, METHODS[0], std.network, report, pgd_both, t_std, std.solver,
                            std.objective, note=std.status))
        if "d" in run:
            rows += fixed_gate_rows(name, Xraw, ytr, Xte, yte, D, H, eps, args, log)
        # (b) robust program on the Gaussian patterns; (b') on eps-aware patterns of the same number
        programs = []
        if "b" in run:
            programs.append((METHODS[1], make_program("robust", Xraw, ytr, "hinge", args.beta, D=D, epsilon=eps,
                                                      bias=True), ""))
        if "b'" in run:
            programs += eps_aware_program(Xraw, Xtr, ytr, P, eps, args, log)
        for method, program, note in programs:
            surviving = program.surviving_patterns()
            result, seconds = solve_convex(program, args.solver)
            if result.weights is None:
                log(f"  {method} eps={eps}: no solution ({result.status})")
                continue
            net = result.network
            if float(np.max(np.abs(net.predict(Xtr)), initial=0.0)) < 1e-6:
                note = "; ".join(filter(None, [note, "zero network (every cone {0} or beta too large)"]))
            report, pgd_both = evaluate(net, Xte, yte, eps, args)
            rows.append(row(name, eps, method, net, report, pgd_both, seconds, result.solver, result.objective,
                            surviving=(surviving, program.n_patterns),
                            note="; ".join(filter(None, [result.status, note]))))
            log(f"  {method} eps={eps}: {result.solver} {result.status}, robust optimum {result.objective:.4f}, "
                f"{surviving}/{program.n_patterns} cones survive, width {net.width}, {seconds:.1f} s")
        if "c" not in run:
            continue
        # (c) PGD adversarial training of the non-convex network
        trained = train_adversarial(Xtr, ytr, "hinge", args.beta, eps, width=2 * P, bias=True, method="adam",
                                seed=args.seed, max_iter=args.iterations, lr=args.lr, steps=args.train_steps,
                                restarts=1)
        report, pgd_both = evaluate(trained.network, Xte, yte, eps, args)
        low, high = adversarial_bracket(trained.network, Xtr, ytr, eps, args)
        rows.append(row(name, eps, METHODS[3], trained.network, report, pgd_both, trained.time_s, "adam",
                        (low, high), note=trained.status))
        log(f"  (c) eps={eps}: {trained.status} after {trained.iterations} epochs, adversarial objective in "
            f"[{low:.4f}, {high:.4f}], {trained.time_s:.1f} s; eps done in {time.perf_counter() - t_eps:.0f} s")
    rows.sort(key=lambda r: (args.eps.index(r["eps"]), METHODS.index(r["method"])))
    return rows, info


def eps_aware_program(Xraw, Xtr, ytr, P, eps, args, log):
    """(b'): the robust program on P eps-aware patterns, with the sampler's warning as its note; none when
    no pattern survives eps."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FewSurvivingPatternsWarning)
        try:
            D_eps, H_eps = sample_robust_patterns(Xtr, P, eps, bias=True, seed=args.seed)
        except ValueError as err:
            log(f"  (b') eps={eps}: {err}")
            return []
    few = "; ".join(str(w.message) for w in caught if issubclass(w.category, FewSurvivingPatternsWarning))
    program = make_program("robust", Xraw, ytr, "hinge", args.beta, D=D_eps, H=H_eps, epsilon=eps, bias=True)
    return [(METHODS[2], program, few)]


def fixed_gate_rows(name, Xraw, ytr, Xte, yte, D, H, eps, args, log):
    """(d): the robust gated program on the Gaussian patterns, gates H, and its recovered gated network."""
    program = make_program("robust_gated", Xraw, ytr, "hinge", args.beta, D=D, H=H, epsilon=eps, bias=True)
    result, seconds = solve_convex(program, args.solver)
    if result.weights is None:
        log(f"  (d) eps={eps}: no solution ({result.status})")
        return []
    net = result.network
    report, pgd_both = evaluate(net, Xte, yte, eps, args)
    log(f"  (d) eps={eps}: {result.solver} {result.status}, fixed-gate robust optimum {result.objective:.4f}, "
        f"width {net.width}, {seconds:.1f} s")
    return [row(name, eps, METHODS[4], net, report, pgd_both, seconds, result.solver, result.objective,
                note=result.status)]


def _objective(value):
    if isinstance(value, tuple):
        return f"[{value[0]:.2f}, {value[1]:.2f}]"
    return f"{value:.2f}"


def table(rows):
    head = ("| data | eps | method | clean test | PGD test (uniform + vertex starts) | EXACT robust test "
            "[lower, upper] (undecided) | certified test (stability) | surviving patterns | width | "
            "train objective (robust optimum; c: adversarial, [PGD, MILP bound]) | time s | solver | status / note |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        rep = r["report"]
        surviving = "-" if r["surviving"] is None else f"{r['surviving'][0]}/{r['surviving'][1]}"
        lines.append(f"| {r['dataset']} | {r['eps']:g} | {r['method']} | {rep.clean_accuracy:.3f} | {r['pgd']:.3f} | "
                     f"[{rep.exact_robust_lower:.3f}, {rep.exact_robust_upper:.3f}] ({rep.exact_undecided}) | "
                     f"{rep.stable_certified:.3f} | {surviving} | {r['width']} | {_objective(r['objective'])} | "
                     f"{r['time_s']:.1f} | {r['solver']} | {r['note']} |")
    return "\n".join(lines)


def summary(rows, eps_grid, datasets):
    """Per convex method against (c), over the (data set, eps) settings: the mean difference of exact robust
    test accuracy (interval midpoints) and the settings each side wins; and the ratio of the robust optimum
    of (b') to the MILP upper bound on (c)'s adversarial training objective (above 1: the convex restriction
    to eps-stable networks costs objective)."""
    found = {(r["dataset"], r["eps"], r["method"]): r for r in rows}
    settings = [(name, eps) for name in datasets for eps in eps_grid]
    lines = []
    for method in METHODS[:3] + METHODS[4:]:
        pairs = [(found[s + (method,)]["report"], found[s + (METHODS[3],)]["report"]) for s in settings
                 if s + (method,) in found and s + (METHODS[3],) in found]
        if not pairs:
            continue
        gaps = np.array([0.5 * (c.exact_robust_lower + c.exact_robust_upper - m.exact_robust_lower
                                - m.exact_robust_upper) for m, c in pairs])
        lines.append(f"* exact robust test accuracy (interval midpoints), (c) minus {method.split()[0]}: mean "
                     f"{np.mean(gaps):+.3f} over {gaps.size} settings; (c) higher in {np.sum(gaps > 0)}, "
                     f"{method.split()[0]} higher in {np.sum(gaps < 0)}, equal in {np.sum(gaps == 0)}")
    ratios = [found[s + (METHODS[2],)]["objective"] / found[s + (METHODS[3],)]["objective"][1] for s in settings
              if s + (METHODS[2],) in found and s + (METHODS[3],) in found]
    if ratios:
        lines.append(f"* robust optimum of (b') / proven upper bound on (c)'s adversarial training objective: "
                     f"{min(ratios):.2f} to {max(ratios):.2f} (median {np.median(ratios):.2f})")
    return "\n".join(lines)


def plot(rows, datasets, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.0), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        for method, marker in zip(METHODS, "osd^v"):
            pts = sorted((r["eps"], r["report"].exact_robust_lower, r["report"].exact_robust_upper)
                         for r in rows if r["dataset"] == name and r["method"] == method)
            if not pts:
                continue
            eps, lower, upper = map(np.array, zip(*pts))
            mid = 0.5 * (lower + upper)
            ax.errorbar(eps, mid, yerr=[mid - lower, upper - mid], marker=marker, capsize=3, label=method)
        ax.set_xscale("log")
        ax.set_xlabel("eps (l_inf, standardised units)")
        ax.set_ylabel("exact robust test accuracy (MILP)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
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
        [f"* {i['name']}: {i['n_train']} training rows (random subsample of the {i['n_split']}-row training "
         f"split, seed {args.seed}), {i['n_test']} test rows (random, of {i['n_held_out']} held out); standardised "
         f"on the whole training split, {i['dropped']} columns constant there dropped, d = {i['d']} + bias; "
         f"largest |standardised test value| {i['test_range']:.1f}; P = {i['P']} patterns, (c) width {2 * i['P']}"
         for i in infos]
        + [f"* hinge loss, beta = {args.beta}, eps grid {args.eps} (standardised units, bias never perturbed); "
           f"convex programs solved by solver={args.solver!r}",
           f"* (c): Adam lr {args.lr}, {args.iterations} full-batch epochs, PGD {args.train_steps} steps, "
           f"1 restart in training",
           f"* test attack: PGD {args.eval_steps} steps, {args.eval_restarts} restarts (uniform and vertex starts "
           f"alternating), seed {args.seed}; exact: MILP (HiGHS) with {args.milp_point_time:g} s per point and "
           f"{args.milp_total_time:g} s per evaluation, undecided points counted in the interval only",
           f"* total time {time.perf_counter() - start:.0f} s"])
    verdict = summary(rows, args.eps, args.datasets)
    os.makedirs(args.out, exist_ok=True)
    md = os.path.join(args.out, "adversarial.md")
    with open(md, "w") as fh:
        fh.write("# Convex robust training vs PGD adversarial training\n\n" + settings + "\n\n" + text + "\n\n"
                 + verdict + "\n")
    png = os.path.join(args.out, "adversarial.png")
    plot(rows, args.datasets, png)
    print()
    print(settings)
    print()
    print(text)
    print()
    print(verdict)
    print(f"\nwrote {md} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
