"""Forecast error metrics on plain arrays, and the baselines every model must be compared with."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

SIGNIFICANCE = 0.05  # a verdict against a baseline needs p below this


def rmse(real: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(real)) ** 2)))


def mae(real: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(predicted) - np.asarray(real))))


def mape(real: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    real = np.asarray(real)
    return float(100 * np.mean(np.abs((np.asarray(predicted) - real) / real)))


def directional_accuracy(real: np.ndarray, predicted: np.ndarray, previous: np.ndarray) -> float:
    """Share of days where the forecast moves in the direction the price moved (from the day before)."""
    return float(np.mean(np.sign(np.asarray(predicted) - previous) == np.sign(np.asarray(real) - previous)))


def forecast_report(real: np.ndarray, predicted: np.ndarray, persistence: np.ndarray,
                    baselines: dict[str, np.ndarray] | None = None, prices: bool = False) -> dict[str, float]:
    """Errors of the model, of persistence ("next = last") and of other baselines.

    skill = 1 - RMSE_model / RMSE_persistence (above 0 the model is more accurate); dm_pvalue is the
    Diebold-Mariano p-value of the squared-error difference, which says whether that skill is noise.
    prices=True adds MAPE and directional accuracy, which only mean something on a price scale.
    """
    real, predicted, persistence = (np.asarray(a, dtype=np.float64) for a in (real, predicted, persistence))
    report = {"rmse": rmse(real, predicted), "mae": mae(real, predicted)}
    report["mse"] = report["rmse"] ** 2
    for name, forecast in {"persistence": persistence, **(baselines or {})}.items():
        report[f"{name}_rmse"] = rmse(real, forecast)
        report[f"{name}_mae"] = mae(real, forecast)
        if prices:
            report[f"{name}_mape"] = mape(real, forecast)
    if prices:
        report["mape"] = mape(real, predicted)
        report["directional_accuracy"] = directional_accuracy(real, predicted, persistence)
    base = report["persistence_rmse"]
    report["skill"] = 1.0 - report["rmse"] / base if base > 0 else float("nan")
    report["dm_stat"], report["dm_pvalue"] = diebold_mariano((predicted - real) ** 2, (persistence - real) ** 2)
    return report


def diebold_mariano(loss_model: np.ndarray, loss_baseline: np.ndarray, horizon: int = 1) -> tuple[float, float]:
    """Diebold-Mariano test of equal expected loss, with Harvey-Leybourne-Newbold's small-sample correction.

    d_t = loss_model_t - loss_baseline_t; the long-run variance of d uses its autocovariances up to
    lag horizon - 1. Returns (statistic, two-sided p-value from Student's t with n - 1 degrees of
    freedom); a negative statistic means the model's loss is lower. Identical losses give (0, 1).
    """
    d = np.asarray(loss_model, dtype=np.float64) - np.asarray(loss_baseline, dtype=np.float64)
    n = len(d)
    if n < 3:
        return 0.0, 1.0
    centred = d - d.mean()
    variance = centred @ centred / n + 2 * sum(centred[k:] @ centred[:-k] / n for k in range(1, horizon))
    if not variance > 0:
        return 0.0, 1.0 if d.mean() == 0 else 0.0
    statistic = d.mean() / math.sqrt(variance / n)
    statistic *= math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    return float(statistic), float(2 * stats.t.sf(abs(statistic), df=n - 1))


def verdict(skill: float, p_value: float, baseline: str) -> str:
    """Earned words only: 'beats' or 'LOSES to' when the loss difference is significant, else 'no better than'."""
    if p_value < SIGNIFICANCE and skill > 0:
        return f"beats {baseline} (p={p_value:.2g})"
    if p_value < SIGNIFICANCE and skill < 0:
        return f"LOSES to {baseline} (p={p_value:.2g}; the baseline is more accurate)"
    return f"no better than {baseline} (p={p_value:.2g}, not significant)"
