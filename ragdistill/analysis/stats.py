"""Paired intervals: what the claims check needs to tell a finding from noise.

Every comparison in the claims check is between two settings measured on the *same* items
(test questions for HR@k and EM, dumped training examples for PAT_TN, MQ and the distance
measure). Items where either value is missing (a NaN Spearman, an example without answer tokens)
are left out, and ``n`` says how many remain. Two kinds of measure, two methods
(``docs/method.md``, "Statistics"):

- **Binary** measures (both sides 0 or 1 on every item: HR@k, EM, a polar MQ) are judged by the
  exact two-sided sign test on the discordant pairs (McNemar's exact test): with w items won and
  l lost, w ~ Binomial(w + l, 1/2) under the null. The interval is the exact conditional one:
  the Clopper-Pearson interval [pL, pU] of w / (w + l), mapped to the mean difference
  (w + l) / n * (2p - 1). It excludes 0 exactly when the test's p is below 1 - level. Why not
  the percentile bootstrap: with few discordant pairs it is too lenient (5 won, 0 lost of 100
  gives [+0.01, +0.10], while the exact p is 0.0625).
- **Continuous** measures keep the paired percentile bootstrap: resample the items with
  replacement B times and take the mean difference in each resample. Pairing matters: most
  questions are answered alike by both settings, and resampling the differences (not each side
  apart) keeps that.

When the items come in clusters (questions of one SQuAD article), the bootstrap is two-stage:
clusters with replacement, then items with replacement within each drawn cluster; a binary
measure's interval is then the envelope of its exact interval and its clustered bootstrap
interval, so that it is significant only when both are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """Mean of a (paired) difference, its interval and the number of items; for a binary measure
    also the items won and lost and the exact test's two-sided p; ``method`` says which interval
    (``bootstrap``, ``exact``, ``exact+clustered``, ``clustered``)."""

    diff: float | None
    lo: float | None
    hi: float | None
    n: int
    method: str = "bootstrap"
    wins: int | None = None
    losses: int | None = None
    p: float | None = None

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
        (attention shares of about 1e-3) do not read as zero; a binary measure adds the items won
        and lost and the exact test's p. No mean with items is an undefined measure (a ratio whose
        denominator is 0, a correlation of a constant), not a lack of items."""
        if self.diff is None:  # no items, or items whose measure is undefined (a 0/0 ratio)
            return "no items (n 0)" if self.n == 0 else f"undefined (n {self.n})"
        tail = "" if self.wins is None else f"; won {self.wins}, lost {self.losses}, p {self.p:.3g}"
        return f"{_fmt(self.diff)} [{_fmt(self.lo)}, {_fmt(self.hi)}] (n {self.n}{tail})"


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
    values: Sequence[float | None],
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    clusters: Sequence[str] | None = None,
) -> Interval:
    """Mean of ``values`` (missing ones left out) with its percentile bootstrap interval;
    two-stage (clusters, then items within them) when ``clusters`` gives each value's cluster.

    Resampling is done in chunks of items x resamples no larger than about 4M numbers, so memory
    stays small for any n; the draws are the same whatever the chunking (one generator, in order).
    """
    x = _as_array(values)
    keep = np.isfinite(x)
    x = x[keep]
    n = len(x)
    if n == 0:
        return Interval(None, None, None, 0)
    alpha = (1.0 - level) / 2.0
    if clusters is not None:
        groups = [g for g, k in zip(clusters, keep, strict=True) if k]
        means = _cluster_means(x, groups, resamples, seed)
        lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
        return Interval(float(x.mean()), float(lo), float(hi), n, method="clustered")
    means = np.concatenate([x[idx].mean(axis=1) for idx in _resamples(n, resamples, seed)])
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(x.mean()), float(lo), float(hi), n)


class _TwoStage:
    """Two-stage bootstrap draws over items that come in clusters: G clusters drawn with
    replacement from the G present, then, in each drawn cluster of m items, m items drawn with
    replacement. ``draw`` returns the drawn items' indices into the original order (a resample's
    length varies with the clusters drawn)."""

    def __init__(self, groups: Sequence[str]):
        labels = np.asarray(groups, dtype=object)
        # stable: within a cluster the items keep their order, so the draws do not depend on sorting
        self.order = np.argsort(labels, kind="stable")
        _, self.starts, self.sizes = np.unique(labels[self.order], return_index=True, return_counts=True)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        g = len(self.sizes)
        pick = rng.integers(0, g, size=g)
        m = self.sizes[pick]
        base = np.repeat(self.starts[pick], m)
        within = (rng.random(int(m.sum())) * np.repeat(m, m)).astype(np.int64)
        return self.order[base + within]


