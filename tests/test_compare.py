"""Paired comparison on common random numbers: ``parksim compare`` output (JSON and table),
agreement with the Python API, variance reduction by common random numbers, and identical
scenarios giving exactly zero differences."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import parksim
from parksim.cli import main
from parksim.execution.executors import LocalExecutor
from parksim.forecast import run_forecast
from parksim.scenario import TARGET_KEYS
from parksim.study.compare import Comparison, compare

TARGET_FIELDS = {
    "key",
    "scenario",
    "probability",
    "ci_low",
    "ci_high",
    "median",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "cost_per_extra_yuan",
    "probability_diff",
    "probability_diff_ci_low",
    "probability_diff_ci_high",
}
TINY_TABLES = """
[district]
firms = 1500

[calendar]
horizon = "2020-03"

[targets]
date = "2020-03"
upgrades = 6
tech_firms = 24
"""
POLICIES = {
    "base": "",
    "finance_up": "\n[policies.finance]\ntake_up = 0.9\nbudget_cap_yuan_per_year = 6.0e7\n"
    "growth_drift_per_year = 0.3\n",
    "tax_up": "\n[policies.tax]\nrd_subsidy_yuan_per_firm_year = 6.0e4\n"
    "tech_hazard_multiplier = 2.0\n",
}


def strict_json(text: str):
    """``json.loads`` that refuses NaN and Infinity."""

    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def scenario_files(write_toml, baseline_path) -> list[Path]:
    """Three tiny scenarios extending the baseline: as it is, a finance boost, a tax boost."""
    head = f"extends = {json.dumps(baseline_path.as_posix())}\n"
    return [write_toml(f"{name}.toml", f'{head}name = "{name}"\n{TINY_TABLES}{extra}')
            for name, extra in POLICIES.items()]


def test_cli_compare_json(scenario_files, tmp_path, parksim_cli):
    proc = parksim_cli(
        "compare",
        *scenario_files,
        "-n",
        "30",
        "--parameter-sets",  # integrated over the priors, 15 sets of 2: pairs within sets
        "15",
        "-w",
        "2",
        "--seed",
        "7",
        "--json",
        "--quiet",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    out = strict_json(lines[0])
    names = ["base", "finance_up", "tax_up"]
    assert {"scenarios", "replications", "seed", "fiscal_cost_yuan", "targets"} <= set(out)
    assert out["scenarios"] == names
    assert out["replications"] == 30 and out["seed"] == 7
    assert set(out["fiscal_cost_yuan"]) == set(names)
    assert all(isinstance(v, float) and v >= 0 for v in out["fiscal_cost_yuan"].values())
    # the finance boost spends more on finance: its median fiscal cost is higher
    assert out["fiscal_cost_yuan"]["finance_up"] > out["fiscal_cost_yuan"]["base"]

    targets = out["targets"]
    assert len(targets) == len(TARGET_KEYS) * 3
    assert {(t["key"], t["scenario"]) for t in targets} == {
        (k, n) for k in TARGET_KEYS for n in names
    }
    for t in targets:
        assert TARGET_FIELDS <= set(t), t
        assert 0.0 <= t["ci_low"] <= t["probability"] <= t["ci_high"] <= 1.0, t
        assert t["probability"] * 30 == pytest.approx(round(t["probability"] * 30))
        assert isinstance(t["median"], float)
        if t["scenario"] == "base":
            assert t["diff"] is None and t["diff_ci_low"] is None and t["diff_ci_high"] is None
            assert t["cost_per_extra_yuan"] is None and t["probability_diff"] is None
        else:
            assert -1 <= t["probability_diff_ci_low"] <= t["probability_diff"] \
                <= t["probability_diff_ci_high"] <= 1, t
            assert t["diff_ci_low"] <= t["diff"] <= t["diff_ci_high"], t
            if t["cost_per_extra_yuan"] is not None:  # a price only for a gain that is there
                assert t["diff_ci_low"] > 0, t
                assert math.isfinite(t["cost_per_extra_yuan"])
    # the stronger finance lever gives more upgrades, measurably, at a price; the tax lever
    # (certification multiplier) more tech firms
    row = {(t["key"], t["scenario"]): t for t in targets}
    assert row["upgrades", "finance_up"]["diff_ci_low"] > 0
    assert row["upgrades", "finance_up"]["cost_per_extra_yuan"] > 0
    assert row["tech_firms", "tax_up"]["diff_ci_low"] > 0
    assert 0 < row["upgrades", "base"]["probability"] < row["upgrades", "finance_up"]["probability"]
    assert row["upgrades", "finance_up"]["probability_diff"] == pytest.approx(
        row["upgrades", "finance_up"]["probability"] - row["upgrades", "base"]["probability"])
    # what differs: the keys each file writes, with every scenario's value, names aside
    differs = {d["key"]: d["values"] for d in out["differences"]}
    assert differs["policies.finance.take_up"] == {"base": 0.35, "finance_up": 0.9,
                                                   "tax_up": 0.35}
    assert differs["policies.tax.tech_hazard_multiplier"]["tax_up"] == 2.0
    assert "name" not in differs and "district.firms" not in differs

    # the command line prints exactly what the API computes
    scenarios = [parksim.load_scenario(p) for p in scenario_files]
    result = compare(scenarios, names, 30, 7, LocalExecutor(2), parameter_sets=15)
    assert strict_json(json.dumps(result.summary(), allow_nan=False)) == out
    # yuan per extra upgrade: extra mean fiscal cost over the mean paired difference
    fiscal = {n: result.values[n]["fiscal_total_yuan"] for n in names}
    upgrades = {n: result.values[n]["upgrades"] for n in names}
    diff = float(np.mean(upgrades["finance_up"] - upgrades["base"]))
    assert row["upgrades", "finance_up"]["diff"] == pytest.approx(diff)
    assert row["upgrades", "finance_up"]["cost_per_extra_yuan"] == pytest.approx(
        (fiscal["finance_up"].mean() - fiscal["base"].mean()) / diff)
    assert out["fiscal_cost_yuan"]["finance_up"] == pytest.approx(
        float(np.median(fiscal["finance_up"]))
    )
    # forecasts run on the same seed, replications and parameter sets pair row by row: the
    # comparison of their targets tables (compare -o --report, parksim report A B) is this one
    forecasts = [run_forecast(s, 30, 7, LocalExecutor(2), parameter_sets=15) for s in scenarios]
    paired = Comparison.from_targets(names, scenarios, [f.targets for f in forecasts], 7, 15)
    assert paired.summary() == result.summary()


def test_cli_compare_default_seed_and_replications_come_from_the_first_scenario(
    scenario_files, capsys
):
    a = scenario_files[0]
    text = a.read_text().replace(
        'name = "base"', 'name = "base"\n\n[run]\nreplications = 3\nseed = 99\n', 1
    )
    a.write_text(text)
    assert main(["compare", str(a), str(scenario_files[1]), "-w", "1", "--json", "--quiet"]) == 0
    out = strict_json(capsys.readouterr().out)
    assert out["replications"] == 3 and out["seed"] == 99


def test_cli_compare_table(scenario_files, capsys):
    code = main(
        ["compare", *map(str, scenario_files[:2]), "-n", "4", "-w", "1", "--seed", "3", "--quiet"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = captured.out
    assert "yuan per extra" in text
    header = next(line for line in text.splitlines() if "yuan per extra" in line)
    assert "diff" in header and "median" in header
    header = next(line for line in text.splitlines() if "P(met)" in line)
    assert "95% CI of change" in header
    assert "what differs (" in text and "  policies.finance.take_up: 0.35 | 0.9" in text
    for name in ("base", "finance_up"):
        assert name in text
        # a row per target for each scenario
        assert sum(1 for line in text.splitlines() if f" {name} " in f" {line} ") >= len(
            TARGET_KEYS
        )
    assert "4 replications" in text
    assert "{" not in text


def test_cli_compare_bad_scenario_is_exit_2(scenario_files, tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    code = main(["compare", str(scenario_files[0]), str(missing), "-n", "2", "-w", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(missing) in lines[0]
    assert captured.out == ""


def test_identical_scenarios_differ_by_exactly_zero(tiny_scenario):
    result = compare([tiny_scenario, tiny_scenario], ["a", "b"], 10, 4, LocalExecutor(1))
    summary = strict_json(json.dumps(result.summary(), allow_nan=False))
    assert summary["fiscal_cost_yuan"]["a"] == summary["fiscal_cost_yuan"]["b"]
    rows = {(t["key"], t["scenario"]): t for t in summary["targets"]}
    for key in TARGET_KEYS:
        a, b = rows[key, "a"], rows[key, "b"]
        assert b["diff"] == 0.0 and b["diff_ci_low"] == 0.0 and b["diff_ci_high"] == 0.0, b
        assert b["cost_per_extra_yuan"] is None
        for field in ("probability", "ci_low", "ci_high", "median"):
            assert a[field] == b[field]
    for key in (*TARGET_KEYS, "fiscal_total_yuan"):
        np.testing.assert_array_equal(result.values["a"][key], result.values["b"][key])


def test_common_random_numbers_shrink_the_variance_of_the_difference(scenarios_dir):
    # 2,000 pool firms to mid-2020: enough firms reach designated size that upgrades vary
    tiny = ["district.firms=2000", "calendar.horizon=2020-06", "targets.date=2020-06"]
    base = parksim.load_scenario(scenarios_dir / "baseline.toml", overrides=tiny)
    boost = parksim.load_scenario(scenarios_dir / "finance_boost.toml", overrides=tiny)
    n = 40
    executor = LocalExecutor(2)
    paired = compare([base, boost], ["base", "boost"], n, 101, executor)
    independent = compare([boost], ["boost"], n, 202, executor)
    a = paired.values["base"]["upgrades"]
    b = paired.values["boost"]["upgrades"]
    b_other = independent.values["boost"]["upgrades"]
    assert np.var(a, ddof=1) > 0 and np.var(b_other, ddof=1) > 0, (
        "upgrades must vary for the test to mean anything"
    )
    assert not np.array_equal(b, b_other)
    var_crn = np.var(b - a, ddof=1)
    var_ind = np.var(b_other - a, ddof=1)
    # one-sided F test: the paired differences vary less than unpaired ones
    assert var_crn < 0.25 * var_ind, (var_crn, var_ind)
    if var_crn > 0:
        assert stats.f.sf(var_ind / var_crn, n - 1, n - 1) < 0.01
    # the summary's diff is the mean paired difference
    row = next(
        t
        for t in paired.summary()["targets"]
        if t["key"] == "upgrades" and t["scenario"] == "boost"
    )
    assert row["diff"] == pytest.approx(float(np.mean(b - a)))
    assert row["diff_ci_low"] <= row["diff"] <= row["diff_ci_high"]


def test_compare_writes_a_results_directory_with_the_paired_table(scenario_files, tmp_path,
                                                                  parksim_cli):
    out = tmp_path / "cmp"
    proc = parksim_cli("compare", *scenario_files[:2], "-n", "6", "-w", "2", "--seed", "5",
                       "-o", out, "--json", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = strict_json(proc.stdout)
    assert summary["results_dir"] == str(out)
    assert strict_json((out / "summary.json").read_text(encoding="utf-8")) == summary
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "comparison" and manifest["seed"] == 5
    assert [s["name"] for s in manifest["scenarios"]] == ["base", "finance_up"]
    paired = parksim.load_results(out)
    assert len(paired) == 12 and list(paired["scenario"].unique()) == ["base", "finance_up"]
    # rows of one replication are a pair: their differences give the summary's
    wide = paired.pivot(index="replication", columns="scenario", values="upgrades")
    row = next(t for t in summary["targets"]
               if t["key"] == "upgrades" and t["scenario"] == "finance_up")
    assert row["diff"] == pytest.approx(float((wide["finance_up"] - wide["base"]).mean()))
    again = parksim.load_scenario(out / "scenario_2.toml")
    assert again.policies.finance.take_up == 0.9 and again.run.seed == 5
    # a refused output is touched by nothing
    (tmp_path / "afile").write_text("x")
    refused = parksim_cli("compare", *scenario_files[:2], "-n", "2", "-o", tmp_path / "afile",
                          "--quiet", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert (tmp_path / "afile").read_text() == "x"
    taken = parksim_cli("compare", *scenario_files[:2], "-n", "2", "-o", out, "--quiet",
                        cwd=tmp_path)
    assert taken.returncode == 2 and "not empty" in taken.stderr
    # overwritten with --force by a comparison of two: nothing of the three is left
    three = parksim_cli("compare", *scenario_files, "-n", "2", "-w", "2", "-o", tmp_path / "c3",
                        "--quiet", cwd=tmp_path)
    assert three.returncode == 0 and (tmp_path / "c3" / "scenario_3.toml").exists()
    two = parksim_cli("compare", *scenario_files[:2], "-n", "2", "-w", "2", "-o",
                      tmp_path / "c3", "--force", "--quiet", cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    assert not (tmp_path / "c3" / "scenario_3.toml").exists()
    assert list(parksim.load_results(tmp_path / "c3")["scenario"].unique()) == [
        "base", "finance_up"]


def test_different_target_dates_are_refused_unless_allowed(scenario_files, write_toml, capsys):
    """Values read at different dates are not a comparison: refused in one line naming the
    key; with --allow-different-dates all are read at the earliest date, and said so."""
    base = scenario_files[0]
    early = write_toml("early.toml", f'extends = {json.dumps(base.as_posix())}\n'
                       'name = "early"\n[targets]\ndate = "2020-01"\n')
    args = ["compare", str(base), str(early), "-n", "4", "-w", "1", "-q", "--json"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "targets.date" in err
    assert "--allow-different-dates" in err and json.loads(out)["key"] == "targets.date"
    assert main([*args, "--allow-different-dates"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["compared_at"] == "2020-01" and "all are compared at 2020-01" in err
    # the same scenario read at the same date: every paired difference is exactly zero
    assert all(t["diff"] == 0 for t in summary["targets"] if t["scenario"] == "early")
