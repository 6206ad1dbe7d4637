"""Scores over several price series at once: pooled figures, and one model's errors against another's.

Prices of different tickers live on different scales (GOOG ~800, a small cap ~20), so pooled figures
are on the log-price scale: log(forecast) - log(real) is about the relative error, comparable across
series. The pooled loss test averages the squared log errors of all series on each date and tests that
one series of dates (the cross-sectional average of the loss difference): same-day errors of several
stocks move together, and treating them as independent observations would overstate the evidence.
"""
from __future__ import annotations

import numpy as np

from models.metrics import rmse
from models.significance import against_baselines, diebold_mariano

BASELINES = ("persistence", "drift")  # the columns of score_prices' table the model is compared with


def log_errors(table: dict, column: str) -> np.ndarray:
    return np.log(np.asarray(table[column], dtype=np.float64)) - np.log(np.asarray(table["real"], dtype=np.float64))


def by_date(tables: dict[str, dict], column: str) -> np.ndarray:
    """The squared log error of `column`, averaged over the series that have each date, in date order."""
    dates = np.concatenate([np.asarray(t["date"]) for t in tables.values()])
    losses = np.concatenate([log_errors(t, column) ** 2 for t in tables.values()])
    order, inverse = np.unique(dates, return_inverse=True)
    return np.bincount(inverse, weights=losses, minlength=len(order)) / np.bincount(inverse, minlength=len(order))


def pooled_report(tables: dict[str, dict], dependence: int = 1, model: str = "predicted") -> dict:
    """Pooled RMSE of log prices (model and each baseline), skill and the loss test against the strongest
    baseline on the per-date average loss (`dependence`: the windows' overlap_lags). `tables`: ticker ->
    score_prices' table (date, real, persistence, drift, predicted)."""
    errors = {name: np.concatenate([log_errors(t, name) for t in tables.values()]) for name in (model, *BASELINES)}
    report = {"rmse": rmse(np.zeros_like(errors[model]), errors[model]), "mae": float(np.mean(np.abs(errors[model]))),
              "series_count": len(tables), "forecasts": int(len(errors[model]))}
    report["mse"] = report["rmse"] ** 2
    for name in BASELINES:
        report[f"{name}_rmse"] = rmse(np.zeros_like(errors[name]), errors[name])
        report[f"{name}_mae"] = float(np.mean(np.abs(errors[name])))
    report.update(against_baselines(by_date(tables, model), {n: by_date(tables, n) for n in BASELINES},
                                    report["rmse"], {n: report[f"{n}_rmse"] for n in BASELINES}, dependence))
    return report


def head_to_head(first: dict, second: dict, dependence: int = 1) -> dict:
    """Two forecasts of the same days (score_prices' tables): RMSE on the price scale of each, and the
    Diebold-Mariano test of their squared errors (a negative statistic: `first` is more accurate)."""
    real = np.asarray(first["real"], dtype=np.float64)
    if not np.array_equal(np.asarray(first["date"]), np.asarray(second["date"])):
        raise ValueError("the two forecasts are of different days")
    a, b = (np.asarray(t["predicted"], dtype=np.float64) for t in (first, second))
    test = diebold_mariano((a - real) ** 2, (b - real) ** 2, dependence)
    return {"first_rmse": rmse(real, a), "second_rmse": rmse(real, b), "dm_stat": test.statistic,
            "dm_pvalue": test.p_value, "dm_stretches": test.stretches}


def pooled_head_to_head(first: dict[str, dict], second: dict[str, dict], dependence: int = 1) -> dict:
    """head_to_head over every series, on the log scale, tested on the per-date average loss."""
    a, b = (np.concatenate([log_errors(t, "predicted") for t in tables.values()]) for tables in (first, second))
    test = diebold_mariano(by_date(first, "predicted"), by_date(second, "predicted"), dependence)
    return {"first_rmse": rmse(np.zeros_like(a), a), "second_rmse": rmse(np.zeros_like(b), b),
            "dm_stat": test.statistic, "dm_pvalue": test.p_value, "dm_stretches": test.stretches}
