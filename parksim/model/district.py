"""The district pool: ~30,000 small and micro firms outside the parks, held as arrays.

Firms outside parks are not processes. At the start of a replication the pool draws, for
every firm at once and from keyed streams (so a firm keeps its luck across scenarios): its
sector, revenue, age and the time relocation pressure (rectification of "低小散" workshops)
makes it apply to a park; its R&D and tech status, floor factor and the time it would die are
drawn from the same streams only for the firms that need them (:meth:`Pool.traits`,
:meth:`Pool.dies_at`), since most of the pool never applies within a run. New firm formation
adds firms on keyed arrival times. Applicants are screened against the entry standards in
bulk (:class:`Screening`), which yields the passing applications as columns, one
:class:`ApplicationBatch` per round of applications; :class:`Applications`, a chain of
timeouts with callbacks, then walks through them in time order, and each either enters a park
whose positioning and free floor admit it (becoming a row of the
:class:`~parksim.model.enterprise.FirmTable`) or tries again later.

:class:`District` is the part of a replication's world that holds the pool, seats the firms
of the parks operating at the start, and runs the applications.
"""


from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from parksim.model.enterprise import first_intervals
from parksim.model.parks import choose_park
from parksim.model.policies import Cohort, EntrantTerms, cohort_profile
from parksim.model.shocks import inverse_interp
from parksim.rng import (
    PARK_CHOICE_DRAWS,
    Draw,
    keyed_uniforms,
    seeded_uniforms,
    stream_seeds,
)

if TYPE_CHECKING:
    from parksim.model.context import Context
    from parksim.model.enterprise import Tenancy
    from parksim.model.parks import Park, Parks
    from parksim.model.shocks import AgeHazard

__all__ = ["District", "Pool", "Screening", "ApplicationBatch", "Applications", "choose_park"]

POOL, PLACED = 0, 1


def _normal(u: np.ndarray) -> np.ndarray:
    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))


LEAST_NET_RENT = 0.05
"""The smallest net rent a firm weighs, as a share of the market rent: a lease relieved whole
(or a park letting for nothing) is weighed as one at 5% of the market rent, so that acceptance
stays finite."""


