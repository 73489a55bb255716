"""The scenario schema: every number the model uses, typed, with its unit and valid range.

A scenario is a frozen tree of pydantic models validated once, at load. Nothing here has a
hidden default for a model parameter: the numbers live in the scenario files (``scenarios/``),
each with a comment giving its source, so a reader can tell evidence from assumption. Each
field's ``unit`` (in ``json_schema_extra``) is what error messages and the scenario reference
quote. Only bookkeeping fields (names, descriptions, optional lists) have defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from parksim.calendar import month_index, parse_month
from parksim.scenario.priors import (
    Choice,
    Fixed,
    Prior,
    Sample,
    canonical,
    quoted,
    resolve,
    support,
)

__all__ = [
    "Scenario",
    "TARGET_KEYS",
    "OBSERVABLE_KEYS",
    "OBSERVABLES",
    "OBSERVATION_KINDS",
    "LEVERS",
    "ALLOCATIONS",
    "ACCOUNTS",
    "CAPITAL_ITEMS",
    "STATUTORY_ITEMS",
    "LEDGER_ITEMS",
    "GRADES",
    "DEVELOPMENT_MODELS",
    "DIMENSIONS",
    "GRADING_METHODS",
    "PLATFORMS",
]

TARGET_KEYS = ("parks", "floor_area_m2", "firms", "upgrades", "tech_firms", "demo_parks")
TARGET_LABELS = {
    "parks": "parks recognised",
    "floor_area_m2": "floor area (m2)",
    "firms": "firms in parks",
    "upgrades": "upgrades",
    "tech_firms": "tech firms",
    "demo_parks": "demonstration parks",
}
"""How each target is named for a reader (tables, figures, reports)."""
OBSERVABLES = {
    **dict.fromkeys(("parks", "firms", "upgrades", "tech_firms", "demo_parks",
                     "provincial_parks", "parks_open", "firms_all_parks"), "count"),
    "floor_area_m2": "total",
    "firms_per_park": "density",
    "m2_per_firm": "density",
    "tech_share": "share",
    "occupancy": "share",
    "upgrades_per_firm_year": "rate",
    "failures_per_firm_year": "rate",
    "failures_by_age": "rate",
    "grade_share": "share",
    "months_to_fill": "time",
}
"""What can be observed, and its kind: counts and totals at the end of a month (the targets,
provincial parks, parks open, firms in all parks), densities (firms per recognised park, m² of
recognised parks per firm in them), shares (tech firms among the firms in recognised parks, the
occupied share of all parks' floor) and rates over a period (upgrades and failures per in-park
firm-year, and failures per in-park firm-year at ``age``), the share of graded parks given a
``grade`` in the grading of ``date``'s year, and times to fill (the median months from opening
to a ``level`` of occupancy of the parks opened in ``period``). ``parksim.metrics.
observed_values`` computes each from a replication's series, records, parks and grading log."""
OBSERVABLE_KEYS = tuple(OBSERVABLES)
OBSERVATION_KINDS = ("count", "total", "density", "share", "rate", "time")
LEVERS = ("finance", "land", "tax", "services", "relief")
ALLOCATIONS = ("first_come", "quarterly", "ranked")
CAPITAL_ITEMS = ("government_parks", "construction_subsidy", "renovation_subsidy",
                 "land_concession")
STATUTORY_ITEMS = ("small_firm_relief", "rd_super_deduction")
ACCOUNTS = {"district": LEVERS, "capital": CAPITAL_ITEMS, "statutory": STATUTORY_ITEMS}
"""The fiscal ledger's three accounts and the items booked to each: the district's
discretionary support (its levers, capped), public capital outlays for parks (booked when
paid), and the national statutory tax expenditure (every eligible firm, no cap)."""
LEDGER_ITEMS = (*LEVERS, *CAPITAL_ITEMS, *STATUTORY_ITEMS)
GRADES = ("A", "B", "C", "D")
DEVELOPMENT_MODELS = ("government", "lead_enterprise", "third_party", "consortium")
DIMENSIONS = (
    "mu_returns", "industry_focus", "operations", "firm_cultivation", "innovation", "services",
    "digital",
)
"""The dimensions of the annual park evaluation the model has attributes for, in the order
the provincial rules name them (亩均效益, 产业特色, 运营管理, 企业培育, 科技型企业, 配套服务,
数字赋能)."""
MEASURED = DIMENSIONS[:5]
"""The dimensions scored as a measure against a benchmark (the others score 1 or 0: the park
has the platform or not)."""
GRADING_METHODS = ("rank", "bands")
PLATFORMS = ("services", "digital")
"""The platforms a park's operator may build: a public service platform, digital management."""


def _month(value: str) -> str:
    parse_month(value)
    return value


Month = Annotated[str, AfterValidator(_month)]


def _months_range(value: tuple[float, float]) -> tuple[float, float]:
    lo, hi = value
    if not 0 <= lo <= hi:
        raise ValueError(f"expected [min, max] months with 0 <= min <= max, got [{lo}, {hi}]")
    return value


MonthsRange = Annotated[tuple[float, float], AfterValidator(_months_range)]
Grade = Literal[GRADES]


UNIT_CAPS = {
    "yuan": 1e15, "yuan/year": 1e15, "yuan/firm/year": 1e12, "yuan/m2": 1e12,
    "yuan/m2/month": 1e12, "yuan/m2/year": 1e12, "yuan/mu": 1e12, "m2": 1e9,
    "m2 per M yuan/year": 1e5, "mu/year": 1e7, "months": 1200, "years": 100,
    "firms": 1e7, "parks": 1e5, "parks/year": 1e4,
}
"""The largest value a field of each unit takes unless it sets its own bound: far beyond any
district (a quadrillion yuan, which tests use as "unlimited"; a thousand square kilometres of
floor; a century), and far below what overflows a float in the model's arithmetic (a rent of
1e308 would)."""


def q(unit: str, description: str, **constraints: Any) -> Any:
    """A required field with a unit and a description (and optional bounds; a number in a
    unit of :data:`UNIT_CAPS` is bounded by its cap unless the field sets its own)."""
    return Field(description=description, json_schema_extra={"unit": unit}, **constraints)


def qd(default: Any, unit: str, description: str, **constraints: Any) -> Any:
    """An optional field with a default, a unit and a description (bounded as :func:`q`)."""
    return Field(default, description=description, json_schema_extra={"unit": unit},
                 **constraints)


Share = Annotated[float, Field(ge=0.0, le=1.0)]
Multiplier = Annotated[float, Field(ge=0.0, le=20.0)]


