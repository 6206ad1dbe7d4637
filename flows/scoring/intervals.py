"""Conformal intervals in the evaluate stage: calibrated on the validation split, per horizon step, at
<dataset>.evaluate.intervals (default models.metrics.INTERVALS), for any forecaster whose Scored carries
its forecasts (models/conformal.py has the maths).

Where they are scored, so that no coverage is measured on the data that calibrated it:
- test: calibrated on all validation windows;
- val: calibrated on the first half of the validation windows (in time order) and scored on the
  second half. The halves are adjacent, so a multi-step cell's last calibration windows share targets
  with the first scored ones; with hundreds of windows that touches a few of them.
The calibration itself (quantiles per level and step, and the h=1 scores for the rolling profile's
adaptive update) is saved beside the model's weights as conformal.json.
"""
from __future__ import annotations

import numpy as np

from models.conformal import calibrate, check_levels, interval_report, level_name, scores
from models.metrics import INTERVALS

CALIBRATION_FILE = "conformal.json"


def levels_of(evaluate_section: dict, dataset: str) -> tuple[float, ...]:
    return check_levels(list(evaluate_section.get("intervals", INTERVALS)), f"{dataset}.evaluate.intervals")


def add_intervals(scored: dict, levels: tuple[float, ...]) -> dict | None:
    """Adds the conformal figures to scored['val'] and scored['test'] metrics; returns the calibration to
    save with the model, or None for a dataset whose scores carry no forecasts (text)."""
    val = scored["val"].forecast
    if val is None:
        return None
    real, mean, sd = (None if val.get(k) is None else np.asarray(val[k], dtype=np.float64)
                      for k in ("real", "mean", "sd"))
    half = len(real) // 2
    if half:
        first, second = ([None if a is None else a[rows] for a in (real, mean, sd)]
                         for rows in (slice(None, half), slice(half, None)))
        scored["val"].metrics.update(figures(*second, calibrate(*first, levels)),
                                     conformal_calibration_windows=half, conformal_windows=len(real) - half)
    quantiles = calibrate(real, mean, sd, levels)
    if scored.get("test") is not None and scored["test"].forecast is not None:
        test = scored["test"].forecast
        scored["test"].metrics.update(figures(test["real"], test["mean"], test.get("sd"), quantiles),
                                      conformal_calibration_windows=len(real), conformal_windows=len(test["real"]))
    return {"method": "split conformal on the validation split, per horizon step",
            "score": "absolute error" if sd is None else "absolute error / predicted sd",
            "levels": list(levels), "calibration_windows": len(real),
            "quantiles": {level_name(lv): q.tolist() for lv, q in quantiles.items()},
            "scores_h1": sorted(scores(real[:, :1], mean[:, :1], None if sd is None else sd[:, :1]).ravel().tolist())}


def figures(real, mean, sd, quantiles) -> dict:
    real, mean = np.asarray(real, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    return interval_report(real, mean, sd, quantiles, gaussian_sd=sd)


def point_forecast(real, predicted) -> dict:
    """A one-step point forecaster's Scored.forecast: (n, 1) arrays."""
    return {"real": np.asarray(real, dtype=np.float64)[:, None],
            "mean": np.asarray(predicted, dtype=np.float64)[:, None], "sd": None}


def quantile_of(calibration: dict, level: float, step: int = 0) -> float:
    return float(calibration["quantiles"][level_name(level)][step])
