"""The planner's report (``parksim.report.html``, ``parksim run --report``, ``parksim report``):
what it says (the headline sentence per target, what bound, the assumptions with their source
tags, the comparison paired only when the runs pair), what it does with bad input (one line,
the rest still built), and the page itself opened in a real headless browser (Debian's
chromium, driven by Selenium with chromium-driver): every image loads and has alt text, no
console errors, every table has header cells, no horizontal scroll at 1280 px, a print
stylesheet, and a screenshot kept as a test artifact."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

import parksim
from parksim.report.html import build_report, headline
from parksim.scenario.sources import parameters, source_notes, tags, written_keys

SMALL = ["district.firms=1500", 'calendar.horizon="2020-12"', 'targets.date="2020-12"']
ARTIFACTS = Path(os.environ.get("PARKSIM_TEST_ARTIFACTS",
                                Path(__file__).resolve().parent.parent / "test-artifacts"))


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


@pytest.fixture(scope="module")
def forecast_dir(tmp_path_factory, baseline_path, parksim_cli):
    """A small forecast over two years with its records: 8 runs on 2 parameter sets."""
    out = tmp_path_factory.mktemp("report") / "baseline"
    proc = parksim_cli("run", baseline_path, *_sets(SMALL), "-n", "8", "-k", "2", "-w", "2",
                       "-q", "--records", "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def boosted_dir(tmp_path_factory, scenarios_dir, parksim_cli):
    """The finance boost on the same seeds, replications and parameter sets."""
    out = tmp_path_factory.mktemp("report") / "finance_boost"
    proc = parksim_cli("run", scenarios_dir / "finance_boost.toml", *_sets(SMALL), "-n", "8",
                       "-k", "2", "-w", "2", "-q", "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def report_path(forecast_dir, boosted_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report-html")
    out = folder / "report.html"
    long_name = folder / ("a-folder-whose-name-is-far-too-long-to-fit-on-one-line-" * 4)
    long_name.mkdir()  # not a results directory: a long unbreakable line in the report
    report = build_report([forecast_dir, boosted_dir, long_name], out)
    assert report.path == out and len(report.problems) == 1
    return out


class _Page(HTMLParser):
    """The parts of a page the tests read: images, tables and their header cells, text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.tables = 0
        self.tables_with_th = 0
        self._in_table = False
        self._th = False
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append({k: v or "" for k, v in a.items()})
        elif tag == "table":
            self.tables += 1
            self._in_table, self._th = True, False
        elif tag == "th" and self._in_table:
            self._th = True
        elif tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src"))

    def handle_endtag(self, tag):
        if tag == "table":
            self.tables_with_th += self._th
            self._in_table = False

    def handle_data(self, data):
        self.text.append(data)


def _table(path: Path, caption: str) -> str:
    """The HTML of the table with this caption."""
    html = path.read_text(encoding="utf-8")
    found = re.search(rf"<caption>{re.escape(caption)}</caption>(.*?)</table>", html, re.S)
    assert found, f"no table captioned {caption!r}"
    return found.group(1)


def _page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.text = [" ".join(" ".join(page.text).split())]
    return page


# --------------------------------------------------------------------------- source tags


def test_source_notes_follow_tables_arrays_and_continued_comments(tmp_path):
    file = tmp_path / "s.toml"
    file.write_text(
        'name = "x"  # not a number [S me]\n'
        "[district]\n"
        "firms = 30000   # district firms [S seed article]\n"
        "rd_share = 0.25 # share doing R&D [E 0.1-0.3;\n"
        "                # district R&D intensity 3.4% [S]]\n"
        "[[parks.initial]]\n"
        'name = "a"      # [E]\n'
        "[[parks.initial]]\n"
        'name = "b # not a comment"\n'
        "floor_area_m2 = [1, 2,   # first [D sum]\n"
        "   3]           # rest [R]\n"
        "[policies.finance]\n"
        'window = { start = "2019-07", end = "2021-12" }  # [S policy]\n',
        encoding="utf-8")
    notes = source_notes([file])
    assert tags(notes["district.firms"]) == "S"
    assert tags(notes["district.rd_share"]) == "ES"
    assert "3.4%" in notes["district.rd_share"]
    assert notes["parks.initial[0].name"] == "[E]"
    assert "parks.initial[1].name" not in notes  # a '#' inside a string is not a comment
    assert tags(notes["parks.initial[1].floor_area_m2"]) == "DR"
    assert tags(notes["policies.finance.window"]) == "S"
    # a child's note replaces its parent's for the keys it sets
    child = tmp_path / "c.toml"
    child.write_text("[district]\nfirms = 100  # tried [E 50-200]\n", encoding="utf-8")
    both = source_notes([file, child])
    assert tags(both["district.firms"]) == "E" and tags(both["district.rd_share"]) == "ES"


