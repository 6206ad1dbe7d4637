"""backtest-stocks-<cell>: walk-forward evaluation inside the training years, so one lucky month proves nothing.

Fold k (of N) forecasts the `horizon` trading days that end (N - k) * horizon days before the
validation period starts, from a model trained on every earlier day (an expanding window). With
`refit: false` one model, trained before the first fold, forecasts every fold; with `refit: true`
each fold trains its own. Neither the validation period nor the test month is touched here.
"""
from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path

import numpy as np

from flows import tracking
from flows.core import paths
from flows.core.atomic import staged_outputs
from flows.core.params import load_params, section, train_spec
from flows.datasets import get
from flows.datasets.base import Splits
from flows.datasets.stocks import ticker_of, window_config
from flows.datasets.stocks.covariates import build_inputs, snapshot_with_others
from flows.datasets.stocks.series import price_column, score_prices
from flows.orchestration.stage_command import stage_main
from flows.scoring.regression_nets import predict
from flows.training.lightning_fit import fit
from models.errors import InvalidParameter
from models.runtime import flush_denormals
from models.windows import WindowDataset

FOLD_METRICS = ("rmse", "persistence_rmse", "drift_rmse", "mape", "directional_accuracy", "persistence_skill",
                "skill", "strongest_baseline", "dm_pvalue")


def fold_bounds(first_row: int, end_row: int, folds: int, horizon: int) -> list[tuple[int, int]]:
    """[start, stop) price rows of each fold's forecast days; the last fold ends at end_row."""
    if not (isinstance(folds, int) and folds > 0 and isinstance(horizon, int) and horizon > 0):
        raise InvalidParameter(f"backtest folds and horizon must be positive integers, got {folds!r} and {horizon!r}.")
    start = end_row - folds * horizon
    if start <= first_row:
        raise InvalidParameter(f"{folds} folds of {horizon} days do not fit in the training period; "
                               f"use fewer folds or a shorter horizon.")
    return [(start + k * horizon, start + (k + 1) * horizon) for k in range(folds)]


def backtest_spec(params: dict, dataset: str, cell: str):
    """The cell's TrainSpec as the backtest trains it: short fits in this process, one after another, on one
    device whatever the cell trains on, for `backtest.epochs` when set."""
    cfg = section(params, dataset, "backtest")
    spec = dataclasses.replace(train_spec(params, dataset, cell), devices=1, num_nodes=1)
    if cfg.get("epochs"):
        spec = dataclasses.replace(spec, optim=dataclasses.replace(spec.optim, epochs=int(cfg["epochs"])))
    return spec


def fit_rows_of(dates, wcfg, dataset: str) -> np.ndarray:
    """The rows of `dates` the folds are cut from: train_start up to the day before val_start."""
    rows = np.flatnonzero((dates >= str(wcfg.train_start)) & (dates < str(wcfg.val_start)))
    if len(rows) == 0:
        raise InvalidParameter(f"no trading days between {dataset}.windows.train_start and val_start; check the "
                               f"dates.")
    return rows


def folds_of(dates, wcfg, cfg: dict, dataset: str) -> list[dict]:
    """Each fold's {"train": (first day, last day), "test": (first day, last day)} as ISO dates."""
    fit_rows = fit_rows_of(dates, wcfg, dataset)
    bounds = fold_bounds(int(fit_rows[0]), int(fit_rows[-1]) + 1, cfg.get("folds", 4), cfg.get("horizon", 20))
    first = str(dates[fit_rows[0]].date())
    return [{"train": (first, str(dates[lo - 1].date())), "test": (str(dates[lo].date()), str(dates[hi - 1].date()))}
            for lo, hi in bounds]


