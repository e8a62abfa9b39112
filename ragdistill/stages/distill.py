"""Stage ``distill``: train the retriever to match the teacher's distribution.

    s(q,d) = E_q(q) . E_p(d) / sqrt(hidden)        p_RETR = softmax_d(s / tau_score)
    p_TEACHER = softmax_d(S(d) / tau_gold)          loss = KL(p_TEACHER || p_RETR)

over the top N candidates the initial retriever returned for each training question
(``distill.candidates``; the teacher read them k at a time, ``attention.candidate_windows``, and
its targets exist for those only, so the training candidates stay fixed). PDist has its own
temperature (``distill.tau_pdist``). The ``uniform`` control teacher gives equal targets.
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
from statistics import NormalDist

import numpy as np
import torch

from ragdistill import models
from ragdistill.analysis.metrics import answer_table
from ragdistill.core.files import read_jsonl, write_json, write_tsv
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import DistillSettings
from ragdistill.data.dumps import RETRIEVER_META, load_dump
from ragdistill.data.vectors import StoredVectors
from ragdistill.models import layer_cache, resume
from ragdistill.models.resume import Best, trainable_weights

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


def _passage_embeddings(encoder, tok, texts: list[str], s: DistillSettings) -> np.ndarray:
    """Passage vectors as the index has them (passage length, pooling, normalisation)."""
    r = s.retriever
    return models.embed_all(encoder, tok, texts, r.batch_size, r.passage_max_length, r.pooling, r.normalize)


def _passage_vectors(
    encoder, tok, ids: list[str], texts: list[str], s: DistillSettings, stored: StoredVectors | None
) -> np.ndarray:
    """Vectors of distinct passages: the index's stored vectors when given, else encoded."""
    if stored is not None:
        return stored.rows(ids)
    return _passage_embeddings(encoder, tok, texts, s)


