"""DVC's views a person reads: a cell's metrics file holds its aggregate figures (`rnnops metrics` prints them a
screen wide), a multi-step cell's per-step figures are a plots file that dvc.yaml draws against h, and
dvc.yaml charts every cell of every dataset; `rnnops plots` leaves out the charts of a dataset that did not run."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from flows.core import paths, perstep
from flows.core.atomic import read_json
from flows.core.params import cells_of, planned_net, with_defaults
from flows.graph import dvc_views as dvcviews
from flows.graph import dvc_yaml as dvcgraph
from flows.scoring.regression_nets import table_csv
from models.metrics import horizon_report
from tests.conftest import REPO, dvc, git, tiny_params, write_params

SCREEN = 200  # characters: `rnnops metrics` on the committed results stays within it
TALL = 60  # lines per dataset: its figures, one a row, and the verdicts (the per-step keys made it 400+)
MULTI = {"task": "seq2seq", "horizon": 5, "hidden_size": 4, "num_layers": 1, "epochs": 1, "batch_size": 32,
         "lr": 0.01}


def per_step_keys(metrics: dict) -> list[str]:
    return [key for split in perstep.SPLITS for key in metrics.get(split, {}) if perstep.PER_STEP.match(key)]


def test_the_per_step_table_keeps_every_figure_of_both_splits(tmp_path):
    """A stocks-like cell (val and test, test the headline): the table holds what the metrics lose, the headline
    split under its own names (what dvc.yaml's chart names), and reads back to the same metrics."""
    rng = np.random.default_rng(3)
    real = {split: rng.normal(size=(12, 4)) for split in perstep.SPLITS}

    def report(split):
        return horizon_report(real[split], real[split] + 0.1, {"persistence": real[split] * 0.5,
                                                                "seasonal_naive": real[split] * 0.9},
                              variance=np.full((12, 4), 0.02), prices=True)

    metrics = {"cell": "s2s", "headline": {"metric": "rmse", "baseline": "persistence", "split": "test"},
               "val": report("val"), "test": report("test"), "train_seconds": 1.0}
    kept, table = perstep.split_steps(metrics)
    assert per_step_keys(metrics) and not per_step_keys(kept)
    assert kept["test"]["rmse"] == metrics["test"]["rmse"] and kept["val"]["coverage95"] == metrics["val"]["coverage95"]
    assert table["h"] == [1, 2, 3, 4] and list(table)[0] == "h"
    assert table["rmse"] == [metrics["test"][f"rmse_h0{h}"] for h in range(1, 5)]
    assert table["val_seasonal_naive_rmse"][3] == metrics["val"]["seasonal_naive_rmse_h04"]
    assert {"mape", "crps", "coverage80", "val_coverage95"} <= set(table)
    assert perstep.with_steps(kept, table) == metrics
    path = tmp_path / "s2s.horizons.csv"
    path.write_text(table_csv(table))
    assert perstep.with_steps(kept, perstep.read_table(path)) == metrics  # 17 digits: lossless


def test_dvc_yaml_charts_every_cell_of_every_dataset_and_rmse_against_h_for_the_multi_step_ones():
    params = with_defaults(yaml.safe_load((REPO / "params.yaml").read_text()))
    graph = dvcgraph.plan(REPO, params)
    charts = {name: chart for entry in dvcgraph.plots(graph, params) for name, chart in entry.items()}
    multi = 0
    for dataset, stages in graph.items():
        for cell in cells_of(params, dataset):
            outs = [next(iter(o)) if isinstance(o, dict) else o for o in stages[f"evaluate-{dataset}-{cell}"]["outs"]]
            assert list(charts[f"{dataset}-{cell}"]["y"]) == [f"plots/{dataset}/{cell}.csv"], (dataset, cell)
            steps = f"plots/{dataset}/{cell}.horizons.csv"
            if planned_net(params, dataset, cell).multi_step:
                multi += 1
                chart = charts[f"{dataset}-{cell}-horizons"]
                assert chart["x"] == "h" and chart["y"] == {steps: ["rmse", "persistence_rmse", "seasonal_naive_rmse"]}
                assert chart["template"] == dvcviews.STEPS  # y on a log scale (.dvc/plots/steps.json)
                assert steps in outs, (dataset, cell, outs)
            else:
                assert f"{dataset}-{cell}-horizons" not in charts and steps not in outs
    assert multi >= 5  # cosine's four model types and stocks' seq2seq


def test_rnnops_metrics_prints_the_committed_results_a_screen_wide(tmp_path):
    """The committed metrics are a real run's: no per-step key in them, every multi-step cell's curves in its
    plots file, and every figure DVC reads on a table a screen wide, one a row."""
    files = sorted((REPO / "metrics").glob("*/*.json"))
    params = with_defaults(yaml.safe_load((REPO / "params.yaml").read_text()))
    assert files
    for path in files:
        metrics = read_json(path)
        assert not per_step_keys(metrics), path
        net = planned_net(params, path.parent.name, path.stem)
        assert paths.horizons_file(REPO, path.parent.name, path.stem).exists() == bool(net and net.multi_step), path
    root = tmp_path / "clone"
    shutil.copytree(REPO / "metrics", root / "metrics")
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    git(root, "init", "-q")
    assert dvc(root, "init", "-q").returncode == 0
    env = dict(os.environ, PYTHONPATH=str(REPO), DVC_NO_ANALYTICS="1")
    done = subprocess.run([sys.executable, "-P", "-m", "flows.cli", "metrics"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= SCREEN, max(lines, key=len)
    blocks = re.split(r"\n(?=metrics/\w+:\n)", done.stdout)
    assert {b.split(":", 1)[0] for b in blocks} == {f"metrics/{p.name}" for p in (REPO / "metrics").iterdir()}
    for block in blocks:
        assert len(block.splitlines()) <= TALL, block[:300]
    rows = {line.split()[0] for line in lines if line.strip()}
    for path in files:
        for key, value in flat(read_json(path)).items():
            assert value is None or key in rows or any(line.startswith(f"{key} ({path.stem})") for line in lines), key
    head = subprocess.Popen([sys.executable, "-P", "-m", "flows.cli", "metrics"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head.stdout.readline()
    head.stdout.close()  # `rnnops metrics | head -1`: the reader leaves after one line
    assert head.wait(timeout=300) == 1
    assert head.stderr.read() == b""  # no BrokenPipeError traceback
    none = subprocess.run([sys.executable, "-P", "-m", "flows.cli", "metrics", "metrics/nothing"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert none.returncode == 2 and none.stderr.startswith("rnnops: error: no metrics to show in metrics/nothing; ")
    assert len(none.stderr.splitlines()) == 1 and not none.stdout, none.stderr


def flat(metrics: dict, prefix: str = "") -> dict:
    found = {}
    for key, value in metrics.items():
        found.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return found


def charts_of(page: Path) -> dict[str, list]:
    """DVC's page: chart id -> the data values of its vega-lite spec."""
    html = page.read_text(encoding="utf-8")
    specs = re.findall(r'<div id = "(.*?)">\s*<script type = "text/javascript">\s*var spec = (.*?);\n', html, re.S)
    return {name: json.loads(spec).get("data", {}).get("values", []) for name, spec in specs}


@pytest.mark.slow
def test_a_multi_step_cells_curves_are_a_plots_file_drawn_by_dvc(project, monkeypatch):
    """Real stages in a git + DVC repo (cosine: a one-step and a multi-step cell; stocks planned, not run):
    the per-step figures are in MLflow and the horizons file, not the metrics JSON, and `dvc plots show`
    draws RMSE against h; `rnnops plots` leaves out the skipped dataset's empty charts."""
    from flows.stages.evaluate import evaluate
    from flows.stages.ingest import ingest
    from flows.stages.train import train
    from flows.stages.windows import make_windows

    params = tiny_params(("cosine", "stocks"))
    params["cosine"]["cells"] = ["rnn", "s2s"]
    params["cosine"]["train"]["rnn"]["epochs"] = 1
    params["cosine"]["train"]["s2s"] = {"kind": "gru", **MULTI}
    write_params(project, params)
    dvcgraph.sync(project, params)
    dvcviews.sync_template(project)  # the chart templates dvc.yaml names, as `rnnops dvc-yaml` writes them
    git(project, "add", "-A")
    git(project, "commit", "-qm", "a multi-step cell")
    monkeypatch.setenv("RNNOPS_PROGRESS_BAR", "0")
    ingest(project, "cosine")
    make_windows(project, "cosine")
    returned = {}
    for cell in ("rnn", "s2s"):
        train(project, "cosine", cell)
        returned[cell] = evaluate(project, "cosine", cell)

    stored = read_json(paths.metrics_file(project, "cosine", "s2s"))
    assert not per_step_keys(stored) and stored["val"]["rmse"] == returned["s2s"]["val"]["rmse"]
    table = perstep.read_table(paths.horizons_file(project, "cosine", "s2s"))
    assert table["h"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert table["rmse"] == [returned["s2s"]["val"][f"rmse_h0{h}"] for h in range(1, 6)]
    assert perstep.read_metrics(project, "cosine", "s2s")["val"] == returned["s2s"]["val"]
    run = MlflowClient().get_run(read_json(paths.model_dir(project, "cosine", "s2s") / "run.json")["run_id"])
    assert run.data.metrics["val/rmse_h05"] == pytest.approx(table["rmse"][-1])  # MLflow keeps every figure
    assert not paths.horizons_file(project, "cosine", "rnn").exists()
    assert not per_step_keys(read_json(paths.metrics_file(project, "cosine", "rnn")))

    assert dvc(project, "plots", "show", "-o", "all").returncode == 0
    drawn = charts_of(project / "all/index.html")
    steps = drawn["cosine-s2s-horizons"]
    assert {v["field"] for v in steps} == {"rmse", "persistence_rmse", "seasonal_naive_rmse"} and len(steps) == 15
    assert all(drawn[f"cosine-{cell}"] for cell in ("rnn", "s2s"))
    assert {name for name, values in drawn.items() if not values} == {f"stocks-{c}" for c in cells_of(params, "stocks")}
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([sys.executable, "-P", "-m", "flows.cli", "plots", "-o", "shown"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert set(charts_of(project / "shown/index.html")) == {"cosine-rnn", "cosine-s2s", "cosine-s2s-horizons"}
