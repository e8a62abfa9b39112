"""Cost against corpus size: encode, index and retrieve at 10k, 100k and 1M passages, measured here.

Why: the cost plan (``python -m ragdistill.tools.plan``) multiplies per-item rates; whether a
stage really grows linearly with the corpus (and whether its memory stays bounded where the
design streams or memory-maps) can only be seen by running it at several sizes. Each stage is
the workflow's own code:

- **encode**: ``encode_corpus`` on one shard holding the whole generated corpus (a DPR-style
  TSV streamed line by line), with an encoder of MiniLM's width (384) and one thin block, random
  weights and 8-token passages: memory and the data path are what grow with the corpus, the
  model's speed per passage is the encoding benchmark's;
- **index**: ``build_index`` over a shard of the same size, for flat, IVF-PQ and HNSW. The
  vectors are the clustered ones of ``bench/faiss_index.py`` (topics, spread in a few
  directions), so that the approximate indexes behave as on real embeddings, which a random
  encoder's outputs do not;
- **retrieve**: the index read back from disk and searched for the top 20 of 1,000 queries (the
  stage's search; encoding the questions does not grow with the corpus), with recall@20 of
  each approximate index against flat.

For each stage the growth exponent b of time = a * n^b between the two largest sizes and its
extrapolation to 21M passages (the DPR corpus) are printed; memory likewise. Peak memory
is the resident set's growth during the call (bench/measure.py), so each size also shows
whether a stage holds the corpus or streams it.
"""

from __future__ import annotations

import math
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import torch

from bench.faiss_index import vectors
from bench.inputs import dpr_corpus, thin_minilm
from bench.measure import measure
from bench.stages import _retriever
from bench.stages import _row as _table_row
from ragdistill.stages import encode

SIZES = (10_000, 100_000, 1_000_000)
DPR = 21_015_324  # passages of the DPR Wikipedia corpus (psgs_w100.tsv)
QUERIES, TOP = 1_000, 20


def _row(what: str, n: int, stage: str, seconds: float, peak_mb: float, **extra) -> dict:
    """A row of the benchmark's table (bench/stages.py), with the stage, size and seconds that
    :func:`growth` fits."""
    rate, unit = (QUERIES / seconds, "queries/s") if stage == "retrieve" else (n / seconds, "passages/s")
    what = f"{stage} {what} on {n:,} passages"
    return _table_row("scaling", what, rate, unit, peak_mb, stage=stage, passages=n, seconds=seconds, **extra)


def bench_encode(work: Path, device: torch.device, n: int) -> dict:
    """``encode_corpus`` over the whole generated corpus as one shard."""
    corpus, out = dpr_corpus(work, n), work / f"encoded-{n}.npz"
    params = {"shard": 0, "n_shards": 1, "retriever": _retriever(256, 8)}
    m = measure(
        lambda: encode.encode_corpus(
            {"corpus": str(corpus), "model": str(thin_minilm(work))}, {"shard": str(out)}, params
        ),
        device,
        repeats=1,
        warmup=0,
    )
    size_mb = corpus.stat().st_size / 2**20
    corpus.unlink()
    out.unlink()
    return _row(
        "(one shard, a one-block encoder of MiniLM's width)",
        n,
        "encode",
        m.seconds,
        m.peak_mb,
        tsv_mb=size_mb,
    )


def _settings(kind: str, n: int) -> dict:
    """The index settings: ``kind`` with about 4 sqrt(n) inverted lists; the rest the schema's."""
    return {"type": kind, "nlist": max(16, min(4096, int(4 * math.sqrt(n))))}


def _search(path: str, factory: str, xq: np.ndarray) -> np.ndarray:
    """The index read back from disk and searched for the top ``TOP`` of every query, with the
    approximate indexes' search settings of bench/faiss_index.py."""
    import faiss

    index = faiss.read_index(path)
    if factory != "Flat":
        knob = "nprobe=16" if "IVF" in factory else "efSearch=64"
        faiss.ParameterSpace().set_index_parameters(index, knob)
    return index.search(xq, TOP)[1]


