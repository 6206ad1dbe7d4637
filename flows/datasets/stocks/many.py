"""stocks_many: many tickers, one model. The stocks task on a list of series, each windowed alone.

Each ticker gets its own snapshot (data/raw/<dataset>/<TICKER>.csv, versioned as stocks' one) and its
own transform, fit on its own fit rows only (a log return standardised by that series' mean and sd);
the split dates apply to every series and no window crosses from one series into another. Covariates
(windows.covariates, as stocks' own: covariates.py) are built per series, each scaled on its own fit rows;
the other series (ingest.others, e.g. an index) are read beside every ticker. A cell
trains ONE global model on the union of every series' training windows (shuffled together); the
`local` stage trains the same cell once per ticker and compares the two per series (local.py).
Scores are per series on the price scale, and pooled on the log-price scale (panel.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import ConcatDataset

from flows.core import paths
from flows.core.atomic import read_json
from flows.core.params import config_of, section
from flows.datasets.base import Dataset, ExtraStage, Headline, Scored, Splits, Unscorable, check_finite
from flows.datasets.stocks import SOURCES, IngestConfig, StockPrices, check_others, covariates, other_files
from flows.datasets.stocks.panel import pooled_report
from flows.datasets.stocks.prices import PriceDataError, check_ticker
from flows.datasets.stocks.series import price_column, score_prices
from flows.datasets.stocks.series_table import series_html
from flows.scoring.intervals import point_forecast
from flows.scoring.regression_nets import predict as predict_windows
from models.errors import InvalidParameter
from models.model_types import DEFAULT
from models.price_windows import PriceTransform
from models.significance import overlap_lags
from models.windows import WindowDataset

SPLITS = ("train", "val", "test")
LOCAL_METRICS = "metrics/{dataset}/local_{cell}.json"  # the local stage's comparison of scopes
PRICES = ("real", "persistence", "drift", "predicted")  # score_prices' forecast columns
ALL_META = "_series.meta.json"  # beside the tickers' own (a ticker cannot start with _)


def check_tickers(tickers: Any, source: str, where: str) -> dict[str, list]:
    """ticker -> its CSV files (empty for yfinance), in the order given; one sentence on a bad list."""
    example = "{GOOG: [data/sources/goog.csv], MSFT: [data/sources/msft.csv]}" if source == "csv" else "[GOOG, MSFT]"
    if source == "csv" and not isinstance(tickers, dict):
        raise InvalidParameter(f"{where}.tickers must map each ticker to its CSV file(s) for source csv, e.g. "
                               f"{example}; got {tickers!r}.")
    if source != "csv" and not isinstance(tickers, list):
        raise InvalidParameter(f"{where}.tickers must be a list of symbols for source {source}, e.g. {example}; "
                               f"got {tickers!r}.")
    if not tickers:
        raise InvalidParameter(f"{where}.tickers is empty; list at least one ticker, e.g. {example}.")
    found: dict[str, list] = {}
    for name in tickers:
        try:
            ticker = check_ticker(name)
        except PriceDataError as exc:
            raise InvalidParameter(f"{where}.tickers: {exc}") from None
        if ticker in found:
            raise InvalidParameter(f"{where}.tickers names {ticker} twice; list each ticker once.")
        files = tickers[name] if isinstance(tickers, dict) else []
        files = [files] if isinstance(files, str) else files
        if source == "csv" and (not isinstance(files, list) or not files):
            raise InvalidParameter(f"{where}.tickers.{name} must be a CSV path or a list of them, got {files!r}.")
        found[ticker] = list(files)
    return found


@dataclass(frozen=True)
class ManyIngestConfig:
    source: str = "yfinance"
    tickers: Any = None  # yfinance: [GOOG, MSFT, ...]; csv: {GOOG: [file, ...], MSFT: file, ...}
    start: str = "2012-01-01"
    end: str | None = "2017-02-01"  # exclusive
    interval: str = "1d"
    column: str = "Open"
    max_gap_days: int = 10
    retries: int = 3
    others: list | dict = field(default_factory=list)  # series read beside every ticker, as stocks' others

    def check(self, where: str) -> None:
        if self.source not in SOURCES:
            raise InvalidParameter(f"{where}.source must be yfinance or csv, got {self.source!r}.")
        check_others(self.others, self.source, list(check_tickers(self.tickers, self.source, where)), where)

    def other_tickers(self) -> list[str]:
        return [check_ticker(t) for t in self.others]

    def per_ticker(self, where: str) -> dict[str, IngestConfig]:
        """Each ticker's ingest as the one-series profile reads it (the same fetch, checks and snapshot)."""
        return {ticker: IngestConfig(source=self.source, ticker=ticker, start=self.start, end=self.end,
                                     history_days=None, interval=self.interval, paths=files, column=self.column,
                                     max_gap_days=self.max_gap_days, retries=self.retries)
                for ticker, files in check_tickers(self.tickers, self.source, where).items()}


