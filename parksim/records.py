"""Flat event records, kept in a columnar buffer while a replication runs.

Every process of the model reports what happened to it by appending one record: a park
opened, a firm entered, a grant was paid. Everything downstream (series, target values, the
fiscal ledger) is computed from these records by :mod:`parksim.metrics`, so a metric can be
tested without SimPy and recomputed without running the model again.

Records are appended as fixed-width tuples (cheap inside the event loop) and turned into
numpy columns once, when the replication ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Kind", "KINDS", "RecordBuffer", "Records", "COLUMNS"]


class Kind:
    """Record kinds (small integers in the buffer, names in tables)."""

    PARK_OPENED = 0
    PARK_RECOGNISED = 1
    PARK_PROVINCIAL = 2
    PARK_GRADED = 3
    PARK_DEMONSTRATION = 4
    PARK_DELISTED = 5
    FIRM_ENTERED = 6
    FIRM_UPGRADED = 7
    FIRM_TECH = 8
    FIRM_EXITED = 9
    FIRM_EXPANDED = 10
    SUPPORT_PAID = 11
    PARK_STARTED = 12


KINDS = (
    "park_opened",
    "park_recognised",
    "park_provincial",
    "park_graded",
    "park_demonstration",
    "park_delisted",
    "firm_entered",
    "firm_upgraded",
    "firm_tech",
    "firm_exited",
    "firm_expanded",
    "support_paid",
    "park_started",
)

COLUMNS = (
    "time_months",
    "kind",
    "park_id",
    "firm_id",
    "firm_age_years",
    "revenue_yuan",
    "floor_m2",
    "tech",
    "detail",
    "amount_yuan",
)
"""Record columns. ``floor_m2`` is the firm's floor (entered/exited), the extra floor taken
(expanded) or the park's gross floor area (park records). ``detail`` holds the grade
(graded), the exit reason (failure, contract, graduated), the lever (support_paid), the
standing a delisted park loses ("provincial", "demonstration", joined by "+"), or
"renovation" / "new_build" on a park project that starts building. ``amount_yuan`` is the money paid (support_paid) or the
project's investment (park_started)."""

_NAN = math.nan


class RecordBuffer:
    """Append-only buffer of one replication's records."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def park(self, t: float, kind: int, park: int, floor_m2: float, detail: str = "", amount_yuan: float = 0.0) -> None:
        self.rows.append((t, kind, park, -1, _NAN, _NAN, floor_m2, False, detail, amount_yuan))

    def firm(
        self,
        t: float,
        kind: int,
        park: int,
        firm: int,
        age_years: float,
        revenue_yuan: float,
        floor_m2: float,
        tech: bool,
        detail: str = "",
    ) -> None:
        self.rows.append((t, kind, park, firm, age_years, revenue_yuan, floor_m2, tech, detail, 0.0))

    def paid(self, t: float, lever: str, park: int, firm: int, amount_yuan: float) -> None:
        self.rows.append((t, Kind.SUPPORT_PAID, park, firm, _NAN, _NAN, _NAN, False, lever, amount_yuan))

    def freeze(self) -> Records:
        """Columns in time order (ties keep the order they were recorded in)."""
        rows = self.rows
        if not rows:
            empty = Records.empty()
            return empty
        cols = list(zip(*rows, strict=True))
        time = np.asarray(cols[0], dtype=np.float64)
        order = np.argsort(time, kind="stable")
        return Records(
            time_months=time[order],
            kind=np.asarray(cols[1], dtype=np.int8)[order],
            park_id=np.asarray(cols[2], dtype=np.int32)[order],
            firm_id=np.asarray(cols[3], dtype=np.int64)[order],
            firm_age_years=np.asarray(cols[4], dtype=np.float64)[order],
            revenue_yuan=np.asarray(cols[5], dtype=np.float64)[order],
            floor_m2=np.asarray(cols[6], dtype=np.float64)[order],
            tech=np.asarray(cols[7], dtype=bool)[order],
            detail=np.asarray(cols[8], dtype=object)[order],
            amount_yuan=np.asarray(cols[9], dtype=np.float64)[order],
        )


@dataclass(frozen=True)
class Records:
    """One replication's records as numpy columns, sorted by time."""

    time_months: np.ndarray
    kind: np.ndarray
    park_id: np.ndarray
    firm_id: np.ndarray
    firm_age_years: np.ndarray
    revenue_yuan: np.ndarray
    floor_m2: np.ndarray
    tech: np.ndarray
    detail: np.ndarray
    amount_yuan: np.ndarray

    @classmethod
    def empty(cls) -> Records:
        f = np.zeros(0, dtype=np.float64)
        return cls(
            f, np.zeros(0, np.int8), np.zeros(0, np.int32), np.zeros(0, np.int64), f, f, f,
            np.zeros(0, bool), np.zeros(0, object), f,
        )

    def __len__(self) -> int:
        return len(self.time_months)

    def of(self, kind: int) -> np.ndarray:
        """Boolean mask of records of one kind."""
        return self.kind == kind

    def to_frame(self, replication: int | None = None, start: str | None = None):
        """A pandas DataFrame with kind names, and the calendar date when ``start`` is given."""
        import pandas as pd

        from parksim.calendar import month_label

        frame = pd.DataFrame({name: getattr(self, name) for name in COLUMNS})
        frame["kind"] = pd.Categorical.from_codes(self.kind.astype(np.int64), categories=list(KINDS))
        if start is not None:
            months = np.floor(self.time_months).astype(int)
            labels = {m: month_label(start, int(m)) for m in np.unique(months)}
            frame.insert(1, "date", [labels[m] for m in months])
        if replication is not None:
            frame.insert(0, "replication", np.int32(replication))
        return frame
