"""A vectorised numpy twin of the firm lifecycle: the pool, applications and life in a park.

The SimPy model (:mod:`parksim.model`) walks applications one at a time through the event
loop, places firms in parks with finite room, pays support from capped budgets and schedules
each failure as an event. The twin applies the same lifecycle rules to all firms at once, with
whole-array numpy operations and loops only over application attempts and report dates, for
two purposes:

- **a speed floor**: the time of a model replication divided by the twin's time for the same
  pool, parks and horizon says how much the event machinery costs over the bare arithmetic;
- **an independent check**: the twin shares no code with the model (it draws from its own
  ``numpy.random.Generator`` and integrates the age hazard, the shocks and the relocation
  pressure itself), so where the two describe the same world, a district whose parks never
  fill, they must agree in distribution on entries, upgrades, tech status and exits.

The lifecycle it follows:

- **Pool.** ``district.firms`` firms at the start plus new firms formed as a Poisson process
  (born during the run, age 0). A firm dies at the age at which its integrated age hazard
  (``enterprises.exit_hazard_by_age``) has risen by an Exp(1) draw above its value at the
  start (or at birth). Relocation pressure (``district.relocation_rate_per_year``, times the
  shocks' relocation multipliers) makes it apply when its integral has risen by an Exp(1)
  draw since the start (or birth). At each application the firm's log revenue has moved by a
  normal step with the in-park Laplace walk's drift and variance; it passes the entry
  standards inside the revenue window with ``pass_probability`` (times ``rd_pass_multiplier``
  for R&D firms) and otherwise tries again after an exponential wait, up to
  ``district.max_applications`` times, while alive and before the horizon.
- **Entry.** A passing applicant enters at once. The firms already in operating parks at the
  start are drawn at random among the initial pool firms inside the revenue window, their
  tenure counted from ``-parks.initial_tenure_months``.
- **In a park.** Firms report every ``review_interval_months`` on a common calendar
  (t = 0, dt, 2 dt, ...), the report at the end of the horizon included; what a report finds
  is dated at the last instant of the half-year it closes. At each report a firm that was in
  the park before it grows (a Laplace step whose scale falls with size), may cross the upgrade
  line (小升规), may start R&D or be certified tech-based, may outgrow its floor and may breach
  its performance contract. When the next half-year opens (so not after the report at the
  horizon) a firm in breach may be moved out and one that outgrew its floor expands; each
  firm then learns its support from the four levers for the next interval and draws whether,
  and when, it fails in it. A firm entering between two reports learns its support at entry,
  for its first, shorter interval up to the next report.

What the twin leaves out, because parks never fill in the world it describes: park capacity,
opening dates, park choice, lead-sector shares and graduations (a firm that outgrows its
floor always expands). It has no park grades either, so it ignores the levers'
``min_park_grade``, the land lever's ``grade_drift_per_year`` and delisting; it books no money
and ignores budget caps (every eligible firm that takes a lever up is supported); and a firm's
park has a service platform with probability ``policies.services.platform_coverage``, drawn
once per firm at entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parksim.calendar import month_index

__all__ = ["TwinOutput", "run_twin", "EXIT_REASONS"]

_CLOSE = 1e-6
"""Months before ``k * dt`` at which a report's findings are dated: inside the half-year they close."""

EXIT_REASONS = ("", "failure", "contract", "graduated")
"""Values of :attr:`TwinOutput.exit_reason` ("" for firms still in a park at the horizon)."""

_NONE, _FAILURE, _CONTRACT = 0, 1, 2
_LEVERS = ("finance", "land", "tax", "services")


