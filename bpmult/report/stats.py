"""Confidence interval of a difference of means over seeds: Welch's t (unequal variances).

Each arm is a set of seeds of one run, summarised as (mean, sample std with ddof 1, n). The
interval of mean_a − mean_b is d ± t_{0.975, ν} · se with se² = s_a²/n_a + s_b²/n_b and the
Welch–Satterthwaite degrees of freedom ν = se⁴ / Σ (s_i²/n_i)² / (n_i − 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import t  # installed with scikit-learn

WELCH_METHOD = ("Welch's t interval for the difference of means over seeds (unequal variances, "
                "Welch–Satterthwaite degrees of freedom, sample std with ddof 1), 95 % two-sided")


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: mean, sample std (ddof 1) and seed count."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> "Arm":
        n = len(values)
        if n == 0:
            raise ValueError("an arm needs at least one value")
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        return cls(mean, std, n)


@dataclass(frozen=True)
class Interval:
    """mean_a − mean_b with its interval; ``low``/``high`` are None when n < 2 on either side."""

    diff: float
    low: float | None
    high: float | None
    df: float | None
    level: float = 0.95


def welch_interval(a: Arm, b: Arm, level: float = 0.95) -> Interval:
    """Welch's t interval of ``a.mean - b.mean``.

    With fewer than 2 seeds on either side there is no spread to estimate: the interval is
    undefined (None). When both arms have zero spread (identical seeds) the interval is the point.
    """
    diff = a.mean - b.mean
    if a.n < 2 or b.n < 2:
        return Interval(diff, None, None, None, level)
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Interval(diff, diff, diff, math.inf, level)
    df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))
    half = float(t.ppf(0.5 + level / 2.0, df)) * se
    return Interval(diff, diff - half, diff + half, df, level)
