"""Stage ``distill``: train the retriever to match the teacher's distribution.

    s(q,d) = E_q(q) . E_p(d) / sqrt(hidden)        p_RETR = softmax_d(s / tau_score)
    p_TEACHER = softmax_d(S(d) / tau_gold)          loss = KL(p_TEACHER || p_RETR)

over the k documents the initial retriever returned for each training question (the documents
the teacher read: its targets exist for those only, so the training candidates stay fixed).
Query and passage encoders are separate copies of the initial retriever.

- ``query`` mode: only the query encoder learns. The passage encoder is frozen (ATLAS's
  query-side mode shares weights and so keeps changing the passage side; ours cannot), and the
  corpus index stays valid.
- ``both`` mode: both encoders learn; the candidates are re-encoded with gradients at every
  step. Retrieval during training (dev HR@5, which also picks the kept step) searches passage
  vectors refreshed every ``refresh_every`` steps, stale in between, as ATLAS's index refresh.
  The job writes the passage encoder too, and the workflow re-encodes the corpus with it.
"""

from __future__ import annotations

import copy
import logging
import math
import random
from pathlib import Path

import numpy as np
import torch

from . import models, resume
from .dumps import load_dump
from .encode import StoredVectors
from .files import read_jsonl, write_json, write_tsv
from .metrics import answer_table
from .resume import Best, trainable_weights

log = logging.getLogger(__name__)


def teacher_distribution(scores: torch.Tensor, tau_gold: float) -> torch.Tensor:
    return torch.softmax(scores / tau_gold, dim=-1)


def retriever_log_probs(q: torch.Tensor, d: torch.Tensor, tau_score: float) -> torch.Tensor:
    """log p_RETR for queries (B, H) against their documents (B, k, H)."""
    s = torch.einsum("bh,bkh->bk", q, d) / math.sqrt(q.shape[-1])
    return torch.log_softmax(s / tau_score, dim=-1)


def kl_loss(p_teacher: torch.Tensor, log_p_retr: torch.Tensor) -> torch.Tensor:
    """KL(p_teacher || p_retr), mean over the batch; the teacher gets no gradient."""
    p = p_teacher.detach()
    return (p * (torch.log(p.clamp_min(1e-30)) - log_p_retr)).sum(-1).mean()


def _targets(dump: dict[str, np.ndarray], path: str, key: str, examples: list[dict], k: int) -> np.ndarray:
    """The teacher's scores for ``examples``, checked to be on the same k documents."""
    if key not in dump:
        raise KeyError(f"{path}: no {key!r}; has {sorted(n for n in dump if n.startswith('scores_'))}")
    pos = {qid: i for i, qid in enumerate(dump["ids"].tolist())}
    out = np.zeros((len(examples), k), dtype=np.float32)
    for i, ex in enumerate(examples):
        j = pos[str(ex["id"])]
        if list(dump["ctx_ids"][j]) != [c["id"] for c in ex["ctxs"][:k]]:
            raise ValueError(f"{path}: targets for {ex['id']} were computed on other documents")
        out[i] = dump[key][j]
    return out


def _passage_embeddings(encoder, tok, texts: list[str], params: dict) -> np.ndarray:
    """Passage vectors as the index has them (passage length, pooling, normalisation)."""
    return models.embed_all(
        encoder,
        tok,
        texts,
        int(params["encode_batch_size"]),
        int(params["passage_max_length"]),
        params["pooling"],
        bool(params["normalize"]),
    )


def _passage_vectors(
    encoder, tok, ids: list[str], texts: list[str], params: dict, stored: StoredVectors | None
) -> np.ndarray:
    """Vectors of distinct passages: the index's stored vectors when given, else encoded."""
    if stored is not None:
        return stored.rows(ids)
    return _passage_embeddings(encoder, tok, texts, params)


def _doc_embeddings(
    encoder, tok, examples: list[dict], k: int, params: dict, stored: StoredVectors | None = None
) -> torch.Tensor:
    """(questions, k, hidden) passage vectors; each distinct passage is looked up once.

    Candidate lists overlap heavily (the same passages come back for many questions), so
    encoding by passage id instead of by slot saves most of the work.
    """
    slots = [c for ex in examples for c in ex["ctxs"][:k]]
    slot_ids = [str(c["id"]) for c in slots]
    unique: dict[str, int] = {}
    texts: list[str] = []
    for pid, c in zip(slot_ids, slots, strict=True):
        if pid not in unique:
            unique[pid] = len(texts)
            texts.append(models.passage_text(c["title"], c["text"]))
    emb = _passage_vectors(encoder, tok, list(unique), texts, params, stored)
    rows = torch.tensor([unique[pid] for pid in slot_ids], dtype=torch.long)
    return torch.from_numpy(emb)[rows].view(len(examples), k, -1)


