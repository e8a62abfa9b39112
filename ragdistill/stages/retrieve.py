"""Stage ``retrieve``: top-K passages per question, in the DPR/FiD JSONL convention.

Each line: ``{"id", "question", "answers", "gold_ids", "ctxs": [{"id", "title", "text",
"score", "has_answer"}]}`` with ctxs sorted by score. Passage texts are collected in one
streaming pass over the corpus, for the retrieved ids only.
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ragdistill import models
from ragdistill.analysis.metrics import has_answer
from ragdistill.core.files import InputError, read_json, read_jsonl, write_jsonl
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import RetrieveSettings
from ragdistill.data.datasets import iter_corpus
from ragdistill.data.dumps import read_array
from ragdistill.data.vectors import read_index

log = logging.getLogger(__name__)


def load_query_encoder(path: str):
    device = models.pick_device()
    return models.load_tokenizer(path), models.load_encoder(path).to(device).eval()


def search(index, query_emb: np.ndarray, top_k: int, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    scores, rows = [], []
    for s in range(0, len(query_emb), batch_size):
        sc, ix = index.search(np.ascontiguousarray(query_emb[s : s + batch_size], dtype=np.float32), top_k)
        scores.append(sc)
        rows.append(ix)
    return np.concatenate(scores), np.concatenate(rows)


def passages_by_id(corpus: str, wanted: set[str]) -> dict[str, dict]:
    found = {}
    for p in iter_corpus(Path(corpus), "dpr_tsv"):
        if p["id"] in wanted:
            found[p["id"]] = p
    return found


def same_as_initial(inp: dict) -> bool:
    """Whether a distilled retriever is the initial one: its query encoder holds the initial
    weights and it searches the initial index's file (query mode) or a byte-identical one (both
    mode, its passage encoder unchanged too). The rule passes ``initial_*`` inputs for distilled
    retrievers only."""
    if "initial_index" not in inp or not models.same_weights(inp["query_encoder"], inp["initial_encoder"]):
        return False  # the weights first: reading two indexes whole is the costly check
    return all(
        os.path.samefile(inp[name], inp[f"initial_{name}"])
        or filecmp.cmp(inp[name], inp[f"initial_{name}"], shallow=False)
        for name in ("index", "ids")
    )


def check_shared_corpus(inp: dict) -> None:
    """Where the index was built by another replicate over what the plan judged the same corpus
    (``ragdistill/core/corpora.py``; the rule then passes both replicates' ``checks.json`` as
    ``corpus_checks`` and ``index_checks``), stop unless the two fetched corpus files are the same
    bytes: the index's passage ids would otherwise point into another corpus."""
    if "index_checks" not in inp:
        return
    own, shared = (read_json(inp[k]).get("corpus_sha256") for k in ("corpus_checks", "index_checks"))
    if own is None or own != shared:
        raise InputError(
            f"{inp['corpus']}: not the corpus of the initial index it shares "
            f"({inp['index']}; sha256 {own} in {inp['corpus_checks']}, {shared} in "
            f"{inp['index_checks']}): an unpinned source may have changed between the two fetches "
            "(pin its revision or sha256 and fetch again), or give the datasets different corpus "
            "settings so that each builds its own index"
        )


def retrieve(inp: dict, out: dict, params: dict) -> None:
    """Search the index with every question of the job's splits; the top ``top_k`` passages."""

    s = from_params(RetrieveSettings, params)
    check_shared_corpus(inp)
    if same_as_initial(inp):
        for split in s.splits:
            shutil.copyfile(inp[f"initial_{split}"], out[split])
        log.info(
            "%s and its index hold the initial retriever's weights and vectors (its distillation "
            "kept step 0): the initial retrieval of %s, copied",
            inp["query_encoder"],
            ", ".join(s.splits),
        )
        return
    index = read_index(inp["index"])
    ids = read_array(inp["ids"], "passage ids (.npy)")
    tok, model = load_query_encoder(inp["query_encoder"])
    splits = list(s.splits)
    per_split = [read_jsonl(p) for p in inp["questions"]]
    questions = [q for qs in per_split for q in qs]
    with torch.no_grad():
        q_emb = models.embed_all(
            model,
            tok,
            [q["question"] for q in questions],
            s.retriever.batch_size,
            s.retriever.query_max_length,
            s.retriever.pooling,
            s.retriever.normalize,
            progress=True,
        )
    top_k = min(s.top_k, len(ids))
    scores, rows = search(index, q_emb, top_k)
    wanted = {str(ids[r]) for r in rows.ravel() if r >= 0}
    texts = passages_by_id(inp["corpus"], wanted)

    def lines(start: int, qs: list[dict]):
        for q, sc, rw in zip(qs, scores[start:], rows[start:], strict=False):
            ctxs = []
            for s, r in zip(sc, rw, strict=True):
                if r < 0:
                    continue
                p = texts[str(ids[r])]
                ctxs.append(
                    {
                        "id": p["id"],
                        "title": p["title"],
                        "text": p["text"],
                        "score": float(s),
                        "has_answer": has_answer(p["text"], q["answers"]),
                    }
                )
            yield {**q, "ctxs": ctxs}

    start = 0
    for split, qs in zip(splits, per_split, strict=True):
        write_jsonl(out[split], lines(start, qs))
        start += len(qs)
    log.info("retrieved top %d for %d questions (%s)", top_k, len(questions), ", ".join(splits))
