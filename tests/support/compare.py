"""Plain-Python oracle of the dashboards' comparisons (roles/shiny_server/files/app/R/compare.R):
the previous period, a figure's relative change, and the Wilson 95 % interval of a rate."""

from __future__ import annotations

import math
from datetime import date, timedelta

Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile


def previous_period(first: date, last: date) -> tuple[date, date]:
    """The period of the same length just before [first, last]."""
    days = (last - first).days + 1
    return first - timedelta(days=days), first - timedelta(days=1)


def relative_change(current: float, previous: float) -> float | None:
    """(current - previous) / |previous|; None without a finite ratio (a previous zero)."""
    return None if previous == 0 else (current - previous) / abs(previous)


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of successes / trials, clipped to [0, 1]; None for no trials."""
    if trials == 0:
        return None
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