def _cluster_means(x: np.ndarray, groups: Sequence[str], resamples: int, seed: int) -> np.ndarray:
    """Two-stage bootstrap means (``_TwoStage``): the mean over all drawn items of each resample.
    Returns (resamples,) means."""
    draws = _TwoStage(groups)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for b in range(resamples):
        means[b] = x[draws.draw(rng)].mean()
    return means


def exact_binary(wins: int, losses: int, n: int, level: float = 0.95) -> Interval:
    """A binary paired comparison over ``n`` items of which ``wins`` went to A and ``losses`` to B:
    mean difference (wins - losses) / n, McNemar's exact two-sided p (the sign test on the
    wins + losses discordant items) and the exact conditional interval (Clopper-Pearson on
    wins / (wins + losses), mapped to the difference). No discordant item: [0, 0], p 1."""
    from scipy.stats import beta, binomtest

    d = wins + losses
    diff = (wins - losses) / n if n else None
    if n == 0:
        return Interval(None, None, None, 0, "exact", wins, losses, None)
    if d == 0:
        return Interval(0.0, 0.0, 0.0, n, "exact", 0, 0, 1.0)
    alpha = (1.0 - level) / 2.0
    p_lo = 0.0 if wins == 0 else float(beta.ppf(alpha, wins, d - wins + 1))
    p_hi = 1.0 if wins == d else float(beta.ppf(1.0 - alpha, wins + 1, d - wins))
    p = float(binomtest(wins, d, 0.5).pvalue)
    return Interval(diff, d / n * (2 * p_lo - 1), d / n * (2 * p_hi - 1), n, "exact", wins, losses, p)


def is_binary(*sides: Sequence[float | None]) -> bool:
    """Whether every present value on every side is 0 or 1 (a hit, an exact match)."""
    vals = [v for side in sides for v in side if v is not None and not _isnan(v)]
    return bool(vals) and all(v in (0, 1) for v in vals)


def _isnan(v) -> bool:
    return isinstance(v, float) and v != v


def _missing(v) -> bool:
    return v is None or _isnan(v)


def cluster_groups(ids: Iterable[str], clusters: Mapping[str, str] | None) -> list[str] | None:
    """Each id's cluster (its article on real text; an id the mapping lacks is a cluster of its
    own), in the ids' order; None without a mapping (independent items)."""
    return None if clusters is None else [str(clusters.get(i, i)) for i in ids]


def paired(
    a: Mapping[str, float | None],
    b: Mapping[str, float | None],
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    clusters: Mapping[str, str] | None = None,
) -> Interval:
    """Mean of a - b over the items both measure (matched by id), with its paired interval:
    exact for a binary measure, bootstrap for a continuous one, clustered where ``clusters``
    gives each item's cluster (module docstring).

    Raises ``KeyError`` when the two share no item id at all: that is a wiring error (two
    different splits compared), not a result.
    """
    common = [i for i in a if i in b]
    if a and b and not common:
        raise KeyError("paired comparison: the two settings share no item id")
    both = [i for i in common if not _missing(a[i]) and not _missing(b[i])]
    diffs = [float(a[i]) - float(b[i]) for i in both]  # type: ignore[arg-type]
    groups = cluster_groups(both, clusters)
    if not is_binary([a[i] for i in both], [b[i] for i in both]):
        return bootstrap_mean(diffs, resamples, level, seed, groups)
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    exact = exact_binary(wins, losses, len(diffs), level)
    if groups is None or exact.diff is None:
        return exact
    boot = bootstrap_mean(diffs, resamples, level, seed, groups)
    lo, hi = min(exact.lo, boot.lo), max(exact.hi, boot.hi)  # type: ignore[type-var]
    return Interval(exact.diff, lo, hi, exact.n, "exact+clustered", wins, losses, exact.p)


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


