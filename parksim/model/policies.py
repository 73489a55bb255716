"""The district's support policy: levers as scheduled, budgeted objects, the national statutory
measures, and the fiscal ledger.

Each lever (finance, land, tax, services, and relief in a shock) is one :class:`Lever`. It is
active inside its window; a firm is eligible while the lever is active, the firm small enough
and its park
admits support (graded well enough, ungraded, or in its grace period); an eligible firm takes
it up by its keyed take-up draw. :meth:`Lever.terms` is the one rule for who takes a lever up,
at what strength and at what cost: vectorised, called for the whole :class:`Cohort` of firms
in parks at a half-yearly report and, in bulk before the run, for every would-be entrant
(:class:`EntrantTerms`). :meth:`Lever.admits` is the one rule for which parks admit support:
vectorised, called for every park's :class:`Standing` at a report and with one park's numbers
when a firm enters it. The :class:`Ledger` pays takers against what the lever's yearly cap has
released by its allocation rule (first come, quarterly tranches, or a ranked annual round),
in the order the rule gives (take-up draws, or best revenue per m2 first) -- or, where the
province's 亩均 differentiated prices apply (:class:`MuPrices`), best 亩均 grade first, with
the support withheld from the grades it names -- and records every firm it cannot pay. Levers
differ only in how much one supported firm-year costs and in a few lever-specific rules; those
live in small subclasses so that every lever passes the same conformance tests. The national
statutory measures (:class:`Statutory`: the small-firm income-tax relief, the R&D
super-deduction) cover every eligible firm without a draw or a cap and are booked as tax
expenditure; capital outlays for parks (building subsidies, land concessions, government-led
parks) are booked as paid. :class:`Policy` is the part of a replication's world that holds
the levers, the statutory measures, the 亩均 prices and the ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from parksim.calendar import month_index, parse_month
from parksim.model.parks import GRADE_RANK
from parksim.records import RecordBuffer
from parksim.rng import Draw
from parksim.scenario.schema import GRADES
from parksim.scenario.schema import Lever as LeverSpec

if TYPE_CHECKING:
    from parksim.model.parks import Park
    from parksim.scenario.schema import Scenario

__all__ = [
    "Policy",
    "lease_relief",
    "Ledger",
    "Lever",
    "Cohort",
    "Support",
    "Standing",
    "EntrantTerms",
    "LeverTerms",
    "MuPrices",
    "build_levers",
]


class Ledger:
    """What the district and the state pay, per ledger item and calendar year.

    Every item belongs to one account (:data:`~parksim.scenario.schema.ACCOUNTS`): a district
    lever pays from its yearly cap, released through the year by its allocation rule; a
    capital outlay or a statutory tax expenditure has no cap (it is :data:`math.inf`). Each
    payment is a ``support_paid`` record, and each firm a lever's budget could not pay a
    ``support_refused`` record, so that totals, caps that bound and who missed out are all
    read from the records (:mod:`parksim.metrics`).
    """

    def __init__(self, start: str, records: RecordBuffer):
        year, month = parse_month(start)
        self._month0 = year * 12 + month - 1
        self._records = records
        self.spent: dict[tuple[str, int], float] = {}
        self._budgets: dict[str, tuple[float, bool]] = {}  # item -> (cap, released quarterly)

    def budget(self, item: str, cap_yuan_per_year: float, allocation: str = "first_come") -> None:
        """Give ``item`` a yearly cap, released through the year by ``allocation``."""
        self._budgets[item] = (cap_yuan_per_year, allocation == "quarterly")

    def _key(self, item: str, t: float) -> tuple[str, int]:
        return item, (self._month0 + int(t)) // 12

    def left(self, item: str, t: float, until: float | None = None) -> float:
        """What ``item`` may still pay at ``t`` for a claim covering ``[t, until)`` (an instant
        without ``until``): the part of this calendar year's cap its allocation has released
        for that period, less what it has paid this year; :data:`math.inf` for an item
        without a cap. ``first_come`` and ``ranked`` (an annual round) release the whole cap
        from January; ``quarterly`` releases a quarter of it each quarter, and a claim draws on
        the tranches up to the quarter its period ends in (what is unspent carries forward
        within the year)."""
        budget = self._budgets.get(item)
        if budget is None:
            return math.inf
        cap, quarterly = budget
        month = self._month0 + int(t)
        spent = self.spent.get((item, month // 12), 0.0)
        if not quarterly:
            return cap - spent
        last = month  # the last month the claim covers
        if until is not None and until > t:
            last = max(self._month0 + math.ceil(until - 1e-9) - 1, month)
        if last // 12 != month // 12:
            return cap - spent
        return cap * ((last % 12 // 3 + 1) / 4) - spent

    def pay(self, item: str, t: float, amount: float, park: int, firm: int,
            until: float | None = None) -> bool:
        """Book ``amount`` for a claim covering ``[t, until)`` (an instant without ``until``)
        if what ``item`` may still pay (:meth:`left`) allows it; a firm it cannot pay is
        recorded as refused."""
        if not math.isfinite(amount):
            raise FloatingPointError(
                f"{item}: payment of {amount} yuan at t={t:.2f} is not a finite number"
            )
        if amount <= 0:
            return True
        if item in self._budgets and amount > self.left(item, t, until):
            if firm >= 0:
                self._records.refused(t, item, park, firm)
            return False
        self.book(item, t, amount, park, firm)
        return True

    def book(self, item: str, t: float, amount: float, park: int, firm: int) -> None:
        """Book a positive, finite ``amount`` that nothing caps (a statutory relief), or that
        :meth:`pay` has checked."""
        key = self._key(item, t)
        self.spent[key] = self.spent.get(key, 0.0) + amount
        self._records.paid(t, item, park, firm, amount)

    def pay_all(
        self, item: str, t: float, amounts: np.ndarray, parks: np.ndarray, firms: np.ndarray,
        until: float | None = None,
    ) -> np.ndarray:
        """Book many payments at one instant, for claims covering ``[t, until)`` (an instant
        without ``until``), in the order given, while what ``item`` may still pay allows.

        Returns which were paid. As with :meth:`pay` one at a time: a payment that does not
        fit in what is left is skipped (and its firm recorded as refused) and later, smaller
        ones may still be paid; zero amounts are paid (nothing is booked).
        """
        if not math.isfinite(amounts.sum()) and not np.all(np.isfinite(amounts)):
            raise FloatingPointError(f"{item}: a payment at t={t:.2f} is not a finite number")
        key = self._key(item, t)
        spent = self.spent.get(key, 0.0)
        positive = amounts > 0
        total = np.cumsum(np.where(positive, amounts, 0.0))
        left = max(self.left(item, t, until), 0.0)
        fits = total <= left  # the longest run that fits, then the rest one by one
        if fits.any():
            left -= float(total[fits][-1])
        paid = fits | ~positive  # nothing to pay is never refused
        if not paid.all():
            rest = np.flatnonzero(~paid & (amounts <= left))
            smallest = float(amounts[rest].min()) if rest.size else math.inf
            for i, amount in zip(rest.tolist(), amounts[rest].tolist(), strict=True):
                if left < smallest:
                    break
                if amount <= left:
                    paid[i] = True
                    left -= amount
            refused = ~paid & positive
            self._records.refusals(t, item, parks[refused], firms[refused])
        booked = paid & positive
        if booked.any():
            self.spent[key] = spent + float(amounts[booked].sum())
            self._records.payments(t, item, parks[booked], firms[booked], amounts[booked])
        return paid


@dataclass(slots=True)
class Cohort:
    """Firms as columns: the firms in parks at one report (``rows`` index the firm table), or
    would-be entrants (``rows`` index their applications; ``park`` is not known yet, and they
    have no 亩均 grade: ``mu_grade`` None). ``mu_grade`` holds grade ranks (A is 0, -1
    ungraded), as the firm table does; ``rd`` whether each does R&D (None: unknown, taken as
    none). What the policy targets (:func:`cohort_profile`; None where a cohort is built
    without it, and then no eligibility condition may read it): ``employees``,
    ``rd_intensity`` (R&D spending per yuan of revenue were the firm to do R&D), ``brand``
    (an own brand or core technology) and ``credit`` (access to bank credit)."""

    rows: np.ndarray
    firm: np.ndarray
    park: np.ndarray | None
    revenue: np.ndarray
    floor_m2: np.ndarray
    entered_at: np.ndarray
    mu_grade: np.ndarray | None = None
    rd: np.ndarray | None = None
    employees: np.ndarray | None = None
    rd_intensity: np.ndarray | None = None
    brand: np.ndarray | None = None
    credit: np.ndarray | None = None

    def merit(self) -> np.ndarray:
        """Revenue per m2 of floor (亩均 returns), the merit a ranked budget pays best first."""
        return self.revenue / np.maximum(self.floor_m2, 1.0)


PROFILE = ("productivity", "rd_intensity", "brand", "credit")
"""The firm-table columns of what the policy targets
(:meth:`~parksim.model.district.Pool.profile`)."""


def cohort_profile(profile: dict[str, np.ndarray], revenue: np.ndarray,
                   revenue_per_employee: float) -> dict[str, np.ndarray]:
    """:class:`Cohort` fields from firm-table columns (:data:`PROFILE`) at ``revenue``: the
    employees a firm's revenue takes at its own revenue per employee, and the rest as they are."""
    return {
        "employees": revenue / (revenue_per_employee * profile["productivity"]),
        "rd_intensity": profile["rd_intensity"],
        "brand": profile["brand"],
        "credit": profile["credit"],
    }


