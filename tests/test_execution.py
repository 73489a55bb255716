"""The execution layer: one replication's outputs and their one flattening, forecasts on any
executor, a failed replication reported by number, and the layer's imports."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_tiny_scenario

import parksim
from parksim.execution import tasks as task_module
from parksim.execution.executors import LocalExecutor
from parksim.execution.replication import (
    OUTPUTS,
    ROW_OUTPUTS,
    check_outputs,
    replicate,
    result_columns,
    result_row,
)
from parksim.execution.tasks import scenario_tasks
from parksim.forecast import run_forecast
from parksim.metrics import CHAIN, CHANNELS, FIRMS_READINGS, SERIES_COLUMNS
from parksim.rng import replication_seed
from parksim.scenario import LEDGER_ITEMS, TARGET_KEYS

EXECUTION = Path(parksim.__file__).resolve().parent / "execution"


def test_result_row_flattens_row_outputs_and_carries_tables_apart(tiny_scenario):
    result = replicate(tiny_scenario, replication_seed(3, 1), 1, keep_records=True)
    row = result_row(result, OUTPUTS)
    scalars = [c for c in row if c != "tables"]
    assert scalars == result_columns(ROW_OUTPUTS, len(tiny_scenario.observations))
    targets = [*TARGET_KEYS, *FIRMS_READINGS, *CHAIN, *CHANNELS]
    assert scalars[:len(targets)] == targets
    fiscal = [f"fiscal_{item}_yuan" for item in (*LEDGER_ITEMS, "total")] + [
        "capital_outlay_yuan", "tax_expenditure_yuan", "park_investment_yuan"]
    assert fiscal == scalars[len(targets):len(targets) + len(fiscal)]
    assert all(isinstance(row[c], float) for c in scalars)
    # the parks target (a count) and the parks table (its rows) do not share a name
    assert row["parks"] == result.targets["parks"]
    assert row["tables"]["parks"] is result.parks
    assert row["tables"]["grades"] is result.grades
    assert row["tables"]["series"].shape == (tiny_scenario.horizon_months, len(SERIES_COLUMNS))
    assert row["tables"]["records"] is result.records
    assert "tables" not in result_row(result, ("targets",))
    assert set(result_row(result, ("observed",))) == {
        f"observed_{i}" for i in range(len(tiny_scenario.observations))
    }


def test_unknown_outputs_are_refused():
    assert check_outputs(["targets", "series"]) == ("targets", "series")
    with pytest.raises(ValueError, match="'seriess'"):
        check_outputs(["targets", "seriess"])
    with pytest.raises(ValueError, match="unknown output"):
        list(LocalExecutor(1).run([], 1, [], ("bogus",), 0))


def test_forecast_does_not_depend_on_chunks_or_workers(tiny_scenario):
    one = parksim.simulate(tiny_scenario, replications=5, seed=8, workers=1, records=True)
    executor = LocalExecutor(2, chunk=1)
    try:
        two = run_forecast(tiny_scenario, 5, 8, executor, records=True)
    finally:
        executor.close()
    for name in ("targets", "series", "parks", "records", "observed"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name))
    assert one.summary()["executor"] == "local pool, 1 worker"
    assert two.summary()["executor"] == "local pool, 2 workers" and two.workers == 2
    assert {k: v for k, v in one.summary().items() if k not in ("executor", "wall_time_s")} == \
        {k: v for k, v in two.summary().items() if k not in ("executor", "wall_time_s")}


def test_forecast_tasks_are_the_replications_in_order(tiny_scenario):
    tasks = scenario_tasks(tiny_scenario, 4, 7)
    assert [(t.point, t.replication) for t in tasks] == [(0, r) for r in range(4)]
    assert len({t.key for t in tasks}) == 4
    assert [t.key for t in scenario_tasks(tiny_scenario, 2, 7)] == [t.key for t in tasks[:2]]
    assert tasks[0].key != scenario_tasks(tiny_scenario, 1, 8)[0].key


def test_a_failed_replication_stops_the_forecast_and_names_it(tiny_scenario, monkeypatch):
    real = task_module.replicate

    def failing(scenario, seed, replication, keep_records=False):
        if replication == 2:
            raise FloatingPointError("the third one")
        return real(scenario, seed, replication, keep_records)

    monkeypatch.setattr(task_module, "replicate", failing)
    with pytest.raises(
        RuntimeError, match=r"replication 2 failed: FloatingPointError: the third one"
    ):
        parksim.simulate(tiny_scenario, replications=4, seed=1, workers=1)


def test_forecast_summary_keeps_its_fields_and_only_adds(tiny_scenario):
    summary = parksim.simulate(tiny_scenario, replications=3, seed=4, workers=1).summary()
    earlier = [
        "scenario",
        "replications",
        "seed",
        "horizon",
        "target_date",
        "targets",
        "all_met_probability",
        "all_met_ci",
        "observed",
        "fiscal_cost_yuan",
        "cost_per_upgrade_yuan",
        "park_investment_yuan",
        "interval_method",
        "wall_time_s",
        "results_dir",
    ]
    added = ["innovation_chain", "occupancy", "conditional_on", "executor", "grade_mix",
             "capital_outlay_yuan", "tax_expenditure_yuan", "ledger", "fixed", "parameter_sets",
             "replications_per_set", "uncertain"]
    assert [key for key in summary if key not in added] == earlier
    assert set(summary) == set(earlier) | set(added)
    assert np.isfinite(summary["all_met_probability"])


FORBIDDEN = (
    "parksim.forecast",
    "parksim.study",
    "parksim.results",
    "parksim.cli",
    "parksim.report",
)


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_execution_never_imports_the_layers_above_it():
    files = sorted(EXECUTION.glob("*.py"))
    assert {p.name for p in files} >= {
        "__init__.py",
        "pool.py",
        "executors.py",
        "tasks.py",
        "replication.py",
    }
    for path in files:
        for name in _imports(path):
            assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"


# --------------------------------------------------------------------------- killed workers


def test_a_worker_killed_by_sigkill_has_its_tasks_run_again(tmp_path, monkeypatch):
    """The out-of-memory killer's SIGKILL on a pool worker (here, a fault the pool injects in
    its first job) breaks the pool at once; the jobs in flight run again on a fresh one and
    every result arrives once, as without the fault."""
    from parksim.execution import pool

    monkeypatch.setenv(pool.FAULT_KILL_ONCE, str(tmp_path / "killed"))
    with pytest.warns(pool.WorkerWarning, match="died abruptly"):
        got = sorted(pool.imap_unordered(abs, range(-40, 0), 2, tune_gc=False))
    assert got == list(range(1, 41))
    assert (tmp_path / "killed").exists()  # the fault did fire
    monkeypatch.delenv(pool.FAULT_KILL_ONCE)
    monkeypatch.setenv(pool.FAULT_KILL_ALWAYS, "1")
    with pytest.raises(pool.WorkerDied, match="died 3 times"), \
            pytest.warns(pool.WorkerWarning):
        list(pool.imap_unordered(abs, range(5), 2, tune_gc=False))


def _workers_always_killed_is_one_line(parksim_cli, *args) -> None:
    """Workers killed by every task: exit 1, the last line naming the cause, no traceback."""
    from parksim.execution import pool

    always = parksim_cli(*args, env={pool.FAULT_KILL_ALWAYS: "1"}, timeout=120)
    assert always.returncode == 1
    last = always.stderr.strip().splitlines()[-1]
    assert "WorkerDied" in last and "out of memory" in last
    assert "Traceback" not in always.stderr


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_commands_survive_a_killed_worker_or_fail_in_one_line(
        command, tmp_path, baseline_path, tiny_args, parksim_cli, write_toml):
    """``run`` and ``sweep`` on the local pool: a worker killed once costs nothing but a
    warning line (the results equal a run without it); workers killed every time end the
    command with exit 1 and one line naming the cause, never a hang."""
    from parksim.execution import pool

    if command == "run":
        args = ["run", baseline_path, *tiny_args, "-n", "8", "-w", "2", "--json"]
    else:
        experiment = write_toml("e.toml", f'scenario = "{baseline_path}"\n'
                                'overrides = ["district.firms=2000", '
                                '"calendar.horizon=\\"2020-06\\"", '
                                '"targets.date=\\"2020-06\\""]\nreplications = 2\nseed = 3\n'
                                "[design]\nkind = \"grid\"\n[[factors]]\n"
                                'path = "policies.finance.take_up"\nrange = [0.2, 0.6]\n'
                                "levels = 2\n")
        args = ["sweep", experiment, "-w", "2", "-q", "--json"]
    plain = parksim_cli(*args, "-o", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    marker = tmp_path / "killed"
    env = {pool.FAULT_KILL_ONCE: str(marker)}
    once = parksim_cli(*args, "-o", tmp_path / "once", env=env, timeout=120)
    assert once.returncode == 0, once.stderr
    assert marker.exists()
    assert "parksim: warning: a local worker process died abruptly" in once.stderr
    if command == "run":
        assert json.loads(once.stdout)["targets"] == json.loads(plain.stdout)["targets"]
    else:
        a = parksim.load_results(tmp_path / "plain").sort_values(["point", "replication"])
        b = parksim.load_results(tmp_path / "once").sort_values(["point", "replication"])
        assert a["upgrades"].tolist() == b["upgrades"].tolist() and len(a) == 4
    _workers_always_killed_is_one_line(parksim_cli, *args, "-o", tmp_path / "always")


def _study_inputs(folder: Path, baseline_path: Path) -> dict[str, list]:
    """Tiny inputs for compare, sensitivity and calibrate, and each command's line (its
    output directory given after it with -o)."""
    tiny = write_tiny_scenario(folder, baseline_path)
    (folder / "s.toml").write_text(
        'scenario = "tiny.toml"\nreplications = 1\nseed = 3\n[design]\nkind = "sobol"\n'
        'samples = 4\n[[factors]]\npath = "policies.finance.take_up"\nrange = [0.2, 0.6]\n',
        encoding="utf-8")
    (folder / "c.toml").write_text(
        'scenario = "tiny.toml"\nparameters = ["district.rd_share"]\nreplications = 1\n'
        "seed = 1\npopulation = 5\ngenerations = 1\n", encoding="utf-8")
    return {"compare": ["compare", tiny, tiny, "-n", "4"],
            "sensitivity": ["sensitivity", folder / "s.toml"],
            "calibrate": ["calibrate", folder / "c.toml"]}


def _answer(stdout: str) -> dict:
    """A study's --json answer without where and how it ran."""
    answer = json.loads(stdout)
    for key in ("results_dir", "sweep", "sweep_report"):
        answer.pop(key, None)
    return answer


