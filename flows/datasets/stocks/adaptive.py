"""The rolling profile's intervals: adaptive conformal inference (Gibbs & Candes 2021) driven by the
forecast log, one update for each forecast the scorecard scores.

Each forecast row records, per level, the interval it was made with (low80, high80 ...) and the
miscoverage alpha80 that set it. The next forecast's alpha is the ACI update replayed over every
scored row that had an interval (models.conformal.aci_alpha), and its interval is the forecast -/+
the (1 - alpha) quantile of the scores pool (times the head's sd, for a Gaussian head): the
champion's validation scores at h = 1 (its conformal.json) and the last POOL realised scores of
the live forecasts. A miss narrows alpha, so the next interval widens; a run of hits lets it shrink.
Split conformal alone would keep the validation months' width whatever the market does since.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.conformal import GAMMA, aci_alpha, level_name, next_bound

POOL = 250  # about a year of live scores: old enough volatility leaves the pool


def level_names(log: pd.DataFrame) -> list[str]:
    """The levels the log holds intervals for ('80', '95' ...), from its low80 ... columns, in order."""
    return sorted({c[3:] for c in log.columns if c.startswith("low")}, key=float)


def interval_columns(log: pd.DataFrame) -> list[str]:
    """The log's interval columns, alpha80 low80 high80 alpha95 ... and scale, in a stable order."""
    found = [f"{kind}{n}" for n in level_names(log) for kind in ("alpha", "low", "high")]
    return [*found, "scale"] if found else []


def scored(log: pd.DataFrame) -> pd.DataFrame:
    return log.dropna(subset=["realised"])


def misses(log: pd.DataFrame, name: str) -> np.ndarray:
    """1 for each scored forecast whose realised price fell outside its `name`% interval (rows made
    before the interval existed carry none and are left out)."""
    if f"low{name}" not in log.columns:
        return np.zeros(0)
    rows = scored(log).dropna(subset=[f"low{name}", f"high{name}"])
    realised = rows["realised"].to_numpy(float)
    return 1.0 - ((rows[f"low{name}"].to_numpy(float) <= realised) & (realised <= rows[f"high{name}"].to_numpy(float)))


def live_scores(log: pd.DataFrame) -> list[float]:
    rows = scored(log)
    scale = rows["scale"].to_numpy(float) if "scale" in rows.columns else np.ones(len(rows))
    scale = np.where(np.isfinite(scale), scale, 1.0)  # rows from before intervals: a point forecast's 1
    return (np.abs(rows["error"].to_numpy(float)) / scale).tolist()[-POOL:]


def next_interval(log: pd.DataFrame, made: dict, gamma: float = GAMMA) -> dict:
    """The new forecast's columns: per level its ACI alpha and interval; {} without a calibration."""
    calibration = made.get("calibration")
    if not calibration:
        return {}
    pool = [*calibration["scores_h1"], *live_scores(log)]
    scale = made.get("sd") or 1.0
    row = {"scale": scale}
    for level in calibration["levels"]:
        name = level_name(level)
        alpha = aci_alpha(misses(log, name), level, gamma)
        q = next_bound(pool, alpha)
        half = 0.0 if q == -math.inf else q * scale  # alpha >= 1: ACI's empty set, a zero-width interval here
        row |= {f"alpha{name}": alpha, f"low{name}": made["forecast"] - half, f"high{name}": made["forecast"] + half}
    return row


def card_figures(log: pd.DataFrame) -> dict:
    """Per level: the share of scored forecasts inside their interval, their mean width, how many."""
    found = {}
    for name in level_names(log):
        rows = scored(log).dropna(subset=[f"low{name}", f"high{name}"])
        if len(rows):
            found[f"aci_coverage{name}"] = float(1 - np.mean(misses(log, name)))
            found[f"aci_width{name}"] = float(np.mean(rows[f"high{name}"].to_numpy(float)
                                                      - rows[f"low{name}"].to_numpy(float)))
            found[f"aci_scored{name}"] = int(len(rows))
    return found
