"""Sweeps: ``parksim sweep`` and :func:`run_sweep` -- one row per task, results independent of
the workers, resume without rewriting, refusal of foreign directories, survival of SIGKILL,
failed tasks recorded without stopping the sweep, unwritable outputs reported cleanly."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grimp
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parksim
from parksim.cli import main
from parksim.execution.executors import LocalExecutor, SchedulerLost
from parksim.execution.pool import chunk_sizes
from parksim.execution.tasks import META_COLUMNS, scenario_hash
from parksim.io import LOCK, DirectoryLock
from parksim.provenance import MODEL_MODULES, source_hash
from parksim.scenario import LEVERS, TARGET_KEYS
from parksim.study.experiment import load_experiment
from parksim.study.store import load_sweep
from parksim.study.sweep import run_sweep

TINY = ["district.firms=1500", 'calendar.horizon="2019-12"', 'targets.date="2019-12"']
FACTORS = ["policies.finance.take_up", "policies.land.budget_cap_yuan_per_year"]
FISCAL = [f"fiscal_{lever}_yuan" for lever in (*LEVERS, "total")] + ["park_investment_yuan"]
SEED = 5


def experiment_text(
    baseline: Path,
    *,
    take_up=(0.35, 0.8),
    land=(2.5e7, 0.0),
    replications: int = 3,
    seed: int = SEED,
    overrides=TINY,
    name: str = "tiny_sweep",
) -> str:
    """A grid over finance take-up and land budget; (0.35, 2.5e7) is the baseline's setting."""
    return f"""
name = "{name}"
scenario = {json.dumps(baseline.as_posix())}
overrides = [{", ".join(json.dumps(o) for o in overrides)}]
replications = {replications}
seed = {seed}

[design]
kind = "grid"

[[factors]]
path = "policies.finance.take_up"
values = {json.dumps(list(take_up))}

[[factors]]
path = "policies.land.budget_cap_yuan_per_year"
values = {json.dumps(list(land))}
"""


@pytest.fixture
def exp_path(write_toml, baseline_path) -> Path:
    """A 2 x 2 grid, 3 replications: 12 tasks of a few ms each."""
    return write_toml("exp.toml", experiment_text(baseline_path))


def shard_stats(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns)
        for p in (directory / "shards").glob("part-*.parquet")
    }


def shard_rows(directory: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (directory / "shards").glob("part-*.parquet"))


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("parksim: error: "), lines[0]
    assert "Traceback" not in text
    return lines[0]


def sweep_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- one row per task


def test_cli_sweep_gives_one_row_per_task(exp_path, tmp_path, parksim_cli):
    out = tmp_path / "out"
    proc = parksim_cli("sweep", exp_path, "-o", out, "-w", "2", "--quiet", "--json", cwd=tmp_path)
    report = sweep_json(proc)
    assert (
        report["tasks"] == 12
        and report["run"] == 12
        and report["skipped"] == 0
        and report["failed"] == 0
    )
    assert report["results_dir"] == str(out)
    assert not (out / LOCK).exists()  # the lock is released when the sweep ends

    frame = parksim.load_results(out)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 12
    fixed = ["point", *FACTORS, "replication", "seed", "status", "error"]
    assert list(frame.columns[: len(fixed)]) == fixed
    assert set(TARGET_KEYS) <= set(frame.columns)
    assert set(FISCAL) <= set(frame.columns)
    assert not set(META_COLUMNS) & set(frame.columns)
    assert not {"key", "traceback"} & set(frame.columns)
    assert (frame["status"] == "ok").all()
    assert (frame["error"] == "").all()
    assert (frame["seed"] == SEED).all()
    assert frame[list(TARGET_KEYS) + FISCAL].notna().all().all()
    # every point, every replication, once; the factor columns are the point's values
    assert sorted(zip(frame["point"], frame["replication"], strict=True)) == [
        (p, r) for p in range(4) for r in range(3)
    ]
    settings = {
        p: tuple(g[FACTORS].drop_duplicates().itertuples(index=False))
        for p, g in frame.groupby("point")
    }
    assert all(len(v) == 1 for v in settings.values())
    assert sorted(v[0] for v in settings.values()) == sorted(
        [(0.35, 2.5e7), (0.35, 0.0), (0.8, 2.5e7), (0.8, 0.0)])
    # the factors change the results: points differ in fiscal cost on the same replication seeds
    by_point = frame.groupby("point")["fiscal_total_yuan"].sum()
    assert by_point.nunique() == 4

    full = parksim.load_results(out, meta=True)
    assert set(META_COLUMNS) <= set(full.columns)
    assert {"key", "traceback"} <= set(full.columns)
    assert full["key"].is_unique
    assert (full["seconds"] >= 0).all() and full["host"].notna().all()
    pd.testing.assert_frame_equal(full[frame.columns], frame)


