"""Park projects: building, opening, recognition, provincial recommendation, grading, demonstration.

A :class:`Park` owns its free usable floor (m²): a firm takes space when it enters or
expands and gives it back when it leaves, and it takes space only where there is room, so
occupied floor never exceeds capacity. (Nobody waits for floor -- an applicant without room
tries another park or applies again later -- so a SimPy ``Container`` would add an event to
every move and nothing else.) :class:`Vacancies` keeps the parks that can admit anyone, by
lead sector, so that placing an applicant does not scan every park in a province. Each park
runs one process, :func:`park_life`, from project to recognised (and perhaps provincial)
park. New projects come from :func:`pipeline`; new builds wait for land quota, itself a
``Container`` topped up each January by :func:`land_release`. The yearly performance
evaluation and demonstration selection are :mod:`parksim.model.grading`'s, the platforms parks
build :mod:`parksim.model.platforms`'. :class:`Parks` is the part of a replication's world that
holds them all: the parks, their vacancies and the land.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import simpy
from scipy.special import ndtri

from parksim.calendar import month_index, parse_month
from parksim.model.platforms import effects_table
from parksim.records import Kind
from parksim.rng import PARK_CHOICE_DRAWS, PARK_PROBES, Draw, firm_stream_seed, keyed_uniform
from parksim.scenario.schema import GRADES

if TYPE_CHECKING:
    from parksim.model.context import Context
    from parksim.model.policies import Policy
    from parksim.scenario.schema import DevelopmentModel

__all__ = [
    "Park",
    "ParkRules",
    "Parks",
    "Vacancies",
    "park_life",
    "pipeline",
    "Site",
    "candidate_site",
    "site_economics",
    "land_release",
    "choose_park",
    "GRADE_RANK",
    "UNGRADED",
    "M2_PER_MU",
]

M2_PER_MU = 10_000 / 15
"""Square metres in one mu (亩) of land, exactly."""

GRADE_RANK = {g: i for i, g in enumerate(GRADES)}
"""Rank of each grade, best first (A is 0)."""

UNGRADED = -1
"""Rank of a park not yet graded: above every grade, so nothing is withheld from it."""


@dataclass(frozen=True, slots=True)
class ParkRules:
    """What every park of a scenario shares: the usable share of its floor, the grace period of
    a new park, and the key of the parks' draws."""

    usable_share: float
    grace_months: float
    key: int


