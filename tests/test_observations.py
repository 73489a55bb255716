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
