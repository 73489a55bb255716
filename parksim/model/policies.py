"""Policy levers as scheduled, budgeted objects, and the fiscal ledger they book into.

Each lever (finance, land, tax, services) is one :class:`Lever`: at each half-yearly report
it is offered to the whole :class:`Cohort` of firms in parks at once. It is active inside its
window, decides which firms are eligible, takes each firm's take-up draw from the firm's keyed
stream, asks the :class:`Ledger` for the money (a per-calendar-year budget cap, takers paid in
a random order until it runs out), and adds the paid firms' effects for the coming review
interval to their :class:`Support`. Levers differ only in how much one supported firm-year
costs and in a few lever-specific rules; those live in small subclasses so that every lever
passes the same conformance tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parksim.calendar import month_index, parse_month
from parksim.records import RecordBuffer
from parksim.scenario.schema import GRADES
from parksim.scenario.schema import Lever as LeverSpec

__all__ = ["Ledger", "Lever", "Cohort", "Support", "Standing", "build_levers", "GRADE_RANK"]

GRADE_RANK = {g: i for i, g in enumerate(GRADES)}
UNGRADED = -1


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

    def pay_all(self, lever: str, cap_yuan_per_year: float, t: float, amounts: np.ndarray, parks: np.ndarray,
                firms: np.ndarray) -> np.ndarray:
        """Book many payments at one instant, in the order given, while the year's budget allows.

        Returns which were paid. As with :meth:`pay` one at a time: a payment that does not
        fit in what is left of the cap is skipped and later, smaller ones may still be paid;
        zero amounts are paid (nothing is booked).
        """
        if not math.isfinite(amounts.sum()) and not np.all(np.isfinite(amounts)):
            raise FloatingPointError(f"{lever}: a payment at t={t:.2f} is not a finite number")
        key = (lever, (self._month0 + int(t)) // 12)
        spent = self.spent.get(key, 0.0)
        positive = amounts > 0
        total = np.cumsum(np.where(positive, amounts, 0.0))
        left = cap_yuan_per_year - spent
        paid = total <= left  # the longest run that fits, then the rest one by one
        if paid.any():
            left -= float(total[paid][-1])
        if not paid.all():
            rest = np.flatnonzero(~paid & (amounts <= left))
            smallest = float(amounts[rest].min()) if rest.size else math.inf
            for i, amount in zip(rest.tolist(), amounts[rest].tolist(), strict=True):
                if left < smallest:
                    break
                if amount <= left:
                    paid[i] = True
                    left -= amount
        booked = paid & positive
        if booked.any():
            self.spent[key] = spent + float(amounts[booked].sum())
            self._records.payments(t, lever, parks[booked], firms[booked], amounts[booked])
        return paid


@dataclass(slots=True)
class Cohort:
    """The firms in parks at one report, as columns (``rows`` index the firm table); or one
    firm entering a park, with plain numbers in the columns."""

    rows: np.ndarray
    firm: np.ndarray
    park: np.ndarray
    revenue: np.ndarray
    floor_m2: np.ndarray
    entered_at: np.ndarray


@dataclass(slots=True)
class Standing:
    """Every park's standing at one instant, as arrays indexed by park id: its grade's rank
    (:data:`UNGRADED` before its first grading), whether it is in its grace period, and
    whether it has a service platform. Taken once per report and shared by the levers."""

    rank: np.ndarray
    in_grace: np.ndarray
    has_platform: np.ndarray

    @classmethod
    def of(cls, parks: list, t: float) -> Standing:
        rank = np.array([UNGRADED if p.grade is None else GRADE_RANK[p.grade] for p in parks], dtype=np.int64)
        since_open = t - np.array([p.opened_at for p in parks], dtype=float)
        grace = np.array([p.grace_months for p in parks], dtype=float)
        in_grace = (since_open >= 0.0) & (since_open < grace)  # parks not yet open: -inf; established: +inf
        return cls(rank, in_grace, np.array([p.has_platform for p in parks], dtype=bool))


@dataclass(slots=True)
class Support:
    """Combined effects of the levers each firm of a cohort holds for one review interval
    (arrays), or one entrant holds for its first interval (numbers)."""

    drift: np.ndarray
    exit_multiplier: np.ndarray
    tech_multiplier: np.ndarray
    rd_multiplier: np.ndarray

    @classmethod
    def none(cls, n: int) -> Support:
        return cls(np.zeros(n), np.ones(n), np.ones(n), np.ones(n))


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

    def park_admits(self, park, t: float) -> bool:
        """Whether firms in ``park`` may be supported: graded well enough, ungraded, or in grace."""
        grade = park.grade
        return grade is None or GRADE_RANK[grade] <= self.min_rank or park.in_grace(t)

    def parks_admitting(self, standing: Standing) -> np.ndarray:
        """:meth:`park_admits` for every park at once (by park id)."""
        return (standing.rank <= self.min_rank) | standing.in_grace

    def annual_cost(self, cohort: Cohort, t: float) -> np.ndarray | float:
        """Yuan per supported firm-year."""
        raise NotImplementedError

    def strength(self, cohort: Cohort, t: float) -> np.ndarray | float:
        """Share of the lever's full effect each firm gets (1 unless the lever tapers)."""
        return 1.0

    def offer(self, cohort: Cohort, standing: Standing, t: float, dt_months: float, take_up_draws: np.ndarray,
              ledger: Ledger, support: Support) -> np.ndarray:
        """Support the cohort's firms for ``[t, t + dt)``: those eligible that take it up and are paid.

        Eligible: the lever is active, the firm small enough and its park admits support (its
        ``standing``). Takers are paid in a random order (their take-up draws) until the year's
        budget runs out. Returns the supported firms' positions in the cohort; their effects go
        into ``support``.
        """
        if not self.active(t):
            return np.zeros(0, np.int64)
        ok = self.parks_admitting(standing)[cohort.park] & (cohort.revenue <= self.max_revenue)
        ok &= take_up_draws < self.take_up
        strength = self.strength(cohort, t)
        tapers = np.ndim(strength) > 0
        if tapers:
            ok &= strength > 0
        takers = np.flatnonzero(ok)
        takers = takers[np.argsort(take_up_draws[takers], kind="stable")]
        covered = min(t + dt_months, self.t1) - t
        annual = self.annual_cost(cohort, t)
        cost = (annual[takers] if np.ndim(annual) else np.full(len(takers), annual)) * (covered / 12.0)
        paid = takers[ledger.pay_all(self.name, self.cap, t, cost, cohort.park[takers], cohort.firm[takers])]
        drift, exit_multiplier, tech_multiplier, rd_multiplier = self.effects(strength[paid] if tapers else strength)
        support.drift[paid] += drift
        support.exit_multiplier[paid] *= exit_multiplier
        support.tech_multiplier[paid] *= tech_multiplier
        support.rd_multiplier[paid] *= rd_multiplier
        return paid

    def entrant_terms(self, entrants: Cohort, t: np.ndarray, until: np.ndarray,
                      take_up_draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For firms that would enter parks at times ``t``: whether each would take the lever up
        for its first interval ``[t, until)``, and what that would cost.

        Everything :meth:`offer` decides except the park's admission and the budget, which only
        the moment of entry knows: the lever is active at ``t``, the firm small enough and its
        take-up draw below the take-up rate. The cost covers the interval, cut at the window's end.
        """
        ok = self.enabled & (self.t0 <= t) & (t < self.t1)
        ok &= (entrants.revenue <= self.max_revenue) & (take_up_draws < self.take_up)
        strength = np.where(ok, self.strength(entrants, t), 0.0)
        covered = np.minimum(until, self.t1) - t
        cost = np.broadcast_to(self.annual_cost(entrants, t), ok.shape) * (covered / 12.0)
        return strength, cost

    def effects(self, strength):
        """(growth drift, exit, tech and R&D multipliers) for firms paid at ``strength`` (numbers or arrays)."""
        spec = self.spec
        return (spec.growth_drift_per_year * strength, 1.0 + (spec.exit_hazard_multiplier - 1.0) * strength,
                1.0 + (spec.tech_hazard_multiplier - 1.0) * strength, 1.0)


class FinanceLever(Lever):
    def annual_cost(self, cohort, t):
        s = self.spec
        return s.loan_yuan * (s.interest_subsidy_rate + s.guarantee_fee_rate + s.expected_loss_rate)


class LandLever(Lever):
    def __init__(self, name, spec, start, purpose, rent_yuan_m2_month: float):
        super().__init__(name, spec, start, purpose)
        self.rent = rent_yuan_m2_month
        self.shares = np.array([*spec.rent_subsidy_share_by_year, 0.0])
        self.full = max(spec.rent_subsidy_share_by_year) or 1.0
        # growth drift by grade rank (A, B, C, D), and none for an ungraded park (rank -1: last)
        self.drift_by_rank = np.array([spec.grade_drift_per_year.get(g, 0.0) for g in GRADES] + [0.0])

    def _share(self, cohort: Cohort, t: float) -> np.ndarray:
        year = np.floor_divide(t - cohort.entered_at, 12.0).astype(np.int64)
        return self.shares[np.clip(year, 0, len(self.shares) - 1)]

    def strength(self, cohort, t):
        return self._share(cohort, t) / self.full

    def annual_cost(self, cohort, t):
        return cohort.floor_m2 * self.rent * 12.0 * self._share(cohort, t)

    def grade_drifts(self, standing: Standing, t: float) -> np.ndarray | float:
        """Growth effect of grade-differentiated factor prices on each park's firms (by park
        id): the drift of its grade while the lever is active, none before its first grading,
        and no penalty during its grace period."""
        if not self.active(t):
            return 0.0
        drift = self.drift_by_rank[standing.rank]
        return np.where(standing.in_grace, np.maximum(drift, 0.0), drift)


class TaxLever(Lever):
    def annual_cost(self, cohort, t):
        return cohort.revenue * self.spec.relief_share_of_revenue

    def effects(self, strength):
        drift, exit_multiplier, tech_multiplier, _ = super().effects(strength)
        return drift, exit_multiplier, tech_multiplier, self.spec.rd_adoption_multiplier

    def reward_upgrades(self, t: float, ledger: Ledger, parks: np.ndarray, firms: np.ndarray) -> None:
        """The one-off reward for each firm that has just upgraded (小升规), while the budget lasts."""
        if self.active(t) and len(firms):
            ledger.pay_all(self.name, self.cap, t, np.full(len(firms), self.spec.upgrade_reward_yuan), parks, firms)


class ServicesLever(Lever):
    def park_admits(self, park, t):
        return park.has_platform and super().park_admits(park, t)

    def parks_admitting(self, standing):
        return standing.has_platform & super().parks_admitting(standing)

    def annual_cost(self, cohort, t):
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