@pytest.mark.parametrize("command", ["compare", "sensitivity", "calibrate"])
def test_studies_survive_a_killed_worker_or_fail_in_one_line(
        command, tmp_path, baseline_path, parksim_cli):
    """compare, sensitivity and calibrate share the local pool with run and sweep: a worker
    killed once costs a warning line and their answer is the undisturbed one; workers killed
    every time end them with exit 1 and one line naming the cause, never a hang."""
    from parksim.execution import pool

    args = [*_study_inputs(tmp_path, baseline_path)[command], "-w", "2", "-q", "--json"]
    plain = parksim_cli(*args, "-o", tmp_path / "plain", timeout=120)
    assert plain.returncode == 0, plain.stderr
    marker = tmp_path / "killed"
    once = parksim_cli(*args, "-o", tmp_path / "once", env={pool.FAULT_KILL_ONCE: str(marker)},
                       timeout=120)
    assert once.returncode == 0, once.stderr
    assert marker.exists()
    assert "parksim: warning: a local worker process died abruptly" in once.stderr
    assert _answer(once.stdout) == _answer(plain.stdout)
    _workers_always_killed_is_one_line(parksim_cli, *args, "-o", tmp_path / "always")


# --------------------------------------------------------------------------- interrupts


@pytest.mark.parametrize("instant, code, says", [
    ("forecast:targets", 130, "holds an incomplete result (no manifest.json); the same command "
                             "writes over it"),
    ("forecast:manifest", 0, "after the results were complete"),
])
def test_an_interrupt_while_writing_results_says_what_is_there(
        instant, code, says, tmp_path, baseline_path, tiny_args, parksim_cli):
    """Ctrl-C at two exact instants of writing a forecast's results (a fault point sends
    SIGINT there): after the first table, the directory holds an incomplete result and the
    same command writes over it; after the manifest, the run is complete and succeeds."""
    from parksim.io import FAULT_INTERRUPT_AT

    out = tmp_path / "out"
    args = ["run", baseline_path, *tiny_args, "-o", out]
    proc = parksim_cli(*args, env={FAULT_INTERRUPT_AT: instant})
    assert proc.returncode == code, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    if code == 0:
        assert parksim.load_results(out).summary["targets"]
        return
    assert not (out / "manifest.json").exists() and (out / "targets.parquet").exists()
    again = parksim_cli(*args)  # the same command, no --force
    assert again.returncode == 0, again.stderr
    assert parksim.load_results(out).summary["targets"]


