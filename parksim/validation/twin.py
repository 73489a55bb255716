"""A vectorised numpy twin of the firm lifecycle: an oracle for the SimPy model, not a second model.

The SimPy model (:mod:`parksim.model`) walks applications one at a time through the event
loop, places firms in parks with finite room, pays support from capped budgets and schedules
each failure as an event. The twin applies the same lifecycle rules to all firms at once, with
whole-array numpy operations and loops only over application attempts and report dates, for
two purposes:

- **an independent check**: where the two describe the same world, a district whose parks
  never fill, they must agree in distribution on entries, upgrades, tech status and exits
  (``tests/test_twin.py``, which also shows that the comparison sees a 30% stronger exit
  hazard, and a twin that ignores part of the rule by which a firm takes the park it is
  offered);
- **a speed floor**: the time of a model replication divided by the twin's time for the same
  pool, parks and horizon (``twin_ratio`` in ``benchmarks/run.py``) says how much the event
  machinery costs over the bare arithmetic.

**What it shares with the model: the scenario, and nothing else.** It reads the same validated
scenario (:mod:`parksim.scenario`) for what its keys mean, and turns the scenario's dates into
model months with the same calendar (:mod:`parksim.calendar`). It takes nothing of the model's
code, random streams or draws: it imports nothing from :mod:`parksim.model`, draws from one
``numpy.random.Generator`` of its own, in its own order (not from the model's keyed per-firm
streams: no draw is shared), and computes the parks' terms, park choice and acceptance, the
age hazard, the shocks, the relocation pressure and the levers' effects itself
(:class:`_Parks`, :func:`_accepts`, :class:`_AgeHazard`, :class:`_Shocks`, :class:`_Levers`).
An oracle must be independent: arithmetic that both took from one place would be wrong in
both at once and the comparison could not see it, so when they agree, two separate readings
of the scenario's rules agree.

The phases of :func:`run_twin` are named after the model's submodels, so that the twin can be
read beside the model; they run, and draw, in this order:

- **Parks** (:func:`_parks`; ``Parks.open_initial``, ``Parks._set_terms``, ``Park``): the
  parks of ``parks.initial``, in file order, all open from the start. Each has its lead
  sector; its rent relative to the market rent (``parks.rent_yuan_m2_month``), from its
  development model's table ``parks.pipeline.models.<model>`` (``rent_yuan_m2_month``, unset:
  the market rent; a park that sells its units charges a buyer the cost of owning,
  ``sale_price_yuan_per_m2 * district.owner_cost_rate_per_year / 12``); whether the land lever
  relieves rent there (it lets its units, at a positive rent); its own entry standard (the
  table's ``min_revenue_yuan``, unset: none beyond the district's); and a service platform
  where its entry says it has one (``platform = true``).
- **Pool** (:func:`_pool`; the model's ``district.Pool``): ``district.firms`` firms at the
  start plus new firms formed as a Poisson process (born during the run, age 0). Attributes
  are drawn only for the firms that can reach a park (seated at the start, or applying before
  the horizon); the others' draws would not change anything.
- **Seating** (:func:`_seat`; ``District.seat_initial_firms``): the firms already in
  operating parks at the start are drawn at random among the initial pool firms inside the
  revenue window and spread at random over those parks, as many in each as it holds; their
  tenure is counted from ``-parks.initial_tenure_months``.
- **Relocation** (:func:`_relocation`; when ``Pool`` makes a firm apply): relocation pressure
  (``district.relocation_rate_per_year``, times the shocks' relocation multipliers) makes a
  firm apply when its integral has risen by an Exp(1) draw since the start (or birth).
- **Traits** (:func:`_traits`; ``Pool`` and ``Pool.traits``): age, revenue, sector (by the
  shares of ``district.sectors``), tech and R&D status, floor factor and land take-up draw
  (one per firm, the same at each of its applications and at its entry) of the firms that
  can reach a park.
- **Applications** (:func:`_applications`; ``Pool.dies_at``, ``Screening``, ``choose_park``,
  ``District.accepts`` and ``Applications``): a firm dies at the age at which its integrated
  age hazard (``enterprises.exit_hazard_by_age``) has risen by an Exp(1) draw above its value
  at the start (or at birth). At each application the firm's log revenue has moved by a normal
  step with the in-park Laplace walk's drift and variance, and by what the shocks took or gave
  back since its last look; it passes the entry standards
  inside the revenue window with ``pass_probability`` (times ``rd_pass_multiplier`` for R&D
  firms). A firm that passes is offered a park (:meth:`_Parks.offer`): one of its lead
  sector's parks whose own entry standard its revenue meets, uniformly, or if there is none,
  one of the other sectors' parks whose standard it meets. It takes the offer
  (:func:`_accepts`) with probability ``district.acceptance_probability``, times
  ``platform_acceptance_multiplier`` if the park has a service platform, times
  ``off_sector_acceptance_multiplier`` if the park's lead sector is not the firm's, times
  (1 / max(rent ratio x (1 - relief), 0.05)) ** ``rent_elasticity`` (if the elasticity is
  positive), at most 1. The relief is the share of a lease of ``district.lease_years`` that
  ``policies.land.rent_subsidy_share_by_year`` relieves, if the firm would take the land
  lever up for its first interval (the lever active at its entry, its revenue at most
  ``max_revenue_yuan``, its land take-up draw below ``take_up``, a first year's share above
  0) and the park relieves rent; else 0. A firm that fails screening, is offered no park or
  turns the offer down tries again after an exponential wait, up to
  ``district.max_applications`` times in all, while alive and before the horizon. Parks never
  fill, so screening, placement and acceptance are one step; a firm that takes a park moves
  in ``district.fit_out_months`` later.
- **Entry** (:func:`_enter`; ``Tenancy.enter`` and ``enterprise.FirmTable``): the seated
  firms and the entrants, in order of entry, become the rows of the twin's
  :class:`_FirmTable`, each with its park and the floor its revenue needs.
- **Support at entry** (:func:`_support_entrants`; ``enterprise.first_intervals`` and
  ``Policy.support_entrant``): a firm entering between two reports learns its support at entry, for
  its first, shorter interval up to the next report (the land lever by the take-up draw it
  applied with), and draws whether, and when, it fails in it.
- **Reports** (:func:`_reporting`; ``enterprise.reporting``): firms report every
  ``review_interval_months`` on a common calendar (t = 0, dt, 2 dt, ...), the report at the
  end of the horizon included; what a report finds is dated at the last instant of the
  half-year it closes.

  - :func:`_review` (``enterprise.review``): a firm that was in the park before the report
    grows (a Laplace step whose scale falls with size; a service platform in its park adds
    ``parks.platforms.services.growth_drift_per_year``), may be registered above the upgrade
    line (小升规: at once, or at ``enterprises.registration_rate_per_year`` plus the tax
    lever's reward part, times a service platform's guidance),
    may start R&D or be certified tech-based (a platform multiplies the rate by its
    ``tech_hazard_multiplier``), may outgrow its floor and may breach its performance
    contract.
  - :func:`_commit` (``enterprise.commit``): when the next half-year opens (so not after the
    report at the horizon) a firm in breach is moved out and one that outgrew its floor
    expands (:func:`_move`); each firm then learns its support from the four levers for the
    next interval (:func:`_support`; ``model.policies``: land only where its park relieves
    rent, services only where its park has a platform) and draws whether, and when, it fails
    in it (:meth:`_Failure.draw`: the integrated age hazard times the park's, the shocks' and
    the support's factors; ``model.shocks``).

What the twin leaves out, because parks never fill in the world it describes: park capacity,
opening dates (every park of ``parks.initial`` is open from the start, whatever its status)
and the parks the pipeline builds, lead-sector shares (every park is open to firms of every
sector), moves and graduations (a firm that outgrows its floor always expands). It has no
park grades either, so it ignores the levers' ``min_park_grade`` (for support and for the
rent relief a firm expects), delisting and firms' 亩均 grades (``policies.mu_pricing``); it
builds no platform during the run and knows no digital management; and it books no money and
ignores budget caps (every eligible firm that takes a lever up is supported, as every firm
the national statutory measures cover is, a firm
expecting rent relief always finds the land budget able to pay it, and the upgrade reward's
pull on registration never finds the tax budget spent); digital management's guidance on
registration is left out with digital management. Of what the levers target it knows only
access to credit (a firm without it, and not financed, grows at
``enterprises.no_credit_growth_drift_per_year`` more), not the extra hazard a shock brings a
firm without credit, nor the levers' eligibility tables, nor the relief lever (the agreement
world has no shock and no eligibility condition). The agreement test
therefore describes a world where these do not matter: only parks operating at the start,
each too large to fill, with the platforms their entries give them and operators who never
build one, ``parks.admission.lead_sector_min_share = 0``, every grade admitted, no 亩均
prices and budgets that never bind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parksim.calendar import month_index

__all__ = ["TwinOutput", "run_twin", "EXIT_REASONS"]

_CLOSE = 1e-6
"""Months before ``k * dt`` at which a report's findings are dated: in the half-year closed."""

