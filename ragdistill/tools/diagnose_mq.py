"""Why MQ comes out as it does: where a reader's answer attention goes, and MQ without each group.

Not a workflow stage: an analysis of finished attention dumps, which the README's investigation
of claim 4 quotes, so that its numbers come from a command rather than from a notebook.

    python -m ragdistill.tools.diagnose_mq results/world resources/models/smollm2 offtheshelf finetuned-s0

Each document token falls in one group (the first that applies):
- ``header``: the ``Document [i] (Title: ...)`` line, up to the ``)`` that closes it
  (parentheses counted; only an unbalanced title ends it early or late);
- ``answer``: inside a gold-answer span;
- ``q-entity``: the same token id as a token of a capitalised question word other than the first
  word (names: in the generated world the person asked about);
- ``q-other``: the same id as another question token (``the``, ``of``, ``born``...);
- ``q-similar``: input-embedding cosine to some question token at least ``sim_threshold``;
- ``rest``.

It prints each group's share of the document tokens and of the attention c(t), and MQ as the
indicators stage computes it beside variants that leave groups out. The variants are diagnostics:
the claims check uses MQ as defined in docs/method.md, whatever they show.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ragdistill.data.dumps import example, load_dump
from ragdistill.stages.indicators import input_embeddings, max_cosine, spearman, unit

GROUPS = ("header", "answer", "q-entity", "q-other", "q-similar", "rest")
_WORD_START = ("Ġ", "▁", " ")  # byte-level BPE, SentencePiece, plain


def entity_tokens(tokens: list[str]) -> np.ndarray:
    """True for the tokens of capitalised words other than the question's first word; punctuation
    attached to such a word (``?``) is not part of it."""
    flags = np.zeros(len(tokens), bool)
    word, capital = -1, False
    for i, t in enumerate(tokens):
        if i == 0 or t.startswith(_WORD_START):
            word += 1
            text = t.lstrip("".join(_WORD_START))
            capital = bool(text) and text[0].isupper()
        flags[i] = capital and word > 0 and any(c.isalnum() for c in t)
    return flags


def header_mask(tokens: list[str], doc: np.ndarray) -> np.ndarray:
    """True for each document's leading tokens up to the ``)`` that closes ``(Title: ...``.

    Parentheses are counted, so a title such as ``Mercury (planet)`` stays in the header; the
    header ends at the first token with a ``)`` after which none is left open.
    """
    mask = np.zeros(len(tokens), bool)
    for d in np.unique(doc):
        depth = 0
        for j in np.flatnonzero(doc == d):
            mask[j] = True
            depth += tokens[j].count("(") - tokens[j].count(")")
            if ")" in tokens[j] and depth <= 0:
                break
    return mask


def token_groups(
    tokens: list[str],
    ids: np.ndarray,
    doc: np.ndarray,
    answer: np.ndarray,
    q_ids: np.ndarray,
    q_entity: np.ndarray,
    q_sim: np.ndarray,
    sim_threshold: float,
) -> np.ndarray:
    """Index into GROUPS for each document token (the first group that applies)."""
    g = np.full(len(ids), GROUPS.index("rest"))
    # assigned from the last group to the first, so that the first that applies wins
    g[q_sim >= sim_threshold] = GROUPS.index("q-similar")
    g[np.isin(ids, q_ids[~q_entity])] = GROUPS.index("q-other")
    g[np.isin(ids, q_ids[q_entity])] = GROUPS.index("q-entity")
    g[answer] = GROUPS.index("answer")
    g[header_mask(tokens, doc)] = GROUPS.index("header")
    return g


def example_diagnostics(
    profile: np.ndarray,
    groups: np.ndarray,
    doc: np.ndarray,
    answer: np.ndarray,
    q_sim: np.ndarray,
    q_sim_other: np.ndarray | None,
) -> dict:
    """Group shares of tokens and of attention, and MQ variants, for one example.

    ``q_sim_other``: each token's max cosine to the question's non-entity tokens (None if the
    question has none)."""
    p = profile.astype(np.float64)
    total = p.sum()
    body = groups != GROUPS.index("header")
    no_entity = body & (groups != GROUPS.index("q-entity"))
    out = {
        "token_share": [float((groups == k).mean()) for k in range(len(GROUPS))],
        "attention_share": [
            float(p[groups == k].sum() / total) if total > 0 else np.nan for k in range(len(GROUPS))
        ],
        "mq": {
            "as defined": spearman(p, q_sim),
            "document bodies": spearman(p[body], q_sim[body]),
            "bodies without q-entity tokens": spearman(p[no_entity], q_sim[no_entity]),
        },
    }
    out["mq"]["bodies, similarity to non-entity question words"] = (
        spearman(p[body], q_sim_other[body]) if q_sim_other is not None else np.nan
    )
    if answer.any():
        held = np.isin(doc, np.unique(doc[answer]))
        out["mq"]["documents holding the answer"] = spearman(p[held], q_sim[held])
    return out


def diagnose_dump(dump: dict, vocab: list[str], emb_unit: np.ndarray, sim_threshold: float) -> dict:
    """Means over a dump's examples of :func:`example_diagnostics`."""
    rows = []
    for i in range(len(dump["ids"])):
        ex = example(dump, i)
        ids, doc, answer, q = ex["tok_ids"], ex["tok_doc"], ex["tok_answer"].astype(bool), ex["q_ids"]
        q_entity = entity_tokens([vocab[t] for t in q])
        t = emb_unit[ids]
        q_sim = max_cosine(t, emb_unit[q])
        other = q[~q_entity]
        q_sim_other = max_cosine(t, emb_unit[other]) if len(other) else None
        tokens = [vocab[x] for x in ids]
        groups = token_groups(tokens, ids, doc, answer, q, q_entity, q_sim, sim_threshold)
        rows.append(example_diagnostics(ex["tok_profile"], groups, doc, answer, q_sim, q_sim_other))
    mq_keys = list(dict.fromkeys(k for r in rows for k in r["mq"]))
    return {
        "examples": len(rows),
        "token_share": dict(zip(GROUPS, np.mean([r["token_share"] for r in rows], 0).tolist(), strict=True)),
        "attention_share": dict(
            zip(GROUPS, np.nanmean([r["attention_share"] for r in rows], 0).tolist(), strict=True)
        ),
        "mq": {k: float(np.nanmean([r["mq"].get(k, np.nan) for r in rows])) for k in mq_keys},
        "mq_values": [r["mq"]["as defined"] for r in rows],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m ragdistill.tools.diagnose_mq", description=__doc__.split("\n")[0]
    )
    ap.add_argument("run_dir", help="a run's results folder, e.g. results/world")
    ap.add_argument("model", help="the reader's model folder (tokenizer and input embeddings)")
    ap.add_argument("readers", nargs="+", help="reader names under <run_dir>/attention/")
    ap.add_argument("--sim-threshold", type=float, default=0.5, help="indicators.sim_threshold")
    args = ap.parse_args(argv)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    emb = unit(input_embeddings(args.model))
    vocab = tok.convert_ids_to_tokens(list(range(emb.shape[0])))
    vocab = [v if v is not None else "" for v in vocab]
    results = {
        r: diagnose_dump(load_dump(f"{args.run_dir}/attention/{r}/train.npz"), vocab, emb, args.sim_threshold)
        for r in args.readers
    }
    width = max(len(r) for r in results)
    print(f"{args.run_dir}: share of the document tokens (first line) and of each reader's attention")
    print(" " * (width + 2) + "".join(f"{g:>11s}" for g in GROUPS))
    first = next(iter(results.values()))
    print(f"{'tokens':{width}s}  " + "".join(f"{first['token_share'][g]:11.3f}" for g in GROUPS))
    for r, res in results.items():
        print(f"{r:{width}s}  " + "".join(f"{res['attention_share'][g]:11.3f}" for g in GROUPS))
    print("\nMQ (mean Spearman over examples)")
    keys = list(first["mq"])
    kw = max(len(k) for k in keys)
    print(" " * (kw + 2) + "".join(f"{r:>{max(width, 8) + 2}s}" for r in results))
    for k in keys:
        print(f"{k:{kw}s}  " + "".join(f"{res['mq'][k]:+{max(width, 8) + 2}.3f}" for res in results.values()))
    base_name, base = next(iter(results.items()))
    for r, res in list(results.items())[1:]:
        a, b = np.array(base["mq_values"]), np.array(res["mq_values"])
        if len(a) == len(b):
            ok = np.isfinite(a) & np.isfinite(b)
            print(f"{r}: MQ below {base_name}'s in {int((b[ok] < a[ok]).sum())} of {int(ok.sum())} examples")


if __name__ == "__main__":
    main(sys.argv[1:])
