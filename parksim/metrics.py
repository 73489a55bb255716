"""Metrics: pure functions from one replication's event records to its monthly series and values.

Nothing here runs the model. :func:`monthly_series` turns one replication's records into the
end-of-month value of every target quantity and of occupancy, entries, exits by reason and
fiscal spend by lever; :func:`target_values` reads the targets at the target date (even when
the run goes on past it); :func:`firm_histories` turns them into one row per firm (entry,
upgrade, tech certification, exit), the form in which the model is compared with its twin.
Figures across replications (probabilities, intervals, quantiles) are :mod:`parksim.aggregate`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parksim.calendar import month_index, parse_month
from parksim.records import Kind, Records
from parksim.scenario.schema import (
    ACCOUNTS,
    CAPITAL_ITEMS,
    LEDGER_ITEMS,
    LEVERS,
    OBSERVABLES,
    STATUTORY_ITEMS,
    TARGET_KEYS,
    Scenario,
)

__all__ = [
    "PARK_SERIES_COLUMNS",
    "PARK_STATUSES",
    "park_series",
    "SERIES_COLUMNS",
    "monthly_series",
    "target_values",
    "fiscal_cost",
    "ledger",
    "LEDGER_COLUMNS",
    "observed_values",
    "grade_share",
    "months_to_fill",
    "failures_by_age",
    "FirmHistories",
    "firm_histories",
    "FIRMS_READINGS",
    "CHAIN",
    "CHANNELS",
    "FILL_COLUMNS",
    "fill_months",
]

SERIES_COLUMNS = (
    "parks",
    "floor_area_m2",
    "firms",
    "upgrades",
    "tech_firms",
    "demo_parks",
    "provincial_parks",
    "parks_open",
    "capacity_m2",
    "occupied_m2",
    "occupancy",
    "entries",
    "exits_failure",
    "exits_contract",
    "exits_graduated",
    "expansions",
    "moves",
    *(f"spend_{item}_yuan" for item in LEDGER_ITEMS),
    "spend_total_yuan",
    "capital_outlay_yuan",
    "tax_expenditure_yuan",
    "park_investment_yuan",
    "firms_all_parks",
    "service_platforms",
    "digital_platforms",
    "demonstration_selected",
    "demonstration_lost",
    "projects_awaiting_land",
)
"""Columns of the monthly series: end-of-month values; entries, exits, spend and the
investment in park projects started during the run are cumulative. Spend is by ledger item
(:data:`~parksim.scenario.schema.LEDGER_ITEMS`); ``spend_total_yuan`` is the public cost, the
district's levers plus capital outlays (``capital_outlay_yuan``), and ``tax_expenditure_yuan``
the national statutory reliefs, beside it and not in it. ``parks``,
``floor_area_m2``, ``firms`` and ``tech_firms`` count recognised (not delisted) parks and the
firms in them, as the targets do; ``firms_all_parks`` counts firms in every park.
``expansions`` and ``moves`` count firms that outgrew their floor and expanded in their park
or moved to another park; ``exits_graduated`` those that left for their own industrial land.
``service_platforms`` and ``digital_platforms`` count the parks (all, not only recognised ones)
where a public service platform or digital management works; ``demonstration_selected`` and
``demonstration_lost`` the titles given and taken back (at a re-check or by delisting), so
that ``demo_parks`` is their difference. ``projects_awaiting_land`` counts the park projects
decided for building that wait, at the month's end, for the land quota to cover them."""


def _cumulative(
    month: np.ndarray, mask: np.ndarray, months: int, weights: np.ndarray | None = None
) -> np.ndarray:
    idx = month[mask]
    w = None if weights is None else weights[mask]
    counts = np.bincount(idx, weights=w, minlength=months)[:months]
    return np.cumsum(counts, dtype=np.float64)


