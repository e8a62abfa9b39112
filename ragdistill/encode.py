"""Stage ``encode``: passage embeddings in shards, then a FAISS index over them.

A shard job streams the corpus and keeps every ``n_shards``-th passage (so shards need no
passage count up front and come out the same size), embeds them in length-sorted chunks, and
stores float16 embeddings with their passage ids.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from . import models
from .datasets import iter_corpus
from .files import atomic_path, read_jsonl, write_json

log = logging.getLogger(__name__)
CHUNK = 4096


def encode_corpus(inp: dict, out: dict, params: dict) -> None:
    from tqdm import tqdm

    shard, n_shards = int(params["shard"]), int(params["n_shards"])
    device = models.pick_device()
    tok = models.load_tokenizer(inp["model"])
    model = models.load_encoder(inp["model"]).to(device).eval()
    if device.type == "cuda":
        model = model.to(torch.bfloat16)
    ids: list[str] = []
    embs: list[np.ndarray] = []
    chunk_ids: list[str] = []
    chunk_texts: list[str] = []

    def flush():
        if chunk_texts:
            embs.append(
                models.embed_all(
                    model,
                    tok,
                    chunk_texts,
                    int(params["batch_size"]),
                    int(params["max_length"]),
                    params["pooling"],
                    bool(params["normalize"]),
                ).astype(np.float16)
            )
            ids.extend(chunk_ids)
            chunk_ids.clear()
            chunk_texts.clear()

    bar = tqdm(desc=f"encode shard {shard}/{n_shards}", unit="passage", mininterval=5)
    for i, p in enumerate(iter_corpus(Path(inp["corpus"]), "dpr_tsv")):
        if i % n_shards != shard:
            continue
        chunk_ids.append(p["id"])
        chunk_texts.append(models.passage_text(p["title"], p["text"]))
        if len(chunk_texts) >= CHUNK:
            bar.update(len(chunk_texts))
            flush()
    bar.update(len(chunk_texts))
    flush()
    bar.close()
    emb = np.concatenate(embs) if embs else np.zeros((0, model.config.hidden_size), dtype=np.float16)
    with atomic_path(out["shard"], suffix=".npz") as tmp:
        np.savez(tmp, ids=np.array(ids, dtype=object).astype(str), emb=emb)
    log.info("shard %d/%d: %d passages", shard, n_shards, len(ids))


def index_factory(params: dict) -> str:
    kind = params["type"]
    if kind == "flat":
        return "Flat"
    if kind == "ivf":
        return f"IVF{params['nlist']},Flat"
    if kind == "hnsw":
        return f"HNSW{params['hnsw_m']}"
    if kind == "ivfpq":
        return f"IVF{params['nlist']},PQ{params['pq_m']}"
    raise ValueError(f"index.type: unknown {kind!r}; use flat, ivf, hnsw or ivfpq")


def build_index(inp: dict, out: dict, params: dict) -> None:
    import faiss

    ids, embs = [], []
    for path in inp["shards"]:
        with np.load(path, allow_pickle=False) as z:
            ids.append(z["ids"])
            embs.append(z["emb"].astype(np.float32))
    all_ids = np.concatenate(ids)
    emb = np.concatenate(embs)
    index = faiss.index_factory(emb.shape[1], index_factory(params), faiss.METRIC_INNER_PRODUCT)
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
        {"passages": int(len(all_ids)), "dim": int(emb.shape[1]), "factory": index_factory(params)},
    )
    log.info("index %s over %d passages", index_factory(params), len(all_ids))


def candidate_vectors(inp: dict, out: dict, params: dict) -> None:
    """The stored vectors of the passages query-mode distillation scores, in one small file.

    Its training candidates (each training question's top ``k``) and its dev pool (every dev
    question's candidates) are passages the initial index already holds, encoded by the same
    frozen passage encoder; each distillation job would otherwise encode them again. Reading them
    here once also makes distillation score exactly the vectors retrieval searches (float16 as
    stored, as ATLAS scores against its index).
    """
    k = int(params["k"])
    need: set[str] = set()
    for ex in read_jsonl(inp["train"]):
        need.update(str(c["id"]) for c in ex["ctxs"][:k])
    for ex in read_jsonl(inp["dev"]):
        need.update(str(c["id"]) for c in ex["ctxs"])
    wanted = np.array(sorted(need))
    ids, embs = [], []
    for path in inp["shards"]:
        with np.load(path, allow_pickle=False) as z:
            shard_ids = z["ids"]  # each access to an npz member reads it from the file again
            sel = np.isin(shard_ids, wanted)
            ids.append(shard_ids[sel])
            embs.append(z["emb"][sel])
    found = np.concatenate(ids) if ids else np.zeros(0, dtype=str)
    missing = need - set(found.tolist())
    if missing:
        raise KeyError(
            f"{', '.join(inp['shards'])}: {len(missing)} retrieved passages have no stored vector "
            f"(e.g. {sorted(missing)[:3]}); the retrieval results and the index do not match"
        )
    with atomic_path(out["vectors"], suffix=".npz") as tmp:
        np.savez(tmp, ids=found, emb=np.concatenate(embs))
    log.info("%d candidate vectors from %d shards", len(found), len(inp["shards"]))


class StoredVectors:
    """A ``candidate_vectors`` file, read once; :meth:`rows` looks passages up by id."""

    def __init__(self, path: str) -> None:
        self.path = path
        with np.load(path, allow_pickle=False) as z:
            self.row = {p: i for i, p in enumerate(z["ids"].tolist())}
            self.emb = z["emb"]

    def rows(self, ids: list[str]) -> np.ndarray:
        """Vectors of ``ids``, in that order, as float32."""
        missing = [p for p in ids if p not in self.row]
        if missing:
            raise KeyError(f"{self.path}: no vector for passages {missing[:3]} ({len(missing)} missing)")
        return self.emb[[self.row[p] for p in ids]].astype(np.float32)
