"""Stage ``evaluate``: one grid cell = a retriever's test retrieval + a reader answering from it.

Writes ``predictions.jsonl`` (``{"id", "question", "answers", "prediction", "em", "f1"}``)
and ``metrics.json`` (HR@k, gold-passage recall@k where gold ids exist, EM, F1).
"""

from __future__ import annotations

import logging

from . import models
from .files import read_jsonl, write_json, write_jsonl
from .metrics import exact_match, f1_score, mean_hits
from .prompts import build_prompt
from .reader import answer

log = logging.getLogger(__name__)


def retrieval_metrics(examples: list[dict], ks: list[int]) -> dict[str, float]:
    out = {
        f"hr@{k}": v
        for k, v in mean_hits([[c["has_answer"] for c in ex["ctxs"]] for ex in examples], ks).items()
    }
    with_gold = [ex for ex in examples if ex.get("gold_ids")]
    if with_gold:
        flags = [[c["id"] in set(ex["gold_ids"]) for c in ex["ctxs"]] for ex in with_gold]
        out.update({f"gold_recall@{k}": v for k, v in mean_hits(flags, ks).items()})
    return out


def evaluate_setting(inp: dict, out: dict, params: dict) -> None:
    """HR@k on every test question (retrieval is cheap); EM/F1 on the first ``max_questions``.

    Answering is the expensive part on a CPU, so only it is capped; ``n_retrieval`` and ``n``
    (answered) record both sizes.
    """
    every = read_jsonl(inp["retrieved"])
    examples = every[: params.get("max_questions") or None]
    k = int(params["k"])
    metrics = retrieval_metrics(every, [int(x) for x in params["hr_k"]])
    metrics["n_retrieval"] = len(every)
    device = models.pick_device()
    tok = models.load_tokenizer(inp["reader"])
    reader = models.load_causal_lm(inp["reader"]).to(device)
    prompt = params["prompt"]
    prompts = [build_prompt(tok, ex, k, prompt, with_answer=False) for ex in examples]
    preds = answer(
        reader, tok, prompts, int(params["max_new_tokens"]), int(params["batch_size"]), progress=True
    )
    rows = []
    for ex, pred in zip(examples, preds, strict=True):
        rows.append(
            {
                "id": ex["id"],
                "question": ex["question"],
                "answers": ex["answers"],
                "prediction": pred,
                "em": exact_match(pred, ex["answers"]),
                "f1": f1_score(pred, ex["answers"]),
            }
        )
    metrics["em"] = sum(r["em"] for r in rows) / max(1, len(rows))
    metrics["f1"] = sum(r["f1"] for r in rows) / max(1, len(rows))
    metrics["n"] = len(rows)
    metrics.update({"retriever": params["retriever"], "reader": params["reader"]})
    write_jsonl(out["predictions"], rows)
    write_json(out["metrics"], metrics)
    log.info(
        "%s+%s: %s",
        params["retriever"],
        params["reader"],
        {m: round(v, 3) for m, v in metrics.items() if isinstance(v, float)},
    )
