"""Experiment files and their designs: grid, Latin hypercube (scipy.stats.qmc), Sobol/Saltelli
(SALib); typed design values; and bad experiment files reported as one located error."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import parksim
from parksim.cli import main
from parksim.execution.tasks import scenario_hash
from parksim.scenario import ScenarioError
from parksim.study.calibration import load_calibration
from parksim.study.experiment import load_experiment

REPO_DIR = Path(__file__).resolve().parent.parent
TINY = ["district.firms=1500", 'calendar.horizon="2019-12"', 'targets.date="2019-12"']


def experiment(baseline: Path, body: str, *, replications: int = 2, seed: int = 5,
               head: str = "") -> str:
    """The text of a tiny experiment on the real baseline; ``body`` holds design and factors."""
    overrides = ", ".join(json.dumps(o) for o in TINY)
    return (
        f'name = "tiny"\nscenario = {json.dumps(baseline.as_posix())}\n'
        f"overrides = [{overrides}]\nreplications = {replications}\nseed = {seed}\n{head}\n{body}"
    )


@pytest.fixture
def plan_of(write_toml, baseline_path):
    """``plan_of(body, **kw)``: write an experiment with that design and load it."""

    def load(body: str, name: str = "exp.toml", **kw):
        return load_experiment(write_toml(name, experiment(baseline_path, body, **kw)))

    return load


def column(plan, i: int) -> list:
    return [point[i] for point in plan.factor_values]


# --------------------------------------------------------------------------- grid


def test_grid_is_the_full_cartesian_product_of_values_and_linear_levels(plan_of):
    plan = plan_of("""
[design]
kind = "grid"

[[factors]]
path = "policies.finance.take_up"
values = [0.2, 0.5, 0.8]

[[factors]]
path = "policies.land.budget_cap_yuan_per_year"
range = [0.0, 6.0e7]
levels = 4
""", replications=3)
    levels = [0.0, 2.0e7, 4.0e7, 6.0e7]
    expected = list(itertools.product([0.2, 0.5, 0.8], levels))
    assert len(plan.factor_values) == 12 == len(plan.scenarios) == len(plan.point_hashes)
    assert plan.tasks == 12 * 3
    assert plan.factor_names == [
        "policies.finance.take_up",
        "policies.land.budget_cap_yuan_per_year",
    ]
    got = sorted(plan.factor_values)
    assert len(set(got)) == 12
    for (a, b), (x, y) in zip(got, sorted(expected), strict=True):
        assert a == x
        assert b == pytest.approx(y, rel=1e-12, abs=1e-6)
    # each point's scenario carries its values; everything else is the (overridden) base
    for (take_up, cap), scenario in zip(plan.factor_values, plan.scenarios, strict=True):
        assert scenario.policies.finance.take_up == take_up
        assert scenario.policies.land.budget_cap_yuan_per_year == cap
        assert scenario.district.firms == 1500
        assert scenario.policies.tax == plan.base.policies.tax
    assert len(set(plan.point_hashes)) == 12


def test_grid_log_levels_are_geometric(plan_of):
    plan = plan_of("""
[design]
kind = "grid"

[[factors]]
path = "policies.tax.upgrade_reward_yuan"
range = [1.0e3, 1.0e6]
levels = 4
scale = "log"
""")
    got = column(plan, 0)
    assert got == pytest.approx([1.0e3, 1.0e4, 1.0e5, 1.0e6], rel=1e-9)
    ratios = np.diff(np.log(got))
    assert ratios == pytest.approx(np.full(3, math.log(10)), rel=1e-9)


def test_grid_single_level_is_the_low_end(plan_of):
    plan = plan_of("""
[design]
kind = "grid"

[[factors]]
path = "policies.finance.take_up"
range = [0.25, 0.75]
levels = 1

[[factors]]
path = "policies.tax.take_up"
values = [0.1, 0.2]
""")
    assert sorted(plan.factor_values) == [(0.25, 0.1), (0.25, 0.2)]


def test_points_equal_to_each_other_share_a_hash_and_a_scenario(plan_of):
    plan = plan_of("""
[design]
kind = "grid"

[[factors]]
path = "policies.finance.take_up"
values = [0.5, 0.5, 0.35]
""")
    a, b, c = plan.point_hashes
    assert a == b != c
    # 0.35 is the baseline's own value: that point is the base scenario itself
    assert c == scenario_hash(plan.base)


def test_factor_path_with_a_list_index(plan_of):
    plan = plan_of("""
[design]
kind = "grid"

