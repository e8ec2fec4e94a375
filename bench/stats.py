"""Side-by-side statistics: per-round samples, medians, spreads and ratios to a baseline.

Every figure of the suite is a ratio measured in one run: in each round every contender is
measured once (in a shuffled order), the ratio to the baseline is taken *within the round*, and the
median of those per-round ratios is reported with its interquartile range. Noise that hits a whole
round (another process on the shared machine) cancels out of the ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Samples", "Summary", "quartiles", "ratio_samples", "summarize"]


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """``(q1, median, q3)`` of ``values`` (inclusive method; one value gives it thrice)."""
    if not values:
        raise ValueError("no values")
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


@dataclass(frozen=True, slots=True)
class Summary:
    """The median of some samples and their interquartile range."""

    median: float
    q1: float
    q3: float
    count: int

    def format(self, digits: int = 1, suffix: str = "") -> str:
        """``median (q1-q3)``, e.g. ``4.2 (4.1-4.4)``."""
        m, a, b = (f"{v:.{digits}f}" for v in (self.median, self.q1, self.q3))
        return f"{m}{suffix} ({a}-{b})"


def summarize(values: Sequence[float]) -> Summary:
    """The :class:`Summary` of ``values``."""
    q1, median, q3 = quartiles(sorted(values))
    return Summary(median, q1, q3, len(values))


@dataclass(slots=True)
class Samples:
    """Per-round samples of several contenders, by name (one value per round each)."""

    rounds: list[dict[str, float]] = field(default_factory=list)

    def add_round(self, values: dict[str, float]) -> None:
        """Record one round."""
        self.rounds.append(dict(values))

    def values(self, name: str) -> list[float]:
        """Every sample of ``name``."""
        return [r[name] for r in self.rounds if name in r]

    def summary(self, name: str) -> Summary:
        """The summary of ``name``'s samples."""
        return summarize(self.values(name))

    def ratio(self, name: str, baseline: str) -> Summary:
        """The summary of ``name / baseline``, taken round by round."""
        return summarize(ratio_samples(self.rounds, name, baseline))


def ratio_samples(rounds: Iterable[dict[str, float]], name: str, baseline: str) -> list[float]:
    """``name / baseline`` in every round that measured both (and a non-zero baseline)."""
    return [r[name] / r[baseline] for r in rounds if name in r and r.get(baseline)]
