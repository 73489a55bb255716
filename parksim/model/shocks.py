"""Time-windowed shocks and the age-dependent exit hazard, as functions of model time.

Both are pure arithmetic on the scenario, kept apart from the processes so that a firm's
review can ask "how much extra hazard and how much lost growth fall into my next interval?"
in a few multiplications, and so that tests can check them without SimPy. Each rule has one
vectorised implementation; a single interval is an array of length one. The twin
(:mod:`parksim.validation.twin`) does not use them: it reads the same scenario and does this
arithmetic its own way, so that a mistake here shows up as a disagreement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parksim.calendar import month_index

__all__ = ["ShockSchedule", "ShockWindow", "AgeHazard", "inverse_interp"]


@dataclass(frozen=True, slots=True)
class ShockWindow:
    """One shock in model months: from ``t0`` to before ``t1``, its drift in log revenue per
    year, its multipliers on the exit hazard and on relocation pressure, and the half-life in
    months of the recovery after it (infinite: none)."""

    t0: float
    t1: float
    growth_drift_per_year: float
    exit_hazard_multiplier: float
    relocation_multiplier: float
    half_life: float = math.inf

    def taken(self, t: np.ndarray) -> np.ndarray:
        """The log revenue the shock has taken from a firm by ``t`` (negative: added): the
        drift over the part of the window before ``t``, less what has come back since."""
        inside = np.clip(t - self.t0, 0.0, self.t1 - self.t0)
        taken = -self.growth_drift_per_year * inside / 12.0
        if math.isfinite(self.half_life):
            after = np.maximum(t - self.t1, 0.0)
            taken = taken * np.exp2(-after / self.half_life)
        return taken


class ShockSchedule:
    """The scenario's shocks as windows ``[t0, t1)`` in model months, and its rectification
    campaigns, which only raise the pressure to relocate (windows with no other effect, kept
    apart so that the reports' arithmetic does not walk them)."""

    def __init__(self, shocks, start: str, campaigns=()):
        self.windows = [
            ShockWindow(float(month_index(start, s.start)), float(month_index(start, s.end) + 1),
                        s.growth_drift_per_year, s.exit_hazard_multiplier, s.relocation_multiplier,
                        math.inf if s.recovery_half_life_months is None
                        else s.recovery_half_life_months)
            for s in shocks
        ]
        self.campaigns = [
            ShockWindow(float(month_index(start, c.start)), float(month_index(start, c.end) + 1),
                        0.0, 1.0, c.pressure_multiplier)
            for c in campaigns
        ]

    def effects(
        self, a: np.ndarray, b: float | np.ndarray
    ) -> tuple[np.ndarray | float, np.ndarray | float]:
        """For intervals ``[a_i, b_i)``: the shocks' change of log revenue over each (what they
        took by ``a`` less what they have taken by ``b``: a loss inside a window, a gain while
        it comes back), and the factor on its mean exit hazard (the shocks' multipliers
        averaged over the window's part of it)."""
        if not self.windows:
            return 0.0, 1.0
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        span = b - a
        drift = np.zeros(len(a))
        factor = np.ones(len(a))
        for w in self.windows:
            overlap = np.clip(np.minimum(b, w.t1) - np.maximum(a, w.t0), 0.0, None)
            drift += w.taken(a) - w.taken(b)
            with np.errstate(divide="ignore", invalid="ignore"):
                factor += np.where(span > 0, (w.exit_hazard_multiplier - 1.0) * overlap / span, 0.0)
        return drift, np.maximum(factor, 0.0)

    def taken(self, t: np.ndarray) -> np.ndarray | float:
        """What the shocks have taken from a firm's log revenue by ``t`` and not yet given
        back (negative: added)."""
        if not self.windows:
            return 0.0
        t = np.asarray(t, dtype=float)
        return sum(w.taken(t) for w in self.windows)

    def relocation_profile(self, months: int) -> np.ndarray:
        """Multiplier of relocation pressure in each month ``0 .. months-1``: the shocks', then
        the campaigns' (all that are under way multiply)."""
        profile = np.ones(months)
        for w in (*self.windows, *self.campaigns):
            lo, hi = max(int(w.t0), 0), min(int(w.t1), months)
            if hi > lo:
                profile[lo:hi] *= w.relocation_multiplier
        return profile


class AgeHazard:
    """Piecewise-constant annual exit hazard by age; the last value applies beyond the table."""

    def __init__(self, by_age: tuple[float, ...]):
        self.h = np.asarray(by_age, dtype=float)
        self.cum = np.concatenate([[0.0], np.cumsum(self.h)])
        self.n = len(self.h)

    def cumulative(self, ages: np.ndarray) -> np.ndarray:
        """Integrated hazard from age 0 to each of ``ages`` (years)."""
        ages = np.maximum(np.asarray(ages, dtype=float), 0.0)
        grid = np.arange(self.n + 1, dtype=float)
        inside = np.interp(ages, grid, self.cum)
        beyond = self.cum[-1] + self.h[-1] * (ages - self.n)
        return np.where(ages >= self.n, beyond, inside)

    def between(self, ages: np.ndarray, years: float | np.ndarray) -> np.ndarray:
        """Integrated hazard over ``[age, age + years)`` for each age."""
        return self.cumulative(ages + years) - self.cumulative(ages)

    def inverse(self, targets: np.ndarray) -> np.ndarray:
        """Age at which the integrated hazard reaches ``targets`` (vectorised)."""
        targets = np.asarray(targets, dtype=float)
        grid = np.arange(self.n + 1, dtype=float)
        last = self.h[-1]
        inside = (
            np.interp(targets, self.cum, grid)
            if np.all(np.diff(self.cum) > 0)
            else inverse_interp(targets, self.cum, grid)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            beyond = (
                self.n + (targets - self.cum[-1]) / last
                if last > 0
                else np.full_like(targets, math.inf)
            )
        return np.where(targets >= self.cum[-1], beyond, inside)


def inverse_interp(y: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Inverse interpolation that tolerates flat stretches (zero hazard at some ages)."""
    idx = np.searchsorted(xp, y, side="right") - 1
    idx = np.clip(idx, 0, len(xp) - 2)
    x0, x1 = xp[idx], xp[idx + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(x1 > x0, (y - x0) / (x1 - x0), 0.0)
    return fp[idx] + frac * (fp[idx + 1] - fp[idx])
