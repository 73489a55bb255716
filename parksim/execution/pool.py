"""The local process pool, on which the local executor runs forecasts, comparisons and sweeps.

One place decides how work is spread over this machine's cores: a ``multiprocessing`` pool
(fork where the platform has it), workers that leave Ctrl-C to the driver and die with it
(so no orphan lingers, holding a results directory's lock), and the driver's objects frozen
for the garbage collector before the fork (the gc module's advice: workers then never walk,
or copy, what they inherited). With one worker everything runs in-process.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from parksim.gc_tuning import frozen_for_fork

__all__ = ["default_workers", "worker_init", "imap_unordered", "chunk_sizes"]


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


def chunk_sizes(total: int, workers: int, largest: int = 32) -> Iterator[int]:
    """Sizes of the chunks ``total`` tasks are sent in: about 16 chunks per worker while much is
    left, then smaller and smaller (a quarter of what is left per worker, down to one task),
    so the workers finish together rather than one waiting on another's last large chunk."""
    cap = max(1, min(largest, math.ceil(total / (workers * 16))))
    left = total
    while left > 0:
        size = max(1, min(cap, math.ceil(left / (workers * 4))))
        yield size
        left -= size


def worker_init() -> None:
    """Set up a pool worker: Ctrl-C is the driver's to handle, and the worker dies with its
    driver (Linux ``PR_SET_PDEATHSIG``) instead of lingering when the driver is killed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: workers end when the pool's pipes close
        pass


def _start_pool(method: str, workers: int):
    """A pool of ``workers`` processes, started with Ctrl-C held back until they are all up.

    A SIGINT that lands while a worker is forked is raised inside the fork's after-fork hooks,
    where Python reports it and drops it: the run would go on as if never interrupted. Held
    back (blocked) while the pool starts, it is delivered the moment start-up ends.
    """
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return multiprocessing.get_context(method).Pool(workers, initializer=worker_init)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def imap_unordered(
    fn: Callable[[Any], Any], jobs: Iterable[Any], workers: int, tune_gc: bool = True
) -> Iterator[Any]:
    """``fn`` over ``jobs`` on ``workers`` processes, as they finish (in-process for one)."""
    if workers <= 1:
        yield from map(fn, jobs)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with frozen_for_fork(tune_gc and method == "fork"):
        pool = _start_pool(method, workers)
        try:
            yield from pool.imap_unordered(fn, jobs)
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
