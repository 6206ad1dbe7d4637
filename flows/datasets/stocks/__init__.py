"""stocks: next day's price from the last `window` days (the reference recipe: Google's Open, 2012-2016 ->
January 2017).

Splits by date: the model fits on [train_start, val_start), early stopping and the champion are
chosen on [val_start, train_end] (the last months of the training years), and the test month is
scored once, by evaluate. Scores are on the price scale, against persistence and drift.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from flows.core import paths
from flows.core.atomic import read_json
from flows.core.params import config_of, section
from flows.datasets.base import Dataset, ExtraStage, Option, Scored, Splits, Unscorable, Verb, check_finite
from flows.datasets.stocks import covariates
from flows.datasets.stocks.prices import check_ticker, read_price_csv, to_canonical_csv, validate
from flows.datasets.stocks.series import price_column, score_prices, snapshot_path
from flows.datasets.stocks.yahoo import SourceUnavailable, fetch_daily, library_version
from flows.scoring import horizons
from flows.scoring.intervals import point_forecast
from flows.scoring.regression_nets import predict as predict_windows  # `predict` is this package's verb module
from models.config import saved_network
from models.errors import InvalidParameter
from models.model_types import HEADS, MODEL_TYPES
from models.price_windows import TARGETS, PriceTransform
from models.windows import WindowDataset

SOURCES = ("yfinance", "csv")
WEEK = 5  # trading days: the seasonal-naive baseline of a multi-step cell repeats the last week


def check_others(others, source: str, own: list[str], where: str) -> None:
    """The `others` of an ingest section: tickers (yfinance) or ticker -> CSV file(s) (csv), none of `own`."""
    wanted = dict if source == "csv" else list
    if others and not isinstance(others, wanted):  # none: the default [] for either source
        raise InvalidParameter(f"{where}.others must be " + ("a mapping ticker -> CSV file(s) with source csv"
                               if source == "csv" else "a list of tickers") + f", got {others!r}.")
    mine = {check_ticker(t) for t in own}
    for other in others:
        if check_ticker(other) in mine:
            raise InvalidParameter(f"{where}.others lists {other}, a ticker forecast itself; list other series only.")


def other_files(others, source: str) -> list[str]:
    """The CSV files of the other series: a csv source's mapping (the default [] is "none" for csv too)."""
    if source != "csv":
        return []
    return [f for files in dict(others or {}).values() for f in ([files] if isinstance(files, str) else files)]


@dataclass(frozen=True)
class IngestConfig:
    source: str = "yfinance"
    ticker: str = "GOOG"
    start: str = "2012-01-01"
    end: str | None = "2017-02-01"  # exclusive; null: up to and including today (a rolling profile)
    history_days: int | None = None  # set: start is this many days before end (a rolling profile)
    interval: str = "1d"
    paths: list = field(default_factory=list)
    column: str = "Open"
    max_gap_days: int = 10
    retries: int = 3
    # other series fetched beside the ticker, for windows.covariates.others: tickers (yfinance), or with
    # source csv a mapping ticker -> its CSV file(s)
    others: list | dict = field(default_factory=list)

    def check(self, where: str) -> None:
        """`where`: the section these values came from (stocks.ingest, stocks_daily.ingest), named in errors."""
        check_ticker(self.ticker)
        if self.source not in SOURCES:
            raise InvalidParameter(f"{where}.source must be yfinance or csv, got {self.source!r}.")
        if self.history_days is not None and (not isinstance(self.history_days, int) or self.history_days <= 0):
            raise InvalidParameter(f"{where}.history_days must be a positive integer, got {self.history_days!r}.")
        check_others(self.others, self.source, [self.ticker], where)

    def other_tickers(self) -> list[str]:
        return [check_ticker(t) for t in self.others]

    def dates(self, today: dt.date | None = None) -> tuple[str, str]:
        """[start, end) to fetch; a rolling profile's move with the calendar (UTC)."""
        today = today or dt.datetime.now(dt.timezone.utc).date()
        end = pd.Timestamp(str(self.end)).date() if self.end else today + dt.timedelta(days=1)
        start = pd.Timestamp(str(self.start)).date()
        if self.history_days:
            start = end - dt.timedelta(days=self.history_days)
        return str(start), str(end)


