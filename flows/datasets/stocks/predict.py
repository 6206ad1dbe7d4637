"""`rnnops predict stocks`: next-day forecast from the champion model (or a model folder) and the latest snapshot.

A forecast is refused (unless forced) when its input lies outside what the model was fitted on, or
when the model is much older than the data: a MinMax level model maps every price through the
training years' range and cannot extrapolate beyond it; a log-return model can.
"""
from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from flows import tracking
from flows.core.atomic import read_json
from flows.core.params import load_params
from flows.datasets.stocks import covariates, ticker_of
from flows.datasets.stocks.prices import check_ticker
from flows.datasets.stocks.series import load_snapshot
from flows.scoring.intervals import CALIBRATION_FILE
from flows.scoring.regression_nets import load_regression_net
from models.covariates import FeatureScaler
from models.errors import InvalidParameter
from models.price_windows import PriceTransform

LEVEL_MARGIN = 0.25  # scaled levels beyond [-0.25, 1.25] are a quarter of the training range outside it
RETURN_LIMIT = 8.0  # a standardised daily return beyond 8 sigma is not what the model saw
MAX_AGE_DAYS = 365  # a model that last saw data a year before the snapshot ends is stale


def trust_problems(transform: PriceTransform, series: np.ndarray, last_seen: str, last_date, ticker: str,
                   dataset: str = "stocks") -> list[str]:
    problems = []
    low, high = float(series.min()), float(series.max())
    if transform.target == "level" and (low < -LEVEL_MARGIN or high > 1 + LEVEL_MARGIN):
        lo_price, hi_price = transform.shift, transform.shift + transform.scale
        problems.append(f"the last prices of {ticker} scale to {low:.2f}..{high:.2f}, outside the 0..1 of the "
                        f"training prices {lo_price:.4g}..{hi_price:.4g}; a MinMax level model cannot extrapolate, "
                        f"so retrain on recent data or use {dataset}.windows.target: log_return")
    if transform.target == "log_return" and max(abs(low), abs(high)) > RETURN_LIMIT:
        problems.append(f"a recent daily return of {ticker} is {max(abs(low), abs(high)):.1f} training standard "
                        f"deviations from the mean, far outside what the model saw; retrain on recent data")
    age = (pd.Timestamp(last_date) - pd.Timestamp(last_seen)).days
    if age > MAX_AGE_DAYS:
        problems.append(f"the model last saw data from {last_seen}, {age} days before the snapshot's last day "
                        f"{pd.Timestamp(last_date).date()}; retrain it (make run)")
    return problems


def load_model(root: Path, model_dir: Path | None, dataset: str) -> tuple:
    """(net, fitted transform document, conformal calibration or None, where the model came from)."""
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None:
            source = tracking.champion_weights(root, dataset, Path(tmp))
            folder = source["dir"]
        else:
            folder, source = Path(model_dir), {"model": str(model_dir), "version": "-", "cell": Path(model_dir).name}
        net = load_regression_net(folder)
        fitted = read_json(folder / "transform.json")
        # a model evaluated before conformal intervals existed (or a bare model folder) has no calibration
        calibration = read_json(folder / CALIBRATION_FILE) if (folder / CALIBRATION_FILE).exists() else None
    return net, fitted, calibration, source


def forecast_next(root: Path, ticker: str | None = None, model_dir: Path | None = None, force: bool = False,
                  dataset: str = "stocks") -> dict:
    """The next session of one ticker (a many-series model: its first, unless `ticker` names another)."""
    return forecast_each(root, ticker, model_dir, force, dataset)[0]


def forecast_each(root: Path, ticker: str | None = None, model_dir: Path | None = None, force: bool = False,
                  dataset: str = "stocks") -> list[dict]:
    """One forecast per ticker the model was trained on (a many-series model), or the one of forecast_next."""
    net, fitted, calibration, source = load_model(root, model_dir, dataset)
    if "series" not in fitted:  # one series, one model
        ticker = check_ticker(ticker) if ticker else ticker_of(load_params(root), dataset)
        return [forecast_with(root, net, fitted, calibration, source, ticker, force, dataset)]
    known = fitted["series"]
    wanted = [check_ticker(ticker)] if ticker else list(known)
    for name in wanted:
        if name not in known:
            raise InvalidParameter(f"the model was trained on {', '.join(known)}, not {name}; choose one of those or "
                                   f"add {name} to {dataset}.ingest.tickers and retrain.")
    # each ticker through its own fitted transform and its own conformal calibration (one made before
    # many-series intervals existed has none)
    each = (calibration or {}).get("series", {})
    return [forecast_with(root, net, {**known[name], "window": fitted["window"], "column": fitted["column"]},
                          each.get(name), source, name, force, dataset) for name in wanted]


