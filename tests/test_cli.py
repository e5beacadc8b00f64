"""The command line of docs/cli.md: JSON on stdout only, exit 2 with one line on bad input, verify."""
import json
import subprocess
import sys

import numpy as np
import pytest

from solvers.interface.cli import build_parser, main

RUN_KEYS = {"formulation", "loss", "beta", "n", "d", "n_patterns", "solver", "status", "objective",
            "max_violation", "network_objective", "network_width", "train_accuracy", "solve_time_s",
            "iterations"}


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_datasets_lists_every_bundled_set(capsys):
    code, out, _ = run_cli(capsys, "datasets")
    assert code == 0
    for name in ("breast_cancer", "digits", "diabetes", "spiral", "moons", "teacher"):
        assert name in out
    assert "569" in out and "classification" in out


def test_solve_json_stdout_is_only_the_document(capsys):
    code, out, err = run_cli(capsys, "solve", "--data", "moons", "--loss", "hinge", "--beta", "0.1",
                             "--bias", "--patterns", "20", "--solver", "clarabel", "--json", "-")
    assert code == 0
    run = json.loads(out)  # nothing but JSON on stdout
    assert RUN_KEYS <= set(run)
    assert run["status"] == "optimal" and run["solver"] == "clarabel"
    assert run["d"] == 3  # bias column appended
    assert run["network_objective"] == pytest.approx(run["objective"], rel=1e-6)
    assert 0.0 <= run["train_accuracy"] <= 1.0
    assert "objective" in err  # the human summary went to stderr


def test_solve_squared_loss_reports_null_accuracy(capsys, tmp_path):
    path = tmp_path / "run.json"
    code, out, _ = run_cli(capsys, "solve", "--data", "teacher", "--beta", "1", "--patterns", "10",
                           "--json", str(path))
    assert code == 0 and "objective" in out
    run = json.loads(path.read_text())
    assert run["train_accuracy"] is None and run["loss"] == "squared"


