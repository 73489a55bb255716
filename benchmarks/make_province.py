"""Writes ``scenarios/zhejiang_province.toml``: the whole of Zhejiang as one scenario.

The province scenario is the model at the scale the province works at: about 1,000 parks,
most of them operating in 2019-01 with firms already seated, a pool of over half a million
candidate firms and a five-year run (2019-01 to 2023-12). It extends the Fuyang baseline and
overrides only what differs. The sources count the province's parks but do not list them, so
every park is a placeholder drawn here with seeded numpy: floor areas lognormal around the
province's average floor per park, lead sectors from the district's sector shares,
development models (and, for projects, renovation or new build) from the baseline pipeline.
Budgets, the rate of candidate sites, the district's capital budget and the land quotas are
the baseline's, scaled by the ratio of the province's pool of firms to Fuyang's.

The file is generated so that its 1,000 parks are reproducible and the arithmetic behind each
derived number lives in one place, here: change this script and run it again rather than
editing the file. The same seed always writes the same bytes.

Usage::

    python benchmarks/make_province.py           # write scenarios/zhejiang_province.toml
    python benchmarks/make_province.py --check   # exit 1 if the shipped file is out of date
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from pathlib import Path
from statistics import NormalDist

import numpy as np

import parksim
from parksim.calendar import month_index
from parksim.model.parks import M2_PER_MU  # one mu (亩): 10,000/15 m2

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
PROVINCE = ROOT / "scenarios" / "zhejiang_province.toml"
COMMAND = "python benchmarks/make_province.py"
SEED = 20180831  # the date of the government's mid-2018 figures, as a memorable seed

# Province, mid-2018 [S Zhejiang government, 2018-08-31]
PARKS_MID_2018 = 590
LAND_MU_MID_2018 = 113_000
FIRMS_IN_PARKS_MID_2018 = 44_000
NEW_PARKS_H1_2018 = 88
SMALL_MICRO_FIRMS = 1_900_000
# Other province figures and the estimates this file rests on
PARKS_AIMED_FOR = 1_000  # the province's aim of ~1,000 certified parks [R]
FIVE_STAR_PARKS_2022 = 13  # five-star parks province-wide in 2022 [S]
EXISTING_PLOT_RATIO = 1.5  # floor per m2 of land in existing, mostly renovated parks [E 1.2-2.0]
CANDIDATE_SHARE = 0.30  # small/micro firms in trades that need production floor [E 0.25-0.35]
FLOOR_LOG_SIGMA = 0.45  # spread of park floor area, as the baseline pipeline's [E]
START, HORIZON = "2019-01", "2023-12"
RENOVATIONS_OPEN = ("2019-01", "2019-12")  # renovations under way open within 12 months [E]
NEW_BUILDS_OPEN = ("2019-01", "2021-06")  # new builds under way take 18-30 months [E]
LEVERS = ("finance", "land", "tax", "services")


def shift_month(month: str, months: int) -> str:
    """``month`` (YYYY-MM) moved by ``months``."""
    year, m = divmod(int(month[:4]) * 12 + int(month[5:]) - 1 + months, 12)
    return f"{year:04d}-{m + 1:02d}"


def mean_floor_need_m2(base) -> float:
    """Mean floor need of a firm seated at the start, by the model's own rule.

    Seated firms are pool firms with revenue in the admission window [min, upgrade line); their
    need is ``floor_m2_per_million_yuan`` x revenue x a lognormal factor. Closed form for a
    lognormal revenue truncated to the window (valid while the floor minimum does not bind).
    """
    d = base.district
    lo, hi = base.parks.admission.min_revenue_yuan, base.enterprises.upgrade_threshold_yuan
    assert d.floor_m2_per_million_yuan * lo / 1e6 >= d.floor_min_m2, "the floor minimum binds"
    mu, s, phi = math.log(d.revenue_median_yuan), d.revenue_log_sigma, NormalDist().cdf
    a, b = (math.log(lo) - mu) / s, (math.log(hi) - mu) / s
    revenue = math.exp(mu + s * s / 2) * (phi(b - s) - phi(a - s)) / (phi(b) - phi(a))
    return d.floor_m2_per_million_yuan * revenue / 1e6 * math.exp(d.floor_log_sigma**2 / 2)


def derived(base) -> dict:
    """The province's numbers, derived from the figures above and from the baseline."""
    pool = round(SMALL_MICRO_FIRMS * CANDIDATE_SHARE)
    usable = base.parks.usable_share
    firms_per_park = FIRMS_IN_PARKS_MID_2018 / PARKS_MID_2018
    floor_per_park = LAND_MU_MID_2018 * M2_PER_MU * EXISTING_PLOT_RATIO / PARKS_MID_2018
    target_firms = round(PARKS_AIMED_FOR * firms_per_park)
    return {
        "pool": pool,
        "scale": pool / base.district.firms,
        "operating": PARKS_MID_2018 + NEW_PARKS_H1_2018,  # H2 2018 at the H1 pace
        "firms_per_park": firms_per_park,
        "floor_per_park": floor_per_park,
        "fill": firms_per_park * mean_floor_need_m2(base) / (floor_per_park * usable),
        "target_firms": target_firms,
        "target_floor": PARKS_AIMED_FOR * round(floor_per_park, -3),
        "target_upgrades": round(target_firms * base.targets.upgrades / base.targets.firms),
        "target_tech": round(target_firms * base.targets.tech_firms / base.targets.firms),
    }