class MuPrices:
    """The province's 亩均 differentiated factor prices (``policies.mu_pricing``) by a firm's 亩均
    grade rank (A is 0; -1, ungraded, reads the last entry: no effect): the growth effect of
    the surcharges, the exit hazard multiplier, whether support is withheld, and the order in
    which a lever's budget pays (ungraded firms as B)."""

    def __init__(self, spec, start: str):
        self.spec = spec
        self.t0 = float(month_index(start, spec.window.start))
        self.t1 = float(month_index(start, spec.window.end) + 1)
        self.drift = np.array([spec.growth_drift_per_year.get(g, 0.0) for g in GRADES] + [0.0])
        self.exit = np.array([spec.exit_hazard_multiplier.get(g, 1.0) for g in GRADES] + [1.0])
        self.withheld = np.array([g in spec.withhold_grades for g in GRADES] + [False])
        self.withheld_levers = frozenset(spec.withhold_levers)
        self.order = np.array([*range(len(GRADES)), GRADE_RANK["B"]])

    def active(self, t: float) -> bool:
        return self.spec.enabled and self.t0 <= t < self.t1

    def drifts(self, mu_grade: np.ndarray, t: float) -> np.ndarray | float:
        """Growth effect on firms of these 亩均 grade ranks at ``t`` (0 while inactive)."""
        return self.drift[mu_grade] if self.active(t) else 0.0

    def exit_multipliers(self, mu_grade: np.ndarray, t: float) -> np.ndarray | float:
        """Exit hazard multiplier of firms of these 亩均 grade ranks at ``t`` (1 while inactive)."""
        return self.exit[mu_grade] if self.active(t) else 1.0

    def queue(self, lever: str, mu_grade: np.ndarray, keys: np.ndarray,
              t: float) -> np.ndarray:
        """The order (positions into ``mu_grade``) in which ``lever``'s budget pays firms of these
        grades whose claims come in the order of ``keys`` (smallest first), leaving out those it
        withholds support from: by the keys alone while inactive."""
        if not self.active(t):
            return np.argsort(keys, kind="stable")
        keep = np.flatnonzero(~self.withheld[mu_grade]) if lever in self.withheld_levers \
            else np.arange(len(mu_grade))
        if self.spec.priority:
            return keep[np.lexsort((keys[keep], self.order[mu_grade[keep]]))]
        return keep[np.argsort(keys[keep], kind="stable")]


