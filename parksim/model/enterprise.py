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
  falls with size (drift from the park, the levers the firm held and its park's grade, and
  any shock); it may cross the 20 M yuan line (an upgrade, 小升规), start R&D or be certified
  tech-based, find that it needs more space, or be found in breach of its performance
  contract.
* **Commit** opens the next interval: firms in breach are moved out, firms that need space
  expand where their park has room and graduate out where it has not (longest in the park
  first); then the policy levers are offered to every firm, and each firm draws whether it
  fails inside the interval (integrated age hazard x park x support x shock) and when; a
  failure is scheduled at that time.

Moves come after the report that finds them, as they do in a district: a firm does not leave
the day its revenue report is filed. So the report at the horizon counts upgrades and tech
certifications, but the moves it would cause fall after the horizon.

A firm that enters between reports has a short first interval, up to the next report; it is
offered the levers at entry (:func:`support_entrant`), and whether and when it fails in that
interval follows from draws made in bulk before the run (:func:`first_intervals`) and the
support it gets. Every draw comes from the firm's keyed stream, numbered by purpose and
interval, so two scenarios with the same seed give the same firm the same luck.
"""

from __future__ import annotations

import numpy as np

from parksim.model.policies import Cohort, Standing, Support
from parksim.records import Kind
from parksim.rng import seeded_uniforms

__all__ = ["FirmTable", "Purpose", "reporting", "review", "commit", "first_intervals", "EntrantTerms", "support_entrant"]


class Purpose:
    """Numbers of a firm's keyed draws (lever take-up draws use 10-13)."""

    EXIT = 0
    EXIT_TIME = 1
    GROWTH = 2
    TECH = 3
    RD = 4
    CONTRACT = 5
    STRIDE = 16


_COLUMNS = {
    "firm": np.int64, "park": np.int32, "sector": np.int16, "born_at": np.float64,
    "log_revenue": np.float64, "rd": bool, "tech": bool, "upgraded": bool, "floor_m2": np.float64,
    "floor_factor": np.float64, "entered_at": np.float64, "since": np.float64, "until": np.float64,
    "review": np.int64, "seed": np.uint64, "active": bool, "move": np.int8,
    "support_drift": np.float64, "support_tech": np.float64, "support_rd": np.float64,
}


