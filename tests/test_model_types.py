"""Every model type through `rnnops run` on a tiny cosine, H = 50: comparable per-horizon metrics, a
learning signal beating persistence, the figures in the report, and the MLflow runs."""
import json
import os
import subprocess
import sys

import pytest
import yaml
from mlflow.tracking import MlflowClient

from models.errors import InvalidParameter
from tests.conftest import copy_seed_csvs, git, tiny_params, write_params

pytestmark = pytest.mark.slow
H = 50
TYPES = {  # cell -> its params beyond COMMON: each type once, both heads, a bidirectional encoder
    "recursive": {"task": "recursive"},
    "synced": {"task": "synced", "head": "gaussian"},
    "seq2seq": {"task": "seq2seq", "scheduled_sampling": 0.5, "bidirectional": True},
    # point head: a Gaussian decoder trained with teacher forcing learns variances far too narrow for its
    # free-running forecasts, and its tiny-profile runs were unstable (the stocks test covers a Gaussian seq2seq)
    "attention": {"task": "attention", "attention": "additive", "scheduled_sampling": 0.5},
}
COMMON = {"kind": "gru", "hidden_size": 16, "num_layers": 1, "epochs": 8, "batch_size": 25, "lr": 0.01, "clip": 1.0,
          "horizon": H}  # each type through train and evaluate in ~1-6 minutes on a busy 2-core machine


def test_every_model_type_runs_through_rnnops_run_with_comparable_per_horizon_metrics(project, mlflow_uri):
    params = tiny_params()
    cosine = params["cosine"]
    cosine["ingest"] = {"points": 500, "start": 1.0, "stop": 50.0}  # ~64 samples a cycle
    cosine["windows"] = {"window": 30, "train_windows": 300, "val_windows": 120}
    cosine["cells"] = list(TYPES)  # the reference recipes' one-step cells, unchanged, are tests/test_pipeline.py's
    cosine["train"].update({cell: {**COMMON, **more} for cell, more in TYPES.items()})
    write_params(project, params)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "model types")

    env = dict(os.environ, RNNOPS_PROGRESS_BAR="0", PREFECT_HOME=str(project.parent / "prefect-home"))
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=2400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert {f"train-cosine-{cell}" for cell in TYPES} <= set(stages)
    assert stages["report-cosine"]["params"][0] == "cosine.cells"

    steps = [f"rmse_h{h:02d}" for h in range(1, H + 1)]
    found = {}
    for cell in TYPES:
        val = json.loads((project / f"metrics/cosine/{cell}.json").read_text())["val"]
        found[cell] = val
        assert all(k in val for k in steps) and val["horizon"] == H, cell
        # a learning signal: below persistence (the last value repeated) over 50 steps; the verdict is against
        # the stronger seasonal-naive, and 120 windows overlapping by 79 lags are too few to test it
        assert val["rmse"] < val["persistence_rmse"] and val["persistence_skill"] > 0, (cell, val["rmse"])
        assert val["seasonal_naive_rmse"] < val["persistence_rmse"]
        assert val["strongest_baseline"] == "seasonal_naive" and val["dm_pvalue"] is None and val["dm_stretches"] < 8
        figures = project / "plots/cosine" / cell
        assert {"rmse_by_horizon.png", "forecasts.png", "predictions.png"} <= {p.name for p in figures.iterdir()}
    assert 0 < found["synced"]["coverage95"] <= 1 and found["synced"]["crps_h50"] > 0
    assert (project / "plots/cosine/attention/attention.png").exists()
    html = (project / "reports/cosine/index.html").read_text()
    assert "attention_attention.png" in html and "seq2seq_rmse_by_horizon.png" in html

    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("rnnops").experiment_id], "tags.kind = 'training'")
    names = {r.data.tags["cell"]: set(r.data.metrics) for r in runs}
    per_step = {cell: {m for m in names[cell] if m.startswith("val/rmse_h")} for cell in TYPES}
    assert all(keys == {f"val/{s}" for s in steps} for keys in per_step.values())
    # registered and elected among themselves (mean RMSE over h), apart from the one-step family
    assert sorted(v.tags["cell"] for v in client.search_model_versions(f"name='rnnops-cosine-h{H}'")) == sorted(TYPES)
    assert not client.search_model_versions("name='rnnops-cosine'")
    champion = client.get_model_version_by_alias(f"rnnops-cosine-h{H}", "champion").tags["cell"]
    assert champion == min(TYPES, key=lambda cell: found[cell]["rmse"])
    print({cell: {"rmse": round(v["rmse"], 4), "persistence": round(v["persistence_rmse"], 4),
                  "seasonal_naive": round(v["seasonal_naive_rmse"], 4), "h01": round(v["rmse_h01"], 4),
                  "h50": round(v["rmse_h50"], 4), "coverage95": v.get("coverage95")} for cell, v in found.items()})