@dataclass(slots=True)
class Standing:
    """Every park's standing at one instant, as arrays indexed by park id: its grade's rank
    (:data:`~parksim.model.parks.UNGRADED` before its first grading), whether it is in its
    grace period, whether it has a service platform, its rent relief per m2 relative to
    the market rent (:attr:`~parksim.model.parks.Park.relief_ratio`: 0 where it sells its
    units) and its development model. Taken once per report and shared by the levers."""

    rank: np.ndarray
    in_grace: np.ndarray
    has_platform: np.ndarray
    relief_ratio: np.ndarray
    model: np.ndarray | None = None  # each park's development model

    @classmethod
    def of(cls, parks, t: float) -> Standing:
        rank = np.array([p.rank for p in parks], dtype=np.int64)
        in_grace = np.array([p.in_grace(t) for p in parks], dtype=bool)
        return cls(rank, in_grace, np.array([p.has_platform for p in parks], dtype=bool),
                   np.array([p.relief_ratio for p in parks], dtype=float),
                   np.array([p.development_model for p in parks], dtype=object))


@dataclass(slots=True)
class Support:
    """Combined effects of the levers each firm of a cohort holds for one review interval
    (arrays), or one entrant holds for its first interval (numbers)."""

    drift: np.ndarray | float
    exit_multiplier: np.ndarray | float
    tech_multiplier: np.ndarray | float
    rd_multiplier: np.ndarray | float
    credit: np.ndarray | bool = False  # financed: it holds credit for the interval

    @classmethod
    def none(cls, n: int) -> Support:
        return cls(np.zeros(n), np.ones(n), np.ones(n), np.ones(n), np.zeros(n, dtype=bool))

    def add(self, which: np.ndarray, effects) -> None:
        """Combine (growth drift, exit, tech, R&D multiplier) ``effects`` into the firms at
        positions ``which`` (effects are numbers or arrays of their length)."""
        drift, exit_multiplier, tech_multiplier, rd_multiplier = effects
        self.drift[which] += drift
        self.exit_multiplier[which] *= exit_multiplier
        self.tech_multiplier[which] *= tech_multiplier
        self.rd_multiplier[which] *= rd_multiplier


