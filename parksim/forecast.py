"""Forecasts: many replications of one scenario, on an executor, and their summary.

:func:`simulate` runs a scenario's replications as tasks on an executor -- the local process
pool by default, or a Dask cluster given by its scheduler's address -- the same way
comparisons and sweeps run theirs (:mod:`parksim.execution`): replication ``r`` draws from
:func:`~parksim.rng.replication_seed`, runs and is reduced in a worker, and comes back as a
row of the outputs asked for. A forecast asks for the scalar outputs and for the tables
(series, parks and, if wanted, records), and assembles them, by replication, into a
:class:`Forecast` whose ``targets``, ``series``, ``parks``, ``observed`` and ``records`` are
pandas DataFrames. The results do not depend on the executor or the number of workers.
:meth:`Forecast.summary` is the object the command line prints: it assembles and formats
the figures of :mod:`parksim.aggregate`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from parksim.aggregate import (
    CONDITIONAL_ON,
    INTEGRATED_OVER,
    INTERVAL_METHOD,
    cost_per_unit,
    fill_summary,
    fiscal_summary,
    grade_mix,
    ledger_summary,
    quantiles,
    reading,
    set_means,
    summarise_observations,
    summarise_targets,
    top_parameters,
    variance_split,
)
from parksim.calendar import month_label
from parksim.execution.executors import Executor, make_executor
from parksim.execution.replication import ROW_OUTPUTS, result_columns
from parksim.execution.tasks import scenario_tasks
from parksim.metrics import (
    CHAIN,
    CHANNELS,
    FILL_COLUMNS,
    FIRMS_READINGS,
    LEDGER_COLUMNS,
    PARK_SERIES_COLUMNS,
    PARK_STATUSES,
    SERIES_COLUMNS,
)
from parksim.model import GRADE_COLUMNS, PARK_COLUMNS
from parksim.scenario.loader import check_parameter_sets
from parksim.scenario.priors import active, design, draw
from parksim.scenario.schema import CAPITAL_ITEMS, LEVERS, STATUTORY_ITEMS, TARGET_KEYS, Scenario

__all__ = ["Forecast", "simulate", "run_forecast"]


@dataclass
class Forecast:
    """The outcome of :func:`simulate`: per-replication tables and their summary."""

    scenario: Scenario
    seed: int
    replications: int
    workers: int
    wall_time_s: float
    targets: pd.DataFrame
    series: pd.DataFrame
    parks: pd.DataFrame
    records: pd.DataFrame | None
    observed: pd.DataFrame = field(repr=False)
    executor: str = ""
    grades: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    ledger: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    park_series: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    """Each park's standing, firms and occupancy at each month's end, per replication."""
    parameter_sets: int = 0
    """K of a nested design over the scenario's priors (0: the values as written)."""
    fixed: bool = False
    """The forecast was asked to take the written values (``--fixed``)."""
    parameters: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    """The drawn value of every uncertain parameter, one row per parameter set."""

    @property
    def integrated(self) -> bool:
        """The probabilities integrate over priors (a nested design of parameter sets)."""
        return self.parameter_sets > 0

    def _uncertainty(self, per_target: list[dict[str, Any]], all_met: dict[str, float]) -> None:
        """Per target, in place: the variance split between parameters and chance, and the
        parameters that matter most (``None`` where the forecast takes the written values)."""
        t = self.targets
        sets = t["parameter_set"].to_numpy() if self.integrated else None
        drawn = {c: self.parameters[c].to_numpy() for c in self.parameters.columns
                 if c != "parameter_set"}
        for row in per_target:
            row.update(variance_share_parameters=None, variance_share_parameters_ci=None,
                       variance_share_chance=None, variance_share_chance_ci=None,
                       top_parameters=[])
            if sets is None:
                continue
            v = t[row["key"]].to_numpy()
            split = variance_split(v, sets, seed=self.seed)
            row.update(
                variance_share_parameters=_num(split.parameters),
                variance_share_parameters_ci=_pair(split.parameters_ci),
                variance_share_chance=_num(split.chance),
                variance_share_chance_ci=_pair(split.chance_ci),
                top_parameters=[{"path": path, "rank_correlation": rho}
                                for path, rho in top_parameters(set_means(v, sets), drawn)],
            )

    def summary(self, results_dir: str | None = None) -> dict[str, Any]:
        """The forecast as one JSON-ready object (the ``--json`` output); the figures come
        from :mod:`parksim.aggregate`, undefined ones are ``None``."""
        s, t = self.scenario, self.targets
        sets = t["parameter_set"].to_numpy() if self.integrated else None
        per_target, all_met = summarise_targets({key: t[key].to_numpy() for key in TARGET_KEYS}, s,
                                                sets)
        observed = summarise_observations(
            [self.observed[c].to_numpy() for c in self.observed.columns], s
        )
        fiscal = fiscal_summary(t["fiscal_total_yuan"].to_numpy(),
                                {lever: t[f"fiscal_{lever}_yuan"].to_numpy() for lever in LEVERS},
                                t["park_investment_yuan"].to_numpy())
        targets = [target.as_dict() for target in per_target]
        self._uncertainty(targets, all_met)
        for row in targets:
            if row["key"] == "firms":  # both readings of the firms target, beside each other
                row["reading"] = s.targets.firms_reading
                row["stock"] = _readings(reading(t["firms_stock"].to_numpy(), s.targets.firms))
                row["cumulative_entries"] = _readings(
                    reading(t["firms_cumulative_entries"].to_numpy(), s.targets.firms))
                row["graduates"] = dict(zip(("p05", "median", "p95"),
                                            map(_num, quantiles(t["graduates"].to_numpy())),
                                            strict=True))
        p = self.parks
        fill = fill_summary(p["opened_during_run"].to_numpy(), p["months_to_50pct"].to_numpy(),
                            p["months_to_90pct"].to_numpy())
        priors = active(s.uncertain)
        return {
            "scenario": s.name,
            "replications": self.replications,
            "seed": self.seed,
            "fixed": not self.integrated,
            "parameter_sets": self.parameter_sets or None,
            "replications_per_set": self.replications // self.parameter_sets
            if self.integrated else None,
            "uncertain": [{"path": path, "dist": prior.dist, "source": prior.source}
                          for path, prior in priors.items()],
            "horizon": s.calendar.horizon,
            "target_date": s.targets.date,
            "targets": targets,
            "all_met_probability": all_met["probability"],
            "all_met_ci": [all_met["ci_low"], all_met["ci_high"]],
            "observed": [
                {
                    "key": o.key,
                    "date": o.date,
                    "observed": o.observed,
                    "median": _num(o.median),
                    "p05": _num(o.p05),
                    "p95": _num(o.p95),
                    "inside_p05_p95": o.inside_p05_p95,
                    "source": o.source,
                    "kind": o.kind,
                    "period": list(o.period) if o.period else None,
                    "interval": list(o.interval) if o.interval else None,
                    "se": o.se,
                    **{k: list(v) if isinstance(v, tuple) else v
                       for k, v in (o.detail or {}).items()},
                }
                for o in observed
            ],
            "fiscal_cost_yuan": {
                "median": fiscal.median,
                "p05": fiscal.p05,
                "p95": fiscal.p95,
                "by_lever": fiscal.by_lever,
                "by_account": {
                    "district": _spread(sum(t[f"fiscal_{lever}_yuan"] for lever in LEVERS))[
                        "median"],
                    "capital": _spread(t["capital_outlay_yuan"])["median"],
                },
            },
            "capital_outlay_yuan": {
                **_spread(t["capital_outlay_yuan"]),
                "by_item": {i: _spread(t[f"fiscal_{i}_yuan"])["median"] for i in CAPITAL_ITEMS},
            },
            "tax_expenditure_yuan": {
                **_spread(t["tax_expenditure_yuan"]),
                "by_item": {i: _spread(t[f"fiscal_{i}_yuan"])["median"] for i in STATUTORY_ITEMS},
            },
            "ledger": [{k: _num(v) if isinstance(v, float) else v for k, v in row.items()}
                       for row in ledger_summary({c: self.ledger[c].to_numpy()
                                                  for c in LEDGER_COLUMNS})]
            if len(self.ledger) else [],
            "cost_per_upgrade_yuan": _num(
                cost_per_unit(t["fiscal_total_yuan"].to_numpy(), t["upgrades"].to_numpy())
            ),
            "park_investment_yuan": {
                "median": fiscal.investment_median,
                "p05": fiscal.investment_p05,
                "p95": fiscal.investment_p95,
            },
            "grade_mix": grade_mix({name: self.grades[name].to_numpy() for name in (
                "year", "grade", "selected", "demoted", "delisted", "has_platform",
                "has_digital", "above_line_unregistered")}, self.replications)
                if len(self.grades) else [],
            "innovation_chain": {
                name: dict(zip(("p05", "median", "p95"), map(_num, quantiles(t[name].to_numpy())),
                               strict=True))
                for name in CHAIN
            },
            "occupancy": {
                "parks_opened_during_run": fill.parks_opened,
                "months_to_50pct_median": _num(fill.months_to_50pct_median),
                "months_to_90pct_median": _num(fill.months_to_90pct_median),
                "share_reaching_50pct": _num(fill.reached_50pct),
                "share_reaching_90pct": _num(fill.reached_90pct),
            },
            "interval_method": (
                f"{INTERVAL_METHOD} score on the effective number of trials (Kish's design "
                "effect over parameter sets), 95%" if self.integrated else
                f"{INTERVAL_METHOD} score (scipy.stats.binomtest), 95%"),
            "conditional_on": INTEGRATED_OVER.format(
                count=len(priors), sets=self.parameter_sets,
                per_set=self.replications // self.parameter_sets)
            if self.integrated else CONDITIONAL_ON,
            "executor": self.executor,
            "wall_time_s": self.wall_time_s,
            "results_dir": results_dir,
        }


def _spread(values) -> dict[str, float | None]:
    """The median and 5-95% range of per-replication ``values``."""
    p05, p50, p95 = quantiles(np.asarray(values, dtype=float))
    return {"median": _num(p50), "p05": _num(p05), "p95": _num(p95)}


def _readings(values: dict[str, float]) -> dict[str, float | None]:
    return {key: _num(value) for key, value in values.items()}


def _pair(pair: tuple[float, float]) -> list[float | None]:
    return [_num(pair[0]), _num(pair[1])]


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def simulate(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    records: bool = False,
    progress: Callable[[int], None] | None = None,
    scheduler: str | None = None,
    parameter_sets: int | None = None,
    fixed: bool = False,
) -> Forecast:
    """Run replications of ``scenario`` and collect them.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`parksim.load_scenario`).
    replications, seed
        Default to the scenario's ``[run]`` table.
    workers
        Local worker processes; default all cores. Ignored with ``scheduler``. The results
        do not depend on it.
    records
        Keep every event record (a DataFrame in ``Forecast.records``).
    progress
        Called with the number of replications finished since the last call.
    scheduler
        The address of a running Dask scheduler (``tcp://HOST:PORT``) to run on instead of
        the local pool. ``ConnectionError``, ``TimeoutError`` or ``ValueError`` when it cannot
        be reached (see :class:`~parksim.execution.executors.DaskExecutor`).
    parameter_sets
        K, the parameter sets of the scenario's priors the ``replications`` are spread over
        (``replications / K`` each; default :func:`~parksim.scenario.priors.nested_design`).
        ``ValueError`` unless it divides ``replications``.
    fixed
        Take every uncertain parameter at its written value: the forecast conditional on
        them (a scenario without priors is always run so).

    Raises ``ValueError`` for a design that cannot be made and
    :class:`~parksim.scenario.ScenarioError` for a parameter set that is not a valid scenario,
    before anything runs.
    """
    n, root = _run_settings(scenario, replications, seed)
    k, _ = design([scenario], n, parameter_sets, fixed)  # bad input before any worker starts
    check_parameter_sets(scenario, root, k)
    executor = make_executor(workers, scheduler)
    try:
        return run_forecast(scenario, n, root, executor, records, progress, parameter_sets, fixed)
    finally:
        executor.close()


def _run_settings(
    scenario: Scenario, replications: int | None, seed: int | None
) -> tuple[int, int]:
    n = scenario.run.replications if replications is None else int(replications)
    root = scenario.run.seed if seed is None else int(seed)
    if n < 1:
        raise ValueError("replications must be at least 1")
    if root < 0:
        raise ValueError("seed must be >= 0")
    return n, root


def run_forecast(scenario: Scenario, replications: int | None, seed: int | None, executor: Executor,
                 records: bool = False, progress: Callable[[int], None] | None = None,
                 parameter_sets: int | None = None, fixed: bool = False) -> Forecast:
    """:func:`simulate` on a given ``executor``, which the caller closes. ``replications`` and
    ``seed`` default to the scenario's ``[run]`` table. ``RuntimeError`` if a replication fails."""
    n, root = _run_settings(scenario, replications, seed)
    k, per_set = design([scenario], n, parameter_sets, fixed)
    outputs = (*ROW_OUTPUTS, "series", "parks", "park_series", "grades", "ledger",
               *(("records",) if records else ()))
    run_as = scenario if k else scenario.model_copy(update={"uncertain": {}})
    tasks = scenario_tasks(run_as, n, root, per_set)
    started = time.perf_counter()
    rows: list[dict[str, Any] | None] = [None] * n
    for chunk in executor.run([run_as], root, tasks, outputs, n):
        for row in chunk:
            if row["status"] != "ok":
                raise RuntimeError(f"replication {row['replication']} failed: {row['error']}")
            rows[row["replication"]] = row
        if progress is not None:
            progress(len(chunk))
    wall = time.perf_counter() - started
    forecast = _collect(scenario, root, n, executor, wall, rows)
    forecast.fixed = fixed
    forecast.parameter_sets = k
    drawn = [draw(scenario.uncertain, scenario, root, j) for j in range(k)]
    forecast.parameters = pd.DataFrame(
        {"parameter_set": np.arange(k, dtype=np.int32),
         **{path: [d[path] for d in drawn] for path in active(scenario.uncertain)}}
        if k else {})
    return forecast


def _collect(
    scenario: Scenario, seed: int, n: int, executor: Executor, wall: float, rows
) -> Forecast:
    start = scenario.calendar.start
    months = scenario.horizon_months
    targets = pd.DataFrame({"replication": np.arange(n, dtype=np.int32),
                            "parameter_set": np.array([r["parameter_set"] for r in rows],
                                                      dtype=np.int32)})
    for key in TARGET_KEYS:
        targets[key] = [r[key] for r in rows]
    for key in TARGET_KEYS:
        targets[f"met_{key}"] = targets[key] >= float(getattr(scenario.targets, key))
    targets["met_all"] = targets[[f"met_{k}" for k in TARGET_KEYS]].all(axis=1)
    for key in (*FIRMS_READINGS, *CHAIN, *CHANNELS):
        targets[key] = [r[key] for r in rows]
    for column in result_columns(("fiscal",), 0):
        targets[column] = [r[column] for r in rows]
    observed = pd.DataFrame(
        {c: [r[c] for r in rows] for c in result_columns(("observed",), len(scenario.observations))}
    )
    stacked = (
        np.concatenate([r["tables"]["series"] for r in rows])
        if n
        else np.zeros((0, len(SERIES_COLUMNS)))
    )
    series = pd.DataFrame(stacked, columns=list(SERIES_COLUMNS))
    labels = [month_label(start, m) for m in range(months)]
    series.insert(0, "date", pd.Categorical(np.tile(labels, n), categories=labels, ordered=True))
    series.insert(0, "month", np.tile(np.arange(months, dtype=np.int32), n))
    series.insert(0, "replication", np.repeat(np.arange(n, dtype=np.int32), months))
    parks = pd.DataFrame({
        "replication": [r["replication"] for r in rows for _ in r["tables"]["parks"]["park_id"]],
        **{name: [v for r in rows for v in r["tables"]["parks"][name]]
           for name in (*PARK_COLUMNS, *FILL_COLUMNS)},
    })
    park_series = pd.DataFrame({
        "replication": np.repeat(np.array([r["replication"] for r in rows], dtype=np.int32),
                                 [len(r["tables"]["park_series"]["park_id"]) for r in rows]),
        **{name: np.concatenate([r["tables"]["park_series"][name] for r in rows])
           if n else np.zeros(0) for name in PARK_SERIES_COLUMNS},
    })
    park_series["status"] = pd.Categorical(park_series["status"], categories=PARK_STATUSES,
                                           ordered=True)
    park_series.insert(3, "date", pd.Categorical(
        np.asarray(labels, dtype=object)[park_series["month"].to_numpy(dtype=np.int64)],
        categories=labels, ordered=True) if n else pd.Categorical([], categories=labels))
    grades = pd.DataFrame({
        "replication": np.array(
            [r["replication"] for r in rows for _ in r["tables"]["grades"]["park_id"]],
            dtype=np.int32),
        **{name: [v for r in rows for v in r["tables"]["grades"][name]]
           for name in GRADE_COLUMNS},
    })
    ledger = pd.DataFrame({
        "replication": np.array(
            [r["replication"] for r in rows for _ in r["tables"]["ledger"]["item"]],
            dtype=np.int32),
        **{name: [v for r in rows for v in r["tables"]["ledger"][name]]
           for name in LEDGER_COLUMNS},
    })
    frames = [
        r["tables"]["records"].to_frame(r["replication"], start)
        for r in rows
        if "records" in r["tables"]
    ]
    records = pd.concat(frames, ignore_index=True) if frames else None
    return Forecast(
        scenario,
        seed,
        n,
        executor.workers,
        wall,
        targets,
        series,
        parks,
        records,
        observed,
        executor.describe(),
        grades,
        ledger,
        park_series=park_series,
    )
