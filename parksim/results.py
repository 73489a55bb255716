"""A forecast's results directory: what ``parksim run`` writes, and how it is read back.

A forecast's results directory holds the resolved scenario (``scenario.toml``, with the
replications and seed actually run, so running it again reproduces the results), the summary
printed by the command line (``summary.json``), the per-replication target values
(``targets``), the monthly series (``series``), each replication's parks (``parks``), each
park's standing, firms and occupancy month by month (``park_series``), its
grading log (``grades``: park x grading year), its ledger (``ledger``: item x calendar year:
cap, spend, firms refused, whether the cap bound), the parameter sets of a forecast that
integrates over the scenario's priors (``parameters``: one row per set, one column per
uncertain parameter; ``targets`` names each replication's set) and, when
asked for, every event record (``records``) -- tables as Parquet, plus CSV in UTF-8 with a
byte-order mark so spreadsheet programs show the Chinese park names -- and a ``manifest.json``
(``kind = "forecast"``) with versions, hashes, seed and timings. Every file is written to a
temporary name and renamed into place; the manifest is written last, so a directory without
one is an interrupted run, never a result that merely looks complete.

This module owns the format only: :func:`write_results` writes it and :func:`load_forecast`
reads it back, checking every file against the manifest. Claiming and locking the directory
and the atomic writes are :mod:`parksim.io`'s; :func:`parksim.load_results` reads any kind of
results directory (see :mod:`parksim.results_dir`).
"""

from __future__ import annotations

import datetime as _dt
import json
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from parksim.aggregate import INTERVAL_METHOD, QUANTILES
from parksim.io import (
    atomic_write_bytes,
    atomic_write_table,
    fault_point,
    prepare_results_dir,
    read_manifest,
    sha256_file,
    write_manifest,
)
from parksim.provenance import library_versions, platform_name, source_hash
from parksim.scenario.loader import validate
from parksim.scenario.priors import nested_design

__all__ = [
    "FORECAST_KIND",
    "RESULT_FILES",
    "Results",
    "ResultsWarning",
    "load_forecast",
    "write_results",
]

FORECAST_KIND = "forecast"
"""The manifest's ``kind`` of a forecast's results directory."""

TABLES = ("targets", "series", "parks", "park_series", "grades", "ledger", "parameters",
          "records")
RESULT_FILES = (
    "manifest.json",
    "summary.json",
    "scenario.toml",
    "report.html",
    *(f"{t}.parquet" for t in TABLES),
    *(f"{t}.csv" for t in TABLES),
)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