class Lever:
    """One policy lever; ``purpose`` numbers a firm's take-up draw (:class:`~parksim.rng.Draw`).
    A lever that ``grants_credit`` gives the firms it pays access to credit for the interval."""

    grants_credit = False

    def __init__(self, name: str, spec: LeverSpec, start: str, purpose: int):
        self.name = name
        self.spec = spec
        self.purpose = purpose
        self.enabled = spec.enabled
        self.t0 = float(month_index(start, spec.window.start))
        self.t1 = float(month_index(start, spec.window.end) + 1)
        self.cap = spec.budget_cap_yuan_per_year
        self.allocation = spec.allocation
        self.take_up = spec.take_up
        self.max_revenue = spec.max_revenue_yuan
        self.eligibility = spec.eligibility
        self.leading_revenue = math.inf  # a leading firm has at least this revenue (set by
        # build_levers from enterprises.leading_firm_revenue_yuan)
        self.min_rank = GRADE_RANK[spec.min_park_grade]
        self.mu_prices: MuPrices | None = None  # set by the Policy that holds it

    def active(self, t: float) -> bool:
        return self.enabled and self.t0 <= t < self.t1

    def admits(self, rank, in_grace, has_platform, relief_ratio):
        """Whether firms in parks of this standing may be supported (numbers or arrays): graded
        well enough, ungraded (rank -1), or in the grace period."""
        return (rank <= self.min_rank) | in_grace

    def park_admits(self, park: Park, t: float) -> bool:
        """:meth:`admits` for one park at ``t`` (a firm entering it)."""
        return self.admits(park.rank, park.in_grace(t), park.has_platform, park.relief_ratio)

    def parks_admitting(self, standing: Standing) -> np.ndarray:
        """:meth:`admits` for every park at once (by park id)."""
        return self.admits(standing.rank, standing.in_grace, standing.has_platform,
                           standing.relief_ratio)

    def cost_ratio(self, relief_ratio):
        """What supporting a firm costs in a park of this ``relief_ratio`` (a number or an
        array), relative to :meth:`annual_cost`: the same in every park, unless the lever pays
        a share of the park's own rent (:class:`LandLever`)."""
        return None

    def annual_cost(self, cohort: Cohort, t) -> np.ndarray | float:
        """Yuan per supported firm-year."""
        raise NotImplementedError

    def strength(self, cohort: Cohort, t) -> np.ndarray | float:
        """Share of the lever's full effect each firm gets (1 unless the lever tapers)."""
        return 1.0

    def terms(
        self, cohort: Cohort, t, until, take_up_draws: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For the cohort's firms over ``[t, until)`` (numbers, or one per firm): the strength at
        which each takes the lever up (0: it does not) and what supporting it would cost.

        A firm takes it up if the lever is active at ``t``, the firm is small enough, its
        take-up draw is below the take-up rate and its strength is positive. The cost covers
        the interval, cut at the window's end. Its park's admission and the budget are decided
        apart (:meth:`offer`, :meth:`Policy.support_entrant`).
        """
        ok = self.enabled & (self.t0 <= t) & (t < self.t1)
        ok &= self.eligible(cohort) & (take_up_draws < self.take_up)
        strength = np.where(ok, self.strength(cohort, t), 0.0)
        covered = np.minimum(until, self.t1) - t
        cost = np.broadcast_to(self.annual_cost(cohort, t), ok.shape) * (covered / 12.0)
        return strength, cost

    def eligible(self, cohort: Cohort) -> np.ndarray:
        """Which of the cohort's firms the lever is for: within its revenue cap (a leading firm
        whatever its revenue, unless the eligibility holds it to the cap or is for leading
        firms only), and meeting every condition of its ``eligibility`` table."""
        e = self.eligibility
        revenue = cohort.revenue
        leading = revenue >= self.leading_revenue
        ok = {"exempt_from_revenue_cap": (revenue <= self.max_revenue) | leading,
              "as_others": revenue <= self.max_revenue, "only": leading}[e.leading_firms]
        if e.min_employees > 0:
            ok = ok & (cohort.employees >= e.min_employees)
        if e.min_rd_intensity > 0:
            ok = ok & cohort.rd & (cohort.rd_intensity >= e.min_rd_intensity)
        if e.own_brand_or_core_tech:
            ok = ok & cohort.brand
        if e.credit_access != "any":
            ok = ok & (cohort.credit if e.credit_access == "with" else ~cohort.credit)
        if e.min_firm_grade is not None and cohort.mu_grade is not None:
            ok = ok & ((cohort.mu_grade < 0) | (cohort.mu_grade <= GRADE_RANK[e.min_firm_grade]))
        return ok

    def offer(
        self,
        cohort: Cohort,
        standing: Standing,
        t: float,
        until: float,
        take_up_draws: np.ndarray,
        ledger: Ledger,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Support the cohort's firms for ``[t, until)``: those that take it up (:meth:`terms`),
        whose park admits it (their ``standing``), while what the budget has released lasts
        (:meth:`Ledger.left`), in the order their claims come: at random (their take-up draws),
        or best revenue per m2 first where the lever's ``allocation`` is ranked -- and, where
        the 亩均 prices queue them, by grade first (:meth:`MuPrices.queue`). Returns the paid
        firms' positions in the cohort and their strengths."""
        strength, cost = self.terms(cohort, t, until, take_up_draws)
        takers = np.flatnonzero(self.parks_admitting(standing)[cohort.park] & (strength > 0))
        keys = -cohort.merit()[takers] if self.allocation == "ranked" else take_up_draws[takers]
        if self.mu_prices is not None and cohort.mu_grade is not None:
            takers = takers[self.mu_prices.queue(self.name, cohort.mu_grade[takers], keys, t)]
        else:
            takers = takers[np.argsort(keys, kind="stable")]
        cost = cost[takers]
        ratio = self.cost_ratio(standing.relief_ratio)
        if ratio is not None:
            cost = cost * ratio[cohort.park[takers]]
        paid = takers[ledger.pay_all(self.name, t, cost, cohort.park[takers], cohort.firm[takers],
                                     until)]
        return paid, strength[paid]

    def effects(self, strength):
        """(growth drift, exit, tech, R&D multipliers) of firms paid at ``strength`` (any shape)."""
        spec = self.spec
        return (
            spec.growth_drift_per_year * strength,
            1.0 + (spec.exit_hazard_multiplier - 1.0) * strength,
            1.0 + (spec.tech_hazard_multiplier - 1.0) * strength,
            1.0,
        )


class FinanceLever(Lever):
    grants_credit = True

    def annual_cost(self, cohort, t):
        s = self.spec
        return s.loan_yuan * (s.interest_subsidy_rate + s.guarantee_fee_rate + s.expected_loss_rate)