def _doc_embeddings(
    encoder, tok, examples: list[dict], k: int, s: DistillSettings, stored: StoredVectors | None = None
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
    emb = _passage_vectors(encoder, tok, list(unique), texts, s, stored)
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


def pool_hits(q_emb: torch.Tensor, d_pool: torch.Tensor, flags: torch.Tensor, at: int) -> np.ndarray:
    """Per query, a hit at ``at`` for queries (Q, H) searching the pooled passages (P, H);
    ``flags`` (Q, P). Its mean is HR@at."""
    top = (q_emb @ d_pool.T).topk(min(at, d_pool.shape[0]), dim=-1).indices
    return flags.gather(1, top).any(1).cpu().numpy()


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


FAMILY_ALPHA = 0.05


def z_needed(looks: int) -> float:
    """The one-sided z a step needs so that, over ``looks`` comparisons with step 0, the chance
    that any one passes by luck is at most 5% (Bonferroni: each at 0.05 / looks; 1.645 for one
    look, 1.960 for two, 2.128 for three)."""
    return NormalDist().inv_cdf(1 - FAMILY_ALPHA / max(1, looks))


def beats_step0(hits: np.ndarray, hits0: np.ndarray, looks: int = 1) -> tuple[int, int, bool]:
    """(wins, losses, significant): dev questions a step hits that step 0 missed and the reverse,
    and whether the step is better by a one-sided McNemar test at 0.05 / ``looks``,
    ``(wins - losses) / sqrt(wins + losses) >= z_needed(looks)`` (no discordant question: not
    better). ``looks``: how many steps the run compares with step 0; without the correction a
    run that looks three times keeps a step that is better by luck up to three times as often."""
    wins = int(np.sum(hits & ~hits0))
    losses = int(np.sum(~hits & hits0))
    if wins + losses == 0:
        return wins, losses, False
    return wins, losses, (wins - losses) / math.sqrt(wins + losses) >= z_needed(looks)


def make_optimizer(trainable: list[torch.nn.Parameter], s: DistillSettings) -> torch.optim.Optimizer:
    """``distill.optimizer``: adamw (ATLAS's), or sgd with ``distill.momentum``."""
    if s.optimizer == "adamw":
        return torch.optim.AdamW(trainable, lr=s.lr, weight_decay=s.weight_decay)
    return torch.optim.SGD(trainable, lr=s.lr, weight_decay=s.weight_decay, momentum=s.momentum)


def _batch_doc_embeddings(
    encoder, tok, examples: list[dict], k: int, s: DistillSettings, lower: LowerStates | None = None
) -> torch.Tensor:
    """(B, k, hidden) candidate vectors with the encoder's grad mode: ``both`` mode trains on them
    (through the top ``passage_layers`` only, on stored lower states, when ``lower`` is given)."""
    if lower is not None:
        return lower.embed([str(c["id"]) for ex in examples for c in ex["ctxs"][:k]]).view(
            len(examples), k, -1
        )
    texts = [models.passage_text(c["title"], c["text"]) for ex in examples for c in ex["ctxs"][:k]]
    r = s.retriever
    emb = models.embed(encoder, tok, texts, r.passage_max_length, r.pooling, r.normalize)
    return emb.view(len(examples), k, -1)


class LowerStates:
    """``distill.passage_layers``: the passage encoder's frozen layers run once per passage (every
    training question's candidates and the dev pool); each later encoding runs only its top
    layers on their stored output (``ragdistill/models/layer_cache.py``), the full forward exactly."""

    def __init__(self, encoder, tok, texts: dict[str, str], s: DistillSettings) -> None:
        ids = list(texts)
        self.encoder, self.s = encoder, s
        r = s.retriever
        states = layer_cache.lower_states(
            encoder, tok, [texts[i] for i in ids], r.passage_max_length, s.passage_layers, r.batch_size
        )
        self.states = dict(zip(ids, states, strict=True))
        log.info(
            "passage encoder: top %d layers train; the layers below ran once on %d passages",
            s.passage_layers,
            len(ids),
        )

    def embed(self, ids: list[str]) -> torch.Tensor:
        """(len(ids), hidden) with the encoder's current grad and train mode."""
        states = [self.states[i] for i in ids]
        return layer_cache.upper_embed(
            self.encoder, states, self.s.passage_layers, self.s.retriever.pooling, self.s.retriever.normalize
        )

    @torch.no_grad()
    def vectors(self, ids: list[str]) -> np.ndarray:
        """(len(ids), hidden) float32 in eval mode, as the index would have them; batches of
        similar length."""
        self.encoder.eval()
        order = sorted(range(len(ids)), key=lambda i: len(self.states[ids[i]]))
        out = np.zeros((len(ids), self.encoder.config.hidden_size), dtype=np.float32)
        bs = self.s.retriever.batch_size
        for b in range(0, len(order), bs):
            idx = order[b : b + bs]
            out[idx] = self.embed([ids[i] for i in idx]).float().cpu().numpy()
        return out


POOL = "_dev_pool"  # key of the refreshed dev-pool vectors among a checkpoint's extra tensors


class Encoders(torch.nn.ModuleDict):
    """The query encoder (trained) and the passage encoder (a frozen copy in query mode, trained
    too in both mode), as one module so that checkpoints and ``Best`` see both."""

    def __init__(self, retriever: str, both: bool, device, passage_layers: int | None = None) -> None:
        passage = models.load_encoder(retriever).to(device).eval()
        query = copy.deepcopy(passage)
        super().__init__({"query": query, "passage": passage})
        self.both = both
        for p in query.parameters():
            p.requires_grad_(True)
        for p in passage.parameters():
            p.requires_grad_(both)
        if both and passage_layers is not None:
            layer_cache.freeze_lower(passage, passage_layers)

    def train_mode(self) -> None:
        """Training mode, but a frozen passage encoder stays in eval mode (no dropout)."""
        self.train()
        if not self.both:
            self["passage"].eval()


class DevProbe:
    """Dev HR@5: every dev question searches the pool of all dev questions' candidates
    (:func:`dev_pool`), with passage vectors refreshed when the passage encoder trains."""

    def __init__(self, dev: list[dict], enc: Encoders, tok, s: DistillSettings, stored, device) -> None:
        self.dev, self.enc, self.tok, self.s, self.stored, self.device = dev, enc, tok, s, stored, device
        self.pool_ids, self.pool_texts, flags = dev_pool(dev)
        self.flags = torch.from_numpy(flags).to(device)
        self.lower: LowerStates | None = None  # set when the passage encoder trains its top layers only
        log.info("dev HR@5 against %d pooled candidates of %d dev questions", len(self.pool_texts), len(dev))

    def encode_pool(self) -> torch.Tensor:
        if self.lower is not None:
            vectors = self.lower.vectors(self.pool_ids)
        else:
            vectors = _passage_vectors(
                self.enc["passage"], self.tok, self.pool_ids, self.pool_texts, self.s, self.stored
            )
        return torch.from_numpy(vectors).to(self.device)

    def hits5(self, d_pool: torch.Tensor) -> np.ndarray:
        """(dev questions,) bool: each dev question's hit at 5 against the pool."""
        s = self.s
        questions = [ex["question"] for ex in self.dev]
        r = s.retriever
        q = models.embed_all(
            self.enc["query"], self.tok, questions, 64, r.query_max_length, r.pooling, r.normalize
        )
        self.enc.train_mode()
        return pool_hits(torch.from_numpy(q).to(self.device), d_pool, self.flags, 5)


def _teacher(inp: dict, s: DistillSettings) -> tuple[list[dict], torch.Tensor, dict]:
    """The questions the teacher scored (``attention.max_questions`` may cap them; the learning
    curve's ``max_questions`` takes the first of those), its distribution over their N
    candidates, and how sharp and right it is. The uniform control scores every candidate alike."""
    n = s.candidates
    train = [ex for ex in read_jsonl(inp["train"]) if len(ex["ctxs"]) >= n]
    if s.uniform:
        train = train[: s.max_questions or None]
        scores = torch.zeros((len(train), n))
    else:
        dump = load_dump(inp["targets"])
        scored = set(dump["ids"].tolist())
        train = [ex for ex in train if str(ex["id"]) in scored][: s.max_questions or None]
        scores = torch.from_numpy(_targets(dump, inp["targets"], s.score_key, train, n))
    # the uniform control's scores are all 0: any temperature gives equal targets
    p_teacher = teacher_distribution(scores, s.tau or 1.0)
    teacher = {"questions": len(train), "tau": s.tau, **teacher_summary(p_teacher, train, n)}
    log.info("teacher: %s", teacher)
    return train, p_teacher, teacher


def distill_retriever(inp: dict, out: dict, params: dict) -> None:
    """Distil the teacher's distribution into the query encoder (and, in both mode, the passage
    encoder): KL loss, dev HR@5 every ``eval_every`` steps, the best or the last step kept."""
    from tqdm import tqdm

    s = from_params(DistillSettings, params)
    r = s.retriever
    refresh = s.refresh_every if s.both else 0
    models.set_seed(s.seed)
    device = models.pick_device()
    tok = models.load_tokenizer(inp["retriever"])
    enc = Encoders(inp["retriever"], s.both, device, s.passage_layers)
    train, p_teacher, teacher = _teacher(inp, s)
    # query mode: the passage side is the initial index's, whose stored vectors the workflow passes
    stored = StoredVectors(inp["vectors"]) if not s.both and inp.get("vectors") else None
    n = s.candidates
    d_train = None if s.both else _doc_embeddings(enc["passage"], tok, train, n, s, stored).to(device)
    probe = DevProbe(read_jsonl(inp["dev"]), enc, tok, s, stored, device)
    lower = None
    if s.both and s.passage_layers is not None:
        texts = {
            str(c["id"]): models.passage_text(c["title"], c["text"]) for ex in train for c in ex["ctxs"][:n]
        }
        texts |= dict(zip(probe.pool_ids, probe.pool_texts, strict=True))
        lower = probe.lower = LowerStates(enc["passage"], tok, texts, s)
    opt = make_optimizer([p for p in enc.parameters() if p.requires_grad], s)
    rng = random.Random(s.seed)
    ckpt = resume.Checkpointer.for_job("distill_retriever", inp, params, s.checkpoint_every)
    start, loop, extra = ckpt.restore(
        enc, opt, None, rng, {"order": [], "curve": None, "best_step": 0, "index_step": 0, "hits0": None}
    )
    # the passage vectors retrieval searches: restored as they were (stale since the last refresh)
    d_pool = extra.pop(POOL).to(device) if POOL in extra else probe.encode_pool()
    order: list[int] = loop["order"]
    index_step: int = loop["index_step"]
    hits0 = np.asarray(loop["hits0"], dtype=bool) if loop["hits0"] is not None else probe.hits5(d_pool)
    curve: list[dict] = loop["curve"] or [
        {"step": 0, "loss": math.nan, "dev_hr5": float(hits0.mean()), "index_step": 0, "wins": 0, "losses": 0}
    ]
    best = Best(loop["best_step"], curve[loop["best_step"]]["dev_hr5"], extra or trainable_weights(enc))
    enc.train_mode()
    bar = tqdm(
        range(start + 1, s.steps + 1), desc="distill_retriever", initial=start, total=s.steps, mininterval=5
    )
    for step in bar:
        idx = resume.next_batch(order, rng, len(train), s.batch_size)
        q = models.embed(
            enc["query"], tok, [train[i]["question"] for i in idx], r.query_max_length, r.pooling, r.normalize
        )
        d = (
            _batch_doc_embeddings(enc["passage"], tok, [train[i] for i in idx], n, s, lower)
            if s.both
            else d_train[idx]
        )
        loss = kl_loss(p_teacher[idx].to(device), retriever_log_probs(q, d, s.tau_score))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if refresh and step % refresh == 0:
            d_pool, index_step = probe.encode_pool(), step  # index refresh
            enc.train_mode()
        row = {"step": step, "loss": loss.item(), "dev_hr5": math.nan, "index_step": index_step}
        row |= {"wins": math.nan, "losses": math.nan}
        if s.evaluates(step):
            hits = probe.hits5(d_pool)
            row["dev_hr5"] = float(hits.mean())
            row["wins"], row["losses"], better = beats_step0(hits, hits0, s.looks)
            if better or s.select != "significant":
                best.offer(step, row["dev_hr5"], enc)
        curve.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}")
        state = {"order": order, "curve": curve, "best_step": best.step, "index_step": index_step}
        state["hits0"] = hits0.tolist()
        ckpt.after_step(step, s.steps, enc, opt, None, rng, state, {**best.weights, POOL: d_pool})
    _save_distilled(enc, tok, inp, out, s, refresh, best, curve, teacher)
    ckpt.done()