[[factors]]
path = "parks.initial[0].firms"
values = [5, 25]
""")
    assert [s.parks.initial[0].firms for s in plan.scenarios] == [5, 25]
    assert all(s.parks.initial[1] == plan.base.parks.initial[1] for s in plan.scenarios)


# --------------------------------------------------------------------------- Latin hypercube

LHS = """
[design]
kind = "lhs"
samples = {n}
seed = {seed}

[[factors]]
path = "policies.finance.take_up"
range = [0.1, 0.9]

[[factors]]
path = "policies.land.budget_cap_yuan_per_year"
range = [1.0e6, 9.0e7]

[[factors]]
path = "policies.tax.upgrade_reward_yuan"
range = [1.0e3, 1.0e6]
scale = "log"
"""


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (7, 3), (25, 11)])
def test_lhs_has_one_point_in_each_of_n_strata_per_factor(plan_of, n, seed):
    plan = plan_of(LHS.format(n=n, seed=seed))
    assert len(plan.factor_values) == n
    for i, (lo, hi, log) in enumerate(
        [(0.1, 0.9, False), (1.0e6, 9.0e7, False), (1.0e3, 1.0e6, True)]
    ):
        x = np.array(column(plan, i), dtype=float)
        assert np.all((x >= lo) & (x <= hi)), (i, x)
        u = (
            (np.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
            if log
            else (x - lo) / (hi - lo)
        )
        strata = np.minimum(np.floor(u * n).astype(int), n - 1)
        assert sorted(strata) == list(range(n)), (i, strata)


def test_lhs_same_seed_same_points_other_seed_other_points(plan_of):
    a = plan_of(LHS.format(n=9, seed=4), name="a.toml")
    b = plan_of(LHS.format(n=9, seed=4), name="b.toml")
    c = plan_of(LHS.format(n=9, seed=5), name="c.toml")
    assert a.factor_values == b.factor_values
    assert a.point_hashes == b.point_hashes
    assert a.identity("v", "s") == b.identity("v", "s")
    assert a.factor_values != c.factor_values
    assert a.identity("v", "s") != c.identity("v", "s")


def test_lhs_values_factor_takes_only_listed_values_evenly(plan_of):
    plan = plan_of("""
[design]
kind = "lhs"
samples = 12
seed = 2

[[factors]]
path = "policies.finance.min_park_grade"
values = ["A", "B", "C"]

[[factors]]
path = "policies.finance.take_up"
values = [0.2, 0.4, 0.6, 0.8]
""")
    grades, take_ups = column(plan, 0), column(plan, 1)
    assert set(grades) <= {"A", "B", "C"}
    assert set(take_ups) <= {0.2, 0.4, 0.6, 0.8}
    # 12 strata over 3 (or 4) equal bins: the Latin property puts exactly 4 (or 3) in each
    assert Counter(grades) == {"A": 4, "B": 4, "C": 4}
    assert Counter(take_ups) == {0.2: 3, 0.4: 3, 0.6: 3, 0.8: 3}
    assert [s.policies.finance.min_park_grade for s in plan.scenarios] == grades


def test_integer_keys_get_integers_and_float_keys_floats(plan_of):
    plan = plan_of("""
[design]
kind = "lhs"
samples = 10
seed = 1

[[factors]]
path = "district.firms"
range = [1000, 2000]

[[factors]]
path = "policies.land.budget_cap_yuan_per_year"
values = [0, 10000000, 20000000]

[[factors]]
path = "parks.initial[0].firms"
values = [10.0, 20.0]
""")
    firms, caps, park_firms = column(plan, 0), column(plan, 1), column(plan, 2)
    assert all(type(v) is int for v in firms), firms
    assert all(1000 <= v <= 2000 for v in firms)
    assert len(set(firms)) > 5
    assert all(type(v) is float for v in caps), caps
    assert set(caps) <= {0.0, 1.0e7, 2.0e7}
    assert all(type(v) is int for v in park_firms), park_firms
    assert set(park_firms) <= {10, 20}
    for (f, cap, pf), scenario in zip(plan.factor_values, plan.scenarios, strict=True):
        assert type(scenario.district.firms) is int and scenario.district.firms == f
        assert type(scenario.policies.land.budget_cap_yuan_per_year) is float
        assert scenario.policies.land.budget_cap_yuan_per_year == cap
        assert scenario.parks.initial[0].firms == pf


def test_integer_key_on_a_grid_range_is_rounded(plan_of):
    plan = plan_of("""
[design]
kind = "grid"

[[factors]]
path = "district.firms"
range = [1000, 2000]
levels = 4
""")
    assert column(plan, 0) == [1000, 1333, 1667, 2000]
    assert all(type(v) is int for v in column(plan, 0))


# --------------------------------------------------------------------------- Sobol / Saltelli

SOBOL = """
[design]
kind = "sobol"
samples = {n}
seed = {seed}
second_order = {second}

