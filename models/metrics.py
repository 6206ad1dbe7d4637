"""Forecast error metrics on plain arrays, and the baselines every model must be compared with."""
from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr, ndtri  # not scipy.stats: its import alone costs each stage seconds

from models.significance import against_baselines


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
                    baselines: dict[str, np.ndarray] | None = None, prices: bool = False,
                    dependence: int = 1) -> dict:
    """Errors of the model, of persistence ("next = last") and of other baselines, and the verdict's
    figures against the strongest of them (models.significance.against_baselines).

    `dependence`: the lags over which the losses are correlated by construction (overlap_lags of the
    windows). prices=True adds MAPE and directional accuracy, which only mean something on a price scale.
    """
    real, predicted, persistence = (np.asarray(a, dtype=np.float64) for a in (real, predicted, persistence))
    forecasts = {"persistence": persistence,
                 **{k: np.asarray(v, dtype=np.float64) for k, v in (baselines or {}).items()}}
    report = {"rmse": rmse(real, predicted), "mae": mae(real, predicted)}
    report["mse"] = report["rmse"] ** 2
    for name, forecast in forecasts.items():
        report[f"{name}_rmse"] = rmse(real, forecast)
        report[f"{name}_mae"] = mae(real, forecast)
        if prices:
            report[f"{name}_mape"] = mape(real, forecast)
    if prices:
        report["mape"] = mape(real, predicted)
        report["directional_accuracy"] = directional_accuracy(real, predicted, persistence)
    report.update(against_baselines((predicted - real) ** 2, {n: (f - real) ** 2 for n, f in forecasts.items()},
                                    report["rmse"], {n: report[f"{n}_rmse"] for n in forecasts}, dependence))
    return report


# --- multi-step and probabilistic forecasts (models/forecasters.py) ------------------------------
INTERVALS = (0.8, 0.95)  # central intervals in the plots and coverage metrics


def horizon_key(h: int, horizon: int) -> str:
    """h01..h50: the same names for every type with the same horizon, so MLflow runs line up."""
    return f"h{h:0{max(2, len(str(horizon)))}d}"


def gaussian_nll(real, mean, variance) -> np.ndarray:
    real, mean, variance = (np.asarray(a, dtype=np.float64) for a in (real, mean, variance))
    return 0.5 * (np.log(2 * np.pi * variance) + (real - mean) ** 2 / variance)


def gaussian_crps(real, mean, sd) -> np.ndarray:
    """Continuous ranked probability score of N(mean, sd^2) at `real` (Gneiting & Raftery 2007, closed form)."""
    real, mean, sd = (np.asarray(a, dtype=np.float64) for a in (real, mean, sd))
    z = (real - mean) / sd
    pdf = np.exp(-z ** 2 / 2.0) / np.sqrt(2 * np.pi)  # scipy.stats.norm.pdf's own formula
    return sd * (z * (2 * ndtr(z) - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


def interval(mean, sd, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The central `level` interval of N(mean, sd^2)."""
    half = ndtri(0.5 + level / 2) * np.asarray(sd, dtype=np.float64)
    return np.asarray(mean) - half, np.asarray(mean) + half


def coverage(real, low, high) -> float:
    """Share of values inside [low, high]; a calibrated 95% interval covers about 0.95."""
    real = np.asarray(real)
    return float(np.mean((real >= low) & (real <= high)))


def horizon_report(real: np.ndarray, predicted: np.ndarray, baselines: dict[str, np.ndarray],
                   variance: np.ndarray | None = None, prices: bool = False, dependence: int = 1) -> dict:
    """Errors of an (n windows, H steps) forecast per step h and overall, against baselines of the same shape.

    Per step: rmse_h01.., <baseline>_rmse_h01..; with a variance also crps_, coverage80_, coverage95_.
    Overall: rmse (and each baseline's) is the MEAN over h of the per-step RMSE, so every step counts
    alike; skill and the loss test against every baseline and the strongest (against_baselines) compare
    the per-window mean squared error over the H steps; `dependence` is overlap_lags(window, H).
    """
    real, predicted = np.asarray(real, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    horizon = real.shape[1]
    keys = [horizon_key(h, horizon) for h in range(1, horizon + 1)]
    report: dict[str, float] = {"horizon": horizon, "windows": len(real)}

    def per_step(name: str, values) -> None:
        values = [float(v) for v in values]
        report.update({f"{name}_{k}": v for k, v in zip(keys, values)})
        report[name] = float(np.mean(values))

    per_step("rmse", np.sqrt(np.mean((predicted - real) ** 2, 0)))
    per_step("mae", np.mean(np.abs(predicted - real), 0))
    if prices:
        per_step("mape", 100 * np.mean(np.abs((predicted - real) / real), 0))
    for name, forecast in baselines.items():
        per_step(f"{name}_rmse", np.sqrt(np.mean((np.asarray(forecast) - real) ** 2, 0)))
        report[f"{name}_mae"] = float(np.mean(np.abs(np.asarray(forecast) - real)))  # overall only: MLflow takes
        # at most 1000 metrics per batch, and per-step columns of every figure would reach that at H ~ 60
    report["mse"] = float(np.mean((predicted - real) ** 2))
    report.update(against_baselines(
        np.mean((predicted - real) ** 2, 1), {n: np.mean((np.asarray(f) - real) ** 2, 1) for n, f in baselines.items()},
        report["rmse"], {n: report[f"{n}_rmse"] for n in baselines}, dependence))
    if variance is not None:
        sd = np.sqrt(np.asarray(variance, dtype=np.float64))
        per_step("crps", np.mean(gaussian_crps(real, predicted, sd), 0))
        report["nll"] = float(np.mean(gaussian_nll(real, predicted, sd**2)))
        for level in INTERVALS:
            low, high = interval(predicted, sd, level)
            per_step(f"coverage{round(level * 100)}", [coverage(real[:, i], low[:, i], high[:, i])
                                                       for i in range(horizon)])
    return report
