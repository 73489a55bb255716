"""The district pool: ~30,000 small and micro firms outside the parks, held as arrays.

Firms outside parks are not processes. At the start of a replication the pool draws, for
every firm at once and from keyed streams (so a firm keeps its luck across scenarios): its
sector, revenue, age, R&D and tech status, floor factor, the time it would die and the time
relocation pressure (rectification of "低小散" workshops) makes it apply to a park. New firm
formation adds firms on keyed arrival times. Applicants are screened against the entry
standards in bulk (:class:`Screening`); one process, :func:`applications`, then walks through
the passing applications in time order, and each either enters a park whose positioning and
free floor admit it (becoming an :class:`~parksim.model.enterprise.Enterprise` process) or
tries again later.
"""

from __future__ import annotations

import heapq
import math
from statistics import NormalDist

import numpy as np
from scipy.special import ndtri

from parksim.model.shocks import _interp_flat
from parksim.rng import keyed_uniform, keyed_uniforms, seeded_uniforms, stream_seeds

__all__ = ["Pool", "Screening", "applications", "choose_park"]

_inv_norm = NormalDist().inv_cdf
POOL, PLACED = 0, 1


def _normal(u: np.ndarray) -> np.ndarray:
    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))


class Pool:
    """Attributes of every firm outside parks (and of those that have left it), as arrays."""

    def __init__(self, ctx):
        scenario = ctx.scenario
        d = scenario.district
        horizon = ctx.horizon
        key = ctx.streams.key("pool")
        n0 = d.firms
        # new firm formation: keyed exponential gaps at a rate proportional to the initial pool
        rate = d.formation_rate_per_year * n0 / 12.0
        if rate > 0:
            expected = rate * horizon
            cap = int(expected + 10 * math.sqrt(expected) + 20)
            gaps = -np.log1p(-keyed_uniforms(ctx.streams.key("formation"), np.arange(cap))) / rate
            births = np.cumsum(gaps)
            births = births[births < horizon]
        else:
            births = np.zeros(0)
        n = n0 + len(births)
        ids = np.arange(n, dtype=np.int64)
        u = [keyed_uniforms(key, ids, j) for j in range(8)]
        shares = np.array(list(d.sectors.values()), dtype=float)
        self.sector = np.searchsorted(np.cumsum(shares / shares.sum()), u[0], side="right").clip(0, len(shares) - 1)
        self.log_revenue0 = math.log(d.revenue_median_yuan) + d.revenue_log_sigma * _normal(u[1])
        age0 = -d.age_mean_years * np.log1p(-u[2])
        self.born_at = np.concatenate([-age0[:n0] * 12.0, births])
        self.since = np.maximum(self.born_at, 0.0)
        self.tech = u[4] < d.tech_share
        self.rd = (u[3] < d.rd_share) | self.tech
        self.floor_factor = np.exp(d.floor_log_sigma * _normal(u[5]))
        # death: age at which the integrated hazard, from the age at entry to the model, rises by E~Exp(1)
        hazard = ctx.age_hazard
        age_in = np.where(ids < n0, age0, 0.0)
        age_death = hazard.inverse_array(hazard.cumulative_array(age_in) - np.log1p(-u[6]))
        self.dies_at = self.born_at + age_death * 12.0
        # relocation: the cumulative relocation pressure R(t) on a monthly grid, inverted at R(since) + E
        months = int(math.ceil(horizon))
        monthly = d.relocation_rate_per_year / 12.0 * ctx.shocks.relocation_profile(months)
        grid = np.arange(months + 1, dtype=float)
        cum = np.concatenate([[0.0], np.cumsum(monthly)])
        target = np.interp(self.since, grid, cum) - np.log1p(-u[7])
        self.applies_at = np.where(target < cum[-1], _interp_flat(target, cum, grid), np.inf)
        self.seeds = stream_seeds(key, ids)
        self.state = np.zeros(n, dtype=np.int8)
        self.n_initial = n0
        e = scenario.enterprises
        self.scale_year = math.sqrt(2.0) * e.growth_scale_per_year
        self.size_exponent = e.growth_size_exponent
        self.log_reference = math.log(e.growth_reference_revenue_yuan)
        self.drift = e.growth_drift_per_year

    def grow(self, firm: int, log_revenue: float, years: float, attempt: int) -> float:
        """One step of a pool firm's log-revenue random walk, ending at its application ``attempt``.

        A normal step with the Laplace walk's variance (2 b^2 per year, b shrinking with size):
        outside parks only the firm's revenue at its applications matters, so the walk is
        sampled at those instants and nowhere else.
        """
        if years <= 0:
            return log_revenue
        u = keyed_uniform(int(self.seeds[firm]), 100 + attempt)
        scale = self.scale_year * math.exp(-self.size_exponent * (log_revenue - self.log_reference))
        return log_revenue + self.drift * years + scale * math.sqrt(years) * _inv_norm(min(max(u, 1e-12), 1 - 1e-12))

    def grow_all(self, firms: np.ndarray, log_revenue: np.ndarray, years: np.ndarray, attempt: int) -> np.ndarray:
        """Vectorised :meth:`grow`."""
        years = np.maximum(years, 0.0)
        scale = self.scale_year * np.exp(-self.size_exponent * (log_revenue - self.log_reference))
        z = _normal(seeded_uniforms(self.seeds[firms], 100 + attempt))
        return log_revenue + self.drift * years + scale * np.sqrt(years) * z


