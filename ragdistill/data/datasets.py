"""Dataset adapters: NQ-open, TriviaQA, DPR passage TSVs and our own JSONL, into one format.

Questions become ``{"id", "question", "answers": [...], "gold_ids": [...]}`` JSONL; passages
become a DPR-style TSV with the columns ``id, text, title``. Rows are checked as they are read:
a missing field, an empty answer list, an answer that is not a string or that normalises to
nothing, or a duplicate id stops with the file and line.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from ragdistill.core.files import InputError, iter_jsonl, iter_tsv, iter_tsv_rows
from ragdistill.data import hf_data

log = logging.getLogger(__name__)
QUESTION_FORMATS = ("jsonl", "nq_open", "triviaqa", "dpr_qas")
CORPUS_FORMATS = ("dpr_tsv", "jsonl")


def _qas_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """DPR's question files (``nq-test.csv``): question TAB a Python list of answers, no header."""
    import ast

    for lineno, row in iter_tsv_rows(path):
        if len(row) < 2:
            raise InputError(f"{path}:{lineno}: expected question<TAB>answers, got {len(row)} field(s)")
        try:
            answers = ast.literal_eval(row[1])  # literals only: never runs code
        except (ValueError, SyntaxError) as err:
            raise InputError(f"{path}:{lineno}: answers are not a list literal: {row[1][:80]!r}") from err
        yield lineno, {"question": row[0], "answers": answers}


def _rows(path: Path, fmt: str = "jsonl") -> Iterator[tuple[int, dict]]:
    """Rows of a JSONL, JSON list, Parquet or DPR question file, with 1-based row numbers."""
    name = path.name
    if fmt == "dpr_qas":
        yield from _qas_rows(path)
    elif name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
        if name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, start=1):
                    if line.strip():
                        try:
                            yield lineno, json.loads(line)
                        except json.JSONDecodeError as err:
                            raise InputError(f"{path}:{lineno}: malformed JSON: {err.msg}") from err
        else:
            yield from iter_jsonl(path)
    elif name.endswith(".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        yield from enumerate(data.get("data", data) if isinstance(data, dict) else data, start=1)
    elif name.endswith(".parquet"):
        try:
            import pandas as pd

            frame = pd.read_parquet(path)
        except ImportError as err:
            raise InputError(f"{path}: reading Parquet needs pyarrow (installed with datasets)") from err
        yield from enumerate(frame.to_dict(orient="records"), start=1)
    else:
        raise InputError(f"{path}: unknown question file type; expected .jsonl, .jsonl.gz, .json or .parquet")


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in list(value)]


def _answers(row: dict, fmt: str) -> list[str]:
    if fmt == "triviaqa":
        ans = row.get("answer")
        if isinstance(ans, dict):
            aliases = _as_list(ans.get("aliases")) or _as_list(ans.get("normalized_aliases"))
            value = ans.get("value")
            return list(dict.fromkeys(([value] if value else []) + aliases))
        return _as_list(row.get("answers", ans))
    if fmt == "nq_open":
        return _as_list(row.get("answer", row.get("answers")))
    return _as_list(row.get("answers"))


def _checked_answers(row: dict, fmt: str, where: str) -> list[str]:
    """The row's answers as non-empty strings. A number or a mapping where answers belong stops
    with the file and line. So does a question whose only answers normalise to nothing (``"The"``:
    it could never be found in a passage, and an empty prediction would match it); beside other
    answers such an alias is dropped, and logged (:func:`matchable_answers`)."""
    fields = ("answers",) if fmt not in ("triviaqa", "nq_open") else ("answer", "answers")
    if not any(f in row for f in fields):
        raise InputError(f"{where}: missing field {' or '.join(map(repr, fields))}")
    try:
        raw = _answers(row, fmt)
    except TypeError:
        value = row.get("answers", row.get("answer"))
        raise InputError(
            f"{where}: answers must be a string or a list of strings, got {type(value).__name__} {value!r}"
        ) from None
    answers = []
    for a in raw:
        if not isinstance(a, str):
            raise InputError(f"{where}: answers must be strings, got {type(a).__name__} {a!r}")
        if not a.strip():
            continue
        answers.append(a)
    if not answers:
        raise InputError(f"{where}: empty answer list (field 'answers'/'answer')")
    return matchable_answers(answers, where)


