"""Paired bootstrap intervals against a slow reference and hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ragdistill.files import write_json, write_jsonl
from ragdistill.stats import Interval, bootstrap_mean, paired, spearman


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
    a = {f"q{i}": 1.0 for i in range(20)}
    b = {f"q{i}": 0.0 for i in range(20)}
    iv = paired(a, b, resamples=1000)
    assert (iv.diff, iv.lo, iv.hi, iv.n) == (1.0, 1.0, 1.0, 20)
    assert iv.side() == 1 and iv.sign() == 1


def test_hand_computed_hit_rate_difference():
    """11 questions won, 4 lost, 185 tied out of 200: mean +7/200; the interval holds it and,
    with this few discordant questions, reaches down to about zero (the issue's own case)."""
    a = {f"q{i}": 1.0 if i < 11 else 0.0 for i in range(200)}
    b = {f"q{i}": 1.0 if 11 <= i < 15 else 0.0 for i in range(200)}
    iv = paired(a, b, resamples=10_000, seed=0)
    assert iv.diff == pytest.approx(7 / 200) and iv.n == 200
    assert iv.lo <= iv.diff <= iv.hi
    assert -0.01 <= iv.lo <= 0.01 and 0.055 <= iv.hi <= 0.08


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
    from ragdistill.stats import bootstrap_ratio

    got = bootstrap_ratio([1, 0, 1, 0], [1, 1, 1, 1], resamples=2000)
    assert got.diff == pytest.approx(0.5) and got.lo <= 0.5 <= got.hi and got.n == 4
    # constant ratio: a point interval
    same = bootstrap_ratio([0.5, 1.0, 1.5], [1.0, 2.0, 3.0], resamples=2000)
    assert same.diff == pytest.approx(0.5) and same.lo == pytest.approx(0.5) and same.hi == pytest.approx(0.5)
    assert bootstrap_ratio([1, 1], [0, 0]).diff is None  # no advantage: undefined
