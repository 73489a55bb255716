"""The sweep results store: Parquet shards streamed to disk, a manifest, resume by task key.

A sweep's results directory holds ``manifest.json`` (what experiment this is, written first),
``experiment.toml`` (a copy of the experiment file), ``points.parquet`` (each design point's
factor values) and ``shards/`` -- Parquet files of task rows, each written under a temporary
name, synced and renamed into place, so a shard is either complete or absent. Rows are
buffered in memory only until the next shard is written (every few hundred rows or seconds),
so the driver's memory does not grow with the results (only with the set of task keys).

Re-running a sweep into the same directory reads the task keys of the rows already there and
skips them (``failed`` rows are run again only with ``rerun_failed``); their shard files are
never rewritten. A directory holding a different experiment is refused. Killing the driver
at any point loses at most the buffered rows, which the next run recomputes -- identically,
since a task's result depends only on its key. :func:`load_sweep` reads it all back, one row
per task, keeping only deterministic columns unless ``meta=True``.

This module owns the sweep's format only; the lock and the atomic writes are
:mod:`parksim.io`'s, and :func:`parksim.load_results` reads any kind of results directory.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from parksim.execution.tasks import META_COLUMNS, task_key
from parksim.io import (
    LOCK,
    ResultsDirError,
    atomic_write_bytes,
    atomic_write_table,
    fsync_dir,
    is_temporary,
    lock_results_dir,
    read_manifest,
)
from parksim.provenance import identity_of, library_versions, what_changed
from parksim.scenario.schema import TARGET_KEYS

__all__ = ["SweepStore", "load_sweep", "SWEEP_KIND"]

HEADER_FILES = ("points.parquet", "design.parquet", "experiment.toml")
"""What a sweep writes before its manifest."""


def _header_only(path: Path) -> bool:
    """Whether ``path`` holds nothing, or only the header of a sweep interrupted before its
    manifest (no finished shard): a directory a sweep may start in."""
    for entry in path.iterdir():
        if entry.name == LOCK or entry.name in HEADER_FILES or is_temporary(entry.name):
            continue
        if entry.name == "shards" and entry.is_dir() and not any(entry.glob("part-*.parquet")):
            continue
        return False
    return True

SWEEP_KIND = "sweep"


class SweepStore:
    """A sweep's results directory, opened for writing."""

    def __init__(
        self,
        path: str | Path,
        plan,
        version: str,
        source: str,
        flush_rows: int = 500,
        flush_seconds: float = 5.0,
    ):
        self.path = Path(path)
        self.plan = plan
        self.parts = plan.identity_parts(version, source)
        self.identity = identity_of(self.parts)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.shards = self.path / "shards"
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._open()

    # ------------------------------------------------------------------ opening

    def _open(self) -> None:
        """Lock the directory first (a refused sweep touches nothing), then check what it
        holds: a sweep of this experiment (its header files rewritten where missing), the
        header of one interrupted before its manifest (started again), or nothing."""
        path = self.path
        self.lock = lock_results_dir(path)
        try:
            resuming = self._check(path)
            self.shards.mkdir(exist_ok=True)
            self._write_header(resuming)
        except BaseException:
            self.lock.release()
            raise

    def _check(self, path: Path) -> bool:
        """Whether ``path`` holds this sweep already (``False``: it holds nothing, or only the
        header of a sweep interrupted before its manifest was written)."""
        manifest_path = path / "manifest.json"
        if not manifest_path.exists():
            if not _header_only(path):
                raise ResultsDirError(f"{path}: output directory is not empty and holds no "
                                      "sweep")
            return False
        try:
            manifest = read_manifest(path)
        except ValueError as exc:
            raise ResultsDirError(str(exc)) from None
        if manifest.get("kind") != SWEEP_KIND:
            raise ResultsDirError(f"{path}: holds {manifest.get('kind')!r} results, not a "
                                  "sweep; use a new output directory")
        if manifest.get("identity") != self.identity:
            changed = what_changed(manifest, self.parts, {
                "experiment_sha256": "the experiment (its settings, points or scenario files)"})
            raise ResultsDirError(f"{path}: holds a sweep that cannot be resumed: {changed}; to "
                                  f"start over, use a new output directory or delete {path}")
        return True

    def _write_header(self, resuming: bool = False) -> None:
        """The sweep's header: its points (and unit design), the experiment file and, last,
        the manifest. Resuming, only the header files that are missing are written again
        (the same experiment gives the same files)."""
        plan = self.plan
        exp = plan.experiment
        def wanted(name: str) -> bool:
            return not (resuming and (self.path / name).exists())

        if wanted("points.parquet"):
            points = pd.DataFrame(plan.factor_values, columns=plan.factor_names)
            points.insert(0, "point", range(len(points)))
            points["scenario_sha256"] = plan.point_hashes
            atomic_write_table(points, self.path / "points.parquet")
        if plan.unit is not None and wanted("design.parquet"):
            unit = pd.DataFrame(plan.unit, columns=plan.factor_names)
            unit.insert(0, "point", range(len(unit)))
            atomic_write_table(unit, self.path / "design.parquet")
        if wanted("experiment.toml"):
            atomic_write_bytes(self.path / "experiment.toml", plan.path.read_bytes())
        if resuming:
            fsync_dir(self.path)
            return
        manifest = {
            "kind": SWEEP_KIND,
            "identity": self.identity,
            "experiment_sha256": self.parts["experiment_sha256"],
            "experiment": exp.name,
            "experiment_file": str(plan.path),
            "source_files": plan.sources,
            "design": exp.design.model_dump(mode="json"),
            "factors": plan.factor_names,
            "points": len(plan.scenarios),
            "replications": exp.replications,
            "integrated": plan.integrated,
            "problem": plan.problem,
            "factor_kinds": {f.path: "prior" if f.prior else "lever" for f in plan.factors},
            "thresholds": {key: float(getattr(plan.base.targets, key)) for key in TARGET_KEYS},
            "uncertain": plan.uncertain,
            "tasks": plan.tasks,
            "seed": exp.seed,
            "outputs": list(exp.outputs),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "package_version": self.parts["package_version"],
            "source_sha256": self.parts["source_sha256"],
            "versions": library_versions(),
        }
        atomic_write_bytes(
            self.path / "manifest.json",
            (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(),
        )
        fsync_dir(self.path)

    # ------------------------------------------------------------------ state

    def finished(self) -> tuple[set[str], set[str]]:
        """Keys of the tasks done (``ok``) and of those that failed (and have not succeeded)."""
        ok: set[str] = set()
        failed: set[str] = set()
        for shard in sorted(self.shards.glob("part-*.parquet")):
            table = pq.read_table(shard, columns=["key", "status"])
            for key, status in zip(
                table.column("key").to_pylist(), table.column("status").to_pylist(), strict=True
            ):
                (ok if status == "ok" else failed).add(key)
        return ok, failed - ok

    # ------------------------------------------------------------------ writing

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Buffer rows; write a shard when enough have arrived or enough time has passed."""
        self._buffer.extend(rows)
        if (
            len(self._buffer) >= self.flush_rows
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one new shard (atomically)."""
        if not self._buffer:
            return
        frame = pd.DataFrame(self._buffer)
        if "traceback" not in frame:
            frame["traceback"] = ""
        frame["traceback"] = frame["traceback"].fillna("")
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.shards / f".{name}.tmp"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.shards / name)
        fsync_dir(self.shards)
        self._buffer = []
        self._last_flush = time.monotonic()

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Flush what is buffered, write the run's summary, release the lock."""
        try:
            self.flush()
            if summary is not None:
                atomic_write_bytes(
                    self.path / "summary.json", (json.dumps(summary, indent=2) + "\n").encode()
                )
        finally:
            self.lock.release()

    def abandon(self) -> None:
        """Release the lock without writing (the buffered rows are recomputed next time)."""
        self.lock.release()