def ingest_config(params: dict, dataset: str) -> ManyIngestConfig:
    return config_of(ManyIngestConfig, params, dataset, "ingest")


def tickers_of(params: dict, dataset: str) -> list[str]:
    """Only the tickers key of the ingest section: the stages after ingest read nothing else of it."""
    raw = section(params, dataset, "ingest", "tickers")
    return list(check_tickers(raw, "csv" if isinstance(raw, dict) else "yfinance", f"{dataset}.ingest"))


class SeriesWindows(ConcatDataset):
    """One split's windows of every series, one after another: item i is a (window, target) of one series."""

    def __init__(self, parts: dict[str, WindowDataset]):
        super().__init__(list(parts.values()))
        self.parts = parts
        self.window = next(iter(parts.values())).window


def series_splits(series: np.ndarray, spec: dict) -> dict[str, Splits]:
    """ticker -> its own Splits, read from the concatenated series of the windows stage."""
    found = {}
    for ticker, one in spec["series"].items():
        data = series[one["at"] : one["at"] + one["series_length"]]
        windows = [WindowDataset(data, spec["window"], range(*one[name])) for name in SPLITS]
        found[ticker] = Splits(*windows, {"window": spec["window"], "spec": one})
    return found


def joined(parts: dict[str, Splits], spec: dict) -> Splits:
    return Splits(*(SeriesWindows({t: getattr(s, name) for t, s in parts.items()}) for name in SPLITS),
                  {"window": spec["window"], "spec": spec, "series": parts})


def score_part(part: Splits, net, split: str, batch: int) -> tuple[dict, dict]:
    """One series' split through `net`: its price-scale metrics and score_prices' table."""
    windows = getattr(part, split)
    rows = np.asarray(windows.starts) + windows.window
    return score_prices(part.info["spec"], predict_windows(net, windows, batch), rows)


def dependence(splits: Splits) -> int:
    """Lags over which the losses of overlapping windows are correlated (a return reads one day more)."""
    return series_lags(next(iter(splits.info["spec"]["series"].values())))


def series_lags(one: dict) -> int:
    """dependence() of one series' spec (every series has the same window and target)."""
    return overlap_lags(one["window"] + PriceTransform(**one["transform"]).offset)


def series_inputs(frame, cfg, splits: dict, ticker: str, dataset: str, fitted: dict | None = None):
    """One ticker's (model series, spec with the price column read) by covariates.build_inputs on `splits`'
    dates, its errors naming the ticker."""
    column = price_column(frame, cfg.column, ticker)
    try:
        series, spec = covariates.build_inputs(frame, column, cfg, splits, ticker, dataset, fitted)
    except InvalidParameter as exc:
        raise InvalidParameter(f"the {ticker} series: {exc}") from None
    return series, {**spec, "column": column}