class Park:
    """A park: its floor, its firms, and its standing with the district and province."""

    __slots__ = (
        "id",
        "name",
        "lead_sector",
        "development_model",
        "floor_area_m2",
        "usable_m2",
        "free_m2",
        "n_firms",
        "lead_firms",
        "is_open",
        "recognised_at",
        "provincial",
        "demonstration",
        "delisted",
        "grade",
        "consecutive_good",
        "consecutive_d",
        "has_platform",
        "has_digital",
        "building",
        "cultivated",
        "score",
        "seed",
        "grace_months",
        "opened_at",
        "slot_sector",
        "slot_all",
        "reserved",
        "entity",
        "rent",
        "rent_ratio",
        "sells_units",
        "min_revenue",
    )

    def __init__(self, park_id: int, name: str, lead_sector: int, model: str, floor_area_m2: float,
                 rules: ParkRules):
        self.id = park_id
        self.name = name
        self.lead_sector = lead_sector
        self.development_model = model
        self.floor_area_m2 = floor_area_m2
        self.usable_m2 = floor_area_m2 * rules.usable_share
        self.free_m2 = self.usable_m2
        self.n_firms = 0
        self.lead_firms = 0
        self.is_open = False
        self.recognised_at: float | None = None
        self.provincial = False
        self.demonstration = False
        self.delisted = False
        self.grade: str | None = None
        self.consecutive_good = 0  # gradings in a row at the demonstration rule's grade or better
        self.consecutive_d = 0
        self.entity = park_id
        self.seed = firm_stream_seed(rules.key, park_id)
        self.has_platform = False  # a public service platform (公共服务平台) working
        self.has_digital = False  # digital management (数字化管理) working
        self.building: set[str] = set()  # platforms its operator is building
        self.cultivated = 0  # upgrades and tech certifications of its firms since its last grading
        self.score = math.nan  # its last grading score
        self.grace_months = rules.grace_months
        self.opened_at = math.inf
        self.reserved = 0  # firms that took it and are fitting out their floor, not yet in
        self.slot_sector = -1  # positions in the Vacancies lists, -1 when not listed
        self.slot_all = -1
        self.rent = 0.0  # what a firm pays per m2 and month (a buyer: its cost of owning)
        self.rent_ratio = 1.0  # that, relative to the market rent
        self.sells_units = False
        self.min_revenue = 0.0  # its own entry standard, where stricter than the district's

    def keyed_as(self, entity: int, rules: ParkRules) -> None:
        """Key the park's draws (platforms, recognition, grading) on ``entity``, not its id."""
        self.entity = entity
        self.seed = firm_stream_seed(rules.key, entity)

    def has(self, platform: str) -> bool:
        """Whether its ``platform`` ("services" or "digital") is working."""
        return self.has_platform if platform == "services" else self.has_digital

    @property
    def rank(self) -> int:
        """Its grade's rank (:data:`GRADE_RANK`), or :data:`UNGRADED`."""
        return UNGRADED if self.grade is None else GRADE_RANK[self.grade]

    @property
    def recognised(self) -> bool:
        return self.recognised_at is not None and not self.delisted

    def in_grace(self, t: float) -> bool:
        """A new park within its grace period after opening, when low grades carry no penalty.

        Parks already operating at the start are not new (``opened_at`` is minus infinity).
        """
        return 0.0 <= t - self.opened_at < self.grace_months

    @property
    def occupancy(self) -> float:
        return 1.0 - self.free_m2 / self.usable_m2 if self.usable_m2 > 0 else 0.0

    def admits_other(self, need_m2: float, lead_min_share: float) -> bool:
        """Whether a firm of another sector needing ``need_m2`` fits (floor, lead-sector share)."""
        return self.free_m2 >= need_m2 and self.open_to_others(lead_min_share)

    def open_to_others(self, lead_min_share: float) -> bool:
        """Whether one more firm outside the lead sector keeps the lead sector's share."""
        n = self.n_firms
        return (n - self.lead_firms + 1) / (n + 1) <= 1.0 - lead_min_share + 1e-12

    def draw(self, purpose: int) -> float:
        return keyed_uniform(self.seed, purpose)

    @property
    def relief_ratio(self) -> float:
        """The land lever's rent relief for a m2 of this park, relative to a m2 at the market
        rent: its rent ratio if it lets its units, 0 if it sells them (an owner pays no rent)."""
        return 0.0 if self.sells_units else self.rent_ratio


