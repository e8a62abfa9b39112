"""SQuAD-format JSON (v1.1 and v2.0) into open-domain questions and a passage corpus.

SQuAD-open: every question searches a corpus cut from *all* the file's paragraphs, not the one
paragraph it was written for. Each paragraph is cut at sentence boundaries into passages of
about ``passage_words`` words:
- never inside an answer span;
- never after an abbreviation ("B.", "St.", "Dr.", "U.S.");
- a paragraph of at most ``passage_words`` words stays whole;
- a tail shorter than half of ``passage_words`` joins the passage before it.

The passage title is the article's (underscores as spaces); white space inside a passage is
squeezed to single spaces (one passage a line in the corpus TSV). A question's ``gold_ids`` are the
passages holding its answers' character offsets. Splits are drawn by article with a seed, so no
article gives questions to two splits. SQuAD v2.0's unanswerable questions are skipped and
counted.

Bad input stops with the file, the article and the question id:
- a missing field;
- an answer whose offset does not point at its text;
- a duplicate question id;
- split sizes larger than the articles can fill.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from .datasets import matchable_answers
from .files import InputError

# words that end in a period without ending a sentence (compared without the period, lower case)
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st mt ft jr sr gen col lt sgt capt cmdr rev hon sen rep gov pres inc ltd "
    "co corp bros no nos vol vols fig figs ed eds approx est dept univ ave blvd rd jan feb mar apr "
    "jun jul aug sep sept oct nov dec vs etc al e.g i.e a.m p.m u.s u.k u.n".split()
)
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class SquadSplit:
    """How the SQuAD file becomes a study: split sizes, the seed, the passage length."""

    train: int
    dev: int
    test: int
    seed: int = 0
    passage_words: int = 100


def _ends_with_abbreviation(text: str) -> bool:
    """Whether ``text`` (up to a period) ends in an abbreviation: a known one, or a lone letter
    (an initial such as "B." or the last letter of "U.S.")."""
    word = text.rstrip().rsplit(None, 1)[-1] if text.strip() else ""
    word = word.lstrip("\"'([").rstrip(".")
    return len(word) == 1 and word.isalpha() or word.lower() in ABBREVIATIONS


def sentence_cuts(text: str, protected: list[tuple[int, int]]) -> list[int]:
    """Character offsets where a new sentence starts: after ``.!?`` (and closing quotes or
    brackets) and white space, before a capital or digit; not after an abbreviation, and not
    inside any ``protected`` span (answers)."""
    cuts = []
    for m in _BOUNDARY.finditer(text):
        at = m.end()
        if text[m.start() - 1] == "." and _ends_with_abbreviation(text[: m.start()]):
            continue
        if any(s < at < e for s, e in protected):
            continue
        cuts.append(at)
    return cuts


def cut_paragraph(text: str, protected: list[tuple[int, int]], passage_words: int) -> list[tuple[int, int]]:
    """The paragraph's passages as character ranges ``[start, end)`` that tile it."""
    if len(text.split()) <= passage_words:
        return [(0, len(text))]
    bounds = [0, *sentence_cuts(text, protected), len(text)]
    spans: list[tuple[int, int]] = []
    start = 0
    for b in bounds[1:]:
        if len(text[start:b].split()) >= passage_words or b == len(text):
            spans.append((start, b))
            start = b
    if len(spans) > 1 and len(text[spans[-1][0] : spans[-1][1]].split()) < passage_words / 2:
        tail = spans.pop()
        spans[-1] = (spans[-1][0], tail[1])
    return spans


def _field(obj: dict, name: str, where: str):
    if name not in obj:
        raise InputError(f"{where}: missing field {name!r}")
    return obj[name]


def _answers(qa: dict, context: str, where: str) -> list[tuple[str, int]]:
    """(text, start) of each answer, checked to sit at its offset in the context."""
    out = []
    for a in _field(qa, "answers", where):
        text, start = _field(a, "text", where), _field(a, "answer_start", where)
        if not isinstance(start, int) or context[start : start + len(text)] != text:
            found = context.find(text)
            hint = f" (the text is at {found})" if found >= 0 else " (the text is not in the paragraph)"
            raise InputError(f"{where}: answer {text!r} is not at offset {start}{hint}")
        out.append((text, start))
    return out