class ManyStockPrices(StockPrices):
    headline = Headline("rmse", "persistence", "pooled RMSE of log price")
    columns = (("persistence_rmse", "persistence RMSE (log price)"), ("drift_rmse", "drift RMSE (log price)"),
               ("persistence_skill", "skill vs persistence"), ("series_count", "series"),
               ("conformal_coverage95", "95% conformal coverage, every series' own (nominal 0.95)"))
    extra_stages = (ExtraStage(
        name="local", module="flows.datasets.stocks.local",
        params=("seed", "{dataset}.ingest.tickers", "{dataset}.windows", "{dataset}.evaluate",
                "{dataset}.train.{cell}"),
        deps=("data/windows/{dataset}", "data/models/{dataset}/{cell}"), metrics=LOCAL_METRICS,
        summary_key="global_skill_vs_local", label="global vs local skill (test)", trains=True), ExtraStage(
        name="backtest", module="flows.datasets.stocks.many_backtest",
        params=("seed", "{dataset}.ingest.tickers", "{dataset}.windows", "{dataset}.backtest",
                "{dataset}.train.{cell}"),
        deps=("data/raw/{dataset}",), metrics="metrics/{dataset}/backtest_{cell}.json",
        summary_key="mean_skill", label="pooled backtest skill", trains=True))
    # The table runs through the tickers one after another (x: "<TICKER> <date>"), prices and, drawn, each as a
    # change from the previous price: tickers of any price level on one axis, errors about the pooled ones
    plot_roles = {"x": "window", "real": "real_pct", "model": "predicted_pct",
                  "baselines": ["persistence_pct", "drift_pct"], "ylabel": "% change from the previous price"}
    tasks, heads = (DEFAULT,), ("point",)  # one-step point forecasts: the pooled scores are of those

    def check(self, params):
        covariates.check_windows(params, self.name, self.window_config(params),
                                 ingest_config(params, self.name).other_tickers())

    def source_files(self, params):
        cfg = ingest_config(params, self.name)
        return [*(f for files in check_tickers(cfg.tickers, cfg.source, f"{self.name}.ingest").values() for f in files),
                *other_files(cfg.others, cfg.source)]

    def ingest(self, root, params, out):
        cfg = ingest_config(params, self.name)
        singles = cfg.per_ticker(f"{self.name}.ingest")
        metas = [self.ingest_ticker(root, one, ticker, out) for ticker, one in singles.items()]
        self.ingest_others(root, next(iter(singles.values())), cfg.others, out)
        # written last, so the newest meta file: what a training run names as its data (flows.graph.lineage)
        out.write_json(ALL_META, {"source": metas[0]["source"], "ticker": ", ".join(m["ticker"] for m in metas),
                                  "first_date": min(m["first_date"] for m in metas),
                                  "last_date": max(m["last_date"] for m in metas),
                                  "files": [f for m in metas for f in m.get("files", [])]})

    def stage_params(self, stage):
        if stage == "windows":  # the snapshots' file names are the tickers
            return [f"{self.name}.ingest.tickers", f"{self.name}.windows"]
        return Dataset.stage_params(self, stage)

    def windows(self, root, params, out):
        cfg = self.window_config(params)
        pieces, spec = [], {"window": cfg.window, "column": cfg.column, "target": cfg.target, "series": {}}
        for ticker in tickers_of(params, self.name):
            frame = covariates.snapshot_with_others(root, ticker, cfg.covariates, self.name)
            # each series' transform (and covariate scaler) is fit on its own fit rows only
            series, one = series_inputs(frame, cfg, cfg.splits(frame.index, self.name), ticker, self.name)
            check_finite(series, f"{self.name} {ticker}")
            at = sum(len(p) for p in pieces)
            pieces.append(series.astype(np.float32))
            spec["series"][ticker] = {**one, "ticker": ticker, "at": at}
        out.save_npy("series.npy", np.concatenate(pieces))
        out.write_json("spec.json", spec)

    def load(self, root):
        folder = paths.windows_dir(root, self.name)
        spec = read_json(folder / "spec.json")
        return joined(series_splits(np.load(folder / "series.npy", allow_pickle=False), spec), spec)

    def model_files(self, splits):
        spec = splits.info["spec"]
        return {"transform.json": {"window": spec["window"], "column": spec["column"], "series": {
            ticker: {"transform": one["transform"], "ticker": ticker, "last_seen": one["dates"][-1]}
            | ({"covariates": covariates.model_covariates(one)} if "covariates" in one else {})
            for ticker, one in spec["series"].items()}}}

    def splits_for_saved(self, splits, folder):
        """Every series through the saved model's own transform of it; a model of other tickers is no candidate."""
        splits = Dataset.splits_for_saved(self, splits, folder)
        saved, spec = read_json(Path(folder) / "transform.json"), splits.info["spec"]
        if sorted(saved["series"]) != sorted(spec["series"]) or saved["column"] != spec["column"]:
            raise Unscorable(f"it was trained on {', '.join(saved['series'])} ({saved['column']}), the data is "
                             f"{', '.join(spec['series'])} ({spec['column']})")
        parts = dict(splits.info["series"])
        for ticker, one in spec["series"].items():
            fitted = saved["series"][ticker]["transform"]
            if fitted["target"] != one["transform"]["target"]:
                raise Unscorable(f"it forecasts the {fitted['target']} target, the data is windowed for "
                                 f"{one['transform']['target']}")
            found = covariates.through_saved(one, saved["series"][ticker])
            if found is not None:
                data, refit = found
                parts[ticker] = Splits(*(WindowDataset(data, spec["window"], range(*one[n])) for n in SPLITS),
                                       {"window": spec["window"], "spec": refit})
        return joined(parts, {**spec, "series": {t: p.info["spec"] for t, p in parts.items()}})

    def report_html(self, root, cell):
        return series_html(root, self.name, cell, LOCAL_METRICS)

    def batch(self, params) -> int:
        return int(section(params, self.name, "evaluate").get("batch_size", 500))

    def score(self, root, params, net, splits, split):
        scored = {t: score_part(part, net, split, self.batch(params)) for t, part in splits.info["series"].items()}
        tables = {t: table for t, (_, table) in scored.items()}
        metrics = {**pooled_report(tables, dependence(splits)), "series": {t: m for t, (m, _) in scored.items()}}
        table = {"window": [f"{t} {d}" for t, tab in tables.items() for d in tab["date"]],
                 "ticker": [t for t, tab in tables.items() for _ in tab["date"]],
                 **{k: np.concatenate([np.asarray(tab[k]) for tab in tables.values()])
                    for k in ("date", *PRICES)}}
        table.update({f"{k}_pct": 100 * (table[k] / table["persistence"] - 1) for k in PRICES})
        # conformal intervals per series (intervals.add_intervals): absolute price errors of tickers on
        # different scales share no quantile, so each ticker is calibrated on its own validation errors
        forecast = {"series": {t: point_forecast(tab["real"], tab["predicted"]) for t, tab in tables.items()}}
        return Scored(metrics, table, self.plot_roles, forecast=forecast)


DATASET = ManyStockPrices("stocks_many")