class Vacancies:
    """Open, listed parks with room for at least the smallest applicant: by lead sector, and all.

    Kept up to date as parks open, are delisted, fill or empty and take firms in or let them go
    (:meth:`update`), so an applicant looks only at parks that might take it; lists are
    unordered (swap-remove). It also knows the largest free floor among the parks of each lead
    sector and among the parks open to firms of other sectors (:meth:`may_admit`), so an
    applicant no park can take is refused without a look at the parks: max-heaps of
    (free floor, park), whose entries a later update of the park makes stale.
    """

    def __init__(self, sectors: int, floor_min_m2: float, lead_min_share: float):
        self.by_sector: list[list[Park]] = [[] for _ in range(sectors)]
        self.all: list[Park] = []
        self.floor_min = floor_min_m2
        self.lead_min_share = lead_min_share
        self._lead_heaps: list[list[tuple]] = [[] for _ in range(sectors)]
        self._open_heap: list[tuple] = []
        self._version: dict[int, int] = {}
        # the heaps are kept from the first applications on (:meth:`admit_from`)
        self._sized = False

    def admit_from(self, floor_m2: float, parks: Iterable[Park]) -> None:
        """List only parks with at least ``floor_m2`` free (the smallest need of any applicant),
        and from now on keep the largest free floors for :meth:`may_admit`."""
        self.floor_min = floor_m2
        self._sized = True
        for park in parks:
            self.update(park)

    def may_admit(self, sector: int, need_m2: float) -> bool:
        """Whether some listed park might take an applicant of ``sector`` needing ``need_m2``:
        a park of its sector with that much free, or a park open to other sectors with it.
        False means no park can; true means one has the room, though its entry standard may
        still turn the firm away (:func:`choose_park` then finds none)."""
        return need_m2 <= self._largest(self._lead_heaps[sector]) or need_m2 <= self._largest(
            self._open_heap
        )

    def _largest(self, heap: list[tuple]) -> float:
        version = self._version
        while heap and version[heap[0][2]] != heap[0][1]:
            heapq.heappop(heap)
        return -heap[0][0] if heap else 0.0

    def update(self, park: Park) -> None:
        room = park.is_open and not park.delisted and park.free_m2 >= self.floor_min
        if self._sized:
            version = self._version.get(park.id, 0) + 1
            self._version[park.id] = version
            if room:
                entry = (-park.free_m2, version, park.id)
                heapq.heappush(self._lead_heaps[park.lead_sector], entry)
                if park.open_to_others(self.lead_min_share):
                    heapq.heappush(self._open_heap, entry)
        if room and park.slot_all < 0:
            lead = self.by_sector[park.lead_sector]
            park.slot_sector, park.slot_all = len(lead), len(self.all)
            lead.append(park)
            self.all.append(park)
        elif not room and park.slot_all >= 0:
            _remove(self.by_sector[park.lead_sector], park.slot_sector, "slot_sector")
            _remove(self.all, park.slot_all, "slot_all")
            park.slot_sector = park.slot_all = -1


def choose_park(
    vacancies: Vacancies, sector: int, seed: int, first_draw: int, need_m2: float,
    revenue: float,
) -> Park | None:
    """A park whose positioning, entry standard and free floor admit a firm of ``sector`` and
    ``revenue`` needing ``need_m2`` (lead-sector parks first), or None: for an applicant, or for
    a firm that outgrew its park.

    Its keyed picks are draws ``first_draw`` .. ``first_draw + PARK_CHOICE_DRAWS - 1`` of the
    firm's stream ``seed``.

    Uniform among the parks that admit it, found among the parks with any room
    (:class:`~parksim.model.parks.Vacancies`): a short list is scanned; in a long one a few
    keyed random picks come first, and a scan only if none of them fits. An applicant no park
    can take is refused without a look at the parks
    (:meth:`~parksim.model.parks.Vacancies.may_admit`).
    """
    if not vacancies.may_admit(sector, need_m2):
        return None
    base = first_draw
    lead = vacancies.by_sector[sector]
    if lead:
        park = _probe(
            lead, seed, base,
            lambda park: park.free_m2 >= need_m2 and park.min_revenue <= revenue,
        )
        if park is None:
            park = _one_of(
                [park for park in lead if park.free_m2 >= need_m2 and park.min_revenue <= revenue],
                seed, base,
            )
        if park is not None:
            return park
    share = vacancies.lead_min_share
    others = vacancies.all
    base += PARK_CHOICE_DRAWS // 2
    park = _probe(
        others,
        seed,
        base,
        lambda park: park.lead_sector != sector
        and park.admits_other(need_m2, share)
        and park.min_revenue <= revenue,
    )
    if park is None:
        park = _one_of(
            [
                park
                for park in others
                if park.lead_sector != sector
                and park.free_m2 >= need_m2
                and park.min_revenue <= revenue
                and park.open_to_others(share)
            ],
            seed,
            base,
        )
    return park


def _probe(parks: list, seed: int, base: int, admits) -> Park | None:
    """In a long list of parks, a park that ``admits`` the firm among a few keyed random picks
    (draws ``base`` ..); None if none of them does, or if the list is short enough to scan."""
    if len(parks) > _SHORT:
        for i in range(PARK_PROBES):
            park = parks[int(keyed_uniform(seed, base + i) * len(parks))]
            if admits(park):
                return park
    return None


def _one_of(fits: list, seed: int, base: int) -> Park | None:
    """A uniformly random park of ``fits`` (keyed draw ``base + 4``), or None if it is empty."""
    return fits[int(keyed_uniform(seed, base + PARK_PROBES) * len(fits))] if fits else None