class District:
    """The district outside the parks: the pool of firms, the entry standards they are screened
    against, the seating of the firms of the parks operating at the start, and the applications."""

    def __init__(self, ctx: Context, parks: Parks, tenancy: Tenancy):
        scenario = ctx.scenario
        self.env = ctx.env
        self.horizon = ctx.horizon
        self.scenario = scenario
        self.parks = parks
        self.tenancy = tenancy
        self.initial_key = ctx.streams.key(Draw.INITIAL.key)
        self.shocks = ctx.shocks
        self.min_revenue = scenario.parks.admission.min_revenue_yuan
        self.max_revenue = tenancy.params.upgrade_threshold
        self.pool = Pool(ctx, tenancy.age_hazard)
        self.applications: Applications | None = None

    def accepts(self, park: Park, batch: ApplicationBatch, i: int, t: float) -> bool:
        """Whether applicant ``i`` of ``batch``, admitted by ``park`` at ``t``, takes it: with
        probability ``acceptance_probability``, times ``platform_acceptance_multiplier`` where
        the park has a service platform and ``off_sector_acceptance_multiplier`` where its lead
        sector is not the firm's, times (market rent / net rent) ** ``rent_elasticity``, where
        net rent is the park's rent (a buyer's cost of owning) less the rent relief the firm
        expects there (:meth:`~parksim.model.policies.Policy.expected_rent_relief`); at most 1.
        One keyed draw per application."""
        d = self.scenario.district
        p = d.acceptance_probability
        if park.has_platform:
            p *= d.platform_acceptance_multiplier
        if batch.sector[i] != park.lead_sector:
            p *= d.off_sector_acceptance_multiplier
        if d.rent_elasticity > 0:
            relief = self.tenancy.policy.expected_rent_relief(batch.terms, i, park, t,
                                                              d.lease_years)
            net = park.rent_ratio * (1.0 - relief)
            p *= (1.0 / max(net, LEAST_NET_RENT)) ** d.rent_elasticity
        return batch.accept_u[i] < p

    def meets_standards(self, revenue: np.ndarray) -> np.ndarray:
        """Whether firms of these revenues meet the entry standards' revenue window: at least
        the minimum, and still small or micro (below the upgrade line)."""
        return (revenue >= self.min_revenue) & (revenue < self.max_revenue)

    def open_applications(self) -> None:
        """Screen every application in bulk and start walking through the passing ones."""
        self.applications = Applications(self, Screening(self).passing())

    def seat_initial_firms(self) -> None:
        """Seat the firms already in operating parks at the start, drawn from the pool.

        Pool firms inside the admission window, in a keyed random order, are queued by sector;
        each operating park takes its lead-sector share from its sector's queue and the rest
        from the earliest of the other sectors' queues.
        """
        pool = self.pool
        n0 = pool.n_initial
        if n0 == 0:
            return
        revenue = np.exp(pool.log_revenue0[:n0])
        order = np.flatnonzero(self.meets_standards(revenue))
        order = order[
            np.argsort(keyed_uniforms(self.initial_key, order, Draw.INITIAL.order), kind="stable")
        ]
        queues = _SectorQueues(order, pool.sector[order], len(self.parks.sector_names), n0)
        lead_share = self.scenario.parks.admission.lead_sector_min_share
        for spec, park in zip(self.scenario.parks.initial, self.parks, strict=False):
            if spec.firms == 0 or spec.status != "operating":
                continue
            chosen = queues.take(park.lead_sector, spec.firms, math.ceil(spec.firms * lead_share))
            self._seat(park, chosen, revenue)

    def _seat(self, park: Park, chosen: np.ndarray, revenue: np.ndarray) -> None:
        """Seat ``chosen`` pool firms in ``park``, in queue order, where the floor left allows."""
        pool = self.pool
        tenancy = self.tenancy
        tech, rd, floor_factor = pool.traits(chosen)
        profile = pool.profile(chosen, rd)
        needs = tenancy.params.floor_need(revenue[chosen], floor_factor)
        free, seated = park.free_m2, []
        for k, need in enumerate(needs.tolist()):
            if free >= need:
                free -= need
                seated.append(k)
        if not seated:
            return
        firms = chosen[seated]
        pool.state[firms] = PLACED
        firm_revenue = revenue[firms]
        columns = {
            "firm": firms,
            "sector": pool.sector[firms],
            "born_at": pool.born_at[firms],
            "log_revenue": np.array([math.log(r) for r in firm_revenue.tolist()]),
            "rd": rd[seated],
            "tech": tech[seated],
            "floor_m2": needs[seated],
            "floor_factor": floor_factor[seated],
            "entered_at": -self.scenario.parks.initial_tenure_months,
            "since": 0.0,
            "until": 0.0,
            "seed": stream_seeds(tenancy.key, firms),
            **{name: values[seated] for name, values in profile.items()},
        }
        tenancy.seat(park, columns, firm_revenue, free)


class _SectorQueues:
    """Pool firms queued by sector in one keyed order, to seat the parks operating at the start."""

    def __init__(self, order: np.ndarray, sector: np.ndarray, sectors: int, n: int):
        self.queues = [order[sector == s].tolist() for s in range(sectors)]
        self.heads = [0] * sectors
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[order] = np.arange(len(order))

    def take(self, lead: int, n_firms: int, n_lead: int) -> np.ndarray:
        """Up to ``n_lead`` from the lead queue, then the others' earliest, up to ``n_firms``."""
        queues, heads, rank = self.queues, self.heads, self.rank
        wanted = min(n_lead, len(queues[lead]) - heads[lead])
        chosen = queues[lead][heads[lead]: heads[lead] + wanted]
        heads[lead] += wanted
        others = [
            (rank[q[heads[s]]], s) for s, q in enumerate(queues) if s != lead and heads[s] < len(q)
        ]
        heapq.heapify(others)
        while others and len(chosen) < n_firms:
            _, s = heapq.heappop(others)
            chosen.append(queues[s][heads[s]])
            heads[s] += 1
            if heads[s] < len(queues[s]):
                heapq.heappush(others, (rank[queues[s][heads[s]]], s))
        return np.asarray(chosen, dtype=np.int64)


