"""The reader's prompt, built token by token so that every span is known exactly.

(This is a decoder-only reader's prompt; an encoder-decoder reader reads the Fusion-in-Decoder
layout of ``ragdistill/fid.py``, with the same spans. :func:`build_prompts` picks by the reader.)

Layout (each piece tokenised on its own and concatenated, so document, question and answer
spans are exact token ranges, whatever the tokenizer):

    [bos] [<header>\\n] Document [1] (Title: <title>) <text>\\n ... Document [k] ...\\n
    Question: <question>\\nAnswer: <answer>\\n

With ``chat_template: true`` the same text up to the question is the user's message in the
tokenizer's chat template, and the answer is the assistant's reply (no "Answer:" cue):

    [bos] <template before the user message> [<header>\n] Document [1] ... Question: <question>
    <template after it, opening the assistant's turn><answer>\n

Documents appear in a shuffled order, because decoder-only readers favour recent positions. The
order is a function of the config seed, the question id and the *set* of documents (they are
sorted by passage id before the seeded shuffle), not of their ranking: two retrievers that put the
same k documents in a different rank order give the reader the same prompt, so its answer (and
hence EM) differs between them only where the documents differ, and ``evaluate.answer_questions``
answers such a prompt once. Spans are reported in the retrieval order.
Each document is truncated to ``max_doc_tokens``; the answer never is, and the question only
to ``max_question_tokens`` when that is set (null: never). :func:`build_prompts` builds a
stage's prompts, stops on one longer than the reader's context (naming the question), and logs
how many questions were cut.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field

from .files import InputError
from .settings import from_params

log = logging.getLogger(__name__)


@dataclass
class Prompt:
    input_ids: list[int]
    doc_spans: list[tuple[int, int]]  # per document, in retrieval order: [start, end)
    question_span: tuple[int, int]  # the question's tokens (without the "Question:" cue)
    answer_span: tuple[int, int] | None  # answer tokens (without the stop newline)
    target_end: int  # end of the tokens the LM loss covers (answer + stop newline)
    doc_answer_mask: list[list[bool]] = field(default_factory=list)  # per doc token: inside a gold answer
    question_cut: bool = False  # the question was cut to prompt.max_question_tokens
    # Fusion-in-Decoder prompts only (ragdistill/fid.py): each passage's [start, end) in
    # input_ids, and the decoder's targets (answer_span then indexes labels)
    passages: list[tuple[int, int]] | None = None
    labels: list[int] | None = None


def shuffle_order(doc_ids: list[str], seed: int, qid: str, shuffle: bool) -> list[int]:
    """Prompt order of the documents (indices into retrieval order). Shuffled: sorted by passage
    id, then shuffled by a hash of (seed, question id), so the order depends on which documents
    there are, not on how a retriever ranked them. Unshuffled: the retrieval order."""
    if not shuffle:
        return list(range(len(doc_ids)))
    order = sorted(range(len(doc_ids)), key=lambda i: doc_ids[i])
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


def answer_mask(text: str, offsets: list[tuple[int, int]], answers: list[str]) -> list[bool]:
    """Per token (its character ``offsets`` in ``text``): whether it overlaps a gold answer."""
    char_spans = _answer_char_spans(text, answers)
    return [any(s < e2 and s2 < e for s2, e2 in char_spans) for s, e in offsets]


def encode(tokenizer, text: str, offsets: bool = False):
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
    return encode(tokenizer, before).input_ids, encode(tokenizer, after).input_ids


@dataclass(frozen=True)
class PromptSettings:
    """``prompt`` (the config schema describes each key)."""

    seed: int = 0
    shuffle: bool = True
    max_doc_tokens: int = 96
    add_bos: bool = False
    header: str | None = "Answer the question using the documents below."
    chat_template: bool = False
    max_question_tokens: int | None = None

    @classmethod
    def of(cls, params: dict | PromptSettings) -> PromptSettings:
        """Settings from the ``prompt`` section (a dict), or as given."""
        return params if isinstance(params, PromptSettings) else from_params(cls, params, "prompt.")


def _documents(
    tokenizer, ctxs: list[dict], order: list[int], answers: list[str], max_doc: int, ids: list[int]
):
    """Append each document (in prompt ``order``) to ``ids``; per document (retrieval order) its
    span and its tokens' gold-answer mask."""
    spans: dict[int, tuple[int, int]] = {}
    masks: dict[int, list[bool]] = {}
    for slot, ci in enumerate(order):
        c = ctxs[ci]
        head = encode(tokenizer, f"Document [{slot + 1}] (Title: {c['title']})").input_ids
        body_text = " " + c["text"]
        body = encode(tokenizer, body_text, offsets=True)
        body_ids = body.input_ids[:max_doc]
        mask = answer_mask(body_text, body.offset_mapping[:max_doc], answers)
        start = len(ids)
        ids.extend(head)
        masks[ci] = [False] * len(head) + mask
        ids.extend(body_ids)
        spans[ci] = (start, len(ids))
        ids.extend(encode(tokenizer, "\n").input_ids)
    return [spans[i] for i in range(len(ctxs))], [masks[i] for i in range(len(ctxs))]


