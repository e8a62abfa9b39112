"""Fusion-in-Decoder (FiD): prompts and passes for encoder-decoder readers (the T5 family).

Each of the k documents is encoded with the question, on its own (Izacard & Grave's layout)::

    question: <question> title: <title> context: <text></s>

The k encoder outputs are concatenated, padding masked out, and the decoder reads all of them
through cross-attention while it writes ``<answer></s>`` (decoder input shifted right from the
start token, as T5 trains). Cost grows linearly in k, not quadratically as one long prompt would.

A FiD :class:`~ragdistill.readers.prompts.Prompt` keeps the decoder-only prompt's contract, so the dump,
the indicators and the figures read it unchanged:

- ``input_ids`` are the k passages' encoder ids one after another, unpadded; ``passages`` gives
  each passage's ``[start, end)`` there, in prompt order;
- ``doc_spans`` (retrieval order) cover ``title: <title> context: <text>`` of each passage, and
  ``doc_answer_mask`` marks their tokens inside a gold answer;
- ``question_span`` is the question in the first passage (every passage repeats it);
- ``labels`` are the decoder targets (answer tokens, then EOS) and ``answer_span`` indexes them.

Each piece is tokenised on its own and concatenated, so the spans are exact token ranges whatever
the tokenizer. The prompt's ``header``, ``add_bos`` and ``chat_template`` belong to decoder-only
prompts and are not used here; ``max_doc_tokens`` and ``max_question_tokens`` are.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ragdistill.core.stage_settings import PromptSettings
from ragdistill.readers import capture
from ragdistill.readers.base import Reader, config_flag, pad, to_device
from ragdistill.readers.prompts import Prompt, answer_mask, encode, shuffle_order


def build_fid_prompt(
    tokenizer, example: dict, k: int, ps: PromptSettings, with_answer: bool, answer: str | None = None
) -> Prompt:
    """The FiD prompt of one example with its first ``k`` ctxs (module docstring)."""
    ctxs = example["ctxs"][:k]
    order = shuffle_order([str(c["id"]) for c in ctxs], ps.seed, str(example["id"]), ps.shuffle)
    q_ids = encode(tokenizer, " " + example["question"]).input_ids
    cut = ps.max_question_tokens is not None and len(q_ids) > ps.max_question_tokens
    q_ids = q_ids[: ps.max_question_tokens] if cut else q_ids
    cue = encode(tokenizer, "question:").input_ids
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    ids: list[int] = []
    passages, spans, masks = [], {}, {}
    q_span = (len(cue), len(cue) + len(q_ids))
    for ci in order:
        c = ctxs[ci]
        start = len(ids)
        ids.extend(cue + q_ids)
        head = encode(tokenizer, f" title: {c['title']} context:").input_ids
        body_text = " " + c["text"]
        body = encode(tokenizer, body_text, offsets=True)
        body_ids = body.input_ids[: ps.max_doc_tokens]
        doc_start = len(ids)
        ids.extend(head + body_ids)
        spans[ci] = (doc_start, len(ids))
        masks[ci] = [False] * len(head) + answer_mask(
            body_text, body.offset_mapping[: ps.max_doc_tokens], example.get("answers", [])
        )
        ids.extend(eos)
        passages.append((start, len(ids)))
    labels, answer_span = None, None
    if with_answer:
        text = answer if answer is not None else example["answers"][0]
        a_ids = encode(tokenizer, text).input_ids
        labels, answer_span = a_ids + eos, (0, len(a_ids))
    return Prompt(
        ids,
        [spans[i] for i in range(len(ctxs))],
        q_span,
        answer_span,
        len(ids),
        [masks[i] for i in range(len(ctxs))],
        cut,
        passages=passages,
        labels=labels,
    )


def passage_batch(prompts: list[Prompt], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Encoder inputs: every prompt's k passages as rows, right-padded to one length L:
    ids and mask (B*k, L), and k. All prompts of a batch have the same k."""
    k = len(prompts[0].passages)
    if any(len(p.passages) != k for p in prompts):
        raise ValueError("FiD batch: prompts with different numbers of passages")
    ids, mask = pad([p.input_ids[s:e] for p in prompts for s, e in p.passages], pad_id)
    return ids, mask, k


def fid_batch(prompts: list[Prompt], pad_id: int, start_id: int, with_stop: bool = True) -> dict:
    """Encoder passages, decoder inputs (start token, then the labels shifted right) and labels
    (-100 on padding; without the EOS when ``with_stop`` is false, to score the answer alone)."""
    ids, mask, k = passage_batch(prompts, pad_id)
    width = max(len(p.labels) for p in prompts)
    labels = torch.full((len(prompts), width), -100, dtype=torch.long)
    dec = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    for i, p in enumerate(prompts):
        lab = p.labels if with_stop else p.labels[: p.answer_span[1]]
        labels[i, : len(lab)] = torch.tensor(lab)
        dec[i, 0] = start_id
        dec[i, 1 : len(p.labels)] = torch.tensor(p.labels[:-1])
    return {"input_ids": ids, "attention_mask": mask, "n_docs": k, "decoder_input_ids": dec, "labels": labels}


def encode_passages(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, k: int):
    """The encoder on each passage alone, outputs concatenated per example: hidden (B, k*L, d)
    and its mask (B, k*L)."""
    hidden = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    b = input_ids.shape[0] // k
    return hidden.reshape(b, -1, hidden.shape[-1]), attention_mask.reshape(b, -1)