class Pool:
    """Attributes of every firm outside parks (and of those that have left it), as arrays; the
    attributes only applicants and seated firms need are drawn for them on demand."""

    def __init__(self, ctx: Context, age_hazard: AgeHazard):
        scenario = ctx.scenario
        d = scenario.district
        horizon = ctx.horizon
        key = ctx.streams.key(Draw.POOL.key)
        n0 = d.firms
        # new firm formation: keyed exponential gaps at a rate proportional to the initial pool
        rate = d.formation_rate_per_year * n0 / 12.0
        if rate > 0:
            expected = rate * horizon
            cap = int(expected + 10 * math.sqrt(expected) + 20)
            gaps = -np.log1p(-keyed_uniforms(ctx.streams.key(Draw.FORMATION.key), np.arange(cap),
                                             Draw.FORMATION.arrival)) / rate
            births = np.cumsum(gaps)
            births = births[births < horizon]
        else:
            births = np.zeros(0)
        n = n0 + len(births)
        ids = np.arange(n, dtype=np.int64)
        self.seeds = stream_seeds(key, ids)
        draw = Draw.POOL
        u_sector, u_revenue, u_age, u_relocation = seeded_uniforms(
            self.seeds, np.array([draw.sector, draw.revenue, draw.age, draw.relocation])[:, None])
        shares = np.array(list(d.sectors.values()), dtype=float)
        self.sector = np.searchsorted(
            np.cumsum(shares / shares.sum()), u_sector, side="right"
        ).clip(0, len(shares) - 1)
        self.log_revenue0 = math.log(d.revenue_median_yuan) + d.revenue_log_sigma * _normal(
            u_revenue
        )
        age0 = -d.age_mean_years * np.log1p(-u_age)
        self.born_at = np.concatenate([-age0[:n0] * 12.0, births])
        self.since = np.maximum(self.born_at, 0.0)
        self._age_in = np.where(ids < n0, age0, 0.0)  # age at entry to the model (new firms: 0)
        self._district = d
        self._hazard = age_hazard
        self._shocks = ctx.shocks
        # relocation: the cumulative relocation pressure
        # R(t) on a monthly grid, inverted at R(since) + E
        months = int(math.ceil(horizon))
        monthly = d.relocation_rate_per_year / 12.0 * ctx.shocks.relocation_profile(months)
        grid = np.arange(months + 1, dtype=float)
        cum = np.concatenate([[0.0], np.cumsum(monthly)])
        target = np.interp(self.since, grid, cum) - np.log1p(-u_relocation)
        self.applies_at = np.where(target < cum[-1], inverse_interp(target, cum, grid), np.inf)
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
        draw = Draw.POOL
        u_rd, u_tech, u_floor = seeded_uniforms(
            self.seeds[firms], np.array([draw.rd, draw.tech, draw.floor_factor])[:, None]
        )
        tech = u_tech < d.tech_share
        return tech, (u_rd < d.rd_share) | tech, np.exp(d.floor_log_sigma * _normal(u_floor))

    def profile(self, firms: np.ndarray, rd: np.ndarray) -> dict[str, np.ndarray]:
        """What the policy targets in ``firms`` (doing R&D where ``rd``), from their keyed
        draws, by firm-table column: their revenue per employee relative to the median
        (``productivity``), their R&D intensity if they do R&D, whether they have an own brand
        or core technology, and whether they have access to bank credit."""
        d = self._district
        draw = Draw.POOL
        u_prod, u_rd, u_brand, u_credit = seeded_uniforms(
            self.seeds[firms],
            np.array([draw.productivity, draw.rd_intensity, draw.brand, draw.credit])[:, None],
        )
        return {
            "productivity": np.exp(d.revenue_per_employee_log_sigma * _normal(u_prod)),
            "rd_intensity": d.rd_intensity_median * np.exp(d.rd_intensity_log_sigma
                                                           * _normal(u_rd)),
            "brand": u_brand < np.where(rd, d.brand_share_rd_firms, d.brand_share_other_firms),
            "credit": u_credit < d.credit_access_share,
        }

    def dies_at(self, firms: np.ndarray) -> np.ndarray:
        """When ``firms`` would die: the age at which the integrated hazard, from their age at
        entry to the model, rises by E ~ Exp(1) (a keyed draw)."""
        hazard = self._hazard
        rise = -np.log1p(-seeded_uniforms(self.seeds[firms], Draw.POOL.death))
        return (
            self.born_at[firms]
            + hazard.inverse(hazard.cumulative(self._age_in[firms]) + rise) * 12.0
        )

    def grow_all(
        self, firms: np.ndarray, log_revenue: np.ndarray, since: np.ndarray, until: np.ndarray,
        attempt: int,
    ) -> np.ndarray:
        """One step of each firm's log-revenue random walk over ``[since, until)``, ending at
        its application ``attempt``.

        A normal step with the Laplace walk's variance (2 b^2 per year, b shrinking with size),
        plus what the shocks take or give back over it: outside parks only a firm's revenue at
        its applications matters, so the walk is sampled at those instants and nowhere else.
        """
        years = np.maximum((until - since) / 12.0, 0.0)
        scale = self.scale_year * np.exp(-self.size_exponent * (log_revenue - self.log_reference))
        z = _normal(seeded_uniforms(self.seeds[firms], Draw.POOL.walk + attempt))
        shock, _ = self._shocks.effects(since, until)
        return log_revenue + self.drift * years + scale * np.sqrt(years) * z + shock