def write_results(
    forecast,
    path: str | Path,
    summary: dict[str, Any],
    force: bool = False,
    sources: list[dict[str, str]] | None = None,
    command: list[str] | None = None,
) -> Path:
    """Write a forecast into its (claimed) results directory: atomically, manifest last.

    A non-empty directory is refused unless ``force``, or unless it holds only an interrupted
    run's result files (no manifest), which are written over. Every file is written under a
    temporary name, synced and renamed into place; the
    manifest, written last, lists each file with its size and SHA-256, which
    :func:`load_forecast` checks.
    """
    path = prepare_results_dir(path, force, leftovers=RESULT_FILES)
    fault_point("forecast:writing")
    path.mkdir(parents=True, exist_ok=True)
    for name in RESULT_FILES:
        stale = path / name
        if stale.exists():
            stale.unlink()
    for stale in path.glob(".*.tmp"):  # an interrupted write's
        stale.unlink()
    scenario = forecast.scenario
    resolved = scenario.model_dump(mode="json")
    # as run, flags included: a fixed forecast ran without the priors
    default_sets = nested_design(forecast.replications, None)[0]
    resolved["run"] = {"replications": forecast.replications, "seed": forecast.seed,
                       "parameter_sets": None if forecast.parameter_sets in (0, default_sets)
                       else forecast.parameter_sets}
    if not forecast.parameter_sets:
        resolved["uncertain"] = {}
    atomic_write_bytes(path / "scenario.toml", tomli_w.dumps(_drop_none(resolved)).encode())
    atomic_write_bytes(
        path / "summary.json",
        (json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode(),
    )
    tables = {"targets": forecast.targets, "series": forecast.series, "parks": forecast.parks,
              "grades": forecast.grades, "ledger": forecast.ledger}
    if not forecast.park_series.empty:
        tables["park_series"] = forecast.park_series
    if forecast.parameter_sets:
        tables["parameters"] = forecast.parameters
    if forecast.records is not None:
        tables["records"] = forecast.records
    for name, frame in tables.items():
        atomic_write_table(frame, path / f"{name}.parquet")
        atomic_write_table(frame, path / f"{name}.csv")
        fault_point(f"forecast:{name}")
    files = sorted(
        p.name for p in path.iterdir() if p.name in RESULT_FILES and p.name != "manifest.json"
    )
    manifest = {
        "kind": FORECAST_KIND,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "scenario": scenario.name,
        "scenario_files": sources or [],
        "command": command,
        "seed": forecast.seed,
        "replications": forecast.replications,
        "workers": forecast.workers,
        "wall_time_s": round(forecast.wall_time_s, 3),
        "interval_method": summary.get("interval_method", f"{INTERVAL_METHOD} score interval "
                                       "for probabilities (scipy.stats.binomtest), 95%"),
        "parameter_sets": forecast.parameter_sets or None,
        "quantiles": list(QUANTILES),
        "package_version": library_versions()["parksim"],
        "source_sha256": source_hash(),
        "versions": library_versions(),
        "platform": platform_name(),
        "tables": sorted(tables),
    }
    write_manifest(path, manifest, files)
    return path


class ResultsWarning(UserWarning):
    """Something in a results directory that is not read: a table the manifest does not
    list."""


@dataclass
class Results:
    """A forecast's results directory read back into memory."""

    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    scenario: Any
    targets: pd.DataFrame
    series: pd.DataFrame
    parks: pd.DataFrame
    records: pd.DataFrame | None
    grades: pd.DataFrame | None = None
    ledger: pd.DataFrame | None = None
    parameters: pd.DataFrame | None = None
    park_series: pd.DataFrame | None = None


def load_forecast(path: str | Path) -> Results:
    """Read a forecast's results directory (written by ``parksim run`` or :func:`write_results`).

    Raises ``FileNotFoundError`` when the directory has no manifest (it is not a results
    directory, or the run that wrote it was interrupted) and ``ValueError`` when it holds
    another kind of results, or when a file does not match the size and SHA-256 the manifest
    recorded.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("kind") != FORECAST_KIND:
        raise ValueError(f"{path}: holds {manifest.get('kind')!r} results, not a forecast "
                         "(parksim.load_results reads any kind)")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise ValueError(f"{path / 'manifest.json'}: lists no files; the directory is damaged")
    for name, expected in listed.items():
        file = path / name
        if not isinstance(expected, dict) or not {"bytes", "sha256"} <= set(expected):
            raise ValueError(f"{path / 'manifest.json'}: lists {name} without its size and "
                             "SHA-256; the directory is damaged")
        if (
            not file.exists()
            or file.stat().st_size != expected["bytes"]
            or sha256_file(file) != expected["sha256"]
        ):
            raise ValueError(
                f"{file}: does not match the manifest (changed or damaged after it was written)"
            )
    for name in ("summary.json", "scenario.toml", "targets.parquet", "series.parquet",
                 "parks.parquet"):
        if name not in listed:
            raise ValueError(f"{path / 'manifest.json'}: does not list {name}; the directory "
                             "is damaged")
    for stray in sorted(f"{t}.parquet" for t in TABLES):
        if stray not in listed and (path / stray).exists():
            warnings.warn(f"{path / stray}: not listed in the manifest, so not read (a file "
                          "added after the run)", ResultsWarning, stacklevel=2)

    def table(name: str) -> pd.DataFrame | None:
        file = f"{name}.parquet"
        return pd.read_parquet(path / file) if file in listed else None

    summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    scenario = validate(tomllib.loads((path / "scenario.toml").read_text(encoding="utf-8")))
    return Results(path, manifest, summary, scenario, table("targets"), table("series"),
                   table("parks"), table("records"), table("grades"), table("ledger"),
                   table("parameters"), table("park_series"))