@pytest.mark.parametrize("instant, code, says", [
    ("comparison:paired", 130, "holds an incomplete result (no manifest.json); the same "
                               "command writes over it"),
    ("comparison:manifest", 0, "after the results were complete"),
])
def test_an_interrupt_while_writing_a_comparison_says_what_is_there(
        instant, code, says, tmp_path, baseline_path, parksim_cli):
    """As for a forecast: Ctrl-C after the paired table leaves an incomplete comparison that
    the same command writes over; after the manifest, the comparison is complete and
    succeeds, its table printed."""
    from parksim.io import FAULT_INTERRUPT_AT

    out = tmp_path / "out"
    args = [*_study_inputs(tmp_path, baseline_path)["compare"], "-w", "1", "-q", "-o", out]
    proc = parksim_cli(*args, env={FAULT_INTERRUPT_AT: instant})
    assert proc.returncode == code, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    if code == 0:
        assert "results written to" in proc.stdout
        assert len(parksim.load_results(out)) == 8  # 2 scenarios x 4
        return
    assert not (out / "manifest.json").exists() and (out / "paired.parquet").exists()
    again = parksim_cli(*args)  # the same command, no --force
    assert again.returncode == 0, again.stderr
    assert len(parksim.load_results(out)) == 8  # 2 scenarios x 4


