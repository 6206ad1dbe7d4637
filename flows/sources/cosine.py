"""The seed's generated series: cos(x) sampled at `points` evenly spaced x in [start, stop]."""
from __future__ import annotations

import numpy as np

from models.errors import InvalidParameter


def cosine_series(points: int = 3000, start: float = 1.0, stop: float = 100.0) -> np.ndarray:
    if not isinstance(points, int) or points < 2:
        raise InvalidParameter(f"cosine.ingest.points must be an integer >= 2, got {points!r}.")
    if not stop > start:
        raise InvalidParameter(f"cosine.ingest.stop ({stop}) must be greater than start ({start}).")
    return np.cos(np.linspace(start, stop, points))
