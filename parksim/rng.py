"""Random streams: one root seed, per-replication children, per-purpose keyed streams.

Reproducibility and common random numbers (CRN) both rest on this module.

* Replication ``r`` draws from ``SeedSequence(seed, spawn_key=(r,))`` -- the child
  ``SeedSequence(seed).spawn(n)[r]`` would give, made directly -- so a replication's
  randomness depends only on (seed, replication index), never on which worker runs it, in
  what order, or how many replications there are. :func:`replication_seed` is the one place
  this child is made.
* Inside a replication every purpose (growth shocks, exits, admission screening, ...) has its
  own 64-bit key derived from the replication's SeedSequence and the purpose name.
* A firm's draws are *keyed*: draw ``k`` of purpose ``p`` for firm ``i`` is a pure function of
  (key_p, i, k) -- a splitmix64 hash -- so the same firm meets the same luck in two scenarios
  run with the same seed, whatever else differs, and no generator object is made per firm.

The hash is computed two ways: vectorised in numpy for the ~30,000 pool firms at once, and
with Python integers for the one-at-a-time draws of firms in parks. Both give the same bits.

Every draw number of every keyed stream is registered in :class:`Draw`, one range per
purpose, so that no two purposes share a number (a test checks that no ranges overlap).
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np

__all__ = [
    "Streams",
    "Stream",
    "Draw",
    "replication_seed",
    "keyed_uniform",
    "keyed_uniforms",
    "firm_stream_seed",
    "stream_seeds",
    "seeded_uniforms",
]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_TO_UNIT = 2.0**-53


def _mix(z: int) -> int:
    z = (z + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def firm_stream_seed(key: int, entity: int) -> int:
    """The splitmix64 state of ``entity``'s stream for a purpose ``key``."""
    return _mix(int(key) ^ _mix(int(entity)))