class LandLever(Lever):
    def __init__(self, name, spec, start, purpose, rent_yuan_m2_month: float):
        super().__init__(name, spec, start, purpose)
        self.rent = rent_yuan_m2_month
        self.shares = np.array([*spec.rent_subsidy_share_by_year, 0.0])
        self.full = max(spec.rent_subsidy_share_by_year) or 1.0

    def _share(self, cohort: Cohort, t: float) -> np.ndarray:
        year = np.floor_divide(t - cohort.entered_at, 12.0).astype(np.int64)
        return self.shares[np.clip(year, 0, len(self.shares) - 1)]

    def strength(self, cohort, t):
        return self._share(cohort, t) / self.full

    def annual_cost(self, cohort, t):
        """The relieved share of the firm's floor at the market rent (:meth:`cost_ratio`
        turns it into the park's rent)."""
        return cohort.floor_m2 * self.rent * 12.0 * self._share(cohort, t)

    def admits(self, rank, in_grace, has_platform, relief_ratio):
        """Only parks that let their units relieve rent (a firm that bought its unit pays none)."""
        return (relief_ratio > 0) & super().admits(rank, in_grace, has_platform, relief_ratio)

    def cost_ratio(self, relief_ratio):
        return relief_ratio


class TaxLever(Lever):
    def annual_cost(self, cohort, t):
        return self.spec.rd_subsidy_yuan_per_firm_year

    def effects(self, strength):
        drift, exit_multiplier, tech_multiplier, _ = super().effects(strength)
        return drift, exit_multiplier, tech_multiplier, self.spec.rd_adoption_multiplier

    def reward_upgrades(
        self, t: float, ledger: Ledger, parks: np.ndarray, firms: np.ndarray
    ) -> None:
        """The one-off reward to each firm just upgraded (小升规), while the budget lasts."""
        if self.active(t) and len(firms):
            ledger.pay_all(self.name, t, np.full(len(firms), self.spec.upgrade_reward_yuan),
                           parks, firms)


class ServicesLever(Lever):
    def admits(self, rank, in_grace, has_platform, relief_ratio):
        """Only parks with a service platform offer its services."""
        return has_platform & super().admits(rank, in_grace, has_platform, relief_ratio)

    def annual_cost(self, cohort, t):
        return self.spec.cost_yuan_per_firm_year


class ReliefLever(Lever):
    """Rent waived in a shock by the landlords of public parks, paid by the district, to firms
    in parks of the ``park_models`` that let their units: the firm's floor x its park's rent x
    ``rent_waived_share`` for the months of the window in the interval it is offered for. It
    is offered like any lever at the reports and entries inside its window, and once more when
    the window opens, to the firms then part-way through an interval
    (:meth:`Policy.relieve`)."""

    def __init__(self, name, spec, start, purpose, rent_yuan_m2_month: float):
        super().__init__(name, spec, start, purpose)
        self.rent = rent_yuan_m2_month
        self.models = frozenset(spec.park_models)

    def terms(self, cohort, t, until, take_up_draws):
        """As :meth:`Lever.terms`; the cost is the rent waived for the months of the window
        from ``t`` to the end of each firm's interval."""
        covered = np.maximum(np.minimum(until, self.t1) - t, 0.0)
        ok = self.enabled & (self.t0 <= t) & (t < self.t1) & (covered > 0) \
            & self.eligible(cohort) & (take_up_draws < self.take_up)
        cost = cohort.floor_m2 * self.rent * self.spec.rent_waived_share * covered
        return np.where(ok, 1.0, 0.0), np.broadcast_to(cost, ok.shape)

    def park_admits(self, park: Park, t: float) -> bool:
        return park.development_model in self.models and park.relief_ratio > 0 \
            and super().park_admits(park, t)

    def parks_admitting(self, standing: Standing) -> np.ndarray:
        public = np.array([m in self.models for m in standing.model], dtype=bool)
        return public & (standing.relief_ratio > 0) & super().parks_admitting(standing)

    def cost_ratio(self, relief_ratio):
        return relief_ratio


def build_levers(scenario) -> dict[str, Lever]:
    """The five levers of a scenario, in a fixed order (finance, land, tax, services, relief)."""
    p = scenario.policies
    start = scenario.calendar.start
    levers = {
        "finance": FinanceLever("finance", p.finance, start, purpose=Draw.FIRM.take_up_finance),
        "land": LandLever(
            "land",
            p.land,
            start,
            purpose=Draw.FIRM.take_up_land,
            rent_yuan_m2_month=scenario.parks.rent_yuan_m2_month,
        ),
        "tax": TaxLever("tax", p.tax, start, purpose=Draw.FIRM.take_up_tax),
        "services": ServicesLever(
            "services", p.services, start, purpose=Draw.FIRM.take_up_services
        ),
        "relief": ReliefLever(
            "relief", p.relief, start, purpose=Draw.FIRM.take_up_relief,
            rent_yuan_m2_month=scenario.parks.rent_yuan_m2_month,
        ),
    }
    for lever in levers.values():
        lever.leading_revenue = scenario.enterprises.leading_firm_revenue_yuan
    return levers


class Statutory:
    """A national statutory tax measure (:class:`~parksim.scenario.schema.National`): every
    eligible firm, no take-up draw, no budget, no park's admission; what it costs the state is
    booked as tax expenditure, apart from the district's cost. ``name`` is its ledger item."""

    name = ""

    def __init__(self, spec, start: str):
        self.spec = spec
        self.t0 = float(month_index(start, spec.window.start))
        self.t1 = float(month_index(start, spec.window.end) + 1)

    def active(self, t: float) -> bool:
        return self.spec.enabled and self.t0 <= t < self.t1

    def terms(self, cohort: Cohort, t, until):
        """For the cohort's firms over ``[t, until)`` (numbers, or one per firm): whether each is
        eligible, the tax it is spared, and its (growth drift, exit, tech, R&D) effects."""
        raise NotImplementedError