def read_squad(path: str | Path, passage_words: int) -> tuple[list[dict], list[list[dict]], int]:
    """Passages of every paragraph, questions per article (each with its ``gold_ids``) and the
    number of unanswerable (SQuAD v2.0) questions skipped."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: not valid UTF-8 (byte {raw[err.start]:#04x} at offset {err.start}); "
            "SQuAD files are UTF-8"
        ) from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(f"{path}: not SQuAD JSON (no top-level 'data' list)")
    if not data["data"]:
        raise InputError(f"{path}: the file has no articles (its 'data' list is empty)")
    passages: list[dict] = []
    articles: list[list[dict]] = []
    seen: dict[str, str] = {}
    skipped = 0
    for ai, article in enumerate(data["data"]):
        title = str(_field(article, "title", f"{path}: article {ai}"))
        name = title.replace("_", " ")
        questions = []
        for pi, para in enumerate(_field(article, "paragraphs", f"{path}: article {title!r}")):
            where = f"{path}: article {title!r}, paragraph {pi}"
            context = _field(para, "context", where)
            qas = []
            for qa in _field(para, "qas", where):
                qid = str(_field(qa, "id", where))
                qwhere = f"{path}: article {title!r}, question {qid!r}"
                if qid in seen:
                    raise InputError(f"{qwhere}: duplicate id (first in article {seen[qid]!r})")
                seen[qid] = title
                if qa.get("is_impossible"):
                    skipped += 1
                    continue
                answers = _answers(qa, context, qwhere)
                if not answers:
                    raise InputError(f"{qwhere}: no answers (and not marked is_impossible)")
                qas.append((qid, str(_field(qa, "question", qwhere)), answers))
            protected = [(s, s + len(t)) for _, _, ans in qas for t, s in ans]
            spans = cut_paragraph(context, protected, passage_words)
            ids = [f"{ai}-{pi}-{ci}" for ci in range(len(spans))]
            passages += [
                {"id": pid, "title": name, "text": " ".join(context[s:e].split())}
                for pid, (s, e) in zip(ids, spans, strict=True)
            ]
            for qid, question, answers in qas:
                gold = sorted(
                    {pid for t, s0 in answers for pid, (s, e) in zip(ids, spans, strict=True) if s <= s0 < e}
                )
                texts = list(dict.fromkeys(t for t, _ in answers))
                texts = matchable_answers(texts, f"{path}: article {title!r}, question {qid!r}")
                questions.append(
                    {"id": qid, "question": question.strip(), "answers": texts, "gold_ids": gold}
                )
        articles.append(questions)
    return passages, articles, skipped


def split_by_article(
    articles: list[list[dict]], split: SquadSplit, where: str, key: str = "squad"
) -> dict[str, list[dict]]:
    """Train, dev and test questions, each split from articles of its own: articles in a seeded
    order are taken until the split's size is reached, then that many of their questions are
    drawn (seeded), kept in file order. Sizes the articles cannot fill stop with the totals and
    the keys (``<key>.train`` ...) to change."""
    rng = random.Random(split.seed)
    order = list(range(len(articles)))
    rng.shuffle(order)
    out: dict[str, list[dict]] = {}
    for name, size in (("train", split.train), ("dev", split.dev), ("test", split.test)):
        pool: list[dict] = []
        while len(pool) < size and order:
            pool += articles[order.pop(0)]
        if len(pool) < size:
            total = sum(map(len, articles))
            asked = split.train + split.dev + split.test
            raise InputError(
                f"{where}: {len(articles)} articles with {total} answerable questions cannot fill "
                f"{key}.train {split.train} + dev {split.dev} + test {split.test} = {asked}: splits take "
                f"whole articles (no article gives questions to two splits), and those left for "
                f"{name!r} hold {len(pool)}; lower {key}.{name} (or the others)"
            )
        keep = sorted(rng.sample(range(len(pool)), size))
        out[name] = [pool[i] for i in keep]
    return out
