"""Next-day forecast from the champion model (or a model folder) and the latest price snapshot."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from flows import paths, tracking
from flows.atomic import read_json
from flows.params import load_params
from flows.sources.prices import check_ticker, read_canonical
from flows.stages.evaluate import load_net
from flows.stages.stocks import snapshot_path
from models.errors import InvalidParameter
from models.price_windows import PriceTransform


def forecast_next(root: Path, ticker: str | None = None, model_dir: Path | None = None) -> dict:
    params = load_params(root)
    ticker = check_ticker(ticker or params["stocks"]["ingest"]["ticker"])
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None:
            source = tracking.champion_weights(root, "stocks", Path(tmp))
            folder = source["dir"]
            spec_file = folder / "spec.json"
        else:  # a data/models/stocks/<cell> folder: its data transform is the current windows spec
            folder, source = Path(model_dir), {"model": str(model_dir), "version": "-", "cell": Path(model_dir).name}
            spec_file = paths.windows_dir(root, "stocks") / "spec.json"
        net = load_net(folder)
        spec = read_json(spec_file)
    path = snapshot_path(root, ticker)
    if not path.exists():
        raise InvalidParameter(f"no price snapshot {path}; run the pipeline for {ticker} first (make run).")
    frame = read_canonical(path)
    column = spec.get("column", "Open")
    if column not in frame.columns:
        raise InvalidParameter(f"the {ticker} snapshot has no {column} column, which the model was trained on.")
    prices = frame[column].to_numpy()
    transform = PriceTransform(**spec["transform"])
    need = spec["window"] + transform.offset
    if len(prices) < need:
        raise InvalidParameter(f"the {ticker} snapshot has {len(prices)} rows; the model needs the last {need}.")
    series = transform.to_series(prices[-need:])  # (window,)
    with torch.no_grad():
        out = net(torch.as_tensor(series[None, :, None])).numpy()[0, 0]
    forecast = float(transform.to_price(np.array([out]), np.array([prices[-1]]))[0])
    return {"ticker": ticker, "column": column, "last_date": str(frame.index[-1].date()),
            "last_price": float(prices[-1]), "forecast": forecast, "trained_on": spec.get("ticker"), **source}

