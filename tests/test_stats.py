"""Paired intervals against slow references written from the definitions, and hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ragdistill.analysis.stats import Interval, bootstrap_mean, paired, spearman
from ragdistill.core.files import write_json, write_jsonl


def slow_bootstrap(values: list[float], resamples: int, level: float, seed: int) -> tuple[float, float]:
    """One resample at a time, as a textbook writes it (same generator, same order of draws)."""
    rng = np.random.default_rng(seed)
    x = np.array(values, dtype=float)
    means = [x[rng.integers(0, len(x), size=len(x))].mean() for _ in range(resamples)]
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return float(lo), float(hi)


def test_bootstrap_equals_the_one_resample_at_a_time_reference():
    x = list(np.random.default_rng(3).normal(0.1, 1.0, size=57))
    got = bootstrap_mean(x, resamples=2000, level=0.9, seed=11)
    lo, hi = slow_bootstrap(x, 2000, 0.9, 11)
    assert (got.lo, got.hi) == pytest.approx((lo, hi), abs=1e-12)
    assert got.diff == pytest.approx(float(np.mean(x))) and got.n == 57


def test_chunking_does_not_change_the_draws():
    """Large n resamples in chunks (memory); the interval must equal an unchunked draw."""
    x = list(np.random.default_rng(0).integers(0, 2, size=150_000).astype(float))
    got = bootstrap_mean(x, resamples=60, seed=5)  # 4M // 150k = 26 resamples per chunk
    lo, hi = slow_bootstrap(x, 60, 0.95, 5)
    assert (got.lo, got.hi) == pytest.approx((lo, hi), abs=1e-12)


def test_constant_differences_give_a_point_interval():
    a = {f"q{i}": 1.5 for i in range(20)}
    b = {f"q{i}": 0.5 for i in range(20)}
    iv = paired(a, b, resamples=1000)
    assert (iv.diff, iv.lo, iv.hi, iv.n, iv.method) == (1.0, 1.0, 1.0, 20, "bootstrap")
    assert iv.side() == 1 and iv.sign() == 1


def _tail_at_least(w: int, d: int, p: float) -> float:
    """P(X >= w) for X ~ Binomial(d, p), summed term by term."""
    return sum(math.comb(d, i) * p**i * (1 - p) ** (d - i) for i in range(w, d + 1))


def _solve(f, target: float) -> float:
    """The p in [0, 1] where the increasing f(p) crosses target, by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi) / 2