def forecast_with(root: Path, net, fitted: dict, calibration: dict | None, source: dict, ticker: str, force: bool,
                  dataset: str) -> dict:
    """The next session of `ticker` from its latest snapshot, through the model's fitted transform."""
    frame = covariates.with_others(root, load_snapshot(root, ticker, dataset), fitted.get("covariates") or {},
                                   ticker, dataset)
    column = fitted["column"]
    if column not in frame.columns:
        raise InvalidParameter(f"the {ticker} snapshot has no {column} column, which the model was trained on.")
    prices = frame[column].to_numpy()
    transform = PriceTransform(**fitted["transform"])
    need = fitted["window"] + transform.offset
    if len(prices) < need:
        raise InvalidParameter(f"the {ticker} snapshot has {len(prices)} rows; the model needs the last {need}.")
    series = transform.to_series(prices[-need:])  # (window,)
    problems = trust_problems(transform, series, fitted["last_seen"], frame.index[-1], ticker, dataset)
    if problems and not force:
        raise InvalidParameter(f"refusing to forecast: {problems[0]}; pass --force to forecast anyway.")
    inputs = next_inputs(series, frame.iloc[-need:], fitted, ticker, dataset)  # (window, features)
    if getattr(net.cfg, "future_inputs", 0):  # a decoder reads each later step's calendar after the window
        later = covariates.later_rows(frame.index[-1], fitted["covariates"]["future"], net.cfg.horizon - 1,
                                      inputs.shape[1])
        inputs = np.concatenate([inputs, later]).astype(np.float32)
    with torch.no_grad():
        # (1, 1) for a point head, (1, H, 2) for a Gaussian one: the first step's value (mean[, variance])
        out = net(torch.as_tensor(inputs[None])).reshape(-1)[:2].tolist()
    forecast = float(transform.to_price(np.array([out[0]]), np.array([prices[-1]]))[0])
    sd = None
    if getattr(net.cfg, "head", "point") == "gaussian":  # the sd on the price scale: exact for a level target,
        # to first order for a log return (price = last * exp(value), d price / d value = price)
        sd = math.sqrt(out[1]) * transform.scale * (1.0 if transform.target == "level" else forecast)
    return {"ticker": ticker, "column": column, "last_date": str(frame.index[-1].date()),
            "last_price": float(prices[-1]), "forecast": forecast, "sd": sd, "trained_on": fitted.get("ticker"),
            "warnings": problems, "calibration": calibration,
            "intervals": split_intervals(calibration, forecast, sd), **source}


def next_inputs(series: np.ndarray, days: pd.DataFrame, fitted: dict, ticker: str, dataset: str) -> np.ndarray:
    """The model's input for the next session, built as the windows stage builds them: the last row carries the
    calendar of the session after the snapshot's last day (known today), its covariates scaled as in training."""
    if not fitted.get("covariates"):
        return series[:, None]
    scaler = FeatureScaler.from_dict(fitted["covariates"]["scaler"])
    offset = PriceTransform(**fitted["transform"]).offset
    return covariates.with_covariates(series, days, fitted["covariates"], scaler, offset, ticker, dataset)


def split_intervals(calibration: dict | None, forecast: float, sd: float | None) -> dict[str, tuple[float, float]]:
    """Level name ('80', '95') -> the split-conformal interval of the next session, calibrated on the model's
    validation split; the scores were absolute price errors (point) or errors over the predicted sd."""
    if calibration is None:
        return {}
    found = {}
    for name, steps in calibration["quantiles"].items():
        half = steps[0] * (1.0 if sd is None else sd)
        found[name] = (forecast - half, forecast + half)
    return found


def main(root: Path, dataset: str, args) -> int:
    """The `rnnops predict <dataset>` verb (declared in StockPrices.verbs)."""
    made = forecast_each(root, args.ticker, args.model_dir, force=args.force, dataset=dataset)
    for f in made:
        for warning in f["warnings"]:
            print(f"WARNING: {warning}", file=sys.stderr)
        print(f"{f['ticker']} {f['column']} after {f['last_date']}: forecast {f['forecast']:.2f} "
              f"(last {f['last_price']:.2f}, {f['forecast'] / f['last_price'] - 1:+.2%}) "
              f"from {f['model']} v{f['version']} {f['cell']}")
        for name, (low, high) in f["intervals"].items():  # split conformal, calibrated on the validation split
            print(f"  {name}% interval {low:.2f} .. {high:.2f}")
    if not any(f["intervals"] for f in made):
        print("  no interval: this model has no conformal calibration (evaluate it again to get one)")
    return 0
