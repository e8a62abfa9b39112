"""Rows of question and corpus files through Hugging Face ``datasets``: hub names and local files.

``datasets.load_dataset`` is the loader: a hub dataset by name (``hf:<repo>[@rev][:<config>]``
with a split such as ``train[8757:]``), or one of its packaged builders (``json``, ``parquet``) for
a local or downloaded file (DPR's question TSV and CSV keep our own reader: a Python list
literal per row, which no builder parses). Its Arrow cache lives under ``<download_dir>/hf-datasets``
(``HF_DATASETS_CACHE`` moves it), so a second fetch of the same files reads Arrow.

Every row comes with where it is, in the user's terms (``file:line`` for JSONL, ``file: row i``
for a JSON list or Parquet, ``repo[split] row i`` for a hub split), so the row checks in
``ragdistill/data/datasets.py`` still name the line. Where a builder cannot read a file (a line that
is not JSON, a byte that is not UTF-8) our own line reader reads it instead: it either names the
bad line or reads the file, and the log says which reader was used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ragdistill.core.files import InputError
from ragdistill.data.sources import hub_errors, hub_url, one_line

log = logging.getLogger(__name__)
# our split names -> the hub split read when a source names none
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
GLOB_CHARS = ("*", "?", "/")


def quiet() -> None:
    """No progress bars or info lines from ``datasets`` (the job's log carries ours)."""
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def _as_dict(row: dict) -> dict:
    """A row without the columns it lacks: Arrow gives every row every column, ``None`` where a
    row had no such field, and a missing field must read as missing (not as an empty value)."""
    return {k: v for k, v in row.items() if v is not None}


def is_file_glob(member: str | None) -> bool:
    """True when the part after ``hf:<repo>:`` names files (``nq_open/train-*.parquet``), false
    when it names a configuration (``unfiltered.nocontext``)."""
    return member is not None and any(c in member for c in GLOB_CHARS)


def hub_rows(
    repo: str, revision: str | None, member: str | None, split: str, cache_dir: Path, key: str
) -> Iterator[tuple[str, dict]]:
    """Rows of one split of a hub dataset (or of a local folder in hub layout: ``repo`` a path).

    ``member`` is a configuration name or a file glob inside the repository; ``split`` uses the
    ``datasets`` split syntax (``validation``, ``train[:8757]``, ``train[8757:]``).
    """
    import datasets

    quiet()
    kwargs: dict = {"revision": revision, "cache_dir": str(cache_dir)}
    if is_file_glob(member):
        kwargs["data_files"] = {split.split("[")[0]: member}
    elif member:
        kwargs["name"] = member
    try:
        ds = datasets.load_dataset(repo, split=split, **kwargs)
    except hub_errors() as err:  # the hub unreachable, or no such repository or revision
        where = repo if Path(repo).exists() else hub_url(repo, revision, "dataset")
        raise InputError(f"{key}: cannot read {where} split {split!r}: {one_line(err)}") from None
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as err:
        raise InputError(f"{key}: {repo!r} split {split!r}: {err}") from None
    log.info("%s: %s split %s: %d rows (datasets, cache %s)", key, repo, split, ds.num_rows, cache_dir)
    where = f"{repo}[{split}]" + (f" ({member})" if member else "")
    for i, row in enumerate(ds, start=1):
        yield f"{where} row {i}", _as_dict(row)


def hub_revision(repo: str, revision: str | None) -> str | None:
    """The commit of a hub dataset that ``load_dataset`` read: ``datasets`` fetches the dataset
    card through the hub cache at that commit, so the cached card's snapshot folder names it.
    None for a local folder in hub layout, or where the cache holds no card."""
    from huggingface_hub import try_to_load_from_cache

    if Path(repo).exists():
        return None
    try:
        card = try_to_load_from_cache(repo, "README.md", revision=revision, repo_type="dataset")
    except ValueError:  # not a repository id
        return None
    return Path(card).parent.name if isinstance(card, str) else None


def _line_numbers(path: Path) -> list[int]:
    """1-based numbers of the non-blank lines of a JSONL file: row i of the ``json`` builder is
    line ``numbers[i]`` (it skips blank lines, as our reader does)."""
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return [n for n, line in enumerate(fh, start=1) if line.strip()]


def builder_of(path: Path) -> str | None:
    """The packaged ``datasets`` builder that reads ``path``, or None (our reader only)."""
    name = path.name
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        return "json"
    if name.endswith(".parquet"):
        return "parquet"
    return None


def file_rows(path: Path, cache_dir: Path, field: str | None = None) -> Iterator[tuple[str, dict]] | None:
    """Rows of a local question file through its ``datasets`` builder, each with its file and
    line (JSONL) or row; None where the builder does not fit or cannot read the file (the caller
    then reads it with our own reader, which names a bad line)."""
    builder = builder_of(path)
    if builder is None:
        return None
    import datasets

    quiet()
    kwargs: dict = {"data_files": str(path), "split": "train", "cache_dir": str(cache_dir)}
    if field:
        kwargs["field"] = field
    try:
        # the rows are taken out here, inside the try: a bad byte shows only when a row is read
        table = datasets.load_dataset(builder, **kwargs).to_list()
    except Exception as err:  # noqa: BLE001 - any builder failure: our reader says what is wrong
        log.info("%s: datasets' %s builder cannot read it (%s); read line by line", path, builder, err)
        return None
    lines = _line_numbers(path) if path.name.endswith((".jsonl", ".jsonl.gz")) else None
    if lines is not None and len(lines) != len(table):
        log.info("%s: %d rows for %d lines; read line by line", path, len(table), len(lines))
        return None
    log.info("%s: %d rows (datasets' %s builder, cache %s)", path, len(table), builder, cache_dir)
    return (
        ((f"{path}:{lines[i]}" if lines else f"{path}: row {i + 1}"), _as_dict(row))
        for i, row in enumerate(table)
    )


def cache_dir_of(download_dir: Path) -> Path:
    """Where ``datasets`` keeps its Arrow cache: ``HF_DATASETS_CACHE`` where the user set it (as
    every ``datasets`` user may have), else ``<download_dir>/hf-datasets`` beside our downloads."""
    return Path(os.environ.get("HF_DATASETS_CACHE") or download_dir / "hf-datasets")