class Screening:
    """Admission screening (准入) of pool applicants against the entry standards.

    Whether an application passes the standards depends only on the firm and its keyed draws,
    not on the state of the parks, so every application that will pass is found in bulk, with
    numpy, before the run (:meth:`passing`); only those wake :class:`Applications`, which
    then looks for a park with room.
    """

    def __init__(self, district: District):
        adm = district.scenario.parks.admission
        d = district.scenario.district
        self.district = district
        self.pool = district.pool
        self.fit_out_months = d.fit_out_months
        self.pass_probability = adm.pass_probability
        self.rd_multiplier = adm.rd_pass_multiplier
        self.max_applications = d.max_applications
        self.reapply_months = d.reapply_months
        self.horizon = district.horizon

    def passing(self) -> list[ApplicationBatch]:
        """Every passing application, one batch per round: a firm's first application is in
        round 0, its second in round 1, and so on.

        A firm's attempts, their times, its revenue at each and what would happen in its first
        interval in a park are fixed by its keyed draws alone, so they are all found here in
        bulk; a later attempt is used only if the earlier found no room (:class:`Applications`).
        """
        district = self.district
        tenancy = district.tenancy
        pool = self.pool
        draw = Draw.POOL
        shocks = district.shocks
        firms = np.flatnonzero((pool.applies_at < self.horizon) & (pool.state == POOL))
        dies = pool.dies_at(firms)
        alive = pool.applies_at[firms] < dies
        firms, dies = firms[alive], dies[alive]
        t = pool.applies_at[firms]
        last = pool.since[firms]
        log_revenue = pool.log_revenue0[firms]
        seeds = pool.seeds[firms]
        tech, rd, floor_factor = pool.traits(firms)
        profile = pool.profile(firms, rd)
        p = self.pass_probability * np.where(rd, self.rd_multiplier, 1.0)
        active = np.ones(len(firms), dtype=bool)
        seen = np.zeros(len(firms), dtype=bool)
        firm_seeds = stream_seeds(tenancy.key, firms)
        batches = []
        for attempt in range(self.max_applications):
            active &= (t < dies) & (t < self.horizon)
            log_revenue = pool.grow_all(firms, log_revenue, last, np.maximum(t, last), attempt)
            last = t
            revenue = np.exp(log_revenue)
            # the entry standards and the floor a firm rents read its usual revenue, not a
            # shock's low: a firm above the line does not become small or micro for a lockdown,
            # nor does a firm rent for its lockdown size; and one above the line in a boom is
            # not small or micro either
            usual = revenue * np.exp(shocks.taken(t))
            ok = active & district.meets_standards(usual) & (revenue < self.district.max_revenue)
            ok &= seeded_uniforms(seeds, draw.screening + attempt) < p
            i = np.flatnonzero(ok)
            need = tenancy.params.floor_need(usual[i], floor_factor[i])
            f = firms[i]
            entry = t[i] + self.fit_out_months  # a firm moves in once its floor is fitted out
            # its revenue as it moves in: what it had at its application, moved by what the
            # shocks took or gave back while it fitted out (its walk is not followed meanwhile)
            moving_in = revenue[i] * np.exp(shocks.taken(t[i]) - shocks.taken(entry))
            mine = {name: values[i] for name, values in profile.items()}
            entrants = Cohort(i, f, None, moving_in, need, entry, rd=rd[i],
                              **cohort_profile(mine, moving_in,
                                               tenancy.params.revenue_per_employee))
            born = pool.born_at[f]
            intervals = first_intervals(tenancy, born, entrants, firm_seeds[i])
            batches.append(
                ApplicationBatch(
                    attempt=attempt,
                    t=t[i].tolist(),
                    entry_t=entry.tolist(),
                    firm=f.tolist(),
                    revenue=moving_in.tolist(),
                    usual=usual[i].tolist(),
                    need_m2=need.tolist(),
                    seed=firm_seeds[i].tolist(),
                    until=intervals.until,
                    hazard=intervals.hazard,
                    no_credit_factor=intervals.no_credit_factor,
                    exposure=intervals.exposure,
                    terms=intervals.terms,
                    sector=pool.sector[f].tolist(),
                    pool_seed=pool.seeds[f].tolist(),
                    born_at=born.tolist(),
                    rd=rd[i].tolist(),
                    tech=tech[i].tolist(),
                    floor_factor=floor_factor[i].tolist(),
                    profile={name: values.tolist() for name, values in mine.items()},
                    retry=seen[i].tolist(),
                    accept_u=seeded_uniforms(seeds[i], draw.acceptance + attempt).tolist(),
                )
            )
            seen |= ok
            t = np.where(
                active,
                t - self.reapply_months * np.log1p(-seeded_uniforms(seeds, draw.reapply + attempt)),
                t,
            )
        return batches


