"""The district pool: ~30,000 small and micro firms outside the parks, held as arrays.

Firms outside parks are not processes. At the start of a replication the pool draws, for
every firm at once and from keyed streams (so a firm keeps its luck across scenarios): its
sector, revenue, age and the time relocation pressure (rectification of "低小散" workshops)
makes it apply to a park; its R&D and tech status, floor factor and the time it would die are
drawn from the same streams only for the firms that need them (:meth:`Pool.traits`,
:meth:`Pool.dies_at`), since most of the pool never applies within a run. New firm formation
adds firms on keyed arrival times. Applicants are screened against the entry standards in
bulk (:class:`Screening`); :class:`Applications`, a chain of timeouts with callbacks, then
walks through the passing applications in time order, and each either enters a park whose
positioning and free floor admit it (becoming a row of the
:class:`~parksim.model.enterprise.FirmTable`) or tries again later.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy.special import ndtri

from parksim.model.enterprise import first_intervals, support_entrant
from parksim.model.policies import Cohort
from parksim.model.shocks import _interp_flat
from parksim.rng import keyed_uniform, keyed_uniforms, seeded_uniforms, stream_seeds

__all__ = ["Pool", "Screening", "Applications", "choose_park"]

POOL, PLACED = 0, 1


def _normal(u: np.ndarray) -> np.ndarray:
    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))


class Pool:
    """Attributes of every firm outside parks (and of those that have left it), as arrays; the
    attributes only applicants and seated firms need are drawn for them on demand."""

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
        self.seeds = stream_seeds(key, ids)
        u_sector, u_revenue, u_age, u_relocation = seeded_uniforms(self.seeds, np.array([0, 1, 2, 7])[:, None])
        shares = np.array(list(d.sectors.values()), dtype=float)
        self.sector = np.searchsorted(np.cumsum(shares / shares.sum()), u_sector, side="right").clip(0, len(shares) - 1)
        self.log_revenue0 = math.log(d.revenue_median_yuan) + d.revenue_log_sigma * _normal(u_revenue)
        age0 = -d.age_mean_years * np.log1p(-u_age)
        self.born_at = np.concatenate([-age0[:n0] * 12.0, births])
        self.since = np.maximum(self.born_at, 0.0)
        self._age_in = np.where(ids < n0, age0, 0.0)  # age at entry to the model (new firms: 0)
        self._district = d
        self._hazard = ctx.age_hazard
        # relocation: the cumulative relocation pressure R(t) on a monthly grid, inverted at R(since) + E
        months = int(math.ceil(horizon))
        monthly = d.relocation_rate_per_year / 12.0 * ctx.shocks.relocation_profile(months)
        grid = np.arange(months + 1, dtype=float)
        cum = np.concatenate([[0.0], np.cumsum(monthly)])
        target = np.interp(self.since, grid, cum) - np.log1p(-u_relocation)
        self.applies_at = np.where(target < cum[-1], _interp_flat(target, cum, grid), np.inf)
        self.state = np.zeros(n, dtype=np.int8)
        self.n_initial = n0
        e = scenario.enterprises
        self.scale_year = math.sqrt(2.0) * e.growth_scale_per_year
        self.size_exponent = e.growth_size_exponent
        self.log_reference = math.log(e.growth_reference_revenue_yuan)
        self.drift = e.growth_drift_per_year

    def traits(self, firms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tech, R&D, floor factor) of ``firms``, from their keyed draws.

        Drawn only for the firms that need them (applicants, firms seated at the start): most
        of the pool never applies within a run.
        """
        d = self._district
        u_rd, u_tech, u_floor = seeded_uniforms(self.seeds[firms], np.array([3, 4, 5])[:, None])
        tech = u_tech < d.tech_share
        return tech, (u_rd < d.rd_share) | tech, np.exp(d.floor_log_sigma * _normal(u_floor))

    def dies_at(self, firms: np.ndarray) -> np.ndarray:
        """When ``firms`` would die: the age at which the integrated hazard, from their age at
        entry to the model, rises by E ~ Exp(1) (a keyed draw)."""
        hazard = self._hazard
        rise = -np.log1p(-seeded_uniforms(self.seeds[firms], 6))
        return self.born_at[firms] + hazard.inverse_array(hazard.cumulative_array(self._age_in[firms]) + rise) * 12.0

    def grow_all(self, firms: np.ndarray, log_revenue: np.ndarray, years: np.ndarray, attempt: int) -> np.ndarray:
        """One step of each firm's log-revenue random walk, ending at its application ``attempt``.

        A normal step with the Laplace walk's variance (2 b^2 per year, b shrinking with size):
        outside parks only a firm's revenue at its applications matters, so the walk is sampled
        at those instants and nowhere else.
        """
        years = np.maximum(years, 0.0)
        scale = self.scale_year * np.exp(-self.size_exponent * (log_revenue - self.log_reference))
        z = _normal(seeded_uniforms(self.seeds[firms], 100 + attempt))
        return log_revenue + self.drift * years + scale * np.sqrt(years) * z