@pytest.mark.parametrize("instant", ["sensitivity:indices", "sensitivity:manifest"])
def test_an_interrupt_while_a_sensitivity_study_writes_leaves_it_resumable(
        instant, tmp_path, baseline_path, parksim_cli):
    """Ctrl-C while the analysis is written, after its finished sweep: the same command takes
    the directory back (never "not empty") and gives the undisturbed study's answer."""
    from parksim.io import FAULT_INTERRUPT_AT

    args = [*_study_inputs(tmp_path, baseline_path)["sensitivity"], "-w", "1", "-q", "--json"]
    plain = parksim_cli(*args, "-o", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    out = tmp_path / "out"
    stopped = parksim_cli(*args, "-o", out, env={FAULT_INTERRUPT_AT: instant})
    assert stopped.returncode == 130 and "run the same command to go on" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    again = parksim_cli(*args, "-o", out)
    assert again.returncode == 0, again.stderr
    assert _answer(again.stdout) == _answer(plain.stdout)


@pytest.mark.parametrize("command", ["run", "compare"])
def test_an_interrupt_before_force_replaces_earlier_results_leaves_them(
        command, tmp_path, baseline_path, tiny_args, parksim_cli):
    """With --force over earlier results, Ctrl-C before the new ones are written (their
    manifest is still the earlier run's) says the directory is as it was and leaves it
    readable, never "complete" with the earlier numbers passed off as the new ones."""
    from parksim.io import FAULT_INTERRUPT_AT

    out = tmp_path / "out"
    if command == "run":
        args = ["run", baseline_path, *tiny_args, "-o", out, "--force"]
    else:
        args = [*_study_inputs(tmp_path, baseline_path)["compare"], "-w", "1", "-q", "-o", out,
                "--force"]
    first = parksim_cli(*args[:-1])
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    instant = {"run": "forecast:writing", "compare": "comparison:writing"}[command]
    stopped = parksim_cli(*args, "--seed", "9", env={FAULT_INTERRUPT_AT: instant})
    assert stopped.returncode == 130, stopped.stderr
    assert f"interrupted; no results written ({out} is as it was)" in stopped.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    parksim.load_results(out)