def test_progress_goes_to_a_log_as_lines_and_not_with_quiet(exp_path, tmp_path):
    """Without a terminal, a command's progress is a header when its runs start, then a line
    every PARKSIM_PROGRESS_EVERY seconds (30 by default) on stderr with the rate and the time
    left; --quiet silences it; stdout stays the JSON object."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PARKSIM_PROGRESS_EVERY": "0"}

    def sweep(*flags):
        return subprocess.run([sys.executable, "-m", "parksim", "sweep", str(exp_path), "-o",
                               str(tmp_path / f"out{len(flags)}"), "-w", "2", "--json", *flags],
                              capture_output=True, text=True, encoding="utf-8", env=env,
                              timeout=180)

    logged, quiet = sweep(), sweep("--quiet")
    assert logged.returncode == 0 and quiet.returncode == 0, logged.stderr
    header, *lines = logged.stderr.splitlines()
    assert header.startswith("parksim: ") and header.endswith(": started, 12 tasks"), header
    assert lines and all(line.startswith("parksim: ") and " of 12 tasks (" in line
                         and " tasks/s" in line for line in lines), lines
    assert lines[-1].split(": ")[2].startswith("12 of 12 tasks (100%)")
    assert "left" in " ".join(lines[:-1]) or len(lines) == 1  # an estimate while running
    assert quiet.stderr == "" and json.loads(logged.stdout)["run"] == 12


def test_results_do_not_depend_on_workers_or_run(exp_path, tmp_path, parksim_cli):
    one, two = tmp_path / "w1", tmp_path / "w2"
    assert main(["sweep", str(exp_path), "-o", str(one), "-w", "1", "--quiet"]) == 0
    sweep_json(
        parksim_cli("sweep", exp_path, "-o", two, "-w", "2", "--quiet", "--json", cwd=tmp_path)
    )
    a, b = parksim.load_results(one), parksim.load_results(two)
    assert len(a) == 12
    pd.testing.assert_frame_equal(a, b)
    # and in-process, in a third directory, with chunks of one task
    c = tmp_path / "inproc"
    run_sweep(load_experiment(exp_path), c, LocalExecutor(2, chunk=1))
    pd.testing.assert_frame_equal(a, load_sweep(c))


def test_a_sweep_is_not_read_as_a_forecast(exp_path, tmp_path):
    out = tmp_path / "out"
    run_sweep(load_experiment(exp_path), out, LocalExecutor(1))
    pd.testing.assert_frame_equal(parksim.load_results(out), parksim.load_sweep(out))
    with pytest.raises(ValueError, match="not a forecast"):
        parksim.load_forecast(out)


def test_baseline_point_reproduces_simulate(exp_path, tmp_path, baseline_path):
    plan = load_experiment(exp_path)
    # a factor fixes its key: the point is the baseline with the finance take-up written in
    scenario = parksim.load_scenario(baseline_path,
                                     overrides=[*TINY, "policies.finance.take_up=0.35"])
    base_point = plan.factor_values.index((0.35, 2.5e7))
    assert plan.point_hashes[base_point] == scenario_hash(scenario)
    run_sweep(plan, tmp_path / "out", LocalExecutor(1))
    frame = load_sweep(tmp_path / "out")
    rows = frame[frame["point"] == base_point].sort_values("replication").reset_index(drop=True)
    # a sweep draws a parameter set per task: the forecast with one replication per set
    forecast = parksim.simulate(scenario, replications=3, seed=SEED, workers=1, parameter_sets=3)
    expected = forecast.targets.sort_values("replication").reset_index(drop=True)
    assert list(rows["replication"]) == list(expected["replication"]) == [0, 1, 2]
    columns = [*TARGET_KEYS, *[c for c in FISCAL if c in expected.columns]]
    assert "fiscal_total_yuan" in columns
    pd.testing.assert_frame_equal(rows[columns], expected[columns], check_dtype=False)
    # a point that is not the baseline does not reproduce it
    other = frame[frame["point"] != base_point].sort_values(["point", "replication"])
    assert not other.groupby("point")["fiscal_total_yuan"].apply(
        lambda s: list(s) == list(expected["fiscal_total_yuan"])).any()


def test_sweep_rows_and_forecast_tables_carry_the_same_columns(write_toml, tmp_path, baseline_path):
    """One flattening: a sweep's row of a point and the forecast of its scenario give the same
    values under the same names, observations included (``observed_<i>`` in both)."""
    text = experiment_text(baseline_path, take_up=(0.35,), land=(2.5e7,), replications=3)
    text = text.replace(
        f"seed = {SEED}\n", f'seed = {SEED}\noutputs = ["targets", "fiscal", "observed"]\n'
    )
    plan = load_experiment(write_toml("observed.toml", text))
    run_sweep(plan, tmp_path / "out", LocalExecutor(1))
    rows = load_sweep(tmp_path / "out").sort_values("replication").reset_index(drop=True)
    forecast = parksim.simulate(plan.scenarios[0], replications=3, seed=SEED, workers=2,
                                parameter_sets=3)
    observed = [f"observed_{i}" for i in range(len(plan.scenarios[0].observations))]
    assert observed and list(forecast.observed.columns) == observed
    pd.testing.assert_frame_equal(rows[observed], forecast.observed, check_dtype=False)
    columns = [*TARGET_KEYS, *FISCAL]
    pd.testing.assert_frame_equal(rows[columns], forecast.targets[columns], check_dtype=False)


# --------------------------------------------------------------------------- resume and refusal


def test_rerun_into_the_same_dir_runs_nothing_and_rewrites_nothing(
    exp_path, tmp_path, parksim_cli, capsys
):
    out = tmp_path / "out"
    command = ["sweep", str(exp_path), "-o", str(out), "-w", "2", "--quiet", "--json"]
    first = sweep_json(parksim_cli(*command, cwd=tmp_path))
    assert first["run"] == 12
    before = shard_stats(out)
    assert before
    frame = parksim.load_results(out)
    manifest = (out / "manifest.json").read_bytes()
    points = (out / "points.parquet").stat().st_mtime_ns
    time.sleep(0.02)
    # the same command again (in-process: the same code path, without a second interpreter start)
    assert main(command) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["skipped"] == again["tasks"] == 12
    assert again["run"] == 0 and again["failed"] == 0
    assert shard_stats(out) == before
    assert (out / "manifest.json").read_bytes() == manifest
    assert (out / "points.parquet").stat().st_mtime_ns == points
    pd.testing.assert_frame_equal(parksim.load_results(out), frame)
    # the summary (no --json) says so too
    assert main(command[:-1]) == 0
    assert "12 already done, 0 run now" in capsys.readouterr().out
    assert shard_stats(out) == before


def test_no_resume_refuses_a_started_dir(exp_path, tmp_path, capsys):
    out = tmp_path / "out"
    run_sweep(load_experiment(exp_path), out, LocalExecutor(1))
    before = shard_stats(out)
    code = main(["sweep", str(exp_path), "-o", str(out), "--no-resume", "-w", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert str(out) in one_error_line(captured.err)
    assert shard_stats(out) == before
    # --no-resume into a new directory is fine
    assert (
        main(
            [
                "sweep",
                str(exp_path),
                "-o",
                str(tmp_path / "fresh"),
                "--no-resume",
                "-w",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert len(load_sweep(tmp_path / "fresh")) == 12


@pytest.mark.parametrize("change", ["replications", "factor_values", "seed", "overrides"])
def test_dir_of_another_experiment_is_refused(write_toml, baseline_path, tmp_path, capsys, change):
    out = tmp_path / "out"
    run_sweep(
        load_experiment(write_toml("a.toml", experiment_text(baseline_path))), out, LocalExecutor(1)
    )
    before = shard_stats(out)
    manifest = (out / "manifest.json").read_bytes()
    kwargs = {
        "replications": {"replications": 4},
        "factor_values": {"take_up": (0.35, 0.9)},
        "seed": {"seed": SEED + 1},
        "overrides": {"overrides": [*TINY, "district.firms=1200"]},
    }[change]
    other = write_toml("b.toml", experiment_text(baseline_path, **kwargs))
    code = main(["sweep", str(other), "-o", str(out), "-w", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    line = one_error_line(captured.err)
    assert str(out) in line and "the experiment (its settings, points or scenario files) " \
        "changed (this directory: " in line and "model's source" not in line
    assert f"to start over, use a new output directory or delete {out}" in line
    assert shard_stats(out) == before
    assert (out / "manifest.json").read_bytes() == manifest
    assert len(load_sweep(out)) == 12


def test_same_experiment_under_another_name_resumes(write_toml, baseline_path, tmp_path):
    """What the directory is checked against is the experiment's content, not its file name."""
    out = tmp_path / "out"
    run_sweep(
        load_experiment(write_toml("a.toml", experiment_text(baseline_path))), out, LocalExecutor(1)
    )
    report = run_sweep(
        load_experiment(write_toml("copy.toml", experiment_text(baseline_path))),
        out,
        LocalExecutor(1),
    )
    assert report.skipped == 12 and report.run == 0


