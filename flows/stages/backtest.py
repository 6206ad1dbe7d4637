"""backtest: walk-forward evaluation inside the training years, so one lucky test month proves nothing.

Fold k (of N) forecasts the `horizon` trading days that end (N - k) * horizon days before the
training period's end, from a model trained on every earlier day (an expanding window). With
`refit: false` one model, trained before the first fold, forecasts every fold; with `refit: true`
each fold trains its own. The test month itself is never touched here.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from flows import paths, tracking
from flows.atomic import write_json
from flows.params import load_params, section, train_spec
from flows.stages.evaluate import predict
from flows.stages.stocks import build_windows, load_snapshot, score
from flows.stages.train import fit
from models.errors import InvalidParameter
from models.price_windows import PriceTransform
from models.runtime import flush_denormals
from models.windows import WindowDataset


def fold_bounds(first_row: int, end_row: int, folds: int, horizon: int) -> list[tuple[int, int]]:
    """[start, stop) price rows of each fold's forecast days; the last fold ends at end_row."""
    if not (isinstance(folds, int) and folds > 0 and isinstance(horizon, int) and horizon > 0):
        raise InvalidParameter(f"backtest folds and horizon must be positive integers, got {folds!r} and {horizon!r}.")
    start = end_row - folds * horizon
    if start <= first_row:
        raise InvalidParameter(f"{folds} folds of {horizon} days do not fit in the training period; "
                               f"use fewer folds or a shorter horizon.")
    return [(start + k * horizon, start + (k + 1) * horizon) for k in range(folds)]


def backtest(root: Path, dataset: str, cell: str) -> dict:
    flush_denormals()
    params = load_params(root)
    cfg = section(params, dataset, "backtest")
    wcfg = section(params, dataset, "windows")
    spec = train_spec(params, dataset, cell)
    if cfg.get("epochs"):
        spec = dataclasses.replace(spec, optim=dataclasses.replace(spec.optim, epochs=int(cfg["epochs"])))
    _, frame = load_snapshot(root, params)
    column = wcfg.get("column", "Open") if wcfg.get("column", "Open") in frame.columns else frame.columns[0]
    prices, dates = frame[column].to_numpy(), frame.index
    train_rows = np.flatnonzero((dates >= str(wcfg["train_start"])) & (dates <= str(wcfg["train_end"])))
    if len(train_rows) == 0:
        raise InvalidParameter("no trading days in the train split; check stocks.windows train dates.")
    bounds = fold_bounds(int(train_rows[0]), int(train_rows[-1]) + 1, cfg.get("folds", 4), cfg.get("horizon", 20))
    refit = bool(cfg.get("refit", False))
    results, net, transform = [], None, None
    for k, (lo, hi) in enumerate(bounds):
        fold_cfg = {**wcfg, "train_start": str(dates[train_rows[0]].date()), "train_end": str(dates[lo - 1].date()),
                    "test_start": str(dates[lo].date()), "test_end": str(dates[hi - 1].date())}
        series, fold_spec = build_windows(prices, dates, fold_cfg, None if refit else transform)
        train_set, test_set = (WindowDataset(series, fold_spec["window"], range(*fold_spec[split]))
                               for split in ("train", "val"))
        if refit or net is None:
            module, _ = fit(spec, train_set, None, progress_bar=False)
            net, transform = module.net.eval(), PriceTransform(**fold_spec["transform"])
        metrics, _ = score(fold_spec, predict(net, test_set), np.asarray(test_set.starts) + test_set.window)
        results.append({"fold": k + 1, "first_day": fold_cfg["test_start"], "last_day": fold_cfg["test_end"],
                        "trained_until": fold_cfg["train_end"] if refit or k == 0 else results[0]["trained_until"],
                        **{m: metrics[m] for m in ("rmse", "persistence_rmse", "drift_rmse", "mape",
                                                   "directional_accuracy", "skill_vs_persistence")}})
    summary = {"cell": cell, "folds": len(results), "horizon": cfg.get("horizon", 20), "refit": refit,
               "epochs": spec.optim.epochs,
               "mean_skill_vs_persistence": float(np.mean([r["skill_vs_persistence"] for r in results])),
               "mean_rmse": float(np.mean([r["rmse"] for r in results])),
               "mean_persistence_rmse": float(np.mean([r["persistence_rmse"] for r in results])),
               "folds_beating_persistence": sum(r["skill_vs_persistence"] > 0 for r in results),
               "per_fold": results}
    write_json(paths.backtest_file(root, dataset, cell), summary)
    tracking.log_backtest(root, dataset, cell, summary)
    return summary
