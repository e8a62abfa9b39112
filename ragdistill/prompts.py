"""The reader's prompt, built token by token so that every span is known exactly.

Layout (each piece tokenised on its own and concatenated, so document, question and answer
spans are exact token ranges, whatever the tokenizer):

    [bos] [<header>\\n] Document [1] (Title: <title>) <text>\\n ... Document [k] ...\\n
    Question: <question>\\nAnswer: <answer>\\n

With ``chat_template: true`` the same text up to the question is the user's message in the
tokenizer's chat template, and the answer is the assistant's reply (no "Answer:" cue):

    [bos] <template before the user message> [<header>\n] Document [1] ... Question: <question>
    <template after it, opening the assistant's turn><answer>\n

Documents appear in a shuffled order (seeded by the config seed and the question id), because
decoder-only readers favour recent positions; spans are reported in the retrieval order.
Each document is truncated to ``max_doc_tokens``; the question and the answer never are.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field


@dataclass
class Prompt:
    input_ids: list[int]
    doc_spans: list[tuple[int, int]]  # per document, in retrieval order: [start, end)
    question_span: tuple[int, int]  # the question's tokens (without the "Question:" cue)
    answer_span: tuple[int, int] | None  # answer tokens (without the stop newline)
    target_end: int  # end of the tokens the LM loss covers (answer + stop newline)
    doc_answer_mask: list[list[bool]] = field(default_factory=list)  # per doc token: inside a gold answer


def _shuffle_order(k: int, seed: int, qid: str, shuffle: bool) -> list[int]:
    order = list(range(k))
    if shuffle:
        h = int(hashlib.sha256(f"{seed}:{qid}".encode()).hexdigest()[:12], 16)
        random.Random(h).shuffle(order)
    return order


def _answer_char_spans(text: str, answers: list[str]) -> list[tuple[int, int]]:
    low = text.lower()
    spans = []
    for a in answers:
        a = a.strip().lower()
        if not a:
            continue
        start = low.find(a)
        while start >= 0:
            spans.append((start, start + len(a)))
            start = low.find(a, start + 1)
    return spans


def _encode(tokenizer, text: str, offsets: bool = False):
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=offsets)
    return enc


_SENTINEL = "\x00RAGDISTILL_USER_CONTENT\x00"


def chat_turns(tokenizer) -> tuple[list[int], list[int]]:
    """Token ids of the tokenizer's chat template before and after one user message, the
    assistant's turn opened after it (``add_generation_prompt``); ``prompt.chat_template``
    puts the documents and the question inside that message and the answer in the reply."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt.chat_template is true, but the reader's tokenizer has no chat template")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": _SENTINEL}], add_generation_prompt=True, tokenize=False
    )
    before, after = text.split(_SENTINEL)
    return _encode(tokenizer, before).input_ids, _encode(tokenizer, after).input_ids


def build_prompt(
    tokenizer, example: dict, k: int, params: dict, with_answer: bool, answer: str | None = None
) -> Prompt:
    """Prompt for one example with its first ``k`` ctxs; ``answer`` defaults to the first gold."""
    ctxs = example["ctxs"][:k]
    order = _shuffle_order(
        len(ctxs), int(params.get("seed", 0)), str(example["id"]), bool(params.get("shuffle", True))
    )
    ids: list[int] = []
    if params.get("add_bos", True) and tokenizer.bos_token_id is not None:
        ids.append(tokenizer.bos_token_id)
    chat = chat_turns(tokenizer) if params.get("chat_template") else None
    if chat:
        ids.extend(chat[0])
    # A header before the documents takes the "attention sink" of the first positions, which
    # would otherwise land on the first document and decide its attention score.
    if params.get("header"):
        ids.extend(_encode(tokenizer, str(params["header"]).rstrip("\n") + "\n").input_ids)
    spans: dict[int, tuple[int, int]] = {}
    masks: dict[int, list[bool]] = {}
    max_doc = int(params.get("max_doc_tokens", 128))
    for slot, ci in enumerate(order):
        c = ctxs[ci]
        head = _encode(tokenizer, f"Document [{slot + 1}] (Title: {c['title']})").input_ids
        body_text = " " + c["text"]
        body = _encode(tokenizer, body_text, offsets=True)
        body_ids = body.input_ids[:max_doc]
        char_spans = _answer_char_spans(body_text, example.get("answers", []))
        mask = [any(s < e2 and s2 < e for s2, e2 in char_spans) for s, e in body.offset_mapping[:max_doc]]
        start = len(ids)
        ids.extend(head)
        masks[ci] = [False] * len(head) + mask
        ids.extend(body_ids)
        spans[ci] = (start, len(ids))
        ids.extend(_encode(tokenizer, "\n").input_ids)
    # the question span is the question's own tokens, not the "Question:" cue, which is the same
    # in every prompt (MQ, the question-similarity indicator, compares document tokens with it)
    ids.extend(_encode(tokenizer, "Question:").input_ids)
    q_start = len(ids)
    ids.extend(_encode(tokenizer, f" {example['question']}").input_ids)
    q_span = (q_start, len(ids))
    # the answer cue: "Answer:", or with a chat template the end of the user's turn and the
    # start of the assistant's
    ids.extend(chat[1] if chat else _encode(tokenizer, "\nAnswer:").input_ids)
    answer_span = None
    target_end = len(ids)
    if with_answer:
        text = answer if answer is not None else example["answers"][0]
        a_ids = _encode(tokenizer, text if chat else " " + text).input_ids
        answer_span = (len(ids), len(ids) + len(a_ids))
        ids.extend(a_ids)
        ids.extend(_encode(tokenizer, "\n").input_ids)
        target_end = len(ids)
    return Prompt(
        ids,
        [spans[i] for i in range(len(ctxs))],
        q_span,
        answer_span,
        target_end,
        [masks[i] for i in range(len(ctxs))],
    )


def stop_token_ids(tokenizer) -> list[int]:
    """Tokens that end an answer: the newline the prompt puts after answers, and EOS."""
    out = [_encode(tokenizer, "\n").input_ids[-1]]
    if tokenizer.eos_token_id is not None:
        out.append(tokenizer.eos_token_id)
    return out
