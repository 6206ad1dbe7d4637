"""`rnnops predict`: a forecast from inputs the model never saw, or from a stale model, is refused in one sentence."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from flows.cli import main
from flows.datasets.stocks.predict import forecast_next
from flows.datasets.stocks.prices import read_canonical, to_canonical_csv
from models.config import NetworkConfig
from models.errors import InvalidParameter
from models.forecasters import build_network
from models.price_windows import PriceTransform

WINDOW = 20


def history(last_price: float, end: str = "2026-11-20") -> pd.DataFrame:
    """2012-2016 prices between 0.3 and 3, then a climb to `last_price` (the hidden history of the issue)."""
    dates = pd.bdate_range("2012-01-02", end)
    early = dates <= "2016-12-31"
    prices = np.empty(len(dates))
    prices[early] = np.linspace(0.3, 3.0, early.sum())
    prices[~early] = np.geomspace(3.0, last_price, (~early).sum())
    return pd.DataFrame({"Open": prices}, index=pd.DatetimeIndex(dates, name="Date"))


def model_folder(tmp_path, frame: pd.DataFrame, target: str, last_seen: str, head: str = "point"):
    folder = tmp_path / "model"
    folder.mkdir()
    cfg = NetworkConfig(kind="gru", hidden_size=4, head=head)
    torch.manual_seed(0)
    torch.save(build_network(cfg).state_dict(), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps({"net": cfg.__dict__, "window": WINDOW}))
    fitted = PriceTransform.fit(frame.loc[:"2016-12-31", "Open"].to_numpy(), target)
    (folder / "transform.json").write_text(json.dumps({"transform": fitted.to_dict(), "window": WINDOW,
                                                       "column": "Open", "ticker": "TOY", "last_seen": last_seen}))
    return folder


def snapshot(tmp_path, frame):
    (tmp_path / "data/raw/stocks").mkdir(parents=True)
    (tmp_path / "data/raw/stocks/TOY.csv").write_text(to_canonical_csv(frame))


def test_a_level_model_refuses_prices_far_outside_its_training_range(tmp_path):
    frame = history(105.0)
    snapshot(tmp_path, frame)
    folder = model_folder(tmp_path, frame, "level", last_seen="2026-11-01")
    with pytest.raises(InvalidParameter, match="MinMax level model cannot extrapolate") as err:
        forecast_next(tmp_path, "TOY", folder)
    assert "--force" in str(err.value) and "\n" not in str(err.value)
    forced = forecast_next(tmp_path, "TOY", folder, force=True)
    assert forced["warnings"] and np.isfinite(forced["forecast"])


def test_a_log_return_model_extrapolates_but_a_stale_one_is_refused(tmp_path):
    frame = history(105.0)
    snapshot(tmp_path, frame)
    fresh = model_folder(tmp_path, frame, "log_return", last_seen="2026-11-01")
    result = forecast_next(tmp_path, "TOY", fresh)
    assert result["warnings"] == [] and result["forecast"] == pytest.approx(105.0, rel=0.2)
    (fresh / "transform.json").write_text((fresh / "transform.json").read_text().replace("2026-11-01", "2017-01-31"))
    with pytest.raises(InvalidParameter, match="last saw data from 2017-01-31"):
        forecast_next(tmp_path, "TOY", fresh)


def test_a_gaussian_champion_forecasts_its_mean(tmp_path):
    frame = history(3.5, end="2017-03-31")
    snapshot(tmp_path, frame)
    folder = model_folder(tmp_path, frame, "log_return", last_seen="2017-03-31", head="gaussian")
    result = forecast_next(tmp_path, "TOY", folder)
    net = build_network(NetworkConfig(kind="gru", hidden_size=4, head="gaussian"))
    net.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    fitted = PriceTransform(**json.loads((folder / "transform.json").read_text())["transform"])
    prices = frame["Open"].to_numpy()[-(WINDOW + fitted.offset):]
    with torch.no_grad():
        mean = net.eval()(torch.as_tensor(fitted.to_series(prices)[None, :, None]))[0, 0, 0].item()
    assert result["forecast"] == pytest.approx(float(fitted.to_price(np.array([mean]), prices[-1:])[0]))


@pytest.mark.parametrize("head", ["point", "gaussian"])
def test_predict_prints_the_split_conformal_interval_calibrated_on_validation(tmp_path, head, capsys, monkeypatch):
    frame = history(3.5, end="2017-03-31")
    snapshot(tmp_path, frame)
    folder = model_folder(tmp_path, frame, "level", last_seen="2017-03-31", head=head)
    # what evaluate saves: score quantiles per level and step (absolute price error, or error / sd)
    (folder / "conformal.json").write_text(json.dumps({"quantiles": {"80": [0.5, 9.0], "95": [1.5, 9.0]}}))
    result = forecast_next(tmp_path, "TOY", folder, force=True)
    scale = 1.0  # a point head's scores are absolute price errors
    if head == "gaussian":  # a Gaussian head's are errors over its sd, on the price scale: variance x MinMax scale
        net = build_network(NetworkConfig(kind="gru", hidden_size=4, head="gaussian"))
        net.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
        fitted = PriceTransform(**json.loads((folder / "transform.json").read_text())["transform"])
        with torch.no_grad():
            out = net.eval()(torch.as_tensor(fitted.to_series(frame["Open"].to_numpy()[-WINDOW:])[None, :, None]))
        scale = float(out[0, 0, 1]) ** 0.5 * fitted.scale
    for name, q in (("80", 0.5), ("95", 1.5)):  # the first step's quantile, around the point forecast
        low, high = result["forecast"] - q * scale, result["forecast"] + q * scale
        assert result["intervals"][name] == pytest.approx((low, high))
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "stocks", "--ticker", "TOY", "--model-dir", str(folder), "--force"]) == 0
    low, high = result["intervals"]["95"]
    assert f"95% interval {low:.2f} .. {high:.2f}" in capsys.readouterr().out


@pytest.mark.parametrize("price", [0.000123456789, 123456.789012345, 1 / 3])
def test_the_canonical_snapshot_round_trips_every_price_exactly(tmp_path, price):
    frame = pd.DataFrame({"Open": [price, price * 1.1], "Volume": [7380500.0, 1.0]},
                         index=pd.DatetimeIndex(["2005-01-03", "2005-01-04"], name="Date"))
    (tmp_path / "s.csv").write_text(to_canonical_csv(frame))
    back = read_canonical(tmp_path / "s.csv")
    assert back["Open"].tolist() == frame["Open"].tolist()  # exact, not approximately
    assert back["Volume"].tolist() == frame["Volume"].tolist()


# Both sides of every refusal margin: just inside is served without a warning, just outside is refused
# in one sentence. A margin moved either way (0.25 -> 30 or 0.2, 8 -> 80 or 7, 365 -> 400) fails a case.
EDGE = 0.01


def toy_frame(train_prices: np.ndarray, later_prices: np.ndarray) -> pd.DataFrame:
    dates = pd.bdate_range("2016-01-04", periods=len(train_prices) + len(later_prices))
    assert dates[len(train_prices) - 1] <= pd.Timestamp("2016-12-31") < dates[len(train_prices)]
    return pd.DataFrame({"Open": np.concatenate([train_prices, later_prices])},
                        index=pd.DatetimeIndex(dates, name="Date"))


def served_or_refused(tmp_path, frame, target, served: bool, refusal: str, last_seen: str | None = None):
    snapshot(tmp_path, frame)
    folder = model_folder(tmp_path, frame, target, last_seen=last_seen or str(frame.index[-1].date()))
    if served:
        result = forecast_next(tmp_path, "TOY", folder)
        assert result["warnings"] == [] and np.isfinite(result["forecast"])
        return
    with pytest.raises(InvalidParameter, match=refusal) as err:
        forecast_next(tmp_path, "TOY", folder)
    assert "--force" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("scaled", [1.25 - EDGE, 1.25 + EDGE, -0.25 + EDGE, -0.25 - EDGE])
def test_a_level_model_serves_up_to_a_quarter_of_its_training_range_beyond_it(tmp_path, scaled):
    train = np.linspace(2.0, 3.0, 260)  # the training range: 2..3, so a scaled level is price - 2
    frame = toy_frame(train, np.concatenate([np.full(40, 2.5), np.full(WINDOW, 2.0 + scaled)]))
    served_or_refused(tmp_path, frame, "level", -0.25 < scaled < 1.25, "MinMax level model cannot extrapolate")


@pytest.mark.parametrize("sigmas", [8 - EDGE * 10, 8 + EDGE * 10, -8 + EDGE * 10, -8 - EDGE * 10])
def test_a_log_return_model_serves_returns_up_to_8_sigma(tmp_path, sigmas):
    zigzag = 2.0 * np.exp(0.01 * (np.arange(301) % 2))  # training returns +-1%: mean ~0, std ~1%
    train, later = zigzag[:260], zigzag[260:]
    fitted = PriceTransform.fit(train, "log_return")
    jump = later[-1] * np.exp(fitted.shift + sigmas * fitted.scale)  # the last day's return is `sigmas` std away
    frame = toy_frame(train, np.append(later, jump))
    assert abs(fitted.to_series(frame["Open"].to_numpy()[-2:])[0] - sigmas) < 1e-4
    served_or_refused(tmp_path, frame, "log_return", abs(sigmas) < 8, "training standard deviations from the mean")


@pytest.mark.parametrize("age_days", [365, 366])
def test_a_model_up_to_a_year_older_than_the_snapshot_is_served(tmp_path, age_days):
    zigzag = 2.0 * np.exp(0.01 * (np.arange(301) % 2))
    frame = toy_frame(zigzag[:260], zigzag[260:])
    last_seen = str((frame.index[-1] - pd.Timedelta(days=age_days)).date())
    refusal = f"last saw data from {last_seen}, {age_days} days"
    served_or_refused(tmp_path, frame, "log_return", age_days <= 365, refusal, last_seen=last_seen)
