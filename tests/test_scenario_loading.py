"""Loading scenarios: shipped files, ``extends`` chains, ``--set`` overrides and error reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parksim
from parksim import ScenarioError, load_scenario

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.toml"))


def line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of ``path`` that starts with ``needle``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip().startswith(needle):
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def load_error(path, overrides=()) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides=overrides)
    return info.value


def assert_one_line_naming(err: ScenarioError, file_name: str, key: str | None) -> str:
    """The rendered error is one line naming the file and the key path."""
    text = str(err)
    assert "\n" not in text and "\r" not in text, text
    assert file_name in text, text
    if key:
        assert key in text, text
        assert err.key == key
    return text


# --------------------------------------------------------------------------- shipped scenarios


def test_scenarios_are_shipped():
    assert "baseline.toml" in {p.name for p in SHIPPED}
    assert len(SHIPPED) >= 2


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_loads(path):
    scenario = load_scenario(path)
    assert isinstance(scenario, parksim.Scenario)
    assert scenario.name == path.stem
    assert scenario.horizon_months >= 1
    assert len(scenario.parks.initial) >= 1


def test_scenario_is_frozen(baseline_path):
    scenario = load_scenario(baseline_path)
    with pytest.raises(pydantic.ValidationError):
        scenario.name = "changed"
    with pytest.raises(pydantic.ValidationError):
        scenario.policies.finance.take_up = 0.9
    with pytest.raises(AttributeError):
        scenario.parks.initial.append(scenario.parks.initial[0])  # a tuple, not a list
    assert scenario.name == "baseline"
    assert scenario.policies.finance.take_up == 0.35


def test_loading_twice_gives_equal_scenarios(baseline_path):
    assert load_scenario(baseline_path) == load_scenario(str(baseline_path))


# --------------------------------------------------------------------------- extends


def test_shipped_child_merges_tables_key_by_key(scenarios_dir):
    base = load_scenario(scenarios_dir / "baseline.toml")
    boost = load_scenario(scenarios_dir / "finance_boost.toml")
    finance, base_finance = boost.policies.finance, base.policies.finance
    # written in the child
    assert finance.take_up == 0.6
    assert finance.loan_yuan == 2.0e6
    assert finance.budget_cap_yuan_per_year == 5.0e7
    # not written in the child: kept from the parent's [policies.finance]
    assert finance.window == base_finance.window
    assert finance.interest_subsidy_rate == base_finance.interest_subsidy_rate
    assert finance.min_park_grade == base_finance.min_park_grade
    # other tables untouched
    assert boost.policies.land == base.policies.land
    assert boost.parks == base.parks
    assert boost.targets == base.targets


def test_extends_by_absolute_path_replaces_arrays_whole(baseline_path, write_toml):
    base = load_scenario(baseline_path)
    assert len(base.parks.initial) > 1 and len(base.observations) > 1
    child = write_toml("child.toml", f"""
extends = "{baseline_path.as_posix()}"
name = "one_park"

[district.sectors]
paper_packaging = 0.5          # changes one share
new_sector = 0.1               # adds a sector

[[parks.initial]]
name = "场口百丈小微企业创新园"
status = "operating"
floor_area_m2 = 65000.0
lead_sector = "new_sector"
development_model = "consortium"
firms = 40

[[observations]]
key = "parks"
date = "2019-12"
value = 11
""")
    scenario = load_scenario(child)
    assert scenario.name == "one_park"
    # arrays of tables: exactly the child's, not appended to the parent's
    assert len(scenario.parks.initial) == 1
    assert scenario.parks.initial[0].lead_sector == "new_sector"
    assert len(scenario.observations) == 1
    # tables: merged key by key
    sectors = scenario.district.sectors
    assert set(sectors) == set(base.district.sectors) | {"new_sector"}
    assert sectors["paper_packaging"] == 0.5
    assert sectors["machinery_equipment"] == base.district.sectors["machinery_equipment"]
    assert scenario.district.firms == base.district.firms
    assert scenario.parks.pipeline == base.parks.pipeline


def test_extends_by_relative_path_is_relative_to_the_file(
    baseline_path, tmp_path, write_toml, monkeypatch
):
    child_dir = tmp_path / "deep" / "er"
    relative = os.path.relpath(baseline_path, child_dir)
    child = write_toml("deep/er/child.toml", f"""
