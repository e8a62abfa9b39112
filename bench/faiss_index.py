"""FAISS index choices on N x 384 unit vectors: build time, queries/s and recall@10 against flat.

The vectors are drawn around 1,000 random centres, as passage embeddings cluster by topic, so
that inverted lists behave as they do on real embeddings (uniform random vectors have no
structure for IVF to use). Queries are noisy copies of stored vectors.
"""

from __future__ import annotations

import time

import numpy as np

from ragdistill.encode import index_factory


def vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, dim)).astype(np.float32)
    x = centres[rng.integers(0, 1000, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bench_faiss(n: int, queries: int = 1000, dim: int = 384, top: int = 10) -> list[dict]:
    import faiss

    xb = vectors(n, dim)
    rng = np.random.default_rng(1)
    xq = xb[rng.integers(0, n, queries)] + 0.3 * rng.standard_normal((queries, dim)).astype(np.float32)
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
