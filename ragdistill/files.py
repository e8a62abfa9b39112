"""Reading and writing the workflow's files with errors that name the file and line.

Every writer goes through a temporary file and an atomic rename, so an interrupted job never
leaves an output that looks complete.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


class InputError(ValueError):
    """Bad input data: the message names the file and, where there is one, the line."""


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide outputs from the user's group
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, inf) replaced by None: JSON has no NaN, and
    ``jq`` or a browser rejects a file that holds one."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Strict JSON (a missing number is null, never NaN), sorted keys, UTF-8."""
    text = json.dumps(strict(obj), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    write_text(path, text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not valid UTF-8 JSON: {err}") from err


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(strict(row), ensure_ascii=False, allow_nan=False) + "\n")
            n += 1
    return n


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line; malformed lines raise InputError."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputError(
                    f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start})"
                ) from err
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}:{lineno}: malformed JSON: {err.msg}") from err
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path)]


def _open_text(path: str | os.PathLike):
    """Open a text file for the csv module, transparently gunzipping ``*.gz``."""
    if str(path).endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def iter_tsv_rows(path: str | os.PathLike) -> Iterator[tuple[int, list[str]]]:
    """Stream the raw fields of a TSV (optionally gzipped), with 1-based line numbers."""
    csv.field_size_limit(sys.maxsize)  # passages can exceed the csv module's default field limit
    with _open_text(path) as fh:
        try:
            for lineno, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL), start=1):
                if row:
                    yield lineno, row
        except UnicodeDecodeError as err:
            raise InputError(_bad_byte_line(path) or f"{path}: not valid UTF-8 ({err.reason})") from err


def _bad_byte_line(path: str | os.PathLike) -> str | None:
    """Where the first byte that is not UTF-8 sits, as ``file:line: ...``: text mode decodes in
    blocks, so its error knows no line; a second pass over the raw lines finds it (only when the
    file is already known to be bad, so a good file is read once)."""
    import gzip

    with (gzip.open if str(path).endswith(".gz") else open)(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start} of the line)"
    return None


def iter_tsv(path: str | os.PathLike, columns: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """Stream a TSV with a header; yield ``(line_number, row)`` holding the named columns."""
    rows = iter_tsv_rows(path)
    first = next(rows, None)
    if first is None:
        return
    header = first[1]
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"{path}:1: header lacks column(s) {missing}; has {header}")
    idx = [header.index(c) for c in columns]
    for lineno, row in rows:
        if len(row) < len(header):
            raise InputError(f"{path}:{lineno}: expected {len(header)} tab-separated fields, got {len(row)}")
        yield lineno, {c: row[i] for c, i in zip(columns, idx, strict=True)}


def write_tsv(path: str | os.PathLike, columns: list[str], rows: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[c] for c in columns])
            n += 1
    return n
