"""Any results directory, read back: the manifest's ``kind`` picks the reader.

Each kind of results directory has its own format and its own reader, in the module that
writes it: a forecast's (:func:`parksim.results.load_forecast`, giving
:class:`~parksim.results.Results`) and a sweep's (:func:`parksim.study.store.load_sweep`,
giving one row per task). :func:`load_results` reads whichever it is given, so a notebook
needs one call for every directory ``parksim`` writes.

The formats sit side by side and never import each other; this module sits above them all and
holds the one table, :data:`READERS`, that a new kind of results directory joins.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from parksim.io import read_manifest
from parksim.results import FORECAST_KIND, Results, load_forecast
from parksim.study.calibration import CALIBRATION_KIND, load_calibration_results
from parksim.study.compare import COMPARISON_KIND, load_comparison
from parksim.study.sensitivity import SENSITIVITY_KIND, load_sensitivity
from parksim.study.store import SWEEP_KIND, load_sweep

__all__ = ["READERS", "load_results"]


def _forecast(path: Path, meta: bool) -> Results:
    return load_forecast(path)  # a forecast's run metadata is all in its manifest


READERS: dict[str, Callable[[Path, bool], Any]] = {
    FORECAST_KIND: _forecast,
    SWEEP_KIND: load_sweep,
    SENSITIVITY_KIND: load_sensitivity,
    CALIBRATION_KIND: load_calibration_results,
    COMPARISON_KIND: load_comparison,
}
"""The reader of each kind of results directory, by the manifest's ``kind``."""


def load_results(path: str | Path, meta: bool = False) -> Results | pd.DataFrame:
    """Read a results directory written by ``parksim run`` or ``parksim sweep``.

    A forecast's directory (``parksim run``) gives :class:`~parksim.results.Results`; a
    sweep's directory gives a DataFrame with one row per task (see
    :func:`parksim.study.store.load_sweep`; ``meta=True`` adds timings, hosts, workers); a
    sensitivity study's (``parksim sensitivity``) its indices, one row per output and factor; a
    calibration's (``parksim calibrate``) its posterior, one row per particle; a comparison's
    (``parksim compare -o``) its paired table, one row per scenario and replication.

    Raises ``FileNotFoundError`` when the directory has no manifest (it is not a results
    directory, or the run that wrote it was interrupted) and ``ValueError`` when the manifest
    names a kind this version does not know, or when a file of a forecast does not match the
    size and SHA-256 the manifest recorded.
    """
    path = Path(path)
    kind = read_manifest(path).get("kind")
    try:
        reader = READERS[kind]
    except KeyError:
        known = ", ".join(sorted(READERS))
        raise ValueError(
            f"{path}: results of an unknown kind {kind!r} (this version reads: {known})"
        ) from None
    return reader(path, meta)
