"""Each model stage against the bare model doing the same arithmetic, side by side in one run.

- data: the host side of an encoding job alone (passages/s delivered as token batches): the TSV
  read and tokenised in the job against the token ids ``tokenize_corpus`` stored once;
- encoding: ``encode_corpus`` end to end as the workflow runs it (read the stored ids, length-sort,
  pad, forward, pool, write float16) against the encoder's forward alone on the same batches;
- attention dump: ``token_profiles`` (SDPA plus the answer rows) against a plain SDPA forward of
  the same batch and against the textbook eager ``output_attentions=True`` forward;
- reader: training examples/s (one optimizer step of ``finetune_reader``'s kind) and answering
  examples/s (greedy generation as ``answer_questions`` runs it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from bench.inputs import dpr_corpus, fid_prompts, model_dir, reader_prompts, thin_minilm
from bench.measure import measure
from ragdistill import models, readers
from ragdistill.readers import fid
from ragdistill.stages import attention, encode


def _retriever(batch_size: int, max_length: int) -> dict:
    """The ``retriever`` section as encode_corpus's rule passes it (no query length)."""
    return {"model": "m", "pooling": "mean", "normalize": True, "batch_size": batch_size} | {
        "passage_max_length": max_length
    }


def _row(section: str, what: str, rate: float, unit: str, peak_mb: float, **extra) -> dict:
    return {"section": section, "what": what, "rate": rate, "unit": unit, "peak_mb": peak_mb, **extra}


def _write_corpus(work: Path, passages: int) -> tuple[Path, list[tuple[str, str, str]]]:
    """A DPR TSV of ``passages`` generated passages of 20-90 words (seeded), and its rows."""
    corpus = dpr_corpus(work, passages)
    with open(corpus, encoding="utf-8") as f:
        next(f)
        rows = [tuple(line.rstrip("\n").split("\t")) for line in f]
    return corpus, rows


def bench_data_path(
    work: Path, passages: int, batch_sizes: tuple[int, ...], name: str = "minilm"
) -> list[dict]:
    """What an encoding job's host side delivers, with no model: passages/s handed over as padded
    token batches, reading and tokenising the TSV in the job (the path before the token ids) against
    reading the ids that ``tokenize_corpus`` stored (memory-mapped Arrow), side by side; and the
    one-off cost of ``tokenize_corpus`` itself."""
    import time

    path, _ = model_dir(name, work)
    corpus, _ = _write_corpus(work, passages)
    tok = models.load_tokenizer(path)
    tokens = work / f"tokens-{passages}"
    t0 = time.perf_counter()
    encode.tokenize_corpus(
        {"corpus": str(corpus), "model": path}, {"tokens": str(tokens)}, {"max_length": 128}
    )
    out = [
        _row(
            "data",
            f"tokenize_corpus once, {passages:,} passages",
            passages / (time.perf_counter() - t0),
            "passages/s",
            float("nan"),
        )
    ]
    batcher = models.BatchTokenizer(tok, 128)
    for bs in batch_sizes:

        def tsv(bs=bs):
            for _ids, texts in encode.shard_chunks(corpus, 0, 1):
                encode.sorted_batches(batcher.arrays, texts, bs)

        def arrow(bs=bs):
            for chunk in encode.token_chunks(tokens, 0, 1):
                encode.padded_batches(chunk, bs, tok)

        rate = {}
        for label, fn in (("TSV read and tokenised in the job", tsv), ("stored token ids (Arrow)", arrow)):
            m = measure(fn, torch.device("cpu"), repeats=2, warmup=0)
            rate[label] = passages / m.seconds
            out.append(_row("data", f"{label}, batches of {bs}", rate[label], "passages/s", m.peak_mb))
        out.append(
            _row(
                "data",
                f"stored ids / TSV path, batches of {bs}",
                rate["stored token ids (Arrow)"] / rate["TSV read and tokenised in the job"],
                "ratio",
                float("nan"),
            )
        )
    return out


