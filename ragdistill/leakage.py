"""Leakage between splits, checked when the data is fetched.

A distillation study that trains (or selects) on its test questions measures nothing, and nothing
downstream would notice: a test question repeated in train or dev is found here, by id or by
normalised text, and stops the fetch unless ``datasets.<name>.allow_overlap`` gives a reason (then
the count goes into the report). Passages repeated under two ids only split the retriever's hits
between copies, so they are a warning with their count.
"""

from __future__ import annotations

import hashlib
import re
from array import array

import numpy as np

from .files import InputError

HELD_OUT = "test"
SEEN = ("train", "dev")


def normalise_question(text: str) -> str:
    """Lower case, punctuation and runs of spaces folded: "Who was Ann Lee?" == "who was ann lee"."""
    return re.sub(r"[\W_]+", " ", str(text).lower()).strip()


def question_overlap(splits: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Per seen split (train, dev): the ids of test questions it also holds (same id or text)."""
    found = {}
    for split in SEEN:
        ids = {str(q["id"]) for q in splits[split]}
        texts = {normalise_question(q["question"]) for q in splits[split]}
        found[split] = [
            str(q["id"])
            for q in splits[HELD_OUT]
            if str(q["id"]) in ids or normalise_question(q["question"]) in texts
        ]
    return found


def check_overlap(splits: dict[str, list[dict]], key: str, allow: str | None) -> dict[str, int]:
    """The overlap counts; an overlap stops with the split names, the count and the first ids
    unless ``allow`` (``<key>.allow_overlap``) says why it is wanted."""
    found = question_overlap(splits)
    counts = {split: len(ids) for split, ids in found.items()}
    if any(counts.values()) and not allow:
        split = next(s for s in SEEN if found[s])
        raise InputError(
            f"{key}: {counts[split]} of {len(splits[HELD_OUT])} test questions are also in {split} "
            f"(same id or text; first: {', '.join(found[split][:5])}); give splits that share no "
            f"question, or set {key}.allow_overlap to the reason it is wanted"
        )
    return counts


def passage_fingerprint(p: dict) -> int:
    """A 63-bit hash of a passage's title and text (whitespace folded), for counting repeats."""
    text = " ".join(f"{p.get('title', '')}\n{p['text']}".split())
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def repeated(fingerprints: array) -> int:
    """How many passages repeat an earlier one's text under another id; ``fingerprints`` is an
    ``array("q")`` (8 bytes a passage, so a 21M-passage corpus costs 170 MB, not gigabytes)."""
    arr = np.asarray(fingerprints, dtype=np.int64)
    return int(arr.size - np.unique(arr).size)
