"""Results directories on disk: one writer at a time, whoever asks (this process, another one,
a forked pool worker), and a lock that goes with the process holding it."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from parksim.io import (
    LOCK,
    DirectoryLock,
    ResultsDirError,
    atomic_write_bytes,
    atomic_write_table,
    claim_results_dir,
    read_manifest,
    sha256_file,
)

HOLD = """
import sys
from parksim.io import DirectoryLock
lock = DirectoryLock(sys.argv[1])
print("locked" if lock.acquire() else "refused", flush=True)
sys.stdin.read()  # hold until the test closes our stdin
"""

TRY = """
import sys
from parksim.io import DirectoryLock
lock = DirectoryLock(sys.argv[1])
print("locked" if lock.acquire() else "refused", flush=True)
"""


def other_process_takes(directory: Path) -> bool:
    """Whether a fresh process can take the directory's lock right now."""
    proc = subprocess.run(
        [sys.executable, "-c", TRY, str(directory)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() == "locked"


def test_one_holder_within_a_process(tmp_path):
    first, second = DirectoryLock(tmp_path), DirectoryLock(tmp_path)
    assert first.acquire() and first.held
    assert (tmp_path / LOCK).exists()
    assert not second.acquire()  # another lock object on the same directory
    assert not first.acquire()  # the same object again: not reentrant
    first.release()
    assert not first.held and not (tmp_path / LOCK).exists()
    assert second.acquire()
    second.release()
    second.release()  # releasing what is not held does nothing


def test_a_lock_held_by_another_process_is_refused_until_it_ends(tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert not DirectoryLock(out).acquire()
        for force in (False, True):
            with pytest.raises(ResultsDirError, match="another run"):
                claim_results_dir(out, force=force)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    claim = claim_results_dir(out)
    assert not claim.created
    claim.release()


def test_another_process_is_refused_while_this_one_holds(tmp_path):
    lock = DirectoryLock(tmp_path)
    assert lock.acquire()
    try:
        assert not other_process_takes(tmp_path)
    finally:
        lock.release()
    assert other_process_takes(tmp_path)


def _worker(ready, done) -> None:
    ready.set()
    done.wait(60)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_forked_workers_neither_drop_nor_keep_the_drivers_lock(tmp_path):
    """The local pool forks its workers while the driver holds the lock: a worker ending does
    not release it, and a worker still running does not keep it once the driver lets go."""
    context = multiprocessing.get_context("fork")
    lock = DirectoryLock(tmp_path)
    assert lock.acquire()
    try:
        ready, done = context.Event(), context.Event()
        ended = context.Process(target=_worker, args=(ready, done))
        ended.start()
        assert ready.wait(60)
        done.set()
        ended.join(60)
        assert ended.exitcode == 0
        assert not other_process_takes(tmp_path)  # still the driver's

        ready, done = context.Event(), context.Event()
        running = context.Process(target=_worker, args=(ready, done))
        running.start()
        assert ready.wait(60)
    finally:
        lock.release()
    try:
        assert other_process_takes(tmp_path)  # released, though a worker forked under it still runs
    finally:
        done.set()
        running.join(60)


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    atomic_write_bytes(tmp_path / "summary.json", b"{}\n")
    frame = pd.DataFrame({"park": ["场口百丈小微企业创新园"], "firms": [12]})
    atomic_write_table(frame, tmp_path / "parks.parquet")
    atomic_write_table(frame, tmp_path / "parks.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "parks.csv",
        "parks.parquet",
        "summary.json",
    ]
    # spreadsheets see UTF-8
    assert (tmp_path / "parks.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "parks.parquet"), frame)
    assert sha256_file(tmp_path / "summary.json") == (
        "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356")


def test_a_directory_without_a_manifest_is_not_a_results_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        read_manifest(tmp_path)
