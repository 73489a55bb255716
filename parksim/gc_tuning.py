"""How parksim tunes Python's garbage collector: the one place that touches :mod:`gc`.

A replication creates many short-lived objects and no reference cycles worth collecting
mid-run, so the collector's first threshold is raised while one runs
(:func:`collector_tuned`). A process that runs many replications holds many long-lived
objects (a scheduler, scenarios, results): moving them out of the collector's way once
(:func:`freeze_long_lived`) spares every later collection from walking them, and freezing the
driver's objects before a pool forks (:func:`frozen_for_fork`) keeps workers from walking, or
copying, what they inherited (the gc module's advice).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_tuned", "freeze_long_lived", "frozen_for_fork"]

REPLICATION_THRESHOLDS = (100_000, 50, 100)
"""The collector's thresholds while a replication runs."""


@contextmanager
def collector_tuned() -> Iterator[None]:
    """Raise the collector's first threshold while a replication runs, then restore it."""
    thresholds = gc.get_threshold()
    gc.set_threshold(*REPLICATION_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@functools.cache
def freeze_long_lived() -> None:
    """In a long-lived worker, move what is already alive out of the collector's way, once per
    process (asking ``gc.get_freeze_count()`` instead would walk them all)."""
    gc.collect()
    gc.freeze()


@contextmanager
def frozen_for_fork(enabled: bool = True) -> Iterator[None]:
    """Freeze the driver's objects while worker processes are forked from it, then unfreeze."""
    if enabled:
        gc.freeze()
    try:
        yield
    finally:
        if enabled:
            gc.unfreeze()
