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
passages holding its answers' character offsets; its ``article`` is the article's title, so that
statistics can cluster questions by article. SQuAD v2.0's unanswerable questions are skipped and
counted.

Splits (``split_by_article``) are article-disjoint: no article gives questions to two splits.
Articles are dealt to the splits in a seeded random order, train taking at least half of them
where the sizes allow; each split's questions are a seeded uniform draw from its articles' pooled
questions, written in random order, so the first n questions of a split (the dumped questions,
the learning curve's subsets, the answered test questions) come from across its articles.

Bad input stops with the file, the article and the question id:
- a missing field;
- an answer whose offset does not point at its text;
- a duplicate question id;
- split sizes larger than the articles can fill.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ragdistill.core.files import InputError
from ragdistill.data.datasets import matchable_answers

log = logging.getLogger(__name__)
SPLIT_NAMES = ("train", "dev", "test")
# seeded shuffles of the articles tried per train article count before it is lowered by one
TRIES = 5000

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
    """Passages of every paragraph, questions per article (each with its ``gold_ids`` and its
    ``article``, the title) and the number of unanswerable (SQuAD v2.0) questions skipped. Two
    entries under one title are one article."""
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
    # entries with the same title are one article: its questions must stay in one split
    by_title: dict[str, list[dict]] = {}
    seen: dict[str, str] = {}
    skipped = 0
    for ai, article in enumerate(data["data"]):
        title = str(_field(article, "title", f"{path}: article {ai}"))
        name = title.replace("_", " ")
        if title not in by_title:
            by_title[title] = []
            articles.append(by_title[title])
        questions = by_title[title]
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
                    {
                        "id": qid,
                        "question": question.strip(),
                        "answers": texts,
                        "gold_ids": gold,
                        # the title as the file spells it: statistics cluster questions by it
                        "article": title,
                    }
                )
    return passages, articles, skipped


def _article_counts(n: int, n_train: int, split: SquadSplit) -> tuple[int, int, int] | None:
    """Articles per split when train takes ``n_train`` of ``n``: dev and test share the rest in
    proportion to their sizes, at least one each (None when that leaves none for one of them)."""
    rest = n - n_train
    if n_train < 1 or rest < 2:
        return None
    n_dev = min(max(1, round(rest * split.dev / max(1, split.dev + split.test))), rest - 1)
    return n_train, n_dev, rest - n_dev


def assign_articles(
    sizes: list[int], split: SquadSplit, rng: random.Random, shortfalls: Counter | None = None
) -> tuple[list[int], list[int], list[int]] | None:
    """Article indices of train, dev and test, or None when no assignment tried fits.

    Why this rule: every "first n" taken downstream (the dumped questions, the learning curve's
    subsets, the answered and transfer test questions) should be a draw across many articles,
    and the retriever learns from as many topics as the file allows. So train takes at least half
    of the articles (more where its share of the questions is larger), dev and test share the rest
    in proportion to their sizes, and the articles are dealt in a seeded random order: the first
    of up to ``TRIES`` shuffles whose articles hold every split's size is kept (a uniform draw
    among the assignments that fit). Where no shuffle fits (dev and test ask for more questions
    than the other half of the articles can hold), train's count is lowered one article at a
    time. ``shortfalls`` counts, per split, the tries it fell short in (for the error message)."""
    n = len(sizes)
    asked = split.train + split.dev + split.test
    half = math.ceil(n / 2)
    target = min(max(half, round(n * split.train / max(1, asked))), n - 2)
    desc = sorted(sizes, reverse=True)
    # counts that keep train at half or more first (nearest the target), then fewer, largest first
    for n_train in sorted(range(1, n - 1), key=lambda m: (m < half, abs(m - target))):
        counts = _article_counts(n, n_train, split)
        if counts is None:
            continue
        # the largest articles bound what any assignment with these counts can hold
        if sum(desc[:n_train]) < split.train:
            if shortfalls is not None:
                shortfalls["train"] += 1
            continue
        if sum(desc[: n - n_train]) < split.dev + split.test:
            if shortfalls is not None:
                shortfalls["test" if split.test >= split.dev else "dev"] += 1
            continue
        for _ in range(TRIES):
            order = list(range(n))
            rng.shuffle(order)
            groups = (
                order[: counts[0]],
                order[counts[0] : counts[0] + counts[1]],
                order[counts[0] + counts[1] :],
            )
            short = [
                name
                for name, group, size in zip(
                    SPLIT_NAMES, groups, (split.train, split.dev, split.test), strict=True
                )
                if sum(sizes[a] for a in group) < size
            ]
            if not short:
                return groups
            if shortfalls is not None:
                shortfalls.update(short)
    return None


def split_by_article(
    articles: list[list[dict]], split: SquadSplit, where: str, key: str = "squad"
) -> dict[str, list[dict]]:
    """Train, dev and test questions, each split from articles of its own, each in random order.

    Articles go to splits by ``assign_articles`` (train at least half of them where the sizes
    allow); each split's questions are then drawn uniformly at random from the pooled questions
    of its articles, and ``random.sample`` returns them in random order, so the first n of any
    split are a random draw across its articles, not one article's questions in file order. The
    split is a pure function of the questions per article, the sizes and ``split.seed``. Sizes the
    articles cannot fill stop with the totals and the keys (``<key>.train`` ...) to change."""
    kept = [a for a in articles if a]  # a v2.0 article of unanswerable questions only holds none
    sizes = [len(a) for a in kept]
    total, asked = sum(sizes), split.train + split.dev + split.test
    rng = random.Random(split.seed)
    shortfalls: Counter = Counter()
    groups = assign_articles(sizes, split, rng, shortfalls) if total >= asked else None
    if groups is None:
        name = shortfalls.most_common(1)[0][0] if shortfalls else "test"
        if total < asked:
            why = f"the file holds only {total}"
        elif len(kept) < 3:
            why = "three splits need three articles at least"
        else:
            why = (
                f"no assignment of whole articles to the splits holds every size ({name!r} fell "
                "short most often)"
            )
        raise InputError(
            f"{where}: {len(kept)} articles with {total} answerable questions cannot fill "
            f"{key}.train {split.train} + dev {split.dev} + test {split.test} = {asked}: splits take "
            f"whole articles (no article gives questions to two splits), and {why}; lower "
            f"{key}.{name} (or the others)"
        )
    # half, or what dev and test leave when they need one article each (3 articles: train 1)
    half = min(math.ceil(len(kept) / 2), len(kept) - 2)
    if len(groups[0]) < half:
        log.warning(
            "%s: train takes %d of %d articles, fewer than half: no assignment found gives train "
            "%d articles and leaves enough questions for dev %d + test %d; lower %s.dev or %s.test "
            "for a train split of at least half of the articles",
            where,
            len(groups[0]),
            len(kept),
            half,
            split.dev,
            split.test,
            key,
            key,
        )
    out: dict[str, list[dict]] = {}
    for name, group, size in zip(SPLIT_NAMES, groups, (split.train, split.dev, split.test), strict=True):
        pool = [q for a in group for q in kept[a]]
        out[name] = rng.sample(pool, size)
    log.info(
        "%s: articles per split %s (of %d)",
        where,
        {name: len(g) for name, g in zip(SPLIT_NAMES, groups, strict=True)},
        len(kept),
    )
    return out
