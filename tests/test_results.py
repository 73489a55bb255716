"""The results directory: what ``parksim run`` writes and what ``load_results`` reads back."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
from importlib import metadata

import numpy as np
import pandas as pd
import pytest

import parksim
from parksim.calendar import month_label
from parksim.io import LOCK, ResultsDirError, claim_results_dir
from parksim.provenance import source_hash
from parksim.scenario import TARGET_KEYS

BOM = b"\xef\xbb\xbf"
PARK_NAME = "场口百丈小微企业创新园"
RECORD_COLUMNS = [
    "replication",
    "time_months",
    "date",
    "kind",
    "park_id",
    "firm_id",
    "firm_age_years",
    "revenue_yuan",
    "floor_m2",
    "tech",
    "grade",
    "exit_reason",
    "lever",
    "build",
    "lost_standing",
    "amount_yuan",
]
TABLES = ("targets", "series", "parks", "records")


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, parksim_cli, baseline_path, tiny_overrides):
    """A tiny run with ``--records``: the replications come from the scenario (4)."""
    base = tmp_path_factory.mktemp("results")
    out = base / "baseline-tiny"
    args = ["run", baseline_path, "--workers", "1", "--quiet", "--records", "-o", out]
    for item in tiny_overrides:
        args += ["--set", item]
    proc = parksim_cli(*args, cwd=base)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def forecast(tiny_scenario):
    """The same forecast, made in this process through the Python API."""
    return parksim.simulate(tiny_scenario, workers=1, records=True)


@pytest.fixture(scope="module")
def results(results_dir):
    return parksim.load_results(results_dir)


def test_directory_holds_every_file(results_dir):
    names = {p.name for p in results_dir.iterdir()}
    expected = {"manifest.json", "summary.json", "scenario.toml",
                *(f"{t}.parquet" for t in TABLES), "targets.csv", "series.csv", "parks.csv"}
    assert expected <= names
    assert not [n for n in names if n.endswith(".tmp")]  # no leftovers of atomic writes


def test_csv_files_carry_a_bom_and_chinese_names(results_dir):
    for name in ("targets", "series", "parks"):
        assert (results_dir / f"{name}.csv").read_bytes().startswith(BOM), name
    text = (results_dir / "parks.csv").read_bytes()[len(BOM):].decode("utf-8")
    assert PARK_NAME in text


def test_csv_matches_parquet(results_dir):
    for name in ("targets", "parks"):
        from_csv = pd.read_csv(results_dir / f"{name}.csv", encoding="utf-8-sig")
        from_parquet = pd.read_parquet(results_dir / f"{name}.parquet")
        assert list(from_csv.columns) == list(from_parquet.columns)
        assert len(from_csv) == len(from_parquet)
        for column in from_parquet.columns:
            if pd.api.types.is_numeric_dtype(
                from_parquet[column]
            ) and not pd.api.types.is_bool_dtype(from_parquet[column]):
                np.testing.assert_allclose(
                    from_csv[column].to_numpy(float),
                    from_parquet[column].to_numpy(float),
                    rtol=1e-12,
                    err_msg=f"{name}.{column}",
                )
    names = pd.read_csv(results_dir / "parks.csv", encoding="utf-8-sig")["name"]
    assert PARK_NAME in set(names)


@pytest.mark.parametrize("table", TABLES)
def test_load_results_equals_the_forecast(results, forecast, table):
    """What the command line wrote is what the API computes for the same scenario and seed."""
    loaded = getattr(results, table)
    assert isinstance(loaded, pd.DataFrame)
    pd.testing.assert_frame_equal(loaded, getattr(forecast, table))


def test_targets_table_has_one_row_per_replication(results, tiny_scenario):
    targets = results.targets
    assert list(targets["replication"]) == list(range(tiny_scenario.run.replications))
    for key in TARGET_KEYS:
        met = targets[key] >= float(getattr(tiny_scenario.targets, key))
        assert (targets[f"met_{key}"] == met).all(), key
    assert (targets["met_all"] == targets[[f"met_{k}" for k in TARGET_KEYS]].all(axis=1)).all()
    levers = targets[[f"fiscal_{lever}_yuan" for lever in parksim.scenario.LEVERS]].sum(axis=1)
    capital = targets[[f"fiscal_{item}_yuan" for item in parksim.scenario.CAPITAL_ITEMS]]
    np.testing.assert_allclose(capital.sum(axis=1), targets["capital_outlay_yuan"], rtol=1e-9)
    public = levers + targets["capital_outlay_yuan"]
    np.testing.assert_allclose(targets["fiscal_total_yuan"], public, rtol=1e-9)
    statutory = targets[[f"fiscal_{item}_yuan" for item in parksim.scenario.STATUTORY_ITEMS]]
    np.testing.assert_allclose(statutory.sum(axis=1), targets["tax_expenditure_yuan"], rtol=1e-9)
    assert (targets["tax_expenditure_yuan"] > 0).all()  # statutory: in every replication


def test_grades_table_and_the_summary_grade_mix_agree(results, tiny_scenario):
    """One row per park and grading round; the summary's grade mix counts its rows per year,
    per replication."""
    grades = results.grades
    assert set(grades["grade"]) <= {"", "A", "B", "C", "D"} and len(grades)
    assert not grades.duplicated(["replication", "year", "park_id"]).any()
    n = tiny_scenario.run.replications
    for row in results.summary["grade_mix"]:
        year = grades[grades["year"] == row["year"]]
        for grade in "ABCD":
            assert row[grade] == pytest.approx((year["grade"] == grade).sum() / n)
        assert row["not_graded"] == pytest.approx((year["grade"] == "").sum() / n)
        assert row["with_platform"] == pytest.approx(year["has_platform"].sum() / n)
        assert row["above_line_unregistered"] == pytest.approx(
            year["above_line_unregistered"].sum() / n)
    assert [r["year"] for r in results.summary["grade_mix"]] == sorted(set(grades["year"]))


def test_series_cover_every_month_of_every_replication(results, tiny_scenario):
    series = results.series
    months = tiny_scenario.horizon_months
    assert len(series) == months * tiny_scenario.run.replications
    first = series[series["replication"] == 0]
    assert list(first["month"]) == list(range(months))
    assert str(first["date"].iloc[0]) == tiny_scenario.calendar.start
    assert str(first["date"].iloc[-1]) == tiny_scenario.calendar.horizon


def test_scenario_round_trips(results, results_dir, tiny_scenario):
    assert isinstance(results.scenario, parksim.Scenario)
    assert results.scenario == tiny_scenario
    reloaded = parksim.load_scenario(results_dir / "scenario.toml")
    assert reloaded == tiny_scenario
    assert reloaded.parks.initial[0].name == PARK_NAME


def test_summary_is_read_back(results, results_dir):
    assert results.summary["results_dir"] == str(results_dir)
    assert results.summary["replications"] == 4
    assert [t["key"] for t in results.summary["targets"]] == list(TARGET_KEYS)


def test_records_columns_and_kinds(results, tiny_scenario):
    records = results.records
    assert list(records.columns) == RECORD_COLUMNS
    kinds = set(records["kind"].astype(str))
    assert {"park_opened", "park_recognised", "park_graded", "firm_entered", "firm_exited"} <= kinds
    assert set(records["replication"]) == set(range(tiny_scenario.run.replications))
    exits = records[records["kind"] == "firm_exited"]
    assert len(exits) > 0
    assert set(exits["exit_reason"]) <= {"failure", "contract", "graduated", "moved"}
    grades = records[records["kind"] == "park_graded"]["grade"]
    assert set(grades) <= {"A", "B", "C", "D"}
    # the date column is the calendar month of time_months
    start = tiny_scenario.calendar.start
    sample = records.iloc[:: max(1, len(records) // 200)]
    for t, date in zip(sample["time_months"], sample["date"], strict=True):
        assert date == month_label(start, int(np.floor(t)))
    assert records["time_months"].between(0, tiny_scenario.horizon_months).all()
    # within a replication, records are in time order
    for _, group in records.groupby("replication"):
        assert group["time_months"].is_monotonic_increasing


def test_manifest(results, results_dir, baseline_path, tiny_scenario):
    manifest = json.loads((results_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == results.manifest
    assert manifest["seed"] == tiny_scenario.run.seed
    assert manifest["replications"] == tiny_scenario.run.replications
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["source_sha256"])
    assert manifest["source_sha256"] == source_hash()
    versions = manifest["versions"]
    for lib in ("simpy", "numpy", "pandas", "pyarrow", "pydantic"):
        assert versions[lib] == metadata.version(lib), lib
    assert versions["parksim"] == parksim.__version__
    assert "wilson" in manifest["interval_method"].lower()
    assert isinstance(manifest["wall_time_s"], float | int) and manifest["wall_time_s"] >= 0
    sources = manifest["scenario_files"]
    assert [s["path"] for s in sources] == [str(baseline_path)]
    assert sources[0]["sha256"] == hashlib.sha256(baseline_path.read_bytes()).hexdigest()
    # every other file, with its size and SHA-256 (the manifest cannot hash itself)
    assert sorted(manifest["files"]) == sorted(
        p.name for p in results_dir.iterdir() if p.name != "manifest.json"
    )
    for name, meta in manifest["files"].items():
        data = (results_dir / name).read_bytes()
        assert meta == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_load_results_refuses_a_file_changed_after_the_manifest(results_dir, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(results_dir, copy)
    with open(copy / "targets.csv", "ab") as fh:
        fh.write(b"0,1,2\n")
    with pytest.raises(ValueError, match="targets.csv"):
        parksim.load_results(copy)


def test_load_results_reads_a_forecast_as_load_forecast_does(results, results_dir):
    """The dispatcher hands a forecast's directory to the forecast's own reader."""
    direct = parksim.load_forecast(results_dir)
    assert isinstance(direct, parksim.Results) and isinstance(results, parksim.Results)
    assert direct.manifest == results.manifest and direct.manifest["kind"] == "forecast"
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(direct, table), getattr(results, table))


def test_each_reader_refuses_another_kind_of_results(results_dir, tmp_path):
    with pytest.raises(ValueError, match="not a sweep"):
        parksim.load_sweep(results_dir)
    copy = tmp_path / "later-kind"
    shutil.copytree(results_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["kind"] = "optimisation"
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ValueError,
                       match="unknown kind 'optimisation'.*calibration, comparison, forecast, "
                             "sensitivity, sweep"):
        parksim.load_results(copy)
    with pytest.raises(ValueError, match="not a forecast"):
        parksim.load_forecast(copy)
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        parksim.load_results(tmp_path)


def test_each_run_claims_its_own_default_directory(tmp_path):
    """Two runs started in the same second do not share (or overwrite) a results directory."""
    name = tmp_path / "results" / "baseline-20261125-101500"
    first = claim_results_dir(name, unique=True)
    second = claim_results_dir(name, unique=True)
    assert first.created and second.created and first.path != second.path
    assert first.path.is_dir() and second.path.is_dir()
    second.release(remove_if_empty=True)
    assert not second.path.exists() and first.path.exists()
    first.release()


def test_a_locked_directory_is_refused_until_released(tmp_path):
    """Two runs given the same -o never write into one directory, not even with --force."""
    out = tmp_path / "shared"
    first = claim_results_dir(out)
    assert first.created and (out / LOCK).exists()
    for force in (False, True):
        with pytest.raises(ResultsDirError, match="another run"):
            claim_results_dir(out, force=force)
    first.release(remove_if_empty=True)
    assert not out.exists()


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    """The lock dies with the process that held it, however it ended."""
    out = tmp_path / "killed"
    code = (
        "import os, signal, sys; from parksim.io import claim_results_dir; "
        f"c = claim_results_dir({str(out)!r}); print('locked', flush=True); os.kill(os.getpid(), "
        "signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "locked" in proc.stdout
    assert (out / LOCK).exists()  # the file stays, the lock does not
    again = claim_results_dir(out)
    assert again.path == out and not again.created
    again.release()


def test_damaged_manifests_and_stray_tables_are_said_in_one_line(tmp_path, baseline_path,
                                                                 tiny_args, parksim_cli):
    """A table the manifest does not list is not read (a warning says so); a manifest that is
    not JSON, not an object, or lists a file without its size and hash is a ValueError
    naming the file, and parksim plot on it is one line with exit code 2."""
    import shutil
    import warnings

    from parksim.results import ResultsWarning

    out = tmp_path / "run"
    assert parksim_cli("run", baseline_path, *tiny_args, "-o", out).returncode == 0
    planted = tmp_path / "planted"
    shutil.copytree(out, planted)
    (planted / "records.parquet").write_bytes((out / "targets.parquet").read_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = parksim.load_results(planted)
    assert results.records is None
    assert any(issubclass(w.category, ResultsWarning) and "records.parquet" in str(w.message)
               for w in caught)
    for name, text in (("notjson", "{"), ("list", "[]"),
                       ("nosize", json.dumps({"kind": "forecast",
                                              "files": {"summary.json": {"sha256": "x"}}}))):
        damaged = tmp_path / name
        shutil.copytree(out, damaged)
        (damaged / "manifest.json").write_text(text)
        with pytest.raises(ValueError, match="manifest.json"):
            parksim.load_results(damaged)
        proc = parksim_cli("plot", damaged, "parks", "-o", tmp_path / f"{name}.png")
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr
