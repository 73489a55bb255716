"""Flat event records, kept in a columnar buffer while a replication runs.

Every process of the model reports what happened to it by appending one record: a park
opened, a firm entered, a grant was paid. Everything downstream (series, target values, the
fiscal ledger) is computed from these records by :mod:`parksim.metrics`, so a metric can be
tested without SimPy and recomputed without running the model again.

Records come in two forms, both cheap inside the event loop: one at a time as fixed-width
tuples (a park opens, a firm enters) and many at once as numpy columns (the half-yearly
reports review every firm in the parks together). The buffer keeps them in the order they
were recorded, runs of tuples as lists and bulk records as chunks of columns, and turns them
all into columns once, when the replication ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Kind", "KINDS", "RecordBuffer", "Records", "COLUMNS", "TEXT_COLUMNS"]


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
    FIRM_MOVED = 13
    PARK_PLATFORM = 14
    PARK_DEMOTED = 15
    SUPPORT_REFUSED = 16
    PARK_AWAITING_LAND = 17


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
    "firm_moved",
    "park_platform",
    "park_demoted",
    "support_refused",
    "park_awaiting_land",
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
    "grade",
    "exit_reason",
    "lever",
    "build",
    "lost_standing",
    "amount_yuan",
)
"""Record columns, each with one meaning. ``floor_m2`` is the firm's floor (entered, exited),
the extra floor taken (expanded) or the park's gross floor area (park records). ``grade`` is
the grade a park got (park_graded); ``exit_reason`` why a firm left (firm_exited: "failure",
"contract" or "graduated"); ``lever`` the lever or ledger item that paid (support_paid), or
whose budget could not pay a firm that took it up (support_refused); ``build`` how a park
project is built (park_started: "renovation" or "new_build") or which platform began to work in
a park (park_platform: "services" or "digital"); ``lost_standing`` the standing a delisted park
loses ("provincial", "demonstration", both joined by "+", or ""), or a demoted one
(park_demoted: "demonstration"). These text columns are "" on every other kind of record.
``amount_yuan`` is the money paid (support_paid), the project's investment (park_started) or
the platform's setup cost (park_platform; 0 for one built before the start)."""

TEXT_COLUMNS = ("grade", "exit_reason", "lever", "build", "lost_standing")
"""The columns that hold text, "" where a kind of record does not use them."""

_NAN = math.nan


TEXT_OF_KIND = {
    Kind.PARK_GRADED: "grade",
    Kind.FIRM_EXITED: "exit_reason",
    Kind.SUPPORT_PAID: "lever",
    Kind.PARK_STARTED: "build",
    Kind.PARK_DELISTED: "lost_standing",
    Kind.PARK_PLATFORM: "build",
    Kind.PARK_DEMOTED: "lost_standing",
    Kind.SUPPORT_REFUSED: "lever",
}
"""The text column each kind of record fills (other kinds fill none)."""


