"""The golden digest of a tiny scenario guards the simulated numbers.

A model change either leaves the digest as stored or refreshes it on purpose
(``python -m parksim.validation.golden tests/golden/tiny.toml --write``), with the reason in
the commit. Counts are compared first, so a failure says which kinds of record moved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import parksim
from parksim.records import KINDS
from parksim.validation.golden import digest, digest_path

GOLDEN = Path(__file__).resolve().parent / "golden" / "tiny.toml"
REFRESH = "python -m parksim.validation.golden tests/golden/tiny.toml --write"


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(digest_path(GOLDEN).read_text(encoding="utf-8"))


def test_the_golden_scenario_gives_its_stored_digest(stored):
    fresh = digest(parksim.load_scenario(GOLDEN))
    assert fresh["counts"] == stored["counts"], (
        f"record counts moved; if meant, refresh with: {REFRESH}"
    )
    assert fresh["record_columns"] == stored["record_columns"]
    assert fresh["records_sha256"] == stored["records_sha256"], (
        f"records moved; if meant: {REFRESH}"
    )
    assert fresh["parks_sha256"] == stored["parks_sha256"], f"parks moved; if meant: {REFRESH}"


def test_the_golden_scenario_reaches_every_kind_of_record(stored):
    kinds = set().union(*(set(c) for c in stored["counts"]))
    assert kinds == set(KINDS)


def test_the_digest_sees_a_tiny_change_of_one_parameter(stored):
    """Power check: a relative change of 1e-6 in the growth drift moves the digest."""
    scenario = parksim.load_scenario(GOLDEN)
    drift = scenario.enterprises.growth_drift_per_year
    moved = parksim.load_scenario(
        GOLDEN, overrides=[f"enterprises.growth_drift_per_year={drift * (1 + 1e-6)!r}"]
    )
    assert digest(moved)["records_sha256"] != stored["records_sha256"]


def test_the_digest_sees_a_tiny_change_of_one_prior(stored):
    """Power check: moving one prior's upper end by 1e-6 moves the parameter sets' hash, and
    not the records' (the replications run at the written values)."""
    scenario = parksim.load_scenario(GOLDEN)
    path = "enterprises.growth_drift_per_year"
    prior = scenario.uncertain[path]
    moved = scenario.model_copy(update={"uncertain": {
        **scenario.uncertain, path: prior.model_copy(update={"high": prior.high + 1e-6})}})
    fresh = digest(moved)
    assert fresh["parameter_sets_sha256"] != stored["parameter_sets_sha256"]
    assert fresh["records_sha256"] == stored["records_sha256"]
