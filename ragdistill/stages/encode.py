"""Stage ``encode``: the corpus tokenised once, passage embeddings in shards, a FAISS index.

``tokenize_corpus`` stores the corpus's token ids as an Arrow dataset (``datasets``). A shard
job reads every ``n_shards``-th passage's ids from it, memory-mapped (so shards need no passage
count up front and come out the same size), embeds them in length-sorted chunks, and stores
float16 embeddings with their passage ids. Without token ids it reads the TSV and tokenises
(the path the token ids are tested against, byte for byte).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragdistill.core.files import atomic_path, read_json, read_jsonl, reading, write_json
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import CandidateSettings, IndexSettings, ShardSettings, TokenSettings
from ragdistill.data import hf_data
from ragdistill.data.datasets import iter_corpus
from ragdistill.data.dumps import read_array, read_arrays
from ragdistill.data.vectors import read_index

if TYPE_CHECKING:  # imported where used: build_index and candidate_vectors need no torch
    import torch

    from ragdistill import models

log = logging.getLogger(__name__)
CHUNK = 4096
COPY_EVERY = 16  # chunks of float16 vectors held on the device (about 50 MB at width 384)
MAX_TOKENIZE_WORKERS = 8

_worker_tokenize: Callable[[list[str]], dict] | None = None  # set in each tokenising worker process


def _init_tokenize_worker(rust_json: str, names: list[str]) -> None:
    """Worker process start: its own copy of the shard's Rust tokenizer, single-threaded."""
    global _worker_tokenize
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core per worker; the workers are the parallelism
    from tokenizers import Tokenizer

    from ragdistill import models

    rust = Tokenizer.from_str(rust_json)
    _worker_tokenize = lambda texts: models.rust_arrays(rust, texts, names)  # noqa: E731


def sorted_batches(tokenize: Callable[[list[str]], dict], texts: list[str], batch_size: int):
    """(order, batches): the chunk's texts by length (less padding), tokenised in batches."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return order, [
        tokenize([texts[i] for i in order[s : s + batch_size]]) for s in range(0, len(order), batch_size)
    ]


def _in_worker(texts: list[str], batch_size: int):
    assert _worker_tokenize is not None, "a tokenising worker runs _init_tokenize_worker first"
    return sorted_batches(_worker_tokenize, texts, batch_size)


def tokenize_workers(setting: int | None, device: torch.device, tokenizer: models.BatchTokenizer) -> int:
    """How many processes tokenise beside the model (``encode.tokenize_workers``).

    null: none on a CPU, where the model is far slower than the tokenizer and the job's cores
    are the model's; on a GPU the job's threads less one (at most 8), since there a small encoder
    outruns a single tokenizer (measured on an H100 machine: MiniLM 18,000-67,000 passages/s,
    a tokenising thread 8,000-9,000). Without a Rust tokenizer there is nothing to send to a worker.
    """
    import torch

    if tokenizer.rust is None:
        return 0
    if setting is not None:
        return int(setting)
    if device.type != "cuda":
        return 0
    return max(1, min(MAX_TOKENIZE_WORKERS, torch.get_num_threads() - 1))


class ChunkTokenizer:
    """Tokenises chunks of passages ahead of the model: ``workers`` forked processes, each with
    its own Rust tokenizer, or (0) one thread.

    The processes start here, so make this before the model is loaded or a device touched.
    Forked, not spawned: a spawned child re-imports the job's main module, which in a Snakemake
    job is the stage script itself; the children only tokenise (no torch, no CUDA).
    """

    def __init__(self, tokenizer: models.BatchTokenizer, batch_size: int, workers: int) -> None:
        self.tokenizer, self.batch_size, self.workers = tokenizer, batch_size, workers
        if workers > 0:
            import multiprocessing

            ctx = multiprocessing.get_context("fork")
            init = (tokenizer.rust.to_str(), tokenizer.names)
            self.pool = ctx.Pool(workers, _init_tokenize_worker, init)
        else:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(1, thread_name_prefix="tokenize")

    def __enter__(self) -> ChunkTokenizer:
        return self

    def __exit__(self, *exc) -> None:
        if self.workers > 0:
            self.pool.terminate()
        else:
            self.pool.shutdown(cancel_futures=True)

    def _submit(self, texts: list[str]):
        if self.workers > 0:
            return self.pool.apply_async(_in_worker, (texts, self.batch_size))
        return self.pool.submit(sorted_batches, self.tokenizer.arrays, texts, self.batch_size)

    def _get(self, fut):
        return fut.get() if self.workers > 0 else fut.result()

    def map(
        self, chunks: Iterator[tuple[list[str], list[str]]]
    ) -> Iterator[tuple[list[str], list[int], list]]:
        """(ids, order, batches) per chunk, in the chunks' order. At most two chunks per worker
        are in flight, so the corpus is still streamed."""
        depth = 2 * max(1, self.workers)
        pending: deque = deque()
        for ids, texts in chunks:
            pending.append((ids, self._submit(texts)))
            if len(pending) >= depth:
                first, fut = pending.popleft()
                yield (first, *self._get(fut))
        while pending:
            first, fut = pending.popleft()
            yield (first, *self._get(fut))


def shard_chunks(corpus: Path, shard: int, n_shards: int) -> Iterator[tuple[list[str], list[str]]]:
    """(ids, texts) of this shard's passages, ``CHUNK`` at a time, streamed from the corpus."""
    from ragdistill import models

    ids: list[str] = []
    texts: list[str] = []
    for i, p in enumerate(iter_corpus(corpus, "dpr_tsv")):
        if i % n_shards != shard:
            continue
        ids.append(p["id"])
        texts.append(models.passage_text(p["title"], p["text"]))
        if len(texts) >= CHUNK:
            yield ids, texts
            ids, texts = [], []
    if texts:
        yield ids, texts


