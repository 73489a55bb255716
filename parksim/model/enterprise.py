"""Firms inside parks: a columnar firm table, the half-yearly reports, and sampled exits.

A firm in a park is one row of the :class:`FirmTable` (numpy columns), not a process: what it
does between reports is decided at the reports, and the only instant of its own that the
event loop must honour -- a failure inside an interval -- is a sampled event time (a SimPy
timeout with a callback). The :func:`reporting` process is the district's half-yearly revenue
report (every ``review_interval_months`` from the start): at the last instant of each
half-year every firm in a park is reviewed at once (:func:`review`), so what the report finds
counts in the half-year it closes, and at the first instant of the next the firms act on it
and are committed to their next interval (:func:`commit`).

* **Review** closes a firm's interval: its log revenue moves by a Laplace step whose spread
  falls with size (drift from the park, from what the firm held for the interval -- its
  levers, its park's platforms, the surcharges of its 亩均 grade -- and any shock); it may
  cross the 20 M yuan line (an upgrade, 小升规), start R&D or be certified tech-based (faster
  with its levers and its park's platforms), find that it needs more space, or be found in
  breach of its performance contract. Its park counts its upgrades and certifications for the
  annual evaluation.
* **Commit** opens the next interval: firms in breach are moved out, firms that need space
  expand where their park has room and graduate out where it has not (longest in the park
  first); then the policy levers are offered to every firm, what each holds for the interval
  is fixed (levers, its park's platforms, its 亩均 grade), and each firm draws whether it
  fails inside the interval (integrated age hazard x park x support x 亩均 grade x shock) and
  when; a failure is scheduled at that time.

Moves come after the report that finds them, as they do in a district: a firm does not leave
the day its revenue report is filed. So the report at the horizon counts upgrades and tech
certifications, but the moves it would cause fall after the horizon.

A firm that enters between reports has a short first interval, up to the next report; it is
offered the levers at entry (:meth:`Tenancy.enter`), and whether and when it fails in that
interval follows from draws made in bulk before the run (:func:`first_intervals`) and the
support it gets. Every draw comes from the firm's keyed stream, numbered by purpose and
interval (:attr:`~parksim.rng.Draw.FIRM`), so two scenarios with the same seed give the same
firm the same luck.

:class:`Tenancy` is the part of a replication's world that holds the firm table and the
operations that move a firm into or out of a park.
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from parksim.model.parks import choose_park
from parksim.model.platforms import park_platform_effects, platform_effects
from parksim.model.policies import (
    PROFILE,
    Cohort,
    EntrantTerms,
    Standing,
    Support,
    cohort_profile,
)
from parksim.model.shocks import AgeHazard
from parksim.records import Kind
from parksim.rng import Draw, firm_stream_seed, seeded_uniforms

if TYPE_CHECKING:
    from parksim.model.context import Context
    from parksim.model.district import ApplicationBatch
    from parksim.model.parks import Park, Parks
    from parksim.model.policies import Policy
    from parksim.model.shocks import ShockSchedule
    from parksim.scenario.schema import Scenario

__all__ = [
    "FirmParams",
    "FirmTable",
    "Tenancy",
    "reporting",
    "review",
    "commit",
    "first_intervals",
    "EntrantIntervals",
]


@dataclass(frozen=True, slots=True)
class FirmParams:
    """Per-firm constants precomputed from the scenario for the review loop."""

    review_months: float
    drift: float
    scale: float
    log_reference: float
    size_exponent: float
    upgrade_threshold: float
    registration_rate: float | None
    tech_rate: float
    rd_rate: float
    expansion_tolerance: float
    contract_months: float
    contract_min_yuan_per_m2: float
    contract_enforcement: float
    park_exit_multiplier: float
    floor_per_yuan: float
    floor_min: float
    revenue_per_employee: float
    no_credit_drift: float
    no_credit_shock: float
    rd_median: float
    tech_intensity: float
    tech_intensity_norm: float

    @classmethod
    def of(cls, s: Scenario) -> FirmParams:
        e = s.enterprises
        dt = e.review_interval_months
        return cls(
            review_months=dt,
            drift=e.growth_drift_per_year + s.parks.growth_drift_per_year,
            scale=e.growth_scale_per_year,
            log_reference=math.log(e.growth_reference_revenue_yuan),
            size_exponent=e.growth_size_exponent,
            upgrade_threshold=e.upgrade_threshold_yuan,
            registration_rate=e.registration_rate_per_year,
            tech_rate=e.tech_hazard_per_year,
            rd_rate=e.rd_adoption_per_year,
            expansion_tolerance=e.expansion_tolerance,
            contract_months=e.contract_months,
            contract_min_yuan_per_m2=e.contract_min_revenue_yuan_per_m2,
            contract_enforcement=e.contract_enforcement_probability,
            park_exit_multiplier=s.parks.exit_hazard_multiplier,
            floor_per_yuan=s.district.floor_m2_per_million_yuan / 1e6,
            floor_min=s.district.floor_min_m2,
            revenue_per_employee=s.district.revenue_per_employee_yuan,
            no_credit_drift=e.no_credit_growth_drift_per_year,
            no_credit_shock=e.no_credit_shock_exit_multiplier,
            rd_median=s.district.rd_intensity_median,
            tech_intensity=e.tech_intensity_elasticity,
            # the mean of (intensity / median) ** k over the lognormal spread, to divide by
            tech_intensity_norm=math.exp((e.tech_intensity_elasticity
                                          * s.district.rd_intensity_log_sigma) ** 2 / 2),
        )

    def tech_factor(self, rd_intensity: np.ndarray) -> np.ndarray | float:
        """Firms' certification rate relative to the mean, by their R&D intensity."""
        if self.tech_intensity == 0.0 or self.rd_median <= 0.0:
            return 1.0
        return (rd_intensity / self.rd_median) ** self.tech_intensity / self.tech_intensity_norm

    def floor_need(self, revenue, factor):
        """Floor (m²) firms of these revenues and floor factors need (numbers or arrays)."""
        return np.maximum(self.floor_min, self.floor_per_yuan * revenue) * factor