EXIT_REASONS = ("", "failure", "contract", "graduated")
"""Values of :attr:`TwinOutput.exit_reason` ("" for firms still in a park at the horizon)."""

_NONE, _FAILURE, _CONTRACT = 0, 1, 2
_LEVERS = ("finance", "land", "tax", "services")

_LEAST_NET_RENT = 0.05
"""The smallest net rent, as a share of the market rent, that a firm weighs when it decides
whether to take a park (a lease relieved whole, or a park letting for nothing, stays finite)."""


@dataclass(frozen=True)
class TwinOutput:
    """One twin replication: one row per firm that was in a park (seated at the start or entered).

    Times are months since the calendar start; ages are in years. ``park`` is the park the
    firm entered (or was seated in), an index into ``parks.initial``. ``age_at_entry`` is the
    age at ``entered_at``, which for the firms seated at the start is the start of their tenure
    (negative for a firm whose drawn age is shorter than its tenure), so that
    ``age_at_exit == age_at_entry + (exited_at - entered_at) / 12`` for every firm.
    """

    firm_id: np.ndarray
    park: np.ndarray
    entered_at: np.ndarray
    age_at_entry: np.ndarray
    revenue_at_entry: np.ndarray
    upgraded_at: np.ndarray
    tech_at: np.ndarray
    tech_at_entry: np.ndarray
    exited_at: np.ndarray
    exit_reason: np.ndarray
    age_at_exit: np.ndarray
    pool_firms: int

    def __len__(self) -> int:
        return len(self.firm_id)


class _AgeHazard:
    """The integrated exit hazard by age: piecewise linear, the last rate beyond the table."""

    def __init__(self, by_age: tuple[float, ...]):
        self.rate = np.asarray(by_age, dtype=float)
        self.cum = np.concatenate([[0.0], np.cumsum(self.rate)])
        self.last = len(self.rate) - 1

    def integral(self, age: np.ndarray) -> np.ndarray:
        """Integrated hazard from age 0 to ``age`` (years)."""
        age = np.maximum(age, 0.0)
        year = np.minimum(age.astype(np.int64), self.last)
        return self.cum[year] + self.rate[year] * (age - year)

    def age_at(self, integral: np.ndarray) -> np.ndarray:
        """Age at which the integrated hazard reaches ``integral`` (inf if it never does)."""
        year = np.clip(np.searchsorted(self.cum, integral, side="right") - 1, 0, self.last)
        rate = self.rate[year]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(rate > 0, year + (integral - self.cum[year]) / rate, np.inf)