def _per_park(
    park: np.ndarray, month: np.ndarray, mask: np.ndarray, parks: int, months: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Cumulative count (or sum of ``weights``) per park and month, shape ``(parks, months)``."""
    idx = park[mask].astype(np.int64) * months + month[mask]
    w = None if weights is None else weights[mask]
    counts = np.bincount(idx, weights=w, minlength=parks * months)[: parks * months]
    return np.cumsum(counts.reshape(parks, months), axis=1)


def _lost(lost_standing: np.ndarray, mask: np.ndarray, standing: str) -> np.ndarray:
    """Which records of ``mask`` (delistings) took ``standing`` away."""
    out = np.zeros(len(lost_standing), dtype=bool)
    idx = np.flatnonzero(mask)
    out[idx] = [standing in str(d).split("+") for d in lost_standing[idx]]
    return out


def monthly_series(records: Records, scenario: Scenario) -> np.ndarray:
    """End-of-month values of one replication, shape ``(months, len(SERIES_COLUMNS))``."""
    months = scenario.horizon_months
    usable = scenario.parks.usable_share
    upgrades_from = month_index(scenario.calendar.start, scenario.targets.upgrades_counted_from)
    month = np.clip(np.floor(records.time_months).astype(np.int64), 0, max(months - 1, 0))
    kind = records.kind
    floor = np.nan_to_num(records.floor_m2)
    tech = records.tech

    def cum(mask, weights=None):
        return _cumulative(month, mask, months, weights)

    recognised = kind == Kind.PARK_RECOGNISED
    delisted = kind == Kind.PARK_DELISTED
    entered = kind == Kind.FIRM_ENTERED
    exited = kind == Kind.FIRM_EXITED  # a firm moving to another park exits its old one
    moved = kind == Kind.FIRM_MOVED  # ... and arrives in its new one
    arrived = entered | moved
    expanded = kind == Kind.FIRM_EXPANDED
    opened = kind == Kind.PARK_OPENED
    paid = kind == Kind.SUPPORT_PAID
    amount = records.amount_yuan
    out = np.zeros((months, len(SERIES_COLUMNS)))
    col = {name: i for i, name in enumerate(SERIES_COLUMNS)}
    out[:, col["parks"]] = cum(recognised) - cum(delisted)
    out[:, col["floor_area_m2"]] = cum(recognised, floor) - cum(delisted, floor)
    parks = int(records.park_id.max()) + 1 if len(records) else 0
    park = np.maximum(records.park_id, 0)
    counted = (
        _per_park(park, month, recognised, parks, months)
        - _per_park(park, month, delisted, parks, months)
    ) > 0
    firms_by_park = _per_park(park, month, arrived, parks, months) - _per_park(
        park, month, exited, parks, months
    )
    tech_by_park = (
        _per_park(park, month, arrived & tech, parks, months)
        + _per_park(park, month, kind == Kind.FIRM_TECH, parks, months)
        - _per_park(park, month, exited & tech, parks, months)
    )
    out[:, col["firms"]] = (firms_by_park * counted).sum(axis=0)
    out[:, col["tech_firms"]] = (tech_by_park * counted).sum(axis=0)
    out[:, col["firms_all_parks"]] = cum(arrived) - cum(exited)
    out[:, col["upgrades"]] = cum((kind == Kind.FIRM_UPGRADED) & (month >= upgrades_from))
    selected = cum(kind == Kind.PARK_DEMONSTRATION)
    lost = cum(_lost(records.lost_standing, delisted, "demonstration")) + cum(
        kind == Kind.PARK_DEMOTED
    )
    out[:, col["demo_parks"]] = selected - lost
    out[:, col["demonstration_selected"]] = selected
    out[:, col["demonstration_lost"]] = lost
    out[:, col["provincial_parks"]] = cum(kind == Kind.PARK_PROVINCIAL) - cum(
        _lost(records.lost_standing, delisted, "provincial")
    )
    out[:, col["parks_open"]] = cum(opened)
    capacity = cum(opened, floor) * usable
    occupied = cum(arrived, floor) + cum(expanded, floor) - cum(exited, floor)
    out[:, col["capacity_m2"]] = capacity
    out[:, col["occupied_m2"]] = occupied
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, col["occupancy"]] = np.where(
            capacity > 0, occupied / np.where(capacity > 0, capacity, 1), 0.0
        )
    out[:, col["entries"]] = cum(entered)
    for reason in ("failure", "contract", "graduated"):
        out[:, col[f"exits_{reason}"]] = cum(exited & (records.exit_reason == reason))
    out[:, col["expansions"]] = cum(expanded)
    out[:, col["moves"]] = cum(moved)
    spend = {}
    for item in LEDGER_ITEMS:
        spend[item] = cum(paid & (records.lever == item), amount)
        out[:, col[f"spend_{item}_yuan"]] = spend[item]
    capital = sum(spend[item] for item in CAPITAL_ITEMS)
    out[:, col["spend_total_yuan"]] = sum(spend[item] for item in LEVERS) + capital
    out[:, col["capital_outlay_yuan"]] = capital
    out[:, col["tax_expenditure_yuan"]] = sum(spend[item] for item in STATUTORY_ITEMS)
    out[:, col["park_investment_yuan"]] = cum(kind == Kind.PARK_STARTED, amount)
    platform = kind == Kind.PARK_PLATFORM
    out[:, col["service_platforms"]] = cum(platform & (records.build == "services"))
    out[:, col["digital_platforms"]] = cum(platform & (records.build == "digital"))
    awaiting = kind == Kind.PARK_AWAITING_LAND
    waited = np.isin(records.park_id, records.park_id[awaiting])
    out[:, col["projects_awaiting_land"]] = cum(awaiting) - cum(
        (kind == Kind.PARK_STARTED) & waited)
    return out


def _row(series: np.ndarray, scenario: Scenario, month: str) -> np.ndarray:
    return series[month_index(scenario.calendar.start, month)]


FIRMS_READINGS = ("firms_stock", "firms_cumulative_entries")
"""The two readings of the firms target, reported beside the targets whichever one counts:
firms in recognised parks at the target date, and every firm that entered a park since the
start (``targets.firms_reading`` chooses)."""

CHAIN = ("expansions", "moves", "graduates")
"""The innovation chain to the target date, reported beside the targets: firms that outgrew
their floor and expanded in their park, moved to another park, or graduated to their own
industrial land."""

CHANNELS = ("service_platforms", "digital_platforms", "demonstration_selected",
            "demonstration_lost")
"""What the demonstration-park target is earned through, at the target date, reported beside
the targets: parks with a working service platform and digital management (which the site
check asks for), and demonstration titles given and taken back."""


def target_values(series: np.ndarray, scenario: Scenario) -> dict[str, float]:
    """The six target quantities at the end of the target month, both readings of the firms
    target (:data:`FIRMS_READINGS`; ``firms`` is the one ``targets.firms_reading`` names) and
    the innovation chain (:data:`CHAIN`) and the demonstration channels (:data:`CHANNELS`)."""
    row = _row(series, scenario, scenario.targets.date)
    out = {key: float(row[SERIES_COLUMNS.index(key)]) for key in TARGET_KEYS}
    out["firms_stock"] = out["firms"]
    out["firms_cumulative_entries"] = float(row[SERIES_COLUMNS.index("entries")])
    for name, column in zip(CHAIN, ("expansions", "moves", "exits_graduated"), strict=True):
        out[name] = float(row[SERIES_COLUMNS.index(column)])
    for name in CHANNELS:
        out[name] = float(row[SERIES_COLUMNS.index(name)])
    if scenario.targets.firms_reading == "cumulative_entries":
        out["firms"] = out["firms_cumulative_entries"]
    return out


def fiscal_cost(series: np.ndarray, scenario: Scenario) -> dict[str, float]:
    """Money paid by each ledger item up to the end of the target month; the public cost in
    total (the district's levers and capital outlays), the capital outlays and the statutory
    tax expenditure; and the investment in park projects started by then (public and private:
    reported beside the cost)."""
    row = _row(series, scenario, scenario.targets.date)
    out = {item: float(row[SERIES_COLUMNS.index(f"spend_{item}_yuan")]) for item in LEDGER_ITEMS}
    out["total"] = float(row[SERIES_COLUMNS.index("spend_total_yuan")])
    for name in ("capital_outlay", "tax_expenditure", "park_investment"):
        out[name] = float(row[SERIES_COLUMNS.index(f"{name}_yuan")])
    return out


LEDGER_COLUMNS = ("item", "account", "year", "budget_cap_yuan", "spent_yuan", "refused_firms",
                  "cap_bound")
"""The ledger of one replication: one row per ledger item and calendar year of the run (for a
district lever, only the years its window reaches into, and none if it is disabled), with the
item's account, its yearly cap (NaN for an item without one), what it paid that year, how
many firms took it up but were refused because its budget could not pay them, and whether
its cap bound (a firm was refused)."""


def ledger(records: Records, scenario: Scenario) -> dict[str, list]:
    """The ledger of one replication (:data:`LEDGER_COLUMNS`), from its payment and refusal
    records: every item, every calendar year from the start to the horizon (a district lever:
    the years of its window, if it is enabled)."""
    year0, m0 = parse_month(scenario.calendar.start)
    last = year0 + (m0 - 1 + scenario.horizon_months - 1) // 12
    years = np.arange(year0, last + 1)
    year = year0 + (m0 - 1 + np.floor(records.time_months).astype(np.int64)) // 12
    paid = records.kind == Kind.SUPPORT_PAID
    refused = records.kind == Kind.SUPPORT_REFUSED
    policies = scenario.policies
    out: dict[str, list] = {name: [] for name in LEDGER_COLUMNS}
    for account, items in ACCOUNTS.items():
        for item in items:
            cap, active = math.nan, years
            if account == "district":
                spec = getattr(policies, item)
                cap = spec.budget_cap_yuan_per_year
                first = parse_month(spec.window.start)[0]
                last_year = parse_month(spec.window.end)[0]
                active = years[(years >= first) & (years <= last_year)] if spec.enabled \
                    else years[:0]
            mine = records.lever == item
            spent = np.bincount(year[paid & mine] - year0, weights=records.amount_yuan[paid & mine],
                                minlength=len(years))[: len(years)]
            r = refused & mine
            for y in active.tolist():
                k = y - year0
                n = len(np.unique(records.firm_id[r & (year == y)]))
                out["item"].append(item)
                out["account"].append(account)
                out["year"].append(y)
                out["budget_cap_yuan"].append(cap)
                out["spent_yuan"].append(float(spent[k]))
                out["refused_firms"].append(n)
                out["cap_bound"].append(n > 0)
    return out


def observed_values(series: np.ndarray, scenario: Scenario, records: Records | None = None,
                    parks: dict[str, list] | None = None,
                    grades: dict[str, list] | None = None) -> list[float]:
    """Simulated value of each scenario observation (NaN when outside the run, or undefined:
    a density or share of nothing).

    Counts and totals are the series' value at the end of the month; densities and shares are
    ratios of two series at that month (``firms_per_park`` firms in recognised parks per
    recognised park, ``m2_per_firm`` their floor per firm, ``tech_share`` tech firms among those
    firms, ``occupancy`` the occupied share of all parks' floor); a rate is the events of its
    period (cumulative ``upgrades`` or ``exits_failure`` at its end, less at the month before it)
    per in-park firm-year (firms in all parks, month by month, over 12). The others need the
    replication's records, parks (with :func:`fill_months`' columns) and grading log:
    ``failures_by_age`` (:func:`failures_by_age`), ``grade_share`` (:func:`grade_share`) and
    ``months_to_fill`` (:func:`months_to_fill`).
    """
    start = scenario.calendar.start
    col = {name: SERIES_COLUMNS.index(name) for name in SERIES_COLUMNS}
    out = []
    histories = None
    for obs in scenario.observations:
        kind = OBSERVABLES[obs.key]
        if obs.key in ("failures_by_age", "months_to_fill", "grade_share"):
            if records is None or parks is None or grades is None:
                raise ValueError(f"{obs.key} needs the replication's records, parks and grades")
            if obs.key == "grade_share":
                out.append(grade_share(grades, int(obs.date[:4]), obs.grade))
                continue
            first = month_index(start, obs.period.start)
            last = month_index(start, obs.period.end) + 1
            if first < 0 or last > len(series):
                out.append(float("nan"))
            elif obs.key == "months_to_fill":
                out.append(months_to_fill(records, parks, first, last, obs.level or 0.5,
                                          len(series)))
            else:
                histories = histories or firm_histories(records)
                out.append(failures_by_age(histories, first, last, obs.age, len(series)))
            continue
        if kind == "rate":
            first = month_index(start, obs.period.start)
            last = month_index(start, obs.period.end)
            if first < 0 or last >= len(series):
                out.append(float("nan"))
                continue
            events = "upgrades" if obs.key == "upgrades_per_firm_year" else "exits_failure"
            before = series[first - 1, col[events]] if first > 0 else 0.0
            firm_years = float(series[first:last + 1, col["firms_all_parks"]].sum()) / 12.0
            out.append(_ratio(series[last, col[events]] - before, firm_years))
            continue
        i = month_index(start, obs.date)
        if not 0 <= i < len(series):
            out.append(float("nan"))
            continue
        row = series[i]
        if obs.key in _RATIOS:
            numerator, denominator = _RATIOS[obs.key]
            out.append(_ratio(row[col[numerator]], row[col[denominator]]))
        else:
            out.append(float(row[col[obs.key]]))
    return out


_RATIOS = {
    "firms_per_park": ("firms", "parks"),
    "m2_per_firm": ("floor_area_m2", "firms"),
    "tech_share": ("tech_firms", "firms"),
}
"""Densities and shares as (numerator, denominator) series (``occupancy`` is a series)."""


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else float("nan")


def grade_share(grades: dict[str, list], year: int, grade: str) -> float:
    """The share of the parks graded in ``year`` (in grace or not taking part: not counted)
    that were given ``grade``."""
    years = np.asarray(grades["year"])
    given = np.asarray(grades["grade"], dtype=object)[years == year]
    graded = given != ""
    return _ratio(float(np.sum(given[graded] == grade)), float(graded.sum()))


def months_to_fill(records: Records, parks: dict[str, list], first: int, last: int,
                   level: float, end: int) -> float:
    """The median months from opening to ``level`` (0.5 or 0.9) occupancy of the parks that
    opened in months ``[first, last)``; a park not there by the end of the run counts with its
    months to the end (a lower bound). NaN if no park opened then."""
    opened = records.kind == Kind.PARK_OPENED
    at = np.full(len(parks["park_id"]), np.nan)
    at[records.park_id[opened]] = records.time_months[opened]
    chosen = (at >= first) & (at < last) & (at > 0)
    if not chosen.any():
        return float("nan")
    months = np.asarray(parks[f"months_to_{round(level * 100)}pct"], dtype=float)[chosen]
    months = np.where(np.isnan(months), end - at[chosen], months)
    return float(np.median(months))


def failures_by_age(histories: FirmHistories, first: int, last: int,
                    age: tuple[float, float], end: int) -> float:
    """Failures per in-park firm-year of firms aged ``age`` = [from, to) years, in months
    ``[first, last)``: failures of firms that age then, over the time firms spent in parks at
    that age then (each firm from its entry to its exit, or to the end of the run)."""
    h = histories
    left = np.where(np.isnan(h.exited_at), float(end), h.exited_at)
    young = h.entered_at + 12.0 * (age[0] - h.age_at_entry)  # when a firm reaches the band
    old = h.entered_at + 12.0 * (age[1] - h.age_at_entry)
    lo = np.maximum.reduce([h.entered_at, young, np.full(len(h), float(first))])
    hi = np.minimum.reduce([left, old, np.full(len(h), float(last))])
    firm_years = float(np.clip(hi - lo, 0.0, None).sum()) / 12.0
    failed = ((h.exit_reason == "failure") & (h.exited_at >= first) & (h.exited_at < last)
              & (h.age_at_exit >= age[0]) & (h.age_at_exit < age[1]))
    return _ratio(float(failed.sum()), firm_years)


@dataclass(frozen=True)
class FirmHistories:
    """One row per firm that entered a park in a replication, in the order they entered.

    Times are model months, ages years; a firm's missing events are NaN (times, ages) or ""
    (``exit_reason``). ``seated`` marks the firms that entered at the start (*t* = 0): those
    seated in the operating parks when the run begins. ``age_at_entry`` and
    ``revenue_at_entry`` are the firm's age and revenue when it entered; ``tech_at_entry``
    whether it was tech-based then, and ``tech_at`` when it was certified in a park.
    """

    firm_id: np.ndarray
    park_id: np.ndarray
    entered_at: np.ndarray
    seated: np.ndarray
    age_at_entry: np.ndarray
    revenue_at_entry: np.ndarray
    tech_at_entry: np.ndarray
    upgraded_at: np.ndarray
    tech_at: np.ndarray
    exited_at: np.ndarray
    exit_reason: np.ndarray
    age_at_exit: np.ndarray

    def __len__(self) -> int:
        return len(self.firm_id)


def firm_histories(records: Records) -> FirmHistories:
    """One replication's firm records as one row per firm: entry, upgrade (小升规), tech
    certification and exit with its reason and age.

    A firm enters a park at most once in a replication and has at most one upgrade, tech and
    exit record; expansions, moves to another park (an exit with reason "moved" and an arrival)
    and support payments are not part of its history here. Raises ``ValueError`` if the records
    break this, or hold an event of a firm that never entered.
    """
    entered = records.kind == Kind.FIRM_ENTERED
    firm = records.firm_id[entered]
    order = np.argsort(firm, kind="stable")
    by_id = firm[order]
    if np.any(by_id[1:] == by_id[:-1]):
        raise ValueError("a firm entered a park more than once")

    leaves = (records.kind == Kind.FIRM_EXITED) & (records.exit_reason != "moved")

    def once(kind: int, name: str, column: np.ndarray) -> np.ndarray:
        """``column`` of each firm's record of ``kind``, in the order of entry."""
        rows = leaves if kind == Kind.FIRM_EXITED else records.kind == kind
        who = records.firm_id[rows]
        at = np.minimum(np.searchsorted(by_id, who), max(len(by_id) - 1, 0))
        if len(who) and (not len(by_id) or np.any(by_id[at] != who)):
            raise ValueError(f"a {name} record of a firm that never entered a park")
        if len(np.unique(who)) != len(who):
            raise ValueError(f"a firm with more than one {name} record")
        values = np.full(len(firm), np.nan if column.dtype.kind == "f" else "", dtype=column.dtype)
        values[order[at]] = column[rows]
        return values

    time, age = records.time_months, records.firm_age_years
    return FirmHistories(
        firm_id=firm,
        park_id=records.park_id[entered],
        entered_at=time[entered],
        seated=time[entered] == 0.0,
        age_at_entry=age[entered],
        revenue_at_entry=records.revenue_yuan[entered],
        tech_at_entry=records.tech[entered],
        upgraded_at=once(Kind.FIRM_UPGRADED, "firm_upgraded", time),
        tech_at=once(Kind.FIRM_TECH, "firm_tech", time),
        exited_at=once(Kind.FIRM_EXITED, "firm_exited", time),
        exit_reason=once(Kind.FIRM_EXITED, "firm_exited", records.exit_reason),
        age_at_exit=once(Kind.FIRM_EXITED, "firm_exited", age),
    )


PARK_STATUSES = ("not open", "open", "recognised", "provincial", "demonstration", "delisted")
"""A park's standing at a month's end, each including the ones before it but delisted: not
yet open, open (operating, not recognised), recognised by the district, recommended provincial,
a demonstration park, delisted (its recognition withdrawn)."""

PARK_SERIES_COLUMNS = ("park_id", "month", "status", "firms", "occupancy")
"""Columns of :func:`park_series` (park x month)."""


def park_series(records: Records, parks: dict[str, list], scenario: Scenario
                ) -> dict[str, np.ndarray]:
    """Each park's end-of-month state in one replication, park by park, month by month: its
    standing (:data:`PARK_STATUSES`), the firms in it and its occupancy (occupied share of its
    usable floor; NaN before it opens), as :func:`monthly_series` counts them."""
    months = scenario.horizon_months
    n = len(parks["park_id"])
    month = np.clip(np.floor(records.time_months).astype(np.int64), 0, max(months - 1, 0))
    kind = records.kind
    park = np.maximum(records.park_id, 0)
    delisted = kind == Kind.PARK_DELISTED

    def per_park(mask, weights=None):
        return _per_park(park, month, mask, n, months, weights)

    arrived = (kind == Kind.FIRM_ENTERED) | (kind == Kind.FIRM_MOVED)
    exited = kind == Kind.FIRM_EXITED
    floor = np.nan_to_num(records.floor_m2)
    firms = per_park(arrived) - per_park(exited)
    occupied = (per_park(arrived, floor) + per_park(kind == Kind.FIRM_EXPANDED, floor)
                - per_park(exited, floor))
    status = np.zeros((n, months), dtype=np.int8)
    opened = per_park(kind == Kind.PARK_OPENED) > 0
    status[opened] = 1
    status[per_park(kind == Kind.PARK_RECOGNISED) > 0] = 2
    status[per_park(kind == Kind.PARK_PROVINCIAL) > 0] = 3
    status[per_park(kind == Kind.PARK_DEMONSTRATION) - per_park(kind == Kind.PARK_DEMOTED) > 0] = 4
    status[per_park(delisted) > 0] = 5
    usable = np.asarray(parks["floor_area_m2"], dtype=float)[:, None] * scenario.parks.usable_share
    with np.errstate(invalid="ignore", divide="ignore"):
        occupancy = np.where(opened, occupied / usable, np.nan)
    return {"park_id": np.repeat(np.asarray(parks["park_id"]), months),
            "month": np.tile(np.arange(months, dtype=np.int32), n),
            "status": np.asarray(PARK_STATUSES, dtype=object)[status.ravel()],
            "firms": firms.ravel().astype(np.int32),
            "occupancy": occupancy.ravel()}


FILL_COLUMNS = ("opened_during_run", "months_to_50pct", "months_to_90pct")
"""Columns :func:`fill_months` adds to a replication's parks table."""


def fill_months(records: Records, parks: dict[str, list], usable_share: float) -> dict[str, list]:
    """For each park of one replication (``parks``: its final state, named columns): whether it
    opened during the run (not at the start), and the months from its opening to 50% and to 90%
    occupancy of its usable floor (NaN if it did not open during the run or never got there).

    Occupancy counts the floor of firms entering (or moving in), expanding in and leaving the
    park, in the order the records give them; it reaches a level at the first record that takes
    it there.
    """
    n = len(parks["park_id"])
    opened_at = np.full(n, np.nan)
    opened = records.kind == Kind.PARK_OPENED
    opened_at[records.park_id[opened]] = records.time_months[opened]
    during = opened_at > 0.0
    out = {"opened_during_run": during.tolist(), "months_to_50pct": [math.nan] * n,
           "months_to_90pct": [math.nan] * n}
    kind = records.kind
    flows = (Kind.FIRM_ENTERED, Kind.FIRM_MOVED, Kind.FIRM_EXPANDED, Kind.FIRM_EXITED)
    moves = np.isin(kind, flows)
    if not moves.any():
        return out
    moves[moves] = during[records.park_id[moves]]
    if not moves.any():
        return out
    park = records.park_id[moves].astype(np.int64)
    sign = np.where(kind[moves] == Kind.FIRM_EXITED, -1.0, 1.0)
    floor = sign * records.floor_m2[moves]
    t = records.time_months[moves]
    order = np.argsort(park, kind="stable")  # by park, in time order within each
    park, floor, t = park[order], floor[order], t[order]
    starts = np.flatnonzero(np.r_[True, park[1:] != park[:-1]])
    occupied = np.cumsum(floor)
    occupied -= np.repeat(np.r_[0.0, occupied[starts[1:] - 1]], np.diff(np.r_[starts, len(park)]))
    usable = np.asarray(parks["floor_area_m2"], dtype=float)[park] * usable_share
    for level, name in ((0.5, "months_to_50pct"), (0.9, "months_to_90pct")):
        reached = occupied >= level * usable
        for first, last in zip(starts, np.r_[starts[1:], len(park)], strict=True):
            hit = np.flatnonzero(reached[first:last])
            if hit.size:
                p = int(park[first])
                out[name][p] = float(t[first + hit[0]] - opened_at[p])
    return out