def draw_parks(base, d: dict, seed: int = SEED) -> list[dict]:
    """The initial parks: ``d['operating']`` operating ones, then projects up to 1,000."""
    rng = np.random.default_rng(seed)
    n = PARKS_AIMED_FOR
    sectors = list(base.district.sectors)
    sector_p = np.array(list(base.district.sectors.values()))
    models = base.parks.pipeline.models
    names = list(models)
    model_p = np.array([models[m].share for m in names])
    median = d["floor_per_park"] * math.exp(-(FLOOR_LOG_SIGMA**2) / 2)  # mean: floor_per_park
    floors = np.round(median * np.exp(FLOOR_LOG_SIGMA * rng.standard_normal(n)), -2)
    lead = rng.choice(len(sectors), size=n, p=sector_p / sector_p.sum())
    model = rng.choice(len(names), size=n, p=model_p / model_p.sum())
    renovates = rng.random(n)
    opens = rng.random(n)
    parks = []
    for i in range(n):
        park = {"name": f"浙江小微园 {i + 1:04d} (placeholder)", "status": "operating"}
        if i >= d["operating"]:
            renovating = renovates[i] < models[names[model[i]]].renovation_share
            first, last = RENOVATIONS_OPEN if renovating else NEW_BUILDS_OPEN
            park["status"] = "renovating" if renovating else "building"
            park["opens"] = shift_month(first, int(opens[i] * (month_index(first, last) + 1)))
        park.update(floor_area_m2=float(floors[i]), lead_sector=sectors[lead[i]],
                    development_model=names[model[i]])
        if i < d["operating"]:
            # firms in proportion to floor: every park starts about as full as the average
            park["firms"] = round(d["firms_per_park"] * floors[i] / d["floor_per_park"])
        parks.append(park)
    return parks


