"""The report site and DVC's own plots page, rendered from a tiny run and opened in headless Chromium:
every image loads, no local link is broken, nothing overflows horizontally, DVC's charts are drawn
offline; and each of those checks fails on a page broken on purpose."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.core import paths
from flows.core.atomic import read_json
from flows.graph import dvc_views as dvcviews
from flows.graph import dvc_yaml, lineage
from flows.stages.evaluate import evaluate
from flows.stages.ingest import ingest
from flows.stages.report import report
from flows.stages.train import train
from flows.stages.windows import make_windows
from tests.browser import browser
from tests.conftest import REPO, dvc, git, tiny_params, write_params, write_tiny_corpus

pytestmark = pytest.mark.slow  # a tiny run of two datasets, then Chromium: about 2 minutes on 2 busy cores
RUN = ("cosine", "text")  # stocks is planned but never run: a skipped dataset
CELL = "rnn"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A tiny project (cosine + text, one cell) run stage by stage in this process, then `dvc plots show`."""
    root = tmp_path_factory.mktemp("site") / "project"
    root.mkdir()
    for name in ("flows", "models"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / ".dvcignore", root / ".dvcignore")
    params = tiny_params(("cosine", "stocks", "text"))
    params["cells"] = [CELL]
    params["text"]["evaluate"]["length"] = 400  # samples longer than the page is wide
    write_params(root, params)
    write_tiny_corpus(root)
    corpus = root / "data/sources/tiny.txt"  # one line: samples wrap only where the page wraps them
    corpus.write_text(corpus.read_text().replace("\n", " "))
    dvc_yaml.sync(root, params)
    git(root, "init", "-q")
    git(root, "config", "user.email", "ci@example.invalid")
    git(root, "config", "user.name", "ci")
    assert dvc(root, "init", "-q").returncode == 0
    dvcviews.sync_template(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tiny project")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv("RNNOPS_PROGRESS_BAR", "0")
        for dataset in RUN:
            ingest(root, dataset)
            make_windows(root, dataset)
            train(root, dataset, CELL)
            evaluate(root, dataset, CELL)
            report(root, dataset)
    shown = dvc(root, "plots", "show")
    assert shown.returncode == 0, shown.stderr
    return root


def test_the_report_site_in_chromium(site):
    pages = [site / "reports/index.html", *(site / "reports" / d / "index.html" for d in RUN)]
    with browser() as inspect:
        found = {page.parent.name: inspect(page) for page in pages}
    for name, seen in found.items():
        assert seen["images"] == [], (name, seen["images"])
        assert seen["overflow"] == [], (name, seen["overflow"])
        assert seen["missing"] == [] and seen["anchors"] == [], (name, seen["missing"], seen["anchors"])
    assert {"cosine/index.html", "text/index.html"} <= set(found["reports"]["links"])
    assert "stocks/index.html" not in found["reports"]["links"]  # skipped: no report, no link
    # every image evaluate made for a cell is on its page, SVG shown and PNG linked
    for dataset in RUN:
        made = {p.stem for p in paths.figures_dir(site, dataset, CELL).glob("*.png")}
        assert "predictions" in made and {p.stem for p in paths.figures_dir(site, dataset, CELL).glob("*.svg")} == made
        page = (site / "reports" / dataset / "index.html").read_text()
        for stem in made:
            assert f'<img src="{CELL}_{stem}.svg"' in page and f'href="{CELL}_{stem}.png"' in page
    # lineage: the run's commit, data hash, what differs from the reference recipe and its MLflow link
    cosine = (site / "reports/cosine/index.html").read_text()
    run_id = read_json(paths.model_dir(site, "cosine", CELL) / "run.json")["run_id"]
    assert re.search(rf'href="http://127\.0\.0\.1:5000/#/experiments/\d+/runs/{run_id}\?workflowType=machine_learning"',
                     cosine)
    assert git(site, "rev-parse", "HEAD").strip() in cosine
    assert lineage.data_hash(site, "cosine").split()[0] in cosine
    assert "<code>hidden_size</code>: 16 <span class=\"muted\">(reference: 200)</span>" in cosine
    assert "<code>epochs</code>" not in cosine  # 10, as in the reference recipe
    # text samples are escaped and wrapped in <pre>
    text = (site / "reports/text/index.html").read_text()
    assert "temperature 0.5</h3><pre>" in text


def test_dvc_plots_show_draws_every_chart_offline(site):
    page = site / "dvc_plots/index.html"
    html = page.read_text()
    assert not re.search(r"<script[^>]+src=", html), "a script loaded from elsewhere: blank offline"
    with browser() as inspect:
        seen = inspect(page)
    charts = {c["id"]: c for c in seen["charts"]}
    assert set(charts) == {f"{d}-{CELL}" for d in ("cosine", "stocks", "text")}
    for dataset in RUN:
        assert charts[f"{dataset}-{CELL}"]["marks"] > 0, charts
    assert charts[f"stocks-{CELL}"]["marks"] == 0  # skipped: an empty chart, not a broken page
    assert seen["overflow"] == [] and seen["images"] == []


def test_a_date_axis_chart_is_drawn(site, tmp_path):
    """stocks' table has ISO dates for x: dvc.yaml names the date template, and its chart has data marks."""
    project = tmp_path / "project"
    shutil.copytree(site, project, ignore=shutil.ignore_patterns("mlflow.db", "mlartifacts", "data"))
    rows = [f"2017-01-{day:02d},{780 + day},{779 + day},{779.5 + day},{781 + day}" for day in range(3, 23)]
    (project / "plots/stocks").mkdir(parents=True)
    (project / f"plots/stocks/{CELL}.csv").write_text("date,real,persistence,drift,predicted\n" + "\n".join(rows))
    assert dvc(project, "plots", "show", "-o", "dated").returncode == 0
    with browser() as inspect:
        charts = {c["id"]: c for c in inspect(project / "dated/index.html")["charts"]}
    assert charts[f"stocks-{CELL}"]["marks"] > 0, charts


def test_metrics_show_significant_digits(site):
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([sys.executable, "-P", "-m", "flows.cli", "metrics", "metrics/cosine", "--md"], cwd=site,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    header, _, row = done.stdout.splitlines()[:3]
    columns = [c.strip() for c in header.strip("|").split("|")]
    mse = row.strip("|").split("|")[columns.index("val.mse")].strip()
    expected = read_json(paths.metrics_file(site, "cosine", CELL))["val"]["mse"]
    assert float(mse) == pytest.approx(expected, rel=1e-3), (mse, expected)


def test_the_browser_checks_fail_on_broken_pages(site, tmp_path):
    """Each check, on a copy of a real page broken on purpose: a missing image, a long unwrapped line, a
    <pre> that does not wrap, a dead link and anchor, and DVC's page with its charts' script removed."""
    shutil.copytree(site / "reports", tmp_path / "reports")
    broken = tmp_path / "reports/cosine"
    (broken / f"{CELL}_predictions.svg").unlink()
    page = broken / "index.html"
    page.write_text(page.read_text().replace("</body>", (
        f'<p style="white-space:nowrap">{"overflowing " * 400}</p>'
        f'<pre style="white-space:pre;overflow-wrap:normal">{"x" * 3000}</pre>'
        '<a href="nowhere.html">dead</a><a href="#nothing">dead anchor</a></body>')))
    plots = tmp_path / "dvc_plots/index.html"
    plots.parent.mkdir()
    plots.write_text(re.sub(r"vegaEmbed\('#", "void('#", (site / "dvc_plots/index.html").read_text()))
    with browser() as inspect:
        seen, charts = inspect(page), inspect(plots)["charts"]
    assert seen["images"] == [f"{CELL}_predictions.svg"]
    assert {o.split()[0] for o in seen["overflow"]} == {"document", "pre:"}, seen["overflow"]
    assert seen["missing"] == ["nowhere.html"] and seen["anchors"] == ["#nothing"]
    assert charts and not any(c["drawn"] or c["marks"] for c in charts), charts


def test_the_committed_offline_plots_template_is_current():
    config = (REPO / ".dvc/config").read_text()
    assert f"html_template = {dvcviews.NAME}" in config
    assert (REPO / ".dvc" / dvcviews.NAME).read_text(encoding="utf-8") == dvcviews.offline_template(), \
        "run `rnnops dvc-yaml` to rewrite .dvc/offline_plots.html"
    assert (REPO / f".dvc/plots/{dvcviews.DATES}.json").read_text(encoding="utf-8") == dvcviews.date_template()
