"""Every command and Python snippet of README.md runs as written (the slow ones in the slow suite).

The README's code blocks are read from the file itself, so a README edit is tested as it stands: each
``cvxnn`` command of a ``bash`` block runs through the command line's entry point in a scratch folder and
must exit 0; each ``python`` block runs in a fresh namespace. Installing (``pip``) and running the test
suite (``pytest``) are what CI itself does, so those segments are not repeated here.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

#: commands that run the oracle and hand-written solvers side by side, or the robust program: they take
#: 10 s to minutes (the README states the run time of those over 30 s), so they run in the slow suite
SLOW = ("cvxnn verify", "--formulation robust")


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _commands():
    commands = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            for segment in (part.strip() for part in line.split("&&")):
                if segment.startswith("cvxnn"):
                    commands.append(segment)
    return commands


def _chains():
    """Each README line with its cvxnn segments, in order (a later segment may read an earlier one's file)."""
    chains = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            segments = [part.strip() for part in line.split("&&") if part.strip().startswith("cvxnn")]
            if segments:
                chains.append(segments)
    return chains


def _param(chain):
    text = " && ".join(chain)
    slow = any(marker in text for marker in SLOW)
    return pytest.param(chain, id=text[:80], marks=[pytest.mark.slow] if slow else [])


def test_the_readme_has_commands_and_snippets():
    assert len(_commands()) >= 8 and len(_blocks("python")) >= 3


@pytest.mark.parametrize("chain", [_param(chain) for chain in _chains()])
def test_readme_command_runs(chain, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    for command in chain:
        argv = shlex.split(command)[1:]
        done = subprocess.run([sys.executable, "-m", "solvers.interface.cli", *argv], cwd=tmp_path,
                              capture_output=True, text=True, env=env, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr


def _python_param(index, block):
    slow = "breast_cancer()" in block
    return pytest.param(block, id=f"python-{index}", marks=[pytest.mark.slow] if slow else [])


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("block", [_python_param(i, b) for i, b in enumerate(_blocks("python"))])
def test_readme_python_snippet_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