def toml_value(value) -> str:
    """A value as TOML text: strings quoted, floats with a point, dicts as inline tables."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.1f}" if value < 1e7 else short(value)
    return str(value)


def line(key: str, value, comment: str = "") -> str:
    """``key = value`` with its source comment at column 38, as in the baseline."""
    text = f"{key} = {toml_value(value)}"
    return f"{text:<36} # {comment}" if comment else text


def short(x: float) -> str:
    """A number for a comment: ``2e7``, ``2.5``, ``120``."""
    return f"{x:.4g}".replace("e+0", "e").replace("e+", "e")


def render(base, seed: int = SEED) -> str:
    """The text of the province scenario file."""
    d = derived(base)
    k = d["scale"]
    parks = draw_parks(base, d, seed)
    count = {s: sum(p["status"] == s for p in parks) for s in ("renovating", "building")}
    specified = sum(p.get("firms", 0) for p in parks)
    pipe, pol = base.parks.pipeline, base.policies
    scaled = f"[D] baseline {{}} x {k:g}"
    header = [
        f"GENERATED by `{COMMAND}` (seed {seed}). Do not edit by hand: change the script and run "
        "it again.",
        "Zhejiang province, 2019-01 to 2023-12: the baseline's mechanisms at the province's scale. "
        f"Province figures [S Zhejiang government, 2018-08-31]: in mid-2018, {PARKS_MID_2018} "
        f"parks on {LAND_MU_MID_2018:,} mu held >{FIRMS_IN_PARKS_MID_2018:,} firms (~75 per park); "
        f"{NEW_PARKS_H1_2018} parks were new in H1 2018; Zhejiang has "
        f"{SMALL_MICRO_FIRMS / 1e6:g} M small/micro firms. The sources set no province targets: "
        "the aim of ~1,000 certified parks is [R] and the other targets are derived from it and "
        "from Fuyang's ratios [D].",
        f"Parks: {PARKS_AIMED_FOR:,} placeholders [E], not real parks. {d['operating']} operate in "
        f"2019-01 ({PARKS_MID_2018} in mid-2018 plus {NEW_PARKS_H1_2018} in H2 2018 at the H1 pace "
        f"[D]); the other {PARKS_AIMED_FOR - d['operating']} are projects under way, "
        f"{count['renovating']} renovations opening during 2019 and {count['building']} new builds "
        "opening by mid-2021 [E], chosen by the baseline pipeline's renovation shares. Floor areas "
        f"are lognormal (sigma {FLOOR_LOG_SIGMA} [E]) with mean {LAND_MU_MID_2018:,} mu x "
        f"{M2_PER_MU:.1f} m2/mu x {EXISTING_PLOT_RATIO} (floor-area ratio of mostly renovated "
        f"stock [E 1.2-2.0]) / {PARKS_MID_2018} parks = {d['floor_per_park']:,.0f} m2 [D]; Yiwu "
        "has 155,000 and Wenzhou 134,000 m2/park [D]. Lead sectors follow [district.sectors], "
        "development models the baseline pipeline's shares. Operating parks hold firms in "
        f"proportion to their floor, {d['firms_per_park']:.1f} for a park of average floor "
        f"({FIRMS_IN_PARKS_MID_2018:,} / {PARKS_MID_2018} [D]): {specified:,} firms specified in "
        f"all, filling ~{d['fill']:.0%} of the usable floor at the model's mean floor need of a "
        "seated firm [D] (the baseline starts ~83% full).",
        "Budgets, the rate of candidate sites, the district's capital budget and the land quotas "
        "are the baseline's scaled by the ratio of "
        f"the province's pool of firms to Fuyang's, {d['pool']:,} / {base.district.firms:,} = "
        f"{k:g} [D]. The lever windows run to the end of the run [E]. Everything else is the "
        "baseline's.",
    ]
    comments = "\n#\n".join(
        "\n".join(textwrap.wrap(paragraph, 96, initial_indent="# ", subsequent_indent="# "))
        for paragraph in header
    )
    per_target_firm = f"per {base.targets.firms:g} park firms in Fuyang [S] x the firms target [D]"
    out = [
        *comments.splitlines(),
        'extends = "baseline.toml"',
        'name = "zhejiang_province"',
        'description = "Zhejiang 2019-2023: 1,000 parks, most with firms seated; '
        'budgets scaled up."',
        line("observations", [], "the baseline's observations are Fuyang's"),
        "",
        "[calendar]",
        line("start", START, "as baseline [S seed article]"),
        line("horizon", HORIZON, "five years [E]: a planning horizon, not a date of the sources"),
        "",
        "[run]",
        line("replications", 20, "a run setting: a replication is heavy at this scale"),
        "",
        "[district]",
        line("firms", d["pool"], f"{SMALL_MICRO_FIRMS / 1e6:g} M small/micro firms [S] x "
             f"{CANDIDATE_SHARE} [E 0.25-0.35]"),
        f"{'':<37}# in trades that need production floor [D]; the firms",
        f"{'':<37}# seated in parks at the start are drawn from it",
        "",
        "[parks]",
        f"{'initial = [':<37}# one park a line, placeholders [E]: see the header",
        *(f"  {toml_value(p)}," for p in parks),
        "]",
        "",
        "[parks.pipeline]",
        line("candidate_sites_per_year", round(pipe.candidate_sites_per_year * k, 6),
             scaled.format(short(pipe.candidate_sites_per_year))),
        line("window", {"start": pipe.window.start, "end": shift_month(HORIZON, -6)},
             "later sites cannot open in time [E]"),
        line("government_budget_yuan_per_year", float(pipe.government_budget_yuan_per_year * k),
             scaled.format(short(pipe.government_budget_yuan_per_year))),
        line("land_quota_mu_per_year", round(pipe.land_quota_mu_per_year * k, 6),
             scaled.format(short(pipe.land_quota_mu_per_year))),
        "",
        "[parks.demonstration]",
        line("selections_per_year", round(FIVE_STAR_PARKS_2022 / 3),  # 3 gradings: 2020-2022
             f"{FIVE_STAR_PARKS_2022} five-star parks by 2022 [S] over the 2020-2022 gradings [D]"),
    ]
    for lever in LEVERS:
        policy = getattr(pol, lever)
        out += [
            "",
            f"[policies.{lever}]",
            line("window", {"start": policy.window.start, "end": HORIZON},
                 "support runs to the end of the run [E]"),
            line("budget_cap_yuan_per_year", float(policy.budget_cap_yuan_per_year * k),
                 scaled.format(short(policy.budget_cap_yuan_per_year))),
        ]
        if lever == "land":
            quota = policy.extra_land_quota_mu_per_year
            out.append(line("extra_land_quota_mu_per_year", round(quota * k, 6),
                            scaled.format(short(quota))))
    out += [
        "",
        "[policies.mu_pricing]",
        line("window", {"start": pol.mu_pricing.window.start, "end": HORIZON},
             "the province's 亩均 prices stay in force to the end of the run [E]"),
    ]
    out += [
        "",
        f"{'[targets]':<37}# at the end of the run [E]; the sources set no province targets",
        line("date", HORIZON),
        line("parks", PARKS_AIMED_FOR, "the province's aim of ~1,000 certified parks [R]"),
        line("floor_area_m2", float(d["target_floor"]),
             f"{PARKS_AIMED_FOR:,} parks x {round(d['floor_per_park'], -3):,.0f} m2 [D]"),
        line("firms", d["target_firms"],
             f"{PARKS_AIMED_FOR:,} parks x {d['firms_per_park']:.1f} firms [D]"),
        line("upgrades", d["target_upgrades"], f"{base.targets.upgrades:g} {per_target_firm}"),
        line("tech_firms", d["target_tech"], f"{base.targets.tech_firms:g} {per_target_firm}"),
        line("demo_parks", FIVE_STAR_PARKS_2022,
             f"{FIVE_STAR_PARKS_2022} five-star parks in 2022 [S] as the demonstration tier [E]"),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the shipped file is out of date")
    args = parser.parse_args(argv)
    text = render(parksim.load_scenario(BASELINE))
    where = PROVINCE.relative_to(ROOT)
    if args.check:
        if not PROVINCE.exists() or PROVINCE.read_text(encoding="utf-8") != text:
            print(f"{where} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        print(f"{where} is up to date")
        return 0
    PROVINCE.write_text(text, encoding="utf-8")
    print(f"wrote {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
