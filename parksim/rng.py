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
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["Streams", "replication_seed", "keyed_uniform", "keyed_uniforms", "firm_stream_seed", "stream_seeds", "seeded_uniforms"]

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


def keyed_uniforms(key: int, entities: np.ndarray, draw: int | np.ndarray = 0) -> np.ndarray:
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

    def generator(self, purpose: str) -> np.random.Generator:
        """A numpy Generator for draws that are not tied to one firm or park."""
        return np.random.Generator(np.random.PCG64(self.key(purpose)))
