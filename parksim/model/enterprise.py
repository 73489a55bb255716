"""The life of a firm inside a park: one SimPy process per firm, woken only by its own events.

A firm in a park wakes at its reviews (every ``review_interval_months``, its revenue report)
and, if it fails, at its sampled exit time: at the start of each interval it learns its
support for the interval from the policy levers, then draws whether it exits inside the
interval (integrated age hazard x park x support x shock) and when. At a review it grows
(a Laplace-distributed log-revenue change whose spread falls with size), may cross the
20 M yuan line (an upgrade, 小升规), may start R&D or be certified tech-based, may need more
space (expand, or graduate out when the park is full), and may be moved out for missing its
performance contract. Every draw comes from the firm's keyed stream, numbered by purpose and
review, so two scenarios with the same seed give the same firm the same luck.
"""

from __future__ import annotations

import math

from parksim.model.policies import Support
from parksim.records import Kind
from parksim.rng import keyed_uniform

__all__ = ["Enterprise", "firm_life", "Purpose"]


class Purpose:
    """Numbers of a firm's keyed draws (lever take-up draws use 10-13)."""

    EXIT = 0
    EXIT_TIME = 1
    GROWTH = 2
    TECH = 3
    RD = 4
    CONTRACT = 5
    STRIDE = 16


class Enterprise:
    """A firm located in a park."""

    __slots__ = (
        "id", "park", "sector", "born_at", "log_revenue", "revenue", "rd", "tech", "upgraded",
        "floor_m2", "floor_factor", "entered_at", "seed", "review",
    )

    def __init__(self, firm_id, park, sector, born_at, revenue, rd, tech, floor_m2, floor_factor, entered_at, seed):
        self.id = firm_id
        self.park = park
        self.sector = sector
        self.born_at = born_at
        self.revenue = revenue
        self.log_revenue = math.log(revenue)
        self.rd = rd
        self.tech = tech
        self.upgraded = False
        self.floor_m2 = floor_m2
        self.floor_factor = floor_factor
        self.entered_at = entered_at
        self.seed = seed
        self.review = 0

    def draw(self, purpose: int) -> float:
        """This review's draw for ``purpose`` from the firm's keyed stream."""
        return keyed_uniform(self.seed, self.review * Purpose.STRIDE + purpose)

    def age_years(self, t: float) -> float:
        return (t - self.born_at) / 12.0


def firm_life(ctx, firm: Enterprise):
    """Reviews every interval until the firm exits (or the run ends)."""
    env = ctx.env
    p = ctx.firm_params
    dt = p.review_months
    dy = dt / 12.0
    levers = ctx.lever_list
    ledger = ctx.ledger
    hazard = ctx.age_hazard
    shocks = ctx.shocks
    while True:
        t = env.now
        support = Support()
        for lever in levers:
            lever.offer(firm, t, dt, ledger, support)
        shock_drift, shock_hazard = shocks.effects(t, t + dt)
        h = hazard.between(firm.age_years(t), dy) * p.park_exit_multiplier * support.exit_multiplier * shock_hazard
        u = firm.draw(Purpose.EXIT)
        if h > 0 and u < -math.expm1(-h):
            yield env.timeout(dt * -math.log1p(-u) / h)
            ctx.leave(firm, "failure")
            return
        yield env.timeout(dt)
        firm.review += 1
        park = firm.park
        # growth
        land = ctx.levers["land"]
        drift = (p.drift + support.drift + land.grade_drift(park.grade, park.in_grace(t), t)) * dy + shock_drift
        scale = p.scale * (firm.revenue / p.reference_revenue) ** -p.size_exponent * p.sqrt_dy
        g = firm.draw(Purpose.GROWTH) - 0.5
        shock = -scale * math.copysign(math.log1p(-2.0 * abs(g)), g) if g else 0.0
        firm.log_revenue += drift + shock
        firm.revenue = math.exp(firm.log_revenue)
        now = env.now
        if not firm.upgraded and firm.revenue >= p.upgrade_threshold:
            firm.upgraded = True
            ctx.records.firm(now, Kind.FIRM_UPGRADED, park.id, firm.id, firm.age_years(now), firm.revenue, firm.floor_m2, firm.tech)
            ctx.levers["tax"].reward_upgrade(firm, now, ledger)
        # R&D and tech status
        if not firm.tech:
            if firm.rd:
                if firm.draw(Purpose.TECH) < -math.expm1(-p.tech_rate * support.tech_multiplier * dy):
                    firm.tech = True
                    ctx.records.firm(now, Kind.FIRM_TECH, park.id, firm.id, firm.age_years(now), firm.revenue, firm.floor_m2, True)
            elif firm.draw(Purpose.RD) < -math.expm1(-p.rd_rate * support.rd_multiplier * dy):
                firm.rd = True
        # space
        need = ctx.floor_need(firm.revenue, firm.floor_factor)
        if need > firm.floor_m2 * (1.0 + p.expansion_tolerance):
            extra = need - firm.floor_m2
            if park.free_m2 >= extra:
                park.space.get(extra)
                firm.floor_m2 = need
                ctx.records.firm(now, Kind.FIRM_EXPANDED, park.id, firm.id, firm.age_years(now), firm.revenue, extra, firm.tech)
            else:
                ctx.leave(firm, "graduated")
                return
        # performance contract
        if (
            now - firm.entered_at >= p.contract_months
            and firm.revenue < p.contract_min_yuan_per_m2 * firm.floor_m2
            and firm.draw(Purpose.CONTRACT) < p.contract_enforcement
        ):
            ctx.leave(firm, "contract")
            return
