"""A reader's prompt as token ids with every span known exactly, and what every layout shares.

Each reader kind lays its prompt out in its own module (``ragdistill/readers/``: decoder-only,
one prompt of k documents; Fusion-in-Decoder, k passages encoded one by one). Both build it piece
by piece, each piece tokenised on its own and concatenated, so the document, question and answer
spans of a :class:`Prompt` are exact token ranges whatever the tokenizer; the dump, the
indicators and the figures read those spans and nothing kind-specific.

Shared here: the documents' order in the prompt (:func:`shuffle_order`: a function of the config
seed, the question id and the *set* of documents, not of their ranking, so two retrievers that
put the same k documents in a different rank order give the reader the same prompt, its answer
differs between them only where the documents differ, and ``evaluate.answer_questions`` answers
such a prompt once), which document tokens lie inside a gold answer (:func:`answer_mask`), and
the ``prompt`` settings. Each document is truncated to ``max_doc_tokens``; the answer never is,
and the question only to ``max_question_tokens`` when that is set (null: never).
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
    question_cut: bool = False  # the question was cut to prompt.max_question_tokens
    # Fusion-in-Decoder prompts only (ragdistill/readers/fid.py): each passage's [start, end) in
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
