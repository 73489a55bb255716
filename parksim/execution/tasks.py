"""Tasks: one replication of one design point, its key, and the function a worker runs.

A task is identified by a hash of everything that determines its result -- the resolved
scenario of its point (:func:`scenario_hash`), the root seed, the replication, the package
version and a hash of the model's source -- so a results store can tell a finished task from
one still to run, and a changed model never passes off old results as new. The replication's
random numbers come from :func:`~parksim.rng.replication_seed`, so every point of a sweep,
every scenario of a comparison and replication ``r`` of a forecast with the same root seed
meet the same luck.

:func:`evaluate` runs in a worker: it runs the replication
(:func:`~parksim.execution.replication.replicate`) and returns its row of the chosen outputs
(:func:`~parksim.execution.replication.result_row`). It never raises: a task that fails
returns its error as a row, so one bad point does not stop a sweep.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from parksim.execution.replication import replicate, result_row
from parksim.gc_tuning import freeze_long_lived
from parksim.rng import replication_seed
from parksim.scenario.priors import draw, realise
from parksim.scenario.schema import Scenario

__all__ = [
    "Task",
    "task_key",
    "scenario_hash",
    "evaluate",
    "evaluate_batch",
    "interleaved",
    "scenario_tasks",
    "realised",
    "META_COLUMNS",
]

META_COLUMNS = ("seconds", "host", "worker", "finished_at")
"""Columns that describe how a task ran, not what it computed (``load_results(meta=True)``)."""


@dataclass(frozen=True, slots=True)
class Task:
    """One replication of one design point; ``parameter_set`` is the set of the point's priors
    it runs on (-1: the values as written, or a scenario without priors)."""

    key: str
    point: int
    replication: int
    parameter_set: int = -1


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of a scenario's canonical JSON: equal scenarios, equal hashes."""
    text = json.dumps(
        scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def task_key(point_hash: str, seed: int, replication: int, version: str, source: str,
             parameter_set: int = -1) -> str:
    """Hash of everything that determines a task's result."""
    text = f"{point_hash}|{seed}|{replication}|{version}|{source}"
    if parameter_set >= 0:
        text += f"|set{parameter_set}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def interleaved(
    point_hashes: Sequence[str], replications: int, seed: int, version: str, source: str,
    per_set: Sequence[int] | None = None,
) -> Iterator[Task]:
    """Tasks replication by replication across all points: a partial sweep covers the design.

    ``per_set`` gives, per point, the replications each parameter set of its priors runs
    (replication ``r`` runs on set ``r // per_set``); 0, or no ``per_set``, for a point that
    runs on its written values.
    """
    for r in range(replications):
        for p, h in enumerate(point_hashes):
            k = r // per_set[p] if per_set and per_set[p] else -1
            yield Task(task_key(h, seed, r, version, source, k), p, r, k)


def scenario_tasks(scenario: Scenario, replications: int, seed: int,
                   per_set: int = 0) -> list[Task]:
    """The tasks of one scenario's replications, for a run that keeps no store (a forecast).

    Keyed like a sweep's tasks, but without the package version and source hash: here the
    keys only name the tasks on an executor, and no finished task is ever read back.
    """
    return list(interleaved([scenario_hash(scenario)], replications, seed, "", "", [per_set]))


def realised(scenario: Scenario, seed: int, parameter_set: int) -> Scenario:
    """The concrete scenario of one parameter set of ``scenario``'s priors
    (:func:`~parksim.scenario.priors.realise`); the scenario itself for set -1."""
    if parameter_set < 0:
        return scenario
    return realise(scenario, draw(scenario.uncertain, scenario, seed, parameter_set))


def evaluate(
    scenario: Scenario, seed: int, task: Task, outputs: Sequence[str], tune_gc: bool = True
) -> dict[str, Any]:
    """Run one task; a row of its results (status ``ok``) or of its error (status ``failed``)."""
    # a long-lived worker (a Dask worker) holds many objects every collection would walk
    if tune_gc:
        freeze_long_lived()
    started = time.perf_counter()
    row: dict[str, Any] = {
        "key": task.key,
        "point": task.point,
        "replication": task.replication,
        "seed": seed,
        "parameter_set": task.parameter_set,
    }
    try:
        result = replicate(realised(scenario, seed, task.parameter_set),
                           replication_seed(seed, task.replication), task.replication,
                           keep_records="records" in outputs)
        row["status"] = "ok"
        row["error"] = ""
        row.update(result_row(result, outputs))
    except Exception as exc:  # a failing task is recorded, never raised
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=8)
    row["seconds"] = time.perf_counter() - started
    row["host"] = socket.gethostname()
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    row["finished_at"] = time.time()
    return row


def evaluate_batch(
    scenarios: Sequence[Scenario],
    seed: int,
    tasks: Sequence[Task],
    outputs: Sequence[str],
    tune_gc: bool = True,
) -> list[dict[str, Any]]:
    """Run several tasks; ``scenarios`` holds (at least) the points they refer to, by index."""
    return [evaluate(scenarios[t.point], seed, t, outputs, tune_gc) for t in tasks]
