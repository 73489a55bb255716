"""Sensitivity analysis: Sobol indices and Morris screening through the study's own code path.

The Ishigami function's known indices are recovered from the same design sampler and analysis
the model's studies use (and a wrong value is told apart); Morris ranks a linear toy's factors
by their slopes; the replication-noise share is recovered on a toy with known noise; and
``parksim sensitivity`` runs a tiny study end to end, resumes, re-analyses a sweep with
``--from``, and refuses a design without indices.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SENSITIVITY

import parksim
from parksim.study.experiment import Design, _unit_samples
from parksim.study.sensitivity import analyse, noise_share

ISHIGAMI_S1 = (0.3139, 0.4424, 0.0)
ISHIGAMI_ST = (0.5576, 0.4424, 0.2437)


def _ishigami(unit: np.ndarray) -> np.ndarray:
    x = -math.pi + 2 * math.pi * unit
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def _problem(kind: str, d: int = 3) -> dict:
    return {"names": [f"x{i + 1}" for i in range(d)], "kind": kind, "second_order": False,
            "levels": 4}


def test_sobol_indices_of_the_ishigami_function():
    unit = _unit_samples(Design(kind="sobol", samples=1024, seed=1), 3)
    result = analyse({"y": _ishigami(unit)[:, None]}, _problem("sobol"), unit, seed=2)
    rows = result.indices.set_index("factor")
    for i, name in enumerate(("x1", "x2", "x3")):
        row = rows.loc[name]
        assert abs(row["S1"] - ISHIGAMI_S1[i]) <= max(row["S1_conf"], 0.03), (name, row["S1"])
        assert abs(row["ST"] - ISHIGAMI_ST[i]) <= max(row["ST_conf"], 0.03), (name, row["ST"])
    # power: the intervals tell the true value from a wrong one
    assert abs(rows.loc["x3", "ST"] - 0.4) > rows.loc["x3", "ST_conf"]
    assert abs(rows.loc["x1", "S1"] - 0.5) > rows.loc["x1", "S1_conf"]
    summary = result.summary["outputs"][0]
    assert summary["trusted"] and summary["top"][0]["factor"] == "x1"
    assert summary["noise_share"] is None  # one replication per point: noise unknown
    assert any("noise is unknown" in w for w in result.warnings)


def test_morris_ranks_a_linear_toy_by_its_slopes():
    unit = _unit_samples(Design(kind="morris", samples=20, seed=4), 3)
    y = 10 * unit[:, 0] + 1 * unit[:, 1] + 0 * unit[:, 2]
    result = analyse({"y": y[:, None]}, _problem("morris"), unit, seed=5)
    mu = result.indices.set_index("factor")["mu_star"]
    assert mu["x1"] == pytest.approx(10, rel=1e-6) and mu["x2"] == pytest.approx(1, rel=1e-6)
    assert mu["x3"] == 0
    assert [t["factor"] for t in result.summary["outputs"][0]["top"]][:2] == ["x1", "x2"]


def test_noise_share_recovers_known_replication_noise():
    rng = np.random.default_rng(8)
    points, r = 400, 4
    signal = rng.normal(0, 1.0, points)  # variance 1 across points; noise variance 4 per run
    matrix = signal[:, None] + rng.normal(0, 2.0, (points, r))
    # variance of a point mean: 1 + 4 / 4 = 2, half of it noise
    assert noise_share(matrix) == pytest.approx(0.5, abs=0.08)
    # luck common to every point (common random numbers) is no noise between points
    common = matrix + np.array([0.0, 10.0, -10.0, 25.0])[None, :]
    assert noise_share(common) == pytest.approx(noise_share(matrix))
    assert np.mean(common.var(axis=1, ddof=1)) / r / np.var(common.mean(axis=1), ddof=1) > 1
    assert noise_share(signal[:, None] + np.zeros((points, r))) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(noise_share(matrix[:, :1]))


def test_noise_or_a_small_design_makes_the_indices_untrusted():
    rng = np.random.default_rng(9)
    unit = _unit_samples(Design(kind="sobol", samples=8, seed=1), 3)
    noisy = unit[:, :1] * 0.1 + rng.normal(0, 1.0, (len(unit), 2))
    result = analyse({"y": noisy}, _problem("sobol"), unit, seed=1)
    assert not result.summary["outputs"][0]["trusted"]
    assert any("cannot be trusted" in w for w in result.warnings)
    # an inert factor's total index is about the noise share: flagged as below it
    inert = result.indices.set_index("factor").loc["x3"]
    assert inert["below_noise"]


def test_cli_sensitivity_end_to_end(write_toml, baseline_path, tmp_path, parksim_cli):
    path = write_toml("sens.toml", TINY_SENSITIVITY.format(
        baseline=baseline_path, kind="sobol", samples=4))
    out = tmp_path / "study"
    proc = parksim_cli("sensitivity", path, "-o", out, "-w", "2", "--json", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["method"] == "sobol" and summary["points"] == 4 * 5
    assert {o["output"] for o in summary["outputs"]} >= {"firms", "met_firms", "met_all"}
    indices = parksim.load_results(out)
    assert set(indices["factor"]) == {"district.floor_m2_per_million_yuan",
                                      "enterprises.growth_drift_per_year",
                                      "policies.finance.budget_cap_yuan_per_year"}
    kinds = dict(zip(indices["factor"], indices["factor_kind"], strict=False))
    assert kinds["policies.finance.budget_cap_yuan_per_year"] == "lever"
    assert kinds["district.floor_m2_per_million_yuan"] == "prior"
    # the floor per unit of revenue drives the firms in parks (as in the forecast)
    firms = indices[indices["output"] == "firms"].set_index("factor")["ST"]
    assert firms.idxmax() == "district.floor_m2_per_million_yuan"
    # the same command again resumes (every task kept) and gives the same indices
    again = parksim_cli("sensitivity", path, "-o", out, "-w", "1", "--json", "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["sweep_report"]["run"] == 0
    pd.testing.assert_frame_equal(parksim.load_results(out), indices)
    pd.testing.assert_frame_equal(parksim.sensitivity(path, out, workers=1), indices)
    # --from analyses the sweep directory alone
    other = tmp_path / "again"
    proc = parksim_cli("sensitivity", "--from", out / "sweep", "-o", other, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "total Sobol index" in proc.stdout
    pd.testing.assert_frame_equal(parksim.load_results(other), indices)


def test_cli_sensitivity_refuses_what_has_no_indices(write_toml, baseline_path, tmp_path,
                                                    parksim_cli):
    grid = write_toml("grid.toml", TINY_SENSITIVITY.format(
        baseline=baseline_path, kind="lhs", samples=4))
    for args in (["sensitivity", grid, "-o", tmp_path / "a"], ["sensitivity"],
                 ["sensitivity", grid, "--from", tmp_path]):
        proc = parksim_cli(*args, "--json", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert json.loads(proc.stdout)["error"] == "bad_input"
    assert not (tmp_path / "a").exists()


def test_a_study_never_overwrites_other_results(write_toml, baseline_path, tmp_path,
                                                parksim_cli):
    path = write_toml("sens.toml", TINY_SENSITIVITY.format(
        baseline=baseline_path, kind="sobol", samples=2))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    proc = parksim_cli("sensitivity", path, "-o", taken, "-q", cwd=tmp_path)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]
