"""Policy levers as scheduled, budgeted objects, and the fiscal ledger they book into.

Each lever (finance, land, tax, services) is one :class:`Lever`: it is active inside its
window, decides whether a firm is eligible, draws the firm's take-up from the firm's keyed
stream, asks the :class:`Ledger` for the money (a per-calendar-year budget cap), and if paid
returns its effects on the firm for the coming review interval. Levers differ only in how
much one supported firm-year costs and in a few lever-specific rules; those live in small
subclasses so that every lever passes the same conformance tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from parksim.calendar import month_index, parse_month
from parksim.records import RecordBuffer
from parksim.scenario.schema import GRADES
from parksim.scenario.schema import Lever as LeverSpec

__all__ = ["Ledger", "Lever", "Support", "build_levers", "GRADE_RANK"]

GRADE_RANK = {g: i for i, g in enumerate(GRADES)}


class Ledger:
    """Money paid by each lever, per calendar year, against the lever's yearly cap."""

    def __init__(self, start: str, records: RecordBuffer):
        year, month = parse_month(start)
        self._month0 = year * 12 + month - 1
        self._records = records
        self.spent: dict[tuple[str, int], float] = {}

    def pay(self, lever: str, cap_yuan_per_year: float, t: float, amount: float, park: int, firm: int) -> bool:
        """Book ``amount`` if the lever's budget for this calendar year allows it."""
        if not math.isfinite(amount):
            raise FloatingPointError(f"{lever}: payment of {amount} yuan at t={t:.2f} is not a finite number")
        if amount <= 0:
            return True
        key = (lever, (self._month0 + int(t)) // 12)
        spent = self.spent.get(key, 0.0)
        if spent + amount > cap_yuan_per_year:
            return False
        self.spent[key] = spent + amount
        self._records.paid(t, lever, park, firm, amount)
        return True


@dataclass(slots=True)
class Support:
    """Combined effects of the levers a firm holds for one review interval."""

    drift: float = 0.0
    exit_multiplier: float = 1.0
    tech_multiplier: float = 1.0
    rd_multiplier: float = 1.0


class Lever:
    """One policy lever. ``purpose`` numbers the firm's keyed take-up stream."""

    def __init__(self, name: str, spec: LeverSpec, start: str, purpose: int):
        self.name = name
        self.spec = spec
        self.purpose = purpose
        self.enabled = spec.enabled
        self.t0 = float(month_index(start, spec.window.start))
        self.t1 = float(month_index(start, spec.window.end) + 1)
        self.cap = spec.budget_cap_yuan_per_year
        self.take_up = spec.take_up
        self.max_revenue = spec.max_revenue_yuan
        self.min_rank = GRADE_RANK[spec.min_park_grade]

    def active(self, t: float) -> bool:
        return self.enabled and self.t0 <= t < self.t1

    def eligible(self, firm, t: float) -> bool:
        """Active, the firm small enough, and its park graded well enough (or ungraded, or in grace)."""
        if not self.active(t) or firm.revenue > self.max_revenue:
            return False
        park = firm.park
        grade = park.grade
        return grade is None or GRADE_RANK[grade] <= self.min_rank or park.in_grace(t)

    def annual_cost(self, firm, t: float) -> float:
        """Yuan per supported firm-year."""
        raise NotImplementedError

    def strength(self, firm, t: float) -> float:
        """Share of the lever's full effect the firm gets (1 unless the lever tapers)."""
        return 1.0

    def offer(self, firm, t: float, dt_months: float, ledger: Ledger, support: Support) -> bool:
        """Support ``firm`` for ``[t, t + dt)`` if it is eligible, takes it up and it is paid.

        Returns whether the firm is supported; its effects are added to ``support``.
        """
        if not self.eligible(firm, t) or firm.draw(self.purpose) >= self.take_up:
            return False
        strength = self.strength(firm, t)
        if strength <= 0:
            return False
        covered = min(t + dt_months, self.t1) - t
        cost = self.annual_cost(firm, t) * covered / 12.0
        if not ledger.pay(self.name, self.cap, t, cost, firm.park.id, firm.id):
            return False
        spec = self.spec
        support.drift += spec.growth_drift_per_year * strength
        support.exit_multiplier *= 1.0 + (spec.exit_hazard_multiplier - 1.0) * strength
        support.tech_multiplier *= 1.0 + (spec.tech_hazard_multiplier - 1.0) * strength
        return True


class FinanceLever(Lever):
    def annual_cost(self, firm, t: float) -> float:
        s = self.spec
        return s.loan_yuan * (s.interest_subsidy_rate + s.guarantee_fee_rate + s.expected_loss_rate)


class LandLever(Lever):
    def __init__(self, name, spec, start, purpose, rent_yuan_m2_month: float):
        super().__init__(name, spec, start, purpose)
        self.rent = rent_yuan_m2_month
        self.shares = spec.rent_subsidy_share_by_year
        self.full = max(self.shares) or 1.0

    def _share(self, firm, t: float) -> float:
        year = int((t - firm.entered_at) / 12.0)
        return self.shares[year] if year < len(self.shares) else 0.0

    def strength(self, firm, t: float) -> float:
        return self._share(firm, t) / self.full

    def annual_cost(self, firm, t: float) -> float:
        return firm.floor_m2 * self.rent * 12.0 * self._share(firm, t)

    def grade_drift(self, grade: str | None, in_grace: bool, t: float) -> float:
        """Growth effect of grade-differentiated factor prices (no penalty during grace)."""
        if grade is None or not self.active(t):
            return 0.0
        drift = self.spec.grade_drift_per_year.get(grade, 0.0)
        return max(drift, 0.0) if in_grace else drift


class TaxLever(Lever):
    def annual_cost(self, firm, t: float) -> float:
        return firm.revenue * self.spec.relief_share_of_revenue

    def offer(self, firm, t, dt_months, ledger, support) -> bool:
        supported = super().offer(firm, t, dt_months, ledger, support)
        if supported:
            support.rd_multiplier *= self.spec.rd_adoption_multiplier
        return supported

    def reward_upgrade(self, firm, t: float, ledger: Ledger) -> None:
        if self.active(t):
            ledger.pay(self.name, self.cap, t, self.spec.upgrade_reward_yuan, firm.park.id, firm.id)


class ServicesLever(Lever):
    def eligible(self, firm, t: float) -> bool:
        return firm.park.has_platform and super().eligible(firm, t)

    def annual_cost(self, firm, t: float) -> float:
        return self.spec.cost_yuan_per_firm_year


def build_levers(scenario) -> dict[str, Lever]:
    """The four levers of a scenario, in a fixed order (finance, land, tax, services)."""
    p = scenario.policies
    start = scenario.calendar.start
    return {
        "finance": FinanceLever("finance", p.finance, start, purpose=10),
        "land": LandLever("land", p.land, start, purpose=11, rent_yuan_m2_month=scenario.parks.rent_yuan_m2_month),
        "tax": TaxLever("tax", p.tax, start, purpose=12),
        "services": ServicesLever("services", p.services, start, purpose=13),
    }
