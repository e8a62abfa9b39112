"""Stage ``evaluate``: answer the test questions with each reader, then score every grid cell.

Two steps, so that answering (the expensive part on a CPU) runs once per reader:

- :func:`answer_questions` (one job per reader) builds the prompt of every test question for
  every retriever that the grid pairs with this reader, answers each *distinct* prompt once
  (greedy), and writes ``answers.jsonl`` (``{"retriever", "id", "prediction"}``). Prompts depend
  on the set of top-k documents, not their ranking (``ragdistill/readers/prompts.py``), so retrievers that
  agree on a question's documents share its prompt; distilled retrievers mostly do.
- :func:`evaluate_setting` (one cheap job per cell, no model) joins a retriever's test retrieval
  with its reader's answers and writes ``predictions.jsonl``, one row per test question::

      {"id", "question", "answers", "hr@1", "hr@5", ..., "gold@5", "prediction", "em", "f1"}

  (``hr@k`` 0/1; ``gold@k`` 0/1 only where gold passage ids exist; ``prediction``, ``em``, ``f1``
  null for questions beyond ``max_questions``), and ``metrics.json`` (their means). The claims'
  paired intervals are computed from these per-question rows.
"""

from __future__ import annotations

import logging

from ragdistill.analysis.metrics import exact_match, f1_score, question_hits
from ragdistill.core.files import InputError, read_jsonl, write_json, write_jsonl
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import AnswerSettings, CellSettings

log = logging.getLogger(__name__)


def _share(values: list[int]) -> float:
    """Mean of 0/1 values (NaN for none, written as null)."""
    return sum(values) / len(values) if values else float("nan")


def cell_metrics(rows: list[dict], ks: list[int]) -> dict[str, float]:
    """A cell's HR@k and gold-passage recall@k (over questions with gold ids): the means of its
    per-question rows."""
    out = {f"hr@{k}": _share([r[f"hr@{k}"] for r in rows]) for k in ks}
    with_gold = [r for r in rows if f"gold@{ks[0]}" in r]
    if with_gold:
        out.update({f"gold_recall@{k}": _share([r[f"gold@{k}"] for r in with_gold]) for k in ks})
    return out


def answered(examples: list[dict], max_questions: int | None) -> list[dict]:
    """The questions answered for EM/F1: the first ``max_questions`` (null: all)."""
    return examples[: max_questions or None]


def answer_questions(inp: dict, out: dict, params: dict) -> None:
    """Answer every distinct prompt of this reader's grid cells once (greedy, batched)."""
    from ragdistill import models, readers

    s = from_params(AnswerSettings, params)
    retrievers = list(s.retrievers)
    files = list(inp["retrieved"])
    k = s.k
    device = models.pick_device()
    dtype = models.stage_precision(s.precision, device, "answer_questions")
    tok = models.load_tokenizer(inp["reader"])
    reader = readers.of(models.in_precision(readers.load(inp["reader"]).to(device), dtype))
    keys: list[tuple[str, str, tuple[int, ...]]] = []
    unique: dict[tuple[int, ...], int] = {}
    prompts = []
    for name, path in zip(retrievers, files, strict=True):
        examples = answered(read_jsonl(path), s.max_questions)
        built = reader.build_prompts(tok, examples, k, s.prompt, False, f"answer_questions ({name})")
        for ex, p in zip(examples, built, strict=True):
            key = tuple(p.input_ids)
            if key not in unique:
                unique[key] = len(prompts)
                prompts.append(p)
            keys.append((name, str(ex["id"]), key))
    log.info(
        "%s: %d questions over %d retrievers, %d distinct prompts answered",
        s.reader,
        len(keys),
        len(retrievers),
        len(prompts),
    )
    preds = reader.answer(tok, prompts, s.max_new_tokens, s.batch_size, progress=True)
    write_jsonl(
        out["answers"],
        ({"retriever": name, "id": qid, "prediction": preds[unique[key]]} for name, qid, key in keys),
    )


def evaluate_setting(inp: dict, out: dict, params: dict) -> None:
    """Score one cell: HR@k on every test question, EM/F1 on the answered ones."""
    s = from_params(CellSettings, params)
    every = read_jsonl(inp["retrieved"])
    ks = [int(x) for x in s.hr_k]
    retriever = s.retriever
    preds = {r["id"]: r["prediction"] for r in read_jsonl(inp["answers"]) if r["retriever"] == retriever}
    n_answer = len(answered(every, s.max_questions))
    rows = []
    for i, ex in enumerate(every):
        row = {"id": ex["id"], "question": ex["question"], "answers": ex["answers"], **question_hits(ex, ks)}
        pred = preds.get(str(ex["id"])) if i < n_answer else None
        if i < n_answer and pred is None:
            raise InputError(
                f"{inp['answers']}: no answer of retriever {retriever!r} to question {ex['id']!r} "
                "(answers written for other settings; rerun answer_questions)"
            )
        row.update(
            {
                "prediction": pred,
                "em": None if pred is None else exact_match(pred, ex["answers"]),
                "f1": None if pred is None else f1_score(pred, ex["answers"]),
            }
        )
        rows.append(row)
    scored = [r for r in rows if r["em"] is not None]
    metrics = cell_metrics(rows, ks)
    metrics.update(
        {
            "n_retrieval": len(every),
            "em": sum(r["em"] for r in scored) / max(1, len(scored)),
            "f1": sum(r["f1"] for r in scored) / max(1, len(scored)),
            "n": len(scored),
            "retriever": retriever,
            "reader": s.reader,
        }
    )
    write_jsonl(out["predictions"], rows)
    write_json(out["metrics"], metrics)
    log.info(
        "%s+%s: %s",
        retriever,
        s.reader,
        {m: round(v, 3) for m, v in metrics.items() if isinstance(v, float)},
    )
