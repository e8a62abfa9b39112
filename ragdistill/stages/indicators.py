"""Stage ``indicators``: does a reader's attention look like a good teacher's?

Our operational definitions of the paper's two indicators (docs/method.md), per example, from the
stored per-token contribution c(t) on document tokens and the reader's input embeddings:
- PAT_TN: among the top-N attended document tokens, the share that are answer-related (inside a
  gold-answer span, or with embedding cosine >= ``sim_threshold`` to some answer token);
- MQ: Spearman correlation over document tokens between c(t) and max cosine similarity of t's
  embedding to the question's tokens; a reader whose mean MQ passes ``mq_threshold`` is judged a
  good teacher.
Also the mean c(t) by signed distance to the nearest answer-span token in the same document,
and per example ``near_far``: the mean share of the example's document attention per token at
absolute distance ``near`` (default 1-2) from an answer token, minus the same at ``far`` (6-10);
positive when attention rises towards the answer. Every per-example value is stored (with the
question ids; MQ in ``mq_values``) so that the claims check can pair two readers example by example.
"""

from __future__ import annotations

import logging

import numpy as np

from ragdistill.analysis import stats
from ragdistill.core.files import reading, safetensors_error, write_json
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import IndicatorSettings
from ragdistill.data.dumps import example, load_dump

log = logging.getLogger(__name__)


# input-embedding weights by name: Llama, GPT-2, Falcon/BERT, and T5's shared embeddings
INPUT_EMBEDDINGS = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "shared.weight")


def input_embeddings(model_dir: str) -> np.ndarray:
    """The reader's input-embedding matrix, read straight from its safetensors (no forward pass)."""
    from pathlib import Path

    from safetensors import safe_open

    for f in sorted(Path(model_dir).glob("*.safetensors")):
        with reading(f, "the reader's weights", remove=model_dir, errors=safetensors_error()):
            with safe_open(str(f), "pt") as st:
                for name in st.keys():
                    if name.endswith(INPUT_EMBEDDINGS):
                        return st.get_tensor(name).float().numpy()
    raise KeyError(f"{model_dir}: no input-embedding matrix found in the safetensors files")


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def max_cosine(tokens_unit: np.ndarray, others_unit: np.ndarray) -> np.ndarray:
    """Each token's highest cosine to ``others``, rounded to 4 decimals. Why rounded: a token's
    cosine to itself comes out of float32 BLAS as anything from 0.9999995 to 1.0000002, varying
    with the thread count, and Spearman would rank those repeats by that noise (one example's MQ
    moved by 0.014 between one and two threads). Rounded, repeats tie exactly."""
    return np.round((tokens_unit @ others_unit.T).max(1), 4)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`ragdistill.analysis.stats.spearman`, NaN where it is undefined (averaged with ``nanmean``)."""
    rho = stats.spearman(a, b)
    return float("nan") if rho is None else rho


def example_indicators(
    profile, tok_ids, answer_mask, q_ids, a_ids, emb_unit, top_n: list[int], sim_threshold: float
) -> dict:
    t = emb_unit[tok_ids]
    a_sim = max_cosine(t, emb_unit[a_ids]) if len(a_ids) else np.zeros(len(tok_ids))
    related = answer_mask | (a_sim >= sim_threshold)
    order = np.argsort(-profile.astype(np.float64), kind="stable")
    pat = {n: float(related[order[:n]].mean()) for n in top_n if len(order)}
    q_sim = max_cosine(t, emb_unit[q_ids])
    return {"pat": pat, "mq": spearman(profile.astype(np.float64), q_sim)}


def distance_profile(profile, doc, answer_mask, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of c(t) per signed distance to the nearest answer token of the same document."""
    sums = np.zeros(2 * max_distance + 1)
    counts = np.zeros(2 * max_distance + 1)
    for d in np.unique(doc):
        sel = np.flatnonzero(doc == d)
        ans = np.flatnonzero(answer_mask[sel])
        if not len(ans):
            continue
        pos = np.arange(len(sel))
        diff = pos[:, None] - ans[None, :]
        nearest = diff[np.arange(len(pos)), np.abs(diff).argmin(1)]
        keep = np.abs(nearest) <= max_distance
        np.add.at(sums, nearest[keep] + max_distance, profile[sel][keep])
        np.add.at(counts, nearest[keep] + max_distance, 1)
    return sums, counts