[[factors]]
path = "policies.finance.take_up"
range = [0.1, 0.9]

[[factors]]
path = "district.firms"
range = [1000, 2000]

[[factors]]
path = "policies.tax.rd_subsidy_yuan_per_firm_year"
range = [0.0, 6.0e4]
"""


@pytest.mark.parametrize(("second", "per_base"), [("false", 3 + 2), ("true", 2 * 3 + 2)])
def test_sobol_point_count_and_ranges(plan_of, second, per_base):
    plan = plan_of(SOBOL.format(n=8, seed=3, second=second), replications=3)
    assert len(plan.factor_values) == 8 * per_base
    assert plan.tasks == 8 * per_base * 3
    take_up, firms, relief = column(plan, 0), column(plan, 1), column(plan, 2)
    assert all(0.1 <= v <= 0.9 and type(v) is float for v in take_up)
    assert all(1000 <= v <= 2000 and type(v) is int for v in firms)
    assert all(0.0 <= v <= 6.0e4 and type(v) is float for v in relief)
    assert len(set(take_up)) > 8


def test_sobol_same_seed_same_points(plan_of):
    a = plan_of(SOBOL.format(n=4, seed=9, second="false"), name="a.toml")
    b = plan_of(SOBOL.format(n=4, seed=9, second="false"), name="b.toml")
    c = plan_of(SOBOL.format(n=4, seed=10, second="false"), name="c.toml")
    assert a.factor_values == b.factor_values
    assert a.factor_values != c.factor_values


def test_sobol_samples_must_be_a_power_of_two(plan_of):
    with pytest.raises(ScenarioError, match="power of two"):
        plan_of(SOBOL.format(n=6, seed=3, second="false"))


def test_shipped_experiments_load_with_their_documented_sizes():
    sizes = {}
    for path in sorted((REPO_DIR / "experiments").glob("calibrate_*.toml")):
        # a calibration file (parksim calibrate), beside the experiments
        sizes[path.stem] = len(load_calibration(path).file.parameters)
    for path in sorted(set((REPO_DIR / "experiments").glob("*.toml"))
                       - set((REPO_DIR / "experiments").glob("calibrate_*.toml"))):
        plan = load_experiment(path)
        sizes[path.stem] = (len(plan.scenarios), plan.tasks)
    assert sizes == {
        "calibrate_2019": 7,
        "finance_vs_land": (16, 16 * 50),
        "tax_vs_services": (40, 40 * 20),
        "uncertain_growth_hazard": (32 * (5 + 2), 32 * 7 * 4),
        "screening_baseline": (10 * (99 + 1), 10 * 100 * 2),
        "sensitivity_baseline": (64 * (14 + 2), 64 * 16 * 4),
    }


# --------------------------------------------------------------------------- bad experiment files

GRID_ONE = """
[design]
kind = "grid"