def _rank_corr(a: np.ndarray, b: np.ndarray, method: str) -> np.ndarray:
    """Rank correlation of each row of a with the same row of b, (B, R) -> (B,); NaN where a row
    is constant or holds a NaN. Spearman: Pearson of average ranks; Kendall: tau-b."""
    from scipy.stats import kendalltau, rankdata

    out = np.full(len(a), np.nan)
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1) & (np.ptp(a, 1) > 0) & (np.ptp(b, 1) > 0)
    if method == "kendall":
        for i in np.flatnonzero(ok):
            out[i] = kendalltau(a[i], b[i]).statistic
        return out
    ra, rb = rankdata(a[ok], axis=1), rankdata(b[ok], axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    out[ok] = (ra * rb).sum(1) / np.sqrt((ra**2).sum(1) * (rb**2).sum(1))
    return out


def rank_correlation(
    gains: np.ndarray,
    indicators: np.ndarray,
    method: str = "spearman",
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    question_clusters: Sequence[str] | None = None,
    example_clusters: Sequence[str] | None = None,
) -> Interval:
    """Rank correlation across teachers (rungs) between their mean gain and mean indicator, with a
    percentile bootstrap interval that resamples the test questions and the dumped examples
    together: every resample draws one set of question indices and one set of example indices,
    shared by all rungs (they are measured on the same questions), and recomputes every rung's
    two means and their correlation.

    ``gains`` (R, Q): each rung's per-question gain over the initial retriever; ``indicators``
    (R, E): each rung's per-example indicator (NaN where undefined, left out of its mean). ``n``
    is the number of rungs. Resamples whose correlation is undefined (a constant side) are
    dropped. ``method``: ``spearman`` or ``kendall`` (tau-b). ``question_clusters`` (Q,) and
    ``example_clusters`` (E,) give each question's and example's cluster (a SQuAD article): that
    side's draw is then two-stage (``_TwoStage``), as every other interval on real text.
    """
    g, x = np.asarray(gains, dtype=np.float64), np.asarray(indicators, dtype=np.float64)
    r = len(g)
    point = _rank_corr(g.mean(1)[None], np.nanmean(x, 1)[None], method)[0]
    if r < 3 or not np.isfinite(point):
        return Interval(
            None if not np.isfinite(point) else float(point), None, None, r, f"{method} bootstrap"
        )
    rng = np.random.default_rng(seed)
    if question_clusters is None and example_clusters is None:
        vals = _flat_rank_corrs(g, x, method, resamples, rng)
        label = f"{method} bootstrap"
    else:
        vals = _clustered_rank_corrs(g, x, method, resamples, rng, question_clusters, example_clusters)
        label = f"{method} clustered bootstrap"
    vals = vals[np.isfinite(vals)]
    # resamples where a side is constant have no correlation; when most are such, the rest would
    # speak only for the draws that carry a signal, so there is no interval
    if len(vals) < resamples / 2:
        return Interval(float(point), None, None, r, label)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(vals, [alpha, 1.0 - alpha])
    return Interval(float(point), float(lo), float(hi), r, label)


def _flat_rank_corrs(g: np.ndarray, x: np.ndarray, method: str, resamples: int, rng) -> np.ndarray:
    """Each resample's correlation, questions and examples drawn independently with replacement;
    in chunks (the draws are the same whatever the chunking: one generator, in order)."""
    r, q, e = len(g), g.shape[1], x.shape[1]
    stats = []
    chunk = max(1, 2_000_000 // (r * max(q, e)))
    for start in range(0, resamples, chunk):
        b = min(resamples, start + chunk) - start
        # per resample: its question indices, then its example indices (one generator, in order)
        draws = [(rng.integers(0, q, size=q), rng.integers(0, e, size=e)) for _ in range(b)]
        iq = np.stack([d[0] for d in draws])
        ie = np.stack([d[1] for d in draws])
        gm = g[:, iq].mean(2).T  # (b, R)
        with np.errstate(invalid="ignore"):
            xm = np.nanmean(x[:, ie], 2).T  # (b, R); an all-NaN resample of a rung is NaN
        stats.append(_rank_corr(gm, xm, method))
    return np.concatenate(stats)


def _clustered_rank_corrs(
    g: np.ndarray,
    x: np.ndarray,
    method: str,
    resamples: int,
    rng,
    question_clusters: Sequence[str] | None,
    example_clusters: Sequence[str] | None,
) -> np.ndarray:
    """Each resample's correlation with a two-stage draw on each side that has clusters (questions,
    then examples, per resample: one generator, in order); one resample at a time, as a resample's
    length varies."""
    q, e = g.shape[1], x.shape[1]
    qd = None if question_clusters is None else _TwoStage(question_clusters)
    ed = None if example_clusters is None else _TwoStage(example_clusters)
    gm, xm = np.empty((resamples, len(g))), np.empty((resamples, len(x)))
    for b in range(resamples):
        iq = rng.integers(0, q, size=q) if qd is None else qd.draw(rng)
        ie = rng.integers(0, e, size=e) if ed is None else ed.draw(rng)
        gm[b] = g[:, iq].mean(1)
        with np.errstate(invalid="ignore"):
            xm[b] = np.nanmean(x[:, ie], 1)
    return _rank_corr(gm, xm, method)


def mean_sd(v: np.ndarray) -> tuple[float, float]:
    """Mean and sample sd over the seeds (sd 0 for one seed; NaN for none): how the grid's tables
    (Markdown, CSV, LaTeX, the report's first page) summarise a cell."""
    if not len(v):
        return np.nan, np.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