def dev_pool(dev: list[dict]) -> tuple[list[str], list[str], np.ndarray]:
    """The dev questions' candidates pooled: (passage ids, retriever texts, has-answer table).

    Dev HR@5 is measured against this pool, every dev question against every candidate that
    the initial retriever returned for any dev question. Re-ranking only a question's own top K
    hides a query encoder drifting towards passages it was never trained against, which then
    win under full retrieval; the pool holds those (on a small corpus it is nearly all of it),
    and stays a few thousand passages on a 21M-passage corpus.
    """
    seen: set[str] = set()
    ids, texts, bodies = [], [], []
    for ex in dev:
        for c in ex["ctxs"]:
            pid = str(c["id"])
            if pid not in seen:
                seen.add(pid)
                ids.append(pid)
                texts.append(models.passage_text(c["title"], c["text"]))
                bodies.append(c["text"])
    return ids, texts, answer_table(bodies, [ex["answers"] for ex in dev])


def pool_hits(q_emb: torch.Tensor, d_pool: torch.Tensor, flags: torch.Tensor, at: int) -> float:
    """HR@at of queries (Q, H) searching the pooled passages (P, H); ``flags`` (Q, P)."""
    top = (q_emb @ d_pool.T).topk(min(at, d_pool.shape[0]), dim=-1).indices
    return float(flags.gather(1, top).any(1).float().mean())


def teacher_summary(p_teacher: torch.Tensor, train: list[dict], k: int) -> dict[str, float]:
    """How sharp and how right the teacher is, to calibrate ``tau_gold`` against.

    ``teacher_mean_top_p``: mean of the largest teacher probability (1/k is uniform, 1 one-hot).
    Over questions with an answer among the k: ``teacher_top1_hit``, the share whose most likely
    document holds the answer, beside ``retriever_top1_hit``, the same for the retriever's first.
    """
    flags = torch.tensor([[bool(c["has_answer"]) for c in ex["ctxs"][:k]] for ex in train])
    some = flags.any(1)
    top = p_teacher.argmax(1)
    n = max(1, int(some.sum()))
    return {
        "teacher_mean_top_p": round(float(p_teacher.max(1).values.mean()), 4),
        "teacher_top1_hit": round(float(flags[torch.arange(len(train)), top][some].sum()) / n, 4),
        "retriever_top1_hit": round(float(flags[:, 0][some].sum()) / n, 4),
        "questions_with_answer": int(some.sum()),
    }


