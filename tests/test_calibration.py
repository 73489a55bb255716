"""Calibration by ABC-SMC: it recovers a parameter from observations the model itself made,
flags a parameter the observations cannot identify, gives the same posterior with one and two
workers, and ``parksim calibrate`` writes a calibrated scenario that loads and a results
directory that ``load_results`` reads; bad calibration files are one located error.

Runs on a tiny district (1,500 firms, one year) with small populations, so the suite stays at
minutes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyabc")

import parksim  # noqa: E402
from parksim.execution.executors import LocalExecutor  # noqa: E402
from parksim.scenario import ScenarioError  # noqa: E402
from parksim.scenario.priors import realise  # noqa: E402
from parksim.study.calibration import load_calibration, run_calibration  # noqa: E402

TRUE_FLOOR = 330.0
FILE = """
name = "recovery"
scenario = "{baseline}"
overrides = ["district.firms=1500", "observations=[]"]
parameters = ["district.floor_m2_per_million_yuan", "policies.relief.take_up"]
replications = 2
seed = {seed}
population = 20
generations = 3
horizon = "2019-12"
predictive = 10
{targets}
"""


def _targets(baseline_path) -> str:
    """m2 per firm and firms per park at end-2019, as the model gives them at the true floor
    need (the mean of 24 replications; the standard error of a proposal's own summary, a mean
    of 2): observations of itself. At 330 m2 per M yuan the district's parks are full enough
    for the floor need to show (below about 270 it barely moves these two)."""
    base = parksim.load_scenario(baseline_path, ["district.firms=1500",
                                                 'calendar.horizon="2019-12"',
                                                 'targets.date="2019-12"'])
    truth = realise(base, {"district.floor_m2_per_million_yuan": TRUE_FLOOR})
    observed = []
    for key in ("m2_per_firm", "firms_per_park"):
        truth = truth.model_copy(update={"observations": (
            type(base.observations[0]).model_validate(
                {"key": key, "date": "2019-12", "value": 1.0}),)})
        values = parksim.simulate(truth, 24, seed=99, workers=2).observed["observed_0"]
        observed.append((key, float(values.mean()), float(values.std(ddof=1)) / 2 ** 0.5))
    return "\n".join(f'[[targets]]\nkey = "{k}"\ndate = "2019-12"\nvalue = {v}\nse = {se}\n'
                     for k, v, se in observed)


@pytest.fixture(scope="module")
def targets(baseline_path) -> str:
    return _targets(baseline_path)


FLAT = """extends = "{baseline}"
name = "flat"
[uncertain."district.floor_m2_per_million_yuan"]
dist = "uniform"
low = 160.0
high = 360.0
"""


def _calibrate(tmp_path, baseline_path, targets, seed, workers=2, name="out"):
    """A calibration of the floor need under a flat prior (so that the data, not the prior's
    peak, place the posterior) and of the relief lever's take-up."""
    flat = tmp_path / "flat.toml"
    flat.write_text(FLAT.format(baseline=baseline_path))
    path = tmp_path / f"calibration{seed}.toml"
    path.write_text(FILE.format(baseline=flat, seed=seed, targets=targets))
    plan = load_calibration(path)
    executor = LocalExecutor(workers)
    try:
        return run_calibration(plan, tmp_path / f"{name}{seed}", executor)
    finally:
        executor.close()


def test_calibration_recovers_a_known_parameter_and_flags_one_it_cannot(
        tmp_path, baseline_path, targets):
    inside = flagged = 0
    for seed in (1, 2, 3):
        result = _calibrate(tmp_path, baseline_path, targets, seed)
        floor, relief = result.summary["parameters"]
        inside += floor["p05"] <= TRUE_FLOOR <= floor["p95"]
        assert floor["identified"] and floor["p95"] - floor["p05"] < 0.8 * (
            floor["prior_p95"] - floor["prior_p05"])
        # the relief lever is off in the baseline: its take-up changes nothing observed (with
        # 20 particles a posterior can look narrower than its prior by chance: most seeds)
        flagged += not relief["identified"]
        assert relief["identified"] or any("policies.relief.take_up" in w
                                           for w in result.warnings)
        assert np.isclose(result.posterior["weight"].sum(), 1.0)
    assert inside >= 2 and flagged >= 2, (inside, flagged)


def test_same_seed_same_posterior_with_one_and_two_workers(tmp_path, baseline_path, targets):
    one = _calibrate(tmp_path, baseline_path, targets, 5, workers=1, name="one")
    two = _calibrate(tmp_path, baseline_path, targets, 5, workers=2, name="two")
    pd.testing.assert_frame_equal(one.posterior, two.posterior)
    assert one.summary["generations"] == two.summary["generations"]


