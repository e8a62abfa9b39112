"""Stage ``attention``: the teacher's signal. ADist attention targets and PDist perplexity targets.

ADist (ATLAS): for layer l, head h, answer row q (``attention.answer_rows`` says which rows of a
decoder-only reader: ``ragdistill/readers/capture.py``) and document token t,
``c = softmax(QK^T/sqrt(d) + mask)[h,q,t] * ||V[h,t]||``; per document
``S(d) = 1/(256 L A) * sum_l sum_q sum_{t in d} mean_h c``. The per-token sums come from one
normal forward pass per batch, recorded by the reader (``Reader.token_profiles``; how each kind
records is in ``ragdistill/readers/capture.py`` and ``ragdistill/readers/``): a decoder-only reader's
answer rows of its self-attention, a Fusion-in-Decoder reader's decoder cross-attention over the
encoder tokens of all k passages (ATLAS's own target), carried back to the prompt's positions, so
the dump's format is the same for both.

Dump file (``.npz``, one per reader and split), n examples of k documents:
- ``ids`` (n,) question ids; ``ctx_ids`` (n, k) passage ids in retrieval order;
- ``scores_adist``, ``scores_attn`` (no value norm), ``scores_first`` (first answer token
  only), ``scores_mean`` (mean over a document's tokens instead of the sum), ``scores_noq``
  (document tokens that are also question tokens left out): (n, k) float32 S(d);
- per document token, concatenated over examples (``tok_offsets`` (n+1,) delimits them):
  ``tok_ids`` int32, ``tok_doc`` int8 (document index), ``tok_pos`` int32 (prompt position),
  ``tok_profile`` float16 (sum over layers and answer rows of mean_h c), ``tok_answer`` bool
  (inside a gold-answer span);
- ``q_ids``/``q_offsets`` and ``a_ids``/``a_offsets``: question and answer token ids;
- ``layers`` and ``answer_len`` (n,) for the normalising constant;
- ``answer_rows``: the rows read as the answer's (``attention.answer_rows``; a FiD reader's are
  the producing rows whichever it says, ``ragdistill/readers/capture.py``).
Load with :func:`ragdistill.data.dumps.load_dump`.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import torch

from ragdistill import models, readers
from ragdistill.core.files import atomic_path, read_jsonl
from ragdistill.core.names import ATTENTION_OBJECTIVES
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import DumpSettings
from ragdistill.readers import to_device
from ragdistill.readers.prompts import Prompt

log = logging.getLogger(__name__)
NORM = 256.0  # ATLAS's constant


def doc_scores(profile: np.ndarray, spans: list[tuple[int, int]], reduce: str = "sum") -> np.ndarray:
    f = np.sum if reduce == "sum" else np.mean
    return np.array([f(profile[s:e]) for s, e in spans], dtype=np.float64)


def without_question_tokens(profile: np.ndarray, prompt: Prompt) -> np.ndarray:
    """The profile with every document token that is also one of the question's tokens set to 0:
    the ``noq`` variant, ADist without the attention that goes to words the question repeats."""
    ids = np.asarray(prompt.input_ids)
    q0, q1 = prompt.question_span
    out = profile[: len(ids)].copy()
    out[np.isin(ids, ids[q0:q1])] = 0.0
    return out


def load_reader_for_capture(path: str):
    """The reader (loaded with SDPA) switched to attention capture, as its kind does it
    (``Reader.prepare_capture``; fails early for a model whose attention cannot be captured)."""
    model = readers.load(path, attn_implementation="sdpa")
    readers.of(model).prepare_capture()
    return model


def candidate_windows(examples: list[dict], k: int, n: int) -> list[dict]:
    """The teacher's reading of ``n`` candidates, ``k`` at a time: per example, ``n // k``
    windows of its candidates in rank order (window 0 is the reader's own prompt), as examples
    of ``k`` ctxs, example-major: window ``w`` of example ``i`` is item ``i * (n // k) + w``."""
    if n % k:
        raise ValueError(f"distill.candidates: {n} is not a multiple of k ({k})")
    short = [ex for ex in examples if len(ex["ctxs"]) < n]
    if short:
        raise ValueError(
            f"distill.candidates: {n}, but question {short[0]['id']!r} has {len(short[0]['ctxs'])} retrieved "
            "passages; raise retrieve.top_k or lower distill.candidates"
        )
    return [{**ex, "ctxs": ex["ctxs"][w * k : (w + 1) * k]} for ex in examples for w in range(n // k)]


def _window_scores(prof: dict[str, np.ndarray], j: int, p: Prompt, layers: int) -> dict[str, np.ndarray]:
    """S(d) of one prompt's k documents for every attention objective (module docstring)."""
    a = p.answer_span[1] - p.answer_span[0]
    const = NORM * layers * a
    return {
        "adist": doc_scores(prof["vnorm"][j], p.doc_spans) / const,
        "attn": doc_scores(prof["attn"][j], p.doc_spans) / const,
        "first": doc_scores(prof["first"][j], p.doc_spans) / (NORM * layers),
        "mean": doc_scores(prof["vnorm"][j], p.doc_spans, "mean") / const,
        "noq": doc_scores(without_question_tokens(prof["vnorm"][j], p), p.doc_spans) / const,
    }


def dump_attention(inp: dict, out: dict, params: dict) -> None:
    """The ADist scores (every variant) of the teacher's training prompts over its candidates,
    and the per-token profiles of the reader's own prompt (window 0)."""
    from tqdm import tqdm

    s = from_params(DumpSettings, params)
    k, n_cand = s.k, s.candidates
    windows = n_cand // k
    device = models.pick_device()
    dtype = models.stage_precision(s.precision, device, "dump_attention")
    tok = models.load_tokenizer(inp["model"])
    model = models.in_precision(load_reader_for_capture(inp["model"]).to(device).eval(), dtype)
    reader = readers.of(model)
    examples = read_jsonl(inp["retrieved"])[: s.max_questions or None]
    views = candidate_windows(examples, k, n_cand)
    prompts = reader.build_prompts(tok, views, k, s.prompt, True, "dump_attention")
    n = len(examples)
    scores = {v: np.zeros((n, n_cand), dtype=np.float32) for v in ATTENTION_OBJECTIVES}
    profiles: list[np.ndarray | None] = [None] * n  # per example: c(t) on window 0's positions
    answer_len = np.zeros(n, dtype=np.int32)
    layers = 0
    # batches of similar length: right padding is computed like real tokens (6% of a batch of
    # 4 in prompt order on the default, under 1% sorted)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
    # every window of every example, of the train and the test split alike, reads the same rows
    for start in tqdm(range(0, len(prompts), s.batch_size), desc="dump_attention", mininterval=5):
        idx = order[start : start + s.batch_size]
        prof = reader.token_profiles([prompts[i] for i in idx], tok.pad_token_id, s.answer_rows)
        layers = prof["layers"]
        for j, i in enumerate(idx):
            ex_i, w = divmod(i, windows)
            p = prompts[i]
            for v, row in _window_scores(prof, j, p, layers).items():
                scores[v][ex_i, w * k : (w + 1) * k] = row
            if w == 0:
                answer_len[ex_i] = p.answer_span[1] - p.answer_span[0]
                profiles[ex_i] = prof["vnorm"][j]
    arrays = {
        "ids": np.array([str(ex["id"]) for ex in examples]),
        "ctx_ids": np.array([[c["id"] for c in ex["ctxs"][:n_cand]] for ex in examples]),
        "window": np.int32(k),
        **{f"scores_{v}": a for v, a in scores.items()},
        **token_arrays(prompts[::windows], profiles),
        "layers": np.int32(layers),
        "answer_len": answer_len,
        "answer_rows": np.str_(s.answer_rows),
    }
    with atomic_path(out["dump"], suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    size = os.path.getsize(out["dump"])
    log.info(
        "dumped %d examples over %d candidates (%d windows of %d; %d layers): %d bytes, %.0f per example",
        n,
        n_cand,
        windows,
        k,
        layers,
        size,
        size / max(n, 1),
    )


def token_arrays(prompts: list[Prompt], profiles: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The dump's per-document-token arrays (``tok_*`` with ``tok_offsets``), and the question's
    and answer's token ids with their offsets, concatenated over examples (the module docstring
    gives the layout)."""
    toks: dict[str, list] = {n_: [] for n_ in ("ids", "doc", "pos", "profile", "answer")}
    tok_offsets = [0]
    for p, profile in zip(prompts, profiles, strict=True):
        for d, (a0, a1) in enumerate(p.doc_spans):
            toks["ids"].append(np.asarray(p.input_ids[a0:a1], dtype=np.int32))
            toks["doc"].append(np.full(a1 - a0, d, dtype=np.int8))
            toks["pos"].append(np.arange(a0, a1, dtype=np.int32))
            toks["profile"].append(profile[a0:a1].astype(np.float16))
            toks["answer"].append(np.asarray(p.doc_answer_mask[d], dtype=bool))
        tok_offsets.append(tok_offsets[-1] + sum(e - b_ for b_, e in p.doc_spans))
    q_ids = [
        np.asarray(p.input_ids[p.question_span[0] : p.question_span[1]], dtype=np.int32) for p in prompts
    ]
    a_ids = [
        np.asarray((p.labels or p.input_ids)[p.answer_span[0] : p.answer_span[1]], dtype=np.int32)
        for p in prompts
    ]
    return {
        "tok_offsets": np.asarray(tok_offsets, dtype=np.int64),
        **{f"tok_{n_}": np.concatenate(v) if v else np.zeros(0) for n_, v in toks.items()},
        "q_ids": np.concatenate(q_ids),
        "q_offsets": np.cumsum([0] + [len(x) for x in q_ids]),
        "a_ids": np.concatenate(a_ids),
        "a_offsets": np.cumsum([0] + [len(x) for x in a_ids]),
    }


@torch.no_grad()
def score_perplexity(inp: dict, out: dict, params: dict) -> None:
    """PDist targets: for each of the ``candidates`` alone, S(d) = -mean NLL of the gold answer tokens."""
    from tqdm import tqdm

    s = from_params(DumpSettings, params)
    k = s.candidates  # every candidate alone: no windows needed
    device = models.pick_device()
    dtype = models.stage_precision(s.precision, device, "score_perplexity")
    tok = models.load_tokenizer(inp["model"])
    model = models.in_precision(readers.load(inp["model"]).to(device).eval(), dtype)
    reader = readers.of(model)
    examples = read_jsonl(inp["retrieved"])[: s.max_questions or None]
    prompt = dataclasses.replace(s.prompt, shuffle=False)  # one document per prompt: no order
    scores = np.zeros((len(examples), k), dtype=np.float32)
    for i, ex in enumerate(tqdm(examples, desc="score_perplexity", mininterval=5)):
        alone = [{**ex, "ctxs": [c]} for c in ex["ctxs"][:k]]
        singles = reader.build_prompts(tok, alone, 1, prompt, True, "score_perplexity")
        batch = to_device(reader.batch(singles, tok.pad_token_id, with_stop=False), device)
        nll = reader.answer_nll(batch).float()
        counts = reader.target_counts(batch)
        for d, chunk in enumerate(torch.split(nll, counts)):
            scores[i, d] = -float(chunk.mean())
    with atomic_path(out["scores"], suffix=".npz") as tmp:
        np.savez(
            tmp,
            ids=np.array([str(ex["id"]) for ex in examples]),
            ctx_ids=np.array([[c["id"] for c in ex["ctxs"][:k]] for ex in examples]),
            scores_pdist=scores,
        )
    log.info("perplexity targets for %d examples", len(examples))