def bench_encoding(
    work: Path, device: torch.device, passages: int, batch_sizes: tuple[int, ...], name: str = "minilm"
) -> list[dict]:
    """``encode_corpus`` against a raw forward of the same model on the same pre-tokenised batches,
    once per batch size (on a GPU, MiniLM at 64 per batch is bound by launching kernels, not by
    the GPU, so a GPU run also times the larger batch a user would configure there)."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # as in a workflow job (runner.py)
    path, label = model_dir(name, work)
    corpus, rows = _write_corpus(work, passages)
    tokens = work / f"tokens-{name}-{passages}"  # as the workflow runs it: ids stored once, then read
    encode.tokenize_corpus(
        {"corpus": str(corpus), "model": path}, {"tokens": str(tokens)}, {"max_length": 128}
    )
    tok = models.load_tokenizer(path)
    model = models.load_encoder(path).to(device).eval()
    if device.type == "cuda":
        model = model.to(torch.bfloat16)
    texts = sorted((models.passage_text(title, text) for _, text, title in rows), key=len)
    repeats = 2 if device.type == "cuda" else 1  # seconds there; on a CPU one pass is minutes
    workers = encode.tokenize_workers(None, device, models.BatchTokenizer(tok, 128))  # what the stage uses
    out: list[dict] = []
    for bs in batch_sizes:
        params = {
            "shard": 0,
            "n_shards": 1,
            "retriever": _retriever(bs, 128),
            "tokenize_workers": None,  # the default: processes on a GPU, a thread on a CPU
            "precision": "auto",  # bf16 weights on a GPU, as the raw forward below
        }
        shard = {"shard": str(work / f"shard-{name}.npz")}
        batches = [
            tok(texts[s : s + bs], padding=True, truncation=True, max_length=128, return_tensors="pt").to(
                device
            )
            for s in range(0, len(texts), bs)
        ]

        @torch.no_grad()
        def raw(batches=batches):
            for b in batches:
                model(**b)

        raw()  # once untimed: the stage then starts, like the raw forward, with the device's context up
        stage = measure(
            lambda params=params, shard=shard: encode.encode_corpus(
                {"tokens": str(tokens), "model": path}, shard, params
            ),
            device,
            repeats=repeats,
            warmup=0,
        )
        with np.load(shard["shard"]) as z:
            assert len(z["ids"]) == passages
        bare = measure(raw, device, repeats=repeats, warmup=0)
        rate_stage, rate_raw = passages / stage.seconds, passages / bare.seconds
        out += [
            _row(
                "encoding",
                f"encode_corpus stage, {label}, batch {bs}",
                rate_stage,
                "passages/s",
                stage.peak_mb,
                tokenize_workers=workers,
            ),
            _row(
                "encoding", f"raw forward, {name}, same batches of {bs}", rate_raw, "passages/s", bare.peak_mb
            ),
            _row(
                "encoding",
                f"stage / raw forward, {name}, batch {bs}",
                rate_stage / rate_raw,
                "ratio",
                float("nan"),
                target=">= 0.8",
            ),
        ]
        del batches
    return out


def bench_corpus_scale(work: Path, device: torch.device, passages: int, shards: int = 2) -> list[dict]:
    """Memory of one corpus shard job at scale: ``encode_corpus`` on shard 0 of ``shards`` of a
    generated ``passages``-line DPR TSV.

    The encoder is MiniLM's width (384, so the stored embeddings are as large as the real
    ones) with one thin block and 8-token passages, so that a CPU gets through half a million
    passages in minutes; memory is what is measured here, speed is measured by the encoding
    section. The growth of the resident set includes that small model.
    """
    path = thin_minilm(work)
    label = "an encoder of MiniLM's width (384) with one thin block (random weights)"
    corpus = dpr_corpus(work, passages)
    params = {"shard": 0, "n_shards": shards, "retriever": _retriever(256, 8)}
    out = {"shard": str(work / "scale-shard.npz")}
    m = measure(
        lambda: encode.encode_corpus({"corpus": str(corpus), "model": str(path)}, out, params),
        device,
        repeats=1,
        warmup=0,
    )
    with np.load(out["shard"]) as z:
        stored = len(z["ids"])
    size_mb = corpus.stat().st_size / 2**20
    corpus.unlink()
    what = f"encode_corpus shard 1 of {shards}: {stored:,} of {passages:,} passages"
    what += f" ({size_mb:,.0f} MB TSV), {label}"
    return [
        _row("corpus", what, stored / m.seconds, "passages/s", m.peak_mb, target="peak MB < 2048"),
    ]


def bench_attention(
    work: Path, device: torch.device, name: str, batch: int, batches: int, layers: int | None = None
) -> list[dict]:
    from transformers import AutoModelForCausalLM

    path, label = model_dir(name, work, layers)
    kwargs = {"dtype": torch.float32}
    plain = AutoModelForCausalLM.from_pretrained(path, attn_implementation="sdpa", **kwargs).to(device).eval()
    capture = attention.load_reader_for_capture(path).to(device).eval()  # as dump_attention loads it
    prompts = reader_prompts(batch * batches, plain.config.vocab_size)
    groups = [prompts[s : s + batch] for s in range(0, len(prompts), batch)]
    padded = [readers.pad([p.input_ids for p in g], 0) for g in groups]
    tokens = sum(len(p.input_ids) for p in prompts) / len(prompts)

    @torch.no_grad()
    def sdpa():
        for ids, mask in padded:
            plain(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=1)

    capturing = readers.of(capture)

    def dump():
        for g in groups:
            capturing.token_profiles(g, 0)

    m_plain = measure(sdpa, device)
    m_dump = measure(dump, device)
    eager = (
        AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", **kwargs).to(device).eval()
    )

    @torch.no_grad()
    def textbook():
        for ids, mask in padded:
            eager(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                output_attentions=True,
                logits_to_keep=1,
            )

    m_eager = measure(textbook, device)
    what = f"{label}, batch {batch} x ~{tokens:.0f} tokens, 6 answer tokens"
    return _attention_rows(name, what, len(prompts), m_plain, m_dump, m_eager)


def _attention_rows(name: str, what: str, n: int, m_plain, m_dump, m_eager) -> list[dict]:
    """The attention section's rows: each way's rate, dump / plain and dump / eager."""
    rows = []
    for tag, m in (
        ("plain SDPA forward", m_plain),
        ("attention dump", m_dump),
        ("eager output_attentions", m_eager),
    ):
        rows.append(_row("attention", f"{tag}: {what}", n / m.seconds, "examples/s", m.peak_mb))
    rows.append(
        _row(
            "attention",
            f"dump / plain forward ({name})",
            m_plain.seconds / m_dump.seconds,
            "ratio",
            m_dump.peak_mb / max(m_plain.peak_mb, 1e-9),
            target=">= 0.8",
            note="peak_mb column: dump / plain memory",
        )
    )
    rows.append(
        _row(
            "attention",
            f"dump / eager reference ({name})",
            m_eager.seconds / m_dump.seconds,
            "ratio",
            float("nan"),
        )
    )
    return rows


def bench_fid_attention(work: Path, device: torch.device, name: str, batch: int, batches: int) -> list[dict]:
    """The encoder-decoder reader: the FiD forward pass plain, with the cross-attention dump (hooks
    on each decoder block's cross-attention), and with eager ``output_attentions``."""
    path, label = model_dir(name, work)
    plain = readers.load(path, attn_implementation="sdpa").to(device).eval()
    capture = attention.load_reader_for_capture(path).to(device).eval()  # as dump_attention loads it
    eager = readers.load(path, attn_implementation="eager").to(device).eval()
    prompts = fid_prompts(batch * batches, plain.config.vocab_size)
    groups = [prompts[s : s + batch] for s in range(0, len(prompts), batch)]
    batches_t = [readers.to_device(readers.of(plain).batch(g, 0), device) for g in groups]
    tokens = sum(len(p.input_ids) for p in prompts) / len(prompts)

    @torch.no_grad()
    def forward(model, **extra):
        for b in batches_t:
            fid.decoder_forward(model, b, **extra)

    capturing = readers.of(capture)

    def dump():
        for g in groups:
            capturing.token_profiles(g, 0)

    m_plain = measure(lambda: forward(plain), device)
    m_dump = measure(dump, device)
    m_eager = measure(lambda: forward(eager, output_attentions=True), device)
    what = f"{label}, FiD, batch {batch} x 5 passages, ~{tokens:.0f} encoder tokens, 6 answer tokens"
    return _attention_rows(name, what, len(prompts), m_plain, m_dump, m_eager)


def bench_reader(
    work: Path, device: torch.device, batch: int, batches: int, train_layers: int = 8
) -> list[dict]:
    path, label = model_dir("smollm2", work)
    tok = models.load_tokenizer(path)
    model = readers.load(path).to(device)
    prompts = reader_prompts(batch * batches, len(tok), seed=1)
    groups = [prompts[s : s + batch] for s in range(0, len(prompts), batch)]
    models.set_seed(0)
    dec = readers.of(model)
    dec.freeze_below(train_layers)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0

    def train():
        model.train()
        for g in groups:
            batch_t = {n: t.to(device) for n, t in dec.batch(g, pad_id).items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = dec.answer_nll(batch_t).mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    m_train = measure(train, device, repeats=2)
    asks = [
        type(p)(p.input_ids[: p.answer_span[0]], p.doc_spans, p.question_span, None, p.answer_span[0], [])
        for p in prompts
    ]
    m_answer = measure(lambda: dec.answer(tok, asks, 12, batch), device, repeats=2)
    n = len(prompts)
    return [
        _row(
            "reader",
            f"training (top {train_layers} blocks), {label}, batch {batch}",
            n / m_train.seconds,
            "examples/s",
            m_train.peak_mb,
        ),
        _row(
            "reader",
            f"answering, greedy, up to 12 new tokens, batch {batch}",
            n / m_answer.seconds,
            "examples/s",
            m_answer.peak_mb,
        ),
    ]
