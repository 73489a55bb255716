"""Forecasts: many replications of one scenario, on a local process pool, and their summary.

:func:`replicate` is the unit of work -- ``scenario + seed -> ReplicationResult`` -- run in a
worker: the model produces records, metrics turn them into series and target values there,
and only those (plus the records, if asked for) travel back. :func:`simulate` seeds the
replications from one root ``SeedSequence``, runs them in-process or on the local pool
(:mod:`parksim.pool`; the same results either way), and returns a :class:`Forecast` whose ``targets``,
``series`` and ``records`` are pandas DataFrames and whose :meth:`Forecast.summary` is the
object the command line prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from parksim.calendar import month_label
from parksim.execution.pool import chunk_sizes, default_workers, imap_unordered
from parksim.execution.replication import ReplicationResult, replicate
from parksim.metrics import QUANTILES, SERIES_COLUMNS, summarise_targets
from parksim.model import PARK_COLUMNS
from parksim.rng import replication_seed
from parksim.scenario.schema import LEVERS, TARGET_KEYS, Scenario

__all__ = ["Forecast", "simulate"]


def _chunk(args: tuple[Scenario, list[tuple[int, np.random.SeedSequence]], bool]) -> list[ReplicationResult]:
    scenario, items, keep = args
    return [replicate(scenario, seed, i, keep) for i, seed in items]


def _run(scenario: Scenario, seeds: list[np.random.SeedSequence], workers: int, keep: bool) -> Iterator[list[ReplicationResult]]:
    items = list(enumerate(seeds))
    chunks, start = [], 0
    for size in chunk_sizes(len(items), workers, largest=len(items)):
        chunks.append((scenario, items[start: start + size], keep))
        start += size
    yield from imap_unordered(_chunk, chunks, min(workers, len(chunks)))


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

    def summary(self, results_dir: str | None = None) -> dict[str, Any]:
        """The forecast as one JSON-ready object (the ``--json`` output)."""
        s = self.scenario
        values = {key: self.targets[key].to_numpy() for key in TARGET_KEYS}
        per_target, all_met = summarise_targets(values, s)
        fiscal = self.targets["fiscal_total_yuan"].to_numpy()
        p05, p50, p95 = (float(x) for x in np.quantile(fiscal, QUANTILES))
        upgrades = self.targets["upgrades"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            per_upgrade = np.where(upgrades > 0, fiscal / np.where(upgrades > 0, upgrades, 1), np.nan)
        per_upgrade = per_upgrade[np.isfinite(per_upgrade)]
        observed = []
        for i, obs in enumerate(s.observations):
            col = self.observed[f"obs_{i}"].to_numpy()
            finite = col[np.isfinite(col)]
            q = np.quantile(finite, QUANTILES) if len(finite) else (math.nan,) * 3
            observed.append({
                "key": obs.key,
                "date": obs.date,
                "observed": obs.value,
                "median": _num(q[1]),
                "p05": _num(q[0]),
                "p95": _num(q[2]),
                "inside_p05_p95": bool(len(finite) and q[0] <= obs.value <= q[2]),
                "source": obs.source,
            })
        return {
            "scenario": s.name,
            "replications": self.replications,
            "seed": self.seed,
            "horizon": s.calendar.horizon,
            "target_date": s.targets.date,
            "targets": [t.as_dict() for t in per_target],
            "all_met_probability": all_met["probability"],
            "all_met_ci": [all_met["ci_low"], all_met["ci_high"]],
            "observed": observed,
            "fiscal_cost_yuan": {
                "median": p50,
                "p05": p05,
                "p95": p95,
                "by_lever": {lever: float(self.targets[f"fiscal_{lever}_yuan"].median()) for lever in LEVERS},
            },
            "cost_per_upgrade_yuan": _num(float(np.median(per_upgrade))) if len(per_upgrade) else None,
            "park_investment_yuan": {
                "median": float(self.targets["park_investment_yuan"].median()),
                "p05": float(self.targets["park_investment_yuan"].quantile(0.05)),
                "p95": float(self.targets["park_investment_yuan"].quantile(0.95)),
            },
            "interval_method": "wilson score (scipy.stats.binomtest), 95%",
            "wall_time_s": self.wall_time_s,
            "results_dir": results_dir,
        }


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def simulate(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    records: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Forecast:
    """Run replications of ``scenario`` and collect them.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`parksim.load_scenario`).
    replications, seed
        Default to the scenario's ``[run]`` table.
    workers
        Worker processes; default all cores. The results do not depend on it.
    records
        Keep every event record (a DataFrame in ``Forecast.records``).
    progress
        Called with the number of replications finished since the last call.
    """
    n = scenario.run.replications if replications is None else int(replications)
    root = scenario.run.seed if seed is None else int(seed)
    if n < 1:
        raise ValueError("replications must be at least 1")
    if root < 0:
        raise ValueError("seed must be >= 0")
    workers = default_workers() if workers is None else max(1, int(workers))
    seeds = [replication_seed(root, r) for r in range(n)]
    started = time.perf_counter()
    results: list[ReplicationResult | None] = [None] * n
    for chunk in _run(scenario, seeds, workers, records):
        for r in chunk:
            results[r.replication] = r
        if progress is not None:
            progress(len(chunk))
    wall = time.perf_counter() - started
    return _collect(scenario, root, n, workers, wall, results)


def _collect(scenario: Scenario, seed: int, n: int, workers: int, wall: float, results) -> Forecast:
    start = scenario.calendar.start
    months = scenario.horizon_months
    targets = pd.DataFrame({"replication": np.arange(n, dtype=np.int32)})
    for key in TARGET_KEYS:
        targets[key] = [r.targets[key] for r in results]
    for key in TARGET_KEYS:
        targets[f"met_{key}"] = targets[key] >= float(getattr(scenario.targets, key))
    targets["met_all"] = targets[[f"met_{k}" for k in TARGET_KEYS]].all(axis=1)
    for lever in (*LEVERS, "total"):
        targets[f"fiscal_{lever}_yuan"] = [r.fiscal[lever] for r in results]
    targets["park_investment_yuan"] = [r.fiscal["park_investment"] for r in results]
    observed = pd.DataFrame({f"obs_{i}": [r.observed[i] for r in results] for i in range(len(scenario.observations))})
    stacked = np.concatenate([r.series for r in results]) if n else np.zeros((0, len(SERIES_COLUMNS)))
    series = pd.DataFrame(stacked, columns=list(SERIES_COLUMNS))
    labels = [month_label(start, m) for m in range(months)]
    series.insert(0, "date", pd.Categorical(np.tile(labels, n), categories=labels, ordered=True))
    series.insert(0, "month", np.tile(np.arange(months, dtype=np.int32), n))
    series.insert(0, "replication", np.repeat(np.arange(n, dtype=np.int32), months))
    parks = pd.DataFrame([(r.replication, *row) for r in results for row in r.parks], columns=["replication", *PARK_COLUMNS])
    frames = [r.records.to_frame(r.replication, start) for r in results if r.records is not None]
    records = pd.concat(frames, ignore_index=True) if frames else None
    return Forecast(scenario, seed, n, workers, wall, targets, series, parks, records, observed)
