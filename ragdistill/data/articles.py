"""Which article each question came from, on real text: what the statistics cluster by.

SQuAD-format data gives each question its article's title (``article``; ``data.squad``); the
questions of one article share topic, wording and passages, so every interval over them is
two-stage (``analysis.stats``). Its own module, not ``data.squad``'s: the fetch imports that
one, and a stage's code hash covers what it imports, so a reader of split files would otherwise
make every run fetch again when it changes.
"""

from __future__ import annotations

from ragdistill.core.files import read_jsonl


def article_clusters(paths: list[str]) -> dict[str, str] | None:
    """Question id -> its article, from the split files, on real text (records with ``article``);
    None for data without articles (the generated world: questions drawn independently)."""
    out = {}
    for path in paths:
        for q in read_jsonl(path):
            if q.get("article") is None:
                return None
            out[str(q["id"])] = str(q["article"])
    return out or None