extends = "{Path(relative).as_posix()}"

[policies.tax]
take_up = 0.75
""")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the parent is found from the child's folder, not the cwd
    scenario = load_scenario(child)
    base = load_scenario(baseline_path)
    assert scenario.policies.tax.take_up == 0.75
    assert scenario.policies.tax.upgrade_reward_yuan == base.policies.tax.upgrade_reward_yuan
    assert scenario.name == "child"  # not written in the child: named after its file


def test_three_level_chain_applies_parent_first(baseline_path, write_toml):
    write_toml("middle.toml", f"""
extends = "{baseline_path.as_posix()}"
name = "middle"

[policies.finance]
take_up = 0.5
loan_yuan = 3.0e6
""")
    leaf = write_toml("leaf.toml", """
extends = "middle.toml"
name = "leaf"

[policies.finance]
take_up = 0.25
""")
    scenario = load_scenario(leaf)
    assert scenario.name == "leaf"
    assert scenario.policies.finance.take_up == 0.25      # leaf wins
    assert scenario.policies.finance.loan_yuan == 3.0e6   # from the middle
    assert scenario.policies.finance.expected_loss_rate == 0.01  # from the baseline


# --------------------------------------------------------------------------- overrides


def test_override_sets_a_value_and_leaves_the_rest(baseline_path):
    base = load_scenario(baseline_path)
    scenario = load_scenario(baseline_path, overrides=["policies.finance.take_up=0.5"])
    assert scenario.policies.finance.take_up == 0.5
    assert scenario.policies.finance.loan_yuan == base.policies.finance.loan_yuan
    assert scenario.policies.land == base.policies.land
    assert base.policies.finance.take_up == 0.35  # the file's scenario is not changed


def test_overrides_apply_in_order_and_parse_values_as_toml(baseline_path):
    scenario = load_scenario(baseline_path, overrides=[
        "policies.finance.take_up=0.5",
        "policies.finance.take_up = 0.2",
        "district.firms=2000",
        "calendar.horizon=2020-06",
        "targets.date=2020-06",
        "name=tiny",
        "parks.pipeline.models.government.renovation_months=[2.0, 3.0]",
    ])
    assert scenario.policies.finance.take_up == 0.2
    assert scenario.district.firms == 2000
    assert scenario.calendar.horizon == "2020-06"
    assert scenario.horizon_months == 18
    assert scenario.name == "tiny"
    assert scenario.parks.pipeline.models["government"].renovation_months == (2.0, 3.0)


def test_tiny_scenario_fixture(tiny_scenario):
    assert tiny_scenario.district.firms == 2000
    assert tiny_scenario.calendar.horizon == "2020-06"
    assert tiny_scenario.targets.date == "2020-06"
    assert tiny_scenario.run.replications == 4


def test_overrides_are_applied_after_the_files_are_validated(write_toml, baseline_path):
    """An override cannot rescue a bad file: the file's own error is reported."""
    child = write_toml("bad.toml", f"""
extends = "{baseline_path.as_posix()}"

[policies.finance]
take_up = 1.5
""")
    err = load_error(child, overrides=["policies.finance.take_up=0.5"])
    assert err.file == str(child)
    assert err.key == "policies.finance.take_up"


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ("policies.finance.take_up=1.5", "policies.finance.take_up", "1.5"),
        ("policies.finance.take_upp=0.5", "policies.finance.take_upp", "unknown key"),
        ("district.firms=many", "district.firms", "integer"),
        ("calendar.horizon=2020-13", "calendar.horizon", "2020-13"),
        ("district.acceptance_probability=1.5", "district.acceptance_probability", "1.5"),
        ("district.fit_out_months=-1.0", "district.fit_out_months", "-1"),
        ("district.lease_years=0.0", "district.lease_years", "greater than 0"),
        ("parks.pipeline.payback_years=0.0", "parks.pipeline.payback_years", "greater than 0"),
        ("parks.pipeline.government_budget_yuan_per_year=-1.0",
         "parks.pipeline.government_budget_yuan_per_year", "-1"),
        ("enterprises.industrial_land_floor_m2=-5.0", "enterprises.industrial_land_floor_m2", "-5"),
        ('targets.firms_reading="flow"', "targets.firms_reading", "flow"),
    ],
)
def test_bad_override_is_reported_against_set(baseline_path, override, key, fragment):
    err = load_error(baseline_path, overrides=[override])
    assert err.file == "--set"
    assert err.line is None
    text = assert_one_line_naming(err, "--set", key)
    assert text.startswith("--set:")
    assert fragment in text


