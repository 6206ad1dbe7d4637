"""Prices -> model series and back, with every statistic fit on the training rows only.

Two formulations of "predict tomorrow's price from the last `window` days":
- level (the reference recipe): MinMax-scale the price to [0, 1] on the training years; the target is the
  next scaled price. Test prices above the training maximum fall outside anything the network
  has seen, and a model that mostly copies its last input scores like persistence at best.
- log_return: standardise r_t = log(p_t / p_{t-1}) on the training years; the target is the next
  return, and the forecast is p_{t-1} * exp(r_hat). Returns are closer to stationary, so train and
  test look alike, and the baseline "r_hat = mean return" is exactly the drift forecast.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from models.errors import InvalidParameter

TARGETS = ("level", "log_return")


@dataclass(frozen=True)
class PriceTransform:
    target: str
    shift: float  # level: training min; log_return: training mean return
    scale: float  # level: training max - min; log_return: training std of returns
    drift: float  # mean training log return (the drift baseline's daily step)

    @classmethod
    def fit(cls, train_prices: np.ndarray, target: str) -> "PriceTransform":
        if target not in TARGETS:
            raise InvalidParameter(f"target must be one of {', '.join(TARGETS)}, got {target!r}.")
        prices = np.asarray(train_prices, dtype=np.float64)
        returns = np.diff(np.log(prices))
        drift = float(returns.mean()) if len(returns) else 0.0
        if target == "level":
            low, high = float(prices.min()), float(prices.max())
            return cls(target, low, (high - low) or 1.0, drift)
        return cls(target, drift, float(returns.std()) or 1.0, drift)

    @property
    def offset(self) -> int:
        """Price index = series index + offset (a return needs the day before)."""
        return 1 if self.target == "log_return" else 0

    def to_series(self, prices: np.ndarray) -> np.ndarray:
        prices = np.asarray(prices, dtype=np.float64)
        raw = prices if self.target == "level" else np.diff(np.log(prices))
        return ((raw - self.shift) / self.scale).astype(np.float32)

    def to_price(self, predicted: np.ndarray, previous_price: np.ndarray) -> np.ndarray:
        """Model outputs -> prices; previous_price is the last real price before each forecast day."""
        value = np.asarray(predicted, dtype=np.float64) * self.scale + self.shift
        return value if self.target == "level" else np.asarray(previous_price) * np.exp(value)

    def to_dict(self) -> dict:
        return asdict(self)


def window_starts(target_price_rows: np.ndarray, window: int, offset: int) -> range:
    """Series window starts whose target falls on the given (contiguous) price rows."""
    rows = np.asarray(target_price_rows)
    if len(rows) == 0:
        return range(0)
    first = int(rows[0]) - offset - window
    if first < 0:
        raise InvalidParameter(
            f"the first forecast day needs {window + offset} earlier rows but only {rows[0]} exist; "
            f"start the split later, shorten the window, or ingest earlier data.")
    return range(first, first + len(rows))