class RecordBuffer:
    """Append-only buffer of one replication's records: tuples one at a time, columns in bulk.

    Records keep the order they were recorded in as a list of segments: a run of tuples (a
    list) or a chunk of columns. Closing a run of tuples when a chunk arrives only moves a list
    reference; every tuple of the replication is turned into columns once, by :meth:`freeze`.
    Each kind of record has its method. While buffered, a record holds its text (a grade, an
    exit reason, a lever, a build, a lost standing) in one slot; :meth:`freeze` puts it into the
    column its kind fills (:data:`TEXT_OF_KIND`).
    """

    __slots__ = ("rows", "segments")

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.segments: list[list[tuple] | tuple[np.ndarray, ...]] = [self.rows]

    def park(self, t: float, kind: int, park: int, floor_m2: float) -> None:
        """A park opened, was recognised, recommended to the province or made a demonstration
        park."""
        self.rows.append((t, kind, park, -1, _NAN, _NAN, floor_m2, False, "", 0.0))

    def graded(self, t: float, park: int, floor_m2: float, grade: str) -> None:
        self.rows.append((t, Kind.PARK_GRADED, park, -1, _NAN, _NAN, floor_m2, False, grade, 0.0))

    def delisted(self, t: float, park: int, floor_m2: float, lost_standing: str) -> None:
        """A park delisted, losing ``lost_standing`` ("provincial", "demonstration", both joined
        by "+", or "")."""
        self.rows.append(
            (t, Kind.PARK_DELISTED, park, -1, _NAN, _NAN, floor_m2, False, lost_standing, 0.0)
        )

    def demoted(self, t: float, park: int, floor_m2: float) -> None:
        """A demonstration park lost its title at the re-check."""
        self.rows.append(
            (t, Kind.PARK_DEMOTED, park, -1, _NAN, _NAN, floor_m2, False, "demonstration", 0.0)
        )

    def platform(self, t: float, park: int, floor_m2: float, platform: str,
                 cost_yuan: float) -> None:
        """``platform`` ("services" or "digital") began to work in ``park``."""
        self.rows.append(
            (t, Kind.PARK_PLATFORM, park, -1, _NAN, _NAN, floor_m2, False, platform, cost_yuan)
        )

    def awaiting_land(self, t: float, park: int, floor_m2: float) -> None:
        """A park project decided at ``t`` found the land quota short and waits for land (its
        park_started record says when the land came)."""
        self.rows.append(
            (t, Kind.PARK_AWAITING_LAND, park, -1, _NAN, _NAN, floor_m2, False, "", 0.0)
        )

    def started(
        self, t: float, park: int, floor_m2: float, build: str, investment_yuan: float
    ) -> None:
        """A park project started building (``build``: "renovation" or "new_build")."""
        self.rows.append(
            (t, Kind.PARK_STARTED, park, -1, _NAN, _NAN, floor_m2, False, build, investment_yuan)
        )

    def firm(self, t: float, kind: int, park: int, firm: int, age_years: float,
             revenue_yuan: float, floor_m2: float, tech: bool) -> None:
        """A firm entered its park or expanded in it."""
        self.rows.append((t, kind, park, firm, age_years, revenue_yuan, floor_m2, tech, "", 0.0))

    def exited(self, t: float, park: int, firm: int, age_years: float, revenue_yuan: float,
               floor_m2: float, tech: bool, reason: str) -> None:
        """A firm left its park (``reason``: "failure", "contract" or "graduated")."""
        self.rows.append(
            (t, Kind.FIRM_EXITED, park, firm, age_years, revenue_yuan, floor_m2, tech, reason, 0.0)
        )

    def paid(self, t: float, lever: str, park: int, firm: int, amount_yuan: float) -> None:
        self.rows.append(
            (t, Kind.SUPPORT_PAID, park, firm, _NAN, _NAN, _NAN, False, lever, amount_yuan)
        )

    def refused(self, t: float, lever: str, park: int, firm: int) -> None:
        """A firm that took ``lever`` up at ``t`` but was refused: its budget could not pay it."""
        self.rows.append((t, Kind.SUPPORT_REFUSED, park, firm, _NAN, _NAN, _NAN, False, lever, 0.0))

    def refusals(self, t: float, lever: str, park: np.ndarray, firm: np.ndarray) -> None:
        """:meth:`refused` for many firms at one instant."""
        if len(firm):
            self._chunk((t, Kind.SUPPORT_REFUSED, park, firm, _NAN, _NAN, _NAN, False, lever, 0.0))

    def firms(self, t: float, kind: int, park: np.ndarray | int, firm: np.ndarray,
              age_years: np.ndarray, revenue_yuan: np.ndarray, floor_m2: np.ndarray,
              tech: np.ndarray | bool) -> None:
        """Records of the same kind at the same instant for many firms (entered, upgraded, tech):
        columns of the length of ``firm``, or single values (a park, a tech flag) that hold for
        all of them."""
        if len(firm):
            self._chunk((t, kind, park, firm, age_years, revenue_yuan, floor_m2, tech, "", 0.0))

    def payments(self, t: float, lever: str, park: np.ndarray, firm: np.ndarray,
                 amount_yuan: np.ndarray) -> None:
        """Support paid at one instant by one lever to many firms."""
        if len(firm):
            self._chunk((t, Kind.SUPPORT_PAID, park, firm, _NAN, _NAN, _NAN, False, lever,
                         amount_yuan))

    def _chunk(self, columns: tuple) -> None:
        """Add a chunk: columns of one length, or single values that hold for every record in it."""
        self.rows = []
        self.segments.append(columns)
        self.segments.append(self.rows)

    def freeze(self) -> Records:
        """Columns in time order (ties keep the order they were recorded in)."""
        tuples = [row for segment in self.segments if isinstance(segment, list) for row in segment]
        if not tuples and len(self.segments) == 1:
            return Records.empty()
        if tuples:
            converted = [np.asarray(c, dtype=d)
                         for c, d in zip(zip(*tuples, strict=True), _BUFFER_DTYPES, strict=True)]
        else:
            converted = [np.zeros(0, d) for d in _BUFFER_DTYPES]
        pieces: list[list[np.ndarray]] = [[] for _ in _BUFFER_DTYPES]
        at = 0
        for segment in self.segments:
            if isinstance(segment, list):
                if segment:
                    for i, column in enumerate(converted):
                        pieces[i].append(column[at : at + len(segment)])
                    at += len(segment)
                continue
            n = len(segment[3])
            for i, (value, dtype) in enumerate(zip(segment, _BUFFER_DTYPES, strict=True)):
                pieces[i].append(
                    np.asarray(value, dtype=dtype) if np.ndim(value) else np.full(n, value, dtype)
                )
        cols = [np.concatenate(p).astype(d, copy=False)
                for p, d in zip(pieces, _BUFFER_DTYPES, strict=True)]
        order = np.argsort(cols[0], kind="stable")
        *numbers, text, amount = (c[order] for c in cols)
        kind = numbers[1]
        texts = {name: np.full(len(kind), "", dtype=object) for name in TEXT_COLUMNS}
        for k, name in TEXT_OF_KIND.items():
            mine = kind == k
            texts[name][mine] = text[mine]
        return Records(*numbers, *(texts[name] for name in TEXT_COLUMNS), amount)


_BUFFER_DTYPES = (np.float64, np.int8, np.int32, np.int64, np.float64, np.float64, np.float64,
                  bool, object, np.float64)
"""dtypes of a buffered record's slots: the numeric columns of :data:`COLUMNS` in order, one
text slot, and ``amount_yuan``."""

_DTYPES = (*_BUFFER_DTYPES[:8], *(object,) * len(TEXT_COLUMNS), np.float64)
"""dtypes of :data:`COLUMNS`, in order."""


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
    grade: np.ndarray
    exit_reason: np.ndarray
    lever: np.ndarray
    build: np.ndarray
    lost_standing: np.ndarray
    amount_yuan: np.ndarray

    @classmethod
    def empty(cls) -> Records:
        return cls(*(np.zeros(0, dtype) for dtype in _DTYPES))

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
        frame["kind"] = pd.Categorical.from_codes(
            self.kind.astype(np.int64), categories=list(KINDS)
        )
        if start is not None:
            months = np.floor(self.time_months).astype(int)
            labels = {m: month_label(start, int(m)) for m in np.unique(months)}
            frame.insert(1, "date", [labels[m] for m in months])
        if replication is not None:
            frame.insert(0, "replication", np.int32(replication))
        return frame
