"""Placing applicants: the vacancy index agrees with a look at every park.

``Vacancies`` keeps, by lead sector, the parks with room and the largest free floors, so that
``choose_park`` refuses at once an applicant no park can take and otherwise finds one among
the parks that admit it. These tests compare both with a brute-force look at all parks: on
random sequences of parks filling, emptying and taking firms in (hypothesis), and on every
application of real replications.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import parksim
import parksim.model.district as district
from parksim.model import run_replication
from parksim.model.parks import Park, ParkRules, Parks, Vacancies

_BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml"
SECTORS = 3
SHARE = 0.6
RULES = ParkRules(usable_share=0.75, grace_months=24.0, key=0)


def _admitting(
    parks: list[Park], sector: int, need: float, share: float, revenue: float = math.inf
) -> tuple[list[Park], list[Park]]:
    """(lead-sector parks, other parks) that admit the applicant, found by a look at every park."""
    lead, other = [], []
    for p in parks:
        if not p.is_open or p.delisted or p.free_m2 < need or p.min_revenue > revenue:
            continue
        if p.lead_sector == sector:
            lead.append(p)
        elif p.admits_other(need, share):
            other.append(p)
    return lead, other


_step = st.tuples(
    st.integers(0, 5),
    st.sampled_from(["take", "free", "lead_in", "other_in", "delist"]),
    st.floats(0.0, 3000.0),
)


@settings(max_examples=400, deadline=None)
@given(
    steps=st.lists(_step, max_size=60),
    sector=st.integers(0, SECTORS - 1),
    need=st.floats(100.0, 6000.0),
)
def test_may_admit_is_exact_after_any_sequence_of_changes(steps, sector, need):
    parks = [Park(i, f"p{i}", i % SECTORS, "government", 8000.0, RULES) for i in range(6)]
    vacancies = Vacancies(SECTORS, 100.0, SHARE)
    for p in parks:  # open, with four lead-sector firms: room for one or two from other sectors
        p.is_open = True
        p.n_firms = p.lead_firms = 4
    vacancies.admit_from(100.0, parks)
    for i, action, m2 in steps:
        p = parks[i]
        if action == "take":
            p.free_m2 = max(p.free_m2 - m2, 0.0)
        elif action == "free":
            p.free_m2 = min(p.free_m2 + m2, p.usable_m2)
        elif action == "lead_in":
            p.n_firms += 1
            p.lead_firms += 1
        elif action == "other_in":
            p.n_firms += 1
        else:
            p.delisted = True
        vacancies.update(p)
        # asked after every change, at the edges too (a need equal to some park's free floor, or
        # just above it): the lazily kept largest floors stay exact
        for asked in (
            need,
            *(q.free_m2 for q in parks),
            *(np.nextafter(q.free_m2, np.inf) for q in parks),
        ):
            for s in range(SECTORS):
                lead, other = _admitting(parks, s, asked, SHARE)
                assert vacancies.may_admit(s, asked) == bool(lead or other)
    lead, other = _admitting(parks, sector, need, SHARE)
    assert vacancies.may_admit(sector, need) == bool(lead or other)
    listed = {p.id for p in vacancies.all}
    assert listed == {p.id for p in parks if p.is_open and not p.delisted and p.free_m2 >= 100.0}
    for s in range(SECTORS):
        assert {p.id for p in vacancies.by_sector[s]} == {
            p.id for p in parks if p.id in listed and p.lead_sector == s
        }


def test_choose_park_agrees_with_a_look_at_every_park(monkeypatch):
    """On every application of real replications: a park is found exactly when one admits the
    applicant (its floor, lead-sector share and entry standard), and a lead-sector park
    whenever one admits it."""
    chosen = district.choose_park
    registered = Parks._register
    every_park: list[Park] = []  # the parks of the replication running now
    seen = {"applications": 0, "refused": 0, "placed_other": 0}

    def register(self, *args):
        park = registered(self, *args)
        every_park.append(park)
        return park

    def checked(vacancies, sector, seed, first_draw, need, revenue):
        park = chosen(vacancies, sector, seed, first_draw, need, revenue)
        lead, other = _admitting(every_park, sector, need, vacancies.lead_min_share, revenue)
        seen["applications"] += 1
        if park is None:
            seen["refused"] += 1
            assert not lead and not other
        else:
            assert park in (lead or other)
            seen["placed_other"] += park in other
        return park

    monkeypatch.setattr(Parks, "_register", register)
    monkeypatch.setattr(district, "choose_park", checked)
    scenario = parksim.load_scenario(_BASELINE)
    for i in range(3):
        every_park.clear()
        run_replication(scenario, np.random.SeedSequence([31, i]))
    # the baseline's parks fill: many applicants are refused, and some placed outside their sector
    assert seen["applications"] > 1000
    assert 0.2 < seen["refused"] / seen["applications"] < 0.95
    assert seen["placed_other"] > 0


def test_a_park_freeing_a_little_floor_is_seen_while_another_park_tops_the_list():
    """The largest free floors are kept lazily: a park whose entry was refreshed at a lower
    value and then frees a little floor must be seen even while another park's entry, valid
    and below the park's new floor, sits at the top. Both lists: a lead sector's parks, and
    the parks open to firms of other sectors."""
    a, b = (Park(i, f"p{i}", 0, "government", 8000.0, RULES) for i in range(2))
    c, d = (Park(i, f"p{i}", i - 1, "government", 8000.0, RULES) for i in (2, 3))
    parks = [a, b, c, d]
    for p in parks:
        p.is_open = True
    for p in (c, d):  # four lead-sector firms each: open to one firm of another sector
        p.n_firms = p.lead_firms = 4
    vacancies = Vacancies(3, 100.0, 0.6)
    vacancies.admit_from(100.0, parks)

    def change(park, free_m2):
        park.free_m2 = free_m2
        vacancies.update(park)

    for p in (c, d):
        change(p, 0.0)
    change(a, 3000.0)
    assert vacancies.may_admit(0, 6000.0)  # b on top; a's entry (6000) refreshed to 3000
    change(b, 3100.0)
    assert vacancies.may_admit(0, 3100.0) and not vacancies.may_admit(0, 3100.5)
    change(a, 3200.0)  # above b, and above a's refreshed entry
    assert vacancies.may_admit(0, 3200.0) and not vacancies.may_admit(0, 3200.5)

    for p in (a, b):
        change(p, 0.0)
    change(c, 3000.0)
    change(d, 2000.0)
    assert vacancies.may_admit(0, 3000.0)
    change(c, 1000.0)
    # c's entry refreshed to 1000
    assert vacancies.may_admit(0, 2000.0) and not vacancies.may_admit(0, 2000.5)
    change(d, 1000.25)
    change(c, 1000.5)  # above d, and above c's refreshed entry
    assert vacancies.may_admit(0, 1000.5) and not vacancies.may_admit(0, 1000.75)
