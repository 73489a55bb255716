"""Results directories on disk: claiming one for a run, locking it, writing into it safely.

Every kind of results directory (a forecast's, a sweep's) is written through the same few
primitives, so they live here, below every format and depending on none of them:

- **Claiming.** :func:`prepare_results_dir` checks, before anything runs, that a path can
  become a results directory; :func:`claim_results_dir` creates (or takes over) it and locks it
  for one run, and :class:`Claim` gives it back, removing a directory the run made if a failed
  run left it empty. :func:`default_results_dir` names a new timestamped one.
- **The lock.** :class:`DirectoryLock` is an exclusive, non-blocking lock on ``.parksim.lock``
  in the directory, held by the one run writing into it. It is an operating-system lock
  (``flock`` on Linux and macOS, a byte-range lock on Windows, through the ``filelock``
  library), so it dies with the process that holds it, however that process ends: a killed run
  never leaves a directory locked.
- **Atomic writes.** :func:`atomic_write_bytes` and :func:`atomic_write_table` write under a
  temporary name, sync and rename into place, so a file is either complete or absent;
  :func:`fsync_dir` makes the renames themselves durable.
- **Reading back.** :func:`read_manifest` reads the manifest every kind of results directory
  writes last (and only once the rest is in place); :func:`sha256_file` hashes a file for it.

Any failure a user can fix by choosing another directory is a :class:`ResultsDirError`
(the command line's exit code 2).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "LOCK",
    "Claim",
    "DirectoryLock",
    "ResultsDirError",
    "add_to_manifest",
    "atomic_write_bytes",
    "atomic_write_table",
    "claim_results_dir",
    "default_results_dir",
    "check_not_dangling",
    "fault_point",
    "fsync_dir",
    "interrupted_leftovers",
    "is_temporary",
    "lock_results_dir",
    "prepare_results_dir",
    "read_kind_table",
    "read_manifest",
    "sha256_file",
    "write_manifest",
]

LOCK = ".parksim.lock"
"""The lock file of a results directory (see :class:`DirectoryLock`)."""


class ResultsDirError(Exception):
    """The results directory cannot be used (bad input: exit code 2)."""


# ---------------------------------------------------------------------------- the lock


class DirectoryLock:
    """An exclusive lock on a results directory, held by the one run writing into it.

    The lock is the operating system's, on ``.parksim.lock`` in the directory: the kernel
    releases it when the holding process ends, however it ends, so a killed run never leaves
    a directory locked. It is not reentrant: while one ``DirectoryLock`` holds a directory,
    every other attempt is refused -- from another process, from another ``DirectoryLock`` in
    this process, and a second :meth:`acquire` of this one.
    """

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / LOCK
        # one hold per object, shared by its threads; a fixed mode, as the lock file always had
        self._lock = FileLock(self.path, timeout=0, mode=0o644, thread_local=False)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock.is_locked

    def acquire(self) -> bool:
        """Take the lock if no other run holds it (never waits)."""
        if self._lock.is_locked:
            return False
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        """Drop the lock and its file (a no-op if this object does not hold it)."""
        if not self._lock.is_locked:
            return
        # The file goes while still locked, so no other run can have taken it in between.
        # Windows cannot remove an open file; its lock removes the file itself on release.
        with suppress(OSError):
            self.path.unlink()
        self._lock.release()


# ---------------------------------------------------------------------------- claiming


def default_results_dir(name: str, base: str | Path = "results") -> Path:
    """A name for a new timestamped directory under ``results/`` (see :func:`claim_results_dir`)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(base) / f"{name}-{stamp}"


FAULT_INTERRUPT_AT = "PARKSIM_FAULT_INTERRUPT_AT"
"""A fault for tests: the name of a point (:func:`fault_point`) where the process sends
itself SIGINT, as a user's Ctrl-C landing at exactly that instant would."""


def fault_point(name: str) -> None:
    """Where a test may interrupt a run at one exact instant (see :data:`FAULT_INTERRUPT_AT`);
    nothing happens otherwise."""
    if os.environ.get(FAULT_INTERRUPT_AT) == name:
        import signal

        os.kill(os.getpid(), signal.SIGINT)


