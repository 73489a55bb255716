"""Executors: where tasks run. A local process pool (the default) or a Dask cluster.

Forecasts, comparisons and sweeps all hand their tasks to an executor. Both kinds take the
same inputs -- the design points' scenarios, the root seed, an iterator of
:class:`~parksim.execution.tasks.Task` and the outputs to keep (see
:mod:`parksim.execution.replication`) -- and yield result rows as they arrive, in whatever
order they finish. Results never depend on the executor or on the number of workers: a
task's result is a pure function of (scenario, seed, replication).

* :class:`LocalExecutor` runs chunks of tasks on the local pool
  (:mod:`parksim.execution.pool`: fork, all cores by default, in-process with one worker).
  Each chunk carries the scenarios its tasks need.
* :class:`DaskExecutor` connects to a running ``dask scheduler`` (started with Dask's own
  commands), sends chunks of tasks with the scenarios they need, and keeps a bounded number of
  chunks in flight, so the driver never holds more than a window of results. If a worker
  dies, Dask runs its unfinished chunks elsewhere. A long-lived worker freezes what it holds
  for the garbage collector before its first task. If the scheduler itself is lost mid-run,
  the run stops at once with :class:`SchedulerLost` (one line), not Dask's cancelled futures.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from parksim.execution.pool import WorkerWarning, chunk_sizes, default_workers, imap_unordered
from parksim.execution.replication import check_outputs
from parksim.execution.tasks import Task, evaluate_batch
from parksim.scenario.schema import Scenario

__all__ = ["Executor", "LocalExecutor", "DaskExecutor", "NoWorkers", "SchedulerLost",
           "make_executor"]


def _chunks(
    tasks: Iterable[Task], total: int, workers: int, size: int | None
) -> Iterator[list[Task]]:
    """``tasks`` in chunks of ``size``, or of :func:`~parksim.execution.pool.chunk_sizes`."""
    it = iter(tasks)
    sizes = (
        itertools.repeat(size)
        if size
        else itertools.chain(chunk_sizes(total, workers), itertools.repeat(1))
    )
    for n in sizes:
        chunk = list(itertools.islice(it, n))
        if not chunk:
            return
        yield chunk


def _run_chunk(
    args: tuple[dict[int, Scenario], int, list[Task], Sequence[str], bool],
) -> list[dict[str, Any]]:
    scenarios, seed, tasks, outputs, tune_gc = args
    return evaluate_batch(scenarios, seed, tasks, outputs, tune_gc)


class Executor:
    """Runs tasks and yields their result rows as they finish."""

    workers: int = 1

    def run(
        self,
        scenarios: Sequence[Scenario],
        seed: int,
        tasks: Iterable[Task],
        outputs: Sequence[str],
        total: int,
    ) -> Iterator[list[dict[str, Any]]]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor holds (a pool, a client)."""


class LocalExecutor(Executor):
    """A local process pool (fork); one worker runs in-process."""

    def __init__(self, workers: int | None = None, chunk: int | None = None, tune_gc: bool = True):
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.chunk = chunk
        self.tune_gc = tune_gc

    def describe(self) -> str:
        return f"local pool, {self.workers} worker{'s' if self.workers != 1 else ''}"

    def run(self, scenarios, seed, tasks, outputs, total):
        outputs = check_outputs(outputs)
        jobs = (({t.point: scenarios[t.point] for t in chunk}, seed, chunk, outputs, False)
                for chunk in _chunks(tasks, total, self.workers, self.chunk))
        yield from imap_unordered(_run_chunk, jobs, self.workers, self.tune_gc)


class DaskExecutor(Executor):
    """A Dask distributed cluster, reached at ``address`` (e.g. ``tcp://127.0.0.1:8786``)."""

    def __init__(
        self, address: str, chunk: int | None = None, tune_gc: bool = True,
        timeout: float | None = None, worker_timeout: float = 60.0,
    ):
        self.address = address
        self.client = _connect(address, _connect_timeout() if timeout is None else timeout)
        _await_workers(self.client, address, worker_timeout)
        info = self.client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info["workers"].values()))
        self.chunk = chunk
        self.tune_gc = tune_gc

    def describe(self) -> str:
        threads = "thread" if self.workers == 1 else "threads"
        return f"Dask cluster at {self.address}, {self.workers} worker {threads}"

    def run(self, scenarios, seed, tasks, outputs, total):
        try:
            yield from self._run(scenarios, seed, tasks, outputs, total)
        except SchedulerLost:
            raise
        except Exception as exc:  # a result, a submission or the window lost with the scheduler
            if _scheduler_lost(self.client, exc):
                raise self._lost() from exc
            raise

    def _run(self, scenarios, seed, tasks, outputs, total):
        from distributed import as_completed

        outputs = check_outputs(outputs)
        client = self.client
        window = max(4, self.workers * 4)
        chunks = _chunks(tasks, total, self.workers, self.chunk)
        first = [
            self._submit(scenarios, seed, chunk, outputs)
            for chunk in itertools.islice(chunks, window)
        ]
        if not first:
            return
        self._check_connected()
        running = as_completed(first, loop=client.loop)
        for future in running:
            rows = future.result()
            future.release()
            nxt = next(chunks, None)
            if nxt is not None:
                running.add(self._submit(scenarios, seed, nxt, outputs))
                self._check_connected()
            yield rows

    def _lost(self) -> SchedulerLost:
        return SchedulerLost(
            f"lost the connection to the Dask scheduler at {self.address} mid-run (it stopped, "
            "or the network failed); run the same command again once it is back"
        )

    def _check_connected(self) -> None:
        """Raise :class:`SchedulerLost` if the scheduler was lost before the futures just
        submitted were registered. Dask cancels the futures it holds when it loses the
        scheduler, but one submitted after that waits for the client's reconnection timeout;
        checked after submitting, so a loss any later cancels what was submitted."""
        if self.client.status != "running":
            raise self._lost()

    def _submit(self, scenarios, seed, chunk, outputs):
        # The chunk carries its scenarios (a few kB each). Scattered data would be cheaper to
        # send, but Dask keeps one replica of it, and a task whose input died with a worker
        # cannot be recomputed; a chunk that carries its inputs always can. The key names the
        # outputs too: the same tasks asked for other outputs are another computation.
        needed = {t.point: scenarios[t.point] for t in chunk}
        key = "parksim-" + chunk[0].key + f"-{len(chunk)}-" + "+".join(outputs)
        return self.client.submit(evaluate_batch, needed, seed, chunk, tuple(outputs), self.tune_gc,
                                  key=key, pure=False, retries=1)

    def close(self) -> None:
        """Close the client; a scheduler already lost is not a second error to report."""
        with contextlib.suppress(Exception):
            self.client.close()