class Strict(BaseModel):
    """Base for every scenario table: unknown keys are errors, values are frozen, types are
    strict (no text for numbers, no booleans for integers; an integer is a valid float) and
    NaN and infinity are refused. The loader hands TOML arrays over as tuples."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, strict=True, allow_inf_nan=False
    )

    FORMER_KEYS: ClassVar[dict[str, str]] = {}
    """Keys a former version of the table had, and what replaced them: unknown keys still,
    whose error message says what to write instead."""

    @model_validator(mode="after")
    def _within_caps(self) -> Strict:
        """Numbers in a unit of :data:`UNIT_CAPS` stay under its cap unless their field sets
        its own upper bound."""
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            unit = (info.json_schema_extra or {}).get("unit") if isinstance(
                info.json_schema_extra, dict) else None
            cap = UNIT_CAPS.get(unit)
            bounded = any(hasattr(m, "le") or hasattr(m, "lt") for m in info.metadata)
            if cap is not None and not bounded and value > cap:
                raise ValueError(f"{name}: {value:g} {unit} is beyond any district (at most "
                                 f"{cap:g})")
        return self


def _rank_shares(value: dict[str, float]) -> dict[str, float]:
    if set(value) != set(GRADES):
        raise ValueError("expected a share for each of A, B, C and D")
    if any(v < 0 for v in value.values()) or abs(sum(value.values()) - 1.0) > 1e-9:
        raise ValueError(f"shares must be >= 0 and add up to 1, got {sum(value.values()):g}")
    return value


RankShares = Annotated[dict[Literal[GRADES], float], AfterValidator(_rank_shares)]


class Window(Strict):
    """A time window in calendar months, both ends inclusive."""

    start: Month = q("YYYY-MM", "first calendar month of the window")
    end: Month = q("YYYY-MM", "last calendar month of the window (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if month_index(self.start, self.end) < 0:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Calendar(Strict):
    start: Month = q("YYYY-MM", "first simulated month (the policy launch is 2019-01)")
    horizon: Month = q("YYYY-MM", "last simulated month (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> Calendar:
        n = month_index(self.start, self.horizon)
        if n < 0:
            raise ValueError(f"horizon {self.horizon} is before start {self.start}")
        if n >= 12 * 50:
            raise ValueError("a run longer than 50 years is not supported")
        return self


class RunSettings(Strict):
    replications: int = q("replications", "independent replications of the run", ge=1, le=1_000_000)
    seed: int = q("integer", "root seed of numpy.random.SeedSequence", ge=0, lt=2**63)
    parameter_sets: int | None = qd(
        None, "parameter sets", "K of a forecast integrated over the priors: the replications "
        "are K sets of replications / K (default: 10 replications per set)", ge=1, le=1_000_000)


class Campaign(Window):
    """A rectification campaign (整治: of 低小散 workshops, illegal buildings, pollution, unsafe
    premises) that raises the pressure on pool firms to relocate while it lasts."""

    name: str = q("text", "what the campaign is", min_length=1)
    pressure_multiplier: float = q(
        "ratio", "relocation pressure while the campaign lasts, relative to the base rate",
        ge=0, le=50,
    )
    source: str = qd("", "text", "where its dates and intensity come from")


class District(Strict):
    """The pool of small and micro firms outside the parks."""

    firms: int = q("firms", "small and micro firms outside parks at the start", ge=0, le=10_000_000)
    revenue_median_yuan: float = q("yuan/year", "median annual revenue of pool firms", gt=0)
    revenue_log_sigma: float = q("log(yuan)", "spread of log revenue of pool firms", ge=0, le=5)
    age_mean_years: float = q(
        "years", "mean age of pool firms at the start (exponential)", gt=0, le=100
    )
    sectors: dict[str, float] = q(
        "share", "sector -> share of pool firms (normalised)", min_length=1
    )
    rd_share: Share = q("share", "share of firms that do R&D")
    tech_share: Share = q("share", "share of firms already certified tech-based")
    floor_m2_per_million_yuan: float = q(
        "m2 per M yuan/year", "floor need per unit of revenue", gt=0
    )
    floor_min_m2: float = q("m2", "smallest floor need of a firm", gt=0)
    floor_log_sigma: float = q("log(m2)", "firm-specific spread of floor need", ge=0, le=3)
    revenue_per_employee_yuan: float = q(
        "yuan/employee/year", "median revenue per employee (a firm's employees: its revenue over "
        "its own revenue per employee)", gt=0, le=1e9,
    )
    revenue_per_employee_log_sigma: float = q(
        "log", "firm-specific spread of revenue per employee", ge=0, le=3
    )
    rd_intensity_median: Share = q(
        "share of revenue", "median R&D spending of a firm doing R&D, per yuan of revenue"
    )
    rd_intensity_log_sigma: float = q("log", "firm-specific spread of R&D intensity", ge=0, le=3)
    brand_share_rd_firms: Share = q(
        "share", "share of firms doing R&D that have an own brand or core technology"
    )
    brand_share_other_firms: Share = q(
        "share", "share of other firms that have an own brand or core technology"
    )
    credit_access_share: Share = q("share", "share of firms with access to bank credit")
    relocation_rate_per_year: float = q(
        "1/year", "rate at which a pool firm applies to a park (relocation pressure)", ge=0, le=5
    )
    formation_rate_per_year: float = q(
        "1/year", "new firms formed per pool firm per year", ge=0, le=2
    )
    reapply_months: float = q(
        "months", "mean wait before a rejected firm applies again", gt=0, le=120
    )
    max_applications: int = q(
        "applications", "applications a firm makes before giving up", ge=1, le=20
    )
    campaigns: tuple[Campaign, ...] = qd((), "list", "rectification campaigns")
    lease_years: float = qd(
        3.0, "years", "lease over which a firm weighs the rent relief it expects", gt=0, le=20
    )
    fit_out_months: float = qd(
        0.0, "months", "time from taking a park (its floor reserved) to moving in", ge=0, le=24
    )
    acceptance_probability: Share = qd(
        1.0, "probability",
        "chance an admitted firm takes the park it is offered: at full rent, in a park of its "
        "own sector without a service platform",
    )
    rent_elasticity: float = qd(
        0.0, "elasticity",
        "acceptance grows as (market rent / the park's rent net of the relief the firm expects) "
        "** elasticity",
        ge=0, le=5,
    )
    owner_cost_rate_per_year: float = qd(
        0.05, "share/year",
        "yearly cost of owning a unit bought in a park that sells units (interest and upkeep), "
        "as a share of its price: what a buying firm weighs as its rent",
        gt=0, le=1,
    )
    platform_acceptance_multiplier: float = qd(
        1.0, "ratio", "acceptance in a park with a service platform, relative", ge=0, le=10
    )
    off_sector_acceptance_multiplier: float = qd(
        1.0, "ratio", "acceptance of a park whose lead sector is not the firm's, relative",
        ge=0, le=10,
    )

    @model_validator(mode="after")
    def _sectors(self) -> District:
        for name, share in self.sectors.items():
            if share < 0:
                raise ValueError(f"sector share for {name!r} must be >= 0, got {share}")
        if sum(self.sectors.values()) <= 0:
            raise ValueError("sector shares must add up to more than 0")
        return self


class InitialPark(Strict):
    """A park or park project that exists at the calendar start."""

    name: str = q("text", "park name", min_length=1)
    status: Literal["operating", "renovating", "building"] = q("status", "state at the start")
    floor_area_m2: float = q("m2", "gross floor area", gt=0, le=10_000_000)
    lead_sector: str = q("sector", "industry positioning (a sector of district.sectors)")
    development_model: Literal[DEVELOPMENT_MODELS] = q(
        "model", "who develops and runs the park"
    )
    opens: Month | None = qd(None, "YYYY-MM", "month the park opens (renovating/building only)")
    firms: int = qd(0, "firms", "firms already located in the park at the start", ge=0, le=100_000)
    sells_units: bool = qd(
        False, "flag",
        "the park sells its units to firms (industrial real estate) instead of renting them",
    )
    platform: bool | None = qd(
        None, "flag",
        "an operating park has a public service platform at the start (unset: it has one if "
        "its operator's sums say it pays, parks.platforms.services)",
    )
    digital: bool | None = qd(
        None, "flag",
        "an operating park has digital management at the start (unset: by its operator's sums, "
        "parks.platforms.digital)",
    )

    @model_validator(mode="after")
    def _opens(self) -> InitialPark:
        if self.status != "operating" and self.opens is None:
            raise ValueError(f"a park that is {self.status} needs 'opens' (YYYY-MM)")
        if self.status == "operating" and self.opens is not None:
            raise ValueError("an operating park has no 'opens' month")
        for key in ("platform", "digital"):
            if self.status != "operating" and getattr(self, key) is not None:
                raise ValueError(f"{key}: only a park operating at the start has one already")
        return self


class DevelopmentModel(Strict):
    """How projects of one development model are built."""

    share: float = q("share", "share of new proposals (normalised)", ge=0)
    renovation_share: Share = q("share", "share renovating existing stock rather than building new")
    floor_area_median_m2: float = q("m2", "median gross floor area of a project", gt=0)
    floor_area_log_sigma: float = q("log(m2)", "spread of project floor area", ge=0, le=3)
    renovation_months: MonthsRange = q("months", "[min, max] renovation time")
    new_build_months: MonthsRange = q("months", "[min, max] new-build time")
    renovation_cost_yuan_per_m2: float = q(
        "yuan/m2", "investment to renovate existing stock into a park", ge=0
    )
    new_build_cost_yuan_per_m2: float = q("yuan/m2", "investment to build a park new", ge=0)
    rent_yuan_m2_month: float | None = qd(
        None, "yuan/m2/month", "rent in this model's parks (unset: parks.rent_yuan_m2_month)",
        ge=0, le=1000,
    )
    payback_years: float | None = qd(
        None, "years",
        "years of expected rent this model's developer sets against the cost (unset: the "
        "pipeline's payback_years)",
        gt=0, le=100,
    )
    own_land: bool = qd(
        False, "flag",
        "it builds on land it already holds (village-collective construction land, a lead "
        "firm's own plot): a new build takes no land quota and pays no land price",
    )
    sells_units_share: Share = qd(
        0.0, "share",
        "share of its projects that sell units to firms (industrial real estate, 分割销售) "
        "instead of renting them",
    )
    sale_price_yuan_per_m2: float = qd(
        0.0, "yuan/m2", "price of a unit's usable floor where a project sells units", ge=0,
        le=1e6,
    )
    min_revenue_yuan: float | None = qd(
        None, "yuan/year",
        "entry standard its parks apply, where stricter than the district's (unset: "
        "parks.admission.min_revenue_yuan)",
        ge=0,
    )

    def rent_or(self, market: float) -> float:
        """The rent of its parks: its own, or ``market`` where it sets none."""
        return market if self.rent_yuan_m2_month is None else self.rent_yuan_m2_month

    @model_validator(mode="after")
    def _sale(self) -> DevelopmentModel:
        if self.sells_units_share > 0 and self.sale_price_yuan_per_m2 <= 0:
            raise ValueError("a model that sells units needs sale_price_yuan_per_m2 > 0")
        return self


class Pipeline(Strict):
    """Candidate sites for new parks during the run, and how developers decide to build them."""

    candidate_sites_per_year: float = q(
        "sites/year",
        "rate at which candidate sites (vacated factories, village-collective land, new plots) "
        "come up for a park",
        ge=0, le=1000,
    )
    window: Window = q("YYYY-MM", "months in which candidate sites come up and are decided")
    plot_ratio: float = q("m2 floor per m2 land", "floor-area ratio of new builds", gt=0, le=10)
    land_quota_mu_per_year: float = q(
        "mu/year", "land released for park building each year, before policy", ge=0
    )
    land_price_yuan_per_mu: float = qd(
        0.0, "yuan/mu", "price a developer pays for the land of a new build", ge=0
    )
    payback_years: float = qd(
        8.0, "years", "years of expected rent a private developer sets against the cost", gt=0
    )
    hurdle_log_sigma: float = qd(
        0.0, "log(ratio)",
        "spread of developers' required ratio of expected rent to cost (median 1)", ge=0, le=3,
    )
    expected_occupancy: Share = qd(
        0.8, "share", "occupancy developers expect before any park is open to judge by"
    )
    reconsider_months: float = qd(
        6.0, "months", "how often a site not yet built is considered again", gt=0
    )
    government_budget_yuan_per_year: float | None = qd(
        None, "yuan/year",
        "district capital budget for government-led parks, spent over their build time "
        "(unset: unlimited)",
        ge=0,
    )
    models: dict[str, DevelopmentModel] = q(
        "table", "development model -> how it builds", min_length=1
    )

    @model_validator(mode="after")
    def _models(self) -> Pipeline:
        unknown = sorted(set(self.models) - set(DEVELOPMENT_MODELS))
        if unknown:
            raise ValueError(
                f"unknown development model {unknown[0]!r}; expected one of "
                f"{', '.join(DEVELOPMENT_MODELS)}"
            )
        if sum(m.share for m in self.models.values()) <= 0:
            raise ValueError("development model shares must add up to more than 0")
        return self


class Recognition(Strict):
    """District recognition (认定) and provincial recommendation of parks."""

    opens: Month = q("YYYY-MM", "first month the district recognises parks")
    review_months: MonthsRange = q("months", "[min, max] time from eligibility to recognition")
    min_floor_area_m2: float = q("m2", "smallest park the district recognises", ge=0)
    provincial_probability: Share = q(
        "probability", "chance a recognised park is recommended to the province"
    )
    provincial_min_floor_area_m2: float = q("m2", "smallest park the province accepts", ge=0)
    provincial_review_months: MonthsRange = q(
        "months", "[min, max] time from recognition to provincial recommendation"
    )


class Grading(Strict):
    """Annual A/B/C/D performance evaluation (绩效评价, 浙中小企业办〔2018〕18号) of recognised
    parks.

    Each dimension scores the park's measure against its benchmark, capped at 1.5 (as the 亩均
    score caps each term), weighted; the grade follows from the score by rank among the parks
    graded (``rank``: the top ``rank_shares.A`` are A, ...) or by fixed score bands (``bands``).
    """

    month: int = q("calendar month", "month of the year in which parks are graded", ge=1, le=12)
    grace_years: float = q(
        "years", "new parks are exempt from low-grade penalties this long (they take part only "
        "where it earns them A or B)", ge=0,
    )
    method: Literal[GRADING_METHODS] = q(
        "method", "how a score becomes a grade: rank among the parks graded, or score bands"
    )
    rank_shares: RankShares = q("share", "share of graded parks given A, B, C and D (rank)")
    thresholds: dict[Literal["A", "B", "C"], float] = q(
        "score", "lowest score for grades A, B, C (bands)"
    )
    weights: dict[Literal[DIMENSIONS], float] = q(
        "weight", "weight of each dimension in the score (a missing dimension weighs 0)"
    )
    benchmarks: dict[Literal[MEASURED], float] = q(
        "same as the measure",
        "the measure that scores 1 on each measured dimension: yuan of revenue per mu of land "
        "a year (mu_returns), lead-sector share of firms (industry_focus), occupancy "
        "(operations), upgrades and tech certifications per firm in the year "
        "(firm_cultivation), tech-firm share (innovation)",
    )
    noise_sd: float = q("score", "assessors' noise on the score", ge=0)
    delist_after_d_grades: int = q(
        "gradings", "consecutive D grades (outside grace) before delisting", ge=1
    )

    FORMER_KEYS: ClassVar[dict[str, str]] = dict.fromkeys(
        ("occupancy_weight", "output_weight", "tech_weight", "services_weight",
         "output_benchmark_yuan_per_m2", "tech_benchmark_share"),
        "the dimensions now have weights (parks.grading.weights) and benchmarks",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Grading:
        if set(self.thresholds) != {"A", "B", "C"}:
            raise ValueError("thresholds needs A, B and C")
        if not self.thresholds["A"] >= self.thresholds["B"] >= self.thresholds["C"]:
            raise ValueError("thresholds must satisfy A >= B >= C")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be >= 0 and add up to more than 0")
        missing = [d for d in MEASURED if d not in self.benchmarks]
        if missing:
            raise ValueError(f"benchmarks needs {', '.join(missing)}")
        for name, value in self.benchmarks.items():
            if value <= 0:
                raise ValueError(f"benchmarks.{name}: expected a benchmark > 0, got {value:g}")
        return self


class Demonstration(Strict):
    """Selection of provincial or municipal demonstration parks (示范园, star parks): provincial
    parks with sustained top grades apply, a site check decides, and a re-check takes the title
    from a park whose grade falls."""

    min_grade: Grade = q("grade", "the grade a provincial park needs, or better, to apply")
    min_consecutive: int = q(
        "gradings", "gradings in a row at min_grade or better a park needs to apply", ge=1
    )
    requires_platforms: tuple[Literal[PLATFORMS], ...] = q(
        "platforms", "the platforms the site check requires working: services, digital"
    )
    selections_per_year: int | None = qd(
        None, "parks/year", "most parks selected at one grading (unset: no quota)", ge=0
    )
    selection_probability: Share = q("probability", "chance an applicant passes the site check")
    keep_min_grade: Grade = q(
        "grade", "a demonstration park graded below this loses the title at the re-check"
    )

    FORMER_KEYS: ClassVar[dict[str, str]] = {
        "min_consecutive_a": "a park needs min_consecutive gradings at min_grade or better",
    }

    @model_validator(mode="before")
    @classmethod
    def _platform_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("requires_platforms"), bool):
            raise ValueError('requires_platforms: now the list of platforms the site check '
                             'requires, e.g. ["services"] or ["services", "digital"]')
        return data



class Admission(Strict):
    """Admission screening (准入) of applicants against each park's positioning."""

    lead_sector_min_share: Share = q(
        "share", "lead-industry firms must stay at least this share of a park's firms"
    )
    pass_probability: Share = q("probability", "chance an applicant passes the entry standards")
    rd_pass_multiplier: float = q(
        "ratio", "pass-probability multiplier for firms doing R&D", ge=0, le=10
    )
    min_revenue_yuan: float = q("yuan/year", "smallest revenue admitted", ge=0)


