"""Records and metrics without SimPy: a hand-written event log and the series it implies.

The event log below reads like a timeline of one small world (model months from 2019-01):

    t=0.0  park 0 opens (10,000 m2 gross)           t=0.0  firm 9 enters park 0 (900 m2)
    t=0.3  project 2 starts renovating 20,000 m2 for 24 M yuan (investment, not policy spend)
    t=0.5  park 0 recognised                        t=1.2  firm 7 enters park 0 (1,200 m2)
    t=1.5  firm 9 upgrades (before counting starts) t=1.8  park 1 opens (40,000 m2), recognised
    t=2.2  park 1 recommended to the province       t=2.5  firm 7 upgrades; tax rewards 200,000
    t=2.9  firm 7 certified tech-based              t=3.2  firm 7 expands by 300 m2
    t=3.7  firm 7 fails and exits (1,500 m2, tech)  t=4.1  park 0 recommended to the province
    t=4.2  firm 9 graduates (900 m2)                t=4.9  firm 8 enters park 1 (800 m2, tech)
    t=4.9  finance pays 5,000 for firm 8            t=5.0  park 0 made a demonstration park
    t=5.5  park 1 delisted (was provincial)         t=6.0  firm 8 moves to park 0 (1,000 m2)
    t=6.3  land pays 70,000 for firm 8

Upgrades count from 2019-03 (month 2), so firm 9's upgrade in February is not counted.
From 2019-06 firm 8 sits in a delisted park: it counts in ``firms_all_parks`` but no longer
towards the ``firms`` and ``tech_firms`` targets, which count recognised parks only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import parksim
from parksim.aggregate import fill_summary
from parksim.metrics import (
    PARK_STATUSES,
    SERIES_COLUMNS,
    fill_months,
    firm_histories,
    fiscal_cost,
    ledger,
    monthly_series,
    observed_values,
    park_series,
    target_values,
)
from parksim.records import KINDS, Kind, RecordBuffer, Records
from parksim.scenario import CAPITAL_ITEMS, STATUTORY_ITEMS

_BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"
COL = {name: i for i, name in enumerate(SERIES_COLUMNS)}


def _scenario(
    horizon: str = "2019-08",
    target: str = "2019-08",
    counted_from: str = "2019-03",
    usable: float = 0.8,
):
    return parksim.load_scenario(
        _BASELINE,
        overrides=[
            f'calendar.horizon="{horizon}"',
            f'targets.date="{target}"',
            f'targets.upgrades_counted_from="{counted_from}"',
            f"parks.usable_share={usable}",
            "district.firms=100",
        ],
    )


def _timeline() -> Records:
    buf = RecordBuffer()
    F, P = buf.firm, buf.park
    # appended deliberately out of time order: freeze() sorts by time
    P(0.0, Kind.PARK_OPENED, 0, 10_000.0)
    F(0.0, Kind.FIRM_ENTERED, 0, 9, 4.0, 8e6, 900.0, False)
    buf.started(0.3, 2, 20_000.0, "renovation", 2.4e7)
    P(0.5, Kind.PARK_RECOGNISED, 0, 10_000.0)
    P(1.8, Kind.PARK_OPENED, 1, 40_000.0)
    P(1.8, Kind.PARK_RECOGNISED, 1, 40_000.0)
    F(1.2, Kind.FIRM_ENTERED, 0, 7, 3.0, 5e6, 1_200.0, False)
    F(1.5, Kind.FIRM_UPGRADED, 0, 9, 4.1, 2.1e7, 900.0, False)
    P(2.2, Kind.PARK_PROVINCIAL, 1, 40_000.0)
    buf.exited(3.7, 0, 7, 3.2, 2.2e7, 1_500.0, True, "failure")
    F(2.5, Kind.FIRM_UPGRADED, 0, 7, 3.1, 2.05e7, 1_200.0, False)
    buf.paid(2.5, "tax", 0, 7, 200_000.0)
    F(2.9, Kind.FIRM_TECH, 0, 7, 3.1, 2.05e7, 1_200.0, True)
    F(3.2, Kind.FIRM_EXPANDED, 0, 7, 3.2, 2.2e7, 300.0, True)
    P(4.1, Kind.PARK_PROVINCIAL, 0, 10_000.0)
    buf.exited(4.2, 0, 9, 4.3, 2.6e7, 900.0, False, "graduated")
    F(4.9, Kind.FIRM_ENTERED, 1, 8, 1.0, 3e6, 800.0, True)
    buf.paid(4.9, "finance", 1, 8, 5_000.0)
    P(5.0, Kind.PARK_DEMONSTRATION, 0, 10_000.0)
    buf.delisted(5.5, 1, 40_000.0, "provincial")
    buf.exited(6.0, 1, 8, 1.1, 3.5e6, 800.0, True, "moved")
    buf.firm(6.0, Kind.FIRM_MOVED, 0, 8, 1.1, 3.5e6, 1_000.0, True)
    buf.paid(6.3, "land", 0, 8, 70_000.0)
    buf.platform(2.0, 0, 10_000.0, "services", 5e5)  # a platform's cost is not a payment
    buf.platform(6.5, 0, 10_000.0, "digital", 3e5)
    buf.demoted(7.2, 0, 10_000.0)
    # projects waiting for land: one gets it within its month, one never, one after a month
    buf.awaiting_land(0.1, 2, 20_000.0)
    buf.awaiting_land(2.4, 4, 9_000.0)
    buf.awaiting_land(5.2, 5, 9_000.0)
    buf.started(6.8, 5, 9_000.0, "new_build", 0.0)
    return buf.freeze()


# month -> expected end-of-month values (months not listed repeat the previous month's values)
TIMELINE = {
    "2019-01": dict(
        parks=1,
        floor_area_m2=10_000,
        parks_open=1,
        capacity_m2=8_000,
        firms=1,
        firms_all_parks=1,
        occupied_m2=900,
        entries=1,
        upgrades=0,
        tech_firms=0,
        provincial_parks=0,
        demo_parks=0,
        spend_total_yuan=0,
        park_investment_yuan=2.4e7,
    ),
    "2019-02": dict(
        parks=2,
        floor_area_m2=50_000,
        parks_open=2,
        capacity_m2=40_000,
        firms=2,
        firms_all_parks=2,
        occupied_m2=2_100,
        entries=2,
        upgrades=0,
    ),
    "2019-03": dict(
        projects_awaiting_land=1,
        service_platforms=1,
        provincial_parks=1,
        upgrades=1,
        tech_firms=1,
        spend_tax_yuan=200_000,
        spend_total_yuan=200_000,
    ),
    "2019-04": dict(
        firms=1,
        firms_all_parks=1,
        occupied_m2=900,
        tech_firms=0,
        exits_failure=1,
        exits_graduated=0,
        expansions=1,
    ),
    "2019-05": dict(
        firms=1,
        firms_all_parks=1,
        occupied_m2=800,
        tech_firms=1,
        entries=3,
        exits_graduated=1,
        provincial_parks=2,
        spend_finance_yuan=5_000,
        spend_total_yuan=205_000,
    ),
    "2019-06": dict(
        projects_awaiting_land=2,
        demo_parks=1,
        demonstration_selected=1,
        parks=1,
        floor_area_m2=10_000,
        provincial_parks=1,
        parks_open=2,
        firms=0,
        tech_firms=0,
        firms_all_parks=1,
    ),
    # firm 8 moves from the delisted park 1 to park 0: it counts again, with its new floor
    "2019-07": dict(
        projects_awaiting_land=1,
        spend_land_yuan=70_000, spend_total_yuan=275_000, upgrades=1, firms=1, firms_all_parks=1,
        tech_firms=1, moves=1, occupied_m2=1_000, digital_platforms=1,
    ),
    # park 0 loses its demonstration title at a re-check
    "2019-08": dict(
        spend_land_yuan=70_000, spend_total_yuan=275_000, exits_failure=1, exits_graduated=1,
        demo_parks=0, demonstration_lost=1,
    ),
}


def test_freeze_sorts_by_time_and_keeps_ties_in_recording_order():
    rec = _timeline()
    assert np.all(np.diff(rec.time_months) >= 0)
    assert len(rec) == 30
    # at t=2.5 the upgrade was recorded before the reward, at t=4.9 the entry before the payment
    at = lambda t: [KINDS[k] for k in rec.kind[rec.time_months == t]]  # noqa: E731
    assert at(2.5) == ["firm_upgraded", "support_paid"]
    assert at(4.9) == ["firm_entered", "support_paid"]
    assert at(1.8) == ["park_opened", "park_recognised"]
    assert at(6.0) == ["firm_exited", "firm_moved"]  # a move: out of one park, into another
    # columns keep their meaning through the sort
    exit7 = rec.of(Kind.FIRM_EXITED) & (rec.firm_id == 7)
    assert rec.time_months[exit7].tolist() == [3.7] and rec.exit_reason[exit7].tolist() == [
        "failure"
    ]
    paid = rec.of(Kind.SUPPORT_PAID)
    assert rec.lever[paid].tolist() == ["tax", "finance", "land"]
    assert rec.amount_yuan[paid].tolist() == [200_000.0, 5_000.0, 70_000.0]
    assert np.all(rec.firm_id[rec.kind <= Kind.PARK_DELISTED] == -1)
    started = rec.of(Kind.PARK_STARTED)
    assert rec.build[started].tolist() == ["renovation", "new_build"]
    assert rec.amount_yuan[started].tolist() == [2.4e7, 0.0]
    waiting = rec.of(Kind.PARK_AWAITING_LAND)
    assert rec.park_id[waiting].tolist() == [2, 4, 5] and set(rec.build[waiting]) == {""}


def test_monthly_series_follows_the_timeline():
    scenario = _scenario()
    series = monthly_series(_timeline(), scenario)
    assert series.shape == (8, len(SERIES_COLUMNS))
    expected: dict[str, float] = {name: 0.0 for name in SERIES_COLUMNS}
    for i, (label, changes) in enumerate(TIMELINE.items()):
        assert parksim.calendar.month_label(scenario.calendar.start, i) == label
        expected.update(changes)
        expected["occupancy"] = expected["occupied_m2"] / expected["capacity_m2"]
        got = {name: float(series[i, COL[name]]) for name in SERIES_COLUMNS}
        for name in SERIES_COLUMNS:
            assert got[name] == pytest.approx(expected[name]), (
                f"{label} {name}: {got[name]} != {expected[name]}"
            )


def test_capacity_uses_the_usable_share_and_occupancy_is_a_share_of_it():
    series = monthly_series(_timeline(), _scenario(usable=0.5))
    assert series[1, COL["capacity_m2"]] == pytest.approx(25_000)
    assert series[1, COL["occupancy"]] == pytest.approx(2_100 / 25_000)


def test_upgrades_before_the_counting_month_are_not_counted():
    rec = _timeline()
    # counting from the start: firm 9's February upgrade counts too
    early = monthly_series(rec, _scenario(counted_from="2019-01"))
    assert early[:, COL["upgrades"]].tolist() == [0, 1, 2, 2, 2, 2, 2, 2]
    # counting from April: neither upgrade counts
    late = monthly_series(rec, _scenario(counted_from="2019-04"))
    assert late[:, COL["upgrades"]].tolist() == [0] * 8
    # counting from a month before the start counts everything
    before = monthly_series(rec, _scenario(counted_from="2018-06"))
    assert before[-1, COL["upgrades"]] == 2


def test_target_values_read_the_target_month_not_the_last_month():
    rec = _timeline()
    scenario = _scenario(horizon="2019-08", target="2019-05")
    series = monthly_series(rec, scenario)
    values = target_values(series, scenario)
    assert set(values) == {
        "parks",
        "floor_area_m2",
        "firms",
        "upgrades",
        "tech_firms",
        "demo_parks",
        "firms_stock",
        "firms_cumulative_entries",
        "expansions",
        "moves",
        "graduates",
        "service_platforms",
        "digital_platforms",
        "demonstration_selected",
        "demonstration_lost",
    }
    # end of May 2019: park 1 not yet delisted, no demonstration park yet; three firms have
    # entered, of which firm 8 is still in a park; park 0's service platform works
    assert values == {"parks": 2.0, "floor_area_m2": 50_000.0, "firms": 1.0, "upgrades": 1.0,
                      "tech_firms": 1.0, "demo_parks": 0.0, "firms_stock": 1.0,
                      "firms_cumulative_entries": 3.0, "expansions": 1.0, "moves": 0.0,
                      "graduates": 1.0, "service_platforms": 1.0, "digital_platforms": 0.0,
                      "demonstration_selected": 0.0, "demonstration_lost": 0.0}
    # the other reading of the firms target: every firm that entered a park since the start
    entries = _scenario(horizon="2019-08", target="2019-05")
    entries = entries.model_copy(update={"targets": entries.targets.model_copy(
        update={"firms_reading": "cumulative_entries"})})
    assert target_values(series, entries)["firms"] == 3.0
    cost = fiscal_cost(series, scenario)
    assert cost == {
        "finance": 5_000.0,
        "land": 0.0,
        "tax": 200_000.0,
        "services": 0.0,
        "relief": 0.0,
        **dict.fromkeys((*CAPITAL_ITEMS, *STATUTORY_ITEMS), 0.0),
        "total": 205_000.0,
        "capital_outlay": 0.0,
        "tax_expenditure": 0.0,
        "park_investment": 2.4e7,
    }
    # at the end of the run the land payment and the delisting are in
    end = _scenario(horizon="2019-08", target="2019-08")
    later = monthly_series(rec, end)
    assert target_values(later, end)["parks"] == 1.0
    assert fiscal_cost(later, end)["total"] == 275_000.0


def test_observed_values_are_nan_outside_the_run():
    scenario = _scenario()  # the baseline's observations are dated 2019-12, after this run
    assert [o.date for o in scenario.observations] == ["2019-12", "2019-12"]
    values = observed_values(monthly_series(_timeline(), scenario), scenario)
    assert len(values) == 2 and all(math.isnan(v) for v in values)
    longer = _scenario(horizon="2019-12", target="2019-12")
    values = observed_values(monthly_series(_timeline(), longer), longer)
    assert values == [1.0, 1.0]  # parks and provincial parks at the end of 2019


def test_empty_records_give_an_all_zero_series():
    scenario = _scenario(horizon="2019-03", target="2019-03")
    assert len(RecordBuffer().freeze()) == 0
    empty = monthly_series(Records.empty(), scenario)
    assert empty.shape == (3, len(SERIES_COLUMNS)) and not empty.any()
    assert target_values(empty, scenario)["firms"] == 0.0


def test_to_frame_names_kinds_and_dates():
    frame = _timeline().to_frame(replication=3, start="2019-01")
    assert list(frame.columns[:3]) == ["replication", "time_months", "date"]
    assert (frame["replication"] == 3).all()
    row = frame[(frame["kind"] == "firm_entered") & (frame["firm_id"] == 7)].iloc[0]
    assert row["date"] == "2019-02" and row["time_months"] == 1.2
    assert frame[frame["kind"] == "support_paid"]["date"].tolist() == [
        "2019-03",
        "2019-05",
        "2019-07",
    ]


def _delisted_demonstration_park() -> Records:
    """Park 0 opened, recognised and provincial in January 2019, one tech firm of 1,000 m2
    from January, a demonstration park from February, delisted in April."""
    buf = RecordBuffer()
    buf.park(0.0, Kind.PARK_OPENED, 0, 30_000.0)
    buf.park(0.2, Kind.PARK_RECOGNISED, 0, 30_000.0)
    buf.park(0.4, Kind.PARK_PROVINCIAL, 0, 30_000.0)
    buf.firm(0.6, Kind.FIRM_ENTERED, 0, 5, 2.0, 4e6, 1_000.0, True)
    buf.park(1.5, Kind.PARK_DEMONSTRATION, 0, 30_000.0)
    buf.delisted(3.5, 0, 30_000.0, "provincial+demonstration")
    return buf.freeze()


def test_delisting_a_demonstration_park_removes_its_standing():
    """A delisted park loses what it held: recognition, provincial and demonstration status."""
    scenario = _scenario()
    series = monthly_series(_delisted_demonstration_park(), scenario)
    col = {name: i for i, name in enumerate(SERIES_COLUMNS)}
    before, after = series[2], series[3]
    assert [
        before[col[k]] for k in ("parks", "provincial_parks", "demo_parks", "firms", "tech_firms")
    ] == [1, 1, 1, 1, 1]
    assert [
        after[col[k]] for k in ("parks", "provincial_parks", "demo_parks", "firms", "tech_firms")
    ] == [0, 0, 0, 0, 0]
    assert after[col["firms_all_parks"]] == 1 and after[col["floor_area_m2"]] == 0


def test_park_series_follows_a_park_through_its_standings():
    """One park month by month: opened, recognised and provincial in January, a demonstration
    park from February, delisted in April; one firm of 1,000 m2 in 24,000 usable m2."""
    parks = {"park_id": [0, 1], "floor_area_m2": [30_000.0, 9_000.0]}
    table = park_series(_delisted_demonstration_park(), parks, _scenario())
    first = table["park_id"] == 0
    assert table["status"][first].tolist() == [
        "provincial", "demonstration", "demonstration", "delisted", *["delisted"] * 4]
    assert table["firms"][first].tolist() == [1] * 8
    assert np.allclose(table["occupancy"][first], 1_000 / 24_000)
    assert table["status"][~first].tolist() == ["not open"] * 8  # never opened: no occupancy
    assert np.isnan(table["occupancy"][~first]).all()
    assert set(table["status"]) <= set(PARK_STATUSES)


def test_park_series_adds_up_to_the_district_series():
    """In a real run, the parks' table agrees with the district's series every month: firms in
    all parks, parks open, recognised, provincial and demonstration parks, occupied floor."""
    scenario = parksim.load_scenario(_BASELINE, overrides=["district.firms=3000"])
    forecast = parksim.simulate(scenario, 3, seed=4, workers=1, fixed=True)
    table, series = forecast.park_series, forecast.series.set_index(["replication", "month"])

    def parks_in(*statuses):
        chosen = table[table["status"].isin(statuses)]
        return chosen.groupby(["replication", "month"], observed=True).size().reindex(
            series.index, fill_value=0).to_numpy()

    by_month = table.groupby(["replication", "month"])
    assert np.array_equal(by_month["firms"].sum().to_numpy(), series["firms_all_parks"])
    assert np.array_equal(parks_in("recognised", "provincial", "demonstration"),
                          series["parks"])
    assert np.array_equal(parks_in("provincial", "demonstration"), series["provincial_parks"])
    assert np.array_equal(parks_in("demonstration"), series["demo_parks"])
    assert np.array_equal(parks_in(*PARK_STATUSES[1:]), series["parks_open"])
    floor = forecast.parks.set_index(["replication", "park_id"])["floor_area_m2"]
    usable = floor.reindex(pd.MultiIndex.from_arrays([table["replication"], table["park_id"]]))
    occupied = (table["occupancy"].fillna(0).to_numpy() * usable.to_numpy()
                * scenario.parks.usable_share)
    assert np.allclose(pd.Series(occupied).groupby([table["replication"], table["month"]]).sum(),
                       series["occupied_m2"])


def test_firm_histories_of_the_timeline():
    """Firms 9, 7 and 8 of the timeline, one row each in the order they entered; expansions and
    payments are not part of a history."""
    firms = firm_histories(_timeline())
    assert len(firms) == 3
    np.testing.assert_array_equal(firms.firm_id, [9, 7, 8])
    np.testing.assert_array_equal(firms.park_id, [0, 0, 1])
    np.testing.assert_array_equal(firms.entered_at, [0.0, 1.2, 4.9])
    np.testing.assert_array_equal(firms.seated, [True, False, False])
    np.testing.assert_array_equal(firms.age_at_entry, [4.0, 3.0, 1.0])
    np.testing.assert_array_equal(firms.revenue_at_entry, [8e6, 5e6, 3e6])
    np.testing.assert_array_equal(firms.tech_at_entry, [False, False, True])
    np.testing.assert_array_equal(firms.upgraded_at, [1.5, 2.5, np.nan])
    np.testing.assert_array_equal(firms.tech_at, [np.nan, 2.9, np.nan])
    np.testing.assert_array_equal(firms.exited_at, [4.2, 3.7, np.nan])
    assert firms.exit_reason.tolist() == ["graduated", "failure", ""]
    np.testing.assert_array_equal(firms.age_at_exit, [4.3, 3.2, np.nan])


def test_firm_histories_of_bulk_records_and_of_none():
    """Records written in bulk (a report's upgrades) count like single ones; none, no firms."""
    buf = RecordBuffer()
    buf.firms(
        0.0,
        Kind.FIRM_ENTERED,
        0,
        np.array([4, 2]),
        np.array([6.0, 2.0]),
        np.array([5e6, 9e6]),
        np.array([500.0, 700.0]),
        False,
    )
    buf.firms(
        6.0 - 1e-6,
        Kind.FIRM_UPGRADED,
        0,
        np.array([2, 4]),
        np.array([2.5, 6.5]),
        np.array([2.1e7, 2.3e7]),
        np.array([700.0, 500.0]),
        False,
    )
    buf.exited(9.0, 0, 2, 2.75, 1.9e7, 700.0, False, "contract")
    firms = firm_histories(buf.freeze())
    np.testing.assert_array_equal(firms.firm_id, [4, 2])
    np.testing.assert_array_equal(firms.upgraded_at, [6.0 - 1e-6, 6.0 - 1e-6])
    assert firms.exit_reason.tolist() == ["", "contract"]
    np.testing.assert_array_equal(firms.age_at_exit, [np.nan, 2.75])
    assert len(firm_histories(RecordBuffer().freeze())) == 0


@pytest.mark.parametrize("kind, firm, message", [
    (Kind.FIRM_ENTERED, 1, "entered a park more than once"),
    (Kind.FIRM_EXITED, 1, "more than one firm_exited record"),
    (Kind.FIRM_TECH, 3, "firm_tech record of a firm that never entered"),
])
def test_firm_histories_refuse_a_second_entry_or_exit_and_events_of_firms_never_in_a_park(
    kind, firm, message
):
    buf = RecordBuffer()
    buf.firm(0.0, Kind.FIRM_ENTERED, 0, 1, 3.0, 4e6, 400.0, False)
    buf.exited(2.0, 0, 1, 3.2, 4e6, 400.0, False, "failure")
    if kind == Kind.FIRM_EXITED:
        buf.exited(5.0, 0, firm, 3.4, 4e6, 400.0, True, "contract")
    else:
        buf.firm(5.0, kind, 0, firm, 3.4, 4e6, 400.0, True)
    with pytest.raises(ValueError, match=message):
        firm_histories(buf.freeze())


def test_fill_months_follow_the_floor_taken_after_opening():
    """Park 1 opens at month 2 with 8,000 m2 usable: 3,000 m2 enter (38%), 1,500 more by an
    expansion at month 4 (56%: half full two months after opening), 1,000 leave (44%), 3,500
    enter at month 7 (88%): never 90% full. Park 0 was open at the start: not counted."""
    buf = RecordBuffer()
    buf.park(0.0, Kind.PARK_OPENED, 0, 10_000.0)
    buf.firm(0.0, Kind.FIRM_ENTERED, 0, 1, 3.0, 4e6, 9_000.0, False)
    buf.park(2.0, Kind.PARK_OPENED, 1, 10_000.0)
    buf.firm(3.0, Kind.FIRM_ENTERED, 1, 2, 3.0, 4e6, 3_000.0, False)
    buf.firm(4.0, Kind.FIRM_EXPANDED, 1, 2, 3.1, 6e6, 1_500.0, False)
    buf.exited(5.0, 1, 2, 3.2, 6e6, 1_000.0, False, "failure")
    buf.firm(7.0, Kind.FIRM_ENTERED, 1, 3, 2.0, 5e6, 3_500.0, False)
    parks = {"park_id": [0, 1], "floor_area_m2": [10_000.0, 10_000.0]}
    fill = fill_months(buf.freeze(), parks, usable_share=0.8)
    assert fill["opened_during_run"] == [False, True]
    assert np.isnan(fill["months_to_50pct"][0]) and np.isnan(fill["months_to_90pct"][0])
    assert fill["months_to_50pct"][1] == 2.0
    assert np.isnan(fill["months_to_90pct"][1])
    # one more firm of 200 m2 tips it over 90% at month 9, seven months after opening
    buf.firm(9.0, Kind.FIRM_ENTERED, 1, 4, 1.0, 3e6, 200.0, False)
    assert fill_months(buf.freeze(), parks, usable_share=0.8)["months_to_90pct"][1] == 7.0


def test_fill_summary_counts_a_park_that_never_fills_as_never():
    opened = np.array([True, True, True, False])
    to_50 = np.array([2.0, 4.0, np.nan, 1.0])
    to_90 = np.array([3.0, np.nan, np.nan, np.nan])
    fill = fill_summary(opened, to_50, to_90)
    assert fill.parks_opened == 3
    assert fill.months_to_50pct_median == 4.0  # of 2, 4 and never
    assert np.isnan(fill.months_to_90pct_median)  # of 3, never and never
    assert fill.reached_50pct == pytest.approx(2 / 3) and fill.reached_90pct == pytest.approx(1 / 3)


def _ledger_records() -> Records:
    """Payments and refusals of every account over two calendar years (from 2019-01): the land
    lever pays firm 1 in 2019 and refuses firms 2 and 3 (firm 2 twice) in 2020; the district
    pays a government-led park in two parts (2019 and 2020); the small-firm relief covers
    firm 1 in both years."""
    buf = RecordBuffer()
    buf.paid(6.0, "land", 0, 1, 100_000.0)
    buf.refusals(12.0, "land", np.array([0, 0]), np.array([2, 3]))
    buf.refused(18.0, "land", 0, 2)
    buf.paid(18.0, "land", 0, 1, 50_000.0)
    buf.paid(3.0, "government_parks", 4, -1, 2.0e6)
    buf.paid(12.0, "government_parks", 4, -1, 1.0e6)
    buf.paid(6.0, "small_firm_relief", 0, 1, 3_000.0)
    buf.paid(18.0, "small_firm_relief", 0, 1, 4_000.0)
    return buf.freeze()


def test_the_three_accounts_are_apart_and_public_cost_is_levers_plus_capital():
    scenario = _scenario(horizon="2020-12", target="2020-12")
    cost = fiscal_cost(monthly_series(_ledger_records(), scenario), scenario)
    assert cost["land"] == 150_000.0 and cost["government_parks"] == 3.0e6
    assert cost["capital_outlay"] == 3.0e6
    assert cost["total"] == 150_000.0 + 3.0e6  # the district's levers and capital outlays
    assert cost["tax_expenditure"] == cost["small_firm_relief"] == 7_000.0  # beside, not in it


def test_the_ledger_has_every_item_and_year_with_caps_spend_and_who_was_refused():
    scenario = _scenario(horizon="2020-12", target="2020-12")
    table = ledger(_ledger_records(), scenario)
    rows = {(i, y): k for k, (i, y) in enumerate(zip(table["item"], table["year"], strict=True))}
    # every item and year, but the relief lever (disabled in the baseline)
    assert set(rows) == {(i, y) for i in parksim.scenario.LEDGER_ITEMS if i != "relief"
                         for y in (2019, 2020)}
    land19, land20 = rows["land", 2019], rows["land", 2020]
    cap = scenario.policies.land.budget_cap_yuan_per_year
    assert table["budget_cap_yuan"][land19] == cap and table["account"][land19] == "district"
    assert table["spent_yuan"][land19] == 100_000.0 and table["spent_yuan"][land20] == 50_000.0
    assert table["refused_firms"][land19] == 0 and not table["cap_bound"][land19]
    assert table["refused_firms"][land20] == 2 and table["cap_bound"][land20]  # distinct firms
    gov = rows["government_parks", 2020]
    assert table["account"][gov] == "capital" and math.isnan(table["budget_cap_yuan"][gov])
    assert table["spent_yuan"][gov] == 1.0e6
    relief = rows["small_firm_relief", 2019]
    assert table["account"][relief] == "statutory" and table["spent_yuan"][relief] == 3_000.0