def _connect_timeout() -> float:
    """Seconds to wait for a scheduler's answer: Dask's own setting,
    ``distributed.comm.timeouts.connect`` (30 s unless the Dask configuration or the
    environment, ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10s``, says otherwise)."""
    import dask.config
    import distributed  # noqa: F401 -- loads distributed's defaults into Dask's configuration
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect", "30s"),
                                 default="seconds"))


def _connect(address: str, timeout: float):
    """A client of the scheduler at ``address``, or a clear error within about ``timeout`` s.

    A plain TCP probe first, so a closed port fails at once; then the Dask handshake, bounded
    by a thread join, since a port where something else listens never answers it.
    """
    import socket
    import threading
    from urllib.parse import urlsplit

    from distributed import Client

    _quiet_dask()
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if not parts.hostname or not parts.port:
        raise ValueError(f"expected a scheduler address like tcp://HOST:8786, got {address!r}")
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=min(timeout, 10.0)).close()
    except OSError as exc:
        raise ConnectionError(
            f"nothing answers at {parts.hostname}:{parts.port} ({exc.strerror or exc})"
        ) from None
    outcome: dict[str, Any] = {}

    def connect() -> None:
        try:
            outcome["client"] = Client(address, timeout=timeout, set_as_default=False)
        except Exception as exc:  # reported below, in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=connect, name="parksim-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    if "client" in outcome:
        return outcome["client"]
    if "error" in outcome:
        raise ConnectionError(f"{type(outcome['error']).__name__}: {outcome['error']}")
    raise TimeoutError(
        f"no Dask scheduler answered within {timeout:.0f} s (is that the scheduler's port?)"
    )


def _quiet_dask() -> None:
    """Dask's client logs a lost scheduler as tracebacks on stderr, beside parksim's own
    one-line error: its loggers are silenced unless ``PARKSIM_DEBUG`` is set."""
    import logging
    import os

    if not os.environ.get("PARKSIM_DEBUG"):
        for name in ("distributed", "distributed.client", "distributed.batched",
                     "distributed.core", "distributed.comm"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


class SchedulerLost(RuntimeError):
    """The Dask scheduler went away while tasks were running. Not an ``OSError``: nothing
    failed to be written, and what a sweep had written stays (the same command resumes it)."""


def _scheduler_lost(client, exc: BaseException) -> bool:
    """Whether ``exc``, raised by a chunk's result, means the client lost its scheduler: Dask
    then cancels every future (reason ``scheduler-connection-lost``, with a two-line message),
    and a result being fetched at that instant fails on the closed connection."""
    from distributed.client import FutureCancelledError  # distributed >= 2024.7
    from distributed.comm import CommClosedError

    if client.status != "running":  # reconnecting, or given up
        return True
    if isinstance(exc, FutureCancelledError):  # lost, and found again at once
        return getattr(exc, "reason", None) == "scheduler-connection-lost"
    return isinstance(exc, CommClosedError)


class NoWorkers(RuntimeError):
    """The Dask scheduler answered, but no worker joined it in time."""


def _await_workers(client, address: str, timeout: float) -> None:
    """Return once the scheduler has a worker; if it has none, say so (a
    :class:`~parksim.execution.pool.WorkerWarning`) and wait up to ``timeout`` seconds for
    one, then give up with :class:`NoWorkers`: a run never waits for ever in silence."""
    if client.scheduler_info().get("workers"):
        return
    warnings.warn(f"the Dask scheduler at {address} has no workers; waiting up to "
                  f"{timeout:.0f} s for one (--worker-timeout)", WorkerWarning, stacklevel=3)
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception:  # distributed raises its own TimeoutError
        client.close()
        raise NoWorkers(f"no worker joined the Dask scheduler at {address} within "
                        f"{timeout:.0f} s (start workers with: dask worker {address})") from None


def make_executor(workers: int | None = None, scheduler: str | None = None,
                  worker_timeout: float = 60.0) -> Executor:
    """A Dask executor when a scheduler address is given, else the local pool."""
    if scheduler:
        return DaskExecutor(scheduler, worker_timeout=worker_timeout)
    return LocalExecutor(workers)