class _Shocks:
    """The scenario's shock windows ``[t0, t1)`` in model months, as arrays."""

    def __init__(self, scenario):
        start = scenario.calendar.start
        shocks = scenario.shocks
        self.t0 = np.array([month_index(start, s.start) for s in shocks], dtype=float)
        self.t1 = np.array([month_index(start, s.end) + 1 for s in shocks], dtype=float)
        self.drift = np.array([s.growth_drift_per_year for s in shocks], dtype=float)
        self.hazard = np.array([s.exit_hazard_multiplier for s in shocks], dtype=float)
        self.relocation = np.array([s.relocation_multiplier for s in shocks], dtype=float)
        # the rate at which what a shock took comes back after its window (0: never)
        self.back = np.array([0.0 if s.recovery_half_life_months is None
                              else math.log(2.0) / s.recovery_half_life_months for s in shocks])

    def _overlap(self, a, b) -> np.ndarray:
        a = np.asarray(a, dtype=float)[..., None]
        b = np.asarray(b, dtype=float)[..., None]
        return np.maximum(np.minimum(b, self.t1) - np.maximum(a, self.t0), 0.0)

    def _level(self, t) -> np.ndarray:
        """Each shock's effect on log revenue by ``t`` (one column per shock): its drift over
        the window up to ``t``, decaying after the window at its recovery rate."""
        t = np.asarray(t, dtype=float)[..., None]
        inside = np.clip(t, self.t0, self.t1) - self.t0
        return self.drift * inside / 12.0 * np.exp(-self.back * np.maximum(t - self.t1, 0.0))

    def growth(self, a, b):
        """Shock change of log revenue over ``[a, b)``: the loss in a window, the recovery
        after it."""
        if not len(self.t0):
            return 0.0
        return (self._level(b) - self._level(a)).sum(axis=-1)

    def usual(self, log_revenue, t):
        """``log_revenue`` at ``t`` without what the shocks have taken by then and not given
        back: what the entry standards and the floor a firm rents read."""
        if not len(self.t0):
            return log_revenue
        return log_revenue - self._level(t).sum(axis=-1)

    def hazard_factor(self, a, b):
        """Factor on the exit hazard over ``[a, b)``: the shocks' multipliers averaged over it."""
        if not len(self.t0):
            return 1.0
        span = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
        extra = self._overlap(a, b) @ (self.hazard - 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(span > 0, np.maximum(1.0 + extra / span, 0.0), 1.0)

    def relocation_by_month(self, months: int) -> np.ndarray:
        """Multiplier of relocation pressure in each month ``0 .. months-1``."""
        profile = np.ones(months)
        for t0, t1, r in zip(self.t0, self.t1, self.relocation, strict=True):
            profile[max(int(t0), 0):max(min(int(t1), months), 0)] *= r
        return profile


def _invert(targets: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Times (grid units) at which a piecewise-linear increasing ``cum`` reaches ``targets``.

    ``targets`` must lie in ``[cum[0], cum[-1])``; flat stretches of ``cum`` are skipped.
    """
    i = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, len(cum) - 2)
    return i + (targets - cum[i]) / (cum[i + 1] - cum[i])


class _Levers:
    """The four policy levers as parallel arrays, so a report offers all of them at once."""

    def __init__(self, scenario):
        start = scenario.calendar.start
        specs = [getattr(scenario.policies, name) for name in _LEVERS]
        self.enabled = np.array([s.enabled for s in specs])
        self.t0 = np.array([month_index(start, s.window.start) for s in specs], dtype=float)
        self.t1 = np.array([month_index(start, s.window.end) + 1 for s in specs], dtype=float)
        self.take_up = np.array([s.take_up for s in specs])
        self.max_revenue = np.array([s.max_revenue_yuan for s in specs])
        self.drift = np.array([s.growth_drift_per_year for s in specs])
        self.exit = np.array([s.exit_hazard_multiplier for s in specs])
        self.tech = np.array([s.tech_hazard_multiplier for s in specs])
        self.rd = np.array(
            [
                scenario.policies.tax.rd_adoption_multiplier if name == "tax" else 1.0
                for name in _LEVERS
            ]
        )
        self.land = _LEVERS.index("land")
        self.services = _LEVERS.index("services")
        # rent subsidies taper with the years in the park:
        # the share of the full effect, 0 beyond the list
        shares = scenario.policies.land.rent_subsidy_share_by_year
        self.land_strength = np.array([*shares, 0.0]) / (max(shares) or 1.0)
        self.lease_relief = _lease_relief(shares, scenario.district.lease_years)
        national = scenario.policies.national
        self.relief = national.small_firm_relief
        self.relief_window = (month_index(start, self.relief.window.start),
                              month_index(start, self.relief.window.end) + 1)
        self.deduction = national.rd_super_deduction
        self.deduction_window = (month_index(start, self.deduction.window.start),
                                 month_index(start, self.deduction.window.end) + 1)
        self.rate_changes = sorted((month_index(start, m), r)
                                   for m, r in self.deduction.rate_changes.items())
        self.no_credit_drift = scenario.enterprises.no_credit_growth_drift_per_year

    def _national(self, t, revenue):
        """The statutory measures' (drift, exit, R&D multiplier) for firms of ``revenue`` at
        ``t``: the small-firm relief's effects where it covers them, and the super-deduction's
        pull on R&D adoption, (user cost / user cost at the reference rate) ** -elasticity."""
        r, d = self.relief, self.deduction
        a, b = self.relief_window
        small = r.enabled & (a <= t) & (t < b) & (revenue <= r.max_revenue_yuan)
        drift = np.where(small, r.growth_drift_per_year, 0.0)
        exit_multiplier = np.where(small, r.exit_hazard_multiplier, 1.0)
        rate = np.full(np.shape(t), d.deduction_rate) if np.ndim(t) else d.deduction_rate
        for month, changed in self.rate_changes:
            rate = np.where(t >= month, changed, rate)
        tax = np.where(small, d.small_firm_tax_rate, d.standard_tax_rate)
        user_cost = (1 - tax * (1 + rate)) / (1 - tax * (1 + d.reference_rate))
        a, b = self.deduction_window
        on = d.enabled & (a <= t) & (t < b)
        rd = np.where(on, user_cost ** -d.user_cost_elasticity, 1.0)
        return drift, exit_multiplier, rd

    def takes_land(self, t, revenue: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """Whether firms entering at ``t`` (one time per firm) with ``revenue`` and land take-up
        ``draws`` take the land lever up for their first interval: it is active at ``t``, the
        firm is small enough, its draw is below the take-up rate and a first year is relieved."""
        i = self.land
        return (
            self.enabled[i]
            & (self.t0[i] <= t)
            & (t < self.t1[i])
            & (revenue <= self.max_revenue[i])
            & (draws < self.take_up[i])
            & (self.land_strength[0] > 0)
        )

    def offer(self, rng, t, revenue, years_in_park, platform, relieves, land_draws=None,
              credit=None):
        """Support for an interval starting at ``t`` (one time, or one per firm): (drift, exit,
        tech and R&D multipliers), one value per firm.

        A lever supports a firm if it is active at ``t``, the firm is small enough, takes it up
        (and, for services, its park has a ``platform``; for land, its park ``relieves`` rent);
        land supports it with the rent share of its year in the park relative to the full
        share. ``land_draws``, if given, are the firms' land take-up draws (else drawn here).
        """
        n = len(revenue)
        active = self.enabled[:, None] & (self.t0[:, None] <= t) & (t < self.t1[:, None])
        draws = rng.random((len(self.enabled), n))
        if land_draws is not None:
            draws[self.land] = land_draws
        takes = active & (revenue <= self.max_revenue[:, None]) & (draws < self.take_up[:, None])
        strength = takes.astype(float)
        strength[self.services] *= platform
        strength[self.land] *= relieves
        year = np.minimum(years_in_park.astype(np.int64), len(self.land_strength) - 1)
        strength[self.land] *= self.land_strength[year]
        drift = self.drift @ strength
        exit_multiplier = np.prod(1.0 + (self.exit[:, None] - 1.0) * strength, axis=0)
        tech_multiplier = np.prod(1.0 + (self.tech[:, None] - 1.0) * strength, axis=0)
        rd_multiplier = np.prod(np.where(strength > 0, self.rd[:, None], 1.0), axis=0)
        national_drift, national_exit, national_rd = self._national(t, revenue)
        if credit is not None:  # without credit of its own or the finance lever's: slower
            financed = strength[_LEVERS.index("finance")] > 0
            drift = drift + np.where(credit | financed, 0.0, self.no_credit_drift)
        return (drift + national_drift, exit_multiplier * national_exit, tech_multiplier,
                rd_multiplier * national_rd)


def _lease_relief(shares_by_year, lease_years: float) -> float:
    """The share of the rent of a lease of ``lease_years`` relieved when its first, second, ...
    year's rent is relieved by ``shares_by_year`` (nothing after the years listed; the last,
    part year pro rata)."""
    relieved = 0.0
    for year, share in enumerate(shares_by_year):
        relieved += share * min(max(lease_years - year, 0.0), 1.0)
    return relieved / lease_years


@dataclass(frozen=True)
class _Parks:
    """The parks of ``parks.initial`` (file order), all open from the start, as arrays by park:
    lead sector (an index into ``district.sectors``), whether it has a service platform, its
    rent over the market rent, whether the land lever relieves rent there, its own minimum
    revenue (0: none) and the firms seated in it at the start."""

    lead: np.ndarray
    platform: np.ndarray
    rent_ratio: np.ndarray
    relieves: np.ndarray
    min_revenue: np.ndarray
    seats: np.ndarray

    def offer(self, rng, sector: np.ndarray, revenue: np.ndarray) -> np.ndarray:
        """The park offered to each applicant of ``sector`` and ``revenue`` (-1: none): one of
        its lead sector's parks whose minimum revenue it meets, uniformly, else one of the
        other sectors' parks whose minimum it meets. One draw per applicant."""
        u = rng.random(len(sector))
        if not len(self.lead):
            return np.full(len(sector), -1, dtype=np.int64)
        meets = self.min_revenue <= revenue[:, None]
        same = self.lead == sector[:, None]
        lead = meets & same
        among = np.where(lead.any(axis=1)[:, None], lead, meets & ~same)
        count = among.sum(axis=1)
        pick = np.floor(u * count)
        park = np.argmax(np.cumsum(among, axis=1) > pick[:, None], axis=1)
        return np.where(count > 0, park, -1)


def _floor_need(district, revenue: np.ndarray, floor_factor: np.ndarray) -> np.ndarray:
    """Floor (m²) that firms of these revenues and floor factors need."""
    return (
        np.maximum(district.floor_min_m2, district.floor_m2_per_million_yuan / 1e6 * revenue)
        * floor_factor
    )


@dataclass(frozen=True)
class _Window:
    """The entry standards' revenue window in log revenue: from the admission minimum
    (included) to the upgrade line (excluded)."""

    log_low: float
    log_high: float

    @classmethod
    def of(cls, scenario) -> _Window:
        low = scenario.parks.admission.min_revenue_yuan
        return cls(
            math.log(low) if low > 0 else -math.inf,
            math.log(scenario.enterprises.upgrade_threshold_yuan),
        )

    def admits(self, log_revenue: np.ndarray) -> np.ndarray:
        return (log_revenue >= self.log_low) & (log_revenue < self.log_high)


@dataclass
class _Pool:
    """The district pool: initial firms ``0 .. initial-1``, then new firms in order of birth.

    ``log_revenue0`` is each firm's log revenue at the start (or at birth), NaN until drawn:
    it is drawn only for the firms that can reach a park.
    """

    initial: int
    births: np.ndarray
    log_revenue0: np.ndarray

    @property
    def size(self) -> int:
        return self.initial + len(self.births)


@dataclass(frozen=True)
class _Traits:
    """The firms that can reach a park, the ``seated`` ones first, then the applicants: their
    pool ids, age at the start (new firms: 0), birth time (months), log revenue at the start
    (or birth), sector, tech and R&D status, floor factor, land take-up draw and access to
    credit."""

    firm_id: np.ndarray
    seated: int
    age0: np.ndarray
    born: np.ndarray
    log_revenue: np.ndarray
    sector: np.ndarray
    tech: np.ndarray
    rd: np.ndarray
    floor_factor: np.ndarray
    land_draw: np.ndarray
    credit: np.ndarray
    rd_intensity: np.ndarray


@dataclass
class _FirmTable:
    """Every firm that was in a park (seated at the start or entered), one row each, in order of
    entry, as numpy columns that the reports update.

    ``park`` indexes :class:`_Parks`; ``platform`` and ``relieves`` are its park's, and
    ``land_draw`` the land take-up draw the firm applied with. ``interval_start`` is the start
    of the interval a firm is living, and ``drift``, ``tech_multiplier`` and ``rd_multiplier``
    the support it holds for it (none in the stub of a seated firm). ``reason`` is an index
    into :data:`EXIT_REASONS`.
    """

    firm_id: np.ndarray
    park: np.ndarray
    entered_at: np.ndarray
    born: np.ndarray
    revenue_at_entry: np.ndarray
    log_revenue: np.ndarray
    tech_at_entry: np.ndarray
    tech: np.ndarray
    rd: np.ndarray
    floor_factor: np.ndarray
    floor: np.ndarray
    platform: np.ndarray
    relieves: np.ndarray
    land_draw: np.ndarray
    credit: np.ndarray
    rd_intensity: np.ndarray
    upgraded_at: np.ndarray
    tech_at: np.ndarray
    exited_at: np.ndarray
    reason: np.ndarray
    interval_start: np.ndarray
    drift: np.ndarray
    tech_multiplier: np.ndarray
    rd_multiplier: np.ndarray

    def present(self, now: float) -> np.ndarray:
        """Rows of the firms in a park at ``now``."""
        return np.flatnonzero((self.entered_at <= now) & np.isnan(self.exited_at))

    def output(self, pool_firms: int) -> TwinOutput:
        return TwinOutput(
            firm_id=self.firm_id,
            park=self.park,
            entered_at=self.entered_at,
            age_at_entry=(self.entered_at - self.born) / 12.0,
            revenue_at_entry=self.revenue_at_entry,
            upgraded_at=self.upgraded_at,
            tech_at=self.tech_at,
            tech_at_entry=self.tech_at_entry,
            exited_at=self.exited_at,
            exit_reason=np.array(EXIT_REASONS, dtype=object)[self.reason],
            age_at_exit=(self.exited_at - self.born) / 12.0,
            pool_firms=pool_firms,
        )


@dataclass(frozen=True)
class _Findings:
    """What a report found for the firms it reviewed (``rows``): who is in breach of contract,
    who outgrew its floor, and the floor each needs."""

    rows: np.ndarray
    breach: np.ndarray
    grows: np.ndarray
    need: np.ndarray

    @classmethod
    def none(cls) -> _Findings:
        return cls(
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=bool),
            np.zeros(0, dtype=bool),
            np.zeros(0),
        )


