"""The stocks dataset: ingest (yfinance or CSV) into a canonical snapshot, date-based windows, price-scale scoring."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from flows import paths
from flows.atomic import read_json, write_json, write_text
from flows.sources import prices as price_io
from flows.sources.yahoo import SourceUnavailable, fetch_daily, library_version
from models.errors import InvalidParameter
from models.metrics import forecast_report
from models.price_windows import PriceTransform, window_starts

SOURCES = ("yfinance", "csv")


def snapshot_path(root: Path, ticker: str) -> Path:
    return paths.raw_dir(root, "stocks") / f"{price_io.check_ticker(ticker)}.csv"


def _read_sources(root: Path, cfg: dict, ticker: str) -> tuple[pd.DataFrame, dict]:
    files = cfg.get("paths") or []
    if isinstance(files, str):
        files = [files]
    if not files:
        raise InvalidParameter("stocks.ingest.source is csv but stocks.ingest.paths is empty; list the CSV file(s).")
    frames = [price_io.read_price_csv(Path(root) / f, ticker) for f in files]
    common = [c for c in frames[0].columns if all(c in f.columns for f in frames)]
    frame = pd.concat([f[common] for f in frames])
    return frame, {"source": "csv", "files": [str(f) for f in files]}


def ingest_stocks(root: Path, cfg: dict) -> Path:
    ticker = price_io.check_ticker(cfg.get("ticker", ""))
    source = cfg.get("source", "yfinance")
    target = snapshot_path(root, ticker)
    meta_path = target.with_suffix(".meta.json")
    if source not in SOURCES:
        raise InvalidParameter(f"stocks.ingest.source must be one of {', '.join(SOURCES)}, got {source!r}.")
    if source == "csv":
        frame, meta = _read_sources(root, cfg, ticker)
    else:
        try:
            frame = fetch_daily(ticker, str(cfg["start"]), str(cfg["end"]), cfg.get("interval", "1d"),
                                retries=int(cfg.get("retries", 3)))
        except SourceUnavailable as exc:
            reuse = _reusable_snapshot(meta_path, cfg)
            if reuse is None:
                raise
            print(f"WARNING: {exc} Re-using the snapshot {target} fetched {reuse['fetched_at']} "
                  f"({reuse['rows']} rows); results are only as fresh as that.", file=sys.stderr)
            return target.parent
        meta = {"source": "yfinance", "yfinance_version": library_version(), "interval": cfg.get("interval", "1d")}
    column = cfg.get("column", "Open")
    warnings = price_io.validate(frame, column if column in frame.columns else frame.columns[0],
                                 f"{ticker} ({meta['source']})", int(cfg.get("max_gap_days", 10)))
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    write_text(target, price_io.to_canonical_csv(frame))  # atomic: a failure above never reaches here
    write_json(meta_path, {**meta, "ticker": ticker, "start": str(cfg.get("start")), "end": str(cfg.get("end")),
                           "fetched_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                           "rows": len(frame), "first_date": str(frame.index[0].date()),
                           "last_date": str(frame.index[-1].date()), "warnings": warnings})
    return target.parent


def _reusable_snapshot(meta_path: Path, cfg: dict) -> dict | None:
    if not meta_path.exists() or not meta_path.with_suffix("").with_suffix(".csv").exists():
        return None
    meta = read_json(meta_path)
    same = meta.get("source") == "yfinance" and meta.get("start") == str(cfg.get("start")) \
        and meta.get("end") == str(cfg.get("end"))
    return meta if same else None


def _rows_between(dates: pd.DatetimeIndex, start, end, name: str) -> np.ndarray:
    rows = np.flatnonzero((dates >= pd.Timestamp(str(start))) & (dates <= pd.Timestamp(str(end))))
    if len(rows) == 0:
        raise InvalidParameter(f"no trading days between {start} and {end} for the {name} split; "
                               f"check stocks.windows dates against the data ({dates[0].date()}..{dates[-1].date()}).")
    return rows


def build_windows(prices: np.ndarray, dates: pd.DatetimeIndex, cfg: dict,
                  transform: PriceTransform | None = None) -> tuple[np.ndarray, dict]:
    """Series + spec for WindowDataset: train targets in the train dates, 'val' targets in the test dates.

    The transform is fit on the train rows unless one is given (a backtest that does not refit).
    """
    window = cfg.get("window", 60)
    if not isinstance(window, int) or window <= 0:
        raise InvalidParameter(f"stocks.windows.window must be a positive integer, got {window!r}.")
    train_rows = _rows_between(dates, cfg["train_start"], cfg["train_end"], "train")
    test_rows = _rows_between(dates, cfg["test_start"], cfg["test_end"], "test")
    if test_rows[0] <= train_rows[-1]:
        raise InvalidParameter("the test split must start after the train split ends; fix stocks.windows dates.")
    train_prices = prices[train_rows[0] : train_rows[-1] + 1]
    transform = transform or PriceTransform.fit(train_prices, cfg.get("target", "level"))
    first_target = train_rows[0] + window + transform.offset
    if first_target > train_rows[-1]:
        raise InvalidParameter(
            f"only {len(train_rows)} training days for a window of {window}; "
            f"use a shorter window or an earlier train_start.")
    series = transform.to_series(prices[: test_rows[-1] + 1])
    train = window_starts(np.arange(first_target, train_rows[-1] + 1), window, transform.offset)
    test = window_starts(test_rows, window, transform.offset)
    return series, {"window": window, "train": [train.start, train.stop], "val": [test.start, test.stop],
                    "series_length": len(series), "transform": transform.to_dict(),
                    "prices": prices[: test_rows[-1] + 1].tolist(),
                    "dates": [str(d.date()) for d in dates[: test_rows[-1] + 1]]}


def load_snapshot(root: Path, params: dict) -> tuple[str, pd.DataFrame]:
    ticker = price_io.check_ticker(params["stocks"]["ingest"]["ticker"])
    path = snapshot_path(root, ticker)
    if not path.exists():
        raise InvalidParameter(f"no snapshot {path}; run the ingest@stocks stage first.")
    return ticker, price_io.read_canonical(path)


def make_stock_windows(root: Path, params: dict) -> tuple[np.ndarray, dict]:
    cfg = params["stocks"]["windows"]
    ticker, frame = load_snapshot(root, params)
    column = cfg.get("column", "Open")
    if column not in frame.columns:
        if frame.shape[1] != 1:
            raise InvalidParameter(
                f"the {ticker} snapshot has no {column!r} column; choose one of {list(frame.columns)}.")
        column = frame.columns[0]
    series, spec = build_windows(frame[column].to_numpy(), frame.index, cfg)
    return series, {**spec, "ticker": ticker, "column": column}


def score(spec: dict, predicted: np.ndarray, target_rows: np.ndarray) -> tuple[dict, dict]:
    """Scaled predictions -> prices; errors vs persistence and drift on the price scale."""
    transform = PriceTransform(**spec["transform"])
    prices = np.asarray(spec["prices"])
    rows = target_rows + transform.offset  # price rows of the forecast days
    real, previous = prices[rows], prices[rows - 1]
    forecast = transform.to_price(predicted, previous)
    drift = previous * np.exp(transform.drift)
    metrics = forecast_report(real, forecast, previous, {"drift": drift}, prices=True)
    table = {"date": np.asarray(spec["dates"])[rows], "real": real, "persistence": previous, "drift": drift,
             "predicted": forecast}
    return metrics, table
