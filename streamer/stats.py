"""One percentile for every figure livehost reports (status, /metrics, benchmarks), so they agree."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest rank on the sorted values, ``q`` in [0, 1]: ``percentile(x, 0.5)`` is the median. Raises
    ``ValueError`` for no values (callers say "none yet" instead of inventing a figure)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]
