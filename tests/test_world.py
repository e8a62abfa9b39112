"""The generated world: deterministic, answerable from its gold passages, sized as asked."""

from __future__ import annotations

import json

import pytest

from ragdistill.analysis.metrics import has_answer
from ragdistill.data.world import WorldConfig, generate


def test_same_seed_same_world_other_seed_other_world():
    a = json.dumps(generate(WorldConfig(seed=3, n_people=40, train=30, dev=10, test=10)), sort_keys=True)
    b = json.dumps(generate(WorldConfig(seed=3, n_people=40, train=30, dev=10, test=10)), sort_keys=True)
    c = json.dumps(generate(WorldConfig(seed=4, n_people=40, train=30, dev=10, test=10)), sort_keys=True)
    assert a == b
    assert a != c


def test_every_answer_is_inside_its_gold_passage():
    world = generate(WorldConfig(seed=1))
    passages = {p["id"]: p for p in world["passages"]}
    assert len(passages) == len(world["passages"])  # unique ids
    for split in ("train", "dev", "test"):
        for q in world[split]:
            assert q["gold_ids"], q
            for gid in q["gold_ids"]:
                assert has_answer(passages[gid]["text"], q["answers"]), (q, passages[gid])


def test_sizes_lengths_and_disjoint_questions():
    cfg = WorldConfig(seed=2)
    world = generate(cfg)
    assert [len(world[s]) for s in ("train", "dev", "test")] == [cfg.train, cfg.dev, cfg.test]
    lengths = [len(p["text"].split()) for p in world["passages"]]
    assert min(lengths) >= 40 and max(lengths) <= 100
    questions = [q["question"] for s in ("train", "dev", "test") for q in world[s]]
    assert len(set(questions)) > 0.95 * len(questions)
    ids = [q["id"] for s in ("train", "dev", "test") for q in world[s]]
    assert len(set(ids)) == len(ids)


def test_questions_are_worded_differently_from_passages():
    world = generate(WorldConfig(seed=0))
    q = world["test"][0]
    gold = next(p for p in world["passages"] if p["id"] == q["gold_ids"][0])
    # the question's wording (without the name) is not a substring of the gold passage
    stem = q["question"].split(" ")[0:3]
    assert " ".join(stem) not in gold["text"]


def test_too_many_questions_is_a_clear_error():
    with pytest.raises(ValueError, match="raise n_people"):
        generate(WorldConfig(n_people=2, train=10, dev=5, test=5))


def test_more_people_than_full_names_is_a_clear_error():
    # 3 x 2 = 6 distinct full names cannot name 7 people (this used to loop for ever)
    message = r"world.n_people: 7, but .* = 6 distinct full names; raise given_names or family_names"
    with pytest.raises(ValueError, match=message):
        generate(WorldConfig(n_people=7, given_names=3, family_names=2, train=5, dev=1, test=1))
    with pytest.raises(ValueError, match="world.n_cities: 0, must be"):
        generate(WorldConfig(n_cities=0))
    generate(WorldConfig(n_people=6, given_names=3, family_names=2, train=5, dev=1, test=1))


def test_questions_worded_as_passages_ask_for_the_gold_sentence_value():
    para = generate(WorldConfig(seed=2, n_people=40, train=30, dev=10, test=10))
    cloze = generate(WorldConfig(seed=2, n_people=40, train=30, dev=10, test=10, question_wording="passage"))
    # the same world: passages, answers and gold passages; only the questions' wording differs
    assert cloze["passages"] == para["passages"]
    for a, b in zip(para["train"], cloze["train"], strict=True):
        assert (a["answers"], a["gold_ids"]) == (b["answers"], b["gold_ids"])
        assert a["question"] != b["question"]
    texts = {p["id"]: p["text"] for p in cloze["passages"]}
    for q in cloze["test"]:
        words = {w.strip(",.?") for w in q["question"].lower().split()}
        gold = {w.strip(",.?") for w in texts[q["gold_ids"][0]].lower().split()}
        # every word but the name and the question word is one of the gold passage's
        name = {w.lower() for w in q["question"].split() if w[0].isupper()}
        assert words - name - {"what", "whom"} <= gold, q
    with pytest.raises(ValueError, match="question_wording"):
        generate(WorldConfig(question_wording="cloze"))