TOKENS_META = "ragdistill_tokens.json"


def tokenizer_digest(model_dir: str | os.PathLike) -> str:
    """A hash of what a model folder's tokenizer does: tokens made with one tokenizer must not be
    fed to an encoder that reads another. A distilled encoder saves the same tokenizer again, with
    other bytes (key order, its padding and truncation state), so a ``tokenizer.json`` is hashed
    as the ``tokenizers`` library serialises it with padding and truncation cleared (the job sets
    both itself); other tokenizers by their files."""
    import hashlib

    h = hashlib.sha256()
    fast = Path(model_dir) / "tokenizer.json"
    if fast.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(fast))
        tok.no_truncation()
        tok.no_padding()
        h.update(tok.to_str().encode())
        return h.hexdigest()[:16]
    for f in sorted(Path(model_dir).iterdir()):
        if f.name.startswith(("tokenizer", "vocab", "special_tokens", "merges", "spiece")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _corpus_rows(path: str):
    """The corpus as ``datasets`` rows: id, the text the retriever reads, its length in characters
    (the key today's encoding sorts by, so the token path forms the very same batches)."""
    from ragdistill import models

    for p in iter_corpus(Path(path), "dpr_tsv"):
        text = models.passage_text(p["title"], p["text"])
        yield {"id": p["id"], "text": text, "n_chars": len(text)}


def tokenize_corpus(inp: dict, out: dict, params: dict) -> None:
    """The corpus as an Arrow dataset of token ids, made once per (corpus, tokenizer, max length).

    Columns: ``id``, ``n_chars`` and the unpadded, truncated ``input_ids`` (and ``token_type_ids``
    where the tokenizer has them), from ``Dataset.map(batched=True, num_proc=workers)``. Every
    encoding job then reads memory-mapped ids instead of reading the TSV and tokenising it again;
    the same ids padded per batch are what :class:`BatchTokenizer` gives (tested byte for byte).
    """
    import shutil
    import tempfile

    import datasets

    from ragdistill import models

    s = from_params(TokenSettings, params)
    hf_data.quiet()
    tok = models.load_tokenizer(inp["model"])
    out_dir = Path(out["tokens"])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    names = [
        n for n in ("input_ids", "token_type_ids") if n in models.BatchTokenizer(tok, s.max_length).names
    ]
    tokenize = _ids_function(tok, s.max_length, names)
    # datasets' own cache in a folder of this job's: the output folder is the cache Snakemake keeps
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as cache:
        features = datasets.Features(
            {
                "id": datasets.Value("string"),
                "text": datasets.Value("string"),
                "n_chars": datasets.Value("int32"),
            }
        )
        ds = datasets.Dataset.from_generator(
            _corpus_rows, gen_kwargs={"path": inp["corpus"]}, features=features, cache_dir=cache
        )
        ds = ds.map(
            tokenize,
            batched=True,
            batch_size=1000,
            num_proc=s.workers if s.workers > 1 and len(ds) >= 10_000 else None,
            remove_columns=["text"],
            desc="tokenize corpus",
        )
        tmp = out_dir.with_name(f".{out_dir.name}.part")
        shutil.rmtree(tmp, ignore_errors=True)
        ds.save_to_disk(str(tmp))
        write_json(
            tmp / TOKENS_META,
            {"tokenizer": tokenizer_digest(inp["model"]), "max_length": s.max_length, "passages": len(ds)},
        )
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    log.info("%d passages tokenised (max %d tokens) -> %s", len(ds), s.max_length, out_dir)


def _ids_function(tok, max_length: int, names: list[str]):
    """A batched ``map`` function: texts to unpadded, truncated ids (and token types)."""
    backend = getattr(tok, "_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        from tokenizers import Tokenizer

        rust = Tokenizer.from_str(backend.to_str())
        rust.no_padding()
        rust.enable_truncation(max_length)
        fields = {"input_ids": "ids", "token_type_ids": "type_ids"}

        def tokenize(batch: dict) -> dict:
            encs = (
                rust.encode_batch_fast(batch["text"])
                if hasattr(rust, "encode_batch_fast")
                else rust.encode_batch(batch["text"])
            )
            return {n: [getattr(e, fields[n]) for e in encs] for n in names}

        return tokenize

    def tokenize_slow(batch: dict) -> dict:
        enc = tok(batch["text"], truncation=True, max_length=max_length)
        return {n: enc[n] for n in names}

    return tokenize_slow


@dataclass
class TokenChunk:
    """Up to ``CHUNK`` passages' stored token ids as flat Arrow buffers (no Python list per
    passage): passage ``i``'s ids are ``values[offsets[i]:offsets[i + 1]]``."""

    ids: list[str]
    n_chars: np.ndarray  # [passages] int: the length in characters, the sort key
    offsets: np.ndarray  # [passages + 1] int
    values: np.ndarray  # [tokens] int: input ids
    types: np.ndarray | None  # [tokens] int: token types, where the tokenizer has them


def _flat(column) -> tuple[np.ndarray, np.ndarray]:
    """(offsets rebased to 0, values) of an Arrow list column."""
    col = column.combine_chunks()
    offsets = col.offsets.to_numpy()
    values = col.values.to_numpy()[offsets[0] : offsets[-1]]
    return offsets - offsets[0], values


def token_chunks(tokens: Path, shard: int, n_shards: int) -> Iterator[TokenChunk]:
    """This shard's passages, ``CHUNK`` at a time, read from :func:`tokenize_corpus`'s dataset
    (memory-mapped): every ``n_shards``-th passage, as :func:`shard_chunks` takes them."""
    import datasets

    with reading(tokens, "the tokenized corpus (Arrow)", remove=tokens):
        ds = datasets.load_from_disk(str(tokens))
    ds = ds.shard(n_shards, shard, contiguous=False)
    ds = ds.with_format("arrow")
    has_types = "token_type_ids" in ds.column_names
    for start in range(0, len(ds), CHUNK):
        table = ds[start : start + CHUNK]
        offsets, values = _flat(table["input_ids"])
        types = _flat(table["token_type_ids"])[1] if has_types else None
        yield TokenChunk(table["id"].to_pylist(), table["n_chars"].to_numpy(), offsets, values, types)


def padded_batches(
    chunk: TokenChunk, batch_size: int, tokenizer
) -> tuple[list[int], list[dict[str, np.ndarray]]]:
    """(order, batches) as :func:`sorted_batches` makes them from texts: the chunk by length in
    characters (stable), each batch padded to its longest passage with the tokenizer's pad id,
    type and side. Shapes: each array ``[batch, longest]``, int64."""
    order = np.argsort(chunk.n_chars, kind="stable")
    pad_id, pad_type = tokenizer.pad_token_id, getattr(tokenizer, "pad_token_type_id", 0)
    left = tokenizer.padding_side == "left"
    starts, n_all = chunk.offsets[:-1], np.diff(chunk.offsets)
    batches = []
    for s in range(0, len(order), batch_size):
        rows = order[s : s + batch_size]
        n = n_all[rows]
        width = int(n.max())
        pos = np.arange(width)
        # the real tokens' places, filled row by row and left to right: each passage's ids in order
        real = pos[None, :] >= (width - n)[:, None] if left else pos[None, :] < n[:, None]
        # the flat positions of those ids: each row's start, then 0, 1, ... within the row
        within = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        flat = np.repeat(starts[rows], n) + within
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        input_ids[real] = chunk.values[flat]
        batch = {"input_ids": input_ids, "attention_mask": real.astype(np.int64)}
        if chunk.types is not None:
            token_types = np.full((len(rows), width), pad_type, dtype=np.int64)
            token_types[real] = chunk.types[flat]
            batch["token_type_ids"] = token_types
        batches.append(batch)
    return order.tolist(), batches


def encode_corpus(inp: dict, out: dict, params: dict) -> None:
    """Embed every ``n_shards``-th passage of the corpus (this job's shard), float16 with ids."""
    import torch
    from tqdm import tqdm

    from ragdistill import models

    s = from_params(ShardSettings, params)
    shard, n_shards = s.shard, s.n_shards
    same = initial_shard(inp, shard, n_shards)
    if same is not None:
        _write_shard(out["shard"], *same)
        log.info(
            "shard %d/%d: %s holds the initial retriever's weights (its distillation kept step 0): "
            "%d vectors read from the initial index, not encoded again",
            shard,
            n_shards,
            inp["model"],
            len(same[0]),
        )
        return
    device = models.pick_device()
    tok = models.load_tokenizer(inp["model"])
    r = s.retriever
    tokenizer = models.BatchTokenizer(tok, r.passage_max_length)
    tokens = inp.get("tokens")
    workers = 0 if tokens else tokenize_workers(s.tokenize_workers, device, tokenizer)
    if tokens:
        _check_tokens(Path(tokens), inp["model"], r.passage_max_length)
    ids: list[str] = []
    embs: list[np.ndarray] = []
    with ChunkTokenizer(tokenizer, r.batch_size, workers) as chunker:  # before the model
        model = models.load_encoder(inp["model"]).to(device).eval()
        model = models.in_precision(model, models.stage_precision(s.precision, device, "encode_corpus"))
        log.info(
            "shard %d/%d on %s, %s",
            shard,
            n_shards,
            device,
            f"token ids from {tokens}" if tokens else f"{workers} tokenising worker processes",
        )
        bar = tqdm(desc=f"encode shard {shard}/{n_shards}", unit="passage", mininterval=5)
        on_device: list[torch.Tensor] = []  # copied back every COPY_EVERY chunks: fewer waits on a GPU
        if tokens:
            chunks = (
                (c.ids, *padded_batches(c, r.batch_size, tok))
                for c in token_chunks(Path(tokens), shard, n_shards)
            )
        else:
            chunks = chunker.map(shard_chunks(Path(inp["corpus"]), shard, n_shards))
        for chunk_ids, order, batches in chunks:
            emb = models.embed_batches(model, batches, r.pooling, r.normalize)
            unsorted = torch.empty_like(emb)
            unsorted[torch.as_tensor(order, device=emb.device)] = emb
            # float32 first: the stored values are the float32 embeddings rounded once to float16
            on_device.append(unsorted.float().half())
            if len(on_device) >= COPY_EVERY:
                embs.append(torch.cat(on_device).cpu().numpy())
                on_device.clear()
            ids.extend(chunk_ids)
            bar.update(len(chunk_ids))
        if on_device:
            embs.append(torch.cat(on_device).cpu().numpy())
        bar.close()
    emb = np.concatenate(embs) if embs else np.zeros((0, model.config.hidden_size), dtype=np.float16)
    _write_shard(out["shard"], ids, emb)
    log.info("shard %d/%d: %d passages", shard, n_shards, len(ids))


def _write_shard(path: str, ids: list[str], emb: np.ndarray) -> None:
    """A shard file: passage ids (str) and their vectors (passages, hidden) float16."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, ids=np.array(ids, dtype=object).astype(str), emb=emb)


def initial_shard(inp: dict, shard: int, n_shards: int) -> tuple[list[str], np.ndarray] | None:
    """(ids, vectors) of this shard from the initial index, when the job's passage encoder holds
    the initial retriever's weights (a both-mode distillation that kept step 0): the vectors
    encoding would write, float16 (a flat index stores the float16 values exactly, as float32).

    None when the job encodes the initial index itself (the rule passes no ``initial_*``
    inputs), when the weights differ, or when the initial index is not flat (others do not keep
    their vectors as given).
    """
    if "initial_index" not in inp:
        return None
    from ragdistill import models

    if read_json(inp["initial_meta"])["factory"] != "Flat":
        return None
    if not models.same_weights(inp["model"], inp["initial_model"]):
        return None
    row = {pid: i for i, pid in enumerate(read_array(inp["initial_ids"], "passage ids (.npy)").tolist())}
    tokens = inp.get("tokens")
    chunks = (
        (c.ids for c in token_chunks(Path(tokens), shard, n_shards))
        if tokens
        else (ids for ids, _ in shard_chunks(Path(inp["corpus"]), shard, n_shards))
    )
    ids = [pid for chunk in chunks for pid in chunk]
    missing = [pid for pid in ids if pid not in row]
    if missing:
        raise KeyError(
            f"{inp['initial_ids']}: {len(missing)} passages of the corpus are not in the initial "
            f"index (e.g. {missing[:3]}); the index and the corpus do not match"
        )
    return ids, flat_vectors(inp["initial_index"], np.array([row[pid] for pid in ids], dtype=np.int64))


def flat_vectors(index_path: str, rows: np.ndarray) -> np.ndarray:
    """(len(rows), d) float16: the vectors of a flat index's ``rows``, which are the encoded
    float16 values exactly (stored as float32). Memory-mapped where this faiss can, so only
    those rows are read."""
    index = read_index(index_path, mmap=True)
    if not len(rows):
        return np.zeros((0, index.d), dtype=np.float16)
    return index.reconstruct_batch(rows.astype(np.int64)).astype(np.float16)


def _check_tokens(tokens: Path, model_dir: str, max_length: int) -> None:
    """Stop when the stored token ids were made for another tokenizer or length than this job's."""
    meta = read_json(tokens / TOKENS_META)
    mine = {"tokenizer": tokenizer_digest(model_dir), "max_length": max_length}
    theirs = {k: meta[k] for k in mine}
    if theirs != mine:
        raise ValueError(f"{tokens}: token ids made with {theirs}, but {model_dir} reads {mine}")


def index_factory(params: dict | IndexSettings) -> str:
    """FAISS's factory string for ``index`` settings (a dict of them, or :class:`IndexSettings`)."""
    s = params if isinstance(params, IndexSettings) else from_params(IndexSettings, params)
    if s.type == "flat":
        return "Flat"
    if s.type == "ivf":
        return f"IVF{s.nlist},Flat"
    if s.type == "hnsw":
        return f"HNSW{s.hnsw_m}"
    if s.type == "ivfpq":
        return f"IVF{s.nlist},PQ{s.pq_m}"
    raise ValueError(f"index.type: unknown {s.type!r}; use flat, ivf, hnsw or ivfpq")


def build_index(inp: dict, out: dict, params: dict) -> None:
    """One FAISS inner-product index over every shard's vectors, with the passage id per row."""
    import faiss

    factory = index_factory(from_params(IndexSettings, params))
    ids, embs = [], []
    for path in inp["shards"]:
        z = read_arrays(path, "passage vectors (.npz)", ("ids", "emb"))
        ids.append(z["ids"])
        embs.append(z["emb"].astype(np.float32))
    all_ids = np.concatenate(ids)
    emb = np.concatenate(embs)
    index = faiss.index_factory(emb.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        index.train(emb)
    index.add(emb)
    Path(out["index"]).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out["index"]) as tmp:
        faiss.write_index(index, str(tmp))
    with atomic_path(out["ids"], suffix=".npy") as tmp:
        np.save(tmp, all_ids)
    write_json(
        out["meta"],
        {"passages": int(len(all_ids)), "dim": int(emb.shape[1]), "factory": factory},
    )
    log.info("index %s over %d passages", factory, len(all_ids))


def candidate_vectors(inp: dict, out: dict, params: dict) -> None:
    """The stored vectors of the passages query-mode distillation scores, in one small file.

    Its training candidates (each training question's top ``distill.candidates``) and its dev pool (every dev
    question's candidates) are passages the initial index already holds, encoded by the same
    frozen passage encoder; each distillation job would otherwise encode them again. Reading them
    here once also makes distillation score exactly the vectors retrieval searches (float16 as
    stored, as ATLAS scores against its index).
    """
    candidates = from_params(CandidateSettings, params).candidates
    need: set[str] = set()
    for ex in read_jsonl(inp["train"]):
        need.update(str(c["id"]) for c in ex["ctxs"][:candidates])
    for ex in read_jsonl(inp["dev"]):
        need.update(str(c["id"]) for c in ex["ctxs"])
    wanted = np.array(sorted(need))
    found, emb = _stored_vectors(inp, wanted) if "shards" in inp else _indexed_vectors(inp, wanted)
    source = ", ".join(inp["shards"]) if "shards" in inp else inp["index"]
    missing = need - set(found.tolist())
    if missing:
        raise KeyError(
            f"{source}: {len(missing)} retrieved passages have no stored vector "
            f"(e.g. {sorted(missing)[:3]}); the retrieval results and the index do not match"
        )
    with atomic_path(out["vectors"], suffix=".npz") as tmp:
        np.savez(tmp, ids=found, emb=emb)
    log.info("%d candidate vectors from %s", len(found), source)


def _stored_vectors(inp: dict, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, float16 vectors) of the ``wanted`` passages, from the encoded shards."""
    ids, embs = [], []
    for path in inp["shards"]:
        z = read_arrays(path, "passage vectors (.npz)", ("ids", "emb"))
        sel = np.isin(z["ids"], wanted)
        ids.append(z["ids"][sel])
        embs.append(z["emb"][sel])
    return (np.concatenate(ids) if ids else np.zeros(0, dtype=str)), np.concatenate(embs)


def _indexed_vectors(inp: dict, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same from a flat index (``index``, ``ids``, ``meta``), where its shards are gone: a
    replicate that shares another's initial index after that one's shards were deleted. The
    index's rows are the shards' passages in the shards' order, and a flat index holds their
    float16 values exactly, so these are the shards' vectors, in their order."""
    if read_json(inp["meta"])["factory"] != "Flat":
        raise ValueError(f"{inp['index']}: not a flat index; its vectors are not stored as encoded")
    ids = read_array(inp["ids"], "passage ids (.npy)")
    # in blocks: the whole corpus's ids (21M) matched at once would hold several copies of them
    block = 1 << 20
    rows = np.concatenate(
        [
            start + np.flatnonzero(np.isin(ids[start : start + block], wanted))
            for start in range(0, len(ids), block)
        ]
        or [np.zeros(0, dtype=np.int64)]
    )
    return ids[rows], flat_vectors(inp["index"], rows)