def make_optimizer(trainable: list[torch.nn.Parameter], params: dict) -> torch.optim.Optimizer:
    """``distill.optimizer``: adamw (ATLAS's), or sgd with ``distill.momentum``."""
    name = params["optimizer"]
    lr, wd = float(params["lr"]), float(params["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(trainable, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(trainable, lr=lr, weight_decay=wd, momentum=float(params["momentum"]))
    raise ValueError(f"distill.optimizer: {name!r}; use 'adamw' or 'sgd'")


def _check(params: dict) -> None:
    if params["select"] not in ("best", "last"):
        raise ValueError(f"distill.select: {params['select']!r}; use 'best' or 'last'")
    if params["mode"] not in ("query", "both"):
        raise ValueError(f"distill.mode: {params['mode']!r}; use 'query' or 'both'")


def _batch_doc_embeddings(encoder, tok, examples: list[dict], k: int, params: dict) -> torch.Tensor:
    """(B, k, hidden) candidate vectors with the encoder's grad mode: ``both`` mode trains on them."""
    texts = [models.passage_text(c["title"], c["text"]) for ex in examples for c in ex["ctxs"][:k]]
    emb = models.embed(
        encoder, tok, texts, int(params["passage_max_length"]), params["pooling"], bool(params["normalize"])
    )
    return emb.view(len(examples), k, -1)


POOL = "_dev_pool"  # key of the refreshed dev-pool vectors among a checkpoint's extra tensors


def distill_retriever(inp: dict, out: dict, params: dict) -> None:
    from tqdm import tqdm

    _check(params)
    hp = params
    both = hp["mode"] == "both"
    k = int(hp["k"])
    seed = int(hp["seed"])
    refresh = int(hp["refresh_every"]) if both else 0
    models.set_seed(seed)
    device = models.pick_device()
    tok = models.load_tokenizer(inp["retriever"])
    passage_encoder = models.load_encoder(inp["retriever"]).to(device).eval()
    query_encoder = copy.deepcopy(passage_encoder)
    encoders = torch.nn.ModuleDict({"query": query_encoder, "passage": passage_encoder})
    for p in query_encoder.parameters():
        p.requires_grad_(True)
    for p in passage_encoder.parameters():
        p.requires_grad_(both)

    def train_mode() -> None:
        encoders.train()
        if not both:
            passage_encoder.eval()

    # the questions the teacher scored (attention.max_questions may cap them)
    dump = load_dump(inp["targets"])
    scored = set(dump["ids"].tolist())
    train = [ex for ex in read_jsonl(inp["train"]) if len(ex["ctxs"]) >= k and str(ex["id"]) in scored]
    scores = torch.from_numpy(_targets(dump, inp["targets"], hp["score_key"], train, k))
    p_teacher = teacher_distribution(scores, float(hp["tau_gold"]))
    teacher = teacher_summary(p_teacher, train, k)
    log.info("teacher: %s", teacher)
    # query mode: the passage side is the initial index's, whose stored vectors the workflow passes
    stored = StoredVectors(inp["vectors"]) if not both and inp.get("vectors") else None
    d_train = None if both else _doc_embeddings(passage_encoder, tok, train, k, hp, stored).to(device)
    dev = read_jsonl(inp["dev"])
    pool_ids, pool_texts, pool_flags = dev_pool(dev)
    dev_flags = torch.from_numpy(pool_flags).to(device)
    log.info("dev HR@5 against %d pooled candidates of %d dev questions", len(pool_texts), len(dev))

    def encode_pool() -> torch.Tensor:
        vectors = _passage_vectors(passage_encoder, tok, pool_ids, pool_texts, hp, stored)
        return torch.from_numpy(vectors).to(device)

    def dev_hr5(d_pool: torch.Tensor) -> float:
        q = torch.from_numpy(
            models.embed_all(
                query_encoder,
                tok,
                [ex["question"] for ex in dev],
                64,
                int(hp["max_length"]),
                hp["pooling"],
                bool(hp["normalize"]),
            )
        )
        train_mode()
        return pool_hits(q.to(device), d_pool, dev_flags, 5)

    opt = make_optimizer([p for p in encoders.parameters() if p.requires_grad], hp)
    steps, bs = int(hp["steps"]), int(hp["batch_size"])
    rng = random.Random(seed)
    ckpt = resume.Checkpointer.for_job("distill_retriever", inp, params, hp["checkpoint_every"])
    start, loop, extra = ckpt.restore(
        encoders, opt, None, rng, {"order": [], "curve": None, "best_step": 0, "index_step": 0}
    )
    # the passage vectors retrieval searches: restored as they were (stale since the last refresh)
    d_pool = extra.pop(POOL).to(device) if POOL in extra else encode_pool()
    order: list[int] = loop["order"]
    index_step: int = loop["index_step"]
    curve: list[dict] = loop["curve"] or [
        {"step": 0, "loss": float("nan"), "dev_hr5": dev_hr5(d_pool), "index_step": 0}
    ]
    best = Best(loop["best_step"], curve[loop["best_step"]]["dev_hr5"], extra or trainable_weights(encoders))
    train_mode()
    bar = tqdm(
        range(start + 1, steps + 1), desc="distill_retriever", initial=start, total=steps, mininterval=5
    )
    for step in bar:
        if len(order) < bs:
            more = list(range(len(train)))
            rng.shuffle(more)
            order.extend(more)
        idx, order = order[:bs], order[bs:]
        q = models.embed(
            query_encoder,
            tok,
            [train[i]["question"] for i in idx],
            int(hp["max_length"]),
            hp["pooling"],
            bool(hp["normalize"]),
        )
        if both:
            d = _batch_doc_embeddings(passage_encoder, tok, [train[i] for i in idx], k, hp)
        else:
            d = d_train[idx]
        loss = kl_loss(p_teacher[idx].to(device), retriever_log_probs(q, d, float(hp["tau_score"])))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if refresh and step % refresh == 0:
            d_pool, index_step = encode_pool(), step  # index refresh
            train_mode()
        row = {"step": step, "loss": loss.item(), "dev_hr5": float("nan"), "index_step": index_step}
        if step % int(hp["eval_every"]) == 0 or step == steps:
            row["dev_hr5"] = dev_hr5(d_pool)
            best.offer(step, row["dev_hr5"], encoders)
        curve.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}")
        ckpt.after_step(
            step,
            steps,
            encoders,
            opt,
            None,
            rng,
            {"order": order, "curve": curve, "best_step": best.step, "index_step": index_step},
            {**best.weights, POOL: d_pool},
        )
    selected = steps
    if hp["select"] == "best":
        encoders.load_state_dict(best.weights, strict=False)
        selected = best.step
    encoders.eval()
    out_dir = Path(out["query_encoder"])
    models.save_trained(query_encoder, tok, out_dir, inp["retriever"])
    if both:
        models.save_trained(passage_encoder, tok, out["passage_encoder"], inp["retriever"])
    write_json(
        out_dir / "ragdistill_retriever.json",
        {
            "passage_encoder": str(out["passage_encoder"] if both else inp["retriever"]),
            "mode": hp["mode"],
            "refresh_every": refresh,
            "teacher": str(inp["targets"]),
            "select": hp["select"],
            "selected_step": selected,
            "dev_hr5_selected": curve[selected]["dev_hr5"],
            **teacher,
        },
    )
    write_tsv(out["curve"], ["step", "loss", "dev_hr5", "index_step"], curve)
    ckpt.done()
    log.info(
        "dev HR@5 (pool): %.3f at step 0, %.3f at step %d (kept: step %d, %.3f)",
        curve[0]["dev_hr5"],
        curve[-1]["dev_hr5"],
        steps,
        selected,
        curve[selected]["dev_hr5"],
    )