def test_non_sweep_dir_is_refused(exp_path, tmp_path, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    code = main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert str(out) in one_error_line(captured.err)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine\n"


def test_forecast_results_dir_is_refused(exp_path, tmp_path, capsys, tiny_args, baseline_path):
    run = tmp_path / "run"
    assert main(["run", str(baseline_path), *tiny_args, "-n", "2", "-o", str(run)]) == 0
    files = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    capsys.readouterr()
    code = main(["sweep", str(exp_path), "-o", str(run), "-w", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert str(run) in one_error_line(captured.err)
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == files


def test_a_sweep_being_written_is_refused(exp_path, tmp_path, capsys):
    out = tmp_path / "out"
    run_sweep(load_experiment(exp_path), out, LocalExecutor(1))
    lock = DirectoryLock(out)
    assert lock.acquire()
    try:
        code = main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"])
        captured = capsys.readouterr()
        assert code == 2
        assert "another" in one_error_line(captured.err)
    finally:
        lock.release()
    assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 0


def test_a_sweep_refused_by_another_run_s_lock_touches_nothing(exp_path, tmp_path, capsys):
    """A forecast has claimed the directory and written nothing yet: a sweep sent there is
    refused and leaves no trace (the forecast then writes into it as if nothing happened)."""
    out = tmp_path / "forecast"
    out.mkdir()
    lock = DirectoryLock(out)
    assert lock.acquire()
    try:
        before = sorted(p.name for p in out.iterdir())
        assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 2
        assert "another run is writing" in one_error_line(capsys.readouterr().err)
        assert sorted(p.name for p in out.iterdir()) == before
    finally:
        lock.release()


def test_a_sweep_stopped_before_its_manifest_starts_again(exp_path, tmp_path, capsys):
    """Killed between its header files and its manifest (or with a disk that filled up while
    the header was written), a sweep's directory holds points, a temporary file and an empty
    shards folder: the same command starts it, as the interrupt message promised."""
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    (out / "points.parquet").write_bytes(b"half a table")
    (out / ".experiment.toml.tmp").write_bytes(b"half")
    assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 0
    rows = parksim.load_results(out)
    assert len(rows) == shard_rows(out) > 0


def test_header_files_deleted_after_a_sweep_are_written_again(exp_path, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 0
    rows = parksim.load_results(out)
    (out / "points.parquet").unlink()
    (out / "experiment.toml").unlink()
    assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 0
    pd.testing.assert_frame_equal(parksim.load_results(out), rows)


def test_changed_model_is_refused_naming_both_source_hashes(exp_path, tmp_path, monkeypatch,
                                                           capsys):
    """A sweep directory written by another model (source hash) is refused, never mixed: the
    line names the model's source as what changed, with both hashes, and how to start over."""
    out = tmp_path / "out"
    assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 0
    recorded = json.loads((out / "manifest.json").read_text())["source_sha256"]
    before = shard_stats(out)
    import parksim.study.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "source_hash", lambda: "0" * 64)  # the model's source changed
    assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert (f"the model's source changed (this directory: {recorded[:16]}, now: "
            f"{'0' * 16})") in line
    assert "experiment" not in line.split("cannot be resumed:")[1]
    assert f"delete {out}" in line
    assert shard_stats(out) == before
    assert len(load_sweep(out)) == 12


def test_a_sweep_that_did_not_record_its_parts_is_not_said_to_have_changed_them(
        exp_path, tmp_path, capsys):
    """A manifest of an earlier parksim, without experiment_sha256 and with another identity:
    refused, but nothing it did not record is claimed to have changed."""
    out = tmp_path / "out"
    assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["experiment_sha256"]
    manifest["identity"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main(["sweep", str(exp_path), "-o", str(out), "-w", "1", "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "cannot be resumed: it was written by an earlier parksim, which did not record" in line
    assert "changed" not in line


def test_sweep_identity_ignores_report_and_cli_source(tmp_path):
    """The model's source hash covers the modules a task runs through: a comment added to the
    report, figure or command-line code leaves it (and so every sweep's task keys) unchanged;
    the same comment in the model changes it."""
    # everything a task imports is hashed
    graph = grimp.build_graph("parksim")
    ran = {m.split(".")[1] for m in graph.find_upstream_modules("parksim.execution",
                                                                as_package=True)}
    assert {"model", "scenario", "records", "metrics"} <= ran  # the search did find them
    assert ran | {"execution"} <= set(MODEL_MODULES), ran - set(MODEL_MODULES)

    root = tmp_path / "parksim"
    shutil.copytree(Path(parksim.__file__).parent, root,
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = source_hash(root)
    for shown in ("cli.py", "plot.py", "report/html.py", "study/sweep.py"):
        with open(root / shown, "a") as fh:
            fh.write("# a comment\n")
        assert source_hash(root) == before, shown
    with open(root / "model" / "parks.py", "a") as fh:
        fh.write("# a comment\n")
    assert source_hash(root) != before


# --------------------------------------------------------------------------- streaming shards


def test_rows_stream_into_bounded_shards_in_interleaved_order(exp_path, tmp_path):
    out = tmp_path / "out"
    run_sweep(
        load_experiment(exp_path), out, LocalExecutor(1, chunk=1), flush_rows=4, flush_seconds=1e9
    )
    shards = sorted((out / "shards").glob("part-*.parquet"))
    assert len(shards) == 3
    tables = [pq.read_table(s).to_pandas() for s in shards]
    assert [len(t) for t in tables] == [4, 4, 4]
    # replication by replication across all points: a partial sweep covers the design evenly
    for r, table in enumerate(tables):
        assert sorted(table["point"]) == [0, 1, 2, 3]
        assert set(table["replication"]) == {r}
    assert not list((out / "shards").glob(".*"))  # no temporary files left
    assert len(load_sweep(out)) == 12


# --------------------------------------------------------------------------- SIGKILL


def test_sigkill_then_rerun_completes_without_rewriting(
    write_toml, baseline_path, tmp_path, parksim_cli
):
    # 12 points x 100 replications of a very small district: long enough to be killed mid-run,
    # with the first shard (500 rows or 5 s) written well before the end
    light = ["district.firms=300", 'calendar.horizon="2019-06"', 'targets.date="2019-06"']
    text = experiment_text(
        baseline_path,
        take_up=[round(0.05 * i, 2) for i in range(1, 13)],
        land=[2.5e7],
        replications=100,
        overrides=light,
        name="killed",
    )
    exp = write_toml("big.toml", text)
    plan = load_experiment(exp)
    assert plan.tasks == 1200
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PARKSIM_DEBUG"}
    command = [
        sys.executable,
        "-m",
        "parksim",
        "sweep",
        str(exp),
        "-o",
        str(out),
        "-w",
        "2",
        "--quiet",
        "--json",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list((out / "shards").glob("part-*.parquet")):
            assert proc.poll() is None, "the sweep ended before its first shard was seen"
            assert time.monotonic() < deadline, "no shard written in 120 s"
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep finished before it could be killed; make it bigger"
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its pool workers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = shard_stats(out)
    done = shard_rows(out)
    assert killed and 0 < done < plan.tasks, (len(killed), done)
    assert not (out / "summary.json").exists()
    lock_left = (out / LOCK).exists()

    # the same command again: not refused (a lock held
    # by a dead process is no lock), finishes the rest
    proc2 = parksim_cli(*command[3:], cwd=tmp_path)
    assert proc2.returncode == 0, (
        f"re-run after SIGKILL refused (lock file left: {lock_left}): {proc2.stderr.strip()}")
    report = json.loads(proc2.stdout)
    assert report["tasks"] == 1200
    assert report["skipped"] == done and report["run"] == 1200 - done and report["failed"] == 0

    after = shard_stats(out)
    for name, stat in killed.items():
        assert after.get(name) == stat, f"shard {name} was rewritten or removed"
    assert len(after) > len(killed)
    assert shard_rows(out) == plan.tasks  # nothing computed twice
    frame = parksim.load_results(out)
    assert len(frame) == plan.tasks
    assert not frame.duplicated(["point", "replication"]).any()
    assert (frame["status"] == "ok").all()

    reference = tmp_path / "reference"
    run_sweep(plan, reference, LocalExecutor(2))
    pd.testing.assert_frame_equal(frame, load_sweep(reference))


# --------------------------------------------------------------------------- failed tasks


def test_failed_tasks_are_recorded_and_do_not_stop_the_sweep(exp_path, tmp_path):
    plan = load_experiment(exp_path)
    broken_point = 1
    scenarios = list(plan.scenarios)
    scenarios[broken_point] = scenarios[broken_point].model_copy(update={"district": None})
    broken = dataclasses.replace(plan, scenarios=scenarios)
    out = tmp_path / "out"

    report = run_sweep(broken, out, LocalExecutor(1))
    assert report.tasks == 12 and report.run == 12 and report.skipped == 0
    assert report.failed == 3
    assert not report.complete
    assert json.loads((out / "summary.json").read_text())["failed"] == 3
    frame = load_sweep(out)
    assert len(frame) == 12
    bad = frame[frame["point"] == broken_point]
    good = frame[frame["point"] != broken_point]
    assert (bad["status"] == "failed").all() and len(bad) == 3
    assert bad["error"].str.contains("Error").all() and (bad["error"].str.len() > 10).all()
    assert (good["status"] == "ok").all() and (good["error"] == "").all()
    assert good[list(TARGET_KEYS)].notna().all().all()
    tracebacks = load_sweep(out, meta=True).set_index("point")["traceback"]
    assert tracebacks.loc[broken_point].str.contains("Traceback").all()

    # a re-run skips the failed tasks too, and still reports them as failed
    again = run_sweep(broken, out, LocalExecutor(1))
    assert again.skipped == 12 and again.run == 0 and again.failed == 3
    # ... unless asked to run them again
    rerun = run_sweep(broken, out, LocalExecutor(1), rerun_failed=True)
    assert rerun.skipped == 9 and rerun.run == 3 and rerun.failed == 3
    assert len(load_sweep(out)) == 12

    # once the cause is fixed, --rerun-failed replaces the failures; a success wins over them
    fixed = run_sweep(plan, out, LocalExecutor(1), rerun_failed=True)
    assert fixed.skipped == 9 and fixed.run == 3 and fixed.failed == 0 and fixed.complete
    healed = load_sweep(out)
    assert (healed["status"] == "ok").all() and len(healed) == 12
    clean = tmp_path / "clean"
    run_sweep(plan, clean, LocalExecutor(1))
    pd.testing.assert_frame_equal(healed, load_sweep(clean))


def test_cli_exit_code_3_when_tasks_failed(exp_path, tmp_path, capsys, monkeypatch):
    plan = load_experiment(exp_path)
    scenarios = list(plan.scenarios)
    scenarios[0] = scenarios[0].model_copy(update={"district": None})
    broken = dataclasses.replace(plan, scenarios=scenarios)
    import parksim.study.experiment as experiment_module

    monkeypatch.setattr(experiment_module, "load_experiment", lambda path, fixed=False: broken)
    out = tmp_path / "out"
    code = main(["sweep", str(exp_path), "-o", str(out), "-w", "2", "--quiet"])
    captured = capsys.readouterr()
    assert code == 3
    assert "failed: 3" in captured.out and "--rerun-failed" in captured.out
    assert "Traceback" not in captured.err
    frame = load_sweep(out)
    assert len(frame) == 12 and (frame["status"] == "failed").sum() == 3


# --------------------------------------------------------------------------- unwritable outputs


def test_file_in_the_way_of_the_output(exp_path, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me\n")
    for target in (blocker, blocker / "sub"):
        code = main(["sweep", str(exp_path), "-o", str(target), "-w", "1", "--quiet"])
        captured = capsys.readouterr()
        assert code != 0
        line = one_error_line(captured.err)
        assert str(target) in line
    assert blocker.read_text() == "keep me\n"


def test_output_that_cannot_be_created_subprocess(exp_path, tmp_path, parksim_cli):
    target = Path("/proc/parksim-x")
    proc = parksim_cli("sweep", exp_path, "-o", target, "-w", "1", "--quiet", cwd=tmp_path)
    assert proc.returncode != 0 and proc.returncode in (1, 2)
    line = one_error_line(proc.stderr)
    assert str(target) in line
    assert not target.exists()
    assert proc.stdout == ""


def test_repeated_design_points_each_get_their_rows(write_toml, baseline_path, tmp_path):
    """Two points that resolve to the same scenario share one computation, and both have rows."""
    exp = write_toml(
        "dup.toml", experiment_text(baseline_path, take_up=(0.35, 0.35, 0.8), land=(2.5e7,))
    )
    out = tmp_path / "out"
    report = run_sweep(load_experiment(exp), out, LocalExecutor(1))
    assert report.run == 2 * 3 and report.failed == 0  # 3 points, 2 distinct, 3 replications
    frame = load_sweep(out)
    assert len(frame) == 9 and sorted(frame["point"].unique()) == [0, 1, 2]
    first, second = (
        frame[frame["point"] == p].drop(columns="point").reset_index(drop=True) for p in (0, 1)
    )
    pd.testing.assert_frame_equal(first, second)


def test_a_key_left_to_its_default_can_be_a_factor(write_toml, baseline_path, tmp_path):
    """``policies.tax.enabled`` is unwritten in the baseline (default true) but can be varied."""
    text = experiment_text(baseline_path, replications=2).replace(
        'path = "policies.land.budget_cap_yuan_per_year"\nvalues = [25000000.0, 0.0]',
        'path = "policies.tax.enabled"\nvalues = [true, false]')
    assert "policies.tax.enabled" in text
    plan = load_experiment(write_toml("default.toml", text))
    assert [s.policies.tax.enabled for s in plan.scenarios] == [True, False, True, False]
    out = tmp_path / "out"
    run_sweep(plan, out, LocalExecutor(1))
    frame = load_sweep(out)
    enabled = frame["policies.tax.enabled"].astype(bool)
    assert (frame[~enabled]["fiscal_tax_yuan"] == 0).all()
    assert (frame[enabled]["fiscal_tax_yuan"] > 0).any()


def test_failure_counts_are_the_same_on_a_first_run_and_a_rerun(
    write_toml, baseline_path, tmp_path
):
    """Two identical broken points share their tasks; both runs count failed tasks alike."""
    plan = load_experiment(
        write_toml("dup.toml", experiment_text(baseline_path, take_up=(0.35, 0.35), land=(2.5e7,)))
    )
    broken = dataclasses.replace(
        plan, scenarios=[s.model_copy(update={"district": None}) for s in plan.scenarios]
    )
    out = tmp_path / "out"
    first = run_sweep(broken, out, LocalExecutor(1))
    again = run_sweep(broken, out, LocalExecutor(1))
    # 3 distinct tasks run, 2 points x 3 replications failed
    assert first.run == 3 and first.failed == 6
    assert again.run == 0 and again.failed == 6 and again.skipped == 6


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 5000), workers=st.integers(1, 16), largest=st.integers(1, 64))
def test_chunks_cover_every_task_and_shrink_towards_the_end(total, workers, largest):
    """Chunk sizes add up to the batch, none is empty or above the cap, they never grow, and
    the last chunks are single tasks (workers finish together)."""
    sizes = list(chunk_sizes(total, workers, largest))
    assert sum(sizes) == total
    assert all(1 <= s <= largest for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    if total >= workers * 4:
        assert sizes[-1] == 1


class _FailsAfter(LocalExecutor):
    """A local pool that loses its way after ``good`` chunks: ``error`` is raised as a lost
    scheduler or a full disk would be, mid-run."""

    def __init__(self, good: int, error: BaseException):
        super().__init__(1, chunk=1)
        self.good, self.error = good, error

    def run(self, *args):
        for i, rows in enumerate(super().run(*args)):
            if i == self.good:
                raise self.error
            yield rows


@pytest.mark.parametrize("error, kept", [(SchedulerLost("lost the Dask scheduler"), 5),
                                         (KeyboardInterrupt(), 5),
                                         (OSError(28, "No space left on device"), 0)])
def test_rows_that_arrived_before_a_failure_are_kept(exp_path, tmp_path, error, kept):
    """A run that fails mid-sweep (its scheduler lost, a Ctrl-C) writes the rows that arrived
    since the last shard before it stops, so the next run need not compute them again; a
    full disk writes nothing more (those rows are computed again)."""
    out = tmp_path / "out"
    plan = load_experiment(exp_path)
    with pytest.raises(type(error)):
        run_sweep(plan, out, _FailsAfter(5, error), flush_rows=1000, flush_seconds=1e9)
    assert shard_rows(out) == kept
    report = run_sweep(plan, out, LocalExecutor(1))
    assert report.run == plan.tasks - kept and len(load_sweep(out)) == plan.tasks