@dataclass(frozen=True)
class TwinOutput:
    """One twin replication: one row per firm that was in a park (seated at the start or entered).

    Times are months since the calendar start; ages are in years. ``age_at_entry`` is the age
    at ``entered_at``, which for the firms seated at the start is the start of their tenure
    (negative for a firm whose drawn age is shorter than its tenure), so that
    ``age_at_exit == age_at_entry + (exited_at - entered_at) / 12`` for every firm.
    """

    firm_id: np.ndarray
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

    def _overlap(self, a, b) -> np.ndarray:
        a = np.asarray(a, dtype=float)[..., None]
        b = np.asarray(b, dtype=float)[..., None]
        return np.maximum(np.minimum(b, self.t1) - np.maximum(a, self.t0), 0.0)

    def growth(self, a, b):
        """Shock drift in log revenue over ``[a, b)``."""
        if not len(self.t0):
            return 0.0
        return self._overlap(a, b) @ self.drift / 12.0

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
        self.rd = np.array([scenario.policies.tax.rd_adoption_multiplier if name == "tax" else 1.0 for name in _LEVERS])
        self.land = _LEVERS.index("land")
        self.services = _LEVERS.index("services")
        # rent subsidies taper with the years in the park: the share of the full effect, 0 beyond the list
        shares = scenario.policies.land.rent_subsidy_share_by_year
        self.land_strength = np.array([*shares, 0.0]) / (max(shares) or 1.0)

    def offer(self, rng, t, revenue, years_in_park, platform):
        """Support for an interval starting at ``t`` (one time, or one per firm): (drift, exit,
        tech and R&D multipliers), one value per firm.

        A lever supports a firm if it is active at ``t``, the firm is small enough, takes it up
        (and, for services, its park has a platform); land supports it with the rent share of
        its year in the park relative to the full share.
        """
        n = len(revenue)
        active = self.enabled[:, None] & (self.t0[:, None] <= t) & (t < self.t1[:, None])
        takes = active & (revenue <= self.max_revenue[:, None]) & (rng.random((len(self.enabled), n)) < self.take_up[:, None])
        strength = takes.astype(float)
        strength[self.services] *= platform
        year = np.minimum(years_in_park.astype(np.int64), len(self.land_strength) - 1)
        strength[self.land] *= self.land_strength[year]
        drift = self.drift @ strength
        exit_multiplier = np.prod(1.0 + (self.exit[:, None] - 1.0) * strength, axis=0)
        tech_multiplier = np.prod(1.0 + (self.tech[:, None] - 1.0) * strength, axis=0)
        rd_multiplier = np.prod(np.where(strength > 0, self.rd[:, None], 1.0), axis=0)
        return drift, exit_multiplier, tech_multiplier, rd_multiplier


def _arrivals(rng: np.random.Generator, rate: float, horizon: float) -> np.ndarray:
    """Times of a Poisson process of ``rate`` per month on ``[0, horizon)``, in order."""
    if rate <= 0:
        return np.zeros(0)
    expected = rate * horizon
    times = np.cumsum(rng.exponential(1.0 / rate, int(expected + 10.0 * math.sqrt(expected) + 20)))
    while times[-1] < horizon:  # practically never: more arrivals than ten standard deviations
        times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(1.0 / rate, len(times)))])
    return times[: np.searchsorted(times, horizon)]


def _seat(rng, n0: int, seats: int, log_low: float, log_high: float, log_median: float, sigma: float,
          log_revenue0: np.ndarray) -> np.ndarray:
    """The initial firms seated in parks at the start: ``seats`` drawn at random among those
    whose revenue is inside the admission window.

    They are the first fitting firms in a random order of the initial firms, so only a prefix
    of that order needs a revenue (written into ``log_revenue0``); the rest of the order is
    drawn only if the prefix holds too few fitting firms.
    """
    if not seats or not n0:
        return np.zeros(0, dtype=np.int64)
    # how far into the order to draw at once: the expected prefix holding `seats` fitting firms, and a margin
    fit = 1.0
    if sigma > 0:
        z_low, z_high = (log_low - log_median) / sigma, (log_high - log_median) / sigma
        fit = max(0.5 * (math.erf(z_high / math.sqrt(2.0)) - math.erf(z_low / math.sqrt(2.0))), 1e-6)
    size = min(n0, int(seats / fit + 6.0 * math.sqrt(seats / fit) + 50))
    order = rng.choice(n0, size=size, replace=False)
    values = rng.normal(log_median, sigma, size)
    fits = (values >= log_low) & (values < log_high)
    if fits.sum() < seats and size < n0:
        rest = rng.permutation(np.setdiff1d(np.arange(n0), order, assume_unique=True))
        more = rng.normal(log_median, sigma, len(rest))
        order, values = np.concatenate([order, rest]), np.concatenate([values, more])
        fits = (values >= log_low) & (values < log_high)
    log_revenue0[order] = values
    return np.sort(order[np.flatnonzero(fits)[:seats]])


