"""Answering once per distinct prompt, and the per-question rows the claims are paired on."""

from __future__ import annotations

import json

import pytest

from ragdistill import readers
from ragdistill.core.files import InputError, write_jsonl
from ragdistill.stages import evaluate
from tests.conftest import PROMPT, example


def _retrieved(tmp_path, name: str, order: tuple[int, ...], n: int = 3):
    rows = []
    for q in range(n):
        ex = example(qid=f"q{q}", k=4)
        ex["ctxs"] = [ex["ctxs"][i] for i in order]
        rows.append(ex)
    path = tmp_path / f"{name}.jsonl"
    write_jsonl(path, rows)
    return str(path)


def test_each_distinct_prompt_is_answered_once(tiny_model_dir, tmp_path, monkeypatch):
    seen = []

    def fake_answer(self, tok, prompts, max_new_tokens, batch_size, progress=False):
        seen.append(len(prompts))
        return [f"a{i}" for i in range(len(prompts))]

    monkeypatch.setattr(readers.Reader, "answer", fake_answer)
    files = [
        _retrieved(tmp_path, "initial", (0, 1, 2, 3)),
        _retrieved(tmp_path, "same-set", (2, 0, 1, 3)),  # same top 3 documents, other ranking
        _retrieved(tmp_path, "other-set", (3, 1, 2, 0)),  # p3 in the top 3 instead of p0
    ]
    out = tmp_path / "answers.jsonl"
    evaluate.answer_questions(
        {"retrieved": files, "reader": tiny_model_dir("llama")},
        {"answers": str(out)},
        {
            "reader": "r",
            "retrievers": ["initial", "same-set", "other-set"],
            "k": 3,
            "prompt": PROMPT,
            "max_questions": None,
            "max_new_tokens": 4,
            "batch_size": 8,
        },
    )
    assert seen == [6]  # 9 questions, 3 of them distinct prompts twice over
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by = {(r["retriever"], r["id"]): r["prediction"] for r in rows}
    assert len(rows) == 9
    assert all(by[("initial", f"q{q}")] == by[("same-set", f"q{q}")] for q in range(3))
    assert all(by[("initial", f"q{q}")] != by[("other-set", f"q{q}")] for q in range(3))


def test_a_cell_row_per_question_with_nulls_past_the_cap(tmp_path):
    path = _retrieved(tmp_path, "initial", (0, 1, 2, 3))
    answers = tmp_path / "answers.jsonl"
    write_jsonl(
        answers,
        [
            {"retriever": "initial", "id": "q0", "prediction": "Drossel"},
            {"retriever": "initial", "id": "q1", "prediction": "no"},
            {"retriever": "other", "id": "q2", "prediction": "Drossel"},
        ],
    )
    out = {"predictions": str(tmp_path / "p.jsonl"), "metrics": str(tmp_path / "m.json")}
    params = {"retriever": "initial", "reader": "r", "hr_k": [1, 2], "max_questions": 2}
    evaluate.evaluate_setting({"retrieved": path, "answers": str(answers)}, out, params)
    rows = [json.loads(line) for line in open(out["predictions"])]
    assert [r["em"] for r in rows] == [1.0, 0.0, None]  # q2 is past max_questions
    assert [(r["hr@1"], r["hr@2"]) for r in rows] == [(0, 1)] * 3  # the answer is in p1, rank 2
    m = json.loads(open(out["metrics"]).read())
    assert (m["em"], m["n"], m["n_retrieval"], m["hr@2"]) == (0.5, 2, 3, 1.0)
    # an answer missing for an answered question is an error naming the file and the question
    with pytest.raises(InputError, match=r"answers.jsonl: no answer of retriever 'initial' to question 'q2'"):
        evaluate.evaluate_setting(
            {"retrieved": path, "answers": str(answers)}, out, {**params, "max_questions": None}
        )
