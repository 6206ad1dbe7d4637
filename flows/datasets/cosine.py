"""cosine: the reference recipe's series, cos(x) at `points` evenly spaced x in [start, stop] (3000 on [1, 100])."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flows.datasets.generated import GeneratedSeries
from models.errors import InvalidParameter


@dataclass(frozen=True)
class IngestConfig:
    points: int = 3000
    start: float = 1.0
    stop: float = 100.0

    def __post_init__(self):
        if not isinstance(self.points, int) or self.points < 2:
            raise InvalidParameter(f"cosine.ingest.points must be an integer >= 2, got {self.points!r}.")
        if not self.stop > self.start:
            raise InvalidParameter(f"cosine.ingest.stop ({self.stop}) must be greater than start ({self.start}).")

    def series(self) -> np.ndarray:
        return np.cos(np.linspace(self.start, self.stop, self.points))

    def period(self) -> int:
        """Samples per cycle (2 pi in x), rounded: the seasonal-naive baseline's lag."""
        return round(2 * np.pi * (self.points - 1) / (self.stop - self.start))


# The reference recipe: Keras SimpleRNN(200, activation="linear"), Adam(1e-3), 10 epochs of batch 100; other cells
# keep its shape.
REFERENCE = {"hidden_size": 200, "num_layers": 1, "epochs": 10, "batch_size": 100, "lr": 0.001}
DATASET = GeneratedSeries("cosine", IngestConfig, "cos(linspace(start, stop, points))",
                          {"rnn": {**REFERENCE, "activation": "linear"}, "lstm": REFERENCE, "gru": REFERENCE})