def check_not_dangling(path: Path) -> None:
    """Refuse an output path that is a symbolic link to nothing (or a loop of links): writing
    through it would put the results somewhere the user did not name."""
    if path.is_symlink() and not path.exists():
        raise ResultsDirError(f"{path}: is a symbolic link to nothing that exists (or a loop "
                              "of links); give a directory")


def is_temporary(name: str) -> bool:
    """Whether ``name`` is an atomic write's temporary file (``.NAME.tmp``), which a write cut
    short can leave behind."""
    return name.startswith(".") and name.endswith(".tmp")


def interrupted_leftovers(path: Path, leftovers: Collection[str]) -> bool:
    """Whether ``path`` holds only what an interrupted run of one kind leaves: no manifest,
    nothing but files named in ``leftovers`` and temporary files (``.NAME.tmp``)."""
    if not leftovers or not path.is_dir():
        return False
    names = [p.name for p in path.iterdir() if p.name != LOCK]
    return "manifest.json" not in names and all(
        n in leftovers or is_temporary(n) for n in names)


def lock_results_dir(path: Path) -> DirectoryLock:
    """Create ``path`` if need be and lock it for a run that resumes in place (a sweep, a
    calibration), before anything in it is looked at: a run refused here changes nothing.
    ``ResultsDirError`` for a link to nothing, a file, a directory that cannot be made or
    locked, or one another run holds."""
    check_not_dangling(path)
    if path.exists() and not path.is_dir():
        raise ResultsDirError(f"{path}: output path is a file, expected a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock = DirectoryLock(path)
        locked = lock.acquire()
    except OSError as exc:
        raise ResultsDirError(f"{path}: cannot create or lock the results directory: "
                              f"{exc.strerror or exc}") from None
    if not locked:
        raise ResultsDirError(f"{path}: another run is writing into this directory")
    return lock


def prepare_results_dir(path: str | Path, force: bool = False,
                        leftovers: Collection[str] = ()) -> Path:
    """Check that ``path`` can become a results directory, before anything runs.

    Refuses an existing file, an existing non-empty directory (unless ``force``, or unless it
    holds only an interrupted run's ``leftovers``: result files without a manifest, which the
    run writes over) and a location that cannot be created. Creates nothing.
    """
    path = Path(path)
    check_not_dangling(path)
    if path.exists() and not path.is_dir():
        raise ResultsDirError(f"{path}: output path is a file, expected a directory")
    if (path.is_dir() and any(p.name != LOCK for p in path.iterdir()) and not force
            and not interrupted_leftovers(path, leftovers)):
        raise ResultsDirError(f"{path}: output directory is not empty (use --force to overwrite)")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ResultsDirError(f"{path}: cannot create directory, {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsDirError(f"{path}: cannot create directory, {probe} is not writable")
    return path


@dataclass
class Claim:
    """A results directory claimed for one run: where, whether the run made it, its lock."""

    path: Path
    created: bool
    lock: DirectoryLock

    def release(self, remove_if_empty: bool = False) -> None:
        """Drop the lock; after a failed run, remove the directory if it was made and is empty."""
        self.lock.release()
        if remove_if_empty and self.created and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()


def claim_results_dir(path: str | Path, force: bool = False, unique: bool = False,
                      leftovers: Collection[str] = ()) -> Claim:
    """Create (or take over) the results directory before a run and lock it for this run.

    With ``unique`` (a default, timestamped name) a taken name gets a suffix instead of an
    error. A directory another live run holds is refused, whatever ``force`` says; one that
    holds only an interrupted run's ``leftovers`` is taken over (see
    :func:`prepare_results_dir`).
    """
    path = Path(path)
    candidate, n = path, 1
    while True:
        if not (unique and candidate.exists()):
            prepare_results_dir(candidate, force, leftovers)
            created = False
            try:
                candidate.mkdir(parents=True, exist_ok=False)
                created = True
            except FileExistsError:
                pass
            except OSError as exc:
                raise ResultsDirError(
                    f"{candidate}: cannot create directory: {exc.strerror}"
                ) from None
            lock = DirectoryLock(candidate)
            try:
                locked = lock.acquire()
            except OSError as exc:  # a leftover lock file this user cannot open, say
                raise ResultsDirError(
                    f"{candidate}: cannot take its lock {LOCK}: {exc.strerror or exc}"
                ) from None
            if locked:
                return Claim(candidate, created, lock)
            if not unique:
                raise ResultsDirError(f"{candidate}: another run is writing into this directory")
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")


# ---------------------------------------------------------------------------- writing


def fsync_dir(path: Path) -> None:
    """Make the entries of a directory (the renames into it) durable.

    Windows cannot open a directory for this; NTFS journals the renames itself.
    """
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, synced, then renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves nothing half-written behind
        raise


def atomic_write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as Parquet or, by the suffix, as CSV in UTF-8 with a byte-order mark (so
    spreadsheet programs show Chinese names): under a temporary name, synced, renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------- reading


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a results directory.

    Raises ``FileNotFoundError`` when there is none: the directory is not a results
    directory, or the run writing it was interrupted before it finished; ``ValueError`` when
    it cannot be read or is not a JSON object (damaged).
    """
    manifest_path = Path(path) / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"{path}: no manifest.json (not a results directory, or an interrupted run)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{manifest_path}: not valid JSON ({exc}); the directory is damaged"
                         ) from None
    except OSError as exc:  # a directory in its place, unreadable, ...
        raise ValueError(f"{manifest_path}: cannot be read ({exc.strerror}); the directory is "
                         "damaged") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{manifest_path}: not a JSON object; the directory is damaged")
    return manifest


def add_to_manifest(path: Path, files: Sequence[str], **fields: Any) -> None:
    """List ``files`` (already written in ``path``) in its manifest, with their sizes and
    hashes, and add ``fields`` to it. The manifest is replaced atomically, so a failure leaves
    the earlier manifest, which lists everything but the new files."""
    manifest = read_manifest(path)
    listed = manifest.pop("files", {})
    listed.update({name: {"bytes": (path / name).stat().st_size,
                          "sha256": sha256_file(path / name)} for name in files})
    fsync_dir(path)
    atomic_write_bytes(path / "manifest.json", (json.dumps(
        {**manifest, **fields, "files": listed}, indent=2, ensure_ascii=False) + "\n").encode())
    fsync_dir(path)


def read_kind_table(path: str | Path, kind: str, noun: str, table: str) -> pd.DataFrame:
    """The Parquet ``table`` of a results directory whose manifest says ``kind``, checked
    against the size and SHA-256 the manifest lists; a ``ValueError`` naming what it holds
    instead (``noun``: what ``kind`` is called), or the damaged file."""
    import pandas as pd

    path = Path(path)
    manifest = read_manifest(path)
    found = manifest.get("kind")
    if found != kind:
        raise ValueError(f"{path}: holds {found!r} results, not {noun}")
    listed = manifest.get("files", {}).get(table)
    file = path / table
    if listed is not None and (not file.exists() or file.stat().st_size != listed["bytes"]
                               or sha256_file(file) != listed["sha256"]):
        raise ValueError(f"{file}: does not match the manifest (changed or damaged after it "
                         "was written)")
    return pd.read_parquet(file)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(path: Path, manifest: dict[str, Any], files: Sequence[str]) -> None:
    """Write ``path/manifest.json`` last: ``manifest`` and, under ``files``, the size and
    SHA-256 of each named file already written there (the directory synced before and after,
    so a manifest never lists a file that is not on disk). A test may interrupt just after it
    (fault point ``KIND:manifest``)."""
    listed = {name: {"bytes": (path / name).stat().st_size, "sha256": sha256_file(path / name)}
              for name in files}
    fsync_dir(path)
    atomic_write_bytes(path / "manifest.json", (json.dumps(
        {**manifest, "files": listed}, indent=2, ensure_ascii=False) + "\n").encode())
    fsync_dir(path)
    fault_point(f"{manifest.get('kind', 'results')}:manifest")