def test_source_notes_survive_strings_headers_and_extends_chains(tmp_path):
    parent = tmp_path / "parent.toml"
    parent.write_text(
        "[district]                 # the pool [S census]\n"
        'name = "a [b"              # a bracket in a string opens nothing [E x]\n'
        'quote = "say \\" # not"     # after an escaped quote [R y]\n'
        "firms = 100                # [S seed]\n"
        "rd_share = 0.2             # [E 0.1-0.3]\n"
        '"造纸" = 0.3               # a quoted Chinese key [D sum]\n'
        "[[parks.initial]]          # [E] a placeholder\n"
        "firms = 3\n"
        "[parks.initial.extra]\n"
        "size = 2                   # [R z]\n", encoding="utf-8")
    notes = source_notes([parent])
    assert tags(notes["district"]) == "S"  # a header's note, under the table's path
    assert tags(notes["district.name"]) == "E" and tags(notes["district.quote"]) == "R"
    assert tags(notes["district.firms"]) == "S" and tags(notes["district.造纸"]) == "D"
    assert tags(notes["parks.initial[0]"]) == "E"
    assert tags(notes["parks.initial[0].extra.size"]) == "R"
    # a child writing a key without a note drops its parent's; its array replaces the parent's
    child = tmp_path / "child.toml"
    child.write_text("[district]\nfirms = 5\n[[parks.initial]]\nfirms = 1\n",
                     encoding="utf-8")
    chain = source_notes([parent, child])
    assert "district.firms" not in chain and tags(chain["district.rd_share"]) == "E"
    assert not any(k.startswith("parks.initial") for k in chain)
    assert "district.firms" in written_keys([parent, child])
    assert "district.floor_min_m2" not in written_keys([parent, child])


def test_the_shipped_baseline_tags_the_values_it_writes(baseline_path):
    """Every value the baseline file writes has a note naming where it comes from, beside it,
    on its table's header or as its table's source: the assumptions table is only as good as
    these tags, so a value written without one is caught here."""
    from parksim.report.html import _note

    scenario = parksim.load_scenario(baseline_path)
    notes = source_notes([baseline_path])
    written = written_keys([baseline_path])
    rows = list(parameters(scenario))
    cited = {r["path"].rsplit(".", 1)[0] for r in rows if r["path"].endswith(".source")}
    values = [r["path"] for r in rows if not r["path"].endswith(".source")
              and any(r["path"] == k or r["path"].startswith((k + ".", k + "["))
                      for k in written)]
    assert len(values) > 250
    untagged = sorted(p for p in values
                      if not tags(_note(notes, p)) and p.rsplit(".", 1)[0] not in cited)
    assert len(untagged) <= 3, untagged


def test_a_cap_that_bound_once_in_a_thousand_runs_is_said_to_have_rarely_bound():
    from parksim.report.html import _cap_sentence

    year = {"lever": "tax", "year": 2021, "share": 0.6, "used": "60%", "refused": "0.0"}
    rare = _cap_sentence("tax", [{**year, "bound_share": 0.001, "bound": "<1%"}])
    assert "bound in 2021 in <1% of runs" in rare and "rarely bound" in rare
    most = _cap_sentence("tax", [{**year, "bound_share": 0.7, "bound": "70%"}])
    assert "more money there would have reached more firms" in most
    never = _cap_sentence("tax", [{**year, "bound_share": 0.0, "bound": "0%"}])
    assert "never bound (at most 60% of it spent, in 2021)" in never