class Platform(Strict):
    """A platform a park's operator builds when its sums say it pays: a public service platform
    (公共服务平台: design, testing, finance, legal) or digital management (数字化管理)."""

    setup_cost_yuan: float = q("yuan", "what building it costs, before any subsidy", ge=0)
    build_months: float = q("months", "from the decision to build to the platform working",
                            ge=0, le=60)
    value_yuan_per_firm_year: float = q(
        "yuan/firm/year",
        "what it is worth to the operator for each firm in the park (fees, firms kept)", ge=0,
    )
    payback_years: float = q("years", "years of that value the operator sets against the cost",
                             gt=0, le=50)
    hurdle_log_sigma: float = q(
        "log(ratio)", "spread of operators' required ratio of value to cost (median 1)",
        ge=0, le=3,
    )
    growth_drift_per_year: float = q(
        "log revenue/year", "extra growth of every firm in a park with it", ge=-1, le=1
    )
    tech_hazard_multiplier: Multiplier = q(
        "ratio", "tech-certification rate of the firms in a park with it"
    )
    registration_rate_multiplier: Multiplier = qd(
        1.0, "ratio",
        "rate at which a firm above the line in a park with it registers (guidance, 辅导)",
    )


class Platforms(Strict):
    services: Platform
    digital: Platform


