"""The annual park evaluation (绩效评价), demonstration parks, and the 亩均 evaluation of firms.

Once a year, in the middle of ``parks.grading.month``, :func:`grading_round`:

1. **Scores** every recognised, not delisted park on the dimensions of the provincial rules
   (浙中小企业办〔2018〕18号, as county notices list them) that the model has attributes for,
   each from the park's own state (:func:`park_scores`): its firms' revenue per mu of its land
   (亩均效益), the lead sector's share of its firms (产业特色), its occupancy (运营管理), its
   firms registered above designated size and the upgrades and certifications since the last
   round, per firm (企业培育), its tech-firm share, and whether its service platform and digital
   management work (配套服务, 数字赋能). Each measure scores measure / benchmark, capped at 1.5
   as the 亩均 score caps each term; the score is their weighted mean plus the assessors'
   noise. Safety, clean governance and factor pooling are not modelled.
2. **Grades** by the method of ``parks.grading.method`` (:func:`grade_parks`): by rank among
   the parks outside grace (the top ``rank_shares.A`` are A, the next ``rank_shares.B`` B,
   ...), or by fixed score bands. A park in its grace period takes part only where that earns
   it A or B (new parks may opt in [S Liu'an]; in Wenzhou's rules they are not graded [S
   Pingyang 2025]); otherwise it stays ungraded and carries no penalty -- unless it is a
   demonstration park, which always takes part.
3. **Delists** a park after ``delist_after_d_grades`` consecutive D grades outside grace: it
   loses its recognition and with it its provincial and demonstration standing; it admits no
   new firms and its firms no longer count towards the targets.
4. **Re-checks and selects demonstration parks** (:func:`select_demonstration`): a
   demonstration park graded below ``keep_min_grade`` loses its title; provincial parks graded
   ``min_grade`` or better in ``min_consecutive`` gradings in a row, with the platforms the
   site check requires working, apply, best score first, and each passes the site check with
   ``selection_probability``, up to ``selections_per_year`` if a quota is set.
5. **Grades firms** on 亩均 returns (:func:`grade_firms`) where the province's differentiated
   factor prices apply (``policies.mu_pricing``): firms in parks, older than
   ``exempt_years``, ranked on revenue per m2 of the floor they hold (their land's share), get
   A to D by ``rank_shares``; the grade sets their surcharges and support from the first
   interval each opens after the round until the first it opens after the next.

Then it logs one row per park graded or in grace, in park order, in the replication's grading
log (:data:`GRADE_COLUMNS`), the ``grades`` table of the results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from parksim.calendar import parse_month
from parksim.model.parks import GRADE_RANK, M2_PER_MU
from parksim.records import Kind
from parksim.rng import Draw, firm_stream_seed, keyed_uniform
from parksim.scenario.schema import DIMENSIONS, GRADES, MEASURED

if TYPE_CHECKING:
    from parksim.model.enterprise import Tenancy
    from parksim.model.parks import Park, Parks
    from parksim.scenario.schema import Demonstration, Grading

__all__ = [
    "annual_grading",
    "grading_round",
    "park_scores",
    "grade_parks",
    "grades_by_position",
    "grade_for",
    "select_demonstration",
    "grade_firms",
    "GRADE_COLUMNS",
    "GradingLog",
]

CAP = 1.5
"""A measure scores at most this many times its benchmark (the 亩均 score's cap on a term)."""

GRADE_COLUMNS = (
    "year",
    "park_id",
    "grade",
    "score",
    "in_grace",
    "firms",
    "occupancy",
    "has_platform",
    "has_digital",
    "provincial",
    "demonstration",
    "selected",
    "demoted",
    "delisted",
    "above_line_unregistered",
)
"""Columns of a replication's grading log: one row per park and grading round (the calendar
``year`` of the round). ``grade`` is "" where a park in grace took no part; ``demonstration``
is its title after the round; ``selected``, ``demoted`` and ``delisted`` say what the round did
to it; ``above_line_unregistered`` counts its firms above the upgrade line not (yet)
registered above designated size (its share of the cultivation pool, 小升规培育库)."""


class GradingLog:
    """The rows of a replication's grading log (:data:`GRADE_COLUMNS`)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, year: int, park: Park, in_grace: bool, did: set[str], waiting: int) -> None:
        """A row for ``park`` after the round of ``year``: what the round ``did`` to it (some of
        "selected", "demoted", "delisted") and its ``waiting`` firms above the line not yet
        registered."""
        self.rows.append((
            year, park.id, park.grade or "", park.score, in_grace, park.n_firms - park.reserved,
            park.occupancy, park.has_platform, park.has_digital, park.provincial,
            park.demonstration, "selected" in did, "demoted" in did, "delisted" in did, waiting,
        ))

    def columns(self) -> dict[str, list]:
        if not self.rows:
            return {name: [] for name in GRADE_COLUMNS}
        return {name: list(column)
                for name, column in zip(GRADE_COLUMNS, zip(*self.rows, strict=True), strict=True)}


def grade_for(score: float, thresholds: dict[str, float]) -> str:
    """The grade a score earns in bands: the best grade whose lowest score it reaches, else D."""
    for grade in GRADES[:-1]:
        if score >= thresholds[grade]:
            return grade
    return GRADES[-1]


def grades_by_position(n: int, shares: dict[str, float]) -> np.ndarray:
    """The grade ranks (A is 0) of ``n`` parks or firms ranked best first, by ``shares`` of A to
    D: position ``i`` gets the first grade whose cumulative share reaches (i + 1/2) / n."""
    cumulative = np.cumsum([shares[g] for g in GRADES])
    q = (np.arange(n) + 0.5) / max(n, 1)
    return np.minimum(np.searchsorted(cumulative, q - 1e-12, side="left"), len(GRADES) - 1)


def grade_parks(scores: np.ndarray, in_grace: np.ndarray, spec: Grading) -> list[str | None]:
    """The grade each park's score earns: by score bands (``bands``), or (``rank``) by rank
    among the parks outside grace, a park in grace earning the best grade whose lowest score
    among them it reaches. In a ranking with no park outside grace, a park in grace has nothing
    to be ranked against and earns no grade (None). Whether a park in grace takes the grade it
    earns is :func:`grading_round`'s rule."""
    if spec.method == "bands":
        return [grade_for(score, spec.thresholds) for score in scores.tolist()]
    established = np.flatnonzero(~in_grace)
    if not established.size:
        return [None] * len(scores)
    order = established[np.argsort(-scores[established], kind="stable")]
    ranks = np.empty(len(scores), dtype=int)
    ranks[order] = grades_by_position(len(order), spec.rank_shares)
    ranked = scores[order]
    for i in np.flatnonzero(in_grace).tolist():
        earned = [rank for rank in range(len(GRADES) - 1)
                  if (ranked[ranks[order] <= rank] <= scores[i]).any()]
        ranks[i] = earned[0] if earned else len(GRADES) - 1
    return [GRADES[rank] for rank in ranks.tolist()]


def park_scores(parks: list[Park], revenue: np.ndarray, tech: np.ndarray, upgraded: np.ndarray,
                spec: Grading, plot_ratio: float) -> np.ndarray:
    """Each park's score before noise: the weighted mean over :data:`DIMENSIONS` of its measure
    over the benchmark, each capped at :data:`CAP` (a platform scores 1 or 0). ``revenue``,
    ``tech`` and ``upgraded`` are the revenue, tech firms and firms registered above
    designated size of the firms in each park (by park id)."""
    if not parks:
        return np.zeros(0)
    ids = np.array([p.id for p in parks])
    firms = np.array([p.n_firms - p.reserved for p in parks], dtype=float)
    holding = np.array([p.n_firms for p in parks], dtype=float)  # with those fitting out
    per_firm = np.where(firms > 0, 1.0 / np.maximum(firms, 1.0), 0.0)
    land_mu = np.array([p.floor_area_m2 for p in parks]) / (plot_ratio * M2_PER_MU)
    measures = {
        "mu_returns": revenue[ids] / land_mu,
        "industry_focus": np.where(
            holding > 0, np.array([p.lead_firms for p in parks]) / np.maximum(holding, 1.0), 0.0
        ),
        "operations": np.array([p.occupancy for p in parks]),
        # a registered firm scores once, an upgrade or certification in the year once more
        "firm_cultivation": (upgraded[ids] + np.array([p.cultivated for p in parks])) * per_firm,
        "innovation": tech[ids] * per_firm,
        "services": np.array([p.has_platform for p in parks], dtype=float),
        "digital": np.array([p.has_digital for p in parks], dtype=float),
    }
    weights = spec.weights
    total = np.zeros(len(parks))
    for name in DIMENSIONS:
        weight = weights.get(name, 0.0)
        if weight:
            benchmark = spec.benchmarks[name] if name in MEASURED else 1.0
            total += weight * np.minimum(measures[name] / benchmark, CAP)
    return total / sum(weights.values())


def annual_grading(parks: Parks, tenancy: Tenancy, log: GradingLog):
    """Grade once a year, in the middle of ``parks.grading.month`` (:func:`grading_round`),
    logging each round in ``log``."""
    env = parks.env
    spec = parks.scenario.parks.grading
    _, m0 = parse_month(parks.scenario.calendar.start)
    t = ((spec.month - m0) % 12) + 0.5
    round_no = 0
    while t < parks.horizon:
        yield env.timeout(t - env.now)
        grading_round(parks, tenancy, log, env.now, round_no)
        round_no += 1
        t += 12.0


def grading_round(parks: Parks, tenancy: Tenancy, log: GradingLog, t: float,
                  round_no: int) -> None:
    """One yearly round: score, grade, delist, re-check and select demonstration parks, grade
    firms (the module's steps 1-5), then log every park graded or in grace, in park order."""
    records = parks.records
    scenario = parks.scenario
    spec = scenario.parks.grading
    revenue, tech, upgraded, waiting = tenancy.park_totals()
    graded = [park for park in parks if park.recognised]
    key = parks.grading_key
    u = [keyed_uniform(firm_stream_seed(key, Draw.GRADING.noise + park.entity), round_no)
         for park in graded]
    noise = ndtri(np.clip(u, 1e-12, 1 - 1e-12)) if graded else np.zeros(0)
    scores = park_scores(graded, revenue, tech, upgraded, spec,
                         scenario.parks.pipeline.plot_ratio)
    scores = scores + spec.noise_sd * noise
    in_grace = np.array([park.in_grace(t) for park in graded], dtype=bool)
    good_enough = GRADE_RANK[scenario.parks.demonstration.min_grade]
    scored: list[tuple[float, Park]] = []
    delisted = set()
    earned = grade_parks(scores, in_grace, spec)
    for park, score, grade, grace in zip(graded, scores.tolist(), earned, in_grace.tolist(),
                                         strict=True):
        park.score = score
        takes_part = not grace or park.demonstration or (
            grade is not None and GRADE_RANK[grade] <= GRADE_RANK["B"])
        park.grade = grade if takes_part else None
        if park.grade is None:  # in grace, and taking part would not earn it A or B (or, in a
            # ranking without an established park, nothing to be ranked against)
            park.consecutive_good = park.consecutive_d = 0
            continue
        records.graded(t, park.id, park.floor_area_m2, park.grade)
        rank = GRADE_RANK[park.grade]
        park.consecutive_good = park.consecutive_good + 1 if rank <= good_enough else 0
        park.consecutive_d = park.consecutive_d + 1 if park.grade == "D" and not grace else 0
        if park.consecutive_d >= spec.delist_after_d_grades:
            _delist(parks, park, t)
            delisted.add(park.id)
            continue
        scored.append((score, park))
    for park in parks:
        park.cultivated = 0
    selected, demoted = select_demonstration(parks, scored, t, round_no)
    year = parks.calendar_year(t)
    for park, grace in zip(graded, in_grace.tolist(), strict=True):
        did = {name for name, ids in (("selected", selected), ("demoted", demoted),
                                      ("delisted", delisted)) if park.id in ids}
        log.add(year, park, grace, did, int(waiting[park.id]))
    grade_firms(tenancy, t)


def _delist(parks: Parks, park: Park, t: float) -> None:
    park.delisted = True
    parks.vacancies.update(park)
    lost = [name for name, held in (("provincial", park.provincial),
                                    ("demonstration", park.demonstration)) if held]
    park.provincial = park.demonstration = False
    parks.records.delisted(t, park.id, park.floor_area_m2, "+".join(lost))


def select_demonstration(parks: Parks, scored: list[tuple[float, Park]], t: float,
                         round_no: int) -> tuple[set[int], set[int]]:
    """Re-check the demonstration parks and select new ones among the parks graded this round
    (``scored``: score and park); the ids of the parks selected and of those demoted."""
    demo: Demonstration = parks.scenario.parks.demonstration
    keep = GRADE_RANK[demo.keep_min_grade]
    demoted = set()
    for _, park in scored:
        if park.demonstration and park.rank > keep:
            park.demonstration = False
            demoted.add(park.id)
            parks.records.demoted(t, park.id, park.floor_area_m2)
    candidates = sorted(
        ((score, park) for score, park in scored
         if park.provincial and not park.demonstration and park.id not in demoted
         and park.consecutive_good >= demo.min_consecutive
         and all(park.has(platform) for platform in demo.requires_platforms)),
        key=lambda sp: (-sp[0], sp[1].id),
    )
    selected = set()
    key = parks.grading_key
    for _, park in candidates:
        if demo.selections_per_year is not None and len(selected) >= demo.selections_per_year:
            break
        u = keyed_uniform(firm_stream_seed(key, Draw.GRADING.selection + park.entity), round_no)
        if u < demo.selection_probability:
            park.demonstration = True
            selected.add(park.id)
            parks.records.park(t, Kind.PARK_DEMONSTRATION, park.id, park.floor_area_m2)
    return selected, demoted


def grade_firms(tenancy: Tenancy, t: float) -> None:
    """Grade the firms in parks on 亩均 returns, where differentiated prices apply: firms older
    than ``exempt_years``, ranked on revenue per m2 of their floor, get A to D by
    ``rank_shares``; the others are ungraded (-1)."""
    spec = tenancy.policy.mu_prices.spec
    if not spec.enabled:
        return
    table = tenancy.table
    rows = table.in_parks()
    table.mu_grade[rows] = -1
    rows = rows[(t - table.born_at[rows]) / 12.0 >= spec.exempt_years]
    if rows.size == 0:
        return
    returns = np.exp(table.log_revenue[rows]) / table.floor_m2[rows]
    order = rows[np.argsort(-returns, kind="stable")]
    table.mu_grade[order] = grades_by_position(len(order), spec.rank_shares)