def test_override_typo_gets_a_suggestion(baseline_path):
    err = load_error(baseline_path, overrides=["policies.finance.take_upp=0.5"])
    assert err.suggestion == "take_up"
    assert "did you mean 'take_up'" in str(err)


def test_override_without_equals_sign_is_reported(baseline_path):
    err = load_error(baseline_path, overrides=["policies.finance.take_up"])
    assert err.file == "--set"
    assert "path.to.key=value" in err.message


@settings(max_examples=40, deadline=None)
@given(take_up=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_take_up_override_is_checked_against_its_range(baseline_path, take_up):
    override = f"policies.finance.take_up={take_up!r}"
    if 0.0 <= take_up <= 1.0:
        assert (
            load_scenario(baseline_path, overrides=[override]).policies.finance.take_up == take_up
        )
    else:
        err = load_error(baseline_path, overrides=[override])
        assert err.file == "--set" and err.key == "policies.finance.take_up"


# --------------------------------------------------------------------------- bad input


def test_out_of_range_value_in_child_names_child_file_and_line(baseline_path, write_toml):
    child = write_toml("child.toml", f"""# a child scenario
extends = "{baseline_path.as_posix()}"

[policies.land]
take_up = 0.5

[policies.finance]
loan_yuan = 2.0e6
take_up = 1.5
""")
    err = load_error(child)
    assert err.file == str(child)
    assert err.key == "policies.finance.take_up"
    assert err.line == 9 == line_of(child, "take_up = 1.5")
    text = assert_one_line_naming(err, child.name, "policies.finance.take_up")
    assert f"{child.name}:9:" in text
    assert "1.5" in text and "less than or equal to 1" in text


@pytest.mark.parametrize(
    "body",
    [
        'name = "x"\npolicies.finance.take_up = 1.5\n',                 # dotted key, top level
        '[policies]\nfinance.take_up = 1.5\n',                           # dotted key in a table
        '[policies.finance]  # comment\n\n# take_up = 0.2\n"take_up" = 1.5\n',  # quoted key
        '[policies.land]\ntake_up = 0.5\n[policies.finance]\ntake_up = 1.5\n',  # same key elsewhere
    ],
    ids=["top-level-dotted", "table-dotted", "quoted", "sibling-table"],
)
def test_line_locator_finds_the_key_as_written(baseline_path, write_toml, body):
    child = write_toml("child.toml", f'extends = "{baseline_path.as_posix()}"\n{body}')
    err = load_error(child)
    assert err.key == "policies.finance.take_up"
    lines = child.read_text(encoding="utf-8").splitlines()
    assert "1.5" in lines[err.line - 1]


def test_cross_field_error_names_the_file(baseline_path, write_toml):
    child = write_toml("late.toml", f"""
extends = "{baseline_path.as_posix()}"

[targets]
date = "2023-01"
""")
    err = load_error(child)
    assert err.file == str(child)
    text = assert_one_line_naming(err, child.name, None)
    assert "targets.date" in text and "calendar.horizon" in text


def test_cross_field_error_blames_the_file_that_changed_one_of_the_keys(baseline_path, write_toml):
    """A child that shortens the horizon is blamed, not the parent that set the target date."""
    child = write_toml("short.toml", f"""
extends = "{baseline_path.as_posix()}"

[calendar]
horizon = "2020-12"
""")
    err = load_error(child)
    assert err.file == str(child) and err.key == "calendar.horizon" and err.line == 5
    assert "targets.date" in str(err)


def test_cross_field_error_caused_by_a_flag_blames_the_flag(baseline_path):
    err = load_error(baseline_path, overrides=["calendar.horizon=2019-12"])
    assert err.file == "--set" and err.key == "calendar.horizon"


def test_error_in_middle_of_chain_names_the_file_that_wrote_it(baseline_path, write_toml):
    middle = write_toml("middle.toml", f"""
extends = "{baseline_path.as_posix()}"

[district]
rd_share = 2.0
""")
    leaf = write_toml("leaf.toml", """
extends = "middle.toml"

[district]
firms = 1000
""")
    err = load_error(leaf)
    assert Path(err.file).resolve() == middle.resolve()
    assert err.key == "district.rd_share"
    assert err.line == line_of(middle, "rd_share")


def test_error_inside_array_of_tables_names_index_and_line(baseline_path, write_toml):
    child = write_toml("parks.toml", f"""
extends = "{baseline_path.as_posix()}"

[[parks.initial]]
name = "A"
status = "operating"
floor_area_m2 = 50000.0
lead_sector = "paper_packaging"
development_model = "government"

[[parks.initial]]
name = "B"
status = "operating"
floor_area_m2 = -5.0
lead_sector = "paper_packaging"
development_model = "government"
""")
    err = load_error(child)
    assert err.key == "parks.initial[1].floor_area_m2"
    assert err.line == line_of(child, "floor_area_m2 = -5.0")
    assert_one_line_naming(err, child.name, "parks.initial[1].floor_area_m2")


@pytest.mark.parametrize(
    ("table", "key", "suggestion"),
    [
        ("policies.finance", "take_upp", "take_up"),
        ("district", "frims", "firms"),
    ],
)
def test_unknown_key_suggests_the_nearest_name(baseline_path, write_toml, table, key, suggestion):
    child = write_toml("typo.toml", f"""
extends = "{baseline_path.as_posix()}"

[{table}]
{key} = 1
""")
    err = load_error(child)
    assert err.key == f"{table}.{key}"
    assert err.suggestion == suggestion
    assert err.line == 5
    text = assert_one_line_naming(err, child.name, f"{table}.{key}")
    assert "unknown key" in text
    assert f"did you mean '{suggestion}'" in text


def test_unknown_table_suggests_the_nearest_name(baseline_path, write_toml):
    child = write_toml("typo.toml", f"""
extends = "{baseline_path.as_posix()}"

[policies.finanse]
take_up = 0.5
""")
    err = load_error(child)
    assert err.key == "policies.finanse"
    assert err.suggestion == "finance"
    assert err.line == 4
    assert "did you mean 'finance'" in str(err)


def test_unknown_key_far_from_any_name_has_no_suggestion(baseline_path, write_toml):
    child = write_toml("typo.toml", f"""
extends = "{baseline_path.as_posix()}"

[district]
zzzzzzzz = 1
""")
    err = load_error(child)
    assert err.key == "district.zzzzzzzz"
    assert err.suggestion is None
    assert "did you mean" not in str(err)


@pytest.mark.parametrize(
    ("line", "key", "fragment"),
    [
        ('firms = "many"', "district.firms", "integer"),
        ("firms = 2.5", "district.firms", "integer"),
        ('rd_share = "a quarter"', "district.rd_share", "number"),
        ("sectors = 3", "district.sectors", "dictionary"),
        ('rd_share = "0.25"', "district.rd_share", "number"),  # no silent text-to-number
        ("firms = true", "district.firms", "integer"),  # nor booleans for integers
        ("revenue_median_yuan = inf", "district.revenue_median_yuan", "finite"),
        ("revenue_log_sigma = nan", "district.revenue_log_sigma", "finite"),
    ],
)
def test_wrong_type_names_file_key_and_line(baseline_path, write_toml, line, key, fragment):
    child = write_toml("types.toml", f"""
extends = "{baseline_path.as_posix()}"

[district]
{line}
""")
    err = load_error(child)
    assert err.key == key
    assert err.line == 5
    text = assert_one_line_naming(err, child.name, key)
    assert fragment in text


def test_missing_file(tmp_path):
    missing = tmp_path / "nowhere.toml"
    err = load_error(missing)
    assert err.file == str(missing)
    text = assert_one_line_naming(err, "nowhere.toml", None)
    assert "not found" in text


def test_directory_instead_of_file(tmp_path):
    err = load_error(tmp_path)
    assert err.file == str(tmp_path)
    assert "directory" in err.message


def test_extends_missing_parent(write_toml):
    child = write_toml("orphan.toml", '# no parent\nextends = "no_such_parent.toml"\n')
    err = load_error(child)
    assert err.key == "extends"
    assert err.line == 2
    text = assert_one_line_naming(err, child.name, "extends")
    assert "no_such_parent.toml" in text


def test_extends_cycle(write_toml):
    a = write_toml("a.toml", 'extends = "b.toml"\nname = "a"\n')
    write_toml("b.toml", 'extends = "a.toml"\nname = "b"\n')
    err = load_error(a)
    assert err.key == "extends"
    text = assert_one_line_naming(err, "a.toml", "extends")
    assert "b.toml" in text
    assert "loop" in text


def test_extends_self(write_toml):
    me = write_toml("me.toml", 'extends = "me.toml"\n')
    err = load_error(me)
    assert err.key == "extends"
    assert "me.toml" in str(err)


def test_extends_must_be_a_string(write_toml):
    child = write_toml("num.toml", "name = 'x'\nextends = 3\n")
    err = load_error(child)
    assert err.key == "extends"
    assert err.line == 2


def test_toml_syntax_error_reports_line(baseline_path, write_toml):
    child = write_toml("broken.toml", f"""extends = "{baseline_path.as_posix()}"
name = "broken"

[district
firms = 3
""")
    err = load_error(child)
    assert err.line == 4
    text = assert_one_line_naming(err, child.name, None)
    assert f"{child.name}:4:" in text
    assert "TOML syntax error" in text
    assert "(at line" not in text  # the position is moved into the file:line prefix


def test_toml_syntax_error_in_parent_names_the_parent(write_toml):
    write_toml("parent.toml", 'name = "p"\n\nx = = 1\n')
    child = write_toml("child.toml", 'extends = "parent.toml"\n')
    err = load_error(child)
    assert Path(err.file).name == "parent.toml"
    assert err.line == 3


def test_missing_required_key(baseline_path, write_toml):
    text = baseline_path.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith("take_up = 0.35")]
    assert len(kept) == len(text.splitlines()) - 1
    path = write_toml("missing.toml", "\n".join(kept) + "\n")
    err = load_error(path)
    assert err.file == str(path)
    assert err.key == "policies.finance.take_up"
    assert err.line == line_of(path, "[policies.finance]")  # the table the key belongs in
    text = assert_one_line_naming(err, path.name, "policies.finance.take_up")
    assert "missing key" in text
    assert "probability" in text  # the unit expected