def test_headline_says_the_answer_in_one_sentence():
    row = {"key": "upgrades", "threshold": 50.0, "probability": 0.46, "ci_low": 0.43,
           "ci_high": 0.49, "median": 49.0}
    assert headline(row, "2021-12") == ("Upgrades: 46% likely to reach 50 by Dec 2021 "
                                        "(43-49%); median 49.")


# --------------------------------------------------------------------------- content


def test_the_report_holds_the_answer_what_bound_the_assumptions_and_provenance(
        report_path, forecast_dir):
    results = parksim.load_results(forecast_dir)
    page = _page(report_path)
    text = page.text[0]
    for row in results.summary["targets"]:
        assert headline(row, results.summary["target_date"]) in text
    assert re.search(r"budget cap of the finance lever \([^)]*\) (never bound|bound in \d{4})",
                     text)
    assert "The parks' space" in text and "The land quota" in text
    assert "What these probabilities are conditional on" in text
    assert results.summary["conditional_on"].split(".")[0] in text
    assert "district.relocation_rate_per_year" in text  # the assumptions table
    assert results.manifest["source_sha256"][:16] in text  # provenance
    # six fans per forecast, then P(met), ledger, grades, parks, occupancy (and survival
    # where records were kept): every figure is embedded, nothing comes from the network
    assert len(page.images) >= 2 * 6 + 1
    assert all(img["src"].startswith("data:image/png;base64,") for img in page.images)
    assert all(img.get("alt", "").strip() for img in page.images)
    assert not [u for u in page.links if re.match(r"(https?:)?//", u)]
    assert page.tables == page.tables_with_th


def test_forecasts_on_the_same_seeds_are_paired_others_side_by_side(
        report_path, forecast_dir, boosted_dir, tmp_path, parksim_cli, baseline_path):
    text = _page(report_path).text[0]
    assert "Comparison: baseline vs finance_boost" in text
    assert "change in P(met) (95% interval)" in text
    assert "policies.finance.take_up" in _table(report_path, "What differs between the scenarios")
    # another seed: side by side, saying why
    other = tmp_path / "other"
    proc = parksim_cli("run", baseline_path, *_sets(SMALL), "-n", "8", "-k", "2", "-q",
                       "--seed", "7", "-o", other)
    assert proc.returncode == 0, proc.stderr
    report = build_report([forecast_dir, other], tmp_path / "side.html")
    side = _page(report.path).text[0]
    assert "shown side by side, not paired" in side and "different seeds" in side
    assert "change in P(met) (95% interval)" not in side