def keyed_uniform(state: int, draw: int) -> float:
    """Draw number ``draw`` of the stream whose state is ``state``, in [0, 1)."""
    z = (state + (draw + 1) * _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return ((z ^ (z >> 31)) >> 11) * _TO_UNIT


_U_GOLDEN = np.uint64(_GOLDEN)
_U_M1 = np.uint64(_M1)
_U_M2 = np.uint64(_M2)
_U_ONE, _U_11, _U_27, _U_30, _U_31 = (np.uint64(k) for k in (1, 11, 27, 30, 31))


def _mix_np(z: np.ndarray) -> np.ndarray:
    z = z + _U_GOLDEN
    return _finish(z)


def _finish(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, in place on the fresh array ``z`` (uint64 arithmetic wraps)."""
    z ^= z >> _U_30
    z *= _U_M1
    z ^= z >> _U_27
    z *= _U_M2
    z ^= z >> _U_31
    return z


def stream_seeds(key: int, entities: np.ndarray) -> np.ndarray:
    """Vectorised :func:`firm_stream_seed` (uint64 array)."""
    ids = np.asarray(entities, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix_np(np.uint64(key) ^ _mix_np(ids))


def seeded_uniforms(seeds: np.ndarray, draw: int | np.ndarray) -> np.ndarray:
    """Vectorised :func:`keyed_uniform` for streams whose states are ``seeds`` (same bits).

    ``seeds`` and ``draw`` broadcast: a ``(k, 1)`` column of draw numbers against ``n`` seeds
    gives a ``(k, n)`` array, one row per draw number, every firm's draws for ``k`` purposes
    in one call.
    """
    seeds = np.asarray(seeds, dtype=np.uint64)
    draw = np.asarray(draw)
    if draw.ndim == 0:  # numpy scalars warn on the wrap-around that arrays do silently
        step = np.uint64(((int(draw) + 1) * _GOLDEN) & _MASK)
    else:
        step = (draw.astype(np.uint64) + _U_ONE) * _U_GOLDEN
    z = np.atleast_1d(seeds + step)
    z = _finish(z)
    z >>= _U_11
    u = z.astype(np.float64) * _TO_UNIT
    return u if seeds.ndim or draw.ndim else u[0]


def keyed_uniforms(key: int, entities: np.ndarray, draw: int | np.ndarray) -> np.ndarray:
    """Vectorised :func:`keyed_uniform` for many entities (same bits as the scalar form)."""
    return seeded_uniforms(stream_seeds(key, entities), draw)


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """The SeedSequence of replication ``replication`` under the root ``seed``: the child that
    ``SeedSequence(seed).spawn(n)[replication]`` gives, for any ``n`` above ``replication``."""
    return np.random.SeedSequence(seed, spawn_key=(replication,))


class Streams:
    """The named random streams of one replication."""

    def __init__(self, seed_sequence: np.random.SeedSequence):
        self._seq = seed_sequence
        self._keys: dict[str, int] = {}

    def key(self, purpose: str) -> int:
        """A 64-bit key for keyed draws of one purpose."""
        if purpose not in self._keys:
            child = np.random.SeedSequence(
                self._seq.entropy, spawn_key=(*self._seq.spawn_key, zlib.crc32(purpose.encode()))
            )
            self._keys[purpose] = int(child.generate_state(1, np.uint64)[0])
        return self._keys[purpose]


class Stream:
    """The draw numbers of one keyed stream: a range per purpose, named; the attribute of each
    name is the range's first number.

    ``key`` names the stream (:meth:`Streams.key`). ``stride``, where given, is how many
    numbers one interval of an entity's life takes: draw ``k * stride + n`` is purpose ``n``
    in interval ``k``, so the ranges must fit below the stride. ``by_entity`` marks a stream
    whose ranges number entities rather than draws (the draw number is then a round).
    """

    def __init__(
        self, key: str, stride: int | None = None, by_entity: bool = False, **ranges: range
    ):
        self.key = key
        self.stride = stride
        self.by_entity = by_entity
        self.ranges = ranges
        for name, numbers in ranges.items():
            setattr(self, name, numbers.start)

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of purposes whose ranges share a number (none, in a sound registry)."""
        named = sorted(self.ranges.items(), key=lambda item: (item[1].start, item[1].stop))
        return [(a, b) for (a, ra), (b, rb) in itertools.pairwise(named) if rb.start < ra.stop]


MAX_APPLICATIONS = 20
"""Most applications a pool firm makes (the schema's bound): ranges per attempt hold this many."""

PARK_CHOICE_DRAWS = 16
"""Draw numbers one application's choice of park may use."""

PARK_PROBES = 4
"""Keyed random picks an application tries in a long list of parks before it scans the list:
within an application's ``PARK_CHOICE_DRAWS``, the lead-sector parks use the first half (the
picks, then one more draw to pick among those that fit) and the other parks the second half."""


class Draw:
    """The registry of keyed draw numbers: one :class:`Stream` per keyed purpose."""

    POOL = Stream(
        "pool",
        sector=range(0, 1), revenue=range(1, 2), age=range(2, 3), rd=range(3, 4), tech=range(4, 5),
        floor_factor=range(5, 6), death=range(6, 7), relocation=range(7, 8),
        productivity=range(8, 9), rd_intensity=range(9, 10), brand=range(10, 11),
        credit=range(11, 12),
        walk=range(100, 100 + MAX_APPLICATIONS),
        screening=range(200, 200 + MAX_APPLICATIONS),
        reapply=range(400, 400 + MAX_APPLICATIONS),
        acceptance=range(600, 600 + MAX_APPLICATIONS),
        park_choice=range(1000, 1000 + PARK_CHOICE_DRAWS * MAX_APPLICATIONS),
    )
    """A district firm's attributes (those the policy targets among them: revenue per employee,
    R&D intensity, own brand or core technology, credit access), its revenue walk between
    applications, each application's screening, the wait before the next, and its choice of
    park."""

    FIRM = Stream(
        "firms",
        stride=16,
        exit=range(0, 1),
        relief_survival=range(1, 2),
        growth=range(2, 3),
        tech=range(3, 4),
        rd=range(4, 5),
        contract=range(5, 6),
        register=range(6, 7),
        take_up_finance=range(10, 11),
        take_up_land=range(11, 12),
        take_up_tax=range(12, 13),
        take_up_services=range(13, 14),
        take_up_relief=range(14, 15),
    )
    """A firm in a park, per review interval: exit (and whether a failure falling after a relief
    round is avoided), growth, tech and R&D adoption, contract enforcement, registration above
    designated size, and each lever's take-up."""

    PARK = Stream("parks", platform=range(0, 1), recognition=range(1, 2), provincial=range(2, 3),
                  provincial_review=range(3, 4), digital=range(4, 5))
    """A park: its operator's hurdle for a service platform, when it is recognised, whether and
    when it is recommended to the province, and its operator's hurdle for digital management."""

    PROJECT = Stream("projects", arrival=range(0, 1), model=range(1, 2), renovation=range(2, 3),
                     floor_area=range(3, 4), build_time=range(4, 5), sector=range(5, 6),
                     hurdle=range(6, 7), sale=range(7, 8))
    """A candidate site for a park: the gap before it comes up, its development model, whether
    it renovates, its floor area, build time and lead sector, its developer's hurdle, and
    whether it sells its units."""

    FORMATION = Stream("formation", arrival=range(0, 1))
    """New firm formation: the gap before each new firm."""

    MOVE = Stream("moves", stride=PARK_CHOICE_DRAWS, park_choice=range(0, PARK_CHOICE_DRAWS))
    """A firm in a park that outgrew it, per review: its choice of a park with room."""

    INITIAL = Stream("initial", order=range(0, 1))
    """The order in which pool firms are seated in the parks operating at the start."""

    GRADING = Stream("grading", by_entity=True, noise=range(0, 1_000_000),
                     selection=range(1_000_000, 2_000_000))
    """Per park (entity ``park id`` plus the range's start) and grading round: the assessors' noise
    and the demonstration selection draw."""

    ALL = (POOL, FIRM, MOVE, PARK, PROJECT, FORMATION, INITIAL, GRADING)