def test_several_errors_are_counted_on_one_line(baseline_path, write_toml):
    child = write_toml("many.toml", f"""
extends = "{baseline_path.as_posix()}"

[district]
rd_share = 2.0
tech_share = -1.0
firms = -3
""")
    err = load_error(child)
    assert len(err.details) == 2
    text = str(err)
    assert "\n" not in text
    assert "[and 2 more]" in text


def test_error_to_json(baseline_path, write_toml):
    child = write_toml("typo.toml", f"""
extends = "{baseline_path.as_posix()}"

[policies.finance]
take_upp = 0.5
""")
    err = load_error(child)
    payload = err.to_json()
    assert {"error", "file", "key", "line", "message", "suggestion"} <= set(payload)
    assert payload["error"] == "bad_input"
    assert payload["file"] == str(child)
    assert payload["key"] == "policies.finance.take_upp"
    assert payload["line"] == 5
    assert payload["suggestion"] == "take_up"
    assert payload["message"] == err.message
    assert json.loads(json.dumps(payload)) == payload


def test_error_to_json_without_key_or_line(tmp_path):
    payload = load_error(tmp_path / "nowhere.toml").to_json()
    assert {"error", "file", "key", "line", "message", "suggestion"} <= set(payload)
    assert payload["key"] is None
    assert payload["line"] is None
    assert payload["suggestion"] is None


