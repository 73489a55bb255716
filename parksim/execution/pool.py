"""The local process pool, on which the local executor runs forecasts, comparisons and sweeps.

One place decides how work is spread over this machine's cores: a process pool
(``concurrent.futures``, fork where the platform has it), workers that leave Ctrl-C to the
driver and die with it (so no orphan lingers, holding a results directory's lock), and the
driver's objects frozen for the garbage collector before the fork (the gc module's advice:
workers then never walk, or copy, what they inherited). A worker killed from outside (the
out-of-memory killer's SIGKILL) breaks the pool at once, and its jobs run again on a fresh
one: a run never waits for a result that will not come. With one worker everything runs
in-process.
"""

from __future__ import annotations

import functools
import math
import multiprocessing
import os
import signal
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from parksim.gc_tuning import frozen_for_fork

__all__ = ["WorkerDied", "WorkerWarning", "chunk_sizes", "default_workers", "imap_unordered",
           "worker_init"]


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


class WorkerWarning(RuntimeWarning):
    """A local worker process died and its tasks were run again: the results are complete,
    but the machine may be short of memory."""


class WorkerDied(RuntimeError):
    """A local worker process died abruptly (killed: by the out-of-memory killer, say) again
    and again while running the same tasks."""


RERUNS = 2
"""How many times the tasks of a worker that died are run again on a fresh pool."""
FAULT_KILL_ONCE = "PARKSIM_FAULT_KILL_WORKER_ONCE"
"""A fault for tests (a file's path): the first job to find the file missing creates it and
kills its own worker with SIGKILL, as the out-of-memory killer would."""
FAULT_KILL_ALWAYS = "PARKSIM_FAULT_KILL_WORKER_ALWAYS"
"""A fault for tests (set to 1): every job kills its worker."""


def _start_pool(context, workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, started with Ctrl-C held back until they are all up.

    A SIGINT that lands while a worker is forked is raised inside the fork's after-fork hooks,
    where Python reports it and drops it: the run would go on as if never interrupted. Held
    back (blocked) while the pool starts, it is delivered the moment start-up ends.
    """
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=worker_init)
        for _ in range(workers):  # start them all now, inside the mask
            pool.submit(int).result()
        return pool
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once: pending jobs cancelled, running workers killed."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(5)


def _faulty(fn: Callable[[Any], Any], job: Any) -> Any:
    """``fn(job)`` in a worker, with the faults tests ask for (see :data:`FAULT_KILL_ONCE`)."""
    marker = os.environ.get(FAULT_KILL_ONCE)
    if os.environ.get(FAULT_KILL_ALWAYS) == "1" or (marker and _first_to_create(marker)):
        os.kill(os.getpid(), signal.SIGKILL)
    return fn(job)


def _first_to_create(path: str) -> bool:
    try:
        with open(path, "x"):
            return True
    except FileExistsError:
        return False


def imap_unordered(
    fn: Callable[[Any], Any], jobs: Iterable[Any], workers: int, tune_gc: bool = True
) -> Iterator[Any]:
    """``fn`` over ``jobs`` on ``workers`` processes, as they finish (in-process for one).

    At most two jobs per worker are in flight, so the jobs are drawn lazily. A worker that dies
    abruptly (SIGKILL from the out-of-memory killer, say) breaks the pool at once: the jobs
    that were in flight are run again on a fresh pool, up to :data:`RERUNS` times each, with a
    warning; a job whose workers keep dying raises :class:`WorkerDied`. A job's result is a
    pure function of the job, so a rerun gives what the first run would have.
    """
    if workers <= 1:
        yield from map(fn, jobs)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    run = functools.partial(_faulty, fn) if _faults() else fn
    fresh = enumerate(jobs)
    lost: list[tuple[int, Any]] = []  # (index, job) to run again
    reruns: dict[int, int] = {}
    with frozen_for_fork(tune_gc and method == "fork"):
        while True:
            pool = _start_pool(context, workers)
            inflight: dict[Any, tuple[int, Any]] = {}
            try:
                while True:
                    while len(inflight) < 2 * workers:
                        item = lost.pop() if lost else next(fresh, None)
                        if item is None:
                            break
                        try:
                            inflight[pool.submit(run, item[1])] = item
                        except BrokenProcessPool:
                            lost.append(item)
                            raise
                    if not inflight:
                        pool.shutdown()
                        return
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()  # BrokenProcessPool if a worker died
                        del inflight[future]
                        yield result
            except BrokenProcessPool:
                _stop(pool)
                lost.extend(inflight.values())
                for index, _job in inflight.values():
                    reruns[index] = reruns.get(index, 0) + 1
                    if reruns[index] > RERUNS:
                        raise WorkerDied(
                            f"a local worker process died {RERUNS + 1} times running the same "
                            "tasks (killed abruptly: is the machine out of memory? try fewer "
                            "workers)") from None
                warnings.warn("a local worker process died abruptly (killed: out of memory?); "
                              "the tasks it was running run again on a fresh pool",
                              WorkerWarning, stacklevel=2)
            except BaseException:
                _stop(pool)
                raise


def _faults() -> bool:
    return bool(os.environ.get(FAULT_KILL_ONCE) or os.environ.get(FAULT_KILL_ALWAYS))