def reference_exact(w: int, lost: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """McNemar's exact test and the exact conditional interval, written from the definitions:
    p = min(1, 2 min(P(X <= w), P(X >= w))) for X ~ Binomial(w + lost, 1/2); the Clopper-Pearson
    bounds solve P(X >= w | pL) = alpha/2 and P(X <= w | pU) = alpha/2; the difference is
    (w + l) / n * (2p - 1)."""
    d, a = w + lost, (1 - level) / 2
    p = min(1.0, 2 * min(1 - _tail_at_least(w + 1, d, 0.5), _tail_at_least(w, d, 0.5)))
    p_lo = 0.0 if w == 0 else _solve(lambda q: _tail_at_least(w, d, q), a)
    p_hi = 1.0 if w == d else _solve(lambda q: _tail_at_least(w + 1, d, q), 1 - a)
    return p, d / n * (2 * p_lo - 1), d / n * (2 * p_hi - 1)


@pytest.mark.parametrize("w,lost,n", [(11, 4, 200), (5, 0, 100), (0, 3, 100), (30, 9, 2000), (7, 7, 50)])
def test_binary_measures_get_the_exact_test_and_interval(w, lost, n):
    """11 won, 4 lost, 185 tied of 200 (and others): the mean difference, McNemar's exact p and
    the exact conditional interval equal the reference computed from the binomial's terms."""
    a = {f"q{i}": 1 if i < w else 0 for i in range(n)}
    b = {f"q{i}": 1 if w <= i < w + lost else 0 for i in range(n)}
    iv = paired(a, b)
    p, lo, hi = reference_exact(w, lost, n)
    assert iv.method == "exact" and (iv.wins, iv.losses, iv.n) == (w, lost, n)
    assert iv.diff == pytest.approx((w - lost) / n)
    assert (iv.p, iv.lo, iv.hi) == pytest.approx((p, lo, hi), abs=1e-9)
    assert (iv.side() != 0) == (iv.p < 0.05)  # the interval agrees with the test


def test_five_won_none_lost_of_100_is_not_significant():
    """The issue's case: the percentile bootstrap calls it significant; the exact test does not
    (p = 2 / 2^5 = 0.0625)."""
    a = {f"q{i}": 1 if i < 5 else 0 for i in range(100)}
    b = {f"q{i}": 0 for i in range(100)}
    assert bootstrap_mean([a[q] - b[q] for q in a]).side() == 1  # what the bootstrap said
    iv = paired(a, b)
    assert iv.p == pytest.approx(0.0625) and iv.side() == 0 and iv.lo < 0 < iv.hi


@pytest.mark.parametrize("n", [100, 2000])
def test_the_exact_test_keeps_its_false_positive_rate_under_the_null(n):
    """Under the null (each discordant question as likely won as lost), with 3 to 20 discordant
    questions of n, 2,000 simulated datasets each: the share with an interval that excludes 0 is
    at most 5% (plus two simulation standard errors). The percentile bootstrap exceeded it."""
    from ragdistill.analysis.stats import exact_binary

    rng = np.random.default_rng(n)
    sims, bound = 2000, 0.05 + 2 * math.sqrt(0.05 * 0.95 / 2000)
    for d in range(3, 21):
        wins = rng.binomial(d, 0.5, size=sims)
        side = {w: exact_binary(int(w), d - int(w), n).side() for w in set(wins.tolist())}
        rate = float(np.mean([side[w] != 0 for w in wins.tolist()]))
        assert rate <= bound, (n, d, rate)
    # the same through paired() on per-question data (ties included), for the smaller n
    if n == 100:
        hits = 0
        for _ in range(200):
            d = int(rng.integers(3, 21))
            base = rng.integers(0, 2, size=n)
            a, b = base.copy(), base.copy()
            for i, won in zip(rng.choice(n, d, replace=False), rng.integers(0, 2, size=d), strict=True):
                a[i], b[i] = (1, 0) if won else (0, 1)
            iv = paired({str(i): int(v) for i, v in enumerate(a)}, {str(i): int(v) for i, v in enumerate(b)})
            hits += iv.side() != 0
        assert hits / 200 <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 200)


def _two_stage_draw(rng, groups):
    """A two-stage draw as a textbook writes it: G clusters with replacement, then m items with
    replacement within each drawn cluster of m (one uniform number per item, scaled to m); the
    drawn items' positions in ``groups``."""
    names = sorted(set(groups))
    members = {g: [i for i, h in enumerate(groups) if h == g] for g in names}
    pick = rng.integers(0, len(names), size=len(names))
    sizes = [len(members[names[c]]) for c in pick]
    u = rng.random(sum(sizes))
    drawn, at = [], 0
    for c, m in zip(pick, sizes, strict=True):
        drawn += [members[names[c]][int(x * m)] for x in u[at : at + m]]
        at += m
    return np.array(drawn)


def slow_cluster_bootstrap(values, groups, resamples, level, seed):
    """Two-stage bootstrap as a textbook writes it: draw G clusters with replacement, then m items
    with replacement within each drawn cluster of m; the mean of all drawn items (same generator
    calls in the same order as the code, so the intervals are equal)."""
    x = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    means = [float(np.mean(x[_two_stage_draw(rng, groups)])) for _ in range(resamples)]
    a = (1 - level) / 2
    return tuple(float(v) for v in np.quantile(means, [a, 1 - a]))


def test_clustered_bootstrap_against_the_reference_and_wider_for_clustered_data():
    rng = np.random.default_rng(4)
    groups = [f"art{i % 6}" for i in range(90)]
    shift = {f"art{i}": rng.normal(0, 1) for i in range(6)}
    x = [shift[g] + rng.normal(0, 0.1) for g in groups]
    got = bootstrap_mean(x, resamples=500, seed=3, clusters=groups)
    assert got.method == "clustered"
    assert (got.lo, got.hi) == pytest.approx(slow_cluster_bootstrap(x, groups, 500, 0.95, 3), abs=1e-12)
    flat = bootstrap_mean(x, resamples=500, seed=3)
    assert (got.hi - got.lo) > 2 * (flat.hi - flat.lo)  # six articles, not 90 independent items