class SmallFirmRelief(Statutory):
    """The small low-profit firm income-tax relief: a share of revenue spared, and its effects
    on growth and survival, for every firm up to the revenue the rule's ceiling implies."""

    name = "small_firm_relief"

    def eligible(self, revenue, t) -> np.ndarray:
        return self.spec.enabled & (self.t0 <= t) & (t < self.t1) \
            & (revenue <= self.spec.max_revenue_yuan)

    def terms(self, cohort, t, until):
        s = self.spec
        eligible = self.eligible(cohort.revenue, t)
        covered = (np.minimum(until, self.t1) - t) / 12.0
        cost = np.where(eligible, cohort.revenue * s.relief_share_of_revenue * covered, 0.0)
        on = eligible.astype(float)
        return eligible, cost, (s.growth_drift_per_year * on,
                                1.0 + (s.exit_hazard_multiplier - 1.0) * on, 1.0, 1.0)


class SuperDeduction(Statutory):
    """The R&D super-deduction: a firm doing R&D deducts ``deduction_rate`` more of its R&D
    spending (its revenue x its R&D intensity), sparing that times its marginal tax rate (lower
    for a firm the small-firm relief covers). R&D responds to what it costs after tax, 1 - tax
    rate x (1 + deduction rate) a yuan: by the factor (user cost / user cost at the reference
    rate) ** -elasticity, a firm without R&D starts it that much faster and a firm doing R&D
    spends that much more on it, which raises its certification rate by the factor **
    ``tech_elasticity`` (``enterprises.tech_intensity_elasticity``)."""

    name = "rd_super_deduction"

    def __init__(self, spec, start: str, relief: SmallFirmRelief, tech_elasticity: float = 0.0):
        super().__init__(spec, start)
        self.relief = relief
        self.tech_elasticity = tech_elasticity
        changes = sorted((month_index(start, m), rate) for m, rate in spec.rate_changes.items())
        self._from = np.array([-np.inf, *(float(m) for m, _ in changes)])
        self._rate = np.array([spec.deduction_rate, *(rate for _, rate in changes)])

    def rate(self, t):
        """The deduction rate at ``t`` (a number or an array)."""
        return self._rate[np.searchsorted(self._from, t, side="right") - 1]

    def terms(self, cohort, t, until):
        s = self.spec
        n = len(cohort.revenue)
        on = np.broadcast_to(s.enabled & (self.t0 <= t) & (t < self.t1), (n,))
        small = self.relief.eligible(cohort.revenue, t)
        tax = np.where(small, s.small_firm_tax_rate, s.standard_tax_rate)
        rate = self.rate(t)
        adoption = ((1.0 - tax * (1.0 + rate)) / (1.0 - tax * (1.0 + s.reference_rate))) \
            ** -s.user_cost_elasticity
        rd = on & (False if cohort.rd is None else cohort.rd)
        covered = (np.minimum(until, self.t1) - t) / 12.0
        spend = 0.0 if cohort.rd_intensity is None else cohort.revenue * cohort.rd_intensity
        cost = np.where(rd, spend * rate * tax * covered, 0.0)
        factor = np.where(on, adoption, 1.0)
        return on, cost, (0.0, 1.0, factor ** self.tech_elasticity, factor)


def build_statutory(scenario) -> list[Statutory]:
    """The national statutory measures of a scenario: the small-firm relief, the super-deduction."""
    national = scenario.policies.national
    start = scenario.calendar.start
    relief = SmallFirmRelief(national.small_firm_relief, start)
    return [relief, SuperDeduction(national.rd_super_deduction, start, relief,
                                   scenario.enterprises.tech_intensity_elasticity)]


@dataclass(frozen=True, slots=True)
class LeverTerms:
    """One lever's terms for a batch of would-be entrants, as lists indexed by entrant: the
    strength each would take it up at (0: not taken up), its cost, and its effects."""

    lever: Lever
    strength: list[float]
    cost: list[float]
    drift: list[float]
    exit_multiplier: list[float]
    tech_multiplier: list[float]
    rd_multiplier: list[float]


class EntrantTerms:
    """The levers a batch of would-be entrants take up for their first interval
    (:meth:`Lever.terms`), found in bulk before the run; levers nobody takes up are left out.
    Beside them, what the statutory measures give each (their effects combined: ``national``,
    a :class:`Support` of lists) and spare it (``spared``: per measure, its name and the tax
    spared per entrant)."""

    __slots__ = ("by_lever", "national", "spared", "until")

    def __init__(self, levers: list[Lever], entrants: Cohort, t: np.ndarray, until: np.ndarray,
                 take_up_draws: np.ndarray, statutory: list[Statutory] = ()):
        self.until: list[float] = np.asarray(until, dtype=float).tolist()  # first interval's end
        self.by_lever: list[LeverTerms] = []
        for lever, draws in zip(levers, take_up_draws, strict=True):
            strength, cost = lever.terms(entrants, t, until, draws)
            if np.any(strength > 0):
                effects = (
                    np.broadcast_to(x, strength.shape).tolist() for x in lever.effects(strength)
                )
                self.by_lever.append(LeverTerms(lever, strength.tolist(), cost.tolist(), *effects))
        national = Support.none(len(entrants.rows))
        self.spared: list[tuple[str, list[float]]] = []
        for measure in statutory:
            eligible, cost, effects = measure.terms(entrants, t, until)
            covered = np.flatnonzero(eligible)
            national.add(covered, tuple(np.broadcast_to(x, eligible.shape)[covered]
                                        for x in effects))
            if np.any(cost > 0):
                self.spared.append((measure.name, cost.tolist()))
        self.national = Support(national.drift.tolist(), national.exit_multiplier.tolist(),
                                national.tech_multiplier.tolist(), national.rd_multiplier.tolist())