def run_twin(scenario, seed: int | np.random.SeedSequence) -> TwinOutput:
    """One replication of the twin for ``scenario`` (a validated :class:`~parksim.scenario.Scenario`)."""
    rng = np.random.default_rng(seed)
    d = scenario.district
    e = scenario.enterprises
    parks = scenario.parks
    adm = parks.admission
    horizon = float(scenario.horizon_months)
    months = scenario.horizon_months
    hazard = _AgeHazard(e.exit_hazard_by_age)
    shocks = _Shocks(scenario)
    low, high = adm.min_revenue_yuan, e.upgrade_threshold_yuan
    log_low, log_high = (math.log(low) if low > 0 else -math.inf), math.log(high)
    log_reference = math.log(e.growth_reference_revenue_yuan)
    log_median = math.log(d.revenue_median_yuan)

    # ---- the pool: initial firms 0 .. n0-1, then new firms in order of birth. Attributes are
    # drawn only for the firms that can reach a park (seated at the start, or applying before
    # the horizon); the others' draws would not change anything.
    n0 = d.firms
    births = _arrivals(rng, d.formation_rate_per_year * n0 / 12.0, horizon)
    n = n0 + len(births)
    log_revenue0 = np.full(n, np.nan)
    seats = sum(p.firms for p in parks.initial if p.status == "operating")
    seated = _seat(rng, n0, seats, log_low, log_high, log_median, d.revenue_log_sigma, log_revenue0)

    # relocation: a firm first applies when the integrated pressure has risen by an Exp(1) draw
    # above its level at the start (or at birth). For initial firms, that happens before the
    # horizon with probability 1 - exp(-pressure at the horizon), at a truncated Exp(1) level.
    monthly = d.relocation_rate_per_year / 12.0 * shocks.relocation_by_month(months)
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
    level_new = np.interp(births, np.arange(months + 1.0), pressure) + rng.exponential(1.0, len(births))
    new = np.flatnonzero(level_new < total)
    applicants = np.concatenate([initial, n0 + new])
    first_application = _invert(np.concatenate([level, level_new[new]]), pressure)

    ids = np.concatenate([seated, applicants])
    m = len(ids)
    is_new = ids >= n0
    age0 = np.where(is_new, 0.0, rng.exponential(d.age_mean_years, m))
    born = -12.0 * age0
    born[is_new] = births[ids[is_new] - n0]
    unknown = np.isnan(log_revenue0[ids])
    log_revenue0[ids[unknown]] = rng.normal(log_median, d.revenue_log_sigma, int(unknown.sum()))
    tech = rng.random(m) < d.tech_share
    rd = (rng.random(m) < d.rd_share) | tech
    floor_factor = np.exp(d.floor_log_sigma * rng.standard_normal(m))

    # applications: the walk's step since the last look, then the entry standards; retry after a wait
    k = len(seated)
    pos = np.arange(k, m)
    dies = born[pos] + 12.0 * hazard.age_at(hazard.integral(age0[pos]) + rng.exponential(1.0, len(pos)))
    t = first_application
    last = np.maximum(born[pos], 0.0)
    log_revenue = log_revenue0[ids[pos]]
    pass_probability = adm.pass_probability * np.where(rd[pos], adm.rd_pass_multiplier, 1.0)
    entered_at = np.full(m, np.nan)
    entered_at[:k] = -parks.initial_tenure_months
    log_revenue_at_entry = log_revenue0[ids]
    walk_scale = math.sqrt(2.0) * e.growth_scale_per_year
    for _attempt in range(d.max_applications):
        alive = (t < dies) & (t < horizon)
        pos, t, last, log_revenue, pass_probability, dies = (
            x[alive] for x in (pos, t, last, log_revenue, pass_probability, dies)
        )
        if not len(pos):
            break
        years = (t - last) / 12.0
        sd = walk_scale * np.exp(-e.growth_size_exponent * (log_revenue - log_reference)) * np.sqrt(years)
        log_revenue = log_revenue + e.growth_drift_per_year * years + sd * rng.standard_normal(len(pos))
        ok = (log_revenue >= log_low) & (log_revenue < log_high) & (rng.random(len(pos)) < pass_probability)
        entered_at[pos[ok]] = t[ok]
        log_revenue_at_entry[pos[ok]] = log_revenue[ok]
        rest = ~ok
        pos, last, log_revenue, pass_probability, dies = (
            x[rest] for x in (pos, t, log_revenue, pass_probability, dies)
        )
        t = last + rng.exponential(d.reapply_months, len(pos))

    # ---- firms in parks: the seated firms and the entrants, in order of entry
    inside = np.flatnonzero(~np.isnan(entered_at))
    inside = inside[np.lexsort((ids[inside], entered_at[inside]))]
    firm_id = ids[inside].astype(np.int64)
    entered_at = entered_at[inside]
    born = born[inside]
    rd = rd[inside]
    tech_at_entry = tech[inside]
    tech = tech_at_entry.copy()
    floor_factor = floor_factor[inside]
    log_revenue = log_revenue_at_entry[inside]
    revenue_at_entry = np.exp(log_revenue)
    f = len(firm_id)
    floor_per_yuan = d.floor_m2_per_million_yuan / 1e6
    floor = np.maximum(d.floor_min_m2, floor_per_yuan * revenue_at_entry) * floor_factor
    platform = rng.random(f) < scenario.policies.services.platform_coverage

    dt = e.review_interval_months
    park_exit = parks.exit_hazard_multiplier
    exited_at = np.full(f, np.nan)
    reason = np.zeros(f, dtype=np.int8)
    upgraded_at = np.full(f, np.nan)
    tech_at = np.full(f, np.nan)
    # the interval each firm is living: its start, and the support it holds for it (none in a stub)
    interval_start = np.maximum(entered_at, 0.0)
    drift = np.zeros(f)
    tech_multiplier = np.ones(f)
    rd_multiplier = np.ones(f)

    def fail(rows: np.ndarray, a, b, multiplier) -> None:
        """Draw whether the firms ``rows`` fail in ``[a, b)`` and when (constant hazard inside)."""
        h = (hazard.integral((b - born[rows]) / 12.0) - hazard.integral((a - born[rows]) / 12.0)) * multiplier
        u = rng.random(len(rows))
        with np.errstate(divide="ignore", invalid="ignore"):
            when = a + (b - a) * (-np.log1p(-u) / h)
        failed = (u < -np.expm1(-h)) & (when < horizon)
        exited_at[rows[failed]] = when[failed]
        reason[rows[failed]] = _FAILURE

    # entrants between reports: support at entry for the stub up to the next report
    levers = _Levers(scenario)
    entrants = np.flatnonzero(entered_at > 0)
    start, stub_end = entered_at[entrants], np.ceil(entered_at[entrants] / dt) * dt
    support = levers.offer(rng, start, revenue_at_entry[entrants], np.zeros(len(entrants)), platform[entrants])
    drift[entrants], exit_multiplier, tech_multiplier[entrants], rd_multiplier[entrants] = support
    fail(entrants, start, stub_end, park_exit * shocks.hazard_factor(start, stub_end) * exit_multiplier)

    base_drift = e.growth_drift_per_year + parks.growth_drift_per_year
    floor_min, tolerance = d.floor_min_m2, e.expansion_tolerance
    contract_per_m2 = e.contract_min_revenue_yuan_per_m2
    tech_rate, rd_rate = e.tech_hazard_per_year, e.rd_adoption_per_year
    for report in range(math.floor(horizon / dt) + 1):
        now = report * dt
        closing = now - _CLOSE  # a report's findings are dated at the last instant of the half-year
        present = np.flatnonzero((entered_at <= now) & np.isnan(exited_at))
        # reviews of the firms whose interval ends now: growth, upgrade, R&D and tech, space, contract
        rows = present[interval_start[present] < now]
        if len(rows):
            s = interval_start[rows]
            dy = (now - s) / 12.0
            lr = log_revenue[rows]
            scale = e.growth_scale_per_year * np.exp(-e.growth_size_exponent * (lr - log_reference)) * np.sqrt(dy)
            lr = lr + (base_drift + drift[rows]) * dy + shocks.growth(s, now) + rng.laplace(0.0, scale)
            log_revenue[rows] = lr
            revenue = np.exp(lr)
            upgraded_at[rows[np.isnan(upgraded_at[rows]) & (revenue >= high)]] = closing
            u_status, u_contract = rng.random((2, len(rows)))
            was_rd, was_tech = rd[rows], tech[rows]
            certified = ~was_tech & was_rd & (u_status < -np.expm1(-tech_rate * tech_multiplier[rows] * dy))
            starts_rd = ~was_tech & ~was_rd & (u_status < -np.expm1(-rd_rate * rd_multiplier[rows] * dy))
            tech[rows[certified]] = True
            tech_at[rows[certified]] = closing
            rd[rows[starts_rd]] = True
            breach = (
                (now - entered_at[rows] >= e.contract_months)
                & (revenue < contract_per_m2 * floor[rows])
                & (u_contract < e.contract_enforcement_probability)
            )
            need = np.maximum(floor_min, floor_per_yuan * revenue) * floor_factor[rows]
            grows = ~breach & (need > floor[rows] * (1.0 + tolerance))
        if not len(present) or now >= horizon:
            continue
        # the moves the report found, made as the next half-year opens
        if len(rows):
            floor[rows[grows]] = need[grows]
            exited_at[rows[breach]] = now
            reason[rows[breach]] = _CONTRACT
            present = present[np.isnan(exited_at[present])]
        # support for the next interval, then its exit draw
        years_in_park = (now - entered_at[present]) / 12.0
        support = levers.offer(rng, now, np.exp(log_revenue[present]), years_in_park, platform[present])
        drift[present], exit_multiplier, tech_multiplier[present], rd_multiplier[present] = support
        interval_start[present] = now
        fail(present, now, now + dt, park_exit * shocks.hazard_factor(now, now + dt) * exit_multiplier)

    return TwinOutput(
        firm_id=firm_id,
        entered_at=entered_at,
        age_at_entry=(entered_at - born) / 12.0,
        revenue_at_entry=revenue_at_entry,
        upgraded_at=upgraded_at,
        tech_at=tech_at,
        tech_at_entry=tech_at_entry,
        exited_at=exited_at,
        exit_reason=np.array(EXIT_REASONS, dtype=object)[reason],
        age_at_exit=(exited_at - born) / 12.0,
        pool_firms=n,
    )
