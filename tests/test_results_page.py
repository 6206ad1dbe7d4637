"""The figures in README.md and docs/ cannot drift: docs/results.md is what the committed JSON gives, and every
number the README's or a docs page's prose quotes is on that page or is a named non-result. Also the 'stays
below from then on' reading of a validation curve that benchmarks/tbptt_cosine.py reports as its time to quality."""
from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import results_page  # noqa: E402
from curves import median_time, settled_at  # noqa: E402

# Numbers in README.md and docs/*.md that are not results, by why they are there. A measured figure never goes
# here: it goes on the page (a renderer in benchmarks/results_page.py) or out of the prose.
NOT_RESULTS = {
    "addresses, ports and years of the data": "127.0.0.1 4200 8000 2012 2014 03 27 2016 2018",
    "sizes of the reference recipes and of params' defaults": (
        "0.2 1.0 1e-3 3e-3 4e-3 5e-3 7e-3 1e-6 0.05 0.25 1.25 0.95 30 32 60 90 256 300 3000"),
    "start-up seconds of the team servers, measured by hand to size the tests' timeouts": "22",
    "sizes of the corpora and of the default budgets, and arithmetic on them": "465k 1,115,394 150k 1.5M 1.2M 1M",
    "examples and constants in explanations (a price of 105, a cosine cycle of ~190 samples, 1280 px)": (
        "105 190 1280 0.000123456789"),
    "the aim the text figures are judged against": "1.40",
    "years of the papers cited": "2005",
    "versions of the tools we run on": "3.17",
    "the test suite's size and minutes, kept by hand (not a result of the models)": "447 42 43",
    "docs/intervals.md: ACI's step and its paper's year, the conformal tests' draws and tolerances": (
        "0.005 2021 5000 1500 3.2 0.9 99 93"),
}


def allowed() -> set[str]:
    return {n for words in NOT_RESULTS.values() for n in words.split()}


def test_committed_page_is_what_the_json_gives():
    page = (ROOT / results_page.PAGE).read_text()
    assert page == results_page.build(ROOT), "docs/results.md is stale: run `make results-page` and commit it"


def quoting_pages() -> list[Path]:
    """README.md and every Markdown page of docs/ but the generated one: their prose quotes, never measures."""
    docs = sorted(p for p in (ROOT / "docs").rglob("*.md") if p != ROOT / results_page.PAGE)
    return [ROOT / "README.md", *docs]


def test_the_documentation_pages_are_checked():
    names = {p.relative_to(ROOT).as_posix() for p in quoting_pages()}
    assert {"README.md", "docs/index.md", "docs/bptt.md"} <= names and results_page.PAGE.as_posix() not in names


@pytest.mark.parametrize("page", quoting_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_number_quoted_is_on_the_page_or_named(page):
    quoted = results_page.numbers(page.read_text())
    on_page = results_page.numbers((ROOT / results_page.PAGE).read_text())
    stray = sorted(quoted - on_page - allowed())
    assert not stray, f"{page.relative_to(ROOT)} quotes numbers that are on no generated page: {stray}"


def test_a_changed_result_changes_the_page(tmp_path):
    for part in ("params.yaml", "metrics", "benchmarks/results"):
        src, dst = ROOT / part, tmp_path / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    metrics = tmp_path / "metrics/cosine/rnn.json"
    m = json.loads(metrics.read_text())
    m["val"]["mse"] = 9.876e-9
    metrics.write_text(json.dumps(m))
    page = results_page.build(tmp_path)
    assert "9.876e-09" in page and "4.271e-12" not in page


def test_prose_numbers_skip_code_and_links():
    text = "val MSE 4.3e-12 in 4.9 s, 1,115,394 chars, 16.4M seen `port 4200` [x](http://h:5000)\n```\n77\n```\n"
    assert results_page.numbers(text) == {"4.3e-12", "4.9", "1,115,394", "16.4M"}


def test_a_curve_that_dips_then_rises_has_not_reached_the_target():
    dips = [(1, 1.0, 5e-3), (2, 2.0, 5e-5), (3, 3.0, 2e-4), (4, 4.0, 3e-4)]
    assert settled_at(dips, 1e-4) is None
    settles = [(1, 1.0, 5e-3), (2, 2.0, 5e-5), (3, 3.0, 2e-4), (4, 4.0, 9e-5), (5, 5.0, 1e-4)]
    assert settled_at(settles, 1e-4) == (4, 4.0)
    assert settled_at([(1, 1.0, 5e-5), (2, 2.0, math.nan)], 1e-4) is None  # a diverged end is not quality


def test_the_median_counts_seeds_that_never_settled_as_slowest():
    assert median_time([3.0, None, 1.0]) == 3.0
    assert median_time([None, None, 1.0]) is None
    assert median_time([2.0, 4.0, 1.0, 9.0]) == 3.0