def test_scenario_error_is_an_exception():
    assert issubclass(ScenarioError, Exception)
    assert parksim.ScenarioError is ScenarioError


def test_a_bad_campaign_names_its_file_line_and_key(baseline_path, write_toml):
    child = write_toml("campaign.toml", f"""extends = "{baseline_path.as_posix()}"

[[district.campaigns]]
name = "a campaign that lowers pressure below zero"
start = "2020-01"
end = "2020-06"
pressure_multiplier = -2.0
""")
    err = load_error(child)
    assert err.file == str(child)
    assert "campaigns" in err.key and "pressure_multiplier" in err.key
    text = assert_one_line_naming(err, child.name, None)
    assert "-2" in text


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        (["parks.pipeline.models.government.sells_units_share=0.2",
          "parks.pipeline.models.government.sale_price_yuan_per_m2=5000.0"],
         "parks.pipeline.models.government.sells_units_share", "does not sell"),
        (["parks.pipeline.models.consortium.sells_units_share=0.2"],
         "parks.pipeline.models.consortium", "sale_price_yuan_per_m2 > 0"),
        (["parks.pipeline.models.lead_enterprise.min_revenue_yuan=2e7"],
         "parks.pipeline.models.lead_enterprise.min_revenue_yuan", "no small or micro firm"),
        (["parks.rent_yuan_m2_month=0.0"], "parks.rent_yuan_m2_month", "market rent of 0"),
        (["parks.pipeline.models.third_party.sale_price_yuan_per_m2=-1.0"],
         "parks.pipeline.models.third_party.sale_price_yuan_per_m2", "-1"),
        (["district.owner_cost_rate_per_year=0.0"], "district.owner_cost_rate_per_year",
         "greater than 0"),
    ],
)
def test_a_development_model_on_impossible_terms_is_refused(baseline_path, overrides, key,
                                                            fragment):
    """A government-led park that sells, a sale without a price, a standard above the upgrade
    line, a market rent of 0 to weigh the models' rents against: one line naming the key."""
    err = load_error(baseline_path, overrides=overrides)
    assert err.key == key, str(err)
    assert fragment in str(err)


