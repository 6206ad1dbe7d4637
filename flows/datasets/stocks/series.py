"""Price snapshot -> windows by date (transform fit on the training rows only) -> price-scale scores."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flows.core import paths
from flows.datasets.stocks.prices import check_ticker, read_canonical
from models.errors import InvalidParameter
from models.metrics import forecast_report
from models.price_windows import PriceTransform, window_starts
from models.significance import overlap_lags


def snapshot_path(root: Path, ticker: str, dataset: str = "stocks") -> Path:
    return paths.raw_dir(root, dataset) / f"{check_ticker(ticker)}.csv"


def load_snapshot(root: Path, ticker: str, dataset: str = "stocks") -> pd.DataFrame:
    path = snapshot_path(root, ticker, dataset)
    if not path.exists():
        raise InvalidParameter(f"no price snapshot {path}; run the ingest-{dataset} stage (or make run) first.")
    return read_canonical(path)


def price_column(frame: pd.DataFrame, column: str, ticker: str) -> str:
    if column in frame.columns:
        return column
    if frame.shape[1] == 1:  # a Date,<price> source
        return frame.columns[0]
    raise InvalidParameter(f"the {ticker} snapshot has no {column!r} column; choose one of {list(frame.columns)}.")


def rows_between(dates: pd.DatetimeIndex, first, last, name: str, dataset: str = "stocks") -> np.ndarray:
    rows = np.flatnonzero((dates >= pd.Timestamp(str(first))) & (dates <= pd.Timestamp(str(last))))
    if len(rows) == 0:
        raise InvalidParameter(f"no trading days between {first} and {last} for the {name} split; check "
                               f"{dataset}.windows dates against the data ({dates[0].date()}..{dates[-1].date()}).")
    return rows


def build_windows(prices: np.ndarray, dates: pd.DatetimeIndex, window: int, target: str,
                  splits: dict[str, tuple], transform: PriceTransform | None = None,
                  dataset: str = "stocks") -> tuple[np.ndarray, dict]:
    """Series + spec for WindowDataset. `splits` maps a name to the (first, last) dates of its targets,
    in time order; "train" comes first and fits the transform unless one is given (a backtest that
    does not refit). Each later window reads the real days before it, reaching back across splits.
    `dataset`: whose params section its errors name."""
    if not isinstance(window, int) or window <= 0:
        raise InvalidParameter(f"{dataset}.windows.window must be a positive integer, got {window!r}.")
    rows = {name: rows_between(dates, first, last, name, dataset) for name, (first, last) in splits.items()}
    names = list(rows)
    for before, after in zip(names, names[1:]):
        if rows[after][0] <= rows[before][-1]:
            raise InvalidParameter(f"the {after} split must start after the {before} split ends; "
                                   f"fix the {dataset}.windows dates.")
    train = rows["train"]
    transform = transform or PriceTransform.fit(prices[train[0] : train[-1] + 1], target)
    first_target = train[0] + window + transform.offset
    if first_target > train[-1]:
        raise InvalidParameter(f"only {len(train)} training days for a window of {window}; "
                               f"use a shorter window or an earlier train_start.")
    last = int(rows[names[-1]][-1])
    ranges = {"train": window_starts(np.arange(first_target, train[-1] + 1), window, transform.offset)}
    ranges.update({name: window_starts(rows[name], window, transform.offset) for name in names[1:]})
    series = transform.to_series(prices[: last + 1])
    spec = {"window": window, "series_length": len(series), "transform": transform.to_dict(),
            "prices": prices[: last + 1].tolist(), "dates": [str(d.date()) for d in dates[: last + 1]],
            **{name: [r.start, r.stop] for name, r in ranges.items()}}
    return series, spec


def score_prices(spec: dict, predicted: np.ndarray, target_rows: np.ndarray) -> tuple[dict, dict]:
    """Scaled predictions -> prices; errors vs persistence and drift on the price scale."""
    transform = PriceTransform(**spec["transform"])
    prices = np.asarray(spec["prices"])
    rows = target_rows + transform.offset  # price rows of the forecast days
    real, previous = prices[rows], prices[rows - 1]
    forecast = transform.to_price(predicted, previous)
    drift = previous * np.exp(transform.drift)
    metrics = forecast_report(real, forecast, previous, {"drift": drift}, prices=True,
                              dependence=overlap_lags(spec["window"] + transform.offset))
    table = {"date": np.asarray(spec["dates"])[rows], "real": real, "persistence": previous, "drift": drift,
             "predicted": forecast}
    return metrics, table