def matchable_answers(answers: list[str], where: str) -> list[str]:
    """The answers that are not empty once normalised. None left stops with ``where``: such an
    answer can never be found in a passage, and an empty prediction would match it. Beside other
    answers such an alias is dropped, and logged. (Every question format goes through here.)"""
    from ragdistill.analysis.metrics import normalize_answer

    kept = [a for a in answers if normalize_answer(a)]
    if not kept:
        raise InputError(
            f"{where}: answer {answers[0]!r} is empty once normalised (lower case, no punctuation or "
            "articles): it can never be matched"
        )
    if len(kept) < len(answers):
        log.info(
            "%s: answers %s dropped (empty once normalised)", where, [a for a in answers if a not in kept]
        )
    return kept


def question_rows(paths: list[Path], fmt: str, cache_dir: Path) -> Iterator[tuple[str, dict]]:
    """Each file's rows with where they are: through ``datasets``' builder where one fits and
    reads the file (``ragdistill/data/hf_data.py``), else through our own reader, which names a bad
    line. DPR's question files (a Python list literal in a TSV column) have no builder."""
    for path in paths:
        rows = None
        if fmt != "dpr_qas":
            field = "data" if path.name.endswith(".json") and _starts_with_object(path) else None
            rows = hf_data.file_rows(path, cache_dir, field)
        if rows is None:
            rows = ((f"{path}:{n}", row) for n, row in _rows(path, fmt))
        yield from rows


def _starts_with_object(path: Path) -> bool:
    """A ``.json`` file holding ``{"data": [...]}`` rather than a list of rows."""
    with open(path, "rb") as fh:
        return fh.read(4096).lstrip().startswith(b"{")


def read_questions(paths: list[Path], fmt: str, split: str, cache_dir: Path) -> list[dict]:
    """Read question files of ``fmt`` into our format, checking every row."""
    return check_questions(question_rows(paths, fmt, cache_dir), fmt, split)


def check_questions(rows: Iterable[tuple[str, dict]], fmt: str, split: str) -> list[dict]:
    """Rows ``(where, row)`` of ``fmt`` (from files or a hub split) into our format: a missing
    field, an empty or non-string answer, or a duplicate id stops with ``where``."""
    if fmt not in QUESTION_FORMATS:
        raise InputError(f"question format {fmt!r} unknown; expected one of {QUESTION_FORMATS}")
    out: list[dict] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"{where}: missing or empty 'question' field")
        answers = _checked_answers(row, fmt, where)
        qid = str(row.get("id", row.get("question_id", f"{split}-{len(out)}")))
        if qid in seen:
            raise InputError(f"{where}: duplicate id {qid!r} (first seen at {seen[qid]})")
        seen[qid] = where
        out.append(
            {
                "id": qid,
                "question": question.strip(),
                "answers": answers,
                "gold_ids": [str(g) for g in _as_list(row.get("gold_ids"))],
            }
        )
    return out


def iter_corpus(path: Path, fmt: str) -> Iterator[dict]:
    """Stream passages ``{"id", "title", "text"}`` from a DPR TSV (optionally .gz) or JSONL."""
    for _, row in iter_corpus_lines(path, fmt):
        yield row


def iter_corpus_lines(path: Path, fmt: str) -> Iterator[tuple[int, dict]]:
    """:func:`iter_corpus` with each passage's 1-based line number (for errors that name it)."""
    if fmt == "jsonl":
        for lineno, row in iter_jsonl(path):
            if "id" not in row or "text" not in row:
                raise InputError(f"{path}:{lineno}: passage needs 'id' and 'text'")
            yield lineno, {"id": str(row["id"]), "title": str(row.get("title", "")), "text": str(row["text"])}
        return
    if fmt != "dpr_tsv":
        raise InputError(f"corpus format {fmt!r} unknown; expected one of {CORPUS_FORMATS}")
    yield from iter_tsv(path, ("id", "text", "title"))  # plain or .gz