@dataclass(frozen=True)
class WindowConfig:
    column: str = "Open"
    window: int = 60
    target: str = "level"
    train_start: str = "2012-01-01"
    val_start: str = "2016-10-01"  # [val_start, train_end] validates: early stopping, champion
    train_end: str = "2016-12-31"
    test_start: str = "2017-01-01"
    test_end: str = "2017-01-31"
    covariates: dict = field(default_factory=dict)  # {past: [...], future: [...]} (stocks/covariates.py)

    def check(self, where: str) -> None:
        covariates.check_covariates(self.covariates, where)
        if self.target not in TARGETS:
            raise InvalidParameter(f"{where}.target must be one of {', '.join(TARGETS)}, got {self.target!r}.")
        if not isinstance(self.window, int) or self.window <= 0:
            raise InvalidParameter(f"{where}.window must be a positive integer, got {self.window!r}.")
        order = ("train_start", "val_start", "train_end", "test_start", "test_end")
        for first, last in zip(order, order[1:]):
            a, b = str(getattr(self, first)), str(getattr(self, last))
            if a >= b:
                raise InvalidParameter(f"{where}.{first} ({a}) must come before {last} ({b}).")

    def splits(self, dates: pd.DatetimeIndex | None = None, dataset: str | None = None) -> dict[str, tuple]:
        """By the configured dates (`dates`, `dataset`: what the rolling config counts from and names)."""
        fit_end = (pd.Timestamp(str(self.val_start)) - pd.Timedelta(days=1)).date()
        return {"train": (self.train_start, fit_end), "val": (self.val_start, self.train_end),
                "test": (self.test_start, self.test_end)}


def ingest_config(params: dict, dataset: str = "stocks") -> IngestConfig:
    return config_of(IngestConfig, params, dataset, "ingest")


def ticker_of(params: dict, dataset: str = "stocks") -> str:
    """Only the ticker of the ingest section: the stages after ingest read nothing else of it."""
    return check_ticker(section(params, dataset, "ingest", "ticker"))


def window_config(params: dict, dataset: str = "stocks") -> WindowConfig:
    return config_of(WindowConfig, params, dataset, "windows")