def _cost_in(lever: Lever, cost: float, park: Park) -> float:
    """``cost``, what supporting an entrant costs by :meth:`Lever.annual_cost`, in ``park``."""
    ratio = lever.cost_ratio(park.relief_ratio)
    return cost if ratio is None else cost * ratio


def lease_relief(shares_by_year, lease_years: float) -> float:
    """The share of a lease's rent relieved when the rent of its first, second, ... year is
    relieved by ``shares_by_year`` (none after the years listed), over ``lease_years`` (a part
    year pro rata)."""
    whole = int(lease_years)
    relieved = sum(shares_by_year[:whole])
    if whole < len(shares_by_year):
        relieved += shares_by_year[whole] * (lease_years - whole)
    return relieved / lease_years


class Policy:
    """The support policy of one replication: the five levers, in a fixed order, the national
    statutory measures, the province's 亩均 differentiated prices, and the ledger."""

    def __init__(self, scenario: Scenario, records: RecordBuffer):
        self.levers = build_levers(scenario)
        self.lever_list = list(self.levers.values())
        self.statutory = build_statutory(scenario)
        self.mu_prices = MuPrices(scenario.policies.mu_pricing, scenario.calendar.start)
        self.ledger = Ledger(scenario.calendar.start, records)
        for lever in self.lever_list:
            lever.mu_prices = self.mu_prices
            self.ledger.budget(lever.name, lever.cap, lever.allocation)

    def __getitem__(self, name: str) -> Lever:
        return self.levers[name]

    def active(self, t: float) -> list[Lever]:
        """The levers active at ``t``, in order."""
        return [lever for lever in self.lever_list if lever.active(t)]

    def applies(self, t: float) -> bool:
        """Whether any lever or statutory measure applies at ``t``."""
        return any(m.active(t) for m in (*self.lever_list, *self.statutory))

    def support(
        self, cohort: Cohort, standing: Standing, t: float, until: float, take_up_draws
    ) -> Support:
        """Offer every lever active at ``t`` to the cohort for ``[t, until)`` (``take_up_draws``:
        one row per active lever), apply the statutory measures to every firm they cover, and
        combine the effects each firm holds."""
        support = Support.none(len(cohort.rows))
        for lever, draws in zip(self.active(t), take_up_draws, strict=True):
            paid, strength = lever.offer(cohort, standing, t, until, draws, self.ledger)
            support.add(paid, lever.effects(strength))
            if lever.grants_credit:
                support.credit[paid] = True
        for measure in self.statutory:
            eligible, cost, effects = measure.terms(cohort, t, until)
            covered = np.flatnonzero(eligible)
            if covered.size:
                self.ledger.pay_all(measure.name, t, cost[covered], cohort.park[covered],
                                    cohort.firm[covered])
                support.add(covered, tuple(np.broadcast_to(x, eligible.shape)[covered]
                                           for x in effects))
        return support

    def support_entrant(
        self, terms: EntrantTerms, i: int, park: Park, t: float, firm: int
    ) -> Support:
        """Pay the levers entrant ``i`` of ``terms`` takes up, where ``park`` admits them and the
        budget allows, and book the statutory measures that cover it, as it enters at ``t``: its
        combined support."""
        drift, exit_multiplier, tech_multiplier, rd_multiplier = 0.0, 1.0, 1.0, 1.0
        credit = False
        taken = [lt for lt in terms.by_lever if lt.strength[i] > 0]
        until = terms.until[i]
        for lt in taken:
            lever = lt.lever
            if lever.park_admits(park, t) and self.ledger.pay(
                lever.name, t, _cost_in(lever, lt.cost[i], park), park.id, firm, until
            ):
                drift += lt.drift[i]
                exit_multiplier *= lt.exit_multiplier[i]
                tech_multiplier *= lt.tech_multiplier[i]
                rd_multiplier *= lt.rd_multiplier[i]
                credit = credit or lever.grants_credit
        book = self.ledger.book
        for item, spared in terms.spared:  # statutory: every firm covered, no budget
            if spared[i] > 0:
                book(item, t, spared[i], park.id, firm)
        national = terms.national
        return Support(drift + national.drift[i], exit_multiplier * national.exit_multiplier[i],
                       tech_multiplier * national.tech_multiplier[i],
                       rd_multiplier * national.rd_multiplier[i], credit)

    def expected_rent_relief(self, terms: EntrantTerms, i: int, park: Park, t: float,
                             lease_years: float) -> float:
        """The share of its rent over a lease of ``lease_years`` that entrant ``i`` of
        ``terms`` expects the land lever to relieve in ``park`` at ``t``: the relief shares of
        ``rent_subsidy_share_by_year`` for the years of the lease, over the lease, if the firm
        would take the lever up, the park admits it and the land budget can still pay its
        first interval; else 0."""
        for lever_terms in terms.by_lever:
            lever = lever_terms.lever
            if lever.name != "land":
                continue
            if lever_terms.strength[i] <= 0 or not lever.park_admits(park, t):
                return 0.0
            if _cost_in(lever, lever_terms.cost[i], park) > self.ledger.left("land", t,
                                                                             terms.until[i]):
                return 0.0
            return lease_relief(lever.spec.rent_subsidy_share_by_year, lease_years)
        return 0.0

    def relieve(self, cohort: Cohort, standing: Standing, t: float, until: float,
                take_up_draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The relief lever's round when its window opens at ``t``: offer it to the cohort's
        firms, part-way through intervals ending at the next report ``until``, for the window's
        months left in them. Returns the paid firms' positions and strengths
        (:meth:`Lever.offer`)."""
        return self.levers["relief"].offer(cohort, standing, t, until, take_up_draws,
                                           self.ledger)

    def registration_rate(self, t: float, base: float) -> float:
        """The rate a year at which a firm above the line registers as above designated size at
        ``t``, before its park's guidance: ``base``, plus what the tax lever's upgrade reward
        adds while the lever is active and its budget can still pay a reward."""
        tax = self.levers["tax"]
        spec = tax.spec
        if not tax.active(t) or self.ledger.left("tax", t) < spec.upgrade_reward_yuan:
            return base
        return base + spec.registration_rate_per_100k_yuan * spec.upgrade_reward_yuan / 1e5

    def reward_upgrades(self, t: float, parks: np.ndarray, firms: np.ndarray) -> None:
        """The tax lever's one-off reward for each firm that has just upgraded (小升规)."""
        self.levers["tax"].reward_upgrades(t, self.ledger, parks, firms)

    def platform_subsidy(self, t: float, setup_cost_yuan: float) -> float:
        """The services lever's subsidy for building a platform that costs ``setup_cost_yuan``
        at ``t``: its ``platform_subsidy_share`` of the cost while the lever is active and its
        budget still holds it, else 0."""
        services = self.levers["services"]
        amount = services.spec.platform_subsidy_share * setup_cost_yuan
        if not services.active(t) or amount > self.ledger.left("services", t):
            return 0.0
        return amount

    def pay_platform_subsidy(self, t: float, amount: float, park: int) -> None:
        """Pay the subsidy counted when building a platform in ``park`` started at ``t``."""
        if amount > 0:
            self.ledger.pay("services", t, amount, park, -1)

    def services_purchase_per_firm(self, t: float, years: float) -> float:
        """What the services lever is expected to buy from a park's service platform per firm
        over the ``years`` from ``t``: its take-up times its cost per firm-year, for the part
        of them inside its window; 0 while it is not active."""
        services = self.levers["services"]
        if not services.active(t):
            return 0.0
        covered = min(years, (services.t1 - t) / 12.0)
        return services.take_up * services.spec.cost_yuan_per_firm_year * covered

    def extra_land(self, a: float, b: float) -> tuple[float, float] | None:
        """The land lever's extra land quota for the part of ``[a, b)`` inside its window: when
        it is released (the window's start or ``a``) and how many mu, pro rata; None outside
        the window. A disabled lever releases nothing (0 mu)."""
        land = self.levers["land"]
        lo, hi = max(a, land.t0), min(b, land.t1)
        if hi <= lo:
            return None
        extra = land.spec.extra_land_quota_mu_per_year if land.enabled else 0.0
        return lo, extra * (hi - lo) / 12.0

    def building_subsidy(self, t: float, renovation: bool, floor_area_m2: float) -> float:
        """The land lever's subsidy for renovating or building a park of ``floor_area_m2`` at
        ``t``, in yuan, while the lever is active (else 0): a capital outlay, not paid from the
        lever's yearly budget for firms."""
        land = self.levers["land"]
        spec = land.spec
        rate = spec.renovation_subsidy_yuan_per_m2 if renovation \
            else spec.construction_subsidy_yuan_per_m2
        return rate * floor_area_m2 if land.active(t) else 0.0

    def pay_building_subsidy(self, t: float, renovation: bool, floor_area_m2: float,
                             park: int) -> None:
        """Book the land lever's subsidy for a park whose building starts at ``t``
        (:meth:`building_subsidy`) as a capital outlay."""
        item = "renovation_subsidy" if renovation else "construction_subsidy"
        amount = self.building_subsidy(t, renovation, floor_area_m2)
        if amount > 0:
            self.ledger.pay(item, t, amount, park, -1)

    def land_concession(self, t: float, mu: float) -> float:
        """The land lever's land-price concession for ``mu`` of land at ``t``, in yuan, while the
        lever is active (else 0): a capital outlay."""
        land = self.levers["land"]
        return mu * land.spec.land_discount_yuan_per_mu if land.active(t) else 0.0

    def grant_land(self, t: float, mu: float, park: int) -> None:
        """Book the land lever's discount on ``mu`` of land a new-build park project takes at
        ``t`` as a capital outlay."""
        amount = self.land_concession(t, mu)
        if amount > 0:
            self.ledger.pay("land_concession", t, amount, park, -1)

    def pay_government_park(self, t: float, amount: float, park: int) -> None:
        """Book the district's investment in a government-led park paid at ``t`` as a capital
        outlay."""
        if amount > 0:
            self.ledger.pay("government_parks", t, amount, park, -1)