class Screening:
    """Admission screening (准入) of pool applicants against the entry standards.

    Whether an application passes the standards depends only on the firm and its keyed draws,
    not on the state of the parks, so every application that will pass is found in bulk, with
    numpy, before the run (:meth:`passing`); only those wake :class:`Applications`, which
    then looks for a park with room.
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
        self.ctx = ctx

    def passing(self) -> tuple[list[tuple], dict[int, list[tuple]]]:
        """Every passing application: each firm's first, and its later ones (by firm).

        An application is ``(time, firm, attempt, revenue, floor need, firm stream seed, end of
        first interval, exit hazard over it without support, exit draw, lever terms of its batch
        and its place in them, sector, pool stream seed, birth time, R&D, tech, floor factor)`` (see
        :func:`~parksim.model.enterprise.first_intervals`): everything entering a park needs,
        as plain numbers, but for the lever terms (an
        :class:`~parksim.model.enterprise.EntrantTerms` shared by a batch). A firm's attempts,
        their times, its revenue at each and what would happen in its first interval in a park
        are fixed by its keyed draws alone, so they are all found here in bulk; a later attempt
        is used only if the earlier found no room (:class:`Applications`).
        """
        ctx = self.ctx
        params = ctx.firm_params
        pool = self.pool
        firms = np.flatnonzero((pool.applies_at < self.horizon) & (pool.state == POOL))
        dies = pool.dies_at(firms)
        alive = pool.applies_at[firms] < dies
        firms, dies = firms[alive], dies[alive]
        t = pool.applies_at[firms]
        last = pool.since[firms]
        log_revenue = pool.log_revenue0[firms]
        seeds = pool.seeds[firms]
        tech, rd, floor_factor = pool.traits(firms)
        p = self.pass_probability * np.where(rd, self.rd_multiplier, 1.0)
        active = np.ones(len(firms), dtype=bool)
        seen = np.zeros(len(firms), dtype=bool)
        firm_seeds = stream_seeds(ctx.firm_key, firms)
        first: list[tuple] = []
        later: dict[int, list[tuple]] = {}
        for attempt in range(self.max_applications):
            active &= (t < dies) & (t < self.horizon)
            log_revenue = pool.grow_all(firms, log_revenue, (t - last) / 12.0, attempt)
            last = t
            revenue = np.exp(log_revenue)
            ok = active & (revenue >= self.min_revenue) & (revenue < self.max_revenue)
            ok &= seeded_uniforms(seeds, 200 + attempt) < p
            i = np.flatnonzero(ok)
            need = params.floor_need(revenue[i], floor_factor[i])
            entrants = Cohort(i, firms[i], None, revenue[i], need, t[i])
            until, hazard, exposure, terms = first_intervals(ctx, t[i], pool.born_at[firms[i]], entrants, firm_seeds[i])
            f = firms[i]
            rows = zip(t[i].tolist(), f.tolist(), [attempt] * len(i), revenue[i].tolist(), need.tolist(),
                       firm_seeds[i].tolist(), until, hazard, exposure, [terms] * len(i), range(len(i)),
                       pool.sector[f].tolist(), pool.seeds[f].tolist(),
                       pool.born_at[f].tolist(), rd[i].tolist(), tech[i].tolist(), floor_factor[i].tolist(),
                       strict=True)
            for row, again in zip(rows, seen[i].tolist(), strict=True):
                if again:
                    later.setdefault(row[1], []).append(row)
                else:
                    first.append(row)
            seen |= ok
            t = np.where(active, t - self.reapply_months * np.log1p(-seeded_uniforms(seeds, 400 + attempt)), t)
        for rows in later.values():
            rows.reverse()  # popped from the end, earliest first
        return first, later


def choose_park(ctx, sector: int, seed: int, attempt: int, need_m2: float):
    """A park whose positioning and free floor admit the firm (lead-sector parks first), or None.

    Uniform among the parks that admit it, found among the parks with any room
    (:class:`~parksim.model.parks.Vacancies`): a short list is scanned; in a long one a few
    keyed random picks come first, and a scan only if none of them fits. An applicant no park
    can take is refused without a look at the parks (:meth:`~parksim.model.parks.Vacancies.may_admit`).
    """
    vacancies = ctx.vacancies
    if not vacancies.may_admit(sector, need_m2):
        return None
    base = 1000 + 16 * attempt
    lead = vacancies.by_sector[sector]
    if lead:
        park = _probe(lead, seed, base, lambda park: park.free_m2 >= need_m2)
        if park is None:
            park = _one_of([park for park in lead if park.free_m2 >= need_m2], seed, base)
        if park is not None:
            return park
    share = vacancies.lead_min_share
    others = vacancies.all
    base += 8
    park = _probe(others, seed, base, lambda park: park.lead_sector != sector and park.admits_other(need_m2, share))
    if park is None:
        park = _one_of([park for park in others if park.lead_sector != sector and park.free_m2 >= need_m2
                        and park.open_to_others(share)], seed, base)
    return park


def _probe(parks: list, seed: int, base: int, admits) -> object | None:
    """In a long list of parks, a park that ``admits`` the firm among a few keyed random picks
    (draws ``base`` ..); None if none of them does, or if the list is short enough to scan."""
    if len(parks) > _SHORT:
        for i in range(4):
            park = parks[int(keyed_uniform(seed, base + i) * len(parks))]
            if admits(park):
                return park
    return None


def _one_of(fits: list, seed: int, base: int) -> object | None:
    """A uniformly random park of ``fits`` (keyed draw ``base + 4``), or None if it is empty."""
    return fits[int(keyed_uniform(seed, base + 4) * len(fits))] if fits else None


_SHORT = 24
"""Lists of parks up to this long are scanned rather than sampled."""


class Applications:
    """The passing applications (:meth:`Screening.passing`), walked through in time order.

    Not a process: a chain of SimPy timeouts with callbacks, one event per application time.
    At each, the applicant enters a park whose positioning and free floor admit it
    (:func:`choose_park`), or its next passing application is queued. The chain starts at
    *t* = 0 after the processes have started, when the vacancy lists learn the smallest floor
    need of any applicant.
    """

    __slots__ = ("ctx", "env", "heap", "later", "smallest_need")

    def __init__(self, ctx, passing: tuple[list[tuple], dict[int, list[tuple]]]):
        self.ctx = ctx
        self.env = ctx.env
        self.heap, self.later = passing
        heapq.heapify(self.heap)
        self.smallest_need = min([row[4] for row in self.heap] + [row[4] for rows in self.later.values() for row in rows],
                                 default=math.inf)
        self.env.timeout(0.0).callbacks.append(self._open)

    def _open(self, _event) -> None:
        self.ctx.vacancies.admit_from(self.smallest_need, self.ctx.parks)
        self._apply(None)

    def _apply(self, _event) -> None:
        """Take every application due now, then wait for the next one."""
        ctx, heap, later = self.ctx, self.heap, self.later
        now = self.env.now
        while heap and heap[0][0] <= now:
            (t, firm, attempt, revenue, need, seed, until, hazard, exposure, terms, i,
             sector, pool_seed, born, rd, tech, floor_factor) = heapq.heappop(heap)
            park = choose_park(ctx, sector, pool_seed, attempt, need)
            if park is not None:
                row = ctx.enter(park, t, until, firm, revenue, need, seed, sector, born, rd, tech, floor_factor)
                support_entrant(ctx, row, firm, park, t, until, hazard, exposure, terms, i)
            elif firm in later:
                retries = later[firm]
                heapq.heappush(heap, retries.pop())
                if not retries:
                    del later[firm]
        if heap:
            self.env.timeout(heap[0][0] - now).callbacks.append(self._apply)