def decoder_forward(model, batch: dict, **extra):
    """The whole FiD forward pass; returns the model output (logits over the decoder positions).
    ``extra`` goes to the model's call (``labels`` for its own loss, ``output_attentions``)."""
    from transformers.modeling_outputs import BaseModelOutput

    hidden, mask = encode_passages(model, batch["input_ids"], batch["attention_mask"], batch["n_docs"])
    return model(
        encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
        attention_mask=mask,
        decoder_input_ids=batch["decoder_input_ids"],
        use_cache=False,
        **extra,
    )


def answer_nll(model, batch: dict) -> torch.Tensor:
    """Per-target-token NLL (N,) of the labels, row after row (as the decoder-only reader's)."""
    logits = decoder_forward(model, batch).logits
    sel = batch["labels"] != -100
    return torch.nn.functional.cross_entropy(logits[sel].float(), batch["labels"][sel], reduction="none")


@torch.no_grad()
def generate(model, tokenizer, prompts: list[Prompt], max_new_tokens: int) -> list[str]:
    """Greedy answers of one batch, stopped at EOS."""
    from transformers.modeling_outputs import BaseModelOutput

    device = next(model.parameters()).device
    ids, mask, k = passage_batch(prompts, tokenizer.pad_token_id)
    hidden, cat_mask = encode_passages(model, ids.to(device), mask.to(device), k)
    gen = model.generate(
        encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
        attention_mask=cat_mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
    )
    return [tokenizer.decode(row, skip_special_tokens=True).strip() for row in gen.tolist()]


def unpad_positions(prompts: list[Prompt], width: int) -> list[list[tuple[int, int, int]]]:
    """Per prompt, per passage: (start in the unpadded prompt, start in the padded concatenation
    of the batch's passages of ``width`` tokens each, length), to carry a per-token profile
    from the encoder's padded layout back to the prompt's positions."""
    return [[(s, j * width, e - s) for j, (s, e) in enumerate(p.passages)] for p in prompts]


CROSS_ATTENTION = "EncDecAttention"  # T5's name for a decoder block's cross-attention module


def cross_attention_modules(model) -> list[torch.nn.Module]:
    """Each decoder block's cross-attention module (T5 family), checked one per block."""
    blocks = model.get_decoder().block
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
    capture.record(q, k, v, additive, module.scaling, causal=False)


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


class FusionInDecoder(Reader):
    """An encoder-decoder (T5 family) reading k passages Fusion-in-Decoder style (module docstring)."""

    kind = "encoder-decoder"
    length_unit = "passage"

    @staticmethod
    def matches(config) -> bool:
        return config_flag(config, "is_encoder_decoder")

    @staticmethod
    def auto_class():
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM

    def build_prompt(self, tokenizer, example, k, ps, with_answer, answer=None) -> Prompt:
        return build_fid_prompt(tokenizer, example, k, ps, with_answer, answer)

    def check_settings(self, ps: PromptSettings) -> None:
        if ps.chat_template:
            raise ValueError(
                "prompt.chat_template: a FiD (encoder-decoder) reader's prompt has no chat template"
            )

    def prompt_length(self, prompt: Prompt) -> int:
        return max(e - s for s, e in prompt.passages)

    @staticmethod
    def documents_per_sequence(k: int) -> int:
        return 1  # each passage is encoded with the question on its own

    def batch(self, prompts: list[Prompt], pad_id: int, with_stop: bool = True) -> dict:
        start = self.model.config.decoder_start_token_id
        return fid_batch(prompts, pad_id, pad_id if start is None else start, with_stop)

    def answer_nll(self, batch: dict) -> torch.Tensor:
        return answer_nll(self.model, batch)

    def target_counts(self, batch: dict) -> list[int]:
        return (batch["labels"] != -100).sum(1).tolist()

    def generate(self, tokenizer, prompts: list[Prompt], max_new_tokens: int) -> list[str]:
        return generate(self.model, tokenizer, prompts, max_new_tokens)

    def blocks(self) -> torch.nn.ModuleList:
        """The decoder's blocks (T5 ``decoder.block``); the encoder stays frozen under ``train_layers``."""
        return self.model.get_decoder().block

    def top_modules(self) -> list[torch.nn.Module]:
        return [self.model.get_decoder().final_layer_norm]

    def prepare_capture(self) -> None:
        """The model runs SDPA and is recorded by hooks on its cross-attention; fails early for an
        encoder-decoder whose cross-attention modules we cannot find."""
        cross_attention_modules(self.model)

    @torch.no_grad()
    def token_profiles(
        self, prompts: list[Prompt], pad_id: int, answer_rows: str = "own"
    ) -> dict[str, np.ndarray]:
        """The FiD forward pass with cross-attention recorded; profiles over the encoder's padded
        concatenation (B, k*L), carried back to each prompt's own positions (B, T)."""
        model, device = self.model, self.device
        batch = self.batch(prompts, pad_id)
        width = batch["input_ids"].shape[1]
        with capture.recording(prompts, len(prompts), batch["n_docs"] * width, device, answer_rows):
            with recording_cross_attention(model):
                decoder_forward(model, to_device(batch, device))
            padded = capture.recorded(model, len(self.blocks()))
        t = max(len(p.input_ids) for p in prompts)
        out = {n: np.zeros((len(prompts), t), dtype=np.float32) for n in ("vnorm", "attn", "first")}
        for i, places in enumerate(unpad_positions(prompts, width)):
            for start, at, n in places:
                for name, arr in out.items():
                    arr[i, start : start + n] = padded[name][i, at : at + n]
        return out | {"layers": padded["layers"]}
