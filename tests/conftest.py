"""Shared fixtures: the shipped scenarios, a tiny fast variant of the baseline, and helpers
for writing scenario files and running the ``parksim`` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import parksim

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent

# The baseline made small and fast: fewer pool firms, 18 months instead of 36, 4 replications.
TINY_OVERRIDES = (
    "district.firms=2000",
    "calendar.horizon=2020-06",
    "targets.date=2020-06",
    "run.replications=4",
)

TINY_SENSITIVITY = """
name = "tiny_sensitivity"
scenario = "{baseline}"
overrides = ["district.firms=1500", 'calendar.horizon="2019-12"', 'targets.date="2019-12"']
replications = 2
seed = 5
[design]
kind = "{kind}"
samples = {samples}
seed = 3
[[factors]]
path = "district.floor_m2_per_million_yuan"
prior = true
[[factors]]
path = "enterprises.growth_drift_per_year"
prior = true
[[factors]]
path = "policies.finance.budget_cap_yuan_per_year"
range = [1.0e7, 5.0e7]
"""
"""A Sobol (or other sampled) study of three factors of a small 2019 district, two of them
priors: format it with ``baseline`` (the baseline's path), ``kind`` and ``samples``."""


def calibration_text(baseline: Path, **settings: object) -> str:
    """A small calibration file to end-2019: two parameters fitted to two facts of other
    places (one with an interval, one with a standard error) beside the scenario's own;
    ``settings`` replaces any of its keys (``name``, ``overrides``, ``parameters``, ``seed``,
    ``population``, ``generations``, ``predictive``)."""
    keys = {"name": "tiny_fit", "scenario": baseline.as_posix(),
            "overrides": ["district.firms=1500"],
            "parameters": ["district.floor_m2_per_million_yuan",
                           "enterprises.growth_drift_per_year"],
            "replications": 1, "seed": 11, "population": 5, "generations": 1,
            "horizon": "2019-12", "predictive": 4, **settings}
    return ("".join(f"{key} = {json.dumps(value)}\n"
                    for key, value in keys.items())
            + '[[targets]]\nkey = "m2_per_firm"\ndate = "2019-12"\nvalue = 2000.0\n'
            "interval = [1330.0, 2930.0]\n"
            '[[targets]]\nkey = "firms_per_park"\ndate = "2019-12"\nvalue = 40.0\nse = 5.0\n')


def write_tiny_scenario(folder: Path, baseline: Path, name: str = "tiny") -> Path:
    """``folder/NAME.toml``: the baseline made small and fast (as :data:`TINY_OVERRIDES`,
    written as a scenario file), for commands that take files and no ``--set``."""
    path = folder / f"{name}.toml"
    path.write_text(f"extends = {json.dumps(str(baseline))}\nname = {json.dumps(name)}\n"
                    '[district]\nfirms = 2000\n[calendar]\nhorizon = "2020-06"\n'
                    '[targets]\ndate = "2020-06"\n', encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def scenarios_dir() -> Path:
    """The shipped ``scenarios/`` folder."""
    return REPO_DIR / "scenarios"


@pytest.fixture(scope="session")
def baseline_path(scenarios_dir: Path) -> Path:
    """The baseline scenario file."""
    return scenarios_dir / "baseline.toml"


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    """``--set`` overrides that make the baseline small and fast."""
    return list(TINY_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_scenario(baseline_path: Path) -> parksim.Scenario:
    """The baseline with 2,000 pool firms, an 18-month horizon and 4 replications (frozen)."""
    return parksim.load_scenario(baseline_path, overrides=TINY_OVERRIDES)


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[[str, str], Path]:
    """A callable ``(name, text) -> Path`` writing a TOML file into ``tmp_path``."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


def run_parksim(*args: str | os.PathLike, cwd: str | os.PathLike | None = None,
                timeout: float = 180, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m parksim ARGS`` as a real subprocess and capture its output (``env``:
    variables added to this process's environment)."""
    env = {**{k: v for k, v in os.environ.items() if k != "PARKSIM_DEBUG"}, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "parksim", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, env=env, timeout=timeout,
    )


@pytest.fixture(scope="session")
def parksim_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_parksim`` as a fixture: ``parksim_cli("run", path, "-n", "4", cwd=tmp_path)``."""
    return run_parksim


@pytest.fixture(scope="session")
def tiny_args(tiny_overrides: list[str]) -> list[str]:
    """Command-line flags for a tiny, single-process, quiet run."""
    args = ["-n", "4", "--workers", "1", "--quiet"]
    for item in tiny_overrides:
        args += ["--set", item]
    return args