class Screening:
    """Admission screening (准入) of pool applicants against the entry standards.

    Whether an application passes the standards depends only on the firm and its keyed draws,
    not on the state of the parks, so every application that will pass is found in bulk, with
    numpy, before the run (:meth:`passing`); only those wake the applications process, which
    then looks for a park with room (:func:`applications`).
    """

    def __init__(self, ctx):
        adm = ctx.scenario.parks.admission
        d = ctx.scenario.district
        self.pool = ctx.pool
        self.min_revenue = adm.min_revenue_yuan
        self.max_revenue = ctx.firm_params.upgrade_threshold
        self.pass_probability = adm.pass_probability
        self.rd_multiplier = adm.rd_pass_multiplier
        self.max_applications = d.max_applications
        self.reapply_months = d.reapply_months
        self.horizon = ctx.horizon

    def passing(self) -> list[tuple[float, int, int, float]]:
        """``(time, firm, attempt, revenue)`` of each firm's first application that passes."""
        pool = self.pool
        firms = np.flatnonzero((pool.applies_at < pool.dies_at) & (pool.applies_at < self.horizon) & (pool.state == POOL))
        t = pool.applies_at[firms]
        last = pool.since[firms]
        log_revenue = pool.log_revenue0[firms]
        seeds = pool.seeds[firms]
        dies = pool.dies_at[firms]
        p = self.pass_probability * np.where(pool.rd[firms], self.rd_multiplier, 1.0)
        active = np.ones(len(firms), dtype=bool)
        found: list[tuple[float, int, int, float]] = []
        for attempt in range(self.max_applications):
            active &= (t < dies) & (t < self.horizon)
            log_revenue = pool.grow_all(firms, log_revenue, (t - last) / 12.0, attempt)
            last = t
            revenue = np.exp(log_revenue)
            ok = active & (revenue >= self.min_revenue) & (revenue < self.max_revenue)
            ok &= seeded_uniforms(seeds, 200 + attempt) < p
            found.extend(zip(t[ok].tolist(), firms[ok].tolist(), [attempt] * int(ok.sum()), revenue[ok].tolist(), strict=True))
            active &= ~ok
            t = np.where(active, t - self.reapply_months * np.log1p(-seeded_uniforms(seeds, 400 + attempt)), t)
        return found

    def next_passing(self, firm: int, t: float, attempt: int, revenue: float) -> tuple[float, int, int, float] | None:
        """After ``attempt`` (at ``t``, with ``revenue``) found no room: the next application that passes."""
        pool = self.pool
        seed = int(pool.seeds[firm])
        dies = float(pool.dies_at[firm])
        p = self.pass_probability * (self.rd_multiplier if pool.rd[firm] else 1.0)
        log_revenue = math.log(revenue)
        while attempt + 1 < self.max_applications:
            last = t
            t -= self.reapply_months * math.log1p(-keyed_uniform(seed, 400 + attempt))
            attempt += 1
            if t >= dies or t >= self.horizon:
                return None
            log_revenue = pool.grow(firm, log_revenue, (t - last) / 12.0, attempt)
            revenue = math.exp(log_revenue)
            if self.min_revenue <= revenue < self.max_revenue and keyed_uniform(seed, 200 + attempt) < p:
                return t, firm, attempt, revenue
        return None


def choose_park(ctx, firm: int, attempt: int, need_m2: float):
    """A park whose positioning and free floor admit the firm (lead-sector parks first), or None."""
    pool = ctx.pool
    sector = int(pool.sector[firm])
    share = ctx.scenario.parks.admission.lead_sector_min_share
    lead, other = [], []
    for park in ctx.parks:
        if park.admits(sector, need_m2, share):
            (lead if park.lead_sector == sector else other).append(park)
    choice = lead or other
    if not choice:
        return None
    return choice[int(keyed_uniform(int(pool.seeds[firm]), 300 + attempt) * len(choice))]


def applications(ctx):
    """Walk through passing applications in time order: enter a park with room, or try again later."""
    env = ctx.env
    pool = ctx.pool
    screening = Screening(ctx)
    heap = screening.passing()
    heapq.heapify(heap)
    while heap:
        t, firm, attempt, revenue = heapq.heappop(heap)
        if t > env.now:
            yield env.timeout(t - env.now)
        if pool.state[firm] != POOL:
            continue
        need = ctx.floor_need(revenue, float(pool.floor_factor[firm]))
        park = choose_park(ctx, firm, attempt, need)
        if park is not None:
            ctx.enter(firm, park, revenue, need)
            continue
        retry = screening.next_passing(firm, t, attempt, revenue)
        if retry is not None:
            heapq.heappush(heap, retry)