[[factors]]
path = "{path}"
{source}
"""

# (case id, experiment body or None for the baseline head,
# extra head, key, fragments of the message, suggestion)
BAD = [
    (
        "typo_in_path",
        GRID_ONE.format(path="policies.finanse.take_up", source="values = [0.1]"),
        "",
        "factors[0].path",
        ["policies.finanse.take_up", "does not exist"],
        "finance",
    ),
    (
        "missing_leaf",
        GRID_ONE.format(path="policies.finance.take_upp", source="values = [0.1]"),
        "",
        "factors[0].path",
        ["take_upp"],
        "take_up",
    ),
    (
        "index_out_of_range",
        GRID_ONE.format(path="parks.initial[40].firms", source="values = [1]"),
        "",
        "factors[0].path",
        ["does not exist"],
        None,
    ),
    (
        "path_to_a_table",
        GRID_ONE.format(path="policies.finance", source="values = [0.1]"),
        "",
        "factors[0].path",
        ["table"],
        None,
    ),
    (
        "range_of_strings",
        GRID_ONE.format(path="policies.finance.take_up", source='range = ["a", "b"]\nlevels = 2'),
        "",
        "factors[0].range",
        ["number"],
        None,
    ),
    (
        "range_on_a_string_key",
        GRID_ONE.format(path="name", source="range = [0, 1]\nlevels = 2"),
        "",
        "factors[0].range",
        ["'name'", "number"],
        None,
    ),
    (
        "low_above_high",
        GRID_ONE.format(path="policies.finance.take_up", source="range = [0.9, 0.1]\nlevels = 2"),
        "",
        "factors[0]",
        ["low <= high"],
        None,
    ),
    (
        "log_range_from_zero",
        GRID_ONE.format(
            path="policies.finance.take_up", source='range = [0.0, 0.5]\nlevels = 2\nscale = "log"'
        ),
        "",
        "factors[0]",
        ["low > 0"],
        None,
    ),
    (
        "values_and_range",
        GRID_ONE.format(
            path="policies.finance.take_up", source="values = [0.2]\nrange = [0.1, 0.9]\nlevels = 2"
        ),
        "",
        "factors[0]",
        ["either values, range or prior"],
        None,
    ),
    (
        "levels_with_values",
        GRID_ONE.format(path="policies.finance.take_up", source="values = [0.2]\nlevels = 2"),
        "",
        "factors[0]",
        ["levels"],
        None,
    ),
    (
        "grid_range_without_levels",
        GRID_ONE.format(path="policies.finance.take_up", source="range = [0.1, 0.9]"),
        "",
        "factors[0].levels",
        ["levels"],
        None,
    ),
    (
        "lhs_without_samples",
        '[design]\nkind = "lhs"\n\n'
        '[[factors]]\npath = "policies.finance.take_up"\nrange = [0.1, 0.9]\n',
        "",
        "design",
        ["samples"],
        None,
    ),
    (
        "levels_on_lhs",
        '[design]\nkind = "lhs"\nsamples = 4\n\n'
        '[[factors]]\npath = "policies.finance.take_up"\nrange = [0.1, 0.9]\nlevels = 3\n',
        "",
        "factors[0].levels",
        ["grid"],
        None,
    ),
    (
        "unknown_design_kind",
        '[design]\nkind = "random"\n\n'
        '[[factors]]\npath = "policies.finance.take_up"\nvalues = [0.1]\n',
        "",
        "design.kind",
        [],
        None,
    ),
    ("empty_factors", 'factors = []\n\n[design]\nkind = "grid"\n', "", "factors", [], None),
    (
        "duplicate_factor",
        GRID_ONE.format(path="policies.finance.take_up", source="values = [0.1]")
        + '\n[[factors]]\npath = "policies.finance.take_up"\nvalues = [0.2]\n',
        "",
        "factors[1].path",
        ["twice"],
        None,
    ),
    (
        "point_refused_by_schema",
        GRID_ONE.format(path="policies.finance.take_up", source="range = [0.5, 1.5]\nlevels = 3"),
        "",
        "factors",
        ["design point 2", "policies.finance.take_up=1.5", "take_up"],
        None,
    ),
    (
        "unknown_key",
        GRID_ONE.format(path="policies.finance.take_up", source="values = [0.1]"),
        "replicatons = 4",
        "replicatons",
        ["unknown key"],
        "replications",
    ),
    (
        "unknown_factor_key",
        GRID_ONE.format(path="policies.finance.take_up", source="values = [0.1]\nlevel = 2"),
        "",
        "factors[0].level",
        ["unknown key"],
        "levels",
    ),
    (
        "bad_override",
        GRID_ONE.format(path="policies.finance.take_up", source="values = [0.1]"),
        "",
        "overrides",
        ["district.firms"],
        None,
    ),
]


def bad_text(baseline: Path, body: str, head: str, case: str) -> str:
    text = experiment(baseline, body, head=head)
    if case == "bad_override":
        text = text.replace('"district.firms=1500"', '"district.firms=-5"')
    return text


@pytest.mark.parametrize(
    ("case", "body", "head", "key", "fragments", "suggestion"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_experiment_file_is_one_located_error(
    write_toml, baseline_path, case, body, head, key, fragments, suggestion
):
    path = write_toml(f"{case}.toml", bad_text(baseline_path, body, head, case))
    with pytest.raises(ScenarioError) as info:
        load_experiment(path)
    err = info.value
    assert err.file == str(path)
    # the key, or an element of it (``factors[0].range[0]``)
    assert err.key == key or err.key.startswith(key + "["), str(err)
    text = str(err)
    assert text.startswith(str(path))
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    if suggestion is not None:
        assert err.suggestion == suggestion
        assert f"did you mean '{suggestion}'" in text


@pytest.mark.parametrize(
    "source",
    [
        "range = [0.9, 0.1]\nlevels = 2",
        "values = [0.2]\nrange = [0.1, 0.9]\nlevels = 2",
        'range = ["a", "b"]\nlevels = 2',
    ],
    ids=["low_above_high", "both", "strings"],
)
def test_one_bad_factor_does_not_also_claim_the_factor_list_is_empty(
    write_toml, baseline_path, source
):
    """The extra errors ("[and N more]", and ``more`` in --json) must be true: a file with one
    factor does not have an empty factors list."""
    path = write_toml(
        "exp.toml",
        experiment(baseline_path, GRID_ONE.format(path="policies.finance.take_up", source=source)),
    )
    with pytest.raises(ScenarioError) as info:
        load_experiment(path)
    assert not [d for d in info.value.details if "at least 1" in d], info.value.details


def test_missing_base_scenario_names_the_experiment_and_the_key(write_toml, tmp_path):
    path = write_toml("exp.toml", experiment(tmp_path / "nowhere.toml", GRID_ONE.format(
        path="policies.finance.take_up", source="values = [0.1]")))
    with pytest.raises(ScenarioError) as info:
        load_experiment(path)
    assert info.value.file == str(path)
    assert info.value.key == "scenario"
    assert "nowhere.toml" in str(info.value) and "not found" in str(info.value)


def test_relative_base_scenario_is_read_relative_to_the_experiment_file(write_toml, baseline_path):
    # a relative path that only resolves from the experiment file's folder, not from the cwd
    write_toml(
        "scen/base.toml", f'extends = {json.dumps(baseline_path.as_posix())}\nname = "rel"\n'
    )
    text = experiment(
        Path("PLACEHOLDER"),
        GRID_ONE.format(path="policies.finance.take_up", source="values = [0.1]"),
    )
    path = write_toml("exps/exp.toml", text.replace('"PLACEHOLDER"', '"../scen/base.toml"'))
    plan = load_experiment(path)
    assert plan.base.name == "rel"


def test_missing_experiment_file(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_experiment(tmp_path / "absent.toml")
    assert "not found" in str(info.value)


# --------------------------------------------------------------------------- via the command line

CLI_CASES = [
    b
    for b in BAD
    if b[0]
    in {
        "typo_in_path",
        "path_to_a_table",
        "range_of_strings",
        "range_on_a_string_key",
        "low_above_high",
        "values_and_range",
        "grid_range_without_levels",
        "lhs_without_samples",
        "empty_factors",
        "point_refused_by_schema",
        "unknown_key",
    }
]


@pytest.mark.parametrize(("case", "body", "head", "key", "fragments", "suggestion"), CLI_CASES,
                         ids=[b[0] for b in CLI_CASES])
def test_cli_sweep_bad_experiment_exits_2_with_one_line(
    write_toml, baseline_path, tmp_path, capsys, case, body, head, key, fragments, suggestion
):
    path = write_toml(f"{case}.toml", bad_text(baseline_path, body, head, case))
    out = tmp_path / "out"
    code = main(["sweep", str(path), "-o", str(out), "-w", "1", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("parksim: error: ")
    assert str(path) in lines[0] and (f" {key}:" in lines[0] or f" {key}[" in lines[0]), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    if suggestion:
        assert f"did you mean '{suggestion}'" in lines[0]
    assert captured.out == ""
    assert not out.exists()


def test_cli_sweep_bad_experiment_subprocess_json(write_toml, baseline_path, tmp_path, parksim_cli):
    """As a real process: exit 2, one line, no traceback, nothing written; --json: an object."""
    path = write_toml("typo.toml", experiment(baseline_path, GRID_ONE.format(
        path="policies.finanse.take_up", source="values = [0.1]")))
    out = tmp_path / "out"
    proc = parksim_cli("sweep", path, "-o", out, "--quiet", "--json", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and "factors[0].path" in lines[0], proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["error"] == "bad_input"
    assert payload["file"] == str(path)
    assert payload["key"] == "factors[0].path"
    assert payload["suggestion"] == "finance"
    assert not out.exists()
    assert not (tmp_path / "results").exists()


def test_cli_sweep_missing_base_scenario_subprocess(write_toml, tmp_path, parksim_cli):
    path = write_toml("exp.toml", experiment(tmp_path / "nowhere.toml", GRID_ONE.format(
        path="policies.finance.take_up", source="values = [0.1]")))
    out = tmp_path / "out"
    proc = parksim_cli("sweep", path, "-o", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert (
        len(lines) == 1
        and str(path) in lines[0]
        and "scenario:" in lines[0]
        and "nowhere.toml" in lines[0]
    )
    assert not out.exists()


def test_experiment_scenarios_are_valid_parksim_scenarios(plan_of):
    plan = plan_of(GRID_ONE.format(path="policies.finance.take_up", source="values = [0.1, 0.7]"))
    for scenario in plan.scenarios:
        assert isinstance(scenario, parksim.Scenario)
        assert scenario.calendar.horizon == plan.base.calendar.horizon
