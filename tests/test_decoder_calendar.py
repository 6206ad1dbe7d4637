"""Known-future covariates at every decoder step: a multi-step decoder's window carries the calendar of each
session it forecasts (and nothing else of the rows after it), each step reads its own session's, the
encoder never reads past the window, and predict builds the same rows from the calendar alone."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from flows.core.atomic import read_json
from flows.datasets import get
from flows.datasets.base import Splits, Unscorable
from flows.datasets.stocks.covariates import later_rows
from flows.datasets.stocks.predict import forecast_each
from models.config import NetworkConfig
from models.errors import InvalidParameter
from models.forecasters import build_network
from models.price_windows import PriceTransform
from models.windows import WindowDataset
from tests.test_covariates import build, config, market, perturbed_after, windows
from tests.test_covariates_others import save

H, NAMES = 5, ["day_of_week", "days_to_holiday"]
KNOWN = 3  # day_of_week (sin, cos) and days_to_holiday: the last three columns


def decoder(task="seq2seq", horizon=H, ahead=KNOWN, features=2 + KNOWN):
    torch.manual_seed(0)
    return build_network(NetworkConfig(kind="gru", hidden_size=8, task=task, horizon=horizon, input_size=features,
                                       future_inputs=ahead)).eval()


def stock_windows(cell: dict):
    """The stocks windows (volume and the calendar) of a seq2seq cell, as task_splits gives them."""
    series, spec = build(market(), config("level", {"past": ["volume"], "future": NAMES}))
    splits = Splits(*(WindowDataset(series, spec["window"], range(*spec[n])) for n in ("train", "val", "test")),
                    {"window": spec["window"], "spec": spec})
    return series, spec, get("stocks").task_splits(splits, NetworkConfig(**cell))


@pytest.mark.parametrize("task", ["seq2seq", "attention"])
def test_each_decoder_step_reads_its_own_sessions_calendar_and_the_encoder_stops_at_the_window(task):
    net, window = decoder(task), 12
    x = torch.randn(4, window + H - 1, 2 + KNOWN)
    x[:, window:, :-KNOWN] = 0
    with torch.no_grad():
        base = net(x)
        for k in range(1, H):  # step k forecasts the session whose calendar row window - 1 + k holds
            moved = x.clone()
            moved[:, window - 1 + k, -KNOWN:] += 1.0
            out = net(moved)
            assert torch.equal(out[:, :k], base[:, :k]), k  # earlier steps never see a later session's calendar
            assert not torch.allclose(out[:, k], base[:, k]), k  # its own step reads it
        junk = x.clone()
        junk[:, window:, :-KNOWN] = 7.0  # whatever the rows after the window hold besides the calendar
        assert torch.equal(net(junk), base)


def test_the_window_carries_on_with_the_calendar_only_and_no_later_value_enters():
    frame = market()
    cell = {"kind": "gru", "task": "seq2seq", "horizon": H, "input_size": 2 + KNOWN}
    series, spec, splits = stock_windows(cell)
    assert get("stocks").known_ahead(splits, NetworkConfig(**cell)) == KNOWN and splits.train.ahead == KNOWN
    window = spec["window"]
    for name in ("train", "val", "test"):
        windows_ = getattr(splits, name)
        x, y = windows_[0]
        start = windows_.starts[0]
        assert x.shape == (window + H - 1, 2 + KNOWN) and y.shape == (H,)
        assert torch.equal(x[:window], torch.as_tensor(series[start : start + window]))
        later = torch.as_tensor(series[start + window : start + window + H - 1])
        assert torch.equal(x[window:, -KNOWN:], later[:, -KNOWN:]) and not x[window:, :-KNOWN].any()
    cfg = config("level", {"past": ["volume"], "future": NAMES})
    for k, (name, start, last_day) in enumerate(windows(spec)[::5]):
        if start + window + H > len(series):
            continue  # no H targets after it
        changed, _ = build(perturbed_after(frame, last_day, k), cfg, fitted=spec)
        again = WindowDataset(changed, window, range(start, start + 1), horizon=H, ahead=KNOWN)[0]
        mine = WindowDataset(series, window, range(start, start + 1), horizon=H, ahead=KNOWN)[0]
        assert torch.equal(again[0], mine[0]), (name, start)  # every later price and volume changed, not the input
        assert not torch.equal(again[1], mine[1])  # but the targets it forecasts did


def test_predict_builds_the_later_rows_from_the_calendar_as_the_windows_hold_them():
    series, spec, splits = stock_windows({"kind": "gru", "task": "seq2seq", "horizon": H, "input_size": 2 + KNOWN})
    window, dates = spec["window"], pd.DatetimeIndex(spec["dates"])
    for windows_ in (splits.train, splits.test):
        for start in list(windows_.starts)[::7]:
            x, _ = windows_[windows_.starts.index(start)]
            last_day = dates[start + window - 1]  # level target: series row r is day r
            rows = later_rows(last_day, NAMES, H - 1, x.shape[1])
            assert np.allclose(rows, x[window:].numpy(), atol=1e-6), last_day


def test_predict_forecasts_what_the_decoder_forecasts_from_the_windows_stage_input(tmp_path):
    """A forecast from a snapshot that ends on a test window's last day is that window's first step: the
    input predict builds (the window, then the next sessions' calendar) is the windows stage's."""
    frame = market()
    cell = {"kind": "gru", "task": "seq2seq", "horizon": H, "input_size": 2 + KNOWN, "future_inputs": KNOWN}
    _, spec, splits = stock_windows(cell)
    torch.manual_seed(1)
    net = build_network(NetworkConfig(**cell, hidden_size=8)).eval()
    folder = tmp_path / "model"
    folder.mkdir()
    torch.save(net.state_dict(), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps({"net": net.cfg.__dict__, "window": spec["window"]}))
    spec = {**spec, "ticker": "GOOG", "column": "Open"}
    for name, data in get("stocks").model_files(Splits(splits.train, None, None, {"spec": spec})).items():
        (folder / name).write_text(json.dumps(data))
    window, test = spec["window"], splits.test
    for start in (test.starts[0], test.starts[-1]):
        last_day = pd.Timestamp(spec["dates"][start + window - 1])
        save(tmp_path, "GOOG", frame.loc[:last_day])
        [made] = forecast_each(tmp_path, "GOOG", folder, force=True, dataset="stocks")
        x, _ = test[test.starts.index(start)]
        with torch.no_grad():
            first = net(x[None]).reshape(-1)[:1].numpy()
        expected = PriceTransform(**spec["transform"]).to_price(first, np.array([frame.loc[last_day, "Open"]]))[0]
        assert made["forecast"] == pytest.approx(float(expected), rel=1e-5), last_day


def test_future_inputs_are_for_decoders_and_a_saved_decoder_without_them_is_no_candidate(tmp_path):
    with pytest.raises(InvalidParameter, match="future_inputs feeds each decoder step .*decoder tasks only"):
        NetworkConfig(task="one_step", head="gaussian", future_inputs=1, input_size=3)
    with pytest.raises(InvalidParameter, match="future_inputs must be an integer from 0 to input_size - 1"):
        NetworkConfig(task="seq2seq", horizon=H, future_inputs=3, input_size=3)
    _, spec, splits = stock_windows({"kind": "gru", "task": "seq2seq", "horizon": H, "input_size": 2 + KNOWN})
    plugin = get("stocks")
    spec = {**spec, "ticker": "GOOG", "column": "Open"}
    splits = Splits(splits.train, splits.val, splits.test, {"window": spec["window"], "spec": spec})
    for name, data in plugin.model_files(splits).items():
        (tmp_path / name).write_text(json.dumps(data))
    old = NetworkConfig(kind="gru", task="seq2seq", horizon=H, input_size=2 + KNOWN)  # trained before: 0
    (tmp_path / "config.json").write_text(json.dumps({"net": old.__dict__, "window": spec["window"]}))
    with pytest.raises(Unscorable, match="its decoder was trained before each step read its own session's calendar"):
        plugin.splits_for_saved(splits, tmp_path)
    now = {**read_json(tmp_path / "config.json"), "net": {**old.__dict__, "future_inputs": KNOWN}}
    (tmp_path / "config.json").write_text(json.dumps(now))
    assert plugin.splits_for_saved(splits, tmp_path).info["spec"] == spec
