"""The shape of the package: its layers (import-linter) and its lint rules (ruff).

The layers contract in ``pyproject.toml`` says which modules may import which:
calendar, rng, io, provenance and gc_tuning at the ground floor; then scenario and records;
the model; metrics and aggregate; validation (the twin, the fingerprint); execution (the pool,
executors, tasks); forecast, results and study; the results-directory dispatcher; report; the
command line. Imports inside functions count, imports under ``if TYPE_CHECKING:`` do not. Each
check comes with a power check: a probe that breaks the rule is caught.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name) or name


def _lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [_tool("lint-imports"), "--no-cache", "--config", str(REPO / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_contract_is_kept():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_layers_contract_catches_an_import_upwards_inside_a_function(tmp_path):
    shutil.copytree(
        REPO / "parksim", tmp_path / "parksim", ignore=shutil.ignore_patterns("__pycache__")
    )
    probe = tmp_path / "parksim" / "model" / "shocks.py"
    probe.write_text(
        probe.read_text(encoding="utf-8")
        + "\n\ndef _probe():\n    from parksim.forecast import simulate\n\n    return simulate\n",
        encoding="utf-8",
    )
    result = _lint_imports(tmp_path, pythonpath=tmp_path)
    assert result.returncode != 0
    assert "parksim.model.shocks -> parksim.forecast" in result.stdout


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("ruff"), "check", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ruff_is_clean():
    result = _ruff(".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_refuses_a_model_function_of_seven_parameters_and_a_long_line():
    seven = "def move(a, b, c, d, e, f, g):\n    return a\n"
    assert "PLR0913" in _ruff("--stdin-filename", "parksim/model/probe.py", "-", stdin=seven).stdout
    assert (
        "PLR0913"
        not in _ruff("--stdin-filename", "parksim/study/probe.py", "-", stdin=seven).stdout
    )
    long_line = f"NAME = {'1 + ' * 40}1\n"
    assert (
        "E501" in _ruff("--stdin-filename", "parksim/study/probe.py", "-", stdin=long_line).stdout
    )
