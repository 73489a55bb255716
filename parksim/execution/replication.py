"""One replication, run and reduced: the unit of work of every forecast, comparison and sweep.

:func:`replicate` is ``scenario + seed -> ReplicationResult``, picklable both ways, so any
executor can run it. The model produces records; :mod:`parksim.metrics` turns them into the
monthly series and, from it, the target values, the fiscal cost and the value at each
observation date -- in the worker, so that only these travel back (with the parks table, the
grading log, and the records when they are kept).

What travels back is chosen by name, as *outputs*:

* row outputs (:data:`ROW_OUTPUTS`) flatten into named scalar columns: ``targets`` (one column
  per target), ``fiscal`` (``fiscal_<item>_yuan`` for every ledger item, ``fiscal_total_yuan``
  (the public cost: the district's levers and capital outlays), ``capital_outlay_yuan``,
  ``tax_expenditure_yuan`` (the statutory reliefs, beside the cost), ``park_investment_yuan``)
  and ``observed`` (``observed_<i>``, one per scenario
  observation). This is what a sweep stores and a comparison pairs up.
* table outputs (:data:`TABLE_OUTPUTS`) travel whole, by name, in the row's ``tables``
  entry (apart from the columns: the ``parks`` table is not the ``parks`` target): ``series``
  (the months x :data:`~parksim.metrics.SERIES_COLUMNS` array), ``parks`` (named columns,
  :data:`~parksim.model.PARK_COLUMNS`), ``park_series`` (park x month: standing, firms,
  occupancy, :data:`~parksim.metrics.PARK_SERIES_COLUMNS`), ``grades`` (the grading log,
  named columns, :data:`~parksim.model.GRADE_COLUMNS`), ``ledger`` (item x calendar year,
  named columns, :data:`~parksim.metrics.LEDGER_COLUMNS`) and ``records``
  (:class:`~parksim.records.Records`). This is what a forecast assembles into its tables.

:func:`result_row` is the one flattening of a result into a row, and :func:`result_columns`
names the columns it gives, so a forecast's tables, a sweep's rows and a comparison's values
carry the same names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from parksim.metrics import (
    CHAIN,
    CHANNELS,
    FIRMS_READINGS,
    fill_months,
    fiscal_cost,
    ledger,
    monthly_series,
    observed_values,
    park_series,
    target_values,
)
from parksim.model import run_replication
from parksim.records import Records
from parksim.scenario.schema import LEDGER_ITEMS, TARGET_KEYS, Scenario

__all__ = [
    "ReplicationResult",
    "replicate",
    "result_row",
    "result_columns",
    "check_outputs",
    "ROW_OUTPUTS",
    "TABLE_OUTPUTS",
    "OUTPUTS",
]

ROW_OUTPUTS = ("targets", "fiscal", "observed")
"""Outputs that flatten into scalar columns of a result row."""

TABLE_OUTPUTS = ("series", "parks", "park_series", "grades", "ledger", "records")
"""Outputs that travel whole, in a result row's ``tables`` entry."""

OUTPUTS = ROW_OUTPUTS + TABLE_OUTPUTS


@dataclass
class ReplicationResult:
    """What one replication gives: target values, fiscal cost, observation values, series,
    parks, its grading log, its ledger, and the records if they were kept."""

    replication: int
    targets: dict[str, float]
    fiscal: dict[str, float]
    observed: list[float]
    series: np.ndarray
    parks: dict[str, list]
    grades: dict[str, list]
    ledger: dict[str, list]
    records: Records | None = None
    park_series: dict[str, np.ndarray] | None = None


def replicate(scenario: Scenario, seed: np.random.SeedSequence, replication: int,
              keep_records: bool = False) -> ReplicationResult:
    """Run one replication and reduce its records to metrics."""
    out = run_replication(scenario, seed)
    series = monthly_series(out.records, scenario)
    parks = {**out.parks, **fill_months(out.records, out.parks, scenario.parks.usable_share)}
    return ReplicationResult(
        replication,
        target_values(series, scenario),
        fiscal_cost(series, scenario),
        observed_values(series, scenario, out.records, parks, out.grades),
        series,
        parks,
        out.grades,
        ledger(out.records, scenario),
        out.records if keep_records else None,
        park_series(out.records, out.parks, scenario),
    )


def check_outputs(outputs: Sequence[str]) -> tuple[str, ...]:
    """``outputs`` as a tuple, or ``ValueError`` naming an unknown one."""
    unknown = [name for name in outputs if name not in OUTPUTS]
    if unknown:
        raise ValueError(f"unknown output {unknown[0]!r}; expected some of {', '.join(OUTPUTS)}")
    return tuple(outputs)


def _fiscal_column(item: str) -> str:
    return f"fiscal_{item}_yuan" if item in (*LEDGER_ITEMS, "total") else f"{item}_yuan"


def result_columns(outputs: Sequence[str], observations: int) -> list[str]:
    """The scalar columns a result row carries for ``outputs`` (table outputs add none)."""
    cols: list[str] = []
    if "targets" in outputs:
        cols += [*TARGET_KEYS, *FIRMS_READINGS, *CHAIN, *CHANNELS]
    if "fiscal" in outputs:
        cols += [_fiscal_column(item) for item in (
            *LEDGER_ITEMS, "total", "capital_outlay", "tax_expenditure", "park_investment")]
    if "observed" in outputs:
        cols += [f"observed_{i}" for i in range(observations)]
    return cols


def result_row(result: ReplicationResult, outputs: Sequence[str]) -> dict[str, Any]:
    """The values of ``outputs`` of one replication: row outputs flattened into columns, table
    outputs whole under ``tables``."""
    row: dict[str, Any] = {}
    if "targets" in outputs:
        row.update(result.targets)
    if "fiscal" in outputs:
        row.update({_fiscal_column(item): value for item, value in result.fiscal.items()})
    if "observed" in outputs:
        row.update({f"observed_{i}": value for i, value in enumerate(result.observed)})
    tables = {name: getattr(result, name) for name in TABLE_OUTPUTS if name in outputs}
    if tables:
        row["tables"] = tables
    return row
