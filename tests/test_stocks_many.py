"""Many tickers, one model (stocks_many): per-series snapshots and scaling, one global model through the
pipeline on three fake-yfinance tickers, per-series and pooled scores, the local models and `rnnops predict`."""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flows import datasets
from flows.datasets.base import Unscorable
from flows.graph.lineage import data_source
from flows.orchestration.pipeline import pipeline
from flows.stages.ingest import ingest
from flows.stages.windows import make_windows
from models.errors import InvalidParameter
from models.price_windows import PriceTransform
from tests.conftest import REPO, TINY_STOCKS, tiny_params, write_params
from tests.test_dvc_deps import recorded_stages, undeclared

TICKERS = ("AAA", "BBB", "CCC")
DAYS = pd.bdate_range("2015-06-01", "2017-01-31")  # covers the tiny profile's 2016-01 .. 2017-01 splits
TINY_MANY = {
    "cells": ["gru"],
    "ingest": {"source": "yfinance", "tickers": list(TICKERS), "start": "2015-06-01", "end": "2017-02-01",
               "interval": "1d", "column": "Open", "max_gap_days": 10, "retries": 1},
    "windows": {**TINY_STOCKS["windows"], "target": "log_return"},
    "train": {"gru": {"hidden_size": 4, "num_layers": 1, "epochs": 2, "batch_size": 64, "lr": 0.01, "clip": 1.0}},
    "evaluate": {"batch_size": 100},
    "backtest": {"folds": 2, "horizon": 10, "refit": False, "epochs": 1},
}


