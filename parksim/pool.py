"""The local process pool both forecasts and experiments run on.

One place decides how work is spread over this machine's cores: a ``multiprocessing`` pool
(fork where the platform has it), workers that leave Ctrl-C to the driver and die with it
(so no orphan lingers, holding a results directory's lock), and the driver's objects frozen
for the garbage collector before the fork (the gc module's advice: workers then never walk,
or copy, what they inherited). With one worker everything runs in-process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["default_workers", "worker_init", "imap_unordered"]


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


def worker_init() -> None:
    """Set up a pool worker: Ctrl-C is the driver's to handle, and the worker dies with its
    driver (Linux ``PR_SET_PDEATHSIG``) instead of lingering when the driver is killed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: workers end when the pool's pipes close
        pass


def imap_unordered(fn: Callable[[Any], Any], jobs: Iterable[Any], workers: int, tune_gc: bool = True) -> Iterator[Any]:
    """``fn`` over ``jobs`` on ``workers`` processes, results as they finish (in-process for one)."""
    if workers <= 1:
        yield from map(fn, jobs)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    frozen = tune_gc and method == "fork"
    if frozen:
        gc.freeze()
    pool = multiprocessing.get_context(method).Pool(workers, initializer=worker_init)
    try:
        yield from pool.imap_unordered(fn, jobs)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        if frozen:
            gc.unfreeze()