def bench_index_and_search(
    work: Path, device: torch.device, n: int, kinds: tuple[str, ...] = ("flat", "ivfpq", "hnsw")
) -> list[dict]:
    """``build_index`` and a top-20 search of 1,000 queries for each index type, recall@20
    against flat (the first kind)."""
    xb = vectors(n, 384)
    shard = work / f"shard-{n}.npz"
    np.savez(shard, ids=np.array([f"p{i}" for i in range(n)]), emb=xb.astype(np.float16))
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((QUERIES, 384), dtype=np.float32) * (0.1 / np.sqrt(384))
    xq = xb[rng.integers(0, n, QUERIES)] + noise
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    del xb
    rows, truth = [], None
    for kind in kinds:
        folder = work / f"index-{kind}-{n}"
        folder.mkdir(exist_ok=True)
        out = {"index": str(folder / "index.faiss"), "ids": str(folder / "ids.npy")}
        out["meta"] = str(folder / "meta.json")
        params = _settings(kind, n)
        factory = encode.index_factory(params)
        inp = {"shards": [str(shard)]}
        built = measure(partial(encode.build_index, inp, out, params), device, repeats=1, warmup=0)
        size_mb = Path(out["index"]).stat().st_size / 2**20
        rows.append(_row(factory, n, "index", built.seconds, built.peak_mb, kind=kind, index_mb=size_mb))
        found: list[np.ndarray] = []
        searched = measure(
            lambda out=out, factory=factory, found=found: found.append(_search(out["index"], factory, xq)),
            device,
            repeats=1,
            warmup=0,
        )
        truth = found[0] if truth is None else truth
        pairs = zip(found[0], truth, strict=True)
        recall = float(np.mean([len(set(a) & set(b)) / TOP for a, b in pairs]))
        rows.append(
            _row(factory, n, "retrieve", searched.seconds, searched.peak_mb, kind=kind, recall_at_20=recall)
        )
        shutil.rmtree(folder)
    shard.unlink()
    return rows


# below this a memory growth is the sampler's noise, not the stage's (bench/measure.py)
MIN_MB = 50.0


def growth(rows: list[dict]) -> list[dict]:
    """Per stage and index: the exponent b of time = a * n^b between the two largest sizes (at
    small sizes fixed costs such as loading the model dominate, so a fit over all sizes would
    understate the growth), and of peak memory where both are above ``MIN_MB``; each
    extrapolated from the largest size to the DPR corpus."""
    out = []
    for key in sorted({(r["stage"], r.get("kind", "")) for r in rows}):
        same = [r for r in rows if (r["stage"], r.get("kind", "")) == key]
        series = sorted(same, key=lambda r: r["passages"])[-2:]
        if len(series) < 2:
            continue
        (small, large), ratio = series, series[1]["passages"] / series[0]["passages"]
        b_time = math.log(max(large["seconds"], 1e-9) / max(small["seconds"], 1e-9)) / math.log(ratio)
        b_mem = float("nan")
        if min(small["peak_mb"], large["peak_mb"]) >= MIN_MB:
            b_mem = math.log(large["peak_mb"] / small["peak_mb"]) / math.log(ratio)
        scale = DPR / large["passages"]
        out.append(
            {
                "section": "scaling",
                "what": f"growth of {' '.join(filter(None, key))}, "
                f"{small['passages']:,} to {large['passages']:,}: "
                f"time ~ n^{b_time:.2f}, memory ~ n^{b_mem:.2f}",
                "rate": large["seconds"] * scale**b_time,
                "unit": "s at 21M (extrapolated)",
                "peak_mb": large["peak_mb"] * scale**b_mem,
                "stage": key[0],
                "time_exponent": b_time,
                "memory_exponent": b_mem,
            }
        )
    return out


def bench_scaling(work: Path, device: torch.device, sizes: tuple[int, ...] = SIZES) -> list[dict]:
    rows = []
    for n in sizes:
        rows.append(bench_encode(work, device, n))
        rows += bench_index_and_search(work, device, n)
    return rows + growth(rows)