def test_cli_calibrate_writes_a_calibrated_scenario(tmp_path, baseline_path, targets,
                                                   parksim_cli):
    path = tmp_path / "c.toml"
    path.write_text(FILE.format(baseline=baseline_path, seed=7, targets=targets))
    out = tmp_path / "cal"
    proc = parksim_cli("calibrate", path, "-o", out, "-w", "2", "--json", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [g["generation"] for g in summary["generations"]] == [0, 1, 2]
    posterior = parksim.load_results(out)
    assert list(posterior.columns) == ["district.floor_m2_per_million_yuan",
                                       "policies.relief.take_up", "weight"]
    calibrated = parksim.load_scenario(out / "calibrated.toml")
    assert calibrated.uncertain["district.floor_m2_per_million_yuan"].dist == "sample"
    assert calibrated.name == "baseline_calibrated"
    # the same command again finds the run finished, writes the same results and, with
    # --scenario, the calibrated scenario elsewhere: its paths relative to where it is
    (tmp_path / "shipped").mkdir()
    again = parksim_cli("calibrate", path, "-o", out, "-q", "--scenario",
                        "shipped/calibrated.toml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(parksim.load_results(out), posterior)
    shipped = tmp_path / "shipped" / "calibrated.toml"
    assert shipped.read_text().startswith("# Written by `parksim calibrate ")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "shipped" / "calibrated.posterior.parquet"), posterior)
    moved = parksim.load_scenario(shipped, ["district.firms=1500", 'calendar.horizon="2019-12"',
                                            'targets.date="2019-12"'])
    assert moved.uncertain["policies.relief.take_up"].dist == "sample"
    assert parksim.simulate(moved, 4, seed=1, workers=1).targets.shape[0] == 4
    wrong = parksim_cli("calibrate", path, "-o", out, "-q", "--scenario", "shipped/x.txt",
                        cwd=tmp_path)
    assert wrong.returncode == 2 and "--scenario" in wrong.stderr
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    refused = parksim_cli("calibrate", path, "-o", taken, "-q", cwd=tmp_path)
    assert refused.returncode == 2 and "holds no calibration" in refused.stderr


