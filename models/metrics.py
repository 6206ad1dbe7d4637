"""Forecast error metrics on plain arrays, and the baselines every model must be compared with."""
from __future__ import annotations

import numpy as np


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

    skill_vs_persistence = 1 - RMSE_model / RMSE_persistence: above 0 the model beats persistence.
    prices=True adds MAPE and directional accuracy, which only mean something on a price scale.
    """
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
    report["skill_vs_persistence"] = 1.0 - report["rmse"] / base if base > 0 else float("nan")
    return report
