"""Leakage between splits, checked when the data is fetched.

A distillation study that trains (or selects) on its test questions measures nothing, and nothing
downstream would notice; one that selects on dev questions it trained on selects for memorisation.
A question repeated in two splits (every pair: train/dev, train/test, dev/test) is found here, by
id or by normalised text, and stops the fetch unless ``datasets.<name>.allow_overlap`` gives a
reason (then the counts go into ``checks.json``). Passages repeated under two ids only split the
retriever's hits between copies, so they are a warning with their count.
"""

from __future__ import annotations

import hashlib
import re
from array import array

import numpy as np

from ragdistill.core.files import InputError

# every pair of splits, (earlier, later): a question of the later split also in the earlier one.
# Test against train and dev first: a test question seen in training or selection is the worst leak.
PAIRS = (("train", "test"), ("dev", "test"), ("train", "dev"))


def pair_name(pair: tuple[str, str]) -> str:
    """``train/test``: the key of a pair's count in ``checks.json``."""
    return "/".join(pair)


def normalise_question(text: str) -> str:
    """Lower case, punctuation and runs of spaces folded: "Who was Ann Lee?" == "who was ann lee"."""
    return re.sub(r"[\W_]+", " ", str(text).lower()).strip()


def question_overlap(splits: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Per pair of splits (``train/test``, ``dev/test``, ``train/dev``): the ids of the later
    split's questions the earlier one also holds (same id or same normalised text). Every pair,
    not only test against the others: a dev question also in train makes the selection on dev
    (the kept distillation step, the reader's checkpoint) reward memorisation."""
    found = {}
    for seen, held in PAIRS:
        ids = {str(q["id"]) for q in splits[seen]}
        texts = {normalise_question(q["question"]) for q in splits[seen]}
        found[pair_name((seen, held))] = [
            str(q["id"])
            for q in splits[held]
            if str(q["id"]) in ids or normalise_question(q["question"]) in texts
        ]
    return found


def check_overlap(splits: dict[str, list[dict]], key: str, allow: str | None) -> dict[str, int]:
    """The overlap count of every pair of splits; an overlap stops with both split names, the
    count and the first ids of each pair that shares questions, unless ``allow``
    (``<key>.allow_overlap``) says why it is wanted."""
    found = question_overlap(splits)
    counts = {pair: len(ids) for pair, ids in found.items()}
    if any(counts.values()) and not allow:
        parts = [
            f"{counts[pair_name((seen, held))]} of {len(splits[held])} {held} questions are also in "
            f"{seen} (same id or text; first: {', '.join(found[pair_name((seen, held))][:5])})"
            for seen, held in PAIRS
            if found[pair_name((seen, held))]
        ]
        raise InputError(
            f"{key}: {'; '.join(parts)}; give splits that share no question, or set "
            f"{key}.allow_overlap to the reason it is wanted"
        )
    return counts


def _hash63(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def id_fingerprint(pid: str) -> int:
    """A 63-bit hash of a passage id: a corpus's ids are checked unique through these (8 bytes a
    passage) instead of a set of the ids themselves (about 170 bytes a passage in Python, 3.6 GB
    for the DPR corpus's 21M)."""
    return _hash63(pid)


def repeated_values(fingerprints: array) -> set[int]:
    """The fingerprints that occur more than once (a repeated id, or, once in about 2^63 / n^2
    corpora, two ids that hash alike: the caller confirms on the ids themselves)."""
    arr = np.frombuffer(fingerprints, dtype=np.int64)  # the array's own buffer, not a copy
    values, counts = np.unique(arr, return_counts=True)
    return {int(v) for v in values[counts > 1]}


def passage_fingerprint(p: dict) -> int:
    """A 63-bit hash of a passage's title and text (whitespace folded), for counting repeats."""
    return _hash63(" ".join(f"{p.get('title', '')}\n{p['text']}".split()))


def repeated(fingerprints: array) -> int:
    """How many passages repeat an earlier one's text under another id; ``fingerprints`` is an
    ``array("q")`` (8 bytes a passage, so a 21M-passage corpus costs 170 MB, not gigabytes)."""
    arr = np.frombuffer(fingerprints, dtype=np.int64)  # the array's own buffer, not a copy
    return int(arr.size - np.unique(arr).size)
