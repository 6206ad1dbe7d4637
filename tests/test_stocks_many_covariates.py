"""Covariates for many series (stocks_many): built per series, each scaled on its own fit rows, an index
read beside every ticker; no later value of any series enters a window; a saved model reads each series
through its own saved scaler; predict builds each ticker's input as the windows stage did."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from flows import datasets
from flows.datasets.base import Unscorable
from flows.datasets.stocks.predict import forecast_each
from flows.stages.ingest import ingest
from flows.stages.windows import make_windows
from models.config import NetworkConfig
from models.covariates import FeatureScaler
from models.errors import InvalidParameter
from models.forecasters import build_network
from models.price_windows import PriceTransform
from tests.conftest import write_params
from tests.test_covariates import market, perturbed_after
from tests.test_stocks_many import many_params, windows_of

TICKERS = ("AAA", "BBB", "CCC")
CHOSEN = {"past": ["volume", "range"], "others": ["^IDX"], "future": ["day_of_week", "days_to_holiday"]}
FEATURES = ["volume", "range", "^IDX", "day_of_week_sin", "day_of_week_cos", "days_to_holiday"]
FIRST, LAST = "2015-06-01", "2017-01-31"


def frames_of(seeds=(1, 2, 3)):
    return {t: market(FIRST, LAST, seed) * level for t, seed, level in zip(TICKERS, seeds, (0.2, 3.0, 15.0))}


def project(tmp_path, frames, index, chosen=CHOSEN):
    """A csv stocks_many root with the three tickers, the index beside them and the covariates chosen."""
    (tmp_path / "data/sources").mkdir(parents=True, exist_ok=True)
    for name, frame in {**frames, "IDX": index}.items():
        frame.rename_axis("Date").to_csv(tmp_path / f"data/sources/{name.lower()}.csv")
    params = many_params(source="csv", tickers={t: f"data/sources/{t.lower()}.csv" for t in frames},
                         others={"^IDX": "data/sources/idx.csv"})
    params["stocks_many"]["windows"]["covariates"] = chosen
    write_params(tmp_path, params)
    ingest(tmp_path, "stocks_many")
    make_windows(tmp_path, "stocks_many")
    return windows_of(tmp_path)


def rows_of(spec, series, ticker):
    one = spec["series"][ticker]
    return series[one["at"] : one["at"] + one["series_length"]]


def test_each_series_gets_its_covariates_scaled_on_its_own_fit_rows(tmp_path):
    frames, index = frames_of(), market(FIRST, LAST, seed=9)
    spec, series = project(tmp_path, frames, index)
    assert series.shape[1] == 1 + len(FEATURES)
    for ticker, frame in frames.items():
        one = spec["series"][ticker]
        assert one["covariates"]["features"] == FEATURES
        fit = frame.loc["2016-01-01":"2016-10-31"]  # train_start .. the day before val_start
        volume = np.log1p(fit["Volume"].to_numpy())
        scaler = FeatureScaler.from_dict(one["covariates"]["scaler"])
        assert scaler.shift[0] == pytest.approx(volume.mean()) and scaler.scale[0] == pytest.approx(volume.std())
    # volume is scale-free after log1p only up to a shift: the three levels' scalers differ
    shifts = {spec["series"][t]["covariates"]["scaler"]["shift"][0] for t in TICKERS}
    assert len(shifts) == 3
    plugin = datasets.get("stocks_many")
    splits = plugin.load(tmp_path)
    x, _ = splits.train[0]
    assert tuple(x.shape) == (spec["window"], 1 + len(FEATURES))
    files = plugin.model_files(splits)["transform.json"]["series"]
    assert all(files[t]["covariates"]["features"] == FEATURES and "raw" not in files[t]["covariates"] for t in TICKERS)


def test_no_later_value_of_any_series_or_the_index_enters_a_window(tmp_path):
    frames, index = frames_of(), market(FIRST, LAST, seed=9)
    spec, series = project(tmp_path, frames, index)
    dates = spec["series"]["AAA"]["dates"]
    offset = 1  # log_return: series row s is day s + 1
    for k, day in enumerate(("2016-11-15", "2016-12-20", "2017-01-10")):  # after the fit rows: no refit moves
        cut = dates.index(day)
        changed_frames = {t: perturbed_after(f, f.index.get_loc(day), k) for t, f in frames.items()}
        changed, again = project(tmp_path / f"cut{k}", changed_frames, perturbed_after(index, index.index.get_loc(day),
                                                                                     k + 10))
        for ticker in TICKERS:
            before, after = rows_of(spec, series, ticker), rows_of(changed, again, ticker)
            known = cut - offset + 1  # the rows of the days up to and including `day`
            assert np.array_equal(before[:known], after[:known]), (ticker, day)
            assert not np.array_equal(before[known], after[known])  # the next day's own values did change
            assert np.array_equal(before[known, 4:], after[known, 4:])  # its calendar, known in advance, did not


def test_a_saved_model_reads_each_series_through_its_own_saved_scaler(tmp_path):
    frames, index = frames_of(), market(FIRST, LAST, seed=9)
    project(tmp_path, frames, index)
    plugin = datasets.get("stocks_many")
    saved = tmp_path / "model"
    saved.mkdir()
    for name, data in {**plugin.model_files(plugin.load(tmp_path)), "config.json": {"window": 10}}.items():
        (saved / name).write_text(json.dumps(data))
    frames["BBB"]["Volume"] = frames["BBB"]["Volume"] * 50  # today's BBB volume refits its scaler
    project(tmp_path, frames, index)
    today = plugin.load(tmp_path)
    read = plugin.splits_for_saved(today, saved)
    old = json.loads((saved / "transform.json").read_text())["series"]["BBB"]["covariates"]["scaler"]
    assert today.info["spec"]["series"]["BBB"]["covariates"]["scaler"] != old
    bbb = read.info["series"]["BBB"]
    assert bbb.info["spec"]["covariates"]["scaler"] == old
    raw = np.log1p(frames["BBB"]["Volume"].to_numpy())[1:]
    column = bbb.val.series.numpy()[:, 1]
    assert np.allclose(column, (raw[: len(column)] - old["shift"][0]) / old["scale"][0], atol=1e-5)
    assert read.info["series"]["AAA"] is today.info["series"]["AAA"]
    project(tmp_path, frames, index, {**CHOSEN, "past": ["volume"]})  # windows of other covariates
    with pytest.raises(Unscorable, match=r"it reads the covariates \['volume', 'range', "):
        plugin.splits_for_saved(plugin.load(tmp_path), saved)


def test_predict_builds_each_tickers_input_as_the_windows_stage_did(tmp_path):
    """The windows stage's last rows of each series are the input for the session after the snapshot's last day
    (their calendar is that session's): predict must build the same input and so forecast the same value."""
    frames, index = frames_of(), market(FIRST, LAST, seed=9)
    spec, series = project(tmp_path, frames, index)
    plugin = datasets.get("stocks_many")
    cfg = NetworkConfig(kind="gru", input_size=1 + len(FEATURES), hidden_size=4)
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    saved = tmp_path / "model"
    saved.mkdir()
    torch.save(net.state_dict(), saved / "model.pt")
    for name, data in {**plugin.model_files(plugin.load(tmp_path)),
                       "config.json": {"net": dataclasses.asdict(cfg), "window": spec["window"]}}.items():
        (saved / name).write_text(json.dumps(data))
    made = forecast_each(tmp_path, model_dir=saved, dataset="stocks_many")
    assert [f["ticker"] for f in made] == list(TICKERS)
    for f in made:
        one = spec["series"][f["ticker"]]
        inputs = rows_of(spec, series, f["ticker"])[-spec["window"]:]
        with torch.no_grad():
            value = net(torch.as_tensor(inputs[None])).reshape(-1)[:1].numpy()
        expected = PriceTransform(**one["transform"]).to_price(value, np.array([one["prices"][-1]]))[0]
        assert f["forecast"] == pytest.approx(float(expected), rel=1e-6), f["ticker"]
        assert f["last_date"] == LAST


@pytest.mark.parametrize(("change", "says"), [
    ({"others": {}}, r"stocks_many.windows.covariates.others lists \^IDX, which stocks_many.ingest.others does not "
                     r"fetch; add it there"),
    ({"others": {"AAA": "data/sources/idx.csv"}}, "others lists AAA, a ticker forecast itself"),
])
def test_covariates_a_many_series_ingest_cannot_serve_are_one_sentence(change, says):
    params = many_params(source="csv", tickers={t: f"data/sources/{t.lower()}.csv" for t in TICKERS},
                         others={"^IDX": "data/sources/idx.csv"})
    params["stocks_many"]["windows"]["covariates"] = CHOSEN
    datasets.get("stocks_many").check(params)
    assert "data/sources/idx.csv" in datasets.get("stocks_many").source_files(params)
    params["stocks_many"]["ingest"].update(source="yfinance", tickers=list(TICKERS), others=["^IDX"])
    assert datasets.get("stocks_many").source_files(params) == []  # yfinance: no files to version beforehand
    params["stocks_many"]["ingest"].update(source="csv", tickers={t: f"data/sources/{t.lower()}.csv" for t in TICKERS},
                                           **change)
    with pytest.raises(InvalidParameter, match=says):
        datasets.get("stocks_many").check(params)
