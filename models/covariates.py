"""Extra input features beside the target: scaled on the fit rows only, aligned so no input sees the future.

A window's input row t carries (the target's series value at t, the past covariates of day t, the
known-future covariates of the day after t). At a window's last row the day after t is the day it
forecasts: its calendar is known in advance, its target and its past covariates are not, and neither
ever enters an input. Column 0 stays the target (models.windows.WindowDataset's target_column).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from models.errors import InvalidParameter


@dataclass(frozen=True)
class FeatureScaler:
    """Standardises each past covariate with the mean and standard deviation of the fit rows."""

    names: tuple[str, ...]
    shift: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, fit_values: np.ndarray, names) -> "FeatureScaler":
        values = np.asarray(fit_values, dtype=np.float64).reshape(len(fit_values), len(names))
        if len(values) == 0:
            raise InvalidParameter("no fit rows to scale the covariates on; start the train split earlier.")
        mean, std = values.mean(axis=0), values.std(axis=0)
        flat = std <= 1e-12 * (1 + np.abs(mean))  # a constant column (round-off aside) is left unscaled
        return cls(tuple(names), tuple(map(float, mean)), tuple(1.0 if f else float(s) for f, s in zip(flat, std)))

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureScaler":
        return cls(tuple(data["names"]), tuple(data["shift"]), tuple(data["scale"]))

    def apply(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64).reshape(len(values), len(self.names))
        return (values - np.asarray(self.shift)) / np.asarray(self.scale)

    def to_dict(self) -> dict:
        return {key: list(value) for key, value in asdict(self).items()}


def stack_inputs(series: np.ndarray, past: np.ndarray, future_next: np.ndarray, offset: int) -> np.ndarray:
    """(time,) target series + per-day covariates -> (time, 1 + k + m) model series.

    series[s] belongs to day s + offset (a return needs the day before). past[p]: the scaled past
    covariates of day p, known once day p is over. future_next[p]: the known-future covariates of the
    day AFTER day p, i.e. of the day a window ending at p forecasts."""
    rows = slice(offset, offset + len(series))
    parts = [np.asarray(series, dtype=np.float64)[:, None], np.asarray(past)[rows], np.asarray(future_next)[rows]]
    if any(len(part) != len(series) for part in parts):
        raise InvalidParameter(f"the covariates cover {min(map(len, parts))} days, the series {len(series)}; "
                               f"ingest the covariate columns for every day.")
    return np.column_stack(parts).astype(np.float32)