_SHORT = 24
"""Lists of parks up to this long are scanned rather than sampled."""



def _remove(parks: list[Park], i: int, slot: str) -> None:
    last = parks.pop()
    if i < len(parks):
        parks[i] = last
        setattr(last, slot, i)


class Parks:
    """The parks of one replication: every park and project (by id), the vacancies among them,
    the land quota for new builds, and what the district's processes ask of them."""

    def __init__(self, ctx: Context, policy: Policy):
        scenario = ctx.scenario
        self.env = ctx.env
        self.records = ctx.records
        self.horizon = ctx.horizon
        self.scenario = scenario
        self.policy = policy
        d = scenario.district
        self.sector_names = list(d.sectors)
        shares = np.array(list(d.sectors.values()), dtype=float)
        self._sector_cum = np.cumsum(shares / shares.sum())
        self.rules = ParkRules(
            scenario.parks.usable_share,
            scenario.parks.grading.grace_years * 12.0,
            ctx.streams.key(Draw.PARK.key),
        )
        self.recognition_opens = float(
            month_index(scenario.calendar.start, scenario.parks.recognition.opens)
        )
        self.projects_key = ctx.streams.key(Draw.PROJECT.key)
        self.grading_key = ctx.streams.key(Draw.GRADING.key)
        self.land = simpy.Container(ctx.env)
        self.vacancies = Vacancies(
            len(self.sector_names), d.floor_min_m2, scenario.parks.admission.lead_sector_min_share
        )
        self._parks: list[Park] = []
        self.pending: list[Site] = []  # candidate sites not (yet) built, in order of coming up
        self.platform_table = effects_table(scenario.parks.platforms)  # what platforms do
        self._government_spent: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._parks)

    def __iter__(self):
        return iter(self._parks)

    def __getitem__(self, park_id: int) -> Park:
        return self._parks[park_id]

    def add(self, name: str, lead_sector: int, model: str, floor_area_m2: float,
            sells_units: bool = False) -> Park:
        """A new park with the next id, keyed on it, on the terms of the scenario's table of its
        development model ``model`` (:meth:`_register`)."""
        park = Park(len(self._parks), name, lead_sector, model, floor_area_m2, self.rules)
        return self._register(park, park.id, sells_units,
                              self.scenario.parks.pipeline.models.get(model))

    def add_project(self, site: Site) -> Park:
        """The park ``site`` becomes once decided for building, closed, on the terms of the
        site's development model. Its draws are keyed on a number that is the same in every
        scenario: the initial parks in file order, then the projects by site number."""
        park = Park(len(self._parks), f"{site.model_name} project {site.number + 1}",
                    site.lead_sector, site.model_name, site.floor_area_m2, self.rules)
        entity = len(self.scenario.parks.initial) + site.number
        return self._register(park, entity, site.sells_units, site.model)

    def _register(self, park: Park, entity: int, sells_units: bool,
                  model: DevelopmentModel | None) -> Park:
        """Hold ``park``: its draws keyed on ``entity``, a number that names the same park in
        every scenario run on the same seed, whatever parks other scenarios build first; its
        rent and entry standard from its development model ``model`` where the model sets them
        (else the market rent, and no standard beyond the district's screening). A park that
        sells its units charges its buyers the cost of owning: price x
        ``owner_cost_rate_per_year``."""
        if entity >= _MOST_PARKS:
            raise OverflowError(f"park number {entity:,}: grading draws would overlap")
        if entity != park.id:
            park.keyed_as(entity, self.rules)
        scenario = self.scenario
        market = scenario.parks.rent_yuan_m2_month
        rent = market if model is None else model.rent_or(market)
        if sells_units:
            rent = model.sale_price_yuan_per_m2 * scenario.district.owner_cost_rate_per_year / 12
        park.rent = rent
        park.rent_ratio = rent / market if market > 0 else 1.0
        park.sells_units = sells_units
        if model is not None and model.min_revenue_yuan is not None:
            park.min_revenue = model.min_revenue_yuan
        self._parks.append(park)
        return park

    def open_initial(self) -> None:
        """The parks and projects of the scenario's start: operating ones open now (established
        before the run, not new parks); each runs :func:`park_life`."""
        start = self.scenario.calendar.start
        for spec in self.scenario.parks.initial:
            park = self.add(
                spec.name,
                self.sector_names.index(spec.lead_sector),
                spec.development_model,
                spec.floor_area_m2,
                sells_units=spec.sells_units,
            )
            if spec.status == "operating":
                park.is_open = True
                park.opened_at = -math.inf
                self.vacancies.update(park)
                self.records.park(0.0, Kind.PARK_OPENED, park.id, park.floor_area_m2)
                opens = 0.0
            else:
                opens = float(month_index(start, spec.opens))
            self.env.process(park_life(self, park, opens))

    def move_in(self, park: Park, sector: int, floor_m2: float) -> None:
        """A firm of ``sector`` moves into ``park``, taking ``floor_m2``."""
        park.n_firms += 1
        if sector == park.lead_sector:
            park.lead_firms += 1
        self.take_floor(park, floor_m2)

    def move_out(self, park: Park, sector: int, floor_m2: float) -> None:
        """A firm of ``sector`` leaves ``park``, giving back ``floor_m2``."""
        park.n_firms -= 1
        if sector == park.lead_sector:
            park.lead_firms -= 1
        self.take_floor(park, -floor_m2)

    def seat(self, park: Park, sectors: np.ndarray, free_m2: float) -> None:
        """Firms of ``sectors`` are seated in ``park`` at the start, leaving it ``free_m2``."""
        park.n_firms += len(sectors)
        park.lead_firms += int(np.count_nonzero(sectors == park.lead_sector))
        park.free_m2 = free_m2
        self.vacancies.update(park)

    def expected_occupancy(self) -> float:
        """The occupancy a developer expects of a new park: that of the open parks now (their
        occupied over their usable floor), or the scenario's prior before any park is open."""
        usable = free = 0.0
        for park in self._parks:
            if park.is_open and not park.delisted:
                usable += park.usable_m2
                free += park.free_m2
        if usable <= 0:
            return self.scenario.parks.pipeline.expected_occupancy
        return 1.0 - free / usable

    def consider(self, t: float) -> None:
        """Decide the sites not yet built, in the order they came up: a government-led site is
        built if the district's capital budget holds its cost (:meth:`_fund`); another if its
        developer expects the rent to repay its cost net of support by the ratio it requires
        (:func:`site_economics`). The others wait for the next time."""
        waiting = []
        occupancy = self.expected_occupancy() if self.pending else 0.0
        for site in self.pending:
            if not self._builds(site, t, occupancy):
                waiting.append(site)
                continue
            park = self.add_project(site)
            if not site.government_led:  # the subsidy counted in the decision is committed now
                self.policy.pay_building_subsidy(t, site.renovation, site.floor_area_m2, park.id)
            self.env.process(_project(self, site, park))
        self.pending = waiting

    def _builds(self, site: Site, t: float, occupancy: float) -> bool:
        if site.government_led:
            return self._fund(site, t)
        expected, cost = site_economics(self, site, t, occupancy)
        return expected >= site.hurdle * cost

    def _fund(self, site: Site, t: float) -> bool:
        """Whether the district's capital budget funds a government-led ``site`` at ``t``: its
        investment is spent evenly over its build months from now, and every calendar year's
        budget must hold that year's part of it (together with the projects already funded)."""
        budget = self.scenario.parks.pipeline.government_budget_yuan_per_year
        if budget is None:
            return True
        cost = site.floor_area_m2 * site.cost_yuan_per_m2
        months = max(site.build_months, 1e-9)
        parts: dict[int, float] = {}
        a, end = t, t + months
        while a < end:
            year = self._year(a)
            b = min(end, self.year_end(a))
            parts[year] = parts.get(year, 0.0) + cost * (b - a) / months
            a = b
        spent = self._government_spent
        if any(spent.get(year, 0.0) + part > budget for year, part in parts.items()):
            return False
        for year, part in parts.items():
            spent[year] = spent.get(year, 0.0) + part
        return True

    def _year(self, t: float) -> int:
        _, m0 = parse_month(self.scenario.calendar.start)
        return int((m0 - 1 + int(t)) // 12)

    def year_end(self, t: float) -> float:
        """The end of the calendar year of month ``t`` (model months)."""
        _, m0 = parse_month(self.scenario.calendar.start)
        return (self._year(t) + 1) * 12.0 - (m0 - 1)

    def calendar_year(self, t: float) -> int:
        """The calendar year of month ``t``."""
        return parse_month(self.scenario.calendar.start)[0] + self._year(t)

    def take_floor(self, park: Park, m2: float) -> None:
        """``park`` gives ``m2`` of its free floor to a firm (or takes it back, when negative)."""
        park.free_m2 -= m2
        self.vacancies.update(park)

    def sector_of_uniform(self, u: float) -> int:
        """The sector a uniform draw picks, by the district's sector shares."""
        return int(
            min(np.searchsorted(self._sector_cum, u, side="right"), len(self._sector_cum) - 1)
        )

    def final_state(self) -> dict[str, list]:
        """Each park's state at the end of the run, as named columns (:data:`PARK_COLUMNS`)."""
        parks = self._parks
        return {
            "park_id": [p.id for p in parks],
            "name": [p.name for p in parks],
            "lead_sector": [self.sector_names[p.lead_sector] for p in parks],
            "development_model": [p.development_model for p in parks],
            "floor_area_m2": [p.floor_area_m2 for p in parks],
            "has_platform": [p.has_platform for p in parks],
            "has_digital": [p.has_digital for p in parks],
            "opened": [p.is_open for p in parks],
            "recognised": [p.recognised_at is not None for p in parks],
            "provincial": [p.provincial for p in parks],
            "demonstration": [p.demonstration for p in parks],
            "delisted": [p.delisted for p in parks],
            "last_grade": [p.grade or "" for p in parks],
            "firms_at_end": [p.n_firms - p.reserved for p in parks],
            "rent_yuan_m2_month": [p.rent for p in parks],
            "sells_units": [p.sells_units for p in parks],
        }


_MOST_PARKS = len(Draw.GRADING.ranges["noise"])
"""Parks one replication may hold: each park's grading draws are numbered by its id."""

PARK_COLUMNS = (
    "park_id",
    "name",
    "lead_sector",
    "development_model",
    "floor_area_m2",
    "has_platform",
    "has_digital",
    "opened",
    "recognised",
    "provincial",
    "demonstration",
    "delisted",
    "last_grade",
    "firms_at_end",
    "rent_yuan_m2_month",
    "sells_units",
)
"""Columns of the per-replication park table (state at the end of the run)."""


def park_life(parks: Parks, park: Park, opens_at: float):
    """Open (after building), then be recognised and perhaps recommended to the province."""
    env = parks.env
    records = parks.records
    if not park.is_open:
        if opens_at > env.now:
            yield env.timeout(opens_at - env.now)
        park.is_open = True
        park.opened_at = env.now
        parks.vacancies.update(park)
        records.park(env.now, Kind.PARK_OPENED, park.id, park.floor_area_m2)
    rec = parks.scenario.parks.recognition
    if park.floor_area_m2 < rec.min_floor_area_m2:
        return
    lo, hi = rec.review_months
    ready = max(env.now, parks.recognition_opens)
    yield env.timeout(ready - env.now + lo + (hi - lo) * park.draw(Draw.PARK.recognition))
    park.recognised_at = env.now
    records.park(env.now, Kind.PARK_RECOGNISED, park.id, park.floor_area_m2)
    if (
        park.floor_area_m2 < rec.provincial_min_floor_area_m2
        or park.draw(Draw.PARK.provincial) >= rec.provincial_probability
    ):
        return
    lo, hi = rec.provincial_review_months
    yield env.timeout(lo + (hi - lo) * park.draw(Draw.PARK.provincial_review))
    if park.recognised:
        park.provincial = True
        records.park(env.now, Kind.PARK_PROVINCIAL, park.id, park.floor_area_m2)


@dataclass(frozen=True, slots=True)
class Site:
    """A candidate site for a park (an old factory vacated by the rectification of 低小散
    workshops, village-collective land, a new plot), as its keyed draws describe it: who would
    develop it and how, its size, build time and lead sector, the ratio of expected revenue to
    cost its developer requires (``hurdle``), and whether it would sell its units."""

    number: int
    model_name: str
    model: DevelopmentModel
    renovation: bool
    floor_area_m2: float
    build_months: float
    lead_sector: int
    hurdle: float
    sells_units: bool = False

    @property
    def government_led(self) -> bool:
        return self.model_name == "government"

    @property
    def takes_land(self) -> bool:
        """Whether building it takes land from the quota (and pays for it): a new build on land
        its developer does not already hold."""
        return not self.renovation and not self.model.own_land

    def land_mu(self, plot_ratio: float) -> float:
        """Land a new build on it needs, in mu, at ``plot_ratio`` m2 of floor per m2 of land."""
        return self.floor_area_m2 / (plot_ratio * M2_PER_MU)

    @property
    def cost_yuan_per_m2(self) -> float:
        """Investment per m2 to renovate it into a park, or to build one new."""
        model = self.model
        return model.renovation_cost_yuan_per_m2 if self.renovation \
            else model.new_build_cost_yuan_per_m2


def candidate_site(parks: Parks, number: int) -> Site:
    """Candidate site ``number``, from its keyed draws."""
    spec = parks.scenario.parks.pipeline
    seed = firm_stream_seed(parks.projects_key, number)
    draw = Draw.PROJECT
    name, model = _development_model(spec.models, keyed_uniform(seed, draw.model))
    renovation = keyed_uniform(seed, draw.renovation) < model.renovation_share
    area = model.floor_area_median_m2 * math.exp(
        model.floor_area_log_sigma * _normal(keyed_uniform(seed, draw.floor_area))
    )
    lo, hi = model.renovation_months if renovation else model.new_build_months
    build = lo + (hi - lo) * keyed_uniform(seed, draw.build_time)
    sector = parks.sector_of_uniform(keyed_uniform(seed, draw.sector))
    hurdle = math.exp(spec.hurdle_log_sigma * _normal(keyed_uniform(seed, draw.hurdle)))
    sells = model.sells_units_share > 0 and keyed_uniform(seed, draw.sale) < model.sells_units_share
    return Site(number, name, model, renovation, area, build, sector, hurdle, sells)


def _normal(u: float) -> float:
    return float(ndtri(min(max(u, 1e-12), 1 - 1e-12)))


def site_economics(parks: Parks, site: Site, t: float,
                   occupancy: float) -> tuple[float, float]:
    """(expected revenue, cost net of district support) of building ``site`` at ``t``, in yuan.

    Expected revenue is the park's usable floor times the occupancy the developer expects
    (``occupancy``: :meth:`Parks.expected_occupancy`), at the rent of its development model
    over its payback years, or, where it sells its units, at their price. Cost is the
    renovation or new-build cost less the land lever's subsidy (while its budget holds it),
    and for a new build on land bought from the quota the land at its price less the land
    lever's concession.
    """
    scenario = parks.scenario
    spec = scenario.parks.pipeline
    model = site.model
    area = site.floor_area_m2
    usable = area * parks.rules.usable_share
    if site.sells_units:
        revenue = model.sale_price_yuan_per_m2 * usable
    else:
        rent = model.rent_or(scenario.parks.rent_yuan_m2_month)
        years = spec.payback_years if model.payback_years is None else model.payback_years
        revenue = rent * usable * 12.0 * years
    expected = revenue * occupancy
    subsidy = parks.policy.building_subsidy(t, site.renovation, area)
    cost = max(area * site.cost_yuan_per_m2 - subsidy, 0.0)
    if site.takes_land:
        mu = site.land_mu(spec.plot_ratio)
        cost += max(mu * spec.land_price_yuan_per_mu - parks.policy.land_concession(t, mu), 0.0)
    return expected, cost


def pipeline(parks: Parks):
    """Candidate sites come up as a Poisson process inside the pipeline window; each is decided
    at once (:meth:`Parks.consider`) and, if not built, again every ``reconsider_months``."""
    env = parks.env
    spec = parks.scenario.parks.pipeline
    if spec.candidate_sites_per_year <= 0:
        return
    start = parks.scenario.calendar.start
    t0 = float(max(month_index(start, spec.window.start), 0))
    t1 = float(month_index(start, spec.window.end) + 1)
    end = min(t1, parks.horizon)
    env.process(_reconsidering(parks, t0, end))
    number = 0
    t = t0
    while True:
        u = keyed_uniform(firm_stream_seed(parks.projects_key, number), Draw.PROJECT.arrival)
        t += -math.log1p(-u) * 12.0 / spec.candidate_sites_per_year
        if t >= end:
            return
        yield env.timeout(t - env.now)
        parks.pending.append(candidate_site(parks, number))
        parks.consider(env.now)
        number += 1


def _reconsidering(parks: Parks, t0: float, end: float):
    """Consider the sites not yet built again every ``reconsider_months`` until ``end``."""
    env = parks.env
    step = parks.scenario.parks.pipeline.reconsider_months
    t = t0 + step + RECONSIDER_AFTER
    while t < end:
        yield env.timeout(t - env.now)
        parks.consider(env.now)
        t += step


RECONSIDER_AFTER = 0.25
"""Months after a report at which waiting sites are decided again: after the report has paid
the firms' rent relief, so a developer counts only the support the budget can still pay."""


def _development_model(models: dict, u: float) -> tuple[str, DevelopmentModel]:
    """The development model a uniform draw picks, by the models' shares."""
    items = list(models.items())
    total_share = sum(m.share for _, m in items)
    acc = 0.0
    for name, model in items:
        acc += model.share / total_share
        if u < acc:
            return name, model
    return items[-1]


def _project(parks: Parks, site: Site, park: Park):
    """A site decided for building (``park``, closed): take land from the quota if it is a new
    build on land its developer does not hold (a private one with the land lever's
    concession), build, then live as a park."""
    env = parks.env
    spec = parks.scenario.parks.pipeline
    if site.takes_land:
        mu = site.land_mu(spec.plot_ratio)
        land = parks.land.get(mu)
        if not land.triggered:  # the quota is short: the project waits for land
            parks.records.awaiting_land(env.now, park.id, site.floor_area_m2)
        yield land
        if not site.government_led:  # the district does not pay itself for its own land
            parks.policy.grant_land(env.now, mu, park.id)
    build = "renovation" if site.renovation else "new_build"
    investment = site.floor_area_m2 * site.cost_yuan_per_m2
    parks.records.started(env.now, park.id, site.floor_area_m2, build, investment)
    if site.government_led:
        yield from _build_paid(parks, park, investment, site.build_months)
    else:
        yield env.timeout(site.build_months)
    yield from park_life(parks, park, env.now)


def _build_paid(parks: Parks, park: Park, investment: float, months: float):
    """Build a government-led ``park`` for ``months``, the district paying ``investment`` evenly
    over them: each calendar year's part when that year's building begins (a capital outlay)."""
    env = parks.env
    end = env.now + months
    while True:
        a = env.now
        b = min(end, parks.year_end(a))
        part = investment * (b - a) / months if months > 0 else investment
        parks.policy.pay_government_park(a, part, park.id)
        if b >= end:
            break
        yield env.timeout(b - a)
    yield env.timeout(end - env.now)


def land_release(parks: Parks):
    """Release land for park building: the base quota each calendar year from January, the land
    lever's extra quota from the month the lever starts; part years pro rata."""
    env = parks.env
    horizon = parks.horizon
    _, m0 = parse_month(parks.scenario.calendar.start)
    base = parks.scenario.parks.pipeline.land_quota_mu_per_year
    releases = []
    a = 0.0
    while a < horizon:
        b = a + (13 - m0 if a == 0 else 12)
        releases.append((a, base * (b - a) / 12.0))
        extra = parks.policy.extra_land(a, b)
        if extra is not None:
            releases.append(extra)
        a = b
    for t, amount in sorted(releases):
        if t >= horizon:
            return
        if t > env.now:
            yield env.timeout(t - env.now)
        if amount > 0:
            yield parks.land.put(amount)
