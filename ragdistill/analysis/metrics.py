"""Answer metrics: SQuAD exact match and F1, DPR-style ``has_answer``, hit rate at k.

Normalisation follows SQuAD (lower-case, drop punctuation and the articles a/an/the, squeeze
white space), applied after Unicode NFKC so that compatibility forms of a character compare
equal. ``has_answer`` is a token-sequence match of the normalised answer inside the normalised
passage, as DPR's ``has_answer`` does, so "Paris" does not hit "Parisian".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def _strip_punctuation(text: str) -> str:
    return "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (with punctuation mapped to spaces so 'U.S.-based' splits into words)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _strip_punctuation(text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in answers))


def _f1(prediction: str, answer: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(answer).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, answers: Sequence[str]) -> float:
    """Token F1 against the best-matching gold answer."""
    return max((_f1(prediction, a) for a in answers), default=0.0)


def _spaced(text: str) -> str:
    """The normalised text's tokens joined by single spaces, with a space at each end.

    Tokens hold no spaces, so a whole-token sequence occurs in a text exactly when its spaced
    form is a substring of the text's: one substring search in C instead of a Python scan."""
    return f" {' '.join(normalize_answer(text).split())} "


def _needles(answers: Iterable[str]) -> list[str]:
    """The spaced answers, less those empty once normalised (they match nothing)."""
    return [n for n in map(_spaced, answers) if n != "  "]


def has_answer(text: str, answers: Iterable[str]) -> bool:
    """True when some normalised answer occurs as a whole-token sequence in the normalised text."""
    haystack = _spaced(text)
    return any(n in haystack for n in _needles(answers))


def answer_table(texts: Sequence[str], answers: Sequence[Sequence[str]]) -> np.ndarray:
    """(questions, passages) bool: ``has_answer`` for every pair, each text normalised once (a
    thousand dev questions against two thousand passages)."""
    haystacks = [_spaced(t) for t in texts]
    out = np.zeros((len(answers), len(texts)), dtype=bool)
    for i, golds in enumerate(answers):
        needles = _needles(golds)
        out[i] = [any(n in h for n in needles) for h in haystacks]
    return out


def hits_at_k(flags: Sequence[bool], ks: Iterable[int]) -> dict[int, float]:
    """For one question: 1.0 at k when any of the first k ranked passages is a hit."""
    out = {}
    for k in ks:
        out[k] = float(any(flags[:k]))
    return out


def mean_hits(rows: Sequence[Sequence[bool]], ks: Iterable[int]) -> dict[int, float]:
    """HR@k over questions: the share whose top k holds a hit."""
    ks = list(ks)
    if not rows:
        return {k: float("nan") for k in ks}
    totals = dict.fromkeys(ks, 0.0)
    for flags in rows:
        for k, v in hits_at_k(flags, ks).items():
            totals[k] += v
    return {k: totals[k] / len(rows) for k in ks}


def reciprocal_rank(flags: Sequence[bool]) -> float:
    """1 / the rank of the first hit among the ranked passages (0.0 when none is a hit): MRR's term."""
    for rank, hit in enumerate(flags, start=1):
        if hit:
            return 1.0 / rank
    return 0.0


def question_hits(example: dict, ks: list[int]) -> dict[str, int]:
    """Per-question HR@k (and gold-passage recall@k where gold ids exist) as 0/1."""
    ctxs = example["ctxs"]
    row = {f"hr@{k}": int(v) for k, v in hits_at_k([c["has_answer"] for c in ctxs], ks).items()}
    if example.get("gold_ids"):
        gold = {str(g) for g in example["gold_ids"]}
        row.update(
            {f"gold@{k}": int(v) for k, v in hits_at_k([str(c["id"]) in gold for c in ctxs], ks).items()}
        )
    return row


def hits_by_question(examples: Iterable[dict], ks: list[int]) -> dict[str, dict[str, int]]:
    """A test retrieval's HR@k per question as paired comparisons read it: ``hr@<k>`` ->
    {question id: 0/1}."""
    rows = [(str(ex["id"]), question_hits(ex, ks)) for ex in examples]
    return {f"hr@{k}": {qid: h[f"hr@{k}"] for qid, h in rows} for k in ks}
