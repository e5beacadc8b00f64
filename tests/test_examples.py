"""Every example runs (in a quick configuration) so none can rot."""
import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_convex_vs_backprop(tmp_path, capsys):
    code = load("convex_vs_backprop").main(["--n", "12", "--runs", "3", "--iterations", "300",
                                            "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "runs below it: 0" in out
    assert (tmp_path / "convex_vs_backprop.png").stat().st_size > 10_000


def test_verify_your_solver(capsys):
    code = load("verify_your_solver").main(["--max-iter", "3000", "--gap-tol", "1e-4"])
    out = capsys.readouterr().out
    assert code == 0 and "0 failed" in out


def test_modify_formulation(capsys):
    code = load("modify_formulation").main(["--patterns", "4"])
    out = capsys.readouterr().out
    assert code == 0 and "feature group norm" in out and "W = 0" in out


def test_oracle_timing(tmp_path, capsys):
    load("oracle_timing").main(["--quick", "--out", str(tmp_path)])
    table = (tmp_path / "oracle_timing.md").read_text()
    assert "| clarabel |" in table and "| scs |" in table


@pytest.mark.skipif(not (EXAMPLES / "benchmark_admm.py").exists(), reason="benchmark not present")
def test_benchmark_admm_quick(tmp_path):
    module = load("benchmark_admm")
    module.main(["--quick", "--out", str(tmp_path)])
    assert any(p.suffix == ".md" for p in tmp_path.iterdir())
    assert any(p.suffix == ".png" for p in tmp_path.iterdir())
    table = (tmp_path / "benchmark_admm.md").read_text()
    assert "Structured interior-point method" in table and "| A | 60 |" in table


def test_sampling_quality(tmp_path, capsys):
    code = load("sampling_quality").main(["--n", "10", "--samples", "4", "64", "--fresh", "200",
                                          "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "column generation" in out and "converged=True" in out
    assert (tmp_path / "sampling_quality.png").exists()


def test_admm_vs_cvxpy(tmp_path, capsys):
    code = load("admm_vs_cvxpy").main(["--n", "60", "--d", "4", "--patterns", "10", "--beta", "0.5",
                                       "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "admm" in out and "clarabel" in out
    assert (tmp_path / "admm_vs_cvxpy.png").stat().st_size > 10_000


def test_benchmark_admm_losses_small(tmp_path):
    module = load("benchmark_admm_losses")
    module.main(["--datasets", "breast_cancer", "--patterns", "4", "--losses", "logistic", "--no-scs",
                 "--admm-budget", "20", "--oracle-budget", "20", "--out", str(tmp_path)])
    table = (tmp_path / "benchmark_admm_losses.md").read_text()
    assert "| breast_cancer | logistic | 4 " in table


def test_benchmark_oracle_memory_cap():
    """The oracle runs in a child process: under a cap too small to solve it reports out_of_memory (the
    benchmark goes on); with room it returns the same optimum as an in-process solve."""
    from formulations import make_program
    from formulations.datasets import breast_cancer
    from solvers.oracle import solve_oracle
    module = load("benchmark_admm_losses")
    ds = breast_cancer()
    prog = make_program("sampled", ds.X[:60], ds.y[:60], "hinge", 1.0, n_patterns=4, seed=0)
    out, _ = module.run_oracle(prog, "clarabel", 20, 2.0)
    assert out["status"] == "optimal"
    assert np.isclose(out["objective"], solve_oracle(prog).objective, rtol=1e-6)
    # a cap below what the process already maps: a solve that must grow its heap cannot
    big = make_program("sampled", ds.X, ds.y, "hinge", 1.0, n_patterns=100, seed=0)
    out, _ = module.run_oracle(big, "clarabel", 20, 0.05)
    assert out["status"] == "out_of_memory" and "0.05 GiB" in out["note"]


def test_benchmark_table_with_a_failed_oracle():
    """A row whose oracle ran out of memory (no solver time) still renders."""
    import argparse
    module = load("benchmark_admm_losses")
    run = {"status": "optimal", "time_s": 1.0, "iterations": 10, "rel_gap": 0.0, "violation": 0.0}
    row = {"dataset": "digits", "loss": "logistic", "P": 400, "patterns_used": 400, "reference": "admm",
           "clarabel": {"status": "out_of_memory", "solve_s": None, "note": "memory cap 16 GiB (exit code -6)"},
           "scs": {"status": "wall_limit", "solve_s": None, "note": "killed after 960s wall"},
           "admm": {"0.001": run, "0.0001": run, "train_accuracy": 1.0, "test_accuracy": 0.9, "width": 3}}
    args = argparse.Namespace(beta=10.0, seed=0)
    table = module.markdown([row], args, 300.0, 300.0, 1.0)
    assert "out_of_memory [memory cap 16 GiB" in table and "wall_limit [killed after 960s wall]" in table


def test_benchmark_robust_quick(capsys):
    code = load("benchmark_robust").main(["--quick"])
    out = capsys.readouterr().out
    assert code in (0, None) and "| clarabel |" in out and "| admm_robust |" in out


def test_benchmark_scale_quick(tmp_path):
    """Every path runs in its own process and lands in the table with its peak memory."""
    module = load("benchmark_scale")
    assert module.main(["--quick", "--losses", "hinge", "--n", "200", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "benchmark_scale.md").read_text()
    for path in ("admm-dense", "admm-matrix_free", "working_set", "clarabel"):
        assert f"| hinge | {path} | 200 | optimal |" in table


def test_benchmark_programs_quick_cell(tmp_path):
    """One cell in its own process: Clarabel and every hand-written solver of the gated squared program
    land in the table with a status, a certified gap for the optimal runs and the path auto takes."""
    module = load("benchmark_programs")
    assert module.main(["--quick", "--forms", "gated", "--losses", "squared", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "benchmark_programs.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| random-300 | gated | squared")]
    from solvers.registry import solvers_for
    assert [row.split("|")[6].strip() for row in rows] == solvers_for("gated", "squared")
    assert sum(row.rstrip().endswith("| yes |") for row in rows) == 1
    assert all("| optimal |" in row for row in rows)