class StockPrices(Dataset):
    # "tomorrow = today" stays on screen beside the verdict's strongest baseline (often drift)
    columns = (("persistence_rmse", "persistence RMSE"), ("persistence_skill", "skill vs persistence"),
               ("mape", "MAPE %"), ("directional_accuracy", "direction hit rate"), ("drift_rmse", "drift RMSE"),
               ("seasonal_naive_rmse", "seasonal-naive RMSE"), ("coverage95", "95% interval coverage (nominal 0.95)"),
               ("conformal_coverage95", "95% conformal coverage (nominal 0.95)"),
               ("conformal_width95", "95% conformal width"))
    extra_stages = (ExtraStage(
        name="backtest", module="flows.datasets.stocks.backtest",
        params=("seed", "{dataset}.ingest.ticker", "{dataset}.windows", "{dataset}.backtest", "{dataset}.train.{cell}"),
        deps=("data/raw/{dataset}",), metrics="metrics/{dataset}/backtest_{cell}.json",
        summary_key="mean_skill", label="backtest skill", trains=True),)
    verbs = (Verb("predict", "next-day forecast from the champion model and the latest snapshot",
                  "flows.datasets.stocks.predict", (
                      Option("--ticker", help="default: stocks.ingest.ticker; a model of many tickers: each"),
                      Option("--model-dir", help="a data/models/stocks/<cell> folder instead of the MLflow champion"),
                      Option("--force", action="store_true",
                             help="forecast even when the input lies outside what the model was fitted on"))),)
    plot_roles = {"x": "date", "x_dates": True, "real": "real", "model": "predicted",
                  "baselines": ["persistence", "drift"], "ylabel": "price"}
    # The reference recipe: 4 x LSTM(50), each followed by Dropout(0.2); Adam(1e-3); 100 epochs of batch 32.
    reference_recipe = {cell: {"hidden_size": 50, "num_layers": 4, "dropout": 0.2, "epochs": 100, "batch_size": 32,
                               "lr": 0.001} for cell in ("rnn", "lstm", "gru")}
    tasks, heads = MODEL_TYPES, HEADS

    def __init__(self, name: str = "stocks"):
        self.name = name

    def window_config(self, params: dict):
        return window_config(params, self.name)

    def check(self, params):
        covariates.check_windows(params, self.name, self.window_config(params),
                                 ingest_config(params, self.name).other_tickers())

    def source_files(self, params):
        cfg = ingest_config(params, self.name)
        if cfg.source != "csv":
            return []
        return [*cfg.paths, *other_files(cfg.others, cfg.source)]

    def ingest(self, root, params, out):
        cfg = ingest_config(params, self.name)
        self.ingest_ticker(root, cfg, check_ticker(cfg.ticker), out)
        self.ingest_others(root, cfg, cfg.others, out)

    def ingest_others(self, root, cfg: IngestConfig, others, out) -> None:
        """Each other series its own snapshot, fetched and validated as the ticker's (`cfg`) is."""
        for other in others:
            other_cfg = dataclasses.replace(cfg, paths=others[other]) if cfg.source == "csv" else cfg
            self.ingest_ticker(root, other_cfg, check_ticker(other), out)

    def ingest_ticker(self, root, cfg: IngestConfig, ticker: str, out) -> dict:
        """One ticker's snapshot and its meta file through `out` (cfg.paths: that ticker's CSV files); returns
        the meta (the kept snapshot's, when a failed fetch re-uses it)."""
        target = snapshot_path(root, ticker, self.name)
        start, end = cfg.dates()
        if cfg.source == "csv":
            frame, meta = read_csv_sources(root, cfg, ticker, self.name)
        else:
            try:
                frame = fetch_daily(ticker, start, end, cfg.interval, retries=int(cfg.retries), dataset=self.name)
            except SourceUnavailable as exc:
                reuse = reusable_snapshot(target, start, end)
                if reuse is None:
                    raise
                print(f"WARNING: {exc} Re-using the snapshot {target} fetched {reuse['fetched_at']} "
                      f"({reuse['rows']} rows); results are only as fresh as that.", file=sys.stderr)
                return reuse
            meta = {"source": "yfinance", "yfinance_version": library_version(), "interval": cfg.interval}
        column = cfg.column if cfg.column in frame.columns else frame.columns[0]
        warnings = validate(frame, column, f"{ticker} ({meta['source']})", int(cfg.max_gap_days), self.name)
        for warning in warnings:
            print(f"WARNING: {warning}", file=sys.stderr)
        out.write_text(target.name, to_canonical_csv(frame))
        meta = {**meta, "ticker": ticker, "start": start, "end": end,
                "fetched_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "rows": len(frame),
                "first_date": str(frame.index[0].date()), "last_date": str(frame.index[-1].date()),
                "warnings": warnings}
        out.write_json(target.with_suffix(".meta.json").name, meta)
        return meta

    def windows(self, root, params, out):
        cfg = self.window_config(params)
        ticker = ticker_of(params, self.name)
        frame = covariates.snapshot_with_others(root, ticker, cfg.covariates, self.name)
        column = price_column(frame, cfg.column, ticker)
        series, spec = covariates.build_inputs(frame, column, cfg, cfg.splits(frame.index, self.name), ticker,
                                               self.name)
        check_finite(series, self.name)
        out.save_npy("series.npy", series.astype(np.float32))
        out.write_json("spec.json", {**spec, "ticker": ticker, "column": column})

    def stage_params(self, stage):
        if stage == "windows":  # the snapshot's file name is the ticker
            return [f"{self.name}.ingest.ticker", f"{self.name}.windows"]
        return super().stage_params(stage)

    def load(self, root):
        folder = paths.windows_dir(root, self.name)
        spec = read_json(folder / "spec.json")
        series = np.load(folder / "series.npy", allow_pickle=False)
        train, val, test = (WindowDataset(series, spec["window"], range(*spec[k])) for k in ("train", "val", "test"))
        return Splits(train, val, test, {"window": spec["window"], "spec": spec})

    def task_splits(self, splits, net_cfg):
        if getattr(net_cfg, "multi_step", False) and splits.info["spec"]["transform"]["target"] != "level":
            raise InvalidParameter(f"a multi-step or Gaussian cell forecasts price levels (its intervals stay "
                                   f"Gaussian on the price scale); set {self.name}.windows.target: level.")
        return super().task_splits(splits, net_cfg)

    def known_ahead(self, splits, net_cfg) -> int:
        return covariates.decoder_ahead(splits.info["spec"], net_cfg)

    def budget(self, spec, splits):
        """The net reads as many features per step as the windows hold (1 + the covariates'), and a decoder its
        steps' calendar when the windows carry it on (task_splits)."""
        features = splits.train[0][0].shape[-1]  # (window, features), whatever dataset holds the windows
        ahead = getattr(splits.train, "ahead", 0)
        if (features, ahead) == (spec.net.input_size, spec.net.future_inputs):
            return spec
        return dataclasses.replace(spec, net=dataclasses.replace(spec.net, input_size=features, future_inputs=ahead))

    def model_files(self, splits):
        """What a forecast needs beside the weights: the fitted transform and what the model has seen."""
        spec = splits.info["spec"]
        return {"transform.json": {key: spec[key] for key in ("transform", "window", "column", "ticker")}
                | {"last_seen": spec["dates"][-1]}
                | ({"covariates": covariates.model_covariates(spec)} if "covariates" in spec else {})}

    def splits_for_saved(self, splits, folder):
        """The current prices through the saved model's own fitted transform, as its forecasts read them:
        a level model trained on other years has another MinMax range than today's windows."""
        splits = super().splits_for_saved(splits, folder)
        saved, spec = read_json(Path(folder) / "transform.json"), splits.info["spec"]
        for key in ("ticker", "column"):
            if saved[key] != spec[key]:
                raise Unscorable(f"it was trained on the {key} {saved[key]}, the data is {spec[key]}")
        if saved["transform"]["target"] != spec["transform"]["target"]:
            raise Unscorable(f"it forecasts the {saved['transform']['target']} target, the data is windowed for "
                             f"{spec['transform']['target']}")
        net = saved_network(read_json(Path(folder) / "config.json")["net"])
        if net.future_inputs != covariates.decoder_ahead(spec, net):
            raise Unscorable("its decoder was trained before each step read its own session's calendar; retrain it")
        found = covariates.through_saved(spec, saved)
        if found is None:
            return splits
        series, fitted = found
        train, val, test = (WindowDataset(series, spec["window"], range(*spec[k])) for k in ("train", "val", "test"))
        return Splits(train, val, test, {**splits.info, "spec": fitted})

    def score(self, root, params, net, splits, split):
        windows = getattr(splits, split)
        batch = int(section(params, self.name, "evaluate").get("batch_size", 500))
        if net.cfg.multi_step:
            return self.score_horizons(splits.info["spec"], net, windows, batch, split)
        target_rows = np.asarray(windows.starts) + windows.window
        metrics, table = score_prices(splits.info["spec"], predict_windows(net, windows, batch), target_rows)
        return Scored(metrics, table, self.plot_roles, forecast=point_forecast(table["real"], table["predicted"]))

    def score_horizons(self, spec, net, windows, batch, split):
        """Per-horizon scores on the price scale (level target: an affine map of the model's units)."""
        transform = PriceTransform(**spec["transform"])

        def to_prices(values, sd=False):
            return values * transform.scale + (0 if sd else transform.shift)

        first_days = np.asarray(spec["dates"])[np.asarray(windows.starts) + windows.window]
        return horizons.score(net, windows, batch, WEEK, first_days, f"{self.name} {split}", to_prices,
                              prices=True, ylabel=self.plot_roles["ylabel"], dates=True)


def read_csv_sources(root: Path, cfg: IngestConfig, ticker: str, dataset: str = "stocks") -> tuple[pd.DataFrame, dict]:
    files = [cfg.paths] if isinstance(cfg.paths, str) else list(cfg.paths)
    if not files:
        raise InvalidParameter(f"{dataset}.ingest.source is csv but {dataset}.ingest.paths is empty; list the CSV "
                               f"file(s).")
    frames = [read_price_csv(Path(root) / f, ticker, dataset) for f in files]
    common = [c for c in frames[0].columns if all(c in f.columns for f in frames)]
    return pd.concat([f[common] for f in frames]), {"source": "csv", "files": [str(f) for f in files]}


def reusable_snapshot(target: Path, start: str, end: str) -> dict | None:
    """The last snapshot, when it was fetched for the same dates (a rolling profile's never is)."""
    meta_path = target.with_suffix(".meta.json")
    if not meta_path.exists() or not target.exists():
        return None
    meta = read_json(meta_path)
    same = meta.get("source") == "yfinance" and meta.get("start") == start and meta.get("end") == end
    return meta if same else None


DATASET = StockPrices("stocks")
