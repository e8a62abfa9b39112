"""Stage ``attention``: the teacher's signal. ADist attention targets and PDist perplexity targets.

ADist (ATLAS): for layer l, head h, answer position q and document token t,
``c = softmax(QK^T/sqrt(d) + mask)[h,q,t] * ||V[h,t]||``; per document
``S(d) = 1/(256 L A) * sum_l sum_q sum_{t in d} mean_h c``. We capture it inside the normal
forward pass: a custom attention function (registered with transformers' AttentionInterface)
computes the layer's output with SDPA as usual and, beside it, only the answer rows of the
attention matrix, so memory grows with answer length x sequence length, not sequence length
squared. Grouped-query attention: each query head uses the norm of the value head it reads.
Architectures that call torch's SDPA themselves (Falcon, whose ALiBi rides in the additive mask)
are captured the same way from a wrapper around that SDPA call, for the forward pass only.

Encoder-decoder readers (T5, read Fusion-in-Decoder style, ``ragdistill/fid.py``): the same
statistic from each decoder block's cross-attention, ATLAS's own target: the answer rows are the
decoder positions that write the answer tokens, the columns the encoder tokens of all k passages,
and ``||V||`` the norm of the cross-attention's value vectors of those tokens, per head. A
forward hook on each cross-attention module recomputes the answer rows from the module's inputs
(its own query, key and value projections, the position bias it used and the mask) while the
layer itself runs SDPA. Profiles are mapped from the encoder's padded layout back to the FiD
prompt's positions, so the dump's format is the decoder-only one.

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
- ``layers`` and ``answer_len`` (n,) for the normalising constant.
Load with :func:`ragdistill.dumps.load_dump`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

from . import fid, models
from .files import atomic_path, read_jsonl
from .names import ATTENTION_OBJECTIVES
from .prompts import Prompt, PromptSettings, ReaderShape, build_prompts
from .reader import answer_nll, decoder_layers, lm_batch, pad, to_device
from .settings import from_params

log = logging.getLogger(__name__)
CAPTURE = "ragdistill_capture"
NORM = 256.0  # ATLAS's constant


@dataclass
class Recorder:
    """What the capture function needs (answer rows) and what it accumulates (per token)."""

    rows: torch.Tensor | None = None  # (B, A) prompt positions of answer tokens
    row_mask: torch.Tensor | None = None  # (B, A) which of those are real
    vnorm: torch.Tensor | None = None  # (B, T) sum_l sum_q mean_h p * ||v||
    attn: torch.Tensor | None = None  # (B, T) same without the value norm
    first: torch.Tensor | None = None  # (B, T) first answer row only, with value norm
    layers: int = 0


RECORDER = Recorder()


def _repeat_kv(x: torch.Tensor, n: int) -> torch.Tensor:
    if n == 1:
        return x
    b, h, t, d = x.shape
    return x[:, :, None].expand(b, h, n, t, d).reshape(b, h * n, t, d)


def _gather_rows(m: torch.Tensor, rows: torch.Tensor, t: int) -> torch.Tensor:
    """Rows ``rows`` (B, A) of a (B or 1, H or 1, Q or 1, >=T) mask or bias: (B, H or 1, A, T)."""
    b, a = rows.shape
    m = m[:, :, :, :t]
    if m.shape[2] == 1:  # the same for every query row (an encoder's padding mask)
        return m.expand(b, m.shape[1], a, t)
    return torch.gather(
        m.expand(b, m.shape[1], m.shape[2], t), 2, rows[:, None, :, None].expand(b, m.shape[1], a, t)
    )


def answer_row_probs(
    query, key, attention_mask, scaling, rows, groups: int, causal: bool = True
) -> torch.Tensor:
    """Attention probabilities of the answer rows only: (B, H, A, T), in float32. Without a
    mask, a causal one is assumed unless ``causal`` is false (cross-attention)."""
    b, h, _, d = query.shape
    k = _repeat_kv(key, groups).float()
    idx = rows[:, None, :, None].expand(b, h, rows.shape[1], d)
    q = torch.gather(query.float(), 2, idx)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scaling
    t = k.shape[2]
    if attention_mask is None and not causal:
        pass
    elif attention_mask is None:
        allowed = torch.arange(t, device=q.device)[None, None, None, :] <= rows[:, None, :, None]
        scores = scores.masked_fill(~allowed, float("-inf"))
    else:
        m = _gather_rows(attention_mask, rows, t)
        if m.dtype == torch.bool:
            scores = scores.masked_fill(~m, float("-inf"))
        else:
            scores = scores + m.float()
    return torch.softmax(scores, dim=-1)


def _record(query, key, value, attention_mask, scale: float, causal: bool = True) -> None:
    """Add one layer's answer-row statistics to ``RECORDER`` (nothing when no rows are set)."""
    rec = RECORDER
    if rec.rows is None:
        return
    groups = query.shape[1] // key.shape[1]
    # in float32 whatever the pass computes in: the statistics are sums of many small products
    with torch.no_grad(), torch.autocast(query.device.type, enabled=False):
        p = answer_row_probs(query, key, attention_mask, scale, rec.rows, groups, causal)  # (B,H,A,T)
        vn = _repeat_kv(value, groups).float().norm(dim=-1)  # (B,H,T)
        rm = rec.row_mask[:, None, :, None].float()
        c = p * vn[:, :, None, :] * rm
        rec.vnorm += c.mean(1).sum(1)
        rec.attn += (p * rm).mean(1).sum(1)
        rec.first += c[:, :, 0, :].mean(1)
        rec.layers += 1


