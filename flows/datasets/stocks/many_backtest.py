"""backtest-<dataset>-<cell> for many series: stocks' walk-forward backtest (backtest.py) with one global
model over every ticker.

The folds are cut from the first ticker's sessions and their dates apply to every series, as the split
dates do. Each fold's model is trained on every series' windows before the fold (each series through its
own transform and covariate scaler, fit on its own rows before the fold, or the first fold's with
`refit: false`), and scored per series on its own price scale and pooled on the log price, against
persistence and drift with the loss test on the per-date average loss (panel.py), as the test split is.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

from flows.core.params import load_params, section
from flows.datasets import get
from flows.datasets.base import Splits
from flows.datasets.stocks import window_config
from flows.datasets.stocks.backtest import backtest_spec, fold_row, folds_of, write_summary
from flows.datasets.stocks.covariates import snapshot_with_others
from flows.datasets.stocks.many import SeriesWindows, series_inputs, series_lags, tickers_of
from flows.datasets.stocks.panel import pooled_report
from flows.datasets.stocks.series import score_prices
from flows.orchestration.stage_command import stage_main
from flows.scoring.regression_nets import predict
from flows.training.lightning_fit import fit
from models.runtime import flush_denormals
from models.windows import WindowDataset

SERIES_METRICS = ("rmse", "persistence_rmse", "skill", "persistence_skill")


def fold_windows(frames: dict, wcfg, fold: dict, dataset: str, fitted: dict | None) -> dict[str, tuple]:
    """ticker -> (its fold series, its fold spec); `fitted`: ticker -> an earlier fold's spec to apply."""
    return {t: series_inputs(frame, wcfg, fold, t, dataset, fitted[t] if fitted else None)
            for t, frame in frames.items()}


def fold_sets(parts: dict[str, tuple]) -> tuple[SeriesWindows, dict[str, WindowDataset]]:
    """fold_windows' series -> (every series' windows before the fold, as one training set; ticker -> its
    windows forecasting the fold's days)."""
    train = SeriesWindows({t: WindowDataset(s, one["window"], range(*one["train"])) for t, (s, one) in parts.items()})
    return train, {t: WindowDataset(s, one["window"], range(*one["test"])) for t, (s, one) in parts.items()}


def backtest(root: Path, dataset: str, cell: str) -> dict:
    flush_denormals()
    params = load_params(root)
    cfg, wcfg = section(params, dataset, "backtest"), window_config(params, dataset)
    spec = backtest_spec(params, dataset, cell)
    frames = {t: snapshot_with_others(root, t, wcfg.covariates, dataset) for t in tickers_of(params, dataset)}
    refit, plugin = bool(cfg.get("refit", False)), get(dataset)
    results, net, fitted = [], None, None
    for k, fold in enumerate(folds_of(next(iter(frames.values())).index, wcfg, cfg, dataset)):
        parts = fold_windows(frames, wcfg, fold, dataset, None if refit else fitted)
        train, tests = fold_sets(parts)
        if refit or net is None:
            spec = plugin.budget(spec, Splits(train, None))  # as many input features as the windows hold
            module, _ = fit(spec, functools.partial(plugin.build_module, spec, None), train, None, progress_bar=False)
            net, fitted = module.net.eval(), {t: one for t, (_, one) in parts.items()}
        scored = {t: score_prices(one, predict(net, tests[t]), np.asarray(tests[t].starts) + tests[t].window)
                  for t, (_, one) in parts.items()}
        lags = series_lags(next(iter(parts.values()))[1])
        row = fold_row(k, fold, refit, results, pooled_report({t: table for t, (_, table) in scored.items()}, lags))
        results.append({**row, "series": {t: {m: metrics[m] for m in SERIES_METRICS}
                                          for t, (metrics, _) in scored.items()}})
    return write_summary(root, dataset, cell, cfg, spec, results, module="flows/datasets/stocks/many_backtest.py",
                         tickers=list(frames))


if __name__ == "__main__":
    sys.exit(stage_main(backtest, needs_cell=True))
