"""Conformal prediction intervals on plain arrays: split conformal per horizon step, and adaptive
conformal inference (ACI, Gibbs & Candes 2021) for a stream of forecasts scored one by one.

Nonconformity score of a forecast: |y - mean| for a point head, |y - mean| / sd for a Gaussian head
(the head's own spread decides the shape, the calibration its size). Split conformal's guarantee,
P(y in interval) >= level, assumes the calibration and the new scores are exchangeable; overlapping
windows of one series are not quite, which is why evaluate reports coverage on data it did not
calibrate on (flows/scoring/intervals.py), and why the rolling profile adapts (ACI).
"""
from __future__ import annotations

import math

import numpy as np

from models.errors import InvalidParameter
from models.metrics import coverage, horizon_key, interval

GAMMA = 0.005  # ACI step size Gibbs & Candes used on daily stock returns


def check_levels(levels, where: str) -> tuple[float, ...]:
    """Central interval levels, e.g. (0.8, 0.95); one sentence naming `where` when they are not."""
    ok = (isinstance(levels, (list, tuple)) and len(levels) > 0
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1 for v in levels)
          and len(set(levels)) == len(levels))
    if not ok:
        raise InvalidParameter(f"{where} must be a list of distinct interval levels strictly between 0 and 1, "
                               f"e.g. [0.8, 0.95]; got {levels!r}.")
    return tuple(float(v) for v in levels)


def level_name(level: float) -> str:
    """0.8 -> '80', 0.95 -> '95', 0.975 -> '97.5': the suffix of coverage80, conformal_width95 ..."""
    return f"{level * 100:g}"


def scores(real, mean, sd=None) -> np.ndarray:
    """(n, H) nonconformity scores."""
    error = np.abs(np.asarray(real, dtype=np.float64) - np.asarray(mean, dtype=np.float64))
    return error if sd is None else error / np.asarray(sd, dtype=np.float64)


def quantile(values, level: float) -> float:
    """The ceil((n + 1) level)-th smallest of n scores: a new exchangeable score lies at or below it with
    probability >= level. +inf when n is too small for that level ((n + 1) level > n)."""
    values = np.sort(np.asarray(values, dtype=np.float64).ravel())
    rank = math.ceil((len(values) + 1) * level - 1e-9)  # the tolerance keeps (19 + 1) * 0.95 at 19, not 20
    return math.inf if rank > len(values) else float(values[rank - 1])


def calibrate(real, mean, sd, levels) -> dict[float, np.ndarray]:
    """level -> (H,) score quantiles, one per horizon step, from (n, H) calibration forecasts."""
    found = scores(real, mean, sd)
    return {level: np.array([quantile(found[:, h], level) for h in range(found.shape[1])]) for level in levels}


def bounds(mean, sd, q) -> tuple[np.ndarray, np.ndarray]:
    """The interval mean -/+ q (point) or mean -/+ q sd (Gaussian), q broadcast over the steps."""
    half = np.asarray(q, dtype=np.float64) * (1.0 if sd is None else np.asarray(sd, dtype=np.float64))
    return np.asarray(mean) - half, np.asarray(mean) + half


def interval_report(real, mean, sd, quantiles: dict[float, np.ndarray], gaussian_sd=None) -> dict:
    """conformal_coverage80, conformal_width80 (mean over steps) and their _hNN per step, per level; with
    `gaussian_sd` also gaussian_coverage80 and gaussian_width80(_hNN): the Gaussian head's own central
    interval on the same windows (its per-step coverage is horizon_report's coverage80_hNN)."""

    real, mean = np.asarray(real, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    horizon = real.shape[1]
    keys = [horizon_key(h, horizon) for h in range(1, horizon + 1)]
    report: dict[str, float] = {}

    def figures(name: str, low, high, per_step_coverage: bool) -> None:
        cover = [coverage(real[:, i], low[:, i], high[:, i]) for i in range(horizon)]
        width = np.mean(high - low, 0)
        report[f"{name.format('coverage')}"] = float(np.mean(cover))
        report[f"{name.format('width')}"] = float(np.mean(width))
        if per_step_coverage:
            report.update({f"{name.format('coverage')}_{k}": float(c) for k, c in zip(keys, cover)})
        report.update({f"{name.format('width')}_{k}": float(w) for k, w in zip(keys, width)})

    for level, q in quantiles.items():
        tag = level_name(level)
        figures("conformal_{}" + tag, *bounds(mean, sd, q), per_step_coverage=True)
        if gaussian_sd is not None:
            figures("gaussian_{}" + tag, *interval(mean, gaussian_sd, level), per_step_coverage=False)
    return report


def aci_alpha(misses, level: float, gamma: float = GAMMA) -> float:
    """ACI's miscoverage after a run of outcomes (1 = the realised value fell outside its interval):
    alpha_{t+1} = alpha_t + gamma (alpha - miss_t), from alpha_1 = alpha = 1 - level."""
    target = 1 - level
    return target + gamma * float(np.sum(target - np.asarray(misses, dtype=np.float64)))


def adaptive(calibration, new_scores, level: float, gamma: float = GAMMA, window: int | None = None) -> dict:
    """Adaptive conformal inference over a stream: before score s_t arrives, the interval's score bound is
    the (1 - alpha_t) quantile of the pool (the calibration scores, then each realised score, the last
    `window` of them kept); afterwards alpha_{t+1} = alpha_t + gamma (alpha - miss_t) with alpha = 1 - level.
    alpha_t <= 0 gives an unbounded interval, alpha_t >= 1 an empty one, so alpha_t stays in
    [-gamma, 1 + gamma] and over any T consecutive steps |miss rate - alpha| <= (1 + 2 gamma) / (gamma T),
    whatever the scores do (Gibbs & Candes 2021, Prop. 4.1)."""
    target = 1 - level
    alpha, pool = target, list(np.asarray(calibration, dtype=np.float64).ravel())
    alphas, bound, covered = [], [], []
    for s in np.asarray(new_scores, dtype=np.float64).ravel():
        q = next_bound(pool, alpha)
        alphas.append(alpha)
        bound.append(q)
        covered.append(bool(s <= q))
        alpha += gamma * (target - (0.0 if covered[-1] else 1.0))  # aci_alpha, one step at a time
        pool.append(float(s))
        if window is not None:
            pool = pool[-window:]
    return {"alpha": np.array(alphas), "bound": np.array(bound), "covered": np.array(covered),
            "next_alpha": alpha, "next_bound": next_bound(pool, alpha)}


def next_bound(pool, alpha: float) -> float:
    """The score bound at miscoverage alpha: +inf for alpha <= 0 (always cover), -inf for alpha >= 1 (never)."""
    if alpha <= 0:
        return math.inf
    if alpha >= 1:
        return -math.inf
    return quantile(pool, 1 - alpha)