def market(seed: int, start: float, days=DAYS) -> pd.DataFrame:
    """A geometric random walk with every column Yahoo has, at its own price level."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0003, 0.015, len(days))))
    return pd.DataFrame({"Open": close * (1 + rng.normal(0, 0.003, len(days))), "High": close * 1.01,
                         "Low": close * 0.99, "Close": close, "Volume": 1e6}, index=pd.DatetimeIndex(days, name="Date"))


def many_params(**ingest) -> dict:
    params = tiny_params(("stocks_many",))
    params["stocks_many"] = copy.deepcopy(TINY_MANY)
    params["stocks_many"]["ingest"].update(ingest)
    return params


def csv_root(tmp_path, frames: dict[str, pd.DataFrame]):
    """A root whose stocks_many reads one CSV per ticker (the csv source's mapping form)."""
    (tmp_path / "data/sources").mkdir(parents=True, exist_ok=True)
    for ticker, frame in frames.items():
        frame.to_csv(tmp_path / f"data/sources/{ticker.lower()}.csv")
    write_params(tmp_path, many_params(source="csv", tickers={t: [f"data/sources/{t.lower()}.csv"] for t in frames}))
    return tmp_path


def windows_of(root):
    spec = json.loads((root / "data/windows/stocks_many/spec.json").read_text())
    return spec, np.load(root / "data/windows/stocks_many/series.npy")


def test_each_series_is_scaled_by_its_own_fit_rows_and_windows_never_cross(tmp_path):
    frames = {t: market(seed, level) for t, seed, level in zip(TICKERS, (1, 2, 3), (20.0, 300.0, 1500.0))}
    root = csv_root(tmp_path, frames)
    ingest(root, "stocks_many")
    make_windows(root, "stocks_many")
    spec, series = windows_of(root)
    assert list(spec["series"]) == list(TICKERS)
    for ticker, frame in frames.items():
        fit_rows = frame.loc["2016-01-01":"2016-10-31", "Open"].to_numpy()  # train_start .. the day before val_start
        assert spec["series"][ticker]["transform"] == PriceTransform.fit(fit_rows, "log_return").to_dict()
    splits = datasets.get("stocks_many").load(root)
    parts = splits.info["series"]
    assert len(splits.train) == sum(len(p.train) for p in parts.values())
    second = parts["BBB"].train
    x, y = splits.train[len(parts["AAA"].train)]  # the first window of the second series is wholly its own
    one = spec["series"]["BBB"]
    assert np.array_equal(x.numpy().ravel(), series[one["at"] + second.starts[0]:][:second.window])
    assert one["at"] == spec["series"]["AAA"]["series_length"]

    before = {t: (spec["series"][t], series[one_["at"]:one_["at"] + one_["series_length"]].copy())
              for t, one_ in spec["series"].items()}
    frames["BBB"] = frames["BBB"] * np.linspace(1, 4, len(DAYS))[:, None]  # another series moves a lot
    csv_root(tmp_path, frames)
    ingest(root, "stocks_many")
    make_windows(root, "stocks_many")
    spec, series = windows_of(root)
    for ticker in ("AAA", "CCC"):
        one = spec["series"][ticker]
        assert one == before[ticker][0]
        assert np.array_equal(series[one["at"]:one["at"] + one["series_length"]], before[ticker][1])
    assert spec["series"]["BBB"]["transform"] != before["BBB"][0]["transform"]
    # the MLflow run names every series as its data
    assert data_source(root, "stocks_many") == (
        "local", "AAA, BBB, CCC 2015-06-01..2017-01-31 from " + ", ".join(f"data/sources/{t.lower()}.csv"
                                                                            for t in TICKERS))


def test_a_saved_model_reads_each_series_through_its_own_saved_transform(tmp_path):
    frames = {t: market(seed, level) for t, seed, level in zip(TICKERS, (1, 2, 3), (20.0, 300.0, 1500.0))}
    root = csv_root(tmp_path, frames)
    ingest(root, "stocks_many")
    make_windows(root, "stocks_many")
    plugin = datasets.get("stocks_many")
    saved = tmp_path / "model"
    saved.mkdir()
    for name, data in {**plugin.model_files(plugin.load(root)), "config.json": {"window": 10}}.items():
        (saved / name).write_text(json.dumps(data))
    frames["BBB"] = frames["BBB"] * np.linspace(1, 4, len(DAYS))[:, None]  # today's data: BBB refits
    csv_root(tmp_path, frames)
    ingest(root, "stocks_many")
    make_windows(root, "stocks_many")
    today = plugin.load(root)
    read = plugin.splits_for_saved(today, saved)
    old = json.loads((saved / "transform.json").read_text())["series"]["BBB"]["transform"]
    bbb = read.info["series"]["BBB"]
    assert bbb.info["spec"]["transform"] == old != today.info["spec"]["series"]["BBB"]["transform"]
    expected = PriceTransform(**old).to_series(np.asarray(today.info["spec"]["series"]["BBB"]["prices"]))
    assert np.array_equal(bbb.val.series.numpy().ravel(), expected)
    assert read.info["series"]["AAA"] is today.info["series"]["AAA"] and len(read.val) == len(today.val)
    transform = json.loads((saved / "transform.json").read_text())
    del transform["series"]["CCC"]
    (saved / "transform.json").write_text(json.dumps(transform))
    with pytest.raises(Unscorable, match="it was trained on AAA, BBB \\(Open\\), the data is AAA, BBB, CCC"):
        plugin.splits_for_saved(today, saved)


@pytest.mark.parametrize(("tickers", "source", "says"), [
    ([], "yfinance", "stocks_many.ingest.tickers is empty; list at least one ticker"),
    ("GOOG", "yfinance", "stocks_many.ingest.tickers must be a list of symbols for source yfinance"),
    (["GOOG", "goog"], "yfinance", "stocks_many.ingest.tickers names GOOG twice; list each ticker once."),
    (["GOOG", "no way"], "yfinance", "stocks_many.ingest.tickers: ticker 'no way' is not a valid symbol"),
    (["GOOG"], "csv", "stocks_many.ingest.tickers must map each ticker to its CSV file(s) for source csv"),
    ({"GOOG": []}, "csv", "stocks_many.ingest.tickers.GOOG must be a CSV path or a list of them"),
])
def test_a_bad_tickers_list_is_one_sentence(tickers, source, says):
    params = many_params(source=source, tickers=tickers)
    with pytest.raises(InvalidParameter) as err:
        datasets.get("stocks_many").check(params)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_bad_list_stops_the_stage_in_one_line_and_a_short_series_is_named(tmp_path):
    write_params(tmp_path, many_params(tickers=["GOOG", "GOOG"]))
    done = subprocess.run([sys.executable, "-m", "flows.stages.ingest", "stocks_many"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "rnnops: error: stocks_many.ingest.tickers names GOOG twice; list each ticker once."
    assert not (tmp_path / "data/raw/stocks_many").exists()

    frames = {"AAA": market(1, 20.0), "LATE": market(2, 50.0, pd.bdate_range("2016-10-24", "2017-01-31"))}
    root = csv_root(tmp_path, frames)
    ingest(root, "stocks_many")
    with pytest.raises(InvalidParameter, match=r"^the LATE series: only 6 training days for a window of 10; "):
        make_windows(root, "stocks_many")
    assert not (root / "data/windows/stocks_many").exists()


@pytest.fixture
def fake_yahoo(tmp_path, monkeypatch):
    """yfinance answers each ticker from market/<TICKER>.csv (tests/fakeyahoo), in every stage's process."""
    folder = tmp_path / "market"
    folder.mkdir()
    monkeypatch.setenv("RNNOPS_FAKE_YAHOO", str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests" / "fakeyahoo"),
                                                      os.environ.get("PYTHONPATH", "")]))
    return folder


@pytest.mark.slow
def test_one_global_model_on_three_fake_yahoo_tickers_with_covariates_scored_per_series(
        project, mlflow_uri, prefect_harness, fake_yahoo, tmp_path, monkeypatch):
    for ticker, seed, level in zip((*TICKERS, "^GSPC"), (1, 2, 3, 4), (20.0, 300.0, 1500.0, 2000.0)):
        market(seed, level).to_csv(fake_yahoo / f"{ticker}.csv")
    params = many_params(others=["^GSPC"])  # with covariates: an index read beside each ticker, the calendar
    params["stocks_many"]["windows"]["covariates"] = {"others": ["^GSPC"], "future": ["day_of_week"]}
    write_params(project, params)
    (tmp_path / "records").mkdir()  # the fake's sitecustomize starts the dependency recorder too
    monkeypatch.setenv("RNNOPS_RECORD_DIR", str(tmp_path / "records"))
    monkeypatch.setenv("RNNOPS_PROGRESS_BAR", "0")
    outcomes = pipeline(root=str(project), datasets=["stocks_many"])
    assert [(o.dataset, o.status) for o in outcomes] == [("stocks_many", "ok")], outcomes
    records = recorded_stages(project, tmp_path / "records")
    assert "local-stocks_many-gru" in records and "backtest-stocks_many-gru" in records
    assert undeclared(project, records) == []
    assert sorted(p.name for p in (project / "data/raw/stocks_many").glob("*.csv")) == \
        [f"{t}.csv" for t in (*TICKERS, "^GSPC")]
    model = json.loads((project / "data/models/stocks_many/gru/config.json").read_text())["net"]
    assert model["input_size"] == 4  # the return, the index's return, the day of the week's (sin, cos)

    metrics = json.loads((project / "metrics/stocks_many/gru.json").read_text())
    for split in ("val", "test"):
        figures = metrics[split]
        assert figures["series_count"] == 3 and list(figures["series"]) == list(TICKERS)
        for key in ("rmse", "persistence_rmse", "drift_rmse", "skill", "dm_pvalue", "conformal_coverage95"):
            assert key in figures and all(key in figures["series"][t] for t in TICKERS)
        assert all("conformal_width95" in figures["series"][t] for t in TICKERS)  # on each one's price scale
    # per series on its own price scale: the 1500-dollar series' errors are the largest
    test = metrics["test"]["series"]
    assert test["CCC"]["persistence_rmse"] > test["BBB"]["persistence_rmse"] > test["AAA"]["persistence_rmse"]
    assert metrics["test"]["rmse"] < 0.2  # pooled on the log scale: a relative error
    table = (project / "plots/stocks_many/gru.csv").read_text().splitlines()
    assert table[0] == ("window,ticker,date,real,persistence,drift,predicted,real_pct,persistence_pct,drift_pct,"
                        "predicted_pct")
    assert len(table) == 1 + 3 * 22  # the business days of January 2017, per ticker

    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("rnnops").experiment_id
    [train] = client.search_runs([experiment], "tags.dataset = 'stocks_many' and tags.kind = 'training'")
    assert train.data.metrics["test/series/BBB/rmse"] == test["BBB"]["rmse"]
    assert train.data.metrics["test/rmse"] == metrics["test"]["rmse"]

    backtest = json.loads((project / "metrics/stocks_many/backtest_gru.json").read_text())
    assert backtest["tickers"] == list(TICKERS) and backtest["folds"] == 2
    folds = backtest["per_fold"]
    assert folds[0]["last_day"] < folds[1]["first_day"] and folds[-1]["last_day"] == "2016-10-31"  # before val
    assert all(list(f["series"]) == list(TICKERS) and "skill" in f["series"]["BBB"] for f in folds)
    assert backtest["mean_skill"] == pytest.approx(np.mean([f["skill"] for f in folds]))
    [run] = client.search_runs([experiment], "tags.dataset = 'stocks_many' and tags.kind = 'backtest'")
    assert run.data.metrics["backtest/mean_skill"] == pytest.approx(backtest["mean_skill"])

    local = json.loads((project / "metrics/stocks_many/local_gru.json").read_text())
    assert local["tickers"] == list(TICKERS) and local["selected_on_val"] in ("global", "local")
    for ticker in TICKERS:
        row = local["test"]["series"][ticker]
        assert row["global_rmse"] == test[ticker]["rmse"] and row["local_rmse"] > 0
        assert "global_vs_local_dm_pvalue" in row
    assert client.search_runs([experiment], "tags.dataset = 'stocks_many' and tags.kind = 'local'")
    report = (project / "reports/stocks_many/index.html").read_text()
    assert "global vs local DM p" in report and "95% conformal coverage" in report
    assert all(f"<td>{t}</td>" in report for t in TICKERS)

    done = subprocess.run([sys.executable, "-m", "flows.cli", "predict", "stocks_many"], cwd=project,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if " after 2017-01-31: forecast " in line]
    assert [line.split()[0] for line in lines] == list(TICKERS)
    out = done.stdout.splitlines()
    for ticker, line in zip(TICKERS, lines):  # each forecast with its own series' conformal intervals
        at = out.index(line)
        assert out[at + 1].startswith("  80% interval ") and out[at + 2].startswith("  95% interval "), ticker
        low, high = map(float, out[at + 2].split()[2::2])
        assert low < float(line.split("forecast ")[1].split()[0]) < high


def test_a_backtest_fold_trains_on_every_series_before_it_and_forecasts_its_days(tmp_path):
    from flows.datasets.stocks import window_config
    from flows.datasets.stocks.backtest import folds_of
    from flows.datasets.stocks.covariates import snapshot_with_others
    from flows.datasets.stocks.many_backtest import fold_sets, fold_windows

    frames = {t: market(seed, level) for t, seed, level in zip(TICKERS, (1, 2, 3), (20.0, 300.0, 1500.0))}
    root = csv_root(tmp_path, frames)
    ingest(root, "stocks_many")
    params = many_params()
    wcfg = window_config(params, "stocks_many")
    snapshots = {t: snapshot_with_others(root, t, {}, "stocks_many") for t in TICKERS}
    folds = folds_of(snapshots["AAA"].index, wcfg, params["stocks_many"]["backtest"], "stocks_many")
    assert len(folds) == 2 and folds[-1]["test"][1] == "2016-10-31"  # the day before validation starts
    assert folds[0]["test"][1] < folds[1]["test"][0] and folds[1]["train"][1] == folds[0]["test"][1]
    for fold in folds:
        parts = fold_windows(snapshots, wcfg, fold, "stocks_many", None)
        trains, tests = fold_sets(parts)
        assert len(trains) == sum(len(p) for p in trains.parts.values())
        for ticker, (_, one) in parts.items():
            dates = np.asarray(one["dates"])
            train, test = trains.parts[ticker], tests[ticker]
            offset = PriceTransform(**one["transform"]).offset
            train_days = dates[np.asarray(train.starts) + train.window + offset]
            test_days = dates[np.asarray(test.starts) + test.window + offset]
            assert max(train_days) <= fold["train"][1] < fold["test"][0] == min(test_days), ticker
            assert max(test_days) == fold["test"][1] and len(test_days) == params["stocks_many"]["backtest"]["horizon"]
            fit = frames[ticker].loc[fold["train"][0]:fold["train"][1], "Open"].to_numpy()  # its own rows, before it
            assert one["transform"] == PriceTransform.fit(fit, "log_return").to_dict(), ticker