def test_npz_patterns_used_as_given_minus_duplicates(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = rng.standard_normal(30)
    D = (X @ rng.standard_normal((3, 6)) >= 0).astype(float)
    D = np.hstack([D, D[:, :2]])  # two exact duplicates
    path = tmp_path / "inst.npz"
    np.savez(path, X=X, y=y, D=D)
    code, out, _ = run_cli(capsys, "solve", "--data", str(path), "--beta", "0.5", "--json", "-")
    run = json.loads(out)
    assert code == 0 and run["n_patterns"] == 6


def test_csv_target_column(capsys, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((25, 2))
    y = np.where(X[:, 0] > 0, 1, -1)
    path = tmp_path / "data.csv"
    rows = ["label,a,b"] + [f"{y[i]},{X[i, 0]},{X[i, 1]}" for i in range(25)]
    path.write_text("\n".join(rows) + "\n")
    code, out, _ = run_cli(capsys, "solve", "--data", str(path), "--target", "label", "--loss", "logistic",
                           "--beta", "0.1", "--patterns", "10", "--json", "-")
    run = json.loads(out)
    assert code == 0 and run["d"] == 2 and run["n"] == 25


def _write_npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize("argv, fragment", [
    (["solve", "--beta", "0"], "--beta must be"),
    (["solve", "--beta", "-1"], "--beta must be"),
    (["solve", "--formulation", "robust", "--epsilon", "-0.1"], "--epsilon must be"),
    (["solve", "--loss", "cubic"], "unknown loss"),
    (["solve", "--formulation", "deep"], "unknown formulation"),
    (["solve", "--solver", "gurobi_nope"], "unknown solver"),
    (["solve", "--data", "no_such_set"], "unknown dataset"),
    (["solve", "--data", "missing.npz"], "does not exist"),
    (["solve", "--data", "diabetes", "--loss", "hinge"], "labels in {-1, +1}"),
    (["solve", "--patterns", "0"], "--patterns must be"),
    (["verify", "--solvers", "admm,nope"], "unknown solver"),
    (["solve", "--no-such-flag"], "unrecognized arguments"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, fragment):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in err


def test_bad_files_exit_2(capsys, tmp_path):
    X = np.ones((5, 2))
    cases = [
        (dict(X=np.array([[1.0, np.nan]] * 5), y=np.ones(5)), "NaN"),
        (dict(X=X, y=np.ones(4)), "shape mismatch"),
        (dict(X=X, y=np.ones(5), D=np.zeros((5, 0))), "zero activation patterns"),
        (dict(X=X), "no array 'y'"),
    ]
    for arrays, fragment in cases:
        code, _, err = run_cli(capsys, "solve", "--data", _write_npz(tmp_path, **arrays))
        assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1
    bad_csv = tmp_path / "text.csv"
    bad_csv.write_text("a,b,y\n1,2,3\n4,five,6\n")
    code, _, err = run_cli(capsys, "solve", "--data", str(bad_csv))
    assert code == 2 and "non-numeric" in err and "line 3" in err


def test_verify_json_and_plot(capsys, tmp_path):
    plot = tmp_path / "conv.png"
    code, out, err = run_cli(capsys, "verify", "--data", "moons", "--bias", "--beta", "0.5", "--patterns", "15",
                             "--solvers", "scs", "--json", "-", "--plot", str(plot))
    assert code == 0
    doc = json.loads(out)
    assert doc["oracle"] == "clarabel" and doc["instance"]["data"] == "moons"
    oracle_run, scs_run = doc["runs"]
    assert RUN_KEYS <= set(scs_run) and "rel_gap" in scs_run
    expected = (scs_run["objective"] - oracle_run["objective"]) / max(1.0, abs(oracle_run["objective"]))
    assert scs_run["rel_gap"] == pytest.approx(expected, abs=1e-15)
    assert plot.stat().st_size > 1000 and "scs" in err


def test_verify_exits_1_when_a_solver_misses_the_oracle(capsys):
    code, out, _ = run_cli(capsys, "verify", "--data", "moons", "--bias", "--beta", "0.5", "--patterns", "15",
                           "--solvers", "scs", "--tol", "1e-2", "--max-iter", "50", "--gap-tol", "1e-12")
    assert code == 1
    assert "FAIL gap" in out


def test_console_entry_point_never_prints_a_traceback():
    ok = subprocess.run([sys.executable, "-m", "solvers.interface.cli", "solve", "--data", "spiral", "--loss", "hinge",
                         "--beta", "0.2", "--patterns", "10", "--json", "-"], capture_output=True, text=True)
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["formulation"] == "sampled"
    bad = subprocess.run([sys.executable, "-m", "solvers.interface.cli", "solve", "--beta", "nan"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_verify_admm_on_classification_losses(capsys, loss):
    """`cvxnn verify --loss hinge|logistic --solvers admm` reaches the oracle within the per-loss tolerance."""
    code, out, _ = run_cli(capsys, "verify", "--data", "moons", "--bias", "--loss", loss, "--beta", "0.5",
                           "--patterns", "8", "--solvers", "admm", "--json", "-")
    assert code == 0
    oracle_run, admm_run = json.loads(out)["runs"]
    assert admm_run["solver"] == "admm" and admm_run["status"] == "optimal"
    assert abs(admm_run["rel_gap"]) <= 1e-4
    assert admm_run["max_violation"] <= 1e-9


@pytest.mark.filterwarnings("ignore::solvers.result.ConvergenceWarning")  # status is in the JSON
def test_solve_robust_with_admm(capsys):
    code, out, _ = run_cli(capsys, "solve", "--data", "moons", "--bias", "--formulation", "robust",
                           "--epsilon", "0.02", "--loss", "hinge", "--beta", "0.5", "--patterns", "6",
                           "--solver", "admm", "--max-iter", "3000", "--json", "-")
    assert code == 0
    run = json.loads(out)
    assert run["solver"] == "admm" and run["formulation"] == "robust" and run["epsilon"] == 0.02
    assert run["max_violation"] <= 1e-9  # the returned point is feasible whatever the status


@pytest.mark.parametrize("loss, auto, every", [("squared", "ipm", ["admm", "ipm", "working_set"]),
                                                ("logistic", "working_set", ["admm", "working_set"])])
def test_verify_default_runs_auto_and_all_runs_every_solver(capsys, loss, auto, every):
    """Without --solvers, verify runs the path solver="auto" takes (the interior point for the squared loss
    on a small program, the working set for the logistic loss), named in the table; ``--solvers all`` runs
    every hand-written solver of the program (the registry's capability table); ``cvxnn solve`` without
    --solver runs the same path as verify."""
    common = ("--data", "moons", "--bias", "--loss", loss, "--beta", "0.5", "--patterns", "6", "--json", "-")
    code, out, _ = run_cli(capsys, "verify", *common)
    assert code == 0
    runs = json.loads(out)["runs"]
    assert [r["solver"] for r in runs[1:]] == [auto] and runs[1]["status"] == "optimal"
    code, out, _ = run_cli(capsys, "verify", *common, "--solvers", "all")
    assert code == 0
    runs = json.loads(out)["runs"]
    assert [r["solver"] for r in runs[1:]] == every
    assert all(r["status"] == "optimal" for r in runs[1:])
    code, out, _ = run_cli(capsys, "solve", *common)
    assert code == 0 and json.loads(out)["solver"] == auto


def test_solvers_that_do_not_solve_the_program_are_refused_before_any_work(capsys):
    """The registry's capability table refuses a solver for a program it does not solve, naming the
    solvers that do, before the data are loaded (a missing data file is never reached)."""
    code, _, err = run_cli(capsys, "solve", "--data", "no_such_file.npz", "--formulation", "gated",
                           "--solver", "ipm")
    assert code == 2 and "does not solve the gated program" in err and "fista" in err
    code, _, err = run_cli(capsys, "verify", "--data", "no_such_file.npz", "--loss", "hinge",
                           "--solvers", "admm,ipm")
    assert code == 2 and "'ipm' does not solve the sampled program with the hinge loss" in err


def test_verify_names_the_oracle_that_answered_and_never_judges_a_solver_by_itself(capsys):
    """The oracle's provenance is in the header and the JSON; a solver whose own answer is the oracle's is
    judged against the next CVXPY solver instead (its row says which)."""
    code, out, err = run_cli(capsys, "verify", "--data", "moons", "--loss", "squared", "--beta", "0.5",
                             "--patterns", "4", "--oracle", "scs", "--solvers", "scs,ipm", "--json", "-")
    assert code == 0
    document = json.loads(out)
    assert document["oracle"] == "scs" and document["oracle_requested"] == "scs"
    assert document["oracle_fallback_from"] is None and "verify: oracle scs, status optimal" in err
    rows = {run["solver"]: run for run in document["runs"][1:]}
    assert rows["scs"]["reference"] == "clarabel" and rows["ipm"]["reference"] == "scs"
    assert "(vs clarabel)" in err
    assert "verify: ipm optimal in" in err  # one progress line per solver, no iteration table


def test_verify_reports_a_fallback_oracle(capsys, monkeypatch):
    """When the requested oracle fails and the fallback answers, the header and the JSON say so."""
    import solvers.oracle as oracle

    real = oracle._attempt

    def clarabel_fails(program, name, verbose, options):
        if name == "CLARABEL":
            return dict(status="solver_error", weights=None, error="forced failure", compile_time=0.0,
                        solve_time=0.0, iterations=0, wall=0.0, notes=[])
        return real(program, name, verbose, options)
    monkeypatch.setattr(oracle, "_attempt", clarabel_fails)
    code, out, err = run_cli(capsys, "verify", "--data", "moons", "--loss", "squared", "--beta", "0.5",
                             "--patterns", "4", "--solvers", "ipm", "--json", "-")
    document = json.loads(out)
    assert document["oracle"] == "scs" and document["oracle_fallback_from"] == "clarabel"
    assert "forced failure" in document["oracle_fallback_reason"]
    assert "oracle scs (clarabel failed: forced failure)" in err
    assert document["runs"][0]["fallback_from"] == "clarabel"


@pytest.mark.parametrize("argv, message", [
    (["solve", "--seed", "-3"], "--seed must be an integer >= 0, got -3"),
    (["verify", "--gap-tol", "-1"], "--gap-tol must be a finite number > 0"),
    (["solve", "--max-patterns", "0"], "--max-patterns must be a positive integer"),
    (["solve", "--max-memory", "-2"], "--max-memory must be a finite number of GiB > 0"),
    (["verify", "--plot", "convergence.pdf"], "--plot needs a .png path"),
    (["verify", "--plot", "no_such_folder/convergence.png"], "the folder"),
    (["solve", "--json", "no_such_folder/run.json"], "the folder"),
    (["solve", "--data", "spiral", "--formulation", "exact", "--bias"], "raise --max-patterns"),
])
def test_probes_exit_2_with_one_line_naming_the_problem(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_instance_files_and_overwrites_are_refused(capsys, tmp_path):
    """An .npy under an .npz name, a text file under an .npz name, and --json / --plot onto the input file:
    exit 2 with one line, and the input file is left as it was."""
    npy = tmp_path / "data.npz"
    np.save(tmp_path / "data.npy", np.ones((4, 2)))
    (tmp_path / "data.npy").rename(npy)
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    for path in (npy, text):
        code, _, err = run_cli(capsys, "solve", "--data", str(path))
        assert code == 2 and "is not an .npz archive" in err and len(err.strip().splitlines()) == 1
    good = tmp_path / "good.npz"
    rng = np.random.default_rng(0)
    np.savez(good, X=rng.standard_normal((20, 2)), y=rng.standard_normal(20))
    before = good.read_bytes()
    code, _, err = run_cli(capsys, "solve", "--data", str(good), "--json", str(good))
    assert code == 2 and "would overwrite the input data file" in err
    code, _, err = run_cli(capsys, "verify", "--data", str(good), "--plot", str(good))
    assert code == 2
    assert good.read_bytes() == before


def test_max_patterns_refusal_prints_the_count_in_scientific_notation(capsys):
    code, _, err = run_cli(capsys, "solve", "--data", "spiral", "--formulation", "exact", "--bias")
    assert code == 2 and "up to 9.9e+03 activation patterns" in err and "--max-patterns" in err


def test_requests_that_cannot_fit_are_refused_with_the_estimate(capsys, tmp_path):
    """A solver whose estimated peak memory exceeds --max-memory is refused before any solve, naming the
    estimate and an alternative. At 50,000 x 50 with 200 patterns the ADMM takes its matrix-free route
    (about 2.5 GiB: iterates of n x 2P) instead of the dense one (the n x n capacitance alone would be
    18.6 GiB), so the request is refused only below that estimate."""
    code, _, err = run_cli(capsys, "solve", "--data", "moons", "--solver", "admm", "--max-memory", "1e-4")
    assert code == 2 and "solver 'admm' would need about" in err and "more than the" in err
    assert "--max-memory" in err and "fista on the gated program" in err
    from solvers.core.memory import check_memory, estimate_bytes
    need = estimate_bytes("admm", 50_000, 50, 200)
    assert 2 * 2 ** 30 < need < 3 * 2 ** 30
    check_memory("admm", 50_000, 50, 200, max_memory=4 * 2 ** 30)
    with pytest.raises(ValueError, match="would need about 2.5 GiB for n=50000, d=50, P=200"):
        check_memory("admm", 50_000, 50, 200, max_memory=2 * 2 ** 30)
    code, out, err = run_cli(capsys, "solve", "--data", "synthetic:n=50000,d=50,task=regression", "--solver",
                             "admm", "--patterns", "200", "--max-memory", "2")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "would need about 2.5 GiB for n=50000, d=50, P=200" in err


def test_forcing_the_dense_a_update_beyond_memory_is_refused_before_allocation():
    """The dense a-update's n x n arrays are checked against the memory available before they exist (at
    n = 400,000 they would take 3.5 TiB); the ADMM's option reaches the same check."""
    from solvers.admm.factorization import a_update_factorization
    X, D = np.ones((400_000, 1)), np.ones((400_000, 1))
    with pytest.raises(ValueError, match="a_update='dense' needs about .* GiB for the n x n capacitance"):
        a_update_factorization(X, D, route="dense")


@pytest.mark.slow
def test_a_50000_by_50_request_that_fits_runs(capsys):
    """The 50,000 x 50 request that fits runs on the matrix-free route and returns an honest status."""
    code, out, err = run_cli(capsys, "solve", "--data", "synthetic:n=50000,d=50,task=regression", "--solver",
                             "admm", "--patterns", "20", "--max-iter", "10", "--json", "-")
    run = json.loads(out)
    assert code == 0 and run["n"] == 50_000 and run["status"] == "max_iter"
    assert "not certified optimal" in err


def test_help_shows_every_default(capsys):
    parser = build_parser()
    for command in ("solve", "verify"):
        sub = parser._subparsers._group_actions[0].choices[command]
        for action in sub._actions:
            if action.option_strings and action.dest not in ("help", "data_path"):
                assert "default" in (action.help or ""), f"{command} {action.option_strings} hides its default"


def test_warnings_reach_the_terminal_as_one_clean_line(capsys):
    """A solver's ConvergenceWarning is one 'cvxnn: warning: ...' line, without a source path."""
    code, _, err = run_cli(capsys, "solve", "--data", "moons", "--formulation", "scp", "--loss", "hinge",
                           "--solver", "fista", "--max-iter", "3")
    warning_lines = [line for line in err.splitlines() if "warning" in line.lower()]
    assert code == 0 and warning_lines
    assert all(line.startswith("cvxnn: warning: ") and ".py" not in line for line in warning_lines)


def test_save_and_predict_round_trip_the_network_exactly(capsys, tmp_path):
    """solve --save writes the recovered network with its preprocessing (bias, standardisation); predict
    applies it to the same raw data and reproduces the network's outputs exactly, as CSV or JSON."""
    model = tmp_path / "model.npz"
    code, out, _ = run_cli(capsys, "solve", "--data", "moons", "--loss", "hinge", "--beta", "0.5", "--patterns",
                           "6", "--bias", "--standardize", "--save", str(model), "--json", "-")
    assert code == 0 and model.exists()
    run = json.loads(out)
    from formulations.datasets import load_data, standardize
    from solvers.interface.model import load_model

    saved = load_model(model)
    data = load_data("moons")
    Z, mean, scale = standardize(data.X)
    np.testing.assert_array_equal(saved.mean, mean)
    expected = saved.network.predict(np.hstack([Z, np.ones((data.n, 1))]))
    assert saved.network.width == run["network_width"] and saved.metadata["instance"]["loss"] == "hinge"
    target = tmp_path / "pred.json"
    code, _, _ = run_cli(capsys, "predict", "--model", str(model), "--data", "moons", "--out", str(target))
    document = json.loads(target.read_text())
    assert code == 0 and document["prediction"] == expected.tolist()
    assert document["label"] == np.sign(expected).tolist()
    code, out, _ = run_cli(capsys, "predict", "--model", str(model), "--data", "moons")
    rows = out.strip().splitlines()
    assert code == 0 and rows[0] == "prediction,label" and len(rows) == data.n + 1
    assert [float(r.split(",")[0]) for r in rows[1:]] == expected.tolist()
    # training accuracy of sign(f), ties counted as errors
    accuracy = float(np.mean(np.sign(expected) == data.y))
    assert run["train_accuracy"] == pytest.approx(accuracy)


def test_predict_refuses_what_it_cannot_apply(capsys, tmp_path):
    model = tmp_path / "model.npz"
    assert run_cli(capsys, "solve", "--data", "moons", "--patterns", "4", "--save", str(model))[0] == 0
    code, _, err = run_cli(capsys, "predict", "--model", str(model), "--data", "breast_cancer")
    assert code == 2 and "the model takes 2 features, the data have 30" in err
    code, _, err = run_cli(capsys, "predict", "--model", str(tmp_path / "none.npz"), "--data", "moons")
    assert code == 2 and "not a cvxnn model file" in err
    code, _, err = run_cli(capsys, "predict", "--model", str(model), "--data", "moons", "--out", "x.txt")
    assert code == 2 and "--out needs a .csv or .json path" in err
    code, _, err = run_cli(capsys, "solve", "--data", "moons", "--save", str(tmp_path / "model.pkl"))
    assert code == 2 and "--save needs an .npz path" in err


def test_squared_loss_reports_training_accuracy_on_plus_minus_one_labels(capsys):
    """The squared loss trains classifiers too: with labels in {-1, +1} its run reports the accuracy of
    sign(f); with real targets it reports none."""
    code, out, _ = run_cli(capsys, "solve", "--data", "moons", "--patterns", "6", "--beta", "0.5", "--json", "-")
    assert code == 0 and 0.5 < json.loads(out)["train_accuracy"] <= 1.0


@pytest.mark.parametrize("delay", [0.3, 1.0, pytest.param(4.0, marks=pytest.mark.slow)])
def test_ctrl_c_exits_130_with_one_line(tmp_path, delay):
    """SIGINT while loading or solving: exit status 130 and one line on stderr, never a traceback."""
    import signal
    import time

    def as_from_a_terminal():  # an earlier solve in this process may leave SIGINT ignored, which children inherit
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen([sys.executable, "-m", "solvers.interface.cli", "verify", "--data", "breast_cancer",
                                "--solvers", "admm"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=as_from_a_terminal)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "cvxnn: interrupted"


def test_an_interrupt_that_surfaces_as_another_exception_still_exits_130(monkeypatch, capsys):
    """An interrupt inside an import can come out of the interpreter as a TypeError (the ImportError it was
    building loses its message); the command still reports the interrupt, not an internal error."""
    import os
    import signal
    import time

    from solvers.interface import commands

    def run_interrupted_inside_an_import(command, args, out):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise TypeError("expected a message argument") from None
        raise AssertionError("SIGINT did not arrive")

    monkeypatch.setattr(commands, "run", run_interrupted_inside_an_import)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["datasets"]) == 130
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # main puts Python's handler back
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capsys.readouterr().err.strip().splitlines()[-1] == "cvxnn: interrupted"


def test_the_verify_table_keeps_its_columns_for_long_solver_names():
    from types import SimpleNamespace

    from solvers.interface.report import verify_table
    program = SimpleNamespace(n=10, d=2, n_patterns=3)
    instance = {"formulation": "sampled", "loss": "squared", "beta": 0.1, "data": "moons"}
    run = {"status": "optimal", "objective": 1.0, "rel_gap": 0.0, "max_violation": 0.0, "network_objective": 1.0,
           "network_width": 2, "solve_time_s": 0.1, "iterations": 3, "passed": True, "reason": ""}
    runs = [dict(run, solver="clarabel", role="oracle"), dict(run, solver="working_set", role="solver"),
            dict(run, solver="admm", role="solver")]
    lines = verify_table(instance, program, runs, "oracle clarabel, status optimal")
    table = [lines[2]] + lines[4:]
    assert len({line.index(" optimal" if i else " status") for i, line in enumerate(table)}) == 1, table