def test_clustered_binary_is_significant_only_when_both_intervals_are():
    """A binary measure on clustered items: the envelope of the exact and the clustered intervals.
    All 30 wins in one article of ten: exact says significant, the articles do not."""
    n = 300
    a = {f"q{i}": 1 if i < 30 else 0 for i in range(n)}
    b = {f"q{i}": 0 for i in range(n)}
    clusters = {f"q{i}": f"art{i // 30}" for i in range(n)}
    assert paired(a, b).side() == 1
    iv = paired(a, b, clusters=clusters)
    assert iv.method == "exact+clustered" and iv.side() == 0 and iv.p < 0.05


def test_pairing_narrows_the_interval():
    """Two settings that share most of their per-item variation: the paired interval must be far
    narrower than the one from resampling each setting on its own."""
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, size=300)
    a = {str(i): float(v + 0.05 + rng.normal(0, 0.05)) for i, v in enumerate(base)}
    b = {str(i): float(v) for i, v in enumerate(base)}
    iv = paired(a, b, seed=2)
    ia, ib = bootstrap_mean(list(a.values()), seed=2), bootstrap_mean(list(b.values()), seed=3)
    assert iv.side() == 1
    assert (iv.hi - iv.lo) < 0.2 * (ia.hi - ia.lo + ib.hi - ib.lo)


def test_missing_values_are_left_out_and_items_matched_by_id():
    a = {"x": 1.0, "y": None, "z": 0.5, "only_a": 3.0}
    b = {"z": 0.0, "y": 1.0, "x": float("nan"), "only_b": 9.0}
    iv = paired(a, b, resamples=1000)
    assert iv.n == 1 and iv.diff == pytest.approx(0.5)  # only z has both values
    empty = paired({"x": None}, {"x": 1.0}, resamples=1000)
    assert (empty.diff, empty.n, empty.side()) == (None, 0, 0)


def test_no_common_item_is_a_wiring_error():
    with pytest.raises(KeyError, match="share no item id"):
        paired({"a": 1.0}, {"b": 1.0})


def test_seeded():
    x = list(np.random.default_rng(0).normal(size=40))
    assert bootstrap_mean(x, seed=4) == bootstrap_mean(x, seed=4)
    assert bootstrap_mean(x, seed=4) != bootstrap_mean(x, seed=5)


def test_interval_text_keeps_small_values_visible():
    assert Interval(0.035, 0.0, 0.075, 200).text() == "+0.035 [+0, +0.075] (n 200)"
    assert "+0.000123" in Interval(0.000123, -4e-5, 3e-4, 80).text()


def test_spearman_needs_three_points_and_variation():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_json_outputs_are_strict(tmp_path):
    """A missing number is null: NaN is not JSON (jq and browsers reject it)."""
    write_json(tmp_path / "m.json", {"a": math.nan, "b": [1.0, math.inf], "c": {"d": 0.5}})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": {"d": 0.5}}
    write_jsonl(tmp_path / "r.jsonl", [{"x": math.nan}])
    assert json.loads((tmp_path / "r.jsonl").read_text()) == {"x": None}


def test_ratio_of_means_and_its_interval():
    from ragdistill.analysis.stats import bootstrap_ratio

    got = bootstrap_ratio([1, 0, 1, 0], [1, 1, 1, 1], resamples=2000)
    assert got.diff == pytest.approx(0.5) and got.lo <= 0.5 <= got.hi and got.n == 4
    # constant ratio: a point interval
    same = bootstrap_ratio([0.5, 1.0, 1.5], [1.0, 2.0, 3.0], resamples=2000)
    assert same.diff == pytest.approx(0.5) and same.lo == pytest.approx(0.5) and same.hi == pytest.approx(0.5)
    assert bootstrap_ratio([1, 1], [0, 0]).diff is None  # no advantage: undefined