class _Failure:
    """Failure in a park: the integrated age hazard over an interval, times the parks' exit
    multiplier, the shocks' factor over the interval and the firm's support."""

    def __init__(self, scenario, shocks: _Shocks):
        self.age = _AgeHazard(scenario.enterprises.exit_hazard_by_age)
        self.shocks = shocks
        self.park = scenario.parks.exit_hazard_multiplier
        self.horizon = float(scenario.horizon_months)

    def draw(self, rng, firms: _FirmTable, rows: np.ndarray, a, b, support) -> None:
        """Draw whether the firms ``rows`` fail in ``[a, b)`` and when (constant hazard inside),
        given the exit multiplier of their ``support``."""
        multiplier = self.park * self.shocks.hazard_factor(a, b) * support
        born = firms.born[rows]
        h = (
            self.age.integral((b - born) / 12.0) - self.age.integral((a - born) / 12.0)
        ) * multiplier
        u = rng.random(len(rows))
        with np.errstate(divide="ignore", invalid="ignore"):
            when = a + (b - a) * (-np.log1p(-u) / h)
        failed = (u < -np.expm1(-h)) & (when < self.horizon)
        firms.exited_at[rows[failed]] = when[failed]
        firms.reason[rows[failed]] = _FAILURE


def _arrivals(rng: np.random.Generator, rate: float, horizon: float) -> np.ndarray:
    """Times of a Poisson process of ``rate`` per month on ``[0, horizon)``, in order."""
    if rate <= 0:
        return np.zeros(0)
    expected = rate * horizon
    times = np.cumsum(rng.exponential(1.0 / rate, int(expected + 10.0 * math.sqrt(expected) + 20)))
    while times[-1] < horizon:  # practically never: more arrivals than ten standard deviations
        times = np.concatenate(
            [times, times[-1] + np.cumsum(rng.exponential(1.0 / rate, len(times)))]
        )
    return times[: np.searchsorted(times, horizon)]


