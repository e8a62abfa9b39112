"""Attention capture: the answer rows of every layer's attention, recorded inside the normal forward.

ADist (ATLAS) needs, per layer, head, answer position q and prompt token t,
``softmax(QK^T/sqrt(d) + mask)[h,q,t] * ||V[h,t]||``. A full attention matrix per layer would
cost sequence length squared; instead each layer's own inputs are intercepted while the layer
computes its output with SDPA as usual, and only the answer rows are recomputed beside it, so
memory grows with answer length x sequence length. Three ways in, one per kind of attention
code (the reader picks its own, ``ragdistill/readers/``):

- a custom attention function registered with transformers' ``AttentionInterface``
  (:data:`CAPTURE`; Llama, GPT-2 and every architecture that routes attention through it);
- a wrapper around torch's SDPA itself (:func:`recording_sdpa`; Falcon, which calls SDPA
  directly with ALiBi folded into the additive mask);
- forward hooks that call :func:`record` with a module's own projections (a FiD reader's
  cross-attention, ``ragdistill/readers/fid.py``).

All three add into one :data:`RECORDER`: per prompt token, the sums over layers and answer rows
of ``mean_h p * ||v||`` (``vnorm``), of ``mean_h p`` (``attn``) and of the first answer row's
``mean_h p * ||v||`` (``first``), in float32 whatever precision the pass runs in. Grouped-query
attention: each query head uses the norm of the value head it reads.

Which rows are the answer's (``attention.answer_rows``, :data:`ANSWER_ROWS`). A decoder-only
prompt's ``answer_span`` [a0, a1) indexes its own ``input_ids``, and in a causal LM the row at
position i predicts token i+1: ``producing`` records rows a0-1 .. a1-2, the rows whose next-token
prediction is an answer token (ATLAS's convention, the decoder positions whose labels are not
-100); ``own`` records the answer tokens' own rows a0 .. a1-1, which leave out the row that writes
the first answer token and count the last one's, which writes the stop newline. A FiD prompt's
``answer_span`` indexes the decoder's targets (``labels``), whose decoder input is shifted right
from the start token, so decoder position i already writes label i: its rows are ``answer_span``
under either setting (:func:`answer_rows_of`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from ragdistill.readers.prompts import Prompt

CAPTURE = "ragdistill_capture"
# attention.answer_rows: which attention rows of a decoder-only prompt count as the answer's
# (module docstring); ``own``, the default, was chosen on dev
ANSWER_ROWS = ("own", "producing")


@dataclass
class Recorder:
    """What the capture function needs (answer rows) and what it accumulates (per token)."""

    rows: torch.Tensor | None = None  # (B, A) positions of the answer rows (answer_rows_of)
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


def record(query, key, value, attention_mask, scale: float, causal: bool = True) -> None:
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
    record(query, key, value, attention_mask, scaling if scaling is not None else query.shape[-1] ** -0.5)
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
        record(query, key, value, attn_mask, scale if scale is not None else query.shape[-1] ** -0.5)
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


def _check_convention(convention: str) -> None:
    if convention not in ANSWER_ROWS:
        raise ValueError(
            f"config key attention.answer_rows: {convention!r} is not one of {', '.join(ANSWER_ROWS)}"
        )


def answer_rows_of(prompt: Prompt, convention: str) -> tuple[int, int]:
    """[start, end) of the attention rows recorded for ``prompt``'s answer: as many rows as answer
    tokens. Decoder-only prompts (no ``labels``; ``answer_span`` indexes ``input_ids``):
    ``producing`` is the span moved back one position, the rows that predict the answer tokens;
    ``own`` is ``answer_span`` itself. FiD prompts (``labels`` set): ``answer_span`` under either
    convention, since decoder position i writes label i (module docstring)."""
    _check_convention(convention)
    a0, a1 = prompt.answer_span
    if prompt.labels is not None or convention == "own":
        return a0, a1
    if a0 < 1:
        raise ValueError("answer_rows producing: the answer starts the prompt, no row writes its first token")
    return a0 - 1, a1 - 1


def start_recording(prompts: list[Prompt], b: int, t: int, device, answer_rows: str = "own") -> None:
    """Answer rows (:func:`answer_rows_of` under ``answer_rows``, each prompt's padded with its
    last row and masked there) (B, A), and empty (B, T) sums."""
    spans = [answer_rows_of(p, answer_rows) for p in prompts]
    a_len = max(r1 - r0 for r0, r1 in spans)
    rows = torch.zeros((len(prompts), a_len), dtype=torch.long)
    row_mask = torch.zeros((len(prompts), a_len), dtype=torch.bool)
    for i, (r0, r1) in enumerate(spans):
        rows[i, : r1 - r0] = torch.arange(r0, r1)
        rows[i, r1 - r0 :] = r1 - 1
        row_mask[i, : r1 - r0] = True
    RECORDER.rows, RECORDER.row_mask = rows.to(device), row_mask.to(device)
    RECORDER.vnorm = torch.zeros((b, t), device=device)
    RECORDER.attn = torch.zeros((b, t), device=device)
    RECORDER.first = torch.zeros((b, t), device=device)
    RECORDER.layers = 0


def recorded(model, expected: int) -> dict[str, np.ndarray]:
    """The sums, checked to come from every layer."""
    if RECORDER.layers != expected:
        raise RuntimeError(
            f"{type(model).__name__}: attention was captured in {RECORDER.layers} of {expected} layers; "
            "its attention goes neither through transformers' attention interface nor through "
            "torch's SDPA, and capture is not supported for it"
        )
    return {n: getattr(RECORDER, n).cpu().numpy() for n in ("vnorm", "attn", "first")} | {"layers": expected}


@contextlib.contextmanager
def recording(prompts: list[Prompt], b: int, t: int, device, answer_rows: str = "own"):
    """Record the answer rows of ``prompts`` (``answer_rows``: :data:`ANSWER_ROWS`) into sums of
    (b, t) while the block runs; nothing is recorded before or after it (a forward pass outside it
    costs nothing extra)."""
    start_recording(prompts, b, t, device, answer_rows)
    try:
        yield RECORDER
    finally:
        RECORDER.rows = RECORDER.row_mask = None
