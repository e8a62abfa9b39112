"""Indicator maths: question similarity ties exactly on repeated tokens, whatever BLAS does."""

import numpy as np
import pytest

from ragdistill.stages.indicators import example_indicators, max_cosine, unit


def test_a_token_repeating_a_question_token_has_similarity_exactly_one():
    rng = np.random.default_rng(0)
    emb = unit(rng.normal(size=(500, 384)).astype(np.float32))
    ids = np.arange(500)
    # float32 self-cosines land anywhere in about 1 +- 3e-7; unrounded, Spearman ranks repeats
    # by that noise, and the noise changes with the BLAS thread count
    raw = (emb[ids] * emb[ids]).sum(1)
    assert not np.all(raw == 1.0)
    sims = max_cosine(emb[ids], emb[ids])
    assert np.all(sims == 1.0)


def test_mq_by_hand_with_repeats_tied():
    # question: token 0; document: 0, 0, 1, 2 with attention 4, 3, 2, 1. Cosines to token 0:
    # 1, 1, 0.6, 0, so ranks 3.5, 3.5, 2, 1 against 4, 3, 2, 1: Spearman = 4.5 / sqrt(5 * 4.5)
    emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    profile = np.array([4, 3, 2, 1], dtype=np.float32)
    doc, q, no_answer = np.array([0, 0, 1, 2]), np.array([0]), np.array([], int)
    r = example_indicators(profile, doc, np.zeros(4, bool), q, no_answer, emb, [2], 0.5)
    assert r["mq"] == pytest.approx(np.sqrt(0.9))
    # PAT_T2 by hand: the top 2 tokens (both repeats of token 0) are not answer-related here
    assert r["pat"] == {2: 0.0}


def test_near_far_by_hand():
    """One document of 12 tokens, answer at position 5. Profile (sums to 20): 2 at distance 1 and
    2 (4 tokens: positions 3, 4, 6, 7), 1 everywhere else. Shares per token: near 2/20, far
    (distances 6-10: positions 11 only, distance 6; nothing at 7-10 on the left either) 1/20."""
    from ragdistill.stages.indicators import band_mean, distance_profile, near_far

    prof = np.ones(12)
    prof[[3, 4, 6, 7]] = 2.0
    prof[5] = 0.0  # the answer token itself (distance 0) is in neither band
    prof *= 20 / prof.sum()
    doc = np.zeros(12, int)
    ans = np.zeros(12, bool)
    ans[5] = True
    got = near_far(prof, doc, ans, (1, 2), (6, 10), 10)
    share = prof / prof.sum()
    assert got == pytest.approx(share[[3, 4, 6, 7]].mean() - share[11])
    # no answer token, or no token in a band: None, not a number that would count as evidence
    assert near_far(prof, doc, np.zeros(12, bool), (1, 2), (6, 10), 10) is None
    assert near_far(prof[:8], doc[:8], ans[:8], (1, 2), (6, 10), 10) is None
    s, c = distance_profile(share, doc, ans, 10)
    assert band_mean(s, c, (1, 1), 10) == pytest.approx(share[[4, 6]].mean())


def test_bands_are_checked_against_max_distance():
    from ragdistill.core.settings import from_params
    from ragdistill.core.stage_settings import IndicatorSettings

    params = {"reader": "r", "top_n": [5], "sim_threshold": 0.5, "mq_threshold": 0.1, "max_distance": 10}
    with pytest.raises(ValueError, match=r"config indicators.far: \[6, 12\]"):
        from_params(IndicatorSettings, {**params, "near": [1, 2], "far": [6, 12]})
    with pytest.raises(ValueError, match=r"config key indicators.max_distance: 'ten' is not of type int"):
        from_params(
            IndicatorSettings, {**params, "max_distance": "ten", "near": [1, 2], "far": [6, 9]}, "indicators."
        )