def capture_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """SDPA for the layer's output, plus the answer-row statistics into ``RECORDER``."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    out = sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )
    _record(query, key, value, attention_mask, scaling if scaling is not None else query.shape[-1] ** -0.5)
    return out


@contextlib.contextmanager
def recording_sdpa():
    """Record from torch's SDPA itself while the block runs.

    For architectures whose attention calls ``torch.nn.functional.scaled_dot_product_attention``
    directly instead of going through transformers' attention interface (Falcon in transformers
    5): what SDPA receives there is what the layer computes with, rotary embeddings applied and
    ALiBi folded into the additive mask, so the answer rows come out exact all the same.
    """
    functional = torch.nn.functional
    original = functional.scaled_dot_product_attention

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kwargs):
        out = original(query, key, value, attn_mask, dropout_p, is_causal, scale=scale, **kwargs)
        if attn_mask is None and not is_causal:
            raise RuntimeError("attention capture: an SDPA call without mask or is_causal is not a decoder's")
        _record(query, key, value, attn_mask, scale if scale is not None else query.shape[-1] ** -0.5)
        return out

    functional.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        functional.scaled_dot_product_attention = original


def register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(CAPTURE, capture_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(CAPTURE, sdpa_mask)


CROSS_ATTENTION = "EncDecAttention"  # T5's name for a decoder block's cross-attention module


def cross_attention_modules(model) -> list[torch.nn.Module]:
    """Each decoder block's cross-attention module (T5 family), checked one per block."""
    blocks = decoder_layers(model)
    found = [m for b in blocks for n, m in b.named_modules() if n.endswith(CROSS_ATTENTION)]
    if len(found) != len(blocks):
        raise RuntimeError(
            f"{type(model).__name__}: found {len(found)} cross-attention modules named "
            f"{CROSS_ATTENTION!r} in {len(blocks)} decoder blocks; attention capture supports the "
            "T5 family of encoder-decoders"
        )
    return found