class Parks(Strict):
    usable_share: float = q("share", "share of gross floor area firms can rent", gt=0.0, le=1.0)
    rent_yuan_m2_month: float = q("yuan/m2/month", "park rent", ge=0)
    growth_drift_per_year: float = q(
        "log revenue/year", "extra growth from being in a park", ge=-1, le=1
    )
    exit_hazard_multiplier: Multiplier = q("ratio", "exit hazard in a park relative to outside")
    initial_tenure_months: float = q(
        "months", "how long the firms already in parks at the start have been there", ge=0
    )
    initial: tuple[InitialPark, ...] = q("list", "parks and projects at the start")
    pipeline: Pipeline
    recognition: Recognition
    platforms: Platforms
    grading: Grading
    demonstration: Demonstration
    admission: Admission


class Enterprises(Strict):
    """The life of a firm inside a park."""

    review_interval_months: float = q(
        "months",
        "time between the revenue reports at which every firm in a park is reviewed",
        gt=0,
        le=24,
    )
    growth_drift_per_year: float = q(
        "log revenue/year", "baseline drift of log revenue", ge=-1, le=1
    )
    growth_scale_per_year: float = q(
        "log revenue/year",
        "Laplace scale of yearly log-revenue change at the reference size",
        gt=0,
        le=2,
    )
    growth_reference_revenue_yuan: float = q(
        "yuan/year", "revenue at which the Laplace scale applies", gt=0
    )
    growth_size_exponent: float = q("exponent", "beta in scale ~ revenue^-beta", ge=0, le=1)
    upgrade_threshold_yuan: float = q(
        "yuan/year", "revenue that makes a firm above designated size (小升规)", gt=0
    )
    leading_firm_revenue_yuan: float = q(
        "yuan/year", "revenue from which a firm counts as a leading firm (龙头/骨干企业)", gt=0
    )
    no_credit_growth_drift_per_year: float = q(
        "log revenue/year", "growth of a firm without access to credit (and not financed by the "
        "finance lever), added to the drift (<= 0)", ge=-1, le=0,
    )
    no_credit_shock_exit_multiplier: float = q(
        "ratio", "a shock's extra exit hazard for a firm without access to credit, times this",
        ge=1, le=20,
    )
    registration_rate_per_year: float | None = qd(
        None, "1/year",
        "rate at which a firm above the line registers as above designated size (入库), before "
        "rewards and services (unset: at the review that finds it above the line)",
        gt=0, le=100,
    )
    exit_hazard_by_age: tuple[float, ...] = q(
        "1/year", "annual exit hazard at age 0-1, 1-2, ...; the last applies beyond", min_length=1
    )
    tech_hazard_per_year: float = q(
        "1/year", "rate at which an R&D firm is certified tech-based", ge=0, le=5
    )
    tech_intensity_elasticity: float = qd(
        0.0, "elasticity",
        "an R&D firm's certification rate x (its R&D intensity / the median) ** this, normalised "
        "to keep the mean rate (0: intensity does not matter)", ge=0, le=3,
    )
    rd_adoption_per_year: float = q(
        "1/year", "rate at which a firm without R&D starts R&D", ge=0, le=5
    )
    expansion_tolerance: float = q(
        "share", "a firm seeks space when its need exceeds its floor by this share", ge=0, le=10
    )
    industrial_land_floor_m2: float = qd(
        10_000.0, "m2",
        "a firm whose park has no room for its growth graduates to its own industrial land if it "
        "needs at least this much floor; a smaller one moves to a park with room, or waits; "
        "0: every firm without room graduates",
        ge=0,
    )
    contract_months: float = q(
        "months", "time after entry when the performance contract is checked", ge=0
    )
    contract_min_revenue_yuan_per_m2: float = q(
        "yuan/m2/year", "revenue per m2 the contract requires", ge=0
    )
    contract_enforcement_probability: Share = q(
        "probability", "chance a firm missing its contract is moved out, per review"
    )

    @model_validator(mode="after")
    def _hazards(self) -> Enterprises:
        for i, h in enumerate(self.exit_hazard_by_age):
            if not 0 <= h <= 5:
                raise ValueError(f"exit_hazard_by_age[{i}] must be within [0, 5] per year, got {h}")
        return self