# ------------------------------------------------------------------------------ the parks


def _parks(rng, scenario) -> _Parks:
    """The parks of ``parks.initial``, on their development models' terms, each with a service
    platform where its entry says so."""
    p = scenario.parks
    sectors = list(scenario.district.sectors)
    market = p.rent_yuan_m2_month
    lead, rent_ratio, relieves, min_revenue, seats = [], [], [], [], []
    for spec in p.initial:
        model = p.pipeline.models.get(spec.development_model)
        rent = market
        if model is not None and model.rent_yuan_m2_month is not None:
            rent = model.rent_yuan_m2_month
        if spec.sells_units:  # a buyer weighs the yearly cost of owning its unit, by the month
            rent = model.sale_price_yuan_per_m2 * scenario.district.owner_cost_rate_per_year / 12.0
        ratio = rent / market if market > 0 else 1.0
        lead.append(sectors.index(spec.lead_sector))
        rent_ratio.append(ratio)
        relieves.append(not spec.sells_units and ratio > 0)
        min_revenue.append(
            model.min_revenue_yuan
            if model is not None and model.min_revenue_yuan is not None
            else 0.0
        )
        seats.append(spec.firms if spec.status == "operating" else 0)
    platform = np.array([bool(spec.platform) for spec in p.initial], dtype=bool)
    return _Parks(
        lead=np.array(lead, dtype=np.int64),
        platform=platform,
        rent_ratio=np.array(rent_ratio, dtype=float),
        relieves=np.array(relieves, dtype=bool),
        min_revenue=np.array(min_revenue, dtype=float),
        seats=np.array(seats, dtype=np.int64),
    )


# ------------------------------------------------------------------------------- the pool


def _pool(rng, scenario) -> _Pool:
    """The initial firms and the new firms formed during the run (a Poisson process at a rate
    proportional to the initial pool)."""
    d = scenario.district
    births = _arrivals(
        rng, d.formation_rate_per_year * d.firms / 12.0, float(scenario.horizon_months)
    )
    return _Pool(d.firms, births, np.full(d.firms + len(births), np.nan))


def _seat(
    rng, scenario, pool: _Pool, window: _Window, parks: _Parks
) -> tuple[np.ndarray, np.ndarray]:
    """The initial firms seated in operating parks at the start, and the park of each: as many
    as those parks hold, drawn at random among those whose revenue is inside the admission
    window, and spread at random over the parks, each filled in file order while firms last.

    They are the first fitting firms in a random order of the initial firms, so only a prefix
    of that order needs a revenue (written into ``pool.log_revenue0``); the rest of the order
    is drawn only if the prefix holds too few fitting firms.
    """
    n0 = pool.initial
    seats = int(parks.seats.sum())
    if not seats or not n0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    d = scenario.district
    log_median, sigma = math.log(d.revenue_median_yuan), d.revenue_log_sigma
    # how far into the order to draw at once: the expected
    # prefix holding `seats` fitting firms, and a margin
    fit = 1.0
    if sigma > 0:
        z_low, z_high = (
            (window.log_low - log_median) / sigma,
            (window.log_high - log_median) / sigma,
        )
        fit = max(
            0.5 * (math.erf(z_high / math.sqrt(2.0)) - math.erf(z_low / math.sqrt(2.0))), 1e-6
        )
    size = min(n0, int(seats / fit + 6.0 * math.sqrt(seats / fit) + 50))
    order = rng.choice(n0, size=size, replace=False)
    values = rng.normal(log_median, sigma, size)
    fits = window.admits(values)
    if fits.sum() < seats and size < n0:
        rest = rng.permutation(np.setdiff1d(np.arange(n0), order, assume_unique=True))
        more = rng.normal(log_median, sigma, len(rest))
        order, values = np.concatenate([order, rest]), np.concatenate([values, more])
        fits = window.admits(values)
    pool.log_revenue0[order] = values
    seated = np.sort(order[np.flatnonzero(fits)[:seats]])
    park = np.repeat(np.arange(len(parks.seats)), parks.seats)[: len(seated)]
    return seated, rng.permutation(park)