def _cross_attention_hook(module, args, kwargs, output) -> None:
    """Answer-row statistics of one T5 cross-attention call, recomputed from its inputs with its
    own projections; the additive terms are the position bias the layer used (its output's
    second item; zeros for cross-attention) and the encoder padding mask."""
    hidden = args[0] if args else kwargs["hidden_states"]
    kv = kwargs["key_value_states"]
    b = hidden.shape[0]
    shape = (b, -1, module.n_heads, module.key_value_proj_dim)
    q = module.q(hidden).view(shape).transpose(1, 2)
    k = module.k(kv).view(shape).transpose(1, 2)
    v = module.v(kv).view(shape).transpose(1, 2)
    additive = output[1]
    mask = kwargs.get("mask")
    if mask is not None:
        if mask.dtype == torch.bool:
            mask = torch.zeros_like(mask, dtype=q.dtype).masked_fill(~mask, float("-inf"))
        additive = mask if additive is None else additive + mask
    _record(q, k, v, additive, module.scaling, causal=False)


@contextlib.contextmanager
def recording_cross_attention(model):
    """Record from every decoder block's cross-attention while the block runs (module docstring)."""
    modules = cross_attention_modules(model)
    handles = [m.register_forward_hook(_cross_attention_hook, with_kwargs=True) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _start_recording(prompts: list[Prompt], b: int, t: int, device) -> None:
    """Answer rows (each prompt's ``answer_span``, padded with its last row) and empty sums."""
    a_len = max(p.answer_span[1] - p.answer_span[0] for p in prompts)
    rows = torch.zeros((len(prompts), a_len), dtype=torch.long)
    row_mask = torch.zeros((len(prompts), a_len), dtype=torch.bool)
    for i, p in enumerate(prompts):
        a0, a1 = p.answer_span
        rows[i, : a1 - a0] = torch.arange(a0, a1)
        rows[i, a1 - a0 :] = a1 - 1
        row_mask[i, : a1 - a0] = True
    RECORDER.rows, RECORDER.row_mask = rows.to(device), row_mask.to(device)
    RECORDER.vnorm = torch.zeros((b, t), device=device)
    RECORDER.attn = torch.zeros((b, t), device=device)
    RECORDER.first = torch.zeros((b, t), device=device)
    RECORDER.layers = 0


def _recorded(model, expected: int) -> dict[str, np.ndarray]:
    """The sums, checked to come from every layer."""
    if RECORDER.layers != expected:
        raise RuntimeError(
            f"{type(model).__name__}: attention was captured in {RECORDER.layers} of {expected} layers; "
            "its attention goes neither through transformers' attention interface nor through "
            "torch's SDPA, and capture is not supported for it"
        )
    return {n: getattr(RECORDER, n).cpu().numpy() for n in ("vnorm", "attn", "first")} | {"layers": expected}


@torch.no_grad()
def token_profiles(model, prompts: list[Prompt], pad_id: int) -> dict[str, np.ndarray]:
    """One forward pass over a batch; per-token profiles (B, T) for the three row statistics
    (FiD prompts: :func:`fid_token_profiles`)."""
    if prompts[0].passages is not None:
        return fid_token_profiles(model, prompts, pad_id)
    device = next(model.parameters()).device
    ids, mask = pad([p.input_ids for p in prompts], pad_id)
    _start_recording(prompts, *ids.shape, device)
    direct = model.config._attn_implementation != CAPTURE
    try:
        with recording_sdpa() if direct else contextlib.nullcontext():
            model(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=1)
        return _recorded(model, model.config.num_hidden_layers)
    finally:
        RECORDER.rows = RECORDER.row_mask = None


@torch.no_grad()
def fid_token_profiles(model, prompts: list[Prompt], pad_id: int) -> dict[str, np.ndarray]:
    """The FiD forward pass with cross-attention recorded; profiles over the encoder's padded
    concatenation (B, k*L), carried back to each prompt's own positions (B, T)."""
    device = next(model.parameters()).device
    batch = lm_batch(prompts, pad_id, start_id=model.config.decoder_start_token_id)
    width = batch["input_ids"].shape[1]
    _start_recording(prompts, len(prompts), batch["n_docs"] * width, device)
    try:
        with recording_cross_attention(model):
            fid.decoder_forward(model, to_device(batch, device))
        padded = _recorded(model, len(decoder_layers(model)))
    finally:
        RECORDER.rows = RECORDER.row_mask = None
    t = max(len(p.input_ids) for p in prompts)
    out = {n: np.zeros((len(prompts), t), dtype=np.float32) for n in ("vnorm", "attn", "first")}
    for i, places in enumerate(fid.unpad_positions(prompts, width)):
        for start, at, n in places:
            for name, arr in out.items():
                arr[i, start : start + n] = padded[name][i, at : at + n]
    return out | {"layers": padded["layers"]}


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
    """The reader with capture switched on: through transformers' attention interface where the
    architecture routes attention through it (Llama, GPT-2), else plain SDPA, which
    :func:`token_profiles` then records from (Falcon); an encoder-decoder runs SDPA and is
    recorded by hooks on its cross-attention."""
    register()
    model = models.load_reader(path, attn_implementation="sdpa")
    if model.config.is_encoder_decoder:
        cross_attention_modules(model)  # fails early for an encoder-decoder we cannot capture
    elif model.is_backend_compatible():
        model.set_attn_implementation(CAPTURE)
    return model


@dataclass(frozen=True)
class DumpSettings:
    """A teacher's signal: its prompts (``k``, ``prompt``), the ``candidates`` it scores, which
    questions, the batch size."""

    k: int
    candidates: int
    prompt: PromptSettings
    max_questions: int | None
    batch_size: int
    precision: str = "float32"  # model_jobs.precision


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

    s = from_params(DumpSettings, params, "attention.")
    k, n_cand = s.k, s.candidates
    windows = n_cand // k
    device = models.pick_device()
    dtype = models.stage_precision(s.precision, device, "dump_attention")
    tok = models.load_tokenizer(inp["model"])
    model = models.in_precision(load_reader_for_capture(inp["model"]).to(device).eval(), dtype)
    examples = read_jsonl(inp["retrieved"])[: s.max_questions or None]
    views = candidate_windows(examples, k, n_cand)
    prompts = build_prompts(tok, views, k, s.prompt, True, ReaderShape.of(model), "dump_attention")
    n = len(examples)
    scores = {v: np.zeros((n, n_cand), dtype=np.float32) for v in ATTENTION_OBJECTIVES}
    profiles: list[np.ndarray | None] = [None] * n  # per example: c(t) on window 0's positions
    answer_len = np.zeros(n, dtype=np.int32)
    layers = 0
    # batches of similar length: right padding is computed like real tokens (6% of a batch of
    # 4 in prompt order on the default, under 1% sorted)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
    for start in tqdm(range(0, len(prompts), s.batch_size), desc="dump_attention", mininterval=5):
        idx = order[start : start + s.batch_size]
        prof = token_profiles(model, [prompts[i] for i in idx], tok.pad_token_id)
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

    s = from_params(DumpSettings, params, "attention.")
    k = s.candidates  # every candidate alone: no windows needed
    device = models.pick_device()
    dtype = models.stage_precision(s.precision, device, "score_perplexity")
    tok = models.load_tokenizer(inp["model"])
    model = models.in_precision(models.load_reader(inp["model"]).to(device).eval(), dtype)
    examples = read_jsonl(inp["retrieved"])[: s.max_questions or None]
    prompt = dataclasses.replace(s.prompt, shuffle=False)  # one document per prompt: no order
    scores = np.zeros((len(examples), k), dtype=np.float32)
    shape = ReaderShape.of(model)
    start_id = getattr(model.config, "decoder_start_token_id", None)
    for i, ex in enumerate(tqdm(examples, desc="score_perplexity", mininterval=5)):
        alone = [{**ex, "ctxs": [c]} for c in ex["ctxs"][:k]]
        singles = build_prompts(tok, alone, 1, prompt, True, shape, "score_perplexity")
        batch = to_device(lm_batch(singles, tok.pad_token_id, False, start_id), device)
        nll = answer_nll(model, batch).float()
        labels = batch["labels"] if shape.fid else batch["labels"][:, 1:]
        counts = (labels != -100).sum(1).tolist()
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
