"""What the command line and the examples show: the solve summary, the verify table, the JSON report and
the convergence plot. Kept apart from the command line so that scripts and examples use the same code."""
from __future__ import annotations

import json
import math
import sys

import numpy as np

from ..battery import relative_gap

#: the fields of a run object the solve summary lists, in order
SUMMARY_FIELDS = ("solver", "status", "objective", "max_violation", "network_objective", "network_width",
                  "train_accuracy", "solve_time_s", "compile_time_s", "iterations")


def fmt(value, spec=".6g"):
    """``value`` formatted with ``spec``, or ``-`` for None and non-finite floats."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def write_json(document, target):
    """Write ``document`` as JSON to the path ``target`` (``-``: standard output). NaN is refused (the
    report is strict JSON); an unwritable path is a ValueError naming it."""
    text = json.dumps(document, indent=2, allow_nan=False)
    if target == "-":
        sys.stdout.write(text + "\n")
        return
    try:
        with open(target, "w") as handle:
            handle.write(text + "\n")
    except OSError as exc:
        raise ValueError(f"cannot write the JSON report to {target}: {exc.strerror}") from None


def instance_line(instance, program):
    """``<formulation> program, <loss> loss, beta=... on <data> (n=..., d=..., P patterns)``."""
    return (f"{instance['formulation']} program, {instance['loss']} loss, beta={instance['beta']:g} on "
            f"{instance['data']} (n={program.n}, d={program.d}, {program.n_patterns} patterns)")


def solve_summary(instance, program, run):
    """The lines ``cvxnn solve`` prints for the run object ``run`` (:meth:`SolveResult.to_dict`)."""
    lines = [instance_line(instance, program)]
    for key in SUMMARY_FIELDS:
        value = run.get(key)
        text = fmt(value) if isinstance(value, float) else value
        if key == "status" and run.get("collapsed"):
            text = f"{value} (the zero network: collapsed, no neuron left)"
        lines.append(f"  {key:<18} {text}")
    if "fallback_from" in run["info"]:
        lines.append(f"  note: {run['info']['fallback_from']} failed ({run['info']['fallback_reason']}); "
                     f"the answer comes from {run['solver']}")
    return lines


def oracle_provenance(reference, requested):
    """Which solver produced the oracle answer, and why the requested one did not when it fell back."""
    if reference.info.get("fallback_from"):
        return (f"oracle {reference.solver} ({reference.info['fallback_from']} failed: "
                f"{reference.info.get('fallback_reason', 'no answer')}), status {reference.status}")
    return f"oracle {reference.solver}, status {reference.status}"


def verify_table(instance, program, runs, provenance):
    """The lines of ``cvxnn verify``'s table: the oracle's run first, then one row per solver with its gap
    to the oracle and its verdict (``self`` when no oracle independent of that solver answered)."""
    width = max([10] + [len(run["solver"]) for run in runs])
    head = (f"{'solver':<{width}} {'status':<18} {'objective':>16} {'rel_gap':>10} {'violation':>10} "
            f"{'net_obj':>16} {'width':>6} {'time_s':>9} {'iters':>7}  result")
    lines = [f"verify: {instance_line(instance, program)}", f"verify: {provenance}", head, "-" * len(head)]
    for run in runs:
        if run["role"] == "oracle":
            verdict = "oracle"
        elif run.get("passed") is None:
            verdict = "self (not judged: the oracle's answer is this solver's)"
        else:
            verdict = ("ok" if run["passed"] else "FAIL " + run["reason"])
            if run.get("reference") and run["reference"] != runs[0]["solver"]:
                verdict += f" (vs {run['reference']})"
        status = run["status"] + (" (zero)" if run.get("collapsed") else "")
        lines.append(f"{run['solver']:<{width}} {status:<18} {fmt(run['objective'], '.10g'):>16} "
                     f"{fmt(run.get('rel_gap'), '.2e'):>10} {fmt(run['max_violation'], '.2e'):>10} "
                     f"{fmt(run['network_objective'], '.10g'):>16} {fmt(run['network_width'], 'd'):>6} "
                     f"{run['solve_time_s']:>9.3f} {run['iterations']:>7d}  {verdict}")
    return lines


def plot_convergence(path, reference, results):
    """Write to ``path`` (.png) the objective gap to ``reference`` (a SolveResult, usually the oracle's) and
    the primal and dual residuals against time, log scale, for every result in ``results`` that keeps a
    history (one point at its solve time for the others)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'cvxnn[plot]'") from None
    if not str(path).lower().endswith(".png"):
        raise ValueError(f"--plot needs a .png path, got {path}")
    fig, (ax_gap, ax_res) = plt.subplots(1, 2, figsize=(11, 4))
    oracle_obj = reference.objective
    for res in results:
        hist = res.history or {}
        t = np.asarray(hist.get("time", []), float)
        if t.size and "objective" in hist:
            gap = np.abs([relative_gap(o, oracle_obj) for o in hist["objective"]])
            ax_gap.semilogy(t, np.maximum(gap, 1e-16), label=res.solver)
        else:
            ax_gap.semilogy([res.solve_time_s], [max(abs(relative_gap(res.objective, oracle_obj)), 1e-16)],
                            "o", label=res.solver)
        for key, style in (("primal_residual", "-"), ("dual_residual", "--")):
            if t.size and key in hist:
                ax_res.semilogy(t, np.maximum(np.asarray(hist[key], float), 1e-16), style,
                                label=f"{res.solver} {key.replace('_', ' ')}")
    for ax in (ax_gap, ax_res):
        ax.axvline(reference.solve_time_s, color="k", lw=0.8, ls=":", label=f"{reference.solver} solve time")
        ax.set_xlabel("time (s)")
        ax.legend(fontsize=8)
    ax_gap.set_ylabel("|objective - oracle| / max(1, |oracle|)")
    ax_res.set_ylabel("residual")
    ax_gap.set_title("objective gap")
    ax_res.set_title("primal and dual residuals")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise ValueError(f"cannot write the plot to {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)
