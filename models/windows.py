"""Lazy sliding windows: an index into the series, never a materialised (n_windows, window) array."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from models.errors import InvalidParameter


def window_count(length: int, window: int, horizon: int = 1) -> int:
    """How many (window, next-`horizon`) pairs a series of `length` values holds."""
    if not isinstance(window, int) or window <= 0:
        raise InvalidParameter(f"window must be a positive integer, got {window!r}; set windows.window to e.g. 500.")
    count = length - window - horizon + 1
    if count <= 0:
        raise InvalidParameter(
            f"window {window} (+{horizon} target) is longer than the series of {length} values; "
            f"use a window of at most {length - horizon} or a longer series."
        )
    return count


class WindowDataset(Dataset):
    """Item i is (series[i : i+window], series[i+window : i+window+horizon]) for i in `starts`; memory is O(series).

    series: (time,) or (time, features). Inputs come out as (window, features) views of one tensor,
    targets as (horizon,): the input ends at row i+window-1, the first target is the row after it.
    ahead > 0: the last `ahead` columns are known in advance (a calendar), and the input goes on with the
    horizon - 1 rows after the window holding those columns only (every other column zero): what the
    decoder's later steps read (models.forecasters.EncoderDecoder). No later target or past value enters.
    """

    def __init__(self, series: np.ndarray | torch.Tensor, window: int, starts: range | None = None,
                 target_column: int = 0, horizon: int = 1, ahead: int = 0):
        data = torch.as_tensor(np.asarray(series, dtype=np.float32))
        self.series = data[:, None] if data.ndim == 1 else data  # (time, features)
        self.window, self.horizon = window, horizon
        total = window_count(len(self.series), window, horizon)
        self.starts = range(total) if starts is None else starts
        if len(self.starts) and (self.starts[0] < 0 or self.starts[-1] >= total):
            raise InvalidParameter(
                f"window starts {self.starts.start}..{self.starts.stop - 1} fall outside the "
                f"{total} windows the series holds; shorten the splits or lengthen the series."
            )
        self.target_column = target_column
        self.ahead = ahead
        if ahead and not 0 < ahead < self.series.shape[1]:
            raise InvalidParameter(f"{ahead} known-future columns of a series of {self.series.shape[1]} columns; "
                                   f"the target column is never one of them.")

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = self.starts[i]
        end = start + self.window
        targets = self.series[end : end + self.horizon, self.target_column]
        if not self.ahead or self.horizon == 1:
            return self.series[start:end], targets
        later = torch.zeros(self.horizon - 1, self.series.shape[1])
        later[:, -self.ahead :] = self.series[end : end + self.horizon - 1, -self.ahead :]
        return torch.cat([self.series[start:end], later]), targets

    def last_inputs(self) -> torch.Tensor:
        """The last input value of every window, (n,): what a persistence forecast predicts."""
        ends = torch.as_tensor(list(self.starts)) + self.window - 1
        return self.series[ends, self.target_column]

    def targets(self) -> torch.Tensor:
        ends = torch.as_tensor(list(self.starts)) + self.window
        return self.series[ends, self.target_column]

    def target_matrix(self) -> torch.Tensor:
        """(n, horizon): row k holds the values window k forecasts."""
        ends = torch.as_tensor(list(self.starts))[:, None] + self.window + torch.arange(self.horizon)
        return self.series[ends, self.target_column]

    def with_horizon(self, horizon: int, starts: range, ahead: int = 0) -> "WindowDataset":
        """The same series and window, targets `horizon` steps long, for the given window starts."""
        return WindowDataset(self.series, self.window, starts, self.target_column, horizon, ahead)
