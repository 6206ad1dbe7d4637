"""Forecast error metrics on plain arrays, and the baselines every model must be compared with."""
from __future__ import annotations

import numpy as np


def rmse(real: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(real)) ** 2)))


def mae(real: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(predicted) - np.asarray(real))))


def forecast_report(real: np.ndarray, predicted: np.ndarray, persistence: np.ndarray) -> dict[str, float]:
    """Errors of the model and of persistence ("next = last"); skill > 0 means the model beats it."""
    model_rmse, base_rmse = rmse(real, predicted), rmse(real, persistence)
    return {
        "rmse": model_rmse,
        "mse": model_rmse**2,
        "mae": mae(real, predicted),
        "persistence_rmse": base_rmse,
        "persistence_mae": mae(real, persistence),
        "skill_vs_persistence": 1.0 - model_rmse / base_rmse if base_rmse > 0 else float("nan"),
    }
