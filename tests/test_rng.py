"""Random streams: keyed draws, replication seeds and the quality of the uniforms.

Reproducibility and common random numbers rest on ``parksim.rng``: a firm's draw must be the
same bits whether it is computed one at a time (firms in parks) or for a whole array at once
(the district pool), and replication ``i`` must get the same randomness however many
replications are requested.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import parksim
from parksim.model import run_replication
from parksim.records import TEXT_COLUMNS
from parksim.rng import (
    MAX_APPLICATIONS,
    PARK_CHOICE_DRAWS,
    PARK_PROBES,
    Draw,
    Stream,
    Streams,
    firm_stream_seed,
    keyed_uniform,
    keyed_uniforms,
    replication_seed,
    seeded_uniforms,
    stream_seeds,
)

_SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
_BASELINE = _SCENARIOS / "baseline.toml"

U64 = st.integers(min_value=0, max_value=2**64 - 1)


def _small_scenario():
    return parksim.load_scenario(
        _BASELINE,
        overrides=["district.firms=1500", 'calendar.horizon="2019-12"', 'targets.date="2019-12"'],
    )


def _same_records(a, b) -> None:
    assert len(a) == len(b)
    for name in ("time_months", "kind", "park_id", "firm_id", "firm_age_years", "revenue_yuan",
                 "floor_m2", "tech", "amount_yuan"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in TEXT_COLUMNS:
        assert list(getattr(a, name)) == list(getattr(b, name)), name


# --------------------------------------------------------------------------- keyed draws


@settings(deadline=None, max_examples=60)
@given(key=U64, entities=st.lists(U64, min_size=1, max_size=20), draw=st.integers(0, 10_000))
def test_keyed_draws_scalar_and_vectorised_agree(key, entities, draw):
    ids = np.array(entities, dtype=np.uint64)
    states = stream_seeds(key, ids)
    vector = keyed_uniforms(key, ids, draw)
    for i, entity in enumerate(entities):
        state = firm_stream_seed(key, entity)
        assert int(states[i]) == state
        # bit-identical, not merely close
        assert vector[i] == keyed_uniform(state, draw)


def test_keyed_draws_agree_for_an_array_of_draw_numbers():
    key = 0xDEADBEEFCAFEF00D
    ids = np.arange(50, dtype=np.int64)
    draws = np.arange(50) * 37 + 3
    vector = keyed_uniforms(key, ids, draws)
    scalar = [
        keyed_uniform(firm_stream_seed(key, i), int(d)) for i, d in zip(ids, draws, strict=True)
    ]
    np.testing.assert_array_equal(vector, np.array(scalar))


@settings(deadline=None, max_examples=40)
@given(
    key=U64,
    entities=st.lists(U64, min_size=1, max_size=10),
    draws=st.lists(st.integers(0, 2**32), min_size=1, max_size=10),
)
def test_seeded_uniforms_agree_with_the_scalar_form(key, entities, draws):
    states = stream_seeds(key, np.array(entities, dtype=np.uint64))
    for draw in draws:
        vector = seeded_uniforms(states, draw)
        assert vector.tolist() == [keyed_uniform(int(s), draw) for s in states]


def test_keyed_draws_are_pure_functions_of_key_entity_and_draw():
    key = 12345
    ids = np.arange(1000)
    a = keyed_uniforms(key, ids, 3)
    b = keyed_uniforms(key, ids[::-1], 3)[::-1]  # order of the entities does not matter
    np.testing.assert_array_equal(a, b)
    # a different draw number, entity set or key gives different numbers
    assert not np.array_equal(a, keyed_uniforms(key, ids, 4))
    assert not np.array_equal(a, keyed_uniforms(key + 1, ids, 3))
    assert not np.array_equal(a, keyed_uniforms(key, ids + 1, 3))


def test_stream_keys_are_deterministic_and_distinct_per_purpose():
    seq = np.random.SeedSequence(99).spawn(3)[1]
    a, b = Streams(seq), Streams(np.random.SeedSequence(99).spawn(3)[1])
    purposes = [stream.key for stream in Draw.ALL]
    keys = [a.key(p) for p in purposes]
    assert keys == [b.key(p) for p in purposes]
    assert len(set(keys)) == len(keys)
    # a different replication gets different keys for the same purpose
    other = Streams(np.random.SeedSequence(99).spawn(3)[2])
    assert all(other.key(p) != k for p, k in zip(purposes, keys, strict=True))


# --------------------------------------------------------------------------- replication seeds


@given(root=st.integers(0, 2**63 - 1), n=st.integers(1, 40), data=st.data())
@settings(max_examples=60, deadline=None)
def test_replication_seed_is_the_spawned_child(root, n, data):
    """``replication_seed(root, r)`` is ``SeedSequence(root).spawn(n)[r]``, for any ``n > r``."""
    r = data.draw(st.integers(0, n - 1))
    spawned = np.random.SeedSequence(root).spawn(n)[r]
    made = replication_seed(root, r)
    assert made.entropy == spawned.entropy and made.spawn_key == spawned.spawn_key
    assert (
        made.pool_size == spawned.pool_size
        and made.n_children_spawned == spawned.n_children_spawned
    )
    np.testing.assert_array_equal(made.generate_state(8), spawned.generate_state(8))
    assert Streams(made).key("firms") == Streams(spawned).key("firms")


def test_replication_seeds_differ():
    assert len({tuple(replication_seed(2024, r).generate_state(2)) for r in range(10)}) == 10


def test_replication_results_do_not_depend_on_how_many_are_requested():
    scenario = _small_scenario()
    five = np.random.SeedSequence(31).spawn(5)
    for i in (0, 3):
        _same_records(run_replication(scenario, five[i]).records,
                      run_replication(scenario, replication_seed(31, i)).records)
    # and through the public API: the first rows of a longer forecast are the shorter forecast
    # (at the written values, or on parameter sets of one replication each: replication r runs
    # on set r // R, so with R fixed the sets line up too)
    for kwargs in ({"fixed": True}, {}):
        sets = {} if kwargs else {"short": 2, "long": 4}
        short = parksim.simulate(scenario, replications=2, seed=31, workers=1, **kwargs,
                                 **({"parameter_sets": sets["short"]} if sets else {}))
        long = parksim.simulate(scenario, replications=4, seed=31, workers=1, **kwargs,
                                **({"parameter_sets": sets["long"]} if sets else {}))
        cols = [c for c in short.targets.columns if c != "replication"]
        assert short.targets[cols].equals(long.targets[cols].iloc[:2].reset_index(drop=True))


# --------------------------------------------------------------------------- uniformity


def test_uniforms_lie_in_unit_interval_and_are_uniform():
    n = 400_000
    u = keyed_uniforms(0x0123456789ABCDEF, np.arange(n), 0)
    assert u.dtype == np.float64
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # consecutive entity ids (the pool's ids) do not produce correlated draws
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / np.sqrt(n)


def test_successive_draws_of_one_stream_are_uniform_and_uncorrelated():
    n = 200_000
    state = firm_stream_seed(777, 42)
    u = np.array([keyed_uniform(state, k) for k in range(n)])
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / np.sqrt(n)
    # draws of different purposes of the same firms (the model numbers them 0..15 per review)
    ids = np.arange(n)
    a, b = keyed_uniforms(5, ids, 0), keyed_uniforms(5, ids, 1)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(n)
    # pairs are uniform on the unit square: chi-square on a 10 x 10 grid
    counts, _, _ = np.histogram2d(a, b, bins=10, range=[[0, 1], [0, 1]])
    assert stats.chisquare(counts.ravel()).pvalue > 1e-4


@pytest.mark.parametrize("draw", [0, 1, 17, 2**20])
def test_uniform_means_by_draw_number(draw):
    n = 100_000
    u = keyed_uniforms(2**63 + 11, np.arange(n), draw)
    # mean 1/2 and variance 1/12, within 5 standard errors
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)


def test_no_two_purposes_of_a_keyed_stream_share_a_draw_number():
    for stream in Draw.ALL:
        assert stream.overlaps() == [], stream.key
        if stream.stride is not None:
            assert max(r.stop for r in stream.ranges.values()) <= stream.stride, stream.key
    assert len({stream.key for stream in Draw.ALL}) == len(Draw.ALL)


def test_the_overlap_check_sees_a_shared_number():
    """Power check: ranges that touch are fine, ranges that share a number are caught, adjacent
    in order of start or not."""
    assert Stream("s", a=range(0, 2), b=range(2, 4)).overlaps() == []
    assert Stream("s", a=range(0, 3), b=range(2, 4)).overlaps() == [("a", "b")]
    assert Stream("s", a=range(0, 10), b=range(2, 3), c=range(5, 6)).overlaps() != []


def test_the_registry_holds_every_application_a_scenario_may_make():
    from parksim.scenario.schema import District

    bound = max(
        m.le for m in District.model_fields["max_applications"].metadata if hasattr(m, "le")
    )
    assert bound <= MAX_APPLICATIONS
    for name in ("walk", "screening", "reapply"):
        assert len(Draw.POOL.ranges[name]) == MAX_APPLICATIONS
    assert len(Draw.POOL.ranges["park_choice"]) == PARK_CHOICE_DRAWS * MAX_APPLICATIONS


def test_an_applications_park_choice_fits_its_draw_numbers():
    """Lead-sector parks use the first half of an application's park-choice draws (the probes,
    then one pick among the parks that fit), the other parks the second half."""
    assert PARK_PROBES + 1 <= PARK_CHOICE_DRAWS // 2