class FirmTable:
    """Every firm that has entered a park in this replication, one row each, as numpy columns.

    ``since`` and ``until`` bound the firm's current interval (``until`` is the report that
    closes it); ``review`` counts the intervals it has closed; ``active`` is false once it has
    left; ``move`` is what the last report found the firm must do when the next interval opens
    (:data:`STAY`, :data:`SPACE` or :data:`BREACH`). The ``support_*`` columns hold the levers'
    effects for the current interval.
    """

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self._capacity = capacity
        for name, dtype in _COLUMNS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))

    def append(self, firm: int, park: int, sector: int, born_at: float, log_revenue: float, rd: bool,
               tech: bool, floor_m2: float, floor_factor: float, entered_at: float, since: float,
               until: float, seed: int) -> int:
        """Add a firm entering a park; returns its row."""
        row = self.n
        if row == self._capacity:
            self._grow()
        self.firm[row] = firm
        self.park[row] = park
        self.sector[row] = sector
        self.born_at[row] = born_at
        self.log_revenue[row] = log_revenue
        self.rd[row] = rd
        self.tech[row] = tech
        self.floor_m2[row] = floor_m2
        self.floor_factor[row] = floor_factor
        self.entered_at[row] = entered_at
        self.since[row] = since
        self.until[row] = until
        self.seed[row] = seed
        self.active[row] = True
        self.support_tech[row] = 1.0
        self.support_rd[row] = 1.0
        self.n = row + 1
        return row

    def extend(self, firm: np.ndarray, park: int, sector: np.ndarray, born_at: np.ndarray, log_revenue: np.ndarray,
               rd: np.ndarray, tech: np.ndarray, floor_m2: np.ndarray, floor_factor: np.ndarray, entered_at: float,
               since: float, until: float, seed: np.ndarray) -> None:
        """Add many firms entering one park at one instant (columns of equal length)."""
        start, k = self.n, len(firm)
        while start + k > self._capacity:
            self._grow()
        end = start + k
        for name, values in (("firm", firm), ("park", park), ("sector", sector), ("born_at", born_at),
                             ("log_revenue", log_revenue), ("rd", rd), ("tech", tech), ("floor_m2", floor_m2),
                             ("floor_factor", floor_factor), ("entered_at", entered_at), ("since", since),
                             ("until", until), ("seed", seed), ("active", True), ("support_tech", 1.0),
                             ("support_rd", 1.0)):
            getattr(self, name)[start:end] = values
        self.n = end

    def _grow(self) -> None:
        self._capacity *= 2
        for name in _COLUMNS:
            old = getattr(self, name)
            new = np.zeros(self._capacity, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def in_parks(self) -> np.ndarray:
        """Rows of the firms still in a park."""
        return np.flatnonzero(self.active[: self.n])

    def draws(self, rows: np.ndarray, review: np.ndarray, purposes: tuple[int, ...]) -> np.ndarray:
        """Each firm's keyed draws for ``purposes`` in interval ``review``: one row per purpose."""
        return seeded_uniforms(self.seed[rows], review * Purpose.STRIDE + np.array(purposes)[:, None])


STAY, SPACE, BREACH = 0, 1, 2
"""Moves a report can find: none, more space (expand or graduate), a breached performance contract."""

CLOSE_MONTHS = 1e-6
"""How long before ``k * dt`` a report closes the half-year (about three seconds): its reviews
are dated inside the half-year they close, so a target at the end of a month counts them."""


def reporting(ctx):
    """The half-yearly reports: at the last instant of each half-year review every firm in the
    parks (:func:`review`); at its first, commit them to the next interval (:func:`commit`)."""
    env = ctx.env
    dt = ctx.firm_params.review_months
    k = 0
    while True:
        t = k * dt
        if k > 0:
            closing = t - CLOSE_MONTHS
            if closing >= ctx.horizon:
                return
            yield env.timeout(closing - env.now)
            review(ctx, t, closing)
        if t >= ctx.horizon:
            return
        if t > env.now:
            yield env.timeout(t - env.now)
        commit(ctx, t, dt)
        k += 1


def _due(table: FirmTable, t: float) -> np.ndarray:
    """Rows of the firms in parks whose interval ends at ``t`` (or has ended)."""
    n = table.n
    return np.flatnonzero(table.active[:n] & (table.until[:n] <= t))


def review(ctx, t: float, now: float) -> None:
    """Close the interval of every firm in a park whose interval ends at ``t`` (dated ``now``, just before)."""
    table = ctx.firms
    n = table.n
    rows = np.flatnonzero(table.active[:n] & (table.until[:n] <= t) & (table.since[:n] < t))
    if rows.size == 0:
        return
    p = ctx.firm_params
    records = ctx.records
    since = table.since[rows]
    dy = (t - since) / 12.0
    review_no = table.review[rows] + 1
    table.review[rows] = review_no
    u_growth, u_tech, u_rd, u_contract = table.draws(rows, review_no, (Purpose.GROWTH, Purpose.TECH, Purpose.RD,
                                                                        Purpose.CONTRACT))
    park = table.park[rows]
    # growth: drift from the firm's park, its levers and its park's grade, plus any shock
    land = ctx.levers["land"]
    grade_drift = land.grade_drifts(Standing.of(ctx.parks, now), now) if ctx.parks else 0.0
    if np.ndim(grade_drift):
        grade_drift = grade_drift[park]
    shock_drift, _ = ctx.shocks.effects_array(since, t)
    log_revenue = table.log_revenue[rows]
    scale = p.scale * np.exp(-p.size_exponent * (log_revenue - p.log_reference)) * np.sqrt(dy)
    g = u_growth - 0.5
    shock = -scale * np.sign(g) * np.log1p(-2.0 * np.abs(g))
    log_revenue = log_revenue + (p.drift + table.support_drift[rows] + grade_drift) * dy + shock_drift + shock
    table.log_revenue[rows] = log_revenue
    revenue = np.exp(log_revenue)
    table.since[rows] = t
    floor = table.floor_m2[rows]
    # crossing the 20 M yuan line (小升规)
    up = np.flatnonzero(~table.upgraded[rows] & (revenue >= p.upgrade_threshold))
    if up.size:
        table.upgraded[rows[up]] = True
        records.firms(now, Kind.FIRM_UPGRADED, park[up], table.firm[rows[up]], (now - table.born_at[rows[up]]) / 12.0,
                      revenue[up], floor[up], table.tech[rows[up]])
        ctx.levers["tax"].reward_upgrades(now, ctx.ledger, park[up], table.firm[rows[up]])
    # R&D and tech status
    tech = table.tech[rows]
    rd = table.rd[rows]
    certified = np.flatnonzero(~tech & rd & (u_tech < -np.expm1(-p.tech_rate * table.support_tech[rows] * dy)))
    adopts = ~tech & ~rd & (u_rd < -np.expm1(-p.rd_rate * table.support_rd[rows] * dy))
    if certified.size:
        table.tech[rows[certified]] = True
        records.firms(now, Kind.FIRM_TECH, park[certified], table.firm[rows[certified]],
                      (now - table.born_at[rows[certified]]) / 12.0, revenue[certified], floor[certified], True)
    table.rd[rows[adopts]] = True
    # moves, made when the next interval opens: a breached performance contract, or a need for space
    breach = ((t - table.entered_at[rows] >= p.contract_months) & (revenue < p.contract_min_yuan_per_m2 * floor)
              & (u_contract < p.contract_enforcement))
    space = p.floor_need(revenue, table.floor_factor[rows]) > floor * (1.0 + p.expansion_tolerance)
    table.move[rows] = np.where(breach, BREACH, np.where(space, SPACE, STAY))


def commit(ctx, t: float, dt: float) -> None:
    """Open the next interval of every firm in a park at report ``t``: moves, lever support, then exits."""
    table = ctx.firms
    rows = _due(table, t)
    if rows.size == 0:
        return
    p = ctx.firm_params
    moving = table.move[rows] != STAY
    if moving.any():
        _move(ctx, rows[moving], t)
        rows = rows[table.active[rows]]
    levers = [lever for lever in ctx.lever_list if lever.active(t)]
    u_exit, *u_levers = table.draws(rows, table.review[rows], (Purpose.EXIT, *(lever.purpose for lever in levers)))
    support = Support.none(len(rows))
    if levers:
        cohort = Cohort(rows, table.firm[rows], table.park[rows], np.exp(table.log_revenue[rows]),
                        table.floor_m2[rows], table.entered_at[rows])
        standing = Standing.of(ctx.parks, t)
        for lever, u in zip(levers, u_levers, strict=True):
            lever.offer(cohort, standing, t, dt, u, ctx.ledger, support)
    table.support_drift[rows] = support.drift
    table.support_tech[rows] = support.tech_multiplier
    table.support_rd[rows] = support.rd_multiplier
    end = t + dt
    table.until[rows] = end
    _, shock_hazard = ctx.shocks.effects(t, end)
    age = (t - table.born_at[rows]) / 12.0
    h = ctx.age_hazard.between_array(age, dt / 12.0) * (p.park_exit_multiplier * shock_hazard) * support.exit_multiplier
    fails = np.flatnonzero((h > 0) & (u_exit < -np.expm1(-h)))
    if fails.size:
        at = t + dt * (-np.log1p(-u_exit[fails]) / h[fails])
        for row, when in zip(rows[fails].tolist(), at.tolist(), strict=True):
            ctx.schedule_failure(row, when)


def _move(ctx, rows: np.ndarray, t: float) -> None:
    """Make the moves the last report found: firms in breach of contract leave, then firms that
    need space expand where their park has room and graduate where it has not, in row order
    (longest in the park first), each seeing the floor the moves before it freed or took."""
    table = ctx.firms
    p = ctx.firm_params
    move = table.move[rows]
    table.move[rows] = STAY
    for row in rows[move == BREACH].tolist():
        ctx.leave(row, t, "contract")
    rows = rows[move == SPACE]
    revenue = np.exp(table.log_revenue[rows])
    need = p.floor_need(revenue, table.floor_factor[rows])
    extra = (need - table.floor_m2[rows]).tolist()
    age = ((t - table.born_at[rows]) / 12.0).tolist()
    for row, park_id, firm, more, years, rev, m2 in zip(rows.tolist(), table.park[rows].tolist(),
                                                       table.firm[rows].tolist(), extra, age, revenue.tolist(),
                                                       need.tolist(), strict=True):
        park = ctx.parks[park_id]
        if park.free_m2 >= more:
            ctx.take_floor(park, more)
            table.floor_m2[row] = m2
            ctx.records.firm(t, Kind.FIRM_EXPANDED, park_id, firm, years, rev, more, bool(table.tech[row]))
        else:
            ctx.leave(row, t, "graduated")


def first_intervals(ctx, t: np.ndarray, born_at: np.ndarray, entrants: Cohort, seeds: np.ndarray) -> tuple:
    """For firms that would enter parks at times ``t``: the report closing their first interval,
    the exit hazard integrated over it without support, their Exp(1) exit draw for it (lists),
    and the levers they would take up for it (:class:`EntrantTerms`).

    These depend only on the firm's age, revenue and floor need, its entry time and its keyed
    draws (stream ``seeds``), so they are found in bulk for every passing application before
    the run; at entry, the park's admission and the budgets decide which levers are paid, and
    the support scales the hazard (:func:`support_entrant`).
    """
    p = ctx.firm_params
    dt = p.review_months
    until = (np.floor(t / dt) + 1.0) * dt
    until = np.where(until <= t, until + dt, until)
    _, shock_hazard = ctx.shocks.effects_array(t, until)
    hazard = ctx.age_hazard.between_array((t - born_at) / 12.0, (until - t) / 12.0) * p.park_exit_multiplier * shock_hazard
    exposure = -np.log1p(-seeded_uniforms(seeds, Purpose.EXIT))
    return until.tolist(), hazard.tolist(), exposure.tolist(), EntrantTerms(ctx.lever_list, entrants, t, until, seeds)


class EntrantTerms:
    """The levers a batch of would-be entrants take up for their first interval, by lever, as
    lists indexed by entrant: strength (0: not taken up), cost, and effects (growth drift,
    exit, tech and R&D multipliers) (:meth:`~parksim.model.policies.Lever.entrant_terms`)."""

    __slots__ = ("by_lever",)

    def __init__(self, levers: list, entrants: Cohort, t: np.ndarray, until: np.ndarray, seeds: np.ndarray):
        self.by_lever = []
        for lever in levers:
            strength, cost = lever.entrant_terms(entrants, t, until, seeded_uniforms(seeds, lever.purpose))
            if np.any(strength > 0):
                effects = (np.broadcast_to(x, strength.shape).tolist() for x in lever.effects(strength))
                self.by_lever.append((lever, strength.tolist(), cost.tolist(), *effects))


def support_entrant(ctx, row: int, firm: int, park, t: float, until: float, hazard: float, exposure: float,
                    terms: EntrantTerms, i: int) -> None:
    """Open the first interval ``[t, until)`` of ``firm`` in ``row``, entering ``park`` at ``t``:
    pay the levers it takes up (entrant ``i`` of ``terms``, from :func:`first_intervals`) where
    its park admits them and the budget allows, then schedule its failure if it fails in the
    interval.

    ``hazard`` is its integrated exit hazard over the interval without support and
    ``exposure`` its Exp(1) exit draw: it fails if the draw is below the hazard times its
    support's exit multiplier, at the time that fraction of the (evenly spread) hazard is used.
    """
    exit_multiplier = 1.0
    taken = [terms_of for terms_of in terms.by_lever if terms_of[1][i] > 0]
    if taken:
        table = ctx.firms
        drift, tech_multiplier, rd_multiplier = 0.0, 1.0, 1.0
        for lever, _, cost, d, e, m, r in taken:
            if lever.park_admits(park, t) and ctx.ledger.pay(lever.name, lever.cap, t, cost[i], park.id, firm):
                drift += d[i]
                exit_multiplier *= e[i]
                tech_multiplier *= m[i]
                rd_multiplier *= r[i]
        table.support_drift[row] = drift
        table.support_tech[row] = tech_multiplier
        table.support_rd[row] = rd_multiplier
    h = hazard * exit_multiplier
    if exposure < h:
        ctx.schedule_failure(row, t + (until - t) * exposure / h)