def build_prompt(
    tokenizer,
    example: dict,
    k: int,
    params: dict | PromptSettings,
    with_answer: bool,
    answer: str | None = None,
) -> Prompt:
    """Prompt for one example with its first ``k`` ctxs; ``answer`` defaults to the first gold."""
    ps = PromptSettings.of(params)
    ctxs = example["ctxs"][:k]
    order = shuffle_order([str(c["id"]) for c in ctxs], ps.seed, str(example["id"]), ps.shuffle)
    ids: list[int] = []
    if ps.add_bos and tokenizer.bos_token_id is not None:
        ids.append(tokenizer.bos_token_id)
    chat = chat_turns(tokenizer) if ps.chat_template else None
    if chat:
        ids.extend(chat[0])
    # A header before the documents takes the "attention sink" of the first positions, which
    # would otherwise land on the first document and decide its attention score.
    if ps.header:
        ids.extend(encode(tokenizer, str(ps.header).rstrip("\n") + "\n").input_ids)
    spans, masks = _documents(tokenizer, ctxs, order, example.get("answers", []), ps.max_doc_tokens, ids)
    # the question span is the question's own tokens, not the "Question:" cue, which is the same
    # in every prompt (MQ, the question-similarity indicator, compares document tokens with it)
    ids.extend(encode(tokenizer, "Question:").input_ids)
    q_start = len(ids)
    q_ids = encode(tokenizer, f" {example['question']}").input_ids
    cut = ps.max_question_tokens is not None and len(q_ids) > ps.max_question_tokens
    ids.extend(q_ids[: ps.max_question_tokens] if cut else q_ids)
    q_span = (q_start, len(ids))
    # the answer cue: "Answer:", or with a chat template the end of the user's turn and the
    # start of the assistant's
    ids.extend(chat[1] if chat else encode(tokenizer, "\nAnswer:").input_ids)
    answer_span = None
    target_end = len(ids)
    if with_answer:
        text = answer if answer is not None else example["answers"][0]
        a_ids = encode(tokenizer, text if chat else " " + text).input_ids
        answer_span = (len(ids), len(ids) + len(a_ids))
        ids.extend(a_ids)
        ids.extend(encode(tokenizer, "\n").input_ids)
        target_end = len(ids)
    return Prompt(ids, spans, q_span, answer_span, target_end, masks, cut)


def reader_context(model) -> int | None:
    """The reader's context length in tokens (``max_position_embeddings``, GPT-2's
    ``n_positions``), or None where the config states none (ALiBi models may have none). For an
    encoder-decoder reader it bounds each FiD passage (T5's relative positions have no hard
    limit; its config's ``n_positions`` is the length it was trained at)."""
    cfg = model.config
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


@dataclass(frozen=True)
class ReaderShape:
    """What prompt building needs to know of the reader: FiD or not, and its context."""

    fid: bool
    context: int | None

    @classmethod
    def of(cls, model) -> ReaderShape:
        return cls(bool(getattr(model.config, "is_encoder_decoder", False)), reader_context(model))


def build_prompts(
    tokenizer,
    examples: list[dict],
    k: int,
    params: dict,
    with_answer: bool,
    reader: ReaderShape,
    stage: str,
) -> list[Prompt]:
    """Every example's prompt (:func:`build_prompt`, or FiD's for an encoder-decoder reader). A
    prompt (FiD: a passage) longer than the reader's context stops the stage with the question's
    id, since positions past it are garbage or an error; questions cut to
    ``prompt.max_question_tokens`` are counted in the log."""
    from .fid import build_fid_prompt

    settings = PromptSettings.of(params)  # once, not once per example
    if reader.fid and settings.chat_template:
        raise ValueError("prompt.chat_template: a FiD (encoder-decoder) reader's prompt has no chat template")
    build = build_fid_prompt if reader.fid else build_prompt
    prompts = [build(tokenizer, ex, k, settings, with_answer) for ex in examples]
    for ex, p in zip(examples, prompts, strict=True):
        length = max(e - s for s, e in p.passages) if p.passages else len(p.input_ids)
        if reader.context is not None and length > reader.context:
            raise InputError(
                f"{stage}: question {ex['id']!r}: a {'passage' if p.passages else 'prompt'} of {length} "
                f"tokens is longer than the reader's context of {reader.context} (its question alone is "
                f"{p.question_span[1] - p.question_span[0]} tokens); set prompt.max_question_tokens "
                "or lower prompt.max_doc_tokens"
            )
    cut = sum(p.question_cut for p in prompts)
    if cut:
        log.info("%s: %d of %d questions cut to prompt.max_question_tokens", stage, cut, len(prompts))
    return prompts


def stop_token_ids(tokenizer) -> list[int]:
    """Tokens that end an answer: the newline the prompt puts after answers, and EOS."""
    out = [encode(tokenizer, "\n").input_ids[-1]]
    if tokenizer.eos_token_id is not None:
        out.append(tokenizer.eos_token_id)
    return out