class Eligibility(Strict):
    """Which firms a lever is for, beyond its revenue cap and its parks' grades: the attributes
    the policy targets. The defaults set no condition."""

    min_employees: float = qd(0.0, "employees", "only firms with at least this many employees",
                              ge=0, le=1e6)
    min_rd_intensity: Share = qd(
        0.0, "share of revenue", "only firms spending at least this share of revenue on R&D "
        "(above 0: only firms doing R&D)",
    )
    own_brand_or_core_tech: bool = qd(
        False, "flag", "only firms with an own brand or core technology"
    )
    credit_access: Literal["any", "with", "without"] = qd(
        "any", "rule", "only firms with (or without) access to bank credit"
    )
    min_firm_grade: Grade | None = qd(
        None, "grade", "only firms whose own 亩均 grade is at least this (ungraded firms qualify)"
    )
    leading_firms: Literal["exempt_from_revenue_cap", "as_others", "only"] = qd(
        "exempt_from_revenue_cap", "rule",
        "leading firms (enterprises.leading_firm_revenue_yuan) are eligible whatever the revenue "
        "cap (exempt_from_revenue_cap), held to it (as_others), or the only ones eligible (only)",
    )


class Lever(Strict):
    """What every policy lever has: a window, eligibility, a budget and effects on firms."""

    enabled: bool = qd(True, "bool", "whether the lever operates at all")
    window: Window = q("YYYY-MM", "months in which the lever operates")
    budget_cap_yuan_per_year: float = q(
        "yuan/year", "most the lever may spend in a calendar year", ge=0
    )
    allocation: Literal[ALLOCATIONS] = qd(
        "first_come", "rule",
        "how the year's budget is paid out: first_come (the whole cap from January, claims paid "
        "as they arrive), quarterly (a quarter of the cap released each quarter, what is unspent "
        "carried forward within the year) or ranked (an annual round: the whole cap from "
        "January, a report's claims paid best revenue per m2 first)",
    )
    take_up: Share = q("probability", "chance an eligible firm takes the support at a review")
    max_revenue_yuan: float = q("yuan/year", "eligible firms have at most this revenue", ge=0)
    min_park_grade: Grade = q(
        "grade", "eligible firms are in parks graded at least this (ungraded parks qualify)"
    )
    eligibility: Eligibility = qd(Eligibility(), "table", "the firms the lever is for")
    growth_drift_per_year: float = q(
        "log revenue/year", "extra growth while supported", ge=-1, le=1
    )
    exit_hazard_multiplier: Multiplier = q("ratio", "exit hazard while supported")
    tech_hazard_multiplier: Multiplier = q("ratio", "tech-certification rate while supported")


class Finance(Lever):
    """Loan guarantees and interest subsidies."""

    loan_yuan: float = q("yuan", "loan per supported firm", ge=0)
    interest_subsidy_rate: float = q(
        "1/year", "interest subsidised, as a share of the loan", ge=0, le=1
    )
    guarantee_fee_rate: float = q(
        "1/year", "guarantee fee paid by the district, share of the loan", ge=0, le=1
    )
    expected_loss_rate: float = q(
        "1/year", "guarantee losses borne by the district, share of the loan", ge=0, le=1
    )