def _save_encoders(enc: Encoders, tok, inp, out, prefix: str, s, refresh, teacher, step: int, curve) -> None:
    """The encoders as they are now, under ``out[prefix + "query_encoder"]`` (and the passage
    encoder's), with ``ragdistill_retriever.json`` saying which step they hold."""
    out_dir = Path(out[f"{prefix}query_encoder"])
    models.save_trained(enc["query"], tok, out_dir, inp["retriever"])
    if s.both:
        models.save_trained(enc["passage"], tok, out[f"{prefix}passage_encoder"], inp["retriever"])
    write_json(
        out_dir / RETRIEVER_META,
        {
            "passage_encoder": str(out[f"{prefix}passage_encoder"] if s.both else inp["retriever"]),
            "mode": s.mode,
            "refresh_every": refresh,
            "teacher": str(inp.get("targets") or "uniform"),
            "select": s.select if not prefix else "last (fixed step)",
            # the z a step needed against step 0 (select: significant), for this run's dev looks
            "select_z": round(z_needed(s.looks), 4),
            "selected_step": step,
            "dev_hr5_selected": curve[step]["dev_hr5"],
            **teacher,
        },
    )


def _save_distilled(enc: Encoders, tok, inp, out, s: DistillSettings, refresh, best, curve, teacher) -> None:
    """The kept encoders, ``ragdistill_retriever.json`` and the curve (``curve.tsv``); where the
    workflow asks for them (``last_query_encoder``), the last step's encoders too, the fixed-step
    retriever that shows what the teacher's targets did whatever the selection kept."""
    enc.eval()
    if s.select != "last" and "last_query_encoder" in out:
        _save_encoders(enc, tok, inp, out, "last_", s, refresh, teacher, s.steps, curve)
    selected = s.steps
    if s.select != "last":
        enc.load_state_dict(best.weights, strict=False)
        selected = best.step
    _save_encoders(enc, tok, inp, out, "", s, refresh, teacher, selected, curve)
    write_tsv(out["curve"], ["step", "loss", "dev_hr5", "index_step", "wins", "losses"], curve)
    log.info(
        "dev HR@5 (pool): %.3f at step 0, %.3f at step %d (kept: step %d, %.3f)",
        curve[0]["dev_hr5"],
        curve[-1]["dev_hr5"],
        s.steps,
        selected,
        curve[selected]["dev_hr5"],
    )
