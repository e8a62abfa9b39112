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
import zipfile
import zlib
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


class DamagedFile(InputError):
    """A stored output of an earlier job that cannot be decoded (cut short by a full disk or a
    copy, overwritten): one line naming the file, what is wrong, and what to delete so that
    Snakemake builds it again. Snakemake itself cannot see the damage (the file exists and is
    newer than its inputs, so ``snakemake -n`` plans nothing); deleting the output it belongs to
    is what makes it plan the job again.

    ``remove`` is that output: the file itself, or the folder output that holds it (a model
    folder); the job runner sets it to the job input that holds ``path`` when it knows better.
    """

    def __init__(
        self, path: str | os.PathLike, what: str, reason: str, remove: str | os.PathLike | None = None
    ):
        self.path, self.what, self.reason = str(path), what, reason
        self.remove = str(remove or path)
        super().__init__(str(self))

    def __str__(self) -> str:
        kind = "the folder " if Path(self.remove).is_dir() else ""
        return (
            f"{self.path}: {self.what} cannot be read ({self.reason}): the file is damaged or cut "
            f"short; delete {kind}{self.remove} and run snakemake again to rebuild it"
        )

    def owned_by(self, outputs: Iterable[str]) -> None:
        """Name, as what to delete, the output among ``outputs`` (a job's inputs) that is or holds
        ``path``: deleting a file inside a folder output makes Snakemake rebuild nothing."""
        here = Path(os.path.abspath(self.path))
        outputs = list(outputs)
        for out in outputs:  # the file itself first, then a folder that holds it
            if Path(os.path.abspath(out)) == here:
                self.remove = str(out)
                return
        for out in outputs:
            if Path(os.path.abspath(out)) in here.parents:
                self.remove = str(out)
                return


def safetensors_error() -> tuple[type[BaseException], ...]:
    """safetensors' error class, as a tuple for ``except`` (empty if safetensors is missing)."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover (a dependency of transformers)
        return ()
    return (SafetensorError,)


def _decoding_errors() -> tuple[type[BaseException], ...]:
    """What the readers of our stored formats raise on bytes they cannot decode: NumPy (ValueError,
    EOFError, a zip's BadZipFile or zlib error), JSON and UTF-8 (ValueError), FAISS (RuntimeError),
    safetensors (SafetensorError), Arrow (an OSError without an errno)."""
    return (ValueError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError, *safetensors_error())


def _reason(err: BaseException) -> str:
    """The decoder's own words, on one line and short: FAISS prefixes the C++ function and source
    line (``Error in void faiss::read_...: Error: 'ret == (size)' failed: read error in ...``)."""
    text = " ".join(str(err).split()) or type(err).__name__
    text = text.rsplit("Error: ", 1)[-1]
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def reading(
    path: str | os.PathLike,
    what: str,
    remove: str | os.PathLike | None = None,
    errors: tuple[type[BaseException], ...] | None = None,
) -> Iterator[None]:
    """Turn a decoding error raised in the block into :class:`DamagedFile` naming ``path``.

    Wrap the load call only (not the work on what it returned), so that a bug stays a bug;
    ``errors`` narrows what counts as a decoding error where a broad ValueError or RuntimeError
    could be a bug (a transformers ``from_pretrained``: pass :func:`safetensors_error`). A disk or
    permission error (an OSError with an errno) passes through unchanged: it is the file
    system's, not the file's.
    """
    decoding = _decoding_errors() if errors is None else errors
    try:
        yield
    except InputError:
        raise
    except OSError as err:
        if err.errno is not None:
            raise
        raise DamagedFile(path, what, _reason(err), remove) from err
    except decoding as err:
        raise DamagedFile(path, what, _reason(err), remove) from err


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
    except OSError as err:
        if err.filename is None and err.errno is not None:
            # a write on an open file (f.write, a flush) raises without a path: give it this one,
            # so that the job's one-line error names the file (runner.disk_error_line)
            raise OSError(err.errno, err.strerror or os.strerror(err.errno), str(path)) from err
        raise
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


def read_json(path: str | os.PathLike, remove: str | os.PathLike | None = None) -> Any:
    """A JSON output of an earlier job (``remove``: the folder output that holds it, if any)."""
    text = Path(path).read_bytes()
    with reading(path, "JSON", remove):
        return json.loads(text.decode("utf-8"))


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


class _Hashing:
    """A text file whose written characters also update ``digest`` (as the file's UTF-8 bytes:
    opened with ``newline=""``, nothing is translated on the way)."""

    def __init__(self, fh, digest) -> None:
        self.fh, self.digest = fh, digest

    def write(self, text: str) -> int:
        self.digest.update(text.encode("utf-8"))
        return self.fh.write(text)


def write_tsv(path: str | os.PathLike, columns: list[str], rows: Iterable[dict], digest=None) -> int:
    """Rows as a TSV with a header line; the number of rows. ``digest`` (a ``hashlib`` object)
    receives the file's bytes as they are written, so a large file is not read back to hash it."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(_Hashing(fh, digest) if digest else fh, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[c] for c in columns])
            n += 1
    return n
