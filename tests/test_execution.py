"""The execution layer: one replication's outputs and their one flattening, forecasts on any
executor, a failed replication reported by number, and the layer's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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