@dataclass(frozen=True, slots=True)
class ApplicationBatch:
    """The passing applications of one round, as columns (lists, indexed by application):
    everything entering a park needs, as plain numbers.

    ``revenue`` is the firm's revenue as it moves in, ``usual`` its usual revenue at the
    application (without what the shocks had taken then), which entry standards read.
    ``seed`` is the firm's keyed stream in a park and ``pool_seed`` its stream in the pool;
    ``sector`` to ``floor_factor`` are its pool attributes, and ``profile`` those the policy
    targets (firm-table columns by name: :meth:`Pool.profile`); ``until``, ``hazard``,
    ``no_credit_factor``, ``exposure`` and ``terms`` describe its first interval in a park
    (:class:`~parksim.model.enterprise.EntrantIntervals`); ``retry`` is true where the firm
    passed an earlier round, so this application is used only if that one found no room.
    """

    attempt: int
    t: list[float]
    entry_t: list[float]
    firm: list[int]
    revenue: list[float]
    usual: list[float]
    need_m2: list[float]
    seed: list[int]
    until: list[float]
    hazard: list[float]
    no_credit_factor: list[float]
    exposure: list[float]
    terms: EntrantTerms
    sector: list[int]
    pool_seed: list[int]
    born_at: list[float]
    rd: list[bool]
    tech: list[bool]
    floor_factor: list[float]
    profile: dict[str, list]
    retry: list[bool]
    accept_u: list[float]