def test_a_gaussian_seq2seq_forecasts_the_stocks_test_month_from_december(tmp_path, mlflow_uri, monkeypatch):
    """The stages in this process, on the tutorial's CSVs: H = 20 trading days on the price scale, the 95%
    interval's coverage of January 2017, the attention-free figures, and a log_return target refused."""
    from flows.stages.evaluate import evaluate
    from flows.stages.ingest import ingest
    from flows.stages.train import train
    from flows.stages.windows import make_windows

    copy_seed_csvs(tmp_path)
    params = tiny_params(("stocks",))
    stocks = params["stocks"]
    stocks["cells"] = ["s2s"]
    stocks["train"] = {"s2s": {"kind": "lstm", "task": "seq2seq", "head": "gaussian", "horizon": 20, "hidden_size": 8,
                               "epochs": 3, "batch_size": 32, "lr": 0.01, "clip": 1.0}}
    write_params(tmp_path, params)
    monkeypatch.setenv("RNNOPS_PROGRESS_BAR", "0")
    ingest(tmp_path, "stocks")
    make_windows(tmp_path, "stocks")
    train(tmp_path, "stocks", "s2s")
    metrics = evaluate(tmp_path, "stocks", "s2s")
    test = metrics["test"]
    assert metrics["headline"]["split"] == "test" and test["windows"] == 1 and test["horizon"] == 20
    assert test["seasonal_period"] == 5 and "rmse_h20" in test and "mape_h20" in test
    assert 0 <= test["coverage95"] <= 1 and test["coverage95"] * 20 == round(test["coverage95"] * 20)
    # persistence over the month from the last December open, on the price scale (dollars, not MinMax units)
    assert 5 < test["persistence_rmse"] < 50
    assert {"forecasts.png", "rmse_by_horizon.png"} <= {p.name for p in (tmp_path / "plots/stocks/s2s").iterdir()}
    # conformal intervals beside the head's own: calibrated on all of validation for the test month, and on
    # validation's first half for its second half; the calibration travels with the weights
    val = metrics["val"]
    assert val["conformal_calibration_windows"] == val["windows"] // 2
    assert test["conformal_windows"] == 1 and test["conformal_calibration_windows"] == val["windows"]
    for level in ("80", "95"):
        assert 0 <= test[f"conformal_coverage{level}_h20"] <= 1 and 0 < test[f"conformal_width{level}_h20"] < 1000
        assert test[f"gaussian_coverage{level}"] == test[f"coverage{level}"] and test[f"gaussian_width{level}_h01"] > 0
    assert test["conformal_width95"] > test["conformal_width80"]
    calibration = json.loads((tmp_path / "plots/stocks/s2s/conformal.json").read_text())
    assert len(calibration["quantiles"]["95"]) == 20 and len(calibration["scores_h1"]) == val["windows"]

    stocks["windows"]["target"] = "log_return"
    write_params(tmp_path, params)
    make_windows(tmp_path, "stocks")
    with pytest.raises(InvalidParameter, match="set stocks.windows.target: level"):
        train(tmp_path, "stocks", "s2s")
