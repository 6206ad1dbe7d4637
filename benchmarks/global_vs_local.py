"""Many series, one model: a global model against per-series (local) models of the same cell.

The series: the seed's Google CSVs (GOOG Open, 2012 - January 2017) and generated ones on the same
trading days, each at its own price level: two geometric random walks (nothing to learn beyond the
drift) and one whose daily log returns follow an AR(1) (something to learn). The stocks_many plug-in's
own stage functions make the snapshots and windows (each series standardised on its own fit rows);
one global model trains on every series' windows, then flows/datasets/stocks/local.py trains the same
cell once per series and scores both per series: test RMSE on the price scale, the Diebold-Mariano
p-value of each against the strongest baseline and of global against local; which scope would be
chosen is read on validation. Prints JSON (--out also writes it).

    python benchmarks/global_vs_local.py [--data ../shared/data] [--seeds 7] [--epochs 8] [--out FILE]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from emit import args_json, emit, load

from flows.core.params import with_defaults

REPO = Path(__file__).resolve().parents[1]
SEED_CSVS = ("Google_Stock_Price_Train.csv", "Google_Stock_Price_Test.csv")
# ticker -> (first price, daily sd of log returns, AR(1) coefficient of the returns)
GENERATED = {"GBM1": (40.0, 0.012, 0.0), "GBM2": (150.0, 0.02, 0.0), "AR1": (80.0, 0.015, 0.3)}
DATA_SEED = 2017  # the generated paths are the same for every training seed
# Not the seed's split: its test month (20 sessions) holds too few stretches of the windows' dependence
# (window + 1 lags) for any valid Diebold-Mariano test (models/significance.py, MIN_STRETCHES), so every
# p-value there is n/a. Here the test period is the last 13 months (about 270 sessions) and the window 20.
WINDOWS = {"window": 20, "train_start": "2012-01-01", "val_start": "2015-07-01", "train_end": "2015-12-31",
           "test_start": "2016-01-01", "test_end": "2017-01-31"}


def generated(days: pd.DatetimeIndex, first: float, sd: float, phi: float, rng) -> pd.DataFrame:
    """OHLCV on `days` from a log-price path with AR(1) returns (phi 0: a geometric random walk)."""
    shocks = rng.normal(0.0, sd * np.sqrt(1 - phi**2), len(days))
    returns = np.zeros(len(days))
    for t in range(1, len(days)):
        returns[t] = phi * returns[t - 1] + shocks[t]
    close = first * np.exp(np.cumsum(returns + 0.0002))
    return pd.DataFrame({"Open": close * np.exp(rng.normal(0, sd / 4, len(days))), "High": close * 1.01,
                         "Low": close * 0.99, "Close": close, "Volume": 1e6}, index=pd.DatetimeIndex(days, name="Date"))


def write_sources(root: Path, data_dir: Path) -> dict[str, list[str]]:
    from flows.datasets.stocks.prices import read_price_csv

    (root / "data/sources").mkdir(parents=True)
    for name in SEED_CSVS:
        shutil.copy(data_dir / name, root / "data/sources" / name)
    days = pd.concat([read_price_csv(root / "data/sources" / n) for n in SEED_CSVS]).index
    rng = np.random.default_rng(DATA_SEED)
    tickers = {"GOOG": [f"data/sources/{n}" for n in SEED_CSVS]}
    for ticker, (first, sd, phi) in GENERATED.items():
        generated(days, first, sd, phi, rng).to_csv(root / f"data/sources/{ticker}.csv")
        tickers[ticker] = [f"data/sources/{ticker}.csv"]
    return tickers


def run(seed: int, args) -> dict:
    from flows.core.params import train_spec
    from flows.datasets import get
    from flows.datasets.stocks.local import compare_scopes
    from flows.stages.ingest import ingest
    from flows.stages.windows import make_windows
    from flows.training.lightning_fit import fit

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        params = with_defaults(yaml.safe_load((REPO / "params.yaml").read_text()))
        params["seed"] = seed
        many = params["stocks_many"]
        many["ingest"].update(source="csv", tickers=write_sources(root, args.data))
        many["windows"].update(WINDOWS)
        cell = {"hidden_size": args.hidden_size, "num_layers": 1, "epochs": args.epochs, "batch_size": 64,
                "lr": args.lr, "clip": 1.0, "patience": 3, "keep_best": True}
        many["train"] = {args.cell: cell}
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        ingest(root, "stocks_many")
        make_windows(root, "stocks_many")
        plugin = get("stocks_many")
        spec = dataclasses.replace(train_spec(params, "stocks_many", args.cell), devices=1, num_nodes=1)
        splits = plugin.load(root)
        started = time.perf_counter()
        module, trainer = fit(spec, lambda: plugin.build_module(spec, splits), splits.train, splits.val,
                              progress_bar=False)
        global_seconds = time.perf_counter() - started
        started = time.perf_counter()
        found = compare_scopes(plugin, splits, spec, module.net.eval(), plugin.batch(params))
        return {"seed": seed, "global_train_seconds": round(global_seconds, 1),
                "local_train_and_score_seconds": round(time.perf_counter() - started, 1),
                "global_epochs": trainer.current_epoch, "train_windows": len(splits.train), **found}


def cell_arguments(doc: str, seeds: list[int], hidden_size: int, epochs: int, lr: float) -> argparse.Namespace:
    """The stocks benchmarks' options (the data, the seeds, the cell and its training), parsed; torch's threads set."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seeds", nargs="+", type=int, default=seeds)
    parser.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden-size", type=int, default=hidden_size)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ["RNNOPS_PROGRESS_BAR"] = "0"  # stdout carries the JSON
    import torch

    torch.set_num_threads(args.threads)
    return args


def main() -> None:
    args = cell_arguments(__doc__, seeds=[7], hidden_size=16, epochs=8, lr=0.003)
    before = load()
    windows = {**with_defaults(yaml.safe_load((REPO / "params.yaml").read_text()))["stocks_many"]["windows"], **WINDOWS}
    result = {"benchmark": "global_vs_local", "config": {**args_json(args), "windows": windows,
                                                         "generated": GENERATED,
                                                         "data_seed": DATA_SEED},
              "runs": [run(seed, args) for seed in args.seeds]}
    emit(result, before, args.out)


if __name__ == "__main__":
    main()