def _relocation(
    rng, scenario, shocks: _Shocks, pool: _Pool, seated: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pool firms that relocation pressure makes apply before the horizon (not the seated
    ones), and the time of each one's first application.

    A firm first applies when the integrated pressure has risen by an Exp(1) draw above its
    level at the start (or at birth). For initial firms, that happens before the horizon with
    probability 1 - exp(-pressure at the horizon), at a truncated Exp(1) level.
    """
    d = scenario.district
    months = scenario.horizon_months
    n0, births = pool.initial, pool.births
    campaigns = np.ones(months)  # rectification campaigns multiply the pressure in their months
    for c in d.campaigns:
        first = month_index(scenario.calendar.start, c.start)
        last = month_index(scenario.calendar.start, c.end)
        campaigns[max(first, 0):max(min(last + 1, months), 0)] *= c.pressure_multiplier
    monthly = d.relocation_rate_per_year / 12.0 * shocks.relocation_by_month(months) * campaigns
    pressure = np.concatenate([[0.0], np.cumsum(monthly)])
    total = pressure[-1]
    initial = np.zeros(0, dtype=np.int64)
    if n0 and total > 0:
        initial = rng.choice(n0, size=rng.binomial(n0, -math.expm1(-total)), replace=False)
    level = -np.log1p(rng.random(len(initial)) * math.expm1(-total))
    not_seated = np.ones(n0, dtype=bool)
    not_seated[seated] = False
    keep = not_seated[initial]
    initial, level = initial[keep], level[keep]
    level_new = np.interp(births, np.arange(months + 1.0), pressure) + rng.exponential(
        1.0, len(births)
    )
    new = np.flatnonzero(level_new < total)
    applicants = np.concatenate([initial, n0 + new])
    return applicants, _invert(np.concatenate([level, level_new[new]]), pressure)


def _traits(rng, scenario, pool: _Pool, seated: np.ndarray, applicants: np.ndarray) -> _Traits:
    """Age, revenue (where not drawn yet), sector, tech and R&D status, floor factor and land
    take-up draw of the seated firms and the applicants."""
    d = scenario.district
    ids = np.concatenate([seated, applicants])
    m = len(ids)
    n0 = pool.initial
    is_new = ids >= n0
    age0 = np.where(is_new, 0.0, rng.exponential(d.age_mean_years, m))
    born = -12.0 * age0
    born[is_new] = pool.births[ids[is_new] - n0]
    unknown = np.isnan(pool.log_revenue0[ids])
    pool.log_revenue0[ids[unknown]] = rng.normal(
        math.log(d.revenue_median_yuan), d.revenue_log_sigma, int(unknown.sum())
    )
    shares = np.array(list(d.sectors.values()), dtype=float)
    sector = np.minimum(
        np.searchsorted(np.cumsum(shares / shares.sum()), rng.random(m), side="right"),
        len(shares) - 1,
    )
    tech = rng.random(m) < d.tech_share
    rd = (rng.random(m) < d.rd_share) | tech
    floor_factor = np.exp(d.floor_log_sigma * rng.standard_normal(m))
    land_draw = rng.random(m)
    credit = rng.random(m) < d.credit_access_share
    rd_intensity = d.rd_intensity_median * np.exp(d.rd_intensity_log_sigma
                                                  * rng.standard_normal(m))
    return _Traits(ids, len(seated), age0, born, pool.log_revenue0[ids], sector, tech, rd,
                   floor_factor, land_draw, credit, rd_intensity)


def _applications(
    rng, scenario, hazard: _AgeHazard, window: _Window, parks: _Parks, levers: _Levers,
    traits: _Traits, first_application: np.ndarray, shocks: _Shocks,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each applicant's time of entry (NaN if it never enters), log revenue at entry, usual log
    revenue at its application (without what the shocks took then) and park (-1 if none).

    An applicant lives until its integrated age hazard has risen by an Exp(1) draw. At each
    application its revenue has taken the walk's step since its last look; it passes the entry
    standards inside the window with the pass probability, is offered a park
    (:meth:`_Parks.offer`) and takes it (:func:`_accepts`), and otherwise tries again after an
    exponential wait. Parks never fill, so taking a park is entering it; the firm moves in
    ``district.fit_out_months`` later, with its revenue at the application moved by what the
    shocks took or gave back meanwhile. The entry standards and the floor it needs read its
    usual revenue.
    """
    d, e, adm = scenario.district, scenario.enterprises, scenario.parks.admission
    horizon = float(scenario.horizon_months)
    log_reference = math.log(e.growth_reference_revenue_yuan)
    k = traits.seated
    age0, born, rd = traits.age0[k:], traits.born[k:], traits.rd[k:]
    pos = np.arange(len(born))
    dies = born + 12.0 * hazard.age_at(hazard.integral(age0) + rng.exponential(1.0, len(pos)))
    t = first_application
    last = np.maximum(born, 0.0)
    log_revenue = traits.log_revenue[k:]
    pass_probability = adm.pass_probability * np.where(rd, adm.rd_pass_multiplier, 1.0)
    sector, land_draw = traits.sector[k:], traits.land_draw[k:]
    entered_at = np.full(len(pos), np.nan)
    log_revenue_at_entry = traits.log_revenue[k:].copy()
    usual_at_entry = log_revenue_at_entry.copy()
    park_at_entry = np.full(len(pos), -1, dtype=np.int64)
    walk_scale = math.sqrt(2.0) * e.growth_scale_per_year
    for _attempt in range(d.max_applications):
        alive = (t < dies) & (t < horizon)
        pos, t, last, log_revenue, pass_probability, dies = (
            x[alive] for x in (pos, t, last, log_revenue, pass_probability, dies)
        )
        if not len(pos):
            break
        years = (t - last) / 12.0
        sd = (
            walk_scale
            * np.exp(-e.growth_size_exponent * (log_revenue - log_reference))
            * np.sqrt(years)
        )
        log_revenue = (
            log_revenue + e.growth_drift_per_year * years + sd * rng.standard_normal(len(pos))
            + shocks.growth(last, t)
        )
        usual = shocks.usual(log_revenue, t)
        ok = (window.admits(usual) & (log_revenue < window.log_high)
              & (rng.random(len(pos)) < pass_probability))
        # a passing applicant is offered a park, and takes it or not; it moves in with its
        # revenue moved by what the shocks take or give back while it fits out
        passed = np.flatnonzero(ok)
        who = pos[passed]
        moving_in = log_revenue + shocks.growth(t, t + d.fit_out_months)
        revenue = np.exp(moving_in[passed])
        park = parks.offer(rng, sector[who], np.exp(usual[passed]))
        takes = _accepts(
            rng, scenario, parks, levers, park, sector[who], revenue,
            t[passed] + d.fit_out_months, land_draw[who],
        )
        ok[passed] = takes
        park_at_entry[who[takes]] = park[takes]
        entered_at[pos[ok]] = t[ok]
        log_revenue_at_entry[pos[ok]] = moving_in[ok]
        usual_at_entry[pos[ok]] = usual[ok]
        rest = ~ok
        pos, last, log_revenue, pass_probability, dies = (
            x[rest] for x in (pos, t, log_revenue, pass_probability, dies)
        )
        t = last + rng.exponential(d.reapply_months, len(pos))
    # a firm moves in once its floor is fitted out; one that would move in after the horizon
    # has not entered within the run
    entered_at = entered_at + d.fit_out_months
    entered_at[entered_at >= horizon] = np.nan
    return entered_at, log_revenue_at_entry, usual_at_entry, park_at_entry


def _accepts(
    rng, scenario, parks: _Parks, levers: _Levers, park: np.ndarray, sector: np.ndarray,
    revenue: np.ndarray, entry: np.ndarray, land_draw: np.ndarray,
) -> np.ndarray:
    """Whether applicants of ``sector`` and ``revenue`` (moving in at ``entry``, with land
    take-up draws ``land_draw``) take the ``park`` they are offered (-1: none, not taken).

    The acceptance probability, times the platform multiplier where the park has a service
    platform and the off-sector multiplier where its lead sector is not the firm's, times
    (1 / net rent ratio) ** rent elasticity: the park's rent over the market rent, less the
    lease relief where the firm would take the land lever up and the park relieves rent,
    floored at :data:`_LEAST_NET_RENT`. One draw per applicant; a probability above 1 is 1.
    """
    d = scenario.district
    u = rng.random(len(park))
    offered = park >= 0
    if not offered.any():
        return offered
    at = np.where(offered, park, 0)
    p = np.full(len(park), d.acceptance_probability)
    p *= np.where(parks.platform[at], d.platform_acceptance_multiplier, 1.0)
    p *= np.where(parks.lead[at] != sector, d.off_sector_acceptance_multiplier, 1.0)
    if d.rent_elasticity > 0:
        relieved = parks.relieves[at] & levers.takes_land(entry, revenue, land_draw)
        net = parks.rent_ratio[at] * (1.0 - np.where(relieved, levers.lease_relief, 0.0))
        p *= (1.0 / np.maximum(net, _LEAST_NET_RENT)) ** d.rent_elasticity
    return offered & (u < p)


# ------------------------------------------------------------------------- firms in parks


def _enter(
    scenario, parks: _Parks, traits: _Traits, seated_park: np.ndarray, entered_at: np.ndarray,
    log_revenue_at_entry: np.ndarray, usual_at_entry: np.ndarray, park_at_entry: np.ndarray,
) -> _FirmTable:
    """The firm table: the seated firms (in ``seated_park``) and the applicants that entered
    (``entered_at``, ``log_revenue_at_entry``, ``usual_at_entry``, ``park_at_entry``: one value
    per applicant), in order of entry, each with its park and the floor its usual revenue
    needs."""
    k = traits.seated
    entered_at = np.concatenate(
        [np.full(k, -scenario.parks.initial_tenure_months, dtype=float), entered_at]
    )
    log_revenue_at_entry = np.concatenate([traits.log_revenue[:k], log_revenue_at_entry])
    usual = np.concatenate([traits.log_revenue[:k], usual_at_entry])
    park = np.concatenate([seated_park, park_at_entry])
    ids = traits.firm_id
    inside = np.flatnonzero(~np.isnan(entered_at))
    inside = inside[np.lexsort((ids[inside], entered_at[inside]))]
    entered_at = entered_at[inside]
    log_revenue = log_revenue_at_entry[inside]
    revenue_at_entry = np.exp(log_revenue)
    tech_at_entry = traits.tech[inside]
    floor_factor = traits.floor_factor[inside]
    f = len(inside)
    park = park[inside]
    return _FirmTable(
        firm_id=ids[inside].astype(np.int64),
        park=park,
        entered_at=entered_at,
        born=traits.born[inside],
        revenue_at_entry=revenue_at_entry,
        log_revenue=log_revenue,
        tech_at_entry=tech_at_entry,
        tech=tech_at_entry.copy(),
        rd=traits.rd[inside],
        floor_factor=floor_factor,
        floor=_floor_need(scenario.district, np.exp(usual[inside]), floor_factor),
        platform=parks.platform[park],
        relieves=parks.relieves[park],
        land_draw=traits.land_draw[inside],
        credit=traits.credit[inside],
        rd_intensity=traits.rd_intensity[inside],
        upgraded_at=np.full(f, np.nan),
        tech_at=np.full(f, np.nan),
        exited_at=np.full(f, np.nan),
        reason=np.zeros(f, dtype=np.int8),
        interval_start=np.maximum(entered_at, 0.0),
        drift=np.zeros(f),
        tech_multiplier=np.ones(f),
        rd_multiplier=np.ones(f),
    )


def _support(rng, levers: _Levers, firms: _FirmTable, rows: np.ndarray, t, revenue: np.ndarray,
             years_in_park: np.ndarray, land_draws: np.ndarray | None = None) -> np.ndarray:
    """Support from the levers for the interval the firms ``rows`` open at ``t``: held in the
    table (growth drift, tech and R&D multipliers); the exit multiplier is returned.
    ``land_draws``: the firms' land take-up draws, if not drawn afresh."""
    drift, exit_multiplier, tech_multiplier, rd_multiplier = levers.offer(
        rng, t, revenue, years_in_park, firms.platform[rows], firms.relieves[rows], land_draws,
        firms.credit[rows],
    )
    firms.drift[rows] = drift
    firms.tech_multiplier[rows] = tech_multiplier
    firms.rd_multiplier[rows] = rd_multiplier
    return exit_multiplier


def _support_entrants(rng, scenario, firms: _FirmTable, levers: _Levers, failure: _Failure) -> None:
    """Firms that entered between reports: support at entry for the stub up to the next
    report (the land lever by the take-up draw each applied with), then whether and when they
    fail in it."""
    dt = scenario.enterprises.review_interval_months
    entrants = np.flatnonzero(firms.entered_at > 0)
    start = firms.entered_at[entrants]
    stub_end = np.ceil(start / dt) * dt
    exit_multiplier = _support(
        rng,
        levers,
        firms,
        entrants,
        start,
        firms.revenue_at_entry[entrants],
        np.zeros(len(entrants)),
        firms.land_draw[entrants],
    )
    failure.draw(rng, firms, entrants, start, stub_end, exit_multiplier)


def _reporting(
    rng, scenario, firms: _FirmTable, levers: _Levers, shocks: _Shocks, failure: _Failure
) -> None:
    """The half-yearly reports from the start to the horizon (included): each reviews the firms
    whose interval it closes, and, but at the horizon, commits the firms in parks to the next."""
    dt = scenario.enterprises.review_interval_months
    horizon = float(scenario.horizon_months)
    for report in range(math.floor(horizon / dt) + 1):
        now = report * dt
        present = firms.present(now)
        found = _review(rng, scenario, shocks, firms, present, now)
        if not len(present) or now >= horizon:
            continue
        _commit(rng, firms, present, found, now, dt, levers, failure)


def _review(
    rng, scenario, shocks: _Shocks, firms: _FirmTable, present: np.ndarray, now: float
) -> _Findings:
    """Close the interval of the firms in a park before the report at ``now``: growth, upgrade,
    R&D and tech status, and the moves it finds (breach of contract, need for space)."""
    rows = present[firms.interval_start[present] < now]
    if not len(rows):
        return _Findings.none()
    e = scenario.enterprises
    closing = now - _CLOSE  # a report's findings are dated at the last instant of the half-year
    # growth: a Laplace step whose scale falls with size;
    # drift from the park, its service platform, the support held and any shock
    log_reference = math.log(e.growth_reference_revenue_yuan)
    services = scenario.parks.platforms.services
    base_drift = (e.growth_drift_per_year + scenario.parks.growth_drift_per_year
                  + np.where(firms.platform[rows], services.growth_drift_per_year, 0.0))
    s = firms.interval_start[rows]
    dy = (now - s) / 12.0
    lr = firms.log_revenue[rows]
    scale = (
        e.growth_scale_per_year
        * np.exp(-e.growth_size_exponent * (lr - log_reference))
        * np.sqrt(dy)
    )
    lr = (
        lr + (base_drift + firms.drift[rows]) * dy + shocks.growth(s, now) + rng.laplace(0.0, scale)
    )
    firms.log_revenue[rows] = lr
    revenue = np.exp(lr)
    # above the upgrade line, registered (小升规): at once, or with the probability of its rate
    # over the interval (a base, plus the reward's part while the tax lever is active, times
    # the guidance of a service platform)
    above = np.isnan(firms.upgraded_at[rows]) & (revenue >= e.upgrade_threshold_yuan)
    u_register = rng.random(len(rows))
    if e.registration_rate_per_year is not None:
        tax = scenario.policies.tax
        start = scenario.calendar.start
        active = tax.enabled and (month_index(start, tax.window.start) <= closing
                                  < month_index(start, tax.window.end) + 1)
        rate = e.registration_rate_per_year + (
            tax.registration_rate_per_100k_yuan * tax.upgrade_reward_yuan / 1e5 if active else 0.0)
        guidance = np.where(firms.platform[rows],
                            scenario.parks.platforms.services.registration_rate_multiplier, 1.0)
        above &= u_register < -np.expm1(-rate * guidance * dy)
    firms.upgraded_at[rows[above]] = closing
    # R&D and tech status
    u_status, u_contract = rng.random((2, len(rows)))
    was_rd, was_tech = firms.rd[rows], firms.tech[rows]
    tech_rate, rd_rate = e.tech_hazard_per_year, e.rd_adoption_per_year
    tech_rate = tech_rate * np.where(firms.platform[rows], services.tech_hazard_multiplier, 1.0)
    k = e.tech_intensity_elasticity  # certification by R&D intensity, the mean rate kept
    d = scenario.district
    tech_rate = tech_rate * (firms.rd_intensity[rows] / d.rd_intensity_median) ** k \
        / math.exp((k * d.rd_intensity_log_sigma) ** 2 / 2)
    certified = (
        ~was_tech & was_rd & (u_status < -np.expm1(-tech_rate * firms.tech_multiplier[rows] * dy))
    )
    starts_rd = (
        ~was_tech & ~was_rd & (u_status < -np.expm1(-rd_rate * firms.rd_multiplier[rows] * dy))
    )
    firms.tech[rows[certified]] = True
    firms.tech_at[rows[certified]] = closing
    firms.rd[rows[starts_rd]] = True
    # moves, made when the next half-year opens: a
    # breached performance contract, or a need for space
    breach = (
        (now - firms.entered_at[rows] >= e.contract_months)
        & (revenue < e.contract_min_revenue_yuan_per_m2 * firms.floor[rows])
        & (u_contract < e.contract_enforcement_probability)
    )
    need = _floor_need(scenario.district, revenue, firms.floor_factor[rows])
    grows = ~breach & (need > firms.floor[rows] * (1.0 + e.expansion_tolerance))
    return _Findings(rows, breach, grows, need)


def _commit(rng, firms: _FirmTable, present: np.ndarray, found: _Findings, now: float, dt: float,
            levers: _Levers, failure: _Failure) -> None:
    """Open the next interval at ``now`` for the firms in a park: the moves the report found,
    then support from the levers, then whether and when each fails in the interval."""
    _move(firms, found, now)
    present = present[np.isnan(firms.exited_at[present])]
    years_in_park = (now - firms.entered_at[present]) / 12.0
    exit_multiplier = _support(
        rng, levers, firms, present, now, np.exp(firms.log_revenue[present]), years_in_park
    )
    firms.interval_start[present] = now
    failure.draw(rng, firms, present, now, now + dt, exit_multiplier)


def _move(firms: _FirmTable, found: _Findings, now: float) -> None:
    """Firms that outgrew their floor expand (parks never fill); firms in breach are moved out."""
    rows = found.rows
    firms.floor[rows[found.grows]] = found.need[found.grows]
    firms.exited_at[rows[found.breach]] = now
    firms.reason[rows[found.breach]] = _CONTRACT


# --------------------------------------------------------------------------- one replication


def run_twin(scenario, seed: int | np.random.SeedSequence) -> TwinOutput:
    """One replication of the twin for ``scenario`` (a validated
    :class:`~parksim.scenario.Scenario`).

    The phases run, and draw from the twin's one generator, in this order; the order is part
    of what a seed means.
    """
    rng = np.random.default_rng(seed)
    shocks = _Shocks(scenario)
    failure = _Failure(scenario, shocks)
    window = _Window.of(scenario)
    levers = _Levers(scenario)
    parks = _parks(rng, scenario)
    pool = _pool(rng, scenario)
    seated, seated_park = _seat(rng, scenario, pool, window, parks)
    applicants, first_application = _relocation(rng, scenario, shocks, pool, seated)
    traits = _traits(rng, scenario, pool, seated, applicants)
    entered_at, log_revenue_at_entry, usual_at_entry, park_at_entry = _applications(
        rng, scenario, failure.age, window, parks, levers, traits, first_application, shocks
    )
    firms = _enter(
        scenario, parks, traits, seated_park, entered_at, log_revenue_at_entry, usual_at_entry,
        park_at_entry,
    )
    _support_entrants(rng, scenario, firms, levers, failure)
    _reporting(rng, scenario, firms, levers, shocks, failure)
    return firms.output(pool.size)