def slow_rank_correlation(gains, indicators, method, resamples, level, seed, qgroups=None, egroups=None):
    """One resample at a time as a textbook writes it: the same question and example indices for
    every rung (each side two-stage where its groups are given: articles, then items within them),
    each rung's two means, scipy's correlation (same generator calls as the code)."""
    from scipy.stats import kendalltau, spearmanr

    g, x = np.asarray(gains, float), np.asarray(indicators, float)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(resamples):
        iq = (
            rng.integers(0, g.shape[1], size=g.shape[1]) if qgroups is None else _two_stage_draw(rng, qgroups)
        )
        ie = (
            rng.integers(0, x.shape[1], size=x.shape[1]) if egroups is None else _two_stage_draw(rng, egroups)
        )
        a = [float(np.mean(row[iq])) for row in g]
        b = [float(np.nanmean(row[ie])) for row in x]
        if len(set(a)) < 2 or len(set(b)) < 2:
            continue
        f = spearmanr if method == "spearman" else kendalltau
        vals.append(f(a, b).statistic)
    a = (1 - level) / 2
    return tuple(float(v) for v in np.quantile(vals, [a, 1 - a]))


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_clustered_rank_correlation_against_the_reference_and_wider(method):
    """On real text both draws are two-stage (articles, then items within them): the interval
    equals the slow reference's, and where the teachers' differences sit in a few articles it is
    wider than the flat one (which takes 40 questions as independent)."""
    from ragdistill.analysis.stats import rank_correlation

    rng = np.random.default_rng(11)
    qgroups = [f"art{i // 8}" for i in range(40)]  # five articles of eight questions
    egroups = [f"art{9 - i % 3}" for i in range(12)]  # the examples from three other articles
    # each rung wins in its own article: between-article differences, not spread over questions
    gains = np.array([[float(q // 8 == j) * (0.5 + 0.1 * j) for q in range(40)] for j in range(5)])
    gains += (rng.random((5, 40)) < 0.05) * 1.0
    ind = np.array([rng.normal(m, 0.2, size=12) for m in (0.1, 0.3, 0.2, 0.5, 0.6)])
    ind[2, 5] = np.nan
    got = rank_correlation(
        gains, ind, method, resamples=300, seed=3, question_clusters=qgroups, example_clusters=egroups
    )
    assert got.method == f"{method} clustered bootstrap" and got.n == 5
    assert (got.lo, got.hi) == pytest.approx(
        slow_rank_correlation(gains, ind, method, 300, 0.95, 3, qgroups, egroups), abs=1e-12
    )
    flat = rank_correlation(gains, ind, method, resamples=300, seed=3)
    assert got.diff == flat.diff and (got.hi - got.lo) > (flat.hi - flat.lo)


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_rank_correlation_interval_against_the_reference(method):
    """Five rungs on 40 shared questions and 12 shared examples (hand-made gains rising with the
    indicator, noise between): the point value is the rank correlation of the rungs' means, the
    interval equals the slow reference's (chunking does not change the draws)."""
    from ragdistill.analysis.stats import rank_correlation

    rng = np.random.default_rng(7)
    gains = np.array(
        [(rng.random(40) < p).astype(float) - (rng.random(40) < 0.1) for p in (0.05, 0.1, 0.2, 0.25, 0.4)]
    )
    ind = np.array([rng.normal(m, 0.2, size=12) for m in (0.1, 0.3, 0.2, 0.5, 0.6)])
    ind[1, 3] = np.nan  # an undefined example is left out of its rung's mean
    got = rank_correlation(gains, ind, method, resamples=300, seed=3)
    from scipy.stats import kendalltau, spearmanr

    f = spearmanr if method == "spearman" else kendalltau
    assert got.diff == pytest.approx(f(gains.mean(1), np.nanmean(ind, 1)).statistic) and got.n == 5
    assert (got.lo, got.hi) == pytest.approx(
        slow_rank_correlation(gains, ind, method, 300, 0.95, 3), abs=1e-12
    )
    assert got.lo <= got.diff <= got.hi


def test_rank_correlation_needs_three_rungs_and_variation():
    from ragdistill.analysis.stats import rank_correlation

    two = rank_correlation(np.ones((2, 5)), np.ones((2, 5)), resamples=10)
    assert (two.lo, two.hi, two.n) == (None, None, 2)
    flat = rank_correlation(np.zeros((4, 5)), np.arange(20.0).reshape(4, 5), resamples=10)
    assert flat.diff is None and flat.side() == 0


def test_an_undefined_measure_is_said_as_undefined_not_as_no_items():
    """A ratio whose denominator's mean is 0 has items and no value: the text says so; only an
    interval over no items says "no items"."""
    from ragdistill.analysis.stats import bootstrap_ratio

    undefined = bootstrap_ratio([0.0, 1.0, 0.0], [0.0, 0.0, 0.0], resamples=50)
    assert undefined.diff is None and undefined.text() == "undefined (n 3)"
    assert Interval(None, None, None, 0).text() == "no items (n 0)"