def backtest(root: Path, dataset: str, cell: str) -> dict:
    flush_denormals()
    params = load_params(root)
    cfg, wcfg = section(params, dataset, "backtest"), window_config(params, dataset)
    spec = backtest_spec(params, dataset, cell)
    ticker = ticker_of(params, dataset)
    frame = snapshot_with_others(root, ticker, wcfg.covariates, dataset)
    column = price_column(frame, wcfg.column, ticker)
    refit, plugin = bool(cfg.get("refit", False)), get(dataset)
    results, net, fitted = [], None, None
    for k, fold in enumerate(folds_of(frame.index, wcfg, cfg, dataset)):
        series, fold_spec = build_inputs(frame, column, wcfg, fold, ticker, dataset, None if refit else fitted)
        train_set, test_set = (WindowDataset(series, fold_spec["window"], range(*fold_spec[s])) for s in fold)
        # A multi-step cell trains on H targets per window (none reaching the fold) and is scored at h = 1
        train_set = plugin.task_splits(Splits(train_set, None, test_set, {"spec": fold_spec}), spec.net).train
        if refit or net is None:
            spec = plugin.budget(spec, Splits(train_set, None))  # as many input features as the windows hold
            build = functools.partial(plugin.build_module, spec, None)
            module, _ = fit(spec, build, train_set, None, progress_bar=False)
            net, fitted = module.net.eval(), fold_spec
        metrics, _ = score_prices(fold_spec, predict(net, test_set), np.asarray(test_set.starts) + test_set.window)
        results.append(fold_row(k, fold, refit, results, metrics))
    return write_summary(root, dataset, cell, cfg, spec, results)


def fold_row(k: int, fold: dict, refit: bool, results: list[dict], metrics: dict) -> dict:
    """Fold k's line of the summary: its days, what its model was trained until, and its figures."""
    until = fold["train"][1]
    return {"fold": k + 1, "first_day": fold["test"][0], "last_day": fold["test"][1],
            "trained_until": until if refit or k == 0 else results[0]["trained_until"],
            **{m: metrics[m] for m in FOLD_METRICS if m in metrics}}


def write_summary(root: Path, dataset: str, cell: str, cfg: dict, spec, results: list[dict],
                  module: str = "flows/datasets/stocks/backtest.py", **extra) -> dict:
    """The backtest's metrics file and its MLflow run (kind=backtest), from the folds' rows (`module`: the
    stage's script, the run's entry point; `extra`: summary keys kept out of MLflow's metrics)."""
    refit = bool(cfg.get("refit", False))
    summary = {"cell": cell, "folds": len(results), "horizon": cfg.get("horizon", 20), "refit": refit,
               "epochs": spec.optim.epochs, "mean_skill": float(np.mean([r["skill"] for r in results])),
               "mean_rmse": float(np.mean([r["rmse"] for r in results])),
               "mean_persistence_rmse": float(np.mean([r["persistence_rmse"] for r in results])),
               "folds_beating_persistence": sum(r["persistence_skill"] > 0 for r in results), **extra,
               "per_fold": results}
    with staged_outputs(root) as out:
        out.write_json(paths.backtest_file(root, dataset, cell), summary)
        # a run of its own (kind=backtest), a child of the pipeline run, so the UI compares backtests of cells
        tracking.log_summary_run(
            root, dataset, "backtest", {k: v for k, v in summary.items() if k not in ("per_fold", *extra)},
            cell=cell, params={k: summary[k] for k in ("folds", "horizon", "refit", "epochs")},
            curves={"fold_skill": [(f["fold"], f["skill"]) for f in summary["per_fold"]]},
            entry_point=f"{module} {dataset} {cell}",
            description=f"{dataset}/{cell}: walk-forward backtest, {summary['folds']} folds of {summary['horizon']} "
                        f"sessions")
    print(f"backtest {dataset}/{cell}: mean skill vs persistence {summary['mean_skill']:+.3f} "
          f"({summary['folds_beating_persistence']}/{summary['folds']} folds beat it)")
    return summary

if __name__ == "__main__":
    sys.exit(stage_main(backtest, needs_cell=True))
