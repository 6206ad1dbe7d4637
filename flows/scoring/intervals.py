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
    save with the model, or None for a dataset whose scores carry no forecasts (text). A forecast of many
    series ({"series": {name: forecast}}) is calibrated series by series, into metrics["series"][name],
    with the pooled coverage (over every series' windows) beside the pooled figures."""
    val = scored["val"].forecast
    if val is None:
        return None
    test = scored["test"].forecast if scored.get("test") is not None else None
    if "series" not in val:
        found, calibration = calibrated(val, test, levels)
        for split, update in found.items():
            scored[split].metrics.update(update)
        return calibration
    per_series = {}
    for name, one in val["series"].items():
        found, per_series[name] = calibrated(one, None if test is None else test["series"][name], levels)
        for split, update in found.items():
            scored[split].metrics["series"][name].update(update)
    for split in ("val", "test"):
        if scored.get(split) is not None and scored[split].forecast is not None:
            scored[split].metrics.update(pooled_coverage(scored[split].metrics["series"], levels))
    return {"method": "split conformal on each series' validation split, per horizon step",
            "levels": list(levels), "series": per_series}


def calibrated(val: dict, test: dict | None, levels) -> tuple[dict, dict]:
    """(split -> its conformal figures, the calibration) of one series' validation and test forecasts."""
    real, mean, sd = (None if val.get(k) is None else np.asarray(val[k], dtype=np.float64)
                      for k in ("real", "mean", "sd"))
    half, found = len(real) // 2, {}
    if half:
        first, second = ([None if a is None else a[rows] for a in (real, mean, sd)]
                         for rows in (slice(None, half), slice(half, None)))
        found["val"] = {**figures(*second, calibrate(*first, levels)), "conformal_calibration_windows": half,
                        "conformal_windows": len(real) - half}
    quantiles = calibrate(real, mean, sd, levels)
    if test is not None:
        found["test"] = {**figures(test["real"], test["mean"], test.get("sd"), quantiles),
                         "conformal_calibration_windows": len(real), "conformal_windows": len(test["real"])}
    return found, {"method": "split conformal on the validation split, per horizon step",
                   "score": "absolute error" if sd is None else "absolute error / predicted sd",
                   "levels": list(levels), "calibration_windows": len(real),
                   "quantiles": {level_name(lv): q.tolist() for lv, q in quantiles.items()},
                   "scores_h1": sorted(scores(real[:, :1], mean[:, :1],
                                              None if sd is None else sd[:, :1]).ravel().tolist())}


def pooled_coverage(series: dict, levels) -> dict:
    """The share of every series' scored windows inside their own series' interval, per level. No pooled
    width: the series' intervals are on their own price scales."""
    scored = {name: m for name, m in series.items() if "conformal_windows" in m}
    total = sum(m["conformal_windows"] for m in scored.values())
    if not total:
        return {}
    return {f"conformal_coverage{level_name(lv)}": sum(m[f"conformal_coverage{level_name(lv)}"] * m["conformal_windows"]
                                                       for m in scored.values()) / total for lv in levels} \
        | {"conformal_windows": total}


def figures(real, mean, sd, quantiles) -> dict:
    real, mean = np.asarray(real, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    return interval_report(real, mean, sd, quantiles, gaussian_sd=sd)


def point_forecast(real, predicted) -> dict:
    """A one-step point forecaster's Scored.forecast: (n, 1) arrays."""
    return {"real": np.asarray(real, dtype=np.float64)[:, None],
            "mean": np.asarray(predicted, dtype=np.float64)[:, None], "sd": None}


def quantile_of(calibration: dict, level: float, step: int = 0) -> float:
    return float(calibration["quantiles"][level_name(level)][step])