class Land(Lever):
    """Rent subsidies, land for park building, and land concessions and subsidies for parks."""

    rent_subsidy_share_by_year: tuple[float, ...] = q(
        "share", "share of rent subsidised in a firm's 1st, 2nd, ... year in a park", min_length=1
    )
    extra_land_quota_mu_per_year: float = q(
        "mu/year", "land released for parks on top of the base quota", ge=0
    )
    land_discount_yuan_per_mu: float = q(
        "yuan/mu", "land-price concession booked when quota is used", ge=0
    )
    renovation_subsidy_yuan_per_m2: float = qd(
        0.0, "yuan/m2", "subsidy for renovating existing stock into a park (改造补助)", ge=0
    )
    construction_subsidy_yuan_per_m2: float = qd(
        0.0, "yuan/m2", "subsidy for building a park new (建设补助)", ge=0
    )
    FORMER_KEYS: ClassVar[dict[str, str]] = {
        "grade_drift_per_year": "differentiated factor prices follow firms' 亩均 grades "
                                "(policies.mu_pricing)",
    }

    @model_validator(mode="after")
    def _shares(self) -> Land:
        for i, s in enumerate(self.rent_subsidy_share_by_year):
            if not 0 <= s <= 1:
                raise ValueError(f"rent_subsidy_share_by_year[{i}] must be within [0, 1], got {s}")
        return self


class Tax(Lever):
    """What the district funds from its own tax revenue for firms' upgrading and innovation: the
    upgrade reward (小升规奖励) and local R&D subsidies. The national reliefs are statutory
    (:class:`National`), not the district's to give."""

    rd_subsidy_yuan_per_firm_year: float = q(
        "yuan/firm/year", "local R&D subsidy per supported firm-year", ge=0, le=1e8
    )
    upgrade_reward_yuan: float = q("yuan", "one-off reward for a firm that upgrades (小升规)", ge=0)
    registration_rate_per_100k_yuan: float = qd(
        0.0, "1/year per 100,000 yuan",
        "what each 100,000 yuan of upgrade reward adds to the rate at which a firm above the "
        "line registers, while the lever is active",
        ge=0, le=100,
    )
    rd_adoption_multiplier: Multiplier = q("ratio", "R&D adoption rate while supported")

    FORMER_KEYS: ClassVar[dict[str, str]] = {
        "relief_share_of_revenue": "the small-firm income-tax relief is national and statutory "
                                   "(policies.national.small_firm_relief); the district's lever "
                                   "pays local R&D subsidies (rd_subsidy_yuan_per_firm_year)",
    }


class SmallFirmRelief(Strict):
    """The national income-tax relief for small low-profit firms (小型微利企业, 财税〔2019〕13号):
    every eligible firm, no budget, no take-up draw: tax expenditure, not district spending."""

    enabled: bool = qd(True, "bool", "whether the relief applies at all")
    window: Window = q("YYYY-MM", "months in which the rule applies")
    max_revenue_yuan: float = q(
        "yuan/year", "eligible firms have at most this revenue (the rule's taxable-income "
        "ceiling at a typical margin)", ge=0, le=1e12,
    )
    relief_share_of_revenue: float = q(
        "share of revenue", "tax forgone per eligible firm-year, national and local shares",
        ge=0, le=0.5,
    )
    growth_drift_per_year: float = q(
        "log revenue/year", "extra growth of an eligible firm", ge=-1, le=1
    )
    exit_hazard_multiplier: Multiplier = q("ratio", "exit hazard of an eligible firm")
    source: str = qd("", "text", "the rule and where its figures come from")


class SuperDeduction(Strict):
    """The national R&D super-deduction (研发费用加计扣除): a firm doing R&D deducts its R&D
    spending plus ``deduction_rate`` of it from taxable income, no budget. Firms start R&D
    faster the cheaper it is after tax, by the user-cost elasticity, relative to the
    ``reference_rate`` the model's R&D adoption rate was estimated under."""

    enabled: bool = qd(True, "bool", "whether the deduction applies at all")
    window: Window = q("YYYY-MM", "months in which the rule applies")
    deduction_rate: float = q("share", "extra deduction, as a share of R&D spending", ge=0, le=5)
    rate_changes: dict[Month, float] = qd(
        {}, "share", "a changed deduction rate from the month named (e.g. 1.0 from 2021-01)"
    )
    reference_rate: float = q(
        "share", "the rate under which enterprises.rd_adoption_per_year holds", ge=0, le=5
    )
    small_firm_tax_rate: Share = q(
        "share", "marginal income-tax rate of a firm the small-firm relief covers"
    )
    standard_tax_rate: Share = q("share", "marginal income-tax rate of any other firm")
    user_cost_elasticity: float = q(
        "elasticity", "R&D adoption rate x (user cost / reference user cost) ** -elasticity",
        ge=0, le=5,
    )
    source: str = qd("", "text", "the rule and where its figures come from")

    FORMER_KEYS: ClassVar[dict[str, str]] = {
        "rd_share_of_revenue": "a firm's R&D spending is its own R&D intensity "
                               "(district.rd_intensity_median, district.rd_intensity_log_sigma)",
    }

    @model_validator(mode="after")
    def _rates(self) -> SuperDeduction:
        for month, rate in self.rate_changes.items():
            if not 0 <= rate <= 5:
                raise ValueError(f"rate_changes.{month} must be within [0, 5], got {rate:g}")
        return self


class National(Strict):
    """The national statutory tax measures: in every scenario, including one without the
    district's support, unless the scenario changes the national rule."""

    small_firm_relief: SmallFirmRelief
    rd_super_deduction: SuperDeduction


class Services(Lever):
    """Government purchase of services (政府购买服务) from the service platforms in parks, for their
    firms, and subsidies for building platforms and digital management."""

    cost_yuan_per_firm_year: float = q(
        "yuan/firm/year", "services the district buys for each served firm", ge=0
    )
    platform_subsidy_share: Share = q(
        "share", "share of a platform's or digital management's setup cost the district pays"
    )

    FORMER_KEYS: ClassVar[dict[str, str]] = {
        "platform_coverage": "parks' operators build platforms (parks.platforms); the lever "
                             "subsidises them (platform_subsidy_share)",
    }


class Relief(Lever):
    """Relief in a shock (e.g. the 2020 lockdown): the landlords of public parks waive rent (免租)
    for the window's months, to firms in parks that took it up, at the district's cost. Offered
    at the reports and entries inside the window and, once, to the firms in parks when the
    window opens."""

    rent_waived_share: Share = q(
        "share", "share of a firm's rent waived for each month of the window"
    )
    park_models: tuple[Literal[DEVELOPMENT_MODELS], ...] = q(
        "development models", "parks whose landlords waive rent (public and collective parks)"
    )


