"""Observations of several kinds: counts and totals at a date, densities and shares, rates over
a period; each with its uncertainty. The simulated value of each is a pure function of the
monthly series (checked on a hand-built series), bad observations are one located error, and
the summary carries kind, period and uncertainty beside the fields it always had."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import parksim
from parksim.metrics import SERIES_COLUMNS, observed_values
from parksim.scenario import ScenarioError
from parksim.scenario.schema import Observation


def _series(months: int = 24) -> np.ndarray:
    """A district whose firms in all parks grow by 10 a month from 100, with 1 upgrade and 2
    failures a month, 4 recognised parks holding 80 firms (8 tech) on 120,000 m2."""
    series = np.zeros((months, len(SERIES_COLUMNS)))
    col = SERIES_COLUMNS.index
    t = np.arange(months)
    series[:, col("firms_all_parks")] = 100 + 10 * t
    series[:, col("upgrades")] = t + 1
    series[:, col("exits_failure")] = 2 * (t + 1)
    series[:, col("parks")] = 4
    series[:, col("firms")] = 80
    series[:, col("tech_firms")] = 8
    series[:, col("floor_area_m2")] = 120_000
    series[:, col("occupancy")] = 0.75
    return series


def _with(scenario, *observations: dict):
    return scenario.model_copy(update={"observations": tuple(
        Observation.model_validate(o) for o in observations)})


def test_every_kind_is_computed_from_the_series(tiny_scenario):
    year = {"start": "2019-01", "end": "2019-12"}
    scenario = _with(
        tiny_scenario,
        {"key": "firms_per_park", "date": "2019-06", "value": 20.0},
        {"key": "m2_per_firm", "date": "2019-06", "value": 1500.0},
        {"key": "tech_share", "date": "2019-06", "value": 0.1},
        {"key": "occupancy", "date": "2019-06", "value": 0.7},
        {"key": "upgrades_per_firm_year", "period": year, "value": 0.1},
        {"key": "failures_per_firm_year", "period": {"start": "2019-07", "end": "2019-12"},
         "value": 0.1},
        {"key": "parks", "date": "2030-01", "value": 4.0},
    )
    got = observed_values(_series(), scenario)
    firm_years = sum(100 + 10 * m for m in range(12)) / 12
    firm_years_h2 = sum(100 + 10 * m for m in range(6, 12)) / 12
    expected = [20.0, 1500.0, 0.1, 0.75, 12 / firm_years, 2 * 6 / firm_years_h2]
    assert got[:6] == pytest.approx(expected)
    assert math.isnan(got[6])  # after the run: not simulated


BAD = [
    ({"key": "upgrades_per_firm_year", "date": "2019-12", "value": 0.1}, "give its period"),
    ({"key": "parks", "period": {"start": "2019-01", "end": "2019-12"}, "value": 1.0},
     "give its date"),
    ({"key": "parks", "date": "2019-12", "value": 11.0, "interval": [12.0, 14.0]},
     "does not hold the value"),
    ({"key": "parks", "date": "2019-12", "value": 11.0, "interval": [10.0, 12.0], "se": 1.0},
     "not both"),
    ({"key": "tech_share", "date": "2019-12", "value": 1.5}, "at most 1"),
    ({"key": "parks", "kind": "rate", "date": "2019-12", "value": 11.0}, "is a count"),
]


@pytest.mark.parametrize(("entry", "fragment"), BAD)
def test_a_bad_observation_is_one_located_error(entry, fragment, write_toml, baseline_path):
    lines = [f"{k} = {json.dumps(v) if not isinstance(v, dict) else _inline(v)}"
             for k, v in entry.items()]
    path = write_toml("bad.toml", f'extends = "{baseline_path}"\n[[observations]]\n'
                      + "\n".join(lines) + "\n")
    with pytest.raises(ScenarioError) as caught:
        parksim.load_scenario(path)
    assert caught.value.file == str(path) and fragment in caught.value.message
    assert caught.value.key.startswith("observations[0]")


def _inline(table: dict) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()) + " }"


def test_the_summary_keeps_its_observed_fields_and_adds_kind_and_uncertainty(tiny_scenario):
    scenario = _with(
        tiny_scenario,
        {"key": "parks", "date": "2019-12", "value": 11.0, "interval": (10.0, 12.0)},
        {"key": "upgrades_per_firm_year", "period": {"start": "2019-01", "end": "2019-12"},
         "value": 0.02, "se": 0.01},
    )
    summary = parksim.simulate(scenario, 4, seed=3, workers=1, fixed=True).summary()
    first, rate = summary["observed"]
    assert {"key", "date", "observed", "median", "p05", "p95"} <= set(first)
    assert first["kind"] == "count" and first["interval"] == [10.0, 12.0]
    assert rate["kind"] == "rate" and rate["period"] == ["2019-01", "2019-12"]
    assert rate["date"] == "2019-12" and rate["se"] == 0.01
    assert 0 < rate["median"] < 0.2
    json.dumps(summary, allow_nan=False)


def test_grade_shares_count_the_graded_parks_of_the_year():
    from parksim.metrics import grade_share

    grades = {"year": [2019, 2019, 2019, 2019, 2020], "grade": ["A", "B", "", "A", "D"]}
    assert grade_share(grades, 2019, "A") == pytest.approx(2 / 3)  # one park in grace
    assert grade_share(grades, 2020, "A") == 0.0
    assert math.isnan(grade_share(grades, 2021, "A"))


def test_failures_by_age_divide_failures_by_the_time_spent_at_that_age():
    from parksim.metrics import FirmHistories, failures_by_age

    nan = float("nan")
    # firm 0 enters at month 0 aged 0.5 and fails at month 12 (aged 1.5); firm 1 enters at
    # month 6 aged 2 and stays to the end (month 24); firm 2 enters at 0 aged 0 and leaves for
    # its own land at month 3
    h = FirmHistories(
        firm_id=np.arange(3), park_id=np.zeros(3), entered_at=np.array([0.0, 6.0, 0.0]),
        seated=np.array([True, False, True]), age_at_entry=np.array([0.5, 2.0, 0.0]),
        revenue_at_entry=np.ones(3), tech_at_entry=np.zeros(3, bool),
        upgraded_at=np.full(3, nan), tech_at=np.full(3, nan),
        exited_at=np.array([12.0, nan, 3.0]),
        exit_reason=np.array(["failure", "", "graduated"]),
        age_at_exit=np.array([1.5, nan, 0.25]))
    # age [1, 2): firm 0 from month 6 to 12 = 0.5 firm-years, one failure
    assert failures_by_age(h, 0, 24, (1.0, 2.0), 24) == pytest.approx(1 / 0.5)
    # age [0, 1): firm 0 months 0-6, firm 2 months 0-3: 0.75 firm-years, no failure
    assert failures_by_age(h, 0, 24, (0.0, 1.0), 24) == 0.0
    # age [2, 3): firm 1 from 6 to 18: 1 firm-year; in the first half-year nobody is that old
    assert failures_by_age(h, 0, 24, (2.0, 3.0), 24) == 0.0
    assert math.isnan(failures_by_age(h, 0, 6, (2.0, 3.0), 24))


def test_times_to_fill_and_failures_by_age_reach_a_forecast(tiny_scenario):
    scenario = _with(
        tiny_scenario,
        {"key": "months_to_fill", "period": {"start": "2019-01", "end": "2020-06"},
         "value": 12.0},
        {"key": "failures_by_age", "period": {"start": "2019-01", "end": "2020-06"},
         "age": (2.0, 5.0), "value": 0.09},
        {"key": "grade_share", "date": "2019-12", "grade": "B", "value": 0.3},
    )
    summary = parksim.simulate(scenario, 4, seed=3, workers=1, fixed=True).summary()
    fill, age, share = summary["observed"]
    assert fill["kind"] == "time" and fill["median"] > 0
    assert age["age"] == [2.0, 5.0] and 0 < age["median"] < 0.5
    assert share["grade"] == "B" and 0 <= share["median"] <= 1


@pytest.mark.parametrize(("entry", "fragment"), [
    ({"key": "grade_share", "date": "2019-12", "value": 0.3}, "needs its grade"),
    ({"key": "parks", "date": "2019-12", "value": 3.0, "grade": "A"}, "grade goes with"),
    ({"key": "months_to_fill", "period": {"start": "2019-01", "end": "2019-12"},
      "value": 3.0, "level": 0.7}, "0.5 or 0.9"),
    ({"key": "failures_by_age", "period": {"start": "2019-01", "end": "2019-12"},
      "value": 0.1, "age": (3.0, 1.0)}, "from must be below to"),
])
def test_narrowing_keys_go_with_their_observable(entry, fragment):
    with pytest.raises(ValueError, match=fragment):
        Observation.model_validate(entry)