def load_sweep(path: str | Path, meta: bool = False) -> pd.DataFrame:
    """One row per task of a sweep: factor values, replication, seed, status and results.

    Only deterministic columns are kept, sorted by point and replication, so two runs of the
    same sweep give equal frames; ``meta=True`` adds timings, hosts and workers.

    Raises ``FileNotFoundError`` when the directory has no manifest and ``ValueError`` when it
    holds another kind of results.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("kind") != SWEEP_KIND:
        raise ValueError(f"{path}: holds {manifest.get('kind')!r} results, not a sweep "
                         "(parksim.load_results reads any kind)")
    points = pd.read_parquet(path / "points.parquet").drop(columns=["scenario_sha256"])
    shards = sorted((path / "shards").glob("part-*.parquet"))
    if not shards:
        columns = ["point", *manifest["factors"], "replication", "seed", "status", "error"]
        return pd.DataFrame(columns=columns)
    rows = pd.concat([pd.read_parquet(s) for s in shards], ignore_index=True)
    # one row per task key: a success wins over a failure, the latest over earlier ones
    rows["_ok"] = rows["status"] == "ok"
    rows = (
        rows.sort_values(["_ok", "finished_at"])
        .drop_duplicates("key", keep="last")
        .drop(columns=["_ok", "point", "replication"])
    )
    # every (point, replication) of the design, by its key: repeated design points share a row
    hashes = pd.read_parquet(path / "points.parquet", columns=["point", "scenario_sha256"])
    expected = pd.DataFrame(
        [
            (
                p,
                r,
                task_key(
                    h, manifest["seed"], r, manifest["package_version"], manifest["source_sha256"],
                    r if manifest.get("integrated") else -1,
                ),
            )
            for p, h in zip(hashes["point"], hashes["scenario_sha256"], strict=True)
            for r in range(manifest["replications"])
        ],
        columns=["point", "replication", "key"],
    )
    rows = expected.merge(rows, on="key", how="inner").merge(points, on="point", how="left")
    fixed = ["point", *manifest["factors"], "replication", "seed", "status", "error"]
    values = [
        c
        for c in rows.columns
        if c not in fixed and c not in META_COLUMNS and c not in ("key", "traceback")
    ]
    columns = fixed + values + (["key", *META_COLUMNS, "traceback"] if meta else [])
    return rows[columns].sort_values(["point", "replication"]).reset_index(drop=True)
