"""The stocks stages with covariates, end to end on a CSV in the seed tutorial's format (and an index beside it):
windows, training, the usual baselines and DM test, the backtest, and a forecast that reads the same inputs."""
import json
import subprocess
import sys

import pytest

from flows.orchestration.pipeline import pipeline
from tests.conftest import git, tiny_params, write_params
from tests.test_covariates import ALL, market
from tests.test_dvc_deps import record_env, recorded_stages, undeclared

pytestmark = pytest.mark.slow


def write_seed_format_csv(path, frame) -> None:
    """m/d/yyyy dates, "1,234,567" volumes and a trailing empty column, as the seed's Google CSVs."""
    lines = ["Date,Open,High,Low,Close,Volume,"]
    for day, row in frame.iterrows():
        prices = ",".join(f"{row[c]:.2f}" for c in ("Open", "High", "Low", "Close"))
        lines.append(f'{day.month}/{day.day}/{day.year},{prices},"{int(row["Volume"]):,}",')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_stocks_with_covariates_end_to_end(project, mlflow_uri, prefect_harness, tmp_path, monkeypatch):
    write_seed_format_csv(project / "data/sources/market.csv", market("2016-01-04", "2017-01-31"))
    write_seed_format_csv(project / "data/sources/index.csv", market("2016-01-04", "2017-01-31", seed=5))
    params = tiny_params(("stocks",))
    stocks = params["stocks"]
    stocks["ingest"].update(paths=["data/sources/market.csv"], others={"^GSPC": "data/sources/index.csv"})
    stocks["windows"]["covariates"] = {**ALL, "others": ["^GSPC"]}
    stocks["cells"] = ["lstm", "seq2seq"]  # the seed's many-to-one and a multi-step encoder-decoder
    stocks["train"]["seq2seq"] = {**stocks["train"]["gru"], "kind": "gru", "task": "seq2seq", "head": "gaussian",
                                  "horizon": 5}
    write_params(project, params)
    git(project, "add", "-A")
    record_env(monkeypatch, tmp_path / "records")  # every stage declares the covariate modules it imports
    outcomes = pipeline(root=str(project), datasets=["stocks"])
    assert [(o.dataset, o.status) for o in outcomes] == [("stocks", "ok")], outcomes
    problems = undeclared(project, recorded_stages(project, tmp_path / "records"))
    assert problems == [], "\n".join(problems)

    spec = json.loads((project / "data/windows/stocks/spec.json").read_text())
    assert len(spec["covariates"]["features"]) == 8 and "^GSPC" in spec["covariates"]["features"]
    assert (project / "data/raw/stocks/^GSPC.csv").exists()  # its own snapshot, versioned with the ticker's
    for cell in ("lstm", "seq2seq"):
        assert json.loads((project / f"data/models/stocks/{cell}/config.json").read_text())["net"]["input_size"] == 9
        test = json.loads((project / f"metrics/stocks/{cell}.json").read_text())["test"]
        for key in ("rmse", "persistence_rmse", "skill", "dm_pvalue", "strongest_baseline"):
            assert key in test, (cell, key)
        backtest = json.loads((project / f"metrics/stocks/backtest_{cell}.json").read_text())
        assert backtest["folds"] == 2
    lstm = json.loads((project / "metrics/stocks/lstm.json").read_text())["test"]
    assert "drift_rmse" in lstm
    saved = json.loads((project / "data/models/stocks/lstm/transform.json").read_text())
    assert saved["covariates"]["features"] == spec["covariates"]["features"] and "raw" not in saved["covariates"]

    seq2seq = json.loads((project / "data/models/stocks/seq2seq/config.json").read_text())["net"]
    assert seq2seq["future_inputs"] == 5  # each decoder step reads its session's calendar (2 + 2 + 1 columns)
    for cell in ("lstm", "seq2seq"):  # the decoder's input goes on with the next sessions' calendar
        done = subprocess.run([sys.executable, "-m", "flows.cli", "predict", "stocks", "--model-dir",
                               f"data/models/stocks/{cell}"], cwd=project, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "GOOG Open after 2017-01-31: forecast" in done.stdout
