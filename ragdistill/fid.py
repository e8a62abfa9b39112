"""Fusion-in-Decoder (FiD): prompts and passes for encoder-decoder readers (the T5 family).

Each of the k documents is encoded with the question, on its own (Izacard & Grave's layout)::

    question: <question> title: <title> context: <text></s>

The k encoder outputs are concatenated, padding masked out, and the decoder reads all of them
through cross-attention while it writes ``<answer></s>`` (decoder input shifted right from the
start token, as T5 trains). Cost grows linearly in k, not quadratically as one long prompt would.

A FiD :class:`~ragdistill.prompts.Prompt` keeps the decoder-only prompt's contract, so the dump,
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

import torch

from .prompts import Prompt, PromptSettings, answer_mask, encode, shuffle_order


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
    from .reader import pad  # reader imports this module

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
    """Per-target-token NLL (N,) of the labels, as ``reader.answer_nll`` for decoder-only."""
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
