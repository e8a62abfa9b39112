"""The MQ diagnostics: token groups on hand-made prompts, MQ as defined equal to the indicators'."""

import numpy as np
import pytest

from ragdistill.stages.indicators import example_indicators, unit
from ragdistill.tools.diagnose_mq import GROUPS, diagnose_dump, entity_tokens, header_mask, token_groups


def test_entity_tokens_are_capitalised_words_after_the_first():
    q = ["ĠWhat", "Ġis", "Ġthe", "Ġhometown", "Ġof", "ĠV", "ex", "zed", "ĠVes", "ul", "?"]
    assert entity_tokens(q).tolist() == [False] * 5 + [True] * 5 + [False]
    # SentencePiece markers; the first word is capitalised but is not an entity
    assert entity_tokens(["▁Who", "▁employed", "▁Ann", "a", "▁Lee", "?"]).tolist() == [
        False,
        False,
        True,
        True,
        True,
        False,
    ]


def test_header_ends_at_the_parenthesis_that_closes_it_in_each_document():
    toks = ["Document", "Ġ[", "1", "](", "Title", ":", "ĠAnn", ")", "ĠAnn", "Ġ)", "Document", "Ġ2", ")", "Ġx"]
    doc = np.array([0] * 10 + [1] * 4)
    assert np.flatnonzero(header_mask(toks, doc)).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12]
    # a title with parentheses of its own: "Document [1] (Title: Mercury (planet)) It orbits ..."
    toks = ["Document", "Ġ[", "1", "]", "Ġ(", "Title", ":", "ĠMercury", "Ġ(", "planet", "))", "ĠIt", "Ġ)"]
    doc = np.zeros(len(toks), int)
    assert np.flatnonzero(header_mask(toks, doc)).tolist() == list(range(11))
    toks[10:11] = [")", ")"]
    assert np.flatnonzero(header_mask(toks, np.zeros(len(toks), int))).tolist() == list(range(12))


def test_first_group_that_applies_wins():
    # ids: 0 header, 1 answer that also repeats an entity token, 2 entity repeat, 3 other repeat,
    # 4 similar only, 5 rest
    toks = ["Doc)", "Ġa", "Ġb", "Ġc", "Ġd", "Ġe"]
    ids = np.array([10, 11, 11, 12, 13, 14])
    doc = np.zeros(6, int)
    answer = np.array([False, True, False, False, False, False])
    q_ids, q_entity = np.array([11, 12]), np.array([True, False])
    q_sim = np.array([1.0, 1.0, 1.0, 1.0, 0.6, 0.1])
    g = token_groups(toks, ids, doc, answer, q_ids, q_entity, q_sim, 0.5)
    assert [GROUPS[k] for k in g] == ["header", "answer", "q-entity", "q-other", "q-similar", "rest"]


def _dump(rng, n_examples=3, vocab=40, dim=8):
    """A dump in the attention stage's layout with random tokens, profiles and answer spans."""
    tok_ids, tok_doc, tok_answer, tok_profile, q_ids, offs, qoffs = [], [], [], [], [], [0], [0]
    for _ in range(n_examples):
        n = int(rng.integers(20, 30))
        tok_ids.append(rng.integers(0, vocab, n))
        tok_doc.append(np.sort(rng.integers(0, 3, n)))
        ans = np.zeros(n, bool)
        ans[5:7] = True
        tok_answer.append(ans)
        tok_profile.append(rng.random(n).astype(np.float16))
        q = rng.integers(0, vocab, 5)
        q_ids.append(q)
        offs.append(offs[-1] + n)
        qoffs.append(qoffs[-1] + len(q))
    emb = unit(rng.normal(size=(vocab, dim)))
    dump = {
        "ids": np.arange(n_examples),
        "tok_ids": np.concatenate(tok_ids),
        "tok_doc": np.concatenate(tok_doc),
        "tok_answer": np.concatenate(tok_answer),
        "tok_profile": np.concatenate(tok_profile),
        "tok_offsets": np.array(offs),
        "q_ids": np.concatenate(q_ids),
        "q_offsets": np.array(qoffs),
    }
    return dump, emb


def test_mq_as_defined_equals_the_indicators_stage_and_shares_add_up():
    rng = np.random.default_rng(0)
    dump, emb = _dump(rng)
    # every second token a capitalised word start, some ending in ")"
    vocab = [f"ĠW{i})" if i % 7 == 0 else (f"ĠW{i}" if i % 2 else f"x{i}") for i in range(len(emb))]
    res = diagnose_dump(dump, vocab, emb, sim_threshold=0.5)
    offs, qo = dump["tok_offsets"], dump["q_offsets"]
    mqs = [
        example_indicators(
            dump["tok_profile"][offs[i] : offs[i + 1]].astype(np.float32),
            dump["tok_ids"][offs[i] : offs[i + 1]],
            dump["tok_answer"][offs[i] : offs[i + 1]],
            dump["q_ids"][qo[i] : qo[i + 1]],
            np.array([], int),
            emb,
            [5],
            0.5,
        )["mq"]
        for i in range(3)
    ]
    assert res["examples"] == 3
    assert res["mq"]["as defined"] == pytest.approx(np.nanmean(mqs))
    assert res["mq_values"] == pytest.approx(mqs)
    assert sum(res["token_share"].values()) == pytest.approx(1.0)
    assert sum(res["attention_share"].values()) == pytest.approx(1.0)
    # the answer group's attention share, by hand
    by_hand = []
    for i in range(3):
        p = dump["tok_profile"][offs[i] : offs[i + 1]].astype(np.float64)
        toks = [vocab[t] for t in dump["tok_ids"][offs[i] : offs[i + 1]]]
        head = header_mask(toks, dump["tok_doc"][offs[i] : offs[i + 1]])
        ans = dump["tok_answer"][offs[i] : offs[i + 1]] & ~head
        by_hand.append(p[ans].sum() / p.sum())
    assert res["attention_share"]["answer"] == pytest.approx(np.mean(by_hand))