@pytest.mark.parametrize(("table", "key", "instead"), [
    ("policies.services", "platform_coverage = 0.6", "platform_subsidy_share"),
    ("policies.land", "grade_drift_per_year = { A = 0.02 }", "policies.mu_pricing"),
    ("parks.grading", "occupancy_weight = 0.35", "parks.grading.weights"),
    ("parks.demonstration", "min_consecutive_a = 2", "min_consecutive"),
    ("policies.tax", "relief_share_of_revenue = 0.004", "policies.national.small_firm_relief"),
    ("policies.national.rd_super_deduction", "rd_share_of_revenue = 0.03",
     "district.rd_intensity_median"),
])
def test_a_key_the_schema_no_longer_has_says_what_replaced_it(baseline_path, write_toml, table,
                                                              key, instead):
    child = write_toml("old.toml", f'extends = "{baseline_path}"\n[{table}]\n{key}\n')
    with pytest.raises(ScenarioError) as err:
        load_scenario(child)
    assert err.value.line == 3 and err.value.key == f"{table}.{key.split(' ')[0]}"
    assert err.value.message.startswith("no longer a key") and instead in err.value.message


@pytest.mark.parametrize(("override", "key", "fragment"), [
    ("parks.grading.rank_shares={A=0.3, B=0.3, C=0.3, D=0.0}", "parks.grading.rank_shares",
     "add up to 1"),
    ("parks.grading.weights={mu_returns=0.0, industry_focus=0.0, operations=0.0, "
     "firm_cultivation=0.0, innovation=0.0, services=0.0, digital=0.0}", "parks.grading",
     "more than 0"),
    ("parks.grading.benchmarks={mu_returns=0.0}", "parks.grading.benchmarks.mu_returns",
     "benchmark > 0"),
    ('parks.demonstration.keep_min_grade="A"', "parks.demonstration.keep_min_grade",
     "stricter than min_grade"),
    ("parks.demonstration.requires_platforms=true", "parks.demonstration", "list of platforms"),
    ('parks.demonstration.requires_platforms=["coffee"]', "parks.demonstration",
     "services"),
    ("policies.mu_pricing.rank_shares={A=0.5, B=0.5, C=0.5, D=0.5}",
     "policies.mu_pricing.rank_shares", "add up to 1"),
    ("enterprises.registration_rate_per_year=0.0", "enterprises.registration_rate_per_year",
     "greater than 0"),
    ("shocks=[{name='x', start='2020-02', end='2020-02', growth_drift_per_year=-1.0, "
     "exit_hazard_multiplier=1.0, relocation_multiplier=1.0, recovery_half_life_months=0.0}]",
     "shocks", "greater than 0"),
    ('policies.land.allocation="monthly"', "policies.land.allocation", "quarterly"),
    ('policies.national.rd_super_deduction.rate_changes={"2021-01"=9.0}',
     "policies.national.rd_super_deduction", "within [0, 5]"),
    ('policies.national.rd_super_deduction.rate_changes={"2021-13"=1.0}',
     "policies.national.rd_super_deduction.rate_changes", "2021-13"),
    ("policies.national.small_firm_relief.relief_share_of_revenue=0.9",
     "policies.national.small_firm_relief.relief_share_of_revenue", "0.5"),
    ('policies.relief.park_models=["village"]', "policies.relief.park_models", "government"),
    ("policies.relief.rent_waived_share=1.5", "policies.relief.rent_waived_share", "1"),
    ("district.credit_access_share=-0.1", "district.credit_access_share", "0"),
    ("district.revenue_per_employee_yuan=0.0", "district.revenue_per_employee_yuan",
     "greater than 0"),
    ("enterprises.no_credit_growth_drift_per_year=0.1",
     "enterprises.no_credit_growth_drift_per_year", "0"),
    ("enterprises.no_credit_shock_exit_multiplier=0.5",
     "enterprises.no_credit_shock_exit_multiplier", "1"),
    ("enterprises.tech_intensity_elasticity=-1.0", "enterprises.tech_intensity_elasticity",
     "0"),
])
def test_the_new_keys_refuse_bad_values_naming_the_key(baseline_path, override, key, fragment):
    with pytest.raises(ScenarioError) as err:
        load_scenario(baseline_path, overrides=[override])
    assert err.value.key.startswith(key) and fragment in str(err.value), str(err.value)


