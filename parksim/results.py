"""The results directory: what a forecast writes, how it is written, and how it is read back.

A results directory holds the resolved scenario (``scenario.toml``, with the replications and
seed actually run, so running it again reproduces the results), the summary printed by
the command line (``summary.json``), the per-replication target values (``targets``), the
monthly series (``series``), each replication's parks (``parks``) and, when asked for, every
event record (``records``) -- tables as Parquet, plus CSV in UTF-8 with a byte-order mark so
spreadsheet programs show the Chinese park names -- and a ``manifest.json`` with versions,
hashes, seed and timings. Every file is written to a temporary name and renamed into place;
the manifest is written last, so a directory without one is an interrupted run, never a
result that merely looks complete. :func:`load_results` reads it back.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from parksim.aggregate import INTERVAL_METHOD, QUANTILES

__all__ = [
    "Results",
    "ResultsDirError",
    "prepare_results_dir",
    "claim_results_dir",
    "Claim",
    "DirectoryLock",
    "default_results_dir",
    "write_results",
    "load_results",
    "source_hash",
    "atomic_write_bytes",
    "fsync_dir",
    "library_versions",
    "RESULT_FILES",
]

TABLES = ("targets", "series", "parks", "records")
RESULT_FILES = (
    "manifest.json",
    "summary.json",
    "scenario.toml",
    *(f"{t}.parquet" for t in TABLES),
    *(f"{t}.csv" for t in TABLES),
)


class ResultsDirError(Exception):
    """The results directory cannot be used (bad input: exit code 2)."""


LOCK = ".parksim.lock"
"""The lock file of a results directory (see :class:`DirectoryLock`)."""


def source_hash() -> str:
    """SHA-256 of the package's own source files, so results name the exact model that made them."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def default_results_dir(name: str, base: str | Path = "results") -> Path:
    """A name for a new timestamped directory under ``results/`` (see :func:`claim_results_dir`)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(base) / f"{name}-{stamp}"


def prepare_results_dir(path: str | Path, force: bool = False) -> Path:
    """Check that ``path`` can become a results directory, before anything runs.

    Refuses an existing file, an existing non-empty directory (unless ``force``) and a
    location that cannot be created. Creates nothing.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ResultsDirError(f"{path}: output path is a file, expected a directory")
    if path.is_dir() and any(p.name != LOCK for p in path.iterdir()) and not force:
        raise ResultsDirError(f"{path}: output directory is not empty (use --force to overwrite)")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ResultsDirError(f"{path}: cannot create directory, {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsDirError(f"{path}: cannot create directory, {probe} is not writable")
    return path


class DirectoryLock:
    """An exclusive lock on a results directory, held by the one run writing into it.

    It is an advisory ``flock`` on ``.parksim.lock``: the kernel releases it when the holding
    process ends, however it ends, so a killed run never leaves a directory locked.
    """

    def __init__(self, directory: Path):
        self.path = Path(directory) / LOCK
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if no other run holds it."""
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class Claim:
    """A results directory claimed for one run: where, whether the run made it, its lock."""

    path: Path
    created: bool
    lock: DirectoryLock

    def release(self, remove_if_empty: bool = False) -> None:
        """Drop the lock; after a failed run, also remove the directory if the run made it and it is empty."""
        self.lock.release()
        if remove_if_empty and self.created and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()


def claim_results_dir(path: str | Path, force: bool = False, unique: bool = False) -> Claim:
    """Create (or take over) the results directory before a run and lock it for this run.

    With ``unique`` (a default, timestamped name) a taken name gets a suffix instead of an
    error. A directory another live run holds is refused, whatever ``force`` says.
    """
    path = Path(path)
    candidate, n = path, 1
    while True:
        if not (unique and candidate.exists()):
            prepare_results_dir(candidate, force)
            created = False
            try:
                candidate.mkdir(parents=True, exist_ok=False)
                created = True
            except FileExistsError:
                pass
            except OSError as exc:
                raise ResultsDirError(f"{candidate}: cannot create directory: {exc.strerror}") from None
            lock = DirectoryLock(candidate)
            if lock.acquire():
                return Claim(candidate, created, lock)
            if not unique:
                raise ResultsDirError(f"{candidate}: another run is writing into this directory")
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _atomic_table(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


def library_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for lib in ("parksim", "simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "matplotlib"):
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def write_results(forecast, path: str | Path, summary: dict[str, Any], force: bool = False,
                  sources: list[dict[str, str]] | None = None, command: list[str] | None = None) -> Path:
    """Write a forecast into its (claimed) results directory: atomically, manifest last.

    A non-empty directory is refused unless ``force``. Every file is written under a
    temporary name, synced and renamed into place; the
    manifest, written last, lists each file with its size and SHA-256, which
    :func:`load_results` checks.
    """
    path = prepare_results_dir(path, force)
    path.mkdir(parents=True, exist_ok=True)
    for name in RESULT_FILES:
        stale = path / name
        if stale.exists():
            stale.unlink()
    scenario = forecast.scenario
    resolved = scenario.model_dump(mode="json")
    resolved["run"] = {"replications": forecast.replications, "seed": forecast.seed}  # as run, flags included
    atomic_write_bytes(path / "scenario.toml", tomli_w.dumps(_drop_none(resolved)).encode())
    atomic_write_bytes(path / "summary.json", (json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode())
    tables = {"targets": forecast.targets, "series": forecast.series, "parks": forecast.parks}
    if forecast.records is not None:
        tables["records"] = forecast.records
    for name, frame in tables.items():
        _atomic_table(frame, path / f"{name}.parquet")
        _atomic_table(frame, path / f"{name}.csv")
    files = sorted(p.name for p in path.iterdir() if p.name in RESULT_FILES and p.name != "manifest.json")
    manifest = {
        "kind": "forecast",
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "scenario": scenario.name,
        "scenario_files": sources or [],
        "command": command,
        "seed": forecast.seed,
        "replications": forecast.replications,
        "workers": forecast.workers,
        "wall_time_s": round(forecast.wall_time_s, 3),
        "interval_method": f"{INTERVAL_METHOD} score interval for probabilities (scipy.stats.binomtest), 95%",
        "quantiles": list(QUANTILES),
        "package_version": library_versions()["parksim"],
        "source_sha256": source_hash(),
        "versions": library_versions(),
        "platform": platform.platform(),
        "tables": sorted(tables),
        "files": {name: {"bytes": (path / name).stat().st_size, "sha256": _sha256(path / name)} for name in files},
    }
    fsync_dir(path)
    atomic_write_bytes(path / "manifest.json", (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
    fsync_dir(path)
    return path


@dataclass
class Results:
    """A results directory read back into memory."""

    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    scenario: Any
    targets: pd.DataFrame
    series: pd.DataFrame
    parks: pd.DataFrame
    records: pd.DataFrame | None


def load_results(path: str | Path, meta: bool = False) -> Results | pd.DataFrame:
    """Read a results directory written by ``parksim run`` (or :func:`write_results`).

    A sweep's directory (``parksim sweep``) gives a DataFrame with one row per task instead
    (see :func:`parksim.study.store.load_sweep`; ``meta=True`` adds timings, hosts, workers).

    Raises ``FileNotFoundError`` when the directory has no manifest (it is not a results
    directory, or the run that wrote it was interrupted) and ``ValueError`` when a file does
    not match the size and SHA-256 the manifest recorded.
    """
    import tomllib

    from parksim.scenario.loader import validate

    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{path}: no manifest.json (not a results directory, or an interrupted run)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("kind") == "sweep":
        from parksim.study.store import load_sweep

        return load_sweep(path, meta=meta)
    for name, expected in manifest.get("files", {}).items():
        file = path / name
        if not file.exists() or file.stat().st_size != expected["bytes"] or _sha256(file) != expected["sha256"]:
            raise ValueError(f"{file}: does not match the manifest (changed or damaged after it was written)")
    summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    scenario = validate(tomllib.loads((path / "scenario.toml").read_text(encoding="utf-8")))
    records = pd.read_parquet(path / "records.parquet") if (path / "records.parquet").exists() else None
    return Results(
        path,
        manifest,
        summary,
        scenario,
        pd.read_parquet(path / "targets.parquet"),
        pd.read_parquet(path / "series.parquet"),
        pd.read_parquet(path / "parks.parquet"),
        records,
    )