_COLUMNS = {
    "firm": np.int64, "park": np.int32, "sector": np.int16, "born_at": np.float64,
    "log_revenue": np.float64, "rd": bool, "tech": bool, "upgraded": bool, "floor_m2": np.float64,
    "floor_factor": np.float64, "entered_at": np.float64, "since": np.float64, "until": np.float64,
    "review": np.int64, "seed": np.uint64, "active": bool, "move": np.int8,
    "support_drift": np.float64, "support_tech": np.float64, "support_rd": np.float64,
    "support_registration": np.float64, "mu_grade": np.int8, "relief_keep": np.float64,
    "relief_from": np.float64, "productivity": np.float64, "rd_intensity": np.float64,
    "brand": bool, "credit": bool,
}
_EMPTY = {"mu_grade": -1, "support_registration": 1.0, "relief_keep": 1.0, "productivity": 1.0}
"""What a row holds before a firm fills it, where it is not 0 (0 would be grade A)."""


class FirmTable:
    """Every firm that has entered a park in this replication, one row each, as numpy columns.

    ``since`` and ``until`` bound the firm's current interval (``until`` is the report that
    closes it); ``review`` counts the intervals it has closed; ``active`` is false once it has
    left; ``move`` is what the last report found the firm must do when the next interval opens
    (:data:`STAY`, :data:`SPACE` or :data:`BREACH`). The ``support_*`` columns hold what the
    firm holds for the current interval, fixed when it opens: the growth drift and tech
    multiplier of its levers and its park's platforms and the drift of its 亩均 grade, the R&D
    multiplier of its levers, and its park's platforms' multiplier on its registration above
    designated size. ``mu_grade`` is the rank of its last 亩均 grade (A is 0; -1
    until it is graded). ``relief_keep`` is the relief lever's exit multiplier for a firm
    relieved part-way through its interval, from ``relief_from`` (1: not relieved).
    ``productivity`` (revenue per employee relative to the median), ``rd_intensity`` (its R&D
    spending per yuan of revenue while it does R&D), ``brand`` (an own brand or core
    technology) and ``credit`` (access to bank credit) are what the policy targets
    (:meth:`~parksim.model.district.Pool.profile`).
    """

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self._capacity = capacity
        for name, dtype in _COLUMNS.items():
            setattr(self, name, np.full(capacity, _EMPTY.get(name, 0), dtype=dtype))

    def append(self, batch: ApplicationBatch, i: int, park: int) -> int:
        """Add applicant ``i`` of ``batch`` entering ``park`` at its application time; its row."""
        row = self.n
        if row == self._capacity:
            self._grow()
        t = batch.entry_t[i]
        self.firm[row] = batch.firm[i]
        self.park[row] = park
        self.sector[row] = batch.sector[i]
        self.born_at[row] = batch.born_at[i]
        self.log_revenue[row] = math.log(batch.revenue[i])
        self.rd[row] = batch.rd[i]
        self.tech[row] = batch.tech[i]
        self.floor_m2[row] = batch.need_m2[i]
        self.floor_factor[row] = batch.floor_factor[i]
        self.entered_at[row] = t
        self.since[row] = t
        self.until[row] = batch.until[i]
        self.seed[row] = batch.seed[i]
        self.active[row] = True
        self.support_tech[row] = 1.0
        self.support_rd[row] = 1.0
        self.support_registration[row] = 1.0
        self.mu_grade[row] = -1
        profile = batch.profile
        self.productivity[row] = profile["productivity"][i]
        self.rd_intensity[row] = profile["rd_intensity"][i]
        self.brand[row] = profile["brand"][i]
        self.credit[row] = profile["credit"][i]
        self.n = row + 1
        return row

    def cohort(self, rows: np.ndarray, revenue_per_employee: float) -> Cohort:
        """The firms in ``rows`` as a :class:`~parksim.model.policies.Cohort` (what the levers
        read of them)."""
        revenue = np.exp(self.log_revenue[rows])
        return Cohort(rows, self.firm[rows], self.park[rows], revenue, self.floor_m2[rows],
                      self.entered_at[rows], self.mu_grade[rows], self.rd[rows],
                      **cohort_profile({name: getattr(self, name)[rows] for name in PROFILE},
                                       revenue, revenue_per_employee))

    def extend(self, columns: dict[str, np.ndarray | float]) -> None:
        """Add many firms at once: ``columns`` by name, arrays of one length or single values
        (the firms of a park seated at the start). They are active, with no support yet."""
        start = self.n
        k = max(np.size(v) for v in columns.values())
        while start + k > self._capacity:
            self._grow()
        end = start + k
        for name, values in {
            **columns,
            "active": True,
            "support_tech": 1.0,
            "support_rd": 1.0,
            "support_registration": 1.0,
            "mu_grade": -1,
        }.items():
            getattr(self, name)[start:end] = values
        self.n = end

    def _grow(self) -> None:
        self._capacity *= 2
        for name in _COLUMNS:
            old = getattr(self, name)
            new = np.full(self._capacity, _EMPTY.get(name, 0), dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def in_parks(self) -> np.ndarray:
        """Rows of the firms still in a park."""
        return np.flatnonzero(self.active[: self.n])

    def draws(self, rows: np.ndarray, review: np.ndarray, purposes: tuple[int, ...]) -> np.ndarray:
        """Each firm's keyed draws for ``purposes`` in interval ``review``: one row per purpose."""
        return seeded_uniforms(
            self.seed[rows], review * Draw.FIRM.stride + np.array(purposes)[:, None]
        )


class Tenancy:
    """The firms in parks: the firm table, and what moves a firm into or out of a park.

    It owns the firm-level rules of a replication (:class:`FirmParams`, the age hazard) and
    works with the parks (their floor) and the policy (support at entry) it is given.
    """

    def __init__(self, ctx: Context, parks: Parks, policy: Policy):
        self.env = ctx.env
        self.records = ctx.records
        self.horizon = ctx.horizon
        self.shocks: ShockSchedule = ctx.shocks
        self.parks = parks
        self.policy = policy
        self.params = FirmParams.of(ctx.scenario)
        self.age_hazard = AgeHazard(ctx.scenario.enterprises.exit_hazard_by_age)
        self.table = FirmTable()
        self.key = ctx.streams.key(Draw.FIRM.key)
        self.moves_key = ctx.streams.key(Draw.MOVE.key)
        self.industrial_land_floor_m2 = ctx.scenario.enterprises.industrial_land_floor_m2

    def enter(self, park: Park, batch: ApplicationBatch, i: int) -> None:
        """Move applicant ``i`` of ``batch`` into ``park``, whose floor it has taken
        (:meth:`~parksim.model.parks.Parks.move_in`), at its entry time: record it, add it to
        the firm table, pay the levers it takes up for its first interval where the park admits
        them and the budget allows (and book the statutory measures that cover it), and
        schedule its failure if it fails in that interval.

        Its first interval's exit hazard without support and its Exp(1) exit draw were found
        before the run (:func:`first_intervals`): it fails if the draw is below the hazard
        times its support's exit multiplier, at the time that fraction of the (evenly spread)
        hazard is used.
        """
        t = batch.entry_t[i]
        firm = batch.firm[i]
        need = batch.need_m2[i]
        row = self.table.append(batch, i, park.id)
        age = (t - batch.born_at[i]) / 12.0
        self.records.firm(t, Kind.FIRM_ENTERED, park.id, firm, age, batch.revenue[i], need,
                          batch.tech[i])
        table = self.table
        drift, tech, registration = park_platform_effects(self.parks, park)  # no 亩均 grade yet
        support = self.policy.support_entrant(batch.terms, i, park, t, firm)
        drift += support.drift
        tech *= support.tech_multiplier
        table.support_rd[row] = support.rd_multiplier
        exit_multiplier = support.exit_multiplier
        if not (batch.profile["credit"][i] or support.credit):  # without credit, not financed
            drift += self.params.no_credit_drift
            exit_multiplier *= batch.no_credit_factor[i]
        table.support_drift[row] = drift
        table.support_tech[row] = tech
        table.support_registration[row] = registration
        h = batch.hazard[i] * exit_multiplier
        exposure = batch.exposure[i]
        if exposure < h:
            until = batch.until[i]
            self.schedule_failure(row, t + (until - t) * exposure / h)

    def seat(self, park: Park, columns: dict[str, np.ndarray], revenue: np.ndarray,
             free_m2: float) -> None:
        """Seat firms in ``park`` at the start (:meth:`enter` for many at once, without levers),
        leaving it ``free_m2``: ``columns`` are the firm table's, by name, and ``revenue`` the
        firms' revenue as recorded."""
        self.parks.seat(park, columns["sector"], free_m2)
        self.table.extend({**columns, "park": park.id})
        age = (0.0 - columns["born_at"]) / 12.0
        self.records.firms(0.0, Kind.FIRM_ENTERED, park.id, columns["firm"], age, revenue,
                           columns["floor_m2"], columns["tech"])

    def leave(self, row: int, now: float, reason: str) -> None:
        """The firm in ``row`` leaves its park (failure, contract or graduated): free its floor,
        record it."""
        table = self.table
        park = self.parks[int(table.park[row])]
        floor = float(table.floor_m2[row])
        table.active[row] = False
        self.parks.move_out(park, table.sector[row], floor)
        age = (now - float(table.born_at[row])) / 12.0
        revenue = math.exp(float(table.log_revenue[row]))
        self.records.exited(now, park.id, int(table.firm[row]), age, revenue, floor,
                            bool(table.tech[row]), reason)

    def outgrow(self, row: int, need_m2: float, t: float) -> None:
        """The firm in ``row`` needs ``need_m2`` and its park has no room to expand: along the
        innovation chain (incubation, acceleration, industrialisation), a firm needing at least
        ``industrial_land_floor_m2`` graduates to its own industrial land; a smaller one moves
        to a park with room for all it needs (:func:`~parksim.model.parks.choose_park`, its
        keyed draws for this review), and where none has room it stays and tries again at the
        next report."""
        table = self.table
        if need_m2 >= self.industrial_land_floor_m2:
            self.leave(row, t, "graduated")
            return
        firm = int(table.firm[row])
        first_draw = int(table.review[row]) * Draw.MOVE.stride + Draw.MOVE.park_choice
        seed = firm_stream_seed(self.moves_key, firm)
        sector = int(table.sector[row])
        revenue = math.exp(float(table.log_revenue[row]))
        new = choose_park(self.parks.vacancies, sector, seed, first_draw, need_m2, revenue)
        if new is None:
            return
        old = self.parks[int(table.park[row])]
        floor = float(table.floor_m2[row])
        age = (t - float(table.born_at[row])) / 12.0
        tech = bool(table.tech[row])
        self.parks.move_out(old, sector, floor)
        self.records.exited(t, old.id, firm, age, revenue, floor, tech, "moved")
        self.parks.move_in(new, sector, need_m2)
        table.park[row] = new.id
        table.floor_m2[row] = need_m2
        self.records.firm(t, Kind.FIRM_MOVED, new.id, firm, age, revenue, need_m2, tech)

    def schedule_failure(self, row: int, when: float) -> None:
        """The firm in ``row`` fails at ``when``, a sampled time (never scheduled past the end)."""
        if when < self.horizon:
            self.env.timeout(when - self.env.now).callbacks.append(partial(self._fail, row))

    def _fail(self, row: int, event) -> None:
        table = self.table
        if not table.active[row]:
            return
        keep = table.relief_keep[row]
        if keep < 1.0 and self.env.now >= table.relief_from[row]:
            # relieved part-way through its interval, after its failure was drawn: the hazard
            # from then on is times ``keep``, so a failure falling then happens with that chance
            u = table.draws(np.array([row]), table.review[[row]], (Draw.FIRM.relief_survival,))
            if u[0, 0] >= keep:
                return
        self.leave(row, self.env.now, "failure")

    def relieve(self, t: float) -> None:
        """The relief lever's round when its window opens at ``t``: the firms in parks part-way
        through an interval are offered the rent waiver for the window's months left in it
        (their take-up draw is the one for their current interval); a paid firm holds the
        relief's growth drift for the rest of the interval and its exit multiplier from now on
        (:meth:`_fail`)."""
        table = self.table
        rows = table.in_parks()
        rows = rows[(table.since[rows] < t) & (table.until[rows] > t)]
        if rows.size == 0:
            return
        lever = self.policy["relief"]
        draws = table.draws(rows, table.review[rows], (lever.purpose,))[0]
        until = float(table.until[rows[0]])  # the next report: every interval open at t ends there
        cohort = table.cohort(rows, self.params.revenue_per_employee)
        paid, strength = self.policy.relieve(cohort, Standing.of(self.parks, t), t, until, draws)
        drift, exit_multiplier, _, _ = lever.effects(strength)
        relieved = rows[paid]
        left = (until - t) / (until - table.since[relieved])
        table.support_drift[relieved] += drift * left
        table.relief_keep[relieved] = exit_multiplier
        table.relief_from[relieved] = t

    def exit_hazard(
        self, age_years: np.ndarray, t0: np.ndarray, t1: np.ndarray | float,
        credit: np.ndarray | None = None,
    ) -> np.ndarray:
        """The exit hazard of firms in parks integrated over ``[t0, t1)``, before support: their
        age hazard over the interval, times the park factor and the shocks' factor over it --
        whose extra hazard is ``no_credit_shock_exit_multiplier`` times as large for a firm
        without ``credit`` (where it is given)."""
        _, shock = self.shocks.effects(t0, t1)
        if credit is not None:  # only a shock's extra hazard is amplified, never a relief of it
            extra = np.maximum(shock - 1.0, 0.0) * (self.params.no_credit_shock - 1.0)
            shock = np.where(credit, shock, shock + extra)
        return self.age_hazard.between(age_years, (t1 - t0) / 12.0) * (
            self.params.park_exit_multiplier * shock
        )

    def no_credit_shock_factors(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """How much a firm without credit's exit hazard over each ``[t0, t1)`` is above one with
        credit's: the shocks' extra hazard times ``no_credit_shock_exit_multiplier``, over the
        shocks' factor (1 where no shock adds hazard)."""
        if not self.shocks.windows or self.params.no_credit_shock == 1.0:
            return np.ones(len(t0))
        _, shock = self.shocks.effects(t0, t1)
        extra = shock > 1.0
        return np.where(extra, (1.0 + (shock - 1.0) * self.params.no_credit_shock)
                        / np.where(extra, shock, 1.0), 1.0)

    def park_totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Revenue, tech firms, firms registered above designated size, and firms above the line
        not (yet) registered, in each park now (by park id)."""
        table = self.table
        rows = table.in_parks()
        parks = table.park[rows]
        n = len(self.parks)
        revenue = np.bincount(parks, weights=np.exp(table.log_revenue[rows]), minlength=n)
        tech = np.bincount(parks, weights=table.tech[rows], minlength=n)
        registered = table.upgraded[rows]
        waiting = ~registered & (np.exp(table.log_revenue[rows]) >= self.params.upgrade_threshold)
        return (revenue, tech, np.bincount(parks, weights=registered, minlength=n),
                np.bincount(parks, weights=waiting, minlength=n))


STAY, SPACE, BREACH = 0, 1, 2
"""Moves a report can find: none, more space (expand or graduate), a breached contract."""

CLOSE_MONTHS = 1e-6
"""How long before ``k * dt`` a report closes the half-year (about three seconds): its reviews
are dated inside the half-year they close, so a target at the end of a month counts them."""


def reporting(tenancy: Tenancy):
    """The half-yearly reports: at the last instant of each half-year review every firm in the
    parks (:func:`review`); at its first, commit them to the next interval (:func:`commit`)."""
    env = tenancy.env
    horizon = tenancy.horizon
    dt = tenancy.params.review_months
    k = 0
    while True:
        t = k * dt
        if k > 0:
            closing = t - CLOSE_MONTHS
            if closing >= horizon:
                return
            yield env.timeout(closing - env.now)
            review(tenancy, t, closing)
        if t >= horizon:
            return
        if t > env.now:
            yield env.timeout(t - env.now)
        commit(tenancy, t, dt)
        k += 1


def relief_round(tenancy: Tenancy):
    """The relief lever's round when its window opens (:meth:`Tenancy.relieve`), if the lever
    is enabled and its window opens inside the run."""
    lever = tenancy.policy["relief"]
    if lever.enabled and lever.t0 < tenancy.horizon:
        yield tenancy.env.timeout(max(lever.t0 - tenancy.env.now, 0.0))
        tenancy.relieve(lever.t0)


def _due(table: FirmTable, t: float) -> np.ndarray:
    """Rows of the firms in parks whose interval ends at ``t`` (or has ended)."""
    n = table.n
    return np.flatnonzero(table.active[:n] & (table.until[:n] <= t))


def review(tenancy: Tenancy, t: float, now: float) -> None:
    """Close the interval of every firm in a park ending at ``t`` (dated ``now``, just before)."""
    table = tenancy.table
    n = table.n
    rows = np.flatnonzero(table.active[:n] & (table.until[:n] <= t) & (table.since[:n] < t))
    if rows.size == 0:
        return
    p = tenancy.params
    records = tenancy.records
    parks = tenancy.parks
    since = table.since[rows]
    dy = (t - since) / 12.0
    review_no = table.review[rows] + 1
    table.review[rows] = review_no
    draw = Draw.FIRM
    u_growth, u_tech, u_rd, u_contract, u_register = table.draws(
        rows, review_no, (draw.growth, draw.tech, draw.rd, draw.contract, draw.register)
    )
    park = table.park[rows]
    # growth: drift from the firm's park and from what it held for the interval (levers,
    # platforms, 亩均 grade), plus any shock
    shock_drift, _ = tenancy.shocks.effects(since, t)
    log_revenue = table.log_revenue[rows]
    scale = p.scale * np.exp(-p.size_exponent * (log_revenue - p.log_reference)) * np.sqrt(dy)
    g = u_growth - 0.5
    shock = -scale * np.sign(g) * np.log1p(-2.0 * np.abs(g))
    log_revenue = log_revenue + (p.drift + table.support_drift[rows]) * dy + shock_drift + shock
    table.log_revenue[rows] = log_revenue
    revenue = np.exp(log_revenue)
    table.since[rows] = t
    floor = table.floor_m2[rows]

    def record(kind: int, which: np.ndarray, tech: np.ndarray | bool) -> None:
        """Record ``kind`` for the firms at positions ``which`` of this review."""
        firms = rows[which]
        age = (now - table.born_at[firms]) / 12.0
        firm_ids = table.firm[firms]
        records.firms(now, kind, park[which], firm_ids, age, revenue[which], floor[which], tech)

    # above the 20 M yuan line, registered as above designated size (小升规): at once, or at a
    # rate (a base, what the reward adds, the park's guidance) over the interval that closes
    above = ~table.upgraded[rows] & (revenue >= p.upgrade_threshold)
    if p.registration_rate is not None:
        rate = tenancy.policy.registration_rate(now, p.registration_rate)
        above &= u_register < -np.expm1(-rate * table.support_registration[rows] * dy)
    up = np.flatnonzero(above)
    if up.size:
        table.upgraded[rows[up]] = True
        record(Kind.FIRM_UPGRADED, up, table.tech[rows[up]])
        tenancy.policy.reward_upgrades(now, park[up], table.firm[rows[up]])
    # R&D and tech status
    tech = table.tech[rows]
    rd = table.rd[rows]
    tech_rate = p.tech_rate * p.tech_factor(table.rd_intensity[rows]) * table.support_tech[rows]
    certified = np.flatnonzero(~tech & rd & (u_tech < -np.expm1(-tech_rate * dy)))
    adopts = ~tech & ~rd & (u_rd < -np.expm1(-p.rd_rate * table.support_rd[rows] * dy))
    if certified.size:
        table.tech[rows[certified]] = True
        record(Kind.FIRM_TECH, certified, True)
    table.rd[rows[adopts]] = True
    for park_id in (*park[up].tolist(), *park[certified].tolist()):  # the park cultivated them
        parks[park_id].cultivated += 1
    # moves, made when the next interval opens: a breached performance contract, or a need for space
    breach = (
        (t - table.entered_at[rows] >= p.contract_months)
        & (revenue < p.contract_min_yuan_per_m2 * floor)
        & (u_contract < p.contract_enforcement)
    )
    space = p.floor_need(revenue, table.floor_factor[rows]) > floor * (1.0 + p.expansion_tolerance)
    table.move[rows] = np.where(breach, BREACH, np.where(space, SPACE, STAY))


def commit(tenancy: Tenancy, t: float, dt: float) -> None:
    """Open the next interval of every firm in a park at report ``t``: moves, support, exits."""
    table = tenancy.table
    rows = _due(table, t)
    if rows.size == 0:
        return
    moving = table.move[rows] != STAY
    if moving.any():
        _move(tenancy, rows[moving], t)
        rows = rows[table.active[rows]]
    end = t + dt
    levers = tenancy.policy.active(t)
    u_exit, *u_levers = table.draws(
        rows, table.review[rows], (Draw.FIRM.exit, *(lever.purpose for lever in levers))
    )
    if tenancy.policy.applies(t):
        cohort = table.cohort(rows, tenancy.params.revenue_per_employee)
        support = tenancy.policy.support(cohort, Standing.of(tenancy.parks, t), t, end, u_levers)
    else:
        support = Support.none(len(rows))
    # what each firm holds for the interval: its levers, its park's platforms, its 亩均 grade
    platform_drift, platform_tech, platform_registration = platform_effects(tenancy.parks)
    park = table.park[rows]
    mu = tenancy.policy.mu_prices
    credit = table.credit[rows] | support.credit  # its own, or the finance lever's for now
    table.support_drift[rows] = (
        support.drift + platform_drift[park] + mu.drifts(table.mu_grade[rows], t)
        + np.where(credit, 0.0, tenancy.params.no_credit_drift)
    )
    table.support_tech[rows] = support.tech_multiplier * platform_tech[park]
    table.support_registration[rows] = platform_registration[park]
    table.support_rd[rows] = support.rd_multiplier
    table.relief_keep[rows] = 1.0  # a relief round's survival lasts to the end of its interval
    table.until[rows] = end
    h = (
        tenancy.exit_hazard((t - table.born_at[rows]) / 12.0, np.full(len(rows), t), end, credit)
        * support.exit_multiplier
        * mu.exit_multipliers(table.mu_grade[rows], t)
    )
    fails = np.flatnonzero((h > 0) & (u_exit < -np.expm1(-h)))
    if fails.size:
        at = t + dt * (-np.log1p(-u_exit[fails]) / h[fails])
        for row, when in zip(rows[fails].tolist(), at.tolist(), strict=True):
            tenancy.schedule_failure(row, when)


def _move(tenancy: Tenancy, rows: np.ndarray, t: float) -> None:
    """Make the moves the last report found: firms in breach of contract leave; then each firm
    that needs space (:meth:`Tenancy.outgrow`), in row order (longest in the park first), each
    seeing the floor the moves before it freed or took."""
    table = tenancy.table
    p = tenancy.params
    move = table.move[rows]
    table.move[rows] = STAY
    for row in rows[move == BREACH].tolist():
        tenancy.leave(row, t, "contract")
    rows = rows[move == SPACE]
    revenue = np.exp(table.log_revenue[rows])
    need = p.floor_need(revenue, table.floor_factor[rows])
    extra = (need - table.floor_m2[rows]).tolist()
    age = ((t - table.born_at[rows]) / 12.0).tolist()
    for row, park_id, firm, more, years, rev, m2 in zip(
        rows.tolist(),
        table.park[rows].tolist(),
        table.firm[rows].tolist(),
        extra,
        age,
        revenue.tolist(),
        need.tolist(),
        strict=True,
    ):
        park = tenancy.parks[park_id]
        if park.free_m2 >= more:
            tenancy.parks.take_floor(park, more)
            table.floor_m2[row] = m2
            tenancy.records.firm(
                t, Kind.FIRM_EXPANDED, park_id, firm, years, rev, more, bool(table.tech[row])
            )
        else:
            tenancy.outgrow(row, m2, t)


@dataclass(frozen=True, slots=True)
class EntrantIntervals:
    """The first interval of a batch of would-be entrants, as lists by entrant: the report that
    closes it, the exit hazard integrated over it without support, how much higher it is for a
    firm without credit (:meth:`Tenancy.no_credit_shock_factors`), the Exp(1) exit draw, and
    the levers each would take up for it."""

    until: list[float]
    hazard: list[float]
    no_credit_factor: list[float]
    exposure: list[float]
    terms: EntrantTerms


def first_intervals(tenancy: Tenancy, born_at: np.ndarray, entrants: Cohort,
                    seeds: np.ndarray) -> EntrantIntervals:
    """For firms that would enter parks (``entrants``, entering at ``entrants.entered_at``,
    born at ``born_at``, their keyed streams ``seeds``): their first intervals.

    These depend only on the firm's age, revenue and floor need, its entry time and its keyed
    draws, so they are found in bulk for every passing application before the run; at entry,
    the park's admission and the budgets decide which levers are paid, and the support scales
    the hazard (:meth:`Tenancy.enter`).
    """
    t = entrants.entered_at
    dt = tenancy.params.review_months
    until = (np.floor(t / dt) + 1.0) * dt
    until = np.where(until <= t, until + dt, until)
    hazard = tenancy.exit_hazard((t - born_at) / 12.0, t, until)
    exposure = -np.log1p(-seeded_uniforms(seeds, Draw.FIRM.exit))
    levers = tenancy.policy.lever_list
    take_up = seeded_uniforms(seeds, np.array([lever.purpose for lever in levers])[:, None])
    return EntrantIntervals(until.tolist(), hazard.tolist(),
                            tenancy.no_credit_shock_factors(t, until).tolist(), exposure.tolist(),
                            EntrantTerms(levers, entrants, t, until, take_up,
                                         tenancy.policy.statutory))
