"""FAISS index choices on N x 384 unit vectors: build time, queries/s and recall@10 against flat.

The vectors are drawn around 1,000 random centres, as passage embeddings cluster by topic, so
that inverted lists behave as they do on real embeddings (uniform random vectors have no
structure for IVF to use); within a topic they spread along 16 directions with a little
isotropic noise, so that nearest neighbours are well defined, as on real embeddings (isotropic
noise in 384 dimensions makes the true top 10 near-ties that no approximate index can
recover). Queries are stored vectors moved by noise of norm 0.1.
"""

from __future__ import annotations

import time

import numpy as np

from ragdistill.stages.encode import index_factory


def vectors(n: int, dim: int, seed: int = 0, topics: int = 1000, latent: int = 16) -> np.ndarray:
    """n unit vectors: topic centre (norm ~1) + spread of norm ~0.5 in a ``latent``-dimensional
    subspace + isotropic noise of norm ~0.05; made in chunks, so 1M x 384 needs no more than
    the result (1.5 GB)."""
    rng = np.random.default_rng(seed)
    centres = (rng.standard_normal((topics, dim)) / np.sqrt(dim)).astype(np.float32)
    basis = (rng.standard_normal((latent, dim)) * 0.5 / np.sqrt(latent * dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(n, s + 100_000) - s
        x = centres[rng.integers(0, topics, m)] + rng.standard_normal((m, latent), dtype=np.float32) @ basis
        x += rng.standard_normal((m, dim), dtype=np.float32) * (0.05 / np.sqrt(dim))
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def bench_faiss(n: int, queries: int = 1000, dim: int = 384, top: int = 10) -> list[dict]:
    import faiss

    xb = vectors(n, dim)
    rng = np.random.default_rng(1)
    xq = xb[rng.integers(0, n, queries)] + rng.standard_normal((queries, dim), dtype=np.float32) * (
        0.1 / np.sqrt(dim)
    )
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    nlist = max(16, min(1024, int(4 * np.sqrt(n))))
    settings = [
        ({"type": "flat"}, {}),
        ({"type": "ivf", "nlist": nlist}, {"nprobe": 16}),
        ({"type": "hnsw", "hnsw_m": 32}, {"efSearch": 64}),
        ({"type": "ivfpq", "nlist": nlist, "pq_m": 16}, {"nprobe": 16}),
    ]
    rows, truth = [], None
    for params, search in settings:
        factory = index_factory(params)
        t0 = time.perf_counter()
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            index.train(xb[: min(n, 100 * nlist)])
        index.add(xb)
        build = time.perf_counter() - t0
        if search:
            faiss.ParameterSpace().set_index_parameters(
                index, ",".join(f"{k}={v}" for k, v in search.items())
            )
        t0 = time.perf_counter()
        _, ids = index.search(xq, top)
        secs = time.perf_counter() - t0
        if truth is None:
            truth = ids
        recall = float(np.mean([len(set(a) & set(b)) / top for a, b in zip(ids, truth, strict=True)]))
        what = f"{factory} {search or ''} on {n:,} x {dim}".replace("{}", "").strip()
        rows.append(
            {
                "section": "faiss",
                "what": what,
                "rate": queries / secs,
                "unit": "queries/s",
                "peak_mb": float("nan"),
                "recall@10": recall,
                "build_s": build,
            }
        )
    return rows
