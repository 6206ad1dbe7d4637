"""Time to quality from a validation curve, read so that a lucky dip does not count.

A curve is a list of (epoch, seconds, value) points in training order. Quality is reached at the first
point after which every later point of the run stays at or below the target; a curve that dips under
the target and rises again has not reached it at the dip. Only the run's own end can be seen, so a curve
that ends below the target "reaches" it, as far as the run can tell.
"""
from __future__ import annotations

import math
import statistics


def settled_at(curve: list, target: float) -> tuple[int, float] | None:
    """(epoch, seconds) of the first point from which the curve stays <= target to its end; None if it ends above."""
    reached = None
    for epoch, seconds, value in curve:
        if value <= target:  # NaN compares False: a diverged point breaks the run of good points
            reached = reached or (epoch, seconds)
        else:
            reached = None
    return reached


def median_time(values: list[float | None]) -> float | None:
    """Median over seeds, a seed that never settled counting as slower than any other; None when the median
    itself is such a seed (more than half, or the middle pair, never settled)."""
    if not values:
        return None
    median = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(median) else median