@pytest.mark.parametrize(("change", "fragment"), [
    (("policies.relief.take_up", "policies.finance.loan_yuan"), "has no prior"),
    (("policies.relief.take_up", "district.max_applications"), "continuous prior"),
])
def test_a_bad_calibration_file_is_one_located_error(tmp_path, baseline_path, change, fragment,
                                                     parksim_cli):
    path = tmp_path / "bad.toml"
    path.write_text(FILE.format(baseline=baseline_path, seed=1, targets="").replace(*change))
    with pytest.raises(ScenarioError, match=fragment) as caught:
        load_calibration(path)
    assert caught.value.file == str(path) and caught.value.key.startswith("parameters")
    proc = parksim_cli("calibrate", path, "-o", tmp_path / "x", "--json", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_a_calibration_resumes_by_generation_as_if_never_stopped(
        tmp_path, baseline_path, targets, monkeypatch):
    """Run to 2 generations then raise to 3, or stop in the middle of a generation and run
    again: the same posterior as one run of 3."""
    import parksim.study.calibration as calibration

    flat = tmp_path / "flat.toml"
    flat.write_text(FLAT.format(baseline=baseline_path))

    def plan(generations: int):
        path = tmp_path / f"g{generations}.toml"
        path.write_text(FILE.format(baseline=flat, seed=4, targets=targets)
                        .replace("generations = 3", f"generations = {generations}"))
        return load_calibration(path)

    executor = LocalExecutor(2)
    try:
        full = run_calibration(plan(3), tmp_path / "full", executor)
        run_calibration(plan(2), tmp_path / "grown", executor)
        grown = run_calibration(plan(3), tmp_path / "grown", executor)
        real = calibration._evaluator

        def failing(*args, **kwargs):  # a batch of the second generation never comes back
            evaluate, counter = real(*args, **kwargs)
            calls = {"n": 0}

            def once(batch):
                calls["n"] += 1
                if calls["n"] == 6:  # in the second generation (after the first is stored)
                    raise KeyboardInterrupt
                return evaluate(batch)
            return once, counter

        monkeypatch.setattr(calibration, "_evaluator", failing)
        with pytest.raises(KeyboardInterrupt):
            run_calibration(plan(3), tmp_path / "stopped", executor)
        monkeypatch.setattr(calibration, "_evaluator", real)
        stopped = run_calibration(plan(3), tmp_path / "stopped", executor)
        with pytest.raises(calibration.ResultsDirError,
                           match=r"the calibration \(its settings or scenario files\) changed"):
            other = plan(3).file.model_copy(update={"seed": 5})
            run_calibration(calibration.CalibrationPlan(
                plan(3).path, other, *list(plan(3).__dict__.values())[2:]),
                tmp_path / "full", executor)
    finally:
        executor.close()
    pd.testing.assert_frame_equal(full.posterior, grown.posterior)
    pd.testing.assert_frame_equal(full.posterior, stopped.posterior)
    assert full.summary["generations"] == stopped.summary["generations"]


def test_the_shipped_calibration_runs_end_to_end(tmp_path, scenarios_dir):
    """experiments/calibrate_2019.toml as shipped, on a population of 8 and one generation:
    its seven parameters and eight observations (two of the scenario, six targets) go through
    the whole path, predictive checks included."""
    plan = load_calibration(scenarios_dir.parent / "experiments" / "calibrate_2019.toml")
    assert len(plan.file.parameters) >= 4 and len(plan.run.observations) == 8
    assert all(t.source and (t.interval or t.se) for t in plan.file.targets)
    small = plan.file.model_copy(update={"population": 8, "generations": 1, "predictive": 3,
                                         "replications": 1})
    executor = LocalExecutor(2)
    try:
        result = run_calibration(type(plan)(plan.path, small, *list(plan.__dict__.values())[2:]),
                                 tmp_path / "small", executor)
    finally:
        executor.close()
    assert list(result.posterior.columns) == [*plan.file.parameters, "weight"]
    assert len(result.predictive) == 8 and result.predictive["median"].notna().all()


def test_the_shipped_calibrated_baseline_is_that_calibration_s_output(scenarios_dir):
    """scenarios/baseline_calibrated.toml extends the baseline, draws exactly the shipped
    calibration's parameters from the committed posterior sample, and writes each at its
    weighted posterior median; its header names the command that regenerates it."""
    path = scenarios_dir / "baseline_calibrated.toml"
    plan = load_calibration(scenarios_dir.parent / "experiments" / "calibrate_2019.toml")
    text = path.read_text(encoding="utf-8")
    assert ("parksim calibrate experiments/calibrate_2019.toml --scenario "
            "scenarios/baseline_calibrated.toml") in text.splitlines()[0]
    assert 'extends = "baseline.toml"' in text
    calibrated = parksim.load_scenario(path)
    posterior = pd.read_parquet(scenarios_dir / "baseline_calibrated.posterior.parquet")
    assert list(posterior.columns) == [*plan.file.parameters, "weight"]
    assert np.isclose(posterior["weight"].sum(), 1.0)
    baseline = parksim.load_scenario(scenarios_dir / "baseline.toml")
    for p in plan.file.parameters:
        prior = calibrated.uncertain[p]
        assert prior.dist == "sample" and prior.file == "baseline_calibrated.posterior.parquet"
        from parksim.scenario.priors import resolve
        order = np.argsort(posterior[p].to_numpy())
        cumulative = np.cumsum(posterior["weight"].to_numpy()[order])
        lo = posterior[p].to_numpy()[order][np.searchsorted(cumulative, 0.45)]
        hi = posterior[p].to_numpy()[order][np.searchsorted(cumulative, 0.55)]
        assert lo <= resolve(calibrated, p) <= hi, p  # near the weighted median
        assert baseline.uncertain[p].dist != "sample"
    others = set(baseline.uncertain) - set(plan.file.parameters)
    assert {p: calibrated.uncertain[p] for p in others} == {
        p: baseline.uncertain[p] for p in others}


def test_calibrate_from_python_returns_the_posterior_and_writes_the_scenario(
        tmp_path, baseline_path, targets):
    """``parksim.calibrate(FILE, DIR, scenario=PATH)``: what ``parksim calibrate --scenario``
    does, returning the posterior that ``load_results`` reads back."""
    path = tmp_path / "c.toml"
    path.write_text(FILE.format(baseline=baseline_path, seed=3, targets=targets)
                    .replace("generations = 3", "generations = 1")
                    .replace("population = 20", "population = 8"))
    posterior = parksim.calibrate(path, tmp_path / "out", workers=2,
                                  scenario=tmp_path / "fitted.toml")
    pd.testing.assert_frame_equal(posterior, parksim.load_results(tmp_path / "out"))
    assert np.isclose(posterior["weight"].sum(), 1.0)
    fitted = parksim.load_scenario(tmp_path / "fitted.toml")
    assert fitted.uncertain["policies.relief.take_up"].dist == "sample"
    assert (tmp_path / "fitted.posterior.parquet").exists()


def test_a_second_calibration_in_a_directory_being_written_is_refused(tmp_path, baseline_path,
                                                                        capsys):
    """While one calibration holds its directory (its lock), a second in the same directory is
    one line, exit 2, and changes nothing there: two would write one database at once."""
    from conftest import calibration_text

    from parksim.cli import main
    from parksim.io import DirectoryLock

    (tmp_path / "c.toml").write_text(calibration_text(baseline_path), encoding="utf-8")
    out = tmp_path / "cal"
    out.mkdir()
    (out / "calibration.json").write_text("{}")
    held = DirectoryLock(out)
    assert held.acquire()
    try:
        before = sorted((p.name, p.read_bytes()) for p in out.iterdir())
        assert main(["calibrate", str(tmp_path / "c.toml"), "-o", str(out), "-q", "-w", "1"]) == 2
        line = capsys.readouterr().err.strip()
        assert line == f"parksim: error: {out}: another run is writing into this directory"
        assert sorted((p.name, p.read_bytes()) for p in out.iterdir()) == before
    finally:
        held.release()