class MuPricing(Strict):
    """The 亩均 evaluation of firms (亩均论英雄, 浙政发〔2018〕5号) and the factor prices that
    follow their grades: firms ranked on revenue per unit of land; low grades pay surcharges
    on power, water and land use and lose district support, high grades come first. It
    pushes, never pays: no grade gains growth or survival from it."""

    enabled: bool = qd(True, "bool", "whether firms are graded and priced by grade at all")
    window: Window = q("YYYY-MM", "months in which grades set prices and support")
    rank_shares: RankShares = q("share", "share of graded firms given A, B, C and D")
    exempt_years: float = q("years", "firms younger than this are not graded", ge=0, le=50)
    growth_drift_per_year: dict[Grade, float] = q(
        "log revenue/year", "growth effect of the surcharges by grade (<= 0; missing: 0)"
    )
    exit_hazard_multiplier: dict[Grade, float] = q(
        "ratio", "exit hazard by grade (>= 1; missing: 1)"
    )
    withhold_grades: tuple[Grade, ...] = q("grades", "firms of these grades lose support")
    withhold_levers: tuple[Literal[LEVERS], ...] = q("levers", "the support they lose")
    priority: bool = q(
        "flag", "a lever's budget pays firms in grade order (ungraded firms as B)"
    )

    @model_validator(mode="after")
    def _pushes(self) -> MuPricing:
        for grade, drift in self.growth_drift_per_year.items():
            if not -1 <= drift <= 0:
                raise ValueError(f"growth_drift_per_year.{grade}: differentiated prices push, "
                                 f"they do not pay: expected -1 to 0, got {drift:g}")
        for grade, m in self.exit_hazard_multiplier.items():
            if not 1 <= m <= 20:
                raise ValueError(f"exit_hazard_multiplier.{grade}: differentiated prices push, "
                                 f"they do not pay: expected 1 to 20, got {m:g}")
        return self


class Policies(Strict):
    finance: Finance
    land: Land
    tax: Tax
    services: Services
    relief: Relief
    mu_pricing: MuPricing
    national: National


class Shock(Window):
    """A shock with a shape (e.g. the 2020 epidemic lockdown): over its window firms' revenue
    falls (or rises) by ``growth_drift_per_year`` a year, their exit hazard and relocation are
    multiplied; after it, what the window took comes back, half in ``recovery_half_life_months``
    (unset: never: a lasting loss of level)."""

    name: str = q("text", "what the shock is", min_length=1)
    growth_drift_per_year: float = q(
        "log revenue/year", "drift added while the shock lasts", ge=-10, le=10
    )
    exit_hazard_multiplier: Multiplier = q("ratio", "exit hazard while the shock lasts")
    relocation_multiplier: Multiplier = q("ratio", "relocation applications while the shock lasts")
    recovery_half_life_months: float | None = qd(
        None, "months",
        "after the window, half of the revenue it took comes back in this many months, half of "
        "the rest in as many again, ... (unset: none comes back)",
        gt=0, le=600,
    )
    source: str = qd("", "text", "where its dates, depth and recovery come from")


class Targets(Strict):
    date: Month = q("YYYY-MM", "month at whose end the targets are checked")
    upgrades_counted_from: Month = q("YYYY-MM", "upgrades count from this month (policy launch)")
    parks: float = q("parks", "recognised parks", ge=0)
    floor_area_m2: float = q("m2", "floor area of recognised parks", ge=0)
    firms: float = q("firms", "firms located in parks", ge=0)
    firms_reading: Literal["stock", "cumulative_entries"] = qd(
        "stock", "reading",
        "how the firms target is read: firms in recognised parks at the target date (stock), or "
        "every firm that entered a park since the start (cumulative_entries); both are reported",
    )
    upgrades: float = q("firms", "firms upgraded to above designated size, cumulative", ge=0)
    tech_firms: float = q("firms", "tech-based firms in parks", ge=0)
    demo_parks: float = q("parks", "demonstration parks", ge=0)


Age = Annotated[float, Field(ge=0, le=200)]


class Observation(Strict):
    """An observed value: at the end of a month (``date``), or over a ``period`` for a rate;
    with its uncertainty (an ``interval`` or a standard error ``se``) where it is known."""

    key: Literal[OBSERVABLE_KEYS] = q("key", "observed quantity (parksim.scenario.OBSERVABLES)")
    kind: Literal[OBSERVATION_KINDS] | None = qd(
        None, "count|total|density|share|rate", "what kind of quantity it is (given by key; "
        "checked if written)")
    date: Month | None = qd(None, "YYYY-MM", "month at whose end it was observed (not for a rate)")
    period: Window | None = qd(None, "window", "months a rate is observed over (rates only)")
    value: float = q("same as key", "observed value", ge=0)
    interval: tuple[float, float] | None = qd(
        None, "same as key", "[low, high]: the range the true value lies in, as the source "
        "gives it or as judged")
    se: float | None = qd(None, "same as key", "standard error of the observed value", gt=0)
    grade: Literal[GRADES] | None = qd(None, "A|B|C|D", "grade_share: the grade counted")
    age: tuple[Age, Age] | None = qd(
        None, "years", "failures_by_age: [from, to) firm age in years")
    level: float | None = qd(None, "share", "months_to_fill: occupancy reached (default 0.5)",
                             gt=0, le=1)
    source: str = qd("", "text", "where the number comes from")

    @model_validator(mode="after")
    def _complete(self) -> Observation:
        kind = OBSERVABLES[self.key]
        if self.kind is not None and self.kind != kind:
            raise ValueError(f"{self.key} is a {kind}, not a {self.kind}")
        owners = {"grade": "grade_share", "age": "failures_by_age", "level": "months_to_fill"}
        for extra, owner in owners.items():
            if getattr(self, extra) is not None and self.key != owner:
                raise ValueError(f"{extra} goes with {owner} only")
        for extra in ("grade", "age"):
            if self.key == owners[extra] and getattr(self, extra) is None:
                raise ValueError(f"{self.key} needs its {extra}")
        if self.level is not None and self.level not in (0.5, 0.9):
            raise ValueError(f"level: 0.5 or 0.9 (the occupancies recorded), got {self.level:g}")
        if self.age is not None and not self.age[0] < self.age[1]:
            raise ValueError(f"age [{self.age[0]:g}, {self.age[1]:g}): from must be below to")
        if kind in ("rate", "time"):
            if self.period is None or self.date is not None:
                raise ValueError(f"{self.key} is a {kind} over a period: give its period (and no "
                             "date)")
        elif self.date is None or self.period is not None:
            raise ValueError(f"{self.key} is observed at a date: give its date (and no period)")
        if self.interval is not None:
            low, high = self.interval
            if not low <= self.value <= high:
                raise ValueError(f"interval [{low:g}, {high:g}] does not hold the value "
                                 f"{self.value:g}")
            if self.se is not None:
                raise ValueError("give an interval or a standard error, not both")
        if kind == "share" and (self.value > 1 or (self.interval and self.interval[1] > 1)):
            raise ValueError(f"{self.key} is a share: at most 1")
        return self

    @property
    def kind_of(self) -> str:
        """The observation's kind (written or given by its key)."""
        return OBSERVABLES[self.key]

    @property
    def when(self) -> str:
        """Its date, or a rate's period as ``START..END``."""
        return self.date if self.date is not None else f"{self.period.start}..{self.period.end}"


