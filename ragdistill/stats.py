"""Paired bootstrap intervals: what the claims check needs to tell a finding from noise.

Every comparison in the claims check is between two settings measured on the *same* items
(test questions for HR@k and EM, dumped training examples for PAT_TN, MQ and the distance
measure). The paired bootstrap resamples the items with replacement, B times, and takes the mean
of the per-item differences in each resample; the interval is the percentile interval of those
B means. Pairing matters: most questions are answered alike by both settings, and resampling the
differences (not each setting apart) keeps that, which makes the interval as narrow as the data
allow. Items where either value is missing (a NaN Spearman, an example without answer tokens)
are left out, and ``n`` says how many remain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class Bootstrap:
    """``report``: resamples per comparison, the interval's coverage, the generator's seed."""

    SECTION: ClassVar[str] = "report."

    resamples: int = 10_000
    level: float = 0.95
    seed: int = 0

    def options(self) -> dict:
        return {"resamples": self.resamples, "level": self.level, "seed": self.seed}


@dataclass(frozen=True)
class Interval:
    """Mean of a (paired) difference, its bootstrap interval and the number of items."""

    diff: float | None
    lo: float | None
    hi: float | None
    n: int

    def side(self) -> int:
        """+1 if the interval lies above zero, -1 below, 0 if it holds zero (or is empty)."""
        if self.lo is None or self.hi is None:
            return 0
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0

    def sign(self) -> int:
        """The sign of the mean difference (0 for none)."""
        return 0 if self.diff is None else int(np.sign(self.diff))

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        """``+0.035 [+0, +0.075] (n 200)``: three significant digits, so that small measures
        (attention shares of about 1e-3) do not read as zero."""
        if self.diff is None:
            return f"no items (n {self.n})"
        return f"{_fmt(self.diff)} [{_fmt(self.lo)}, {_fmt(self.hi)}] (n {self.n})"


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:+.3g}"


def _as_array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _resamples(n: int, resamples: int, seed: int):
    """Bootstrap index draws (resamples, n) in chunks of at most about 4M numbers, so memory
    stays small for any n; the draws are the same whatever the chunking (one generator, in order)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // n)
    for start in range(0, resamples, chunk):
        yield rng.integers(0, n, size=(min(resamples, start + chunk) - start, n))


def bootstrap_mean(
    values: Sequence[float | None], resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Mean of ``values`` (missing ones left out) with its percentile bootstrap interval.

    Resampling is done in chunks of items x resamples no larger than about 4M numbers, so memory
    stays small for any n; the draws are the same whatever the chunking (one generator, in order).
    """
    x = _as_array(values)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(None, None, None, 0)
    means = np.concatenate([x[idx].mean(axis=1) for idx in _resamples(n, resamples, seed)])
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(x.mean()), float(lo), float(hi), n)


def paired(
    a: Mapping[str, float | None],
    b: Mapping[str, float | None],
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean of a - b over the items both measure (matched by id), with its paired interval.

    Raises ``KeyError`` when the two share no item id at all: that is a wiring error (two
    different splits compared), not a result.
    """
    common = [i for i in a if i in b]
    if a and b and not common:
        raise KeyError("paired comparison: the two settings share no item id")
    diffs = [
        None if a[i] is None or b[i] is None else float(a[i]) - float(b[i])  # type: ignore[arg-type]
        for i in common
    ]
    return bootstrap_mean(diffs, resamples, level, seed)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (None with fewer than 3 points or a constant side)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return float(spearmanr(a, b).statistic)


def bootstrap_ratio(
    num: Sequence[float], den: Sequence[float], resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> Interval:
    """mean(num) / mean(den) over the same items, with its percentile bootstrap interval (items
    resampled together). Resamples whose denominator is 0 are dropped; no interval when the
    denominator's mean is 0 (the ratio is undefined)."""
    a, b = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    n = len(a)
    if n == 0 or b.mean() == 0:
        return Interval(None, None, None, n)
    parts = []
    for idx in _resamples(n, resamples, seed):
        top, bottom = a[idx].mean(axis=1), b[idx].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append(np.where(bottom != 0, top / bottom, np.nan))
    ratios = np.concatenate(parts)
    ratios = ratios[np.isfinite(ratios)]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(ratios, [alpha, 1.0 - alpha])
    return Interval(float(a.mean() / b.mean()), float(lo), float(hi), n)
