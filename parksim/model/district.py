"""The district pool: ~30,000 small and micro firms outside the parks, held as arrays.

Firms outside parks are not processes. At the start of a replication the pool draws, for
every firm at once and from keyed streams (so a firm keeps its luck across scenarios): its
sector, revenue, age, R&D and tech status, floor factor, the time it would die and the time
relocation pressure (rectification of "低小散" workshops) makes it apply to a park. New firm
formation adds firms on keyed arrival times. One process, :func:`applications`, then walks
through the applications in time order; each applicant is screened (:func:`screen`) against
each park's positioning and entry standards, and either enters a park (becoming an
:class:`~parksim.model.enterprise.Enterprise` process) or tries again later.
"""

from __future__ import annotations

import heapq
import math
from statistics import NormalDist

import numpy as np
from scipy.special import ndtri

from parksim.model.shocks import _interp_flat
from parksim.rng import keyed_uniform, keyed_uniforms, stream_seeds

__all__ = ["Pool", "applications"]

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
        self.size = n
        self.key = key
        self.scale_year = math.sqrt(2.0) * scenario.enterprises.growth_scale_per_year
        self.drift = scenario.enterprises.growth_drift_per_year

    def revenue_at(self, firm: int, t: float, attempt: int) -> float:
        """Revenue of a pool firm at ``t``: its start revenue grown by a keyed random walk."""
        years = (t - self.since[firm]) / 12.0
        z = 0.0
        if years > 0:
            u = keyed_uniform(int(self.seeds[firm]), 100 + attempt)
            z = _inv_norm(min(max(u, 1e-12), 1 - 1e-12)) * self.scale_year * math.sqrt(years)
        return math.exp(float(self.log_revenue0[firm]) + self.drift * max(years, 0.0) + z)

    def first_applications(self, horizon: float) -> list[tuple[float, int, int]]:
        """(time, firm, attempt) of every first application inside the horizon."""
        mask = (self.applies_at < self.dies_at) & (self.applies_at < horizon) & (self.state == POOL)
        firms = np.flatnonzero(mask)
        times = self.applies_at[firms]
        order = np.argsort(times, kind="stable")
        return [(float(times[i]), int(firms[i]), 0) for i in order]


def screen(ctx, firm: int, attempt: int, t: float):
    """Screen an applicant: ``(park, revenue, need_m2)`` when admitted, else ``None``."""
    pool = ctx.pool
    adm = ctx.scenario.parks.admission
    revenue = pool.revenue_at(firm, t, attempt)
    if revenue < adm.min_revenue_yuan or revenue >= ctx.firm_params.upgrade_threshold:
        return None
    seed = int(pool.seeds[firm])
    rd = bool(pool.rd[firm])
    p = adm.pass_probability * (adm.rd_pass_multiplier if rd else 1.0)
    if keyed_uniform(seed, 200 + attempt) >= p:
        return None
    need = ctx.floor_need(revenue, float(pool.floor_factor[firm]))
    sector = int(pool.sector[firm])
    lead, other = [], []
    share = adm.lead_sector_min_share
    for park in ctx.parks:
        if park.admits(sector, need, share):
            (lead if park.lead_sector == sector else other).append(park)
    choice = lead or other
    if not choice:
        return None
    pick = choice[int(keyed_uniform(seed, 300 + attempt) * len(choice))]
    return pick, revenue, need


def applications(ctx):
    """Walk through applications in time order; admitted firms enter, rejected ones may retry."""
    env = ctx.env
    pool = ctx.pool
    d = ctx.scenario.district
    heap = pool.first_applications(ctx.horizon)
    heapq.heapify(heap)
    horizon = ctx.horizon
    while heap:
        t, firm, attempt = heapq.heappop(heap)
        if t >= horizon:
            return
        if t > env.now:
            yield env.timeout(t - env.now)
        if pool.state[firm] != POOL or t >= pool.dies_at[firm]:
            continue
        admitted = screen(ctx, firm, attempt, t)
        if admitted is not None:
            park, revenue, need = admitted
            ctx.enter(firm, park, revenue, need)
        elif attempt + 1 < d.max_applications:
            u = keyed_uniform(int(pool.seeds[firm]), 400 + attempt)
            heapq.heappush(heap, (t - d.reapply_months * math.log1p(-u), firm, attempt + 1))