class Scenario(Strict):
    """One complete, validated scenario."""

    name: str = qd("scenario", "text", "short name")
    description: str = qd("", "text", "what the scenario represents")
    calendar: Calendar
    run: RunSettings
    district: District
    parks: Parks
    enterprises: Enterprises
    policies: Policies
    shocks: tuple[Shock, ...] = qd((), "list", "time-windowed shocks")
    targets: Targets
    observations: tuple[Observation, ...] = qd(
        (), "list", "observed values to print beside the simulated ones"
    )
    uncertain: dict[str, Prior] = qd(
        {}, "table", "priors of estimated parameters, by key path (parksim.scenario.priors)"
    )

    @model_validator(mode="after")
    def _sets_divide(self) -> Scenario:
        run = self.run
        if run.parameter_sets is not None and run.replications % run.parameter_sets:
            raise ValueError(f"run.parameter_sets: {run.parameter_sets} parameter sets do not "
                             f"divide run.replications ({run.replications})")
        return self

    @model_validator(mode="after")
    def _priors(self) -> Scenario:
        # every prior names a value of this scenario, and the value written there is in its support
        for path, prior in self.uncertain.items():
            key = quoted(path)
            if path.split(".")[0] in ("uncertain", "run", "name", "description"):
                raise ValueError(f"{key}: {path!r} cannot be uncertain")
            try:
                value = resolve(self, path)
            except KeyError as missing:
                raise ValueError(f"{key}: {path!r} is not a key of the scenario: "
                                 f"{missing.args[0]}") from None
            if isinstance(value, BaseModel | dict | tuple):
                raise ValueError(f"{key}: {path!r} is a table or list, not a value")
            if canonical(path) != path:
                raise ValueError(f"{key}: write the path as {canonical(path)!r}")
            if isinstance(prior, Fixed):
                continue
            whole = isinstance(value, int) and not isinstance(value, bool)
            if isinstance(prior, Choice) and whole and not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in prior.values):
                raise ValueError(f"{key}: {path} holds an integer; a choice for it needs "
                                 f"integer values, got {list(prior.values)}")
            if isinstance(prior, Choice):
                if value not in prior.values:
                    raise ValueError(f"{key}: the value written at {path} ({value!r}) is not one "
                                     f"of the choice's values {list(prior.values)}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key}: {path} holds {type(value).__name__} {value!r}; only "
                                 "a choice can give it values")
            low, high = support(prior)
            if not low <= value <= high:
                what = "the sample's range" if isinstance(prior, Sample) else "its support"
                raise ValueError(f"{key}: the value written at {path} ({value:g}) is outside "
                                 f"{what} [{low:g}, {high:g}]")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        # Messages start with the key path they are about; the loader reports that key.
        sectors = set(self.district.sectors)
        for i, park in enumerate(self.parks.initial):
            if park.lead_sector not in sectors:
                raise ValueError(
                    f"parks.initial[{i}].lead_sector: {park.lead_sector!r} is not a sector of "
                    "district.sectors "
                    f"({', '.join(sorted(sectors))})"
                )
        models = self.parks.pipeline.models
        market = self.parks.rent_yuan_m2_month
        threshold = self.enterprises.upgrade_threshold_yuan
        for name, model in models.items():
            key = f"parks.pipeline.models.{name}"
            if market <= 0 and (model.rent_yuan_m2_month or model.sells_units_share > 0):
                raise ValueError(
                    f"parks.rent_yuan_m2_month: a market rent of 0 leaves nothing to weigh "
                    f"{key}'s own rent or unit price against"
                )
            if name == "government" and model.sells_units_share > 0:
                raise ValueError(
                    f"{key}.sells_units_share: the district does not sell the units of the "
                    "parks it builds from its capital budget"
                )
            if model.min_revenue_yuan is not None and model.min_revenue_yuan >= threshold:
                raise ValueError(
                    f"{key}.min_revenue_yuan: {model.min_revenue_yuan:g} is at or above "
                    f"enterprises.upgrade_threshold_yuan ({threshold:g}): the model's parks "
                    "would admit no small or micro firm"
                )
        for i, park in enumerate(self.parks.initial):
            model = models.get(park.development_model)
            if park.sells_units and (model is None or model.sale_price_yuan_per_m2 <= 0):
                raise ValueError(
                    f"parks.initial[{i}].sells_units: a park that sells its units needs "
                    f"parks.pipeline.models.{park.development_model}.sale_price_yuan_per_m2 > 0"
                )
        demo = self.parks.demonstration
        if GRADES.index(demo.keep_min_grade) < GRADES.index(demo.min_grade):
            raise ValueError(
                f"parks.demonstration.keep_min_grade: {demo.keep_min_grade} is stricter than "
                f"min_grade ({demo.min_grade}): a park could win the title and lose it again at "
                "once"
            )
        start = self.calendar.start
        for i, shock in enumerate(self.shocks):
            if month_index(start, shock.start) < 0:
                raise ValueError(
                    f"shocks[{i}].start: shocks[{i}].start {shock.start} is before calendar.start "
                    f"{start}: the firms at the start are drawn as they are then, so what a shock "
                    "took before it would come back as a gain"
                )
        for i, park in enumerate(self.parks.initial):
            if park.opens is not None and month_index(start, park.opens) < 0:
                raise ValueError(
                    f"parks.initial[{i}].opens: parks.initial[{i}].opens {park.opens} is before "
                    f"calendar.start {start}"
                )
        if month_index(start, self.targets.date) < 0:
            raise ValueError(
                f"targets.date: targets.date {self.targets.date} is before calendar.start {start}"
            )
        if month_index(self.targets.date, self.calendar.horizon) < 0:
            raise ValueError(
                f"targets.date: targets.date {self.targets.date} is after calendar.horizon "
                f"{self.calendar.horizon}; "
                "a run must reach the date its targets are checked"
            )
        return self

    @property
    def horizon_months(self) -> int:
        """Number of simulated months."""
        return month_index(self.calendar.start, self.calendar.horizon) + 1