def band_mean(sums: np.ndarray, counts: np.ndarray, band: tuple[int, int], max_distance: int) -> float | None:
    """Mean per token over absolute distances ``band`` (inclusive, both signs) of a distance
    profile's sums and counts; None where the band holds no token."""
    offsets = np.abs(np.arange(-max_distance, max_distance + 1))
    sel = (offsets >= band[0]) & (offsets <= band[1])
    n = counts[sel].sum()
    return float(sums[sel].sum() / n) if n else None


def near_far(profile, doc, answer_mask, near: tuple[int, int], far: tuple[int, int], max_distance: int):
    """Mean share of the example's document attention per token near an answer token minus far
    from it (None without answer tokens, or without tokens in either band). Shares, not raw c(t),
    so that readers whose attention has another overall scale compare on the same footing."""
    total = float(profile.sum())
    if total <= 0:
        return None
    s, c = distance_profile(profile / total, doc, answer_mask, max_distance)
    a, b = band_mean(s, c, near, max_distance), band_mean(s, c, far, max_distance)
    return None if a is None or b is None else a - b


def _finite(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def compute_indicators(inp: dict, out: dict, params: dict) -> None:
    """PAT_TN, MQ, the distance profile and near-far of one reader's dump, per example and mean."""
    cfg = from_params(IndicatorSettings, params)
    dump = load_dump(inp["dump"])
    emb = unit(input_embeddings(inp["model"]))
    top_n = [int(n) for n in cfg.top_n]
    sim = cfg.sim_threshold
    near, far, max_d = tuple(cfg.near), tuple(cfg.far), cfg.max_distance
    pats = {n: [] for n in top_n}
    mqs = []
    nf = []
    sums = np.zeros(2 * max_d + 1)
    counts = np.zeros(2 * max_d + 1)
    for i in range(len(dump["ids"])):
        ex = example(dump, i)
        prof = ex["tok_profile"].astype(np.float32)
        r = example_indicators(
            prof, ex["tok_ids"], ex["tok_answer"], ex["q_ids"], ex["a_ids"], emb, top_n, sim
        )
        for n in top_n:  # None keeps the per-example lists aligned with the ids
            pats[n].append(r["pat"].get(n))
        mqs.append(r["mq"])
        s, c = distance_profile(prof, ex["tok_doc"], ex["tok_answer"], max_d)
        sums += s
        counts += c
        nf.append(near_far(prof, ex["tok_doc"], ex["tok_answer"], near, far, max_d))
    mq = np.array(mqs, dtype=np.float64)
    mq_mean = float(np.nanmean(mq)) if np.isfinite(mq).any() else float("nan")
    result = {
        "reader": cfg.reader,
        "seed": int(cfg.seed),
        "examples": len(mqs),
        "pat": {str(n): float(np.mean([x for x in v if x is not None])) for n, v in pats.items()},
        "mq_mean": mq_mean,
        "mq_median": float(np.nanmedian(mq)) if np.isfinite(mq).any() else float("nan"),
        "mq_threshold": cfg.mq_threshold,
        "good_teacher": bool(mq_mean > cfg.mq_threshold),
        "mq_values": [_finite(v) for v in mq],
        "distance": {
            "offsets": list(range(-max_d, max_d + 1)),
            "mean": [float(s / c) if c else None for s, c in zip(sums, counts, strict=True)],
            "near": list(near),
            "far": list(far),
        },
        "per_example": {
            "ids": [str(q) for q in dump["ids"]],
            "pat": {str(n): v for n, v in pats.items()},
            "near_far": nf,
        },
    }
    write_json(out["indicators"], result)
    log.info("%s: PAT %s, MQ mean %.3f", cfg.reader, result["pat"], mq_mean)