def test_bad_input_is_one_line_each_and_the_rest_is_still_built(forecast_dir, boosted_dir,
                                                                 tmp_path):
    not_results = tmp_path / "notes"
    not_results.mkdir()
    copy = tmp_path / "copy"
    shutil.copytree(forecast_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["package_version"] = "0.0.1"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    report = build_report([forecast_dir, not_results, copy], tmp_path / "r.html")
    assert any("not a results directory" in p for p in report.problems)
    assert any("different versions of parksim" in p for p in report.problems)
    assert all("\n" not in p for p in report.problems)
    text = _page(report.path).text[0]
    assert "What this report could not show" in text
    assert "not a results directory" in text and "Parks recognised:" in text
    # a forecast without records has no survival curve: said in its place, not as a problem
    plain = build_report([boosted_dir], tmp_path / "plain.html")
    assert plain.problems == []
    assert "run the forecast with --records" in _page(plain.path).text[0]
    with pytest.raises(ValueError, match="not a results directory"):
        build_report([not_results], tmp_path / "n.html")
    assert not (tmp_path / "n.html").exists()
    # damaged manifests: not JSON, a JSON list; a forecast whose files changed
    for i, text in enumerate(("{not json", "[]")):
        bad = tmp_path / f"bad{i}"
        shutil.copytree(forecast_dir, bad)
        (bad / "manifest.json").write_text(text)
        report = build_report([forecast_dir, bad], tmp_path / f"bad{i}.html")
        assert len(report.problems) == 1 and str(bad) in report.problems[0]
    changed = tmp_path / "changed"
    shutil.copytree(forecast_dir, changed)
    (changed / "targets.csv").write_text("x\n")
    report = build_report([forecast_dir, changed], tmp_path / "changed.html")
    assert any("does not match the manifest" in p for p in report.problems)


# --------------------------------------------------------------------------- the command line


def test_run_report_writes_report_html_into_the_results_dir_and_its_manifest(
        tmp_path, baseline_path, tiny_args, parksim_cli):
    out = tmp_path / "run"
    proc = parksim_cli("run", baseline_path, *tiny_args, "-o", out, "--report", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # stdout stays one JSON object
    assert summary["report"] == str(out / "report.html")
    assert f"parksim: report written to {out / 'report.html'}" in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    # named in the manifest, not hashed: a report of the results may be written again
    assert manifest["report"] == "report.html" and "report.html" not in manifest["files"]
    text = _page(out / "report.html").text[0]
    assert "Parks recognised:" in text and "Provenance" in text
    proc = parksim_cli("report", out, "-o", out / "report.html")
    assert proc.returncode == 0, proc.stderr
    assert parksim.load_results(out).summary["targets"]  # still reads, hashes checked
    # the same directory again with --force and without --report: no stale report is left
    proc = parksim_cli("run", baseline_path, *tiny_args, "-o", out, "--force")
    assert proc.returncode == 0, proc.stderr
    assert not (out / "report.html").exists()
    assert "report" not in json.loads((out / "manifest.json").read_text())


def _tiny_child(tmp_path, parent, name, run=""):
    """A small version of ``parent`` (compare takes no --set)."""
    path = tmp_path / f"{name}.toml"
    path.write_text(f'extends = "{parent}"\nname = "{name}"\n[district]\nfirms = 1500\n'
                    '[calendar]\nhorizon = "2020-06"\n[targets]\ndate = "2020-06"\n' + run,
                    encoding="utf-8")
    return path


def test_compare_report_pairs_the_scenarios_and_draws_each_ledger(
        tmp_path, baseline_path, scenarios_dir, parksim_cli):
    out = tmp_path / "cmp"
    baseline_path = _tiny_child(tmp_path, baseline_path, "baseline")
    # its own [run] parameter_sets is not the comparison's: the first scenario's design holds
    boost = _tiny_child(tmp_path, scenarios_dir / "finance_boost.toml", "finance_boost",
                        run="[run]\nparameter_sets = 4\n")
    tiny_args = ["-n", "4", "-w", "2", "-q"]
    proc = parksim_cli("compare", baseline_path, boost, *tiny_args, "-o", out, "--report")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [f["name"] for f in manifest["forecasts"]] == ["baseline", "finance_boost"]
    assert manifest["report"] == "report.html"
    for entry in manifest["forecasts"]:  # each scenario's forecast, a results directory
        assert parksim.load_results(out / entry["dir"]).scenario.name == entry["name"]
    page = _page(out / "report.html")
    text = page.text[0]
    assert "Comparison: baseline vs finance_boost" in text
    assert "change in P(met) (95% interval)" in text
    ledgers = [i for i in page.images if "budget cap" in i["alt"]]
    assert len(ledgers) == 2
    # the comparison is the one compare prints without --report
    again = parksim_cli("compare", baseline_path, boost, *tiny_args, "--json")
    plain = json.loads(again.stdout)
    written = json.loads((out / "summary.json").read_text())
    assert written["targets"] == plain["targets"]
    # a file given twice is paired with itself, named apart
    twice = tmp_path / "twice"
    proc = parksim_cli("compare", baseline_path, baseline_path, *tiny_args, "-o", twice,
                       "--report", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["scenarios"] == ["baseline", "baseline #2"]
    assert sorted(p.name for p in (twice / "forecasts").iterdir()) == ["baseline", "baseline__2"]
    # a comparison whose forecasts were deleted: its report says so, the rest is built
    shutil.rmtree(twice / "forecasts" / "baseline__2")
    proc = parksim_cli("report", twice, "-o", tmp_path / "twice.html")
    assert proc.returncode == 0, proc.stderr
    assert "not a results directory" in proc.stderr and "Traceback" not in proc.stderr
    # --report needs the directory it writes into
    refused = parksim_cli("compare", baseline_path, baseline_path, *tiny_args, "--report")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "-o DIR" in refused.stderr


def test_parksim_report_of_results_and_of_bad_input(forecast_dir, boosted_dir, tmp_path,
                                                    parksim_cli):
    out = tmp_path / "both.html"
    proc = parksim_cli("report", forecast_dir, boosted_dir, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "Comparison: baseline vs finance_boost" in _page(out).text[0]
    # the default: report.html here
    proc = parksim_cli("report", forecast_dir, cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "report.html").is_file()
    # one bad directory among good ones: a warning line, the rest still built
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = parksim_cli("report", forecast_dir, empty, "-o", tmp_path / "some.html")
    assert proc.returncode == 0
    assert f"parksim: warning: {empty}: not a results directory" in proc.stderr
    # nothing to report, a bad extension, a missing folder: rows of tests/test_hostile.py


# --------------------------------------------------------------------------- the browser


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser():
    found = _chromium()
    if found is None:
        reason = "Debian's chromium and chromium-driver are not installed (apt-get install " \
                 "chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI is set, so the browser test must run")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_the_report_in_a_real_browser(browser, report_path, forecast_dir):
    browser.get(report_path.as_uri())
    state = browser.execute_script("""
        const imgs = [...document.images];
        const sheets = [...document.styleSheets];
        const rules = sheets.flatMap(s => [...s.cssRules]);
        return {
          images: imgs.length,
          loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
          without_alt: imgs.filter(i => !(i.getAttribute('alt') || '').trim()).length,
          tables: document.querySelectorAll('table').length,
          tables_with_th: [...document.querySelectorAll('table')]
              .filter(t => t.querySelector('th')).length,
          scroll_width: document.documentElement.scrollWidth,
          beyond: [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right
                           > document.documentElement.clientWidth + 1)
              .map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40)),
          spilling: [...document.querySelectorAll('th, td, li, p, code, dd')]
              .filter(e => e.scrollWidth > e.clientWidth + 1)
              .map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40)),
          client_width: document.documentElement.clientWidth,
          print_rules: rules.filter(r => r.media && [...r.media].includes('print')).length,
          height: document.documentElement.scrollHeight,
          text: document.body.innerText,
        };""")
    assert state["images"] >= 13
    assert state["loaded"] == state["images"]
    assert state["without_alt"] == 0
    assert state["tables"] > 0 and state["tables_with_th"] == state["tables"]
    assert state["client_width"] >= 1200
    assert state["scroll_width"] <= state["client_width"], "horizontal scroll at 1280 px"
    assert state["beyond"] == [] and state["spilling"] == []  # nothing wider than its box
    assert state["print_rules"] >= 1
    results = parksim.load_results(forecast_dir)
    for row in results.summary["targets"]:
        assert headline(row, results.summary["target_date"]) in state["text"]
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    pdf = browser.print_page()  # the print stylesheet in use: the report prints
    assert len(pdf) > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, min(state["height"], 16000))
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_the_land_quota_sentence_reads_the_projects_waiting_for_land():
    import pandas as pd

    from parksim.report.html import _land_sentence

    def series(waiting):  # replications x months of projects waiting at each month's end
        return pd.DataFrame([{"replication": r, "month": m, "projects_awaiting_land": w}
                             for r, row in enumerate(waiting) for m, w in enumerate(row)])

    assert "no park project ever waited" in _land_sentence(series([[0, 0], [0, 0]]))
    most = _land_sentence(series([[1, 2], [0, 1], [0, 0]]))
    assert "in 67% of runs" in most and "quota bound" in most
    assert "a median of 2 project-months" in most  # 3 and 1 where they waited
    assert "rarely" in _land_sentence(series([[0, 1]] + [[0, 0]] * 19))