class Applications:
    """The passing applications (:meth:`Screening.passing`), walked through in time order.

    Not a process: a chain of SimPy timeouts with callbacks, one event per application time.
    At each, the applicant enters a park whose positioning and free floor admit it
    (:func:`choose_park`), or its next passing application is queued. The chain starts at
    *t* = 0 after the processes have started, when the vacancy lists learn the smallest floor
    need of any applicant. The queue holds ``(time, firm, round, position in its batch)``.
    """

    __slots__ = ("district", "env", "batches", "heap", "later", "smallest_need", "fit_out")

    def __init__(self, district: District, batches: list[ApplicationBatch]):
        self.district = district
        self.env = district.env
        self.batches = batches
        self.heap: list[tuple[float, int, int, int]] = []
        self.later: dict[int, list[tuple[float, int, int, int]]] = {}
        for batch in batches:
            for i, (t, firm, retry) in enumerate(
                zip(batch.t, batch.firm, batch.retry, strict=True)
            ):
                if retry:
                    self.later.setdefault(firm, []).append((t, firm, batch.attempt, i))
                else:
                    self.heap.append((t, firm, batch.attempt, i))
        for entries in self.later.values():
            entries.reverse()  # popped from the end, earliest first
        heapq.heapify(self.heap)
        self.smallest_need = min(
            (need for batch in batches for need in batch.need_m2), default=math.inf
        )
        self.fit_out = district.scenario.district.fit_out_months > 0
        self.env.timeout(0.0).callbacks.append(self._open)

    def _open(self, _event) -> None:
        parks = self.district.parks
        # parks with room for the smallest applicant, or for a workshop of the smallest size
        # (a firm outgrowing its park looks for one too)
        smallest = min(self.smallest_need, self.district.scenario.district.floor_min_m2)
        parks.vacancies.admit_from(smallest, parks)
        self._apply(None)

    def _fit_out(self, park: Park, batch: ApplicationBatch, i: int) -> None:
        """The firm has taken ``park`` and its floor is reserved: it moves in once the floor is
        fitted out, at its entry time (not if that falls after the horizon)."""
        entry = batch.entry_t[i]
        park.reserved += 1
        if entry < self.district.horizon:
            timeout = self.env.timeout(entry - self.env.now)
            timeout.callbacks.append(partial(self._move_in, park, batch, i))

    def _move_in(self, park: Park, batch: ApplicationBatch, i: int, _event) -> None:
        park.reserved -= 1
        self.district.tenancy.enter(park, batch, i)

    def _apply(self, _event) -> None:
        """Take every application due now, then wait for the next one."""
        district, heap, later, batches = self.district, self.heap, self.later, self.batches
        vacancies = district.parks.vacancies
        state = district.pool.state
        enter = district.tenancy.enter
        now = self.env.now
        while heap and heap[0][0] <= now:
            _, firm, attempt, i = heapq.heappop(heap)
            batch = batches[attempt]
            first_draw = Draw.POOL.park_choice + PARK_CHOICE_DRAWS * attempt
            park = choose_park(
                vacancies, batch.sector[i], batch.pool_seed[i], first_draw, batch.need_m2[i],
                batch.usual[i],
            )
            if park is not None and not district.accepts(park, batch, i, now):
                park = None  # the firm turns the offer down, and may apply again later
            if park is not None:
                state[firm] = PLACED
                district.parks.move_in(park, batch.sector[i], batch.need_m2[i])
                if self.fit_out:
                    self._fit_out(park, batch, i)
                else:
                    enter(park, batch, i)
            elif firm in later:
                retries = later[firm]
                heapq.heappush(heap, retries.pop())
                if not retries:
                    del later[firm]
        if heap:
            self.env.timeout(heap[0][0] - now).callbacks.append(self._apply)
