"""Other series as past covariates (an index ingested beside the ticker): each one's daily log return of Close
on the ticker's dates, from closes on or before each date only; no later value of it enters a window."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from flows.core.paths import raw_dir
from flows.datasets import get
from flows.datasets.stocks.covariates import build_inputs, check_covariates, with_others
from flows.datasets.stocks.predict import next_inputs
from flows.datasets.stocks.prices import to_canonical_csv
from models.errors import InvalidParameter
from tests.conftest import REPO, tiny_params, write_params
from tests.test_covariates import COLUMNS, config, market, perturbed_after, windows

CHOSEN = {"past": ["volume"], "others": ["^GSPC"], "future": ["day_of_week"]}
COLUMN = 2  # of the model series: 0 the target, 1 volume, 2 the index's return


def save(root, ticker, frame) -> None:
    path = raw_dir(root, "stocks") / f"{ticker}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_canonical_csv(frame[list(COLUMNS)]))


def build(root, frame, fitted=None):
    cfg = config("log_return", CHOSEN)
    joined = with_others(root, frame, check_covariates(cfg.covariates, "stocks.windows"), "GOOG", "stocks")
    return build_inputs(joined, "Open", cfg, cfg.splits(), "GOOG", fitted=fitted)


def test_another_series_enters_as_its_daily_log_return_of_close(tmp_path):
    frame, index = market(), market(seed=1)
    save(tmp_path, "^GSPC", index)
    joined = with_others(tmp_path, frame, {"others": ["^GSPC"]}, "GOOG", "stocks")
    assert np.array_equal(joined["^GSPC"].to_numpy()[1:], np.diff(np.log(index["Close"].to_numpy())))
    assert joined["^GSPC"].iloc[0] == 0.0  # no close before the first day: no change known
    assert list(joined.columns) == [*frame.columns, "^GSPC"] and joined.index.equals(frame.index)

    k = 40
    save(tmp_path, "^GSPC", index.drop(index.index[k]))  # a day the index lacks: its last close carries over
    gap = with_others(tmp_path, frame, {"others": ["^GSPC"]}, "GOOG", "stocks")["^GSPC"].to_numpy()
    close = np.log(index["Close"].to_numpy())
    assert gap[k] == 0.0 and gap[k + 1] == close[k + 1] - close[k - 1]  # the two days' move on the next day

    for short in (index.iloc[5:], index.iloc[:-1]):  # starts after the ticker / ends before it: stale, refused
        save(tmp_path, "^GSPC", short)
        with pytest.raises(InvalidParameter, match=r"the \^GSPC snapshot runs .* but GOOG's .*; ingest both over "
                                                   r"the same dates"):
            with_others(tmp_path, frame, {"others": ["^GSPC"]}, "GOOG", "stocks")


def test_no_later_close_of_the_other_series_enters_a_window(tmp_path):
    frame, index = market(), market(seed=1)
    save(tmp_path, "^GSPC", index)
    series, spec = build(tmp_path, frame)
    assert spec["covariates"]["features"] == ["volume", "^GSPC", "day_of_week_sin", "day_of_week_cos"]
    for k, (name, start, last_day) in enumerate(windows(spec)[::4]):
        save(tmp_path, "^GSPC", perturbed_after(index, last_day, k))  # every later value of the index changed
        end = start + spec["window"]
        changed, _ = build(tmp_path, frame, fitted=spec)
        assert np.array_equal(changed[start:end], series[start:end]), (name, start)
        assert changed[end, COLUMN] != series[end, COLUMN]  # it reached the forecast day's own return
        if name != "train":  # a fresh fit of the scaler never sees the rows after the fit period either
            assert np.array_equal(build(tmp_path, frame)[0][start:end], series[start:end]), (name, start)
    save(tmp_path, "^GSPC", index)


def test_predict_reads_the_other_series_as_the_windows_stage_did(tmp_path):
    frame, index = market(), market(seed=1)
    save(tmp_path, "^GSPC", index)
    series, spec = build(tmp_path, frame)
    fitted = {"transform": spec["transform"], "covariates": spec["covariates"]}
    need, last = spec["window"] + 1, spec["test"][1] - 1  # the last test window forecasts the last day
    snapshot = with_others(tmp_path, frame.iloc[:-1], fitted["covariates"], "GOOG", "stocks")  # as predict joins it
    inputs = next_inputs(series[last : last + spec["window"], 0], snapshot.iloc[-need:], fitted, "GOOG", "stocks")
    assert np.array_equal(inputs, series[last : last + spec["window"]])


def test_other_series_that_are_not_fetched_or_not_tickers_are_refused_in_one_sentence():
    params = tiny_params(("stocks",))
    assert get("stocks").source_files(params) == params["stocks"]["ingest"]["paths"]  # csv without others
    params["stocks"]["windows"]["covariates"] = {"others": ["^GSPC"]}
    with pytest.raises(InvalidParameter, match=r"stocks.windows.covariates.others lists \^GSPC, which "
                                               r"stocks.ingest.others does not fetch; add it there"):
        get("stocks").check(params)
    params["stocks"]["ingest"]["others"] = {"^GSPC": "data/sources/index.csv"}
    get("stocks").check(params)  # csv: a mapping ticker -> file(s)
    assert "data/sources/index.csv" in get("stocks").source_files(params)  # a DVC dep of ingest
    params["stocks"]["ingest"]["others"] = ["^GSPC"]
    with pytest.raises(InvalidParameter, match="others must be a mapping ticker -> CSV file"):
        get("stocks").check(params)
    params["stocks"]["ingest"].update(source="yfinance", others=[params["stocks"]["ingest"]["ticker"]])
    with pytest.raises(InvalidParameter, match="a ticker forecast itself; list other series only"):
        get("stocks").check(params)
    with pytest.raises(InvalidParameter, match=r"covariates.others must be a list of distinct tickers"):
        check_covariates({"others": "^GSPC"}, "stocks.windows")


def test_yfinance_ingest_fetches_each_other_series_into_its_own_snapshot(tmp_path, monkeypatch):
    market_dir = tmp_path / "market"
    market_dir.mkdir()
    for ticker, seed in (("GOOG", 0), ("^GSPC", 1)):
        market("2016-01-04", "2017-01-31", seed).rename_axis("Date").to_csv(market_dir / f"{ticker}.csv")
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    params = tiny_params(("stocks",))
    params["stocks"]["ingest"].update(source="yfinance", paths=[], others=["^gspc"], start="2016-01-04",
                                      end="2017-02-01")
    params["stocks"]["windows"]["covariates"] = {"others": ["^GSPC"]}
    write_params(project, params)
    env = dict(os.environ, RNNOPS_FAKE_YAHOO=str(market_dir),  # tests/fakeyahoo answers in yfinance's format
               PYTHONPATH=os.pathsep.join([str(REPO / "tests" / "fakeyahoo"), str(REPO)]))
    done = subprocess.run([sys.executable, "-m", "flows.stages.ingest", "stocks"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    raw = raw_dir(project, "stocks")
    assert sorted(p.name for p in raw.glob("*.csv")) == ["GOOG.csv", "^GSPC.csv"]
    meta = json.loads((raw / "^GSPC.meta.json").read_text())
    assert meta["ticker"] == "^GSPC" and meta["source"] == "yfinance" and meta["rows"] == len(market("2016-01-04",
                                                                                                    "2017-01-31"))