def test_only_a_park_operating_at_the_start_has_platforms_already(baseline_path, write_toml):
    child = write_toml("platform.toml", f"""extends = "{baseline_path.as_posix()}"
[[parks.initial]]
name = "new"
status = "building"
opens = "2020-01"
floor_area_m2 = 50000.0
lead_sector = "machinery_equipment"
development_model = "government"
platform = true
""")
    with pytest.raises(ScenarioError) as err:
        load_scenario(child)
    assert "only a park operating at the start" in str(err.value)


def test_a_child_without_a_name_is_named_after_its_file_with_a_warning(tmp_path, baseline_path,
                                                                      parksim_cli):
    """Two files whose results share a name are indistinguishable in a results folder: a child
    that writes no name takes its file's, and the command line says so in one line."""
    child = tmp_path / "more_land.toml"
    child.write_text(f'extends = "{baseline_path.as_posix()}"\n[policies.land]\ntake_up = 0.95\n')
    with pytest.warns(parksim.scenario.ScenarioWarning, match="named 'more_land' after its file"):
        assert parksim.load_scenario(child).name == "more_land"
    proc = parksim_cli("validate", child, cwd=tmp_path)
    assert proc.returncode == 0 and "(more_land:" in proc.stdout
    assert proc.stderr.splitlines() == [
        f"parksim: warning: {child}: writes no name and would inherit 'baseline' from "
        "baseline.toml; named 'more_land' after its file"]
    named = tmp_path / "named.toml"
    named.write_text(f'extends = "{baseline_path.as_posix()}"\nname = "land_plan"\n')
    proc = parksim_cli("validate", named, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "" and "(land_plan:" in proc.stdout
