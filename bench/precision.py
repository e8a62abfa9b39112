"""``python -m bench --only precision``: each reader pass and corpus encoding in float32 and in
bfloat16, each against the matrix-product roofline measured in the same run.

The roofline of a precision is the rate of a bare matrix product of the reader's MLP shape in
it (GFLOP/s). A pass's share of it is the FLOPs of its matrix products (every ``nn.Linear`` it
runs, counted from the layer shapes, times the tokens it runs them on; the LM head only where
the pass computes logits) over its time, divided by that rate: 1.0 would mean the pass does
nothing but matrix products at the bare product's speed. bfloat16 runs as the workflow runs it
(``model_jobs.precision``): weights cast once for the no-grad passes, autocast over float32
weights for training. Where the processor has no bfloat16 units (no ``avx512_bf16`` or AMX;
``models.cpu_has_bf16``) torch emulates the products, and the roofline itself shows it.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.inputs import model_dir, reader_prompts
from bench.measure import measure
from ragdistill import models, readers

MLP_SHAPE = (1360, 576, 1536)  # 4 prompts of ~340 tokens through SmolLM2's MLP


def matmul_rate(dtype: torch.dtype, device: torch.device, reps: int = 10) -> float:
    """GFLOP/s of a bare (m x k) @ (k x n) product in ``dtype``: the roofline of that precision."""
    m, k, n = MLP_SHAPE
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    for _ in range(2):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9


def linear_flops(model, skip: str = "lm_head") -> tuple[float, float]:
    """(FLOPs per token of every ``nn.Linear`` but ``skip``, FLOPs per token of ``skip``)."""
    body = head = 0.0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            f = 2.0 * mod.in_features * mod.out_features
            if name.endswith(skip):
                head += f
            else:
                body += f
    return body, head


def bench_precision(work: Path, device: torch.device, batch: int, batches: int) -> list[dict]:
    """Per precision: the roofline, and training, the attention dump, answer scoring (PDist) and
    answering in tokens/s with their share of that roofline; encoding in passages/s."""
    path, label = model_dir("smollm2", work)
    tok = models.load_tokenizer(path)
    prompts = reader_prompts(batch * batches, len(tok), seed=2)
    groups = [prompts[s : s + batch] for s in range(0, len(prompts), batch)]
    tokens = sum(len(p.input_ids) for p in prompts)
    answer_tokens = sum(p.answer_span[1] - p.answer_span[0] for p in prompts)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    asks = [
        type(p)(p.input_ids[: p.answer_span[0]], p.doc_spans, p.question_span, None, p.answer_span[0], [])
        for p in prompts
    ]
    rows: list[dict] = []
    for dtype in (torch.float32, torch.bfloat16):
        name = str(dtype).removeprefix("torch.")
        roof = matmul_rate(dtype, device)
        rows.append(
            _row(f"bare matmul {'x'.join(map(str, MLP_SHAPE))} ({name}): the roofline", roof, "GFLOP/s")
        )
        base = readers.load(path).to(device)
        body, head = linear_flops(base)
        top = readers.of(base)
        n_blocks = len(top.blocks())
        train_layers = 8
        no_grad = models.in_precision(readers.load(path).to(device).eval(), dtype)
        dec = readers.of(no_grad)
        capture = models.in_precision(_capture_model(path).to(device).eval(), dtype)
        cap = readers.of(capture)

        def dump(cap=cap):
            for g in groups:
                cap.token_profiles(g, pad_id)

        @torch.no_grad()
        def score(dec=dec):
            for g in groups:
                dec.answer_nll(readers.to_device(dec.batch(g, pad_id, with_stop=False), device))

        top.freeze_below(train_layers)
        opt = torch.optim.AdamW([p for p in base.parameters() if p.requires_grad], lr=1e-5)

        def train(base=base, top=top, opt=opt, dtype=dtype):
            base.train()
            for g in groups:
                b = readers.to_device(top.batch(g, pad_id), device)
                with models.autocast(dtype, device):
                    loss = top.answer_nll(b).float().mean()
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

        passes = {
            # forward of every block, backward (inputs and weights) of the top ones
            "training (top 8 blocks)": (train, tokens, tokens * (body * (1 + 2 * train_layers / n_blocks))),
            "attention dump": (dump, tokens, tokens * body),
            "answer scoring (PDist)": (score, tokens, tokens * body + answer_tokens * head),
            "answering (greedy, 12 new tokens)": (
                lambda dec=dec: dec.answer(tok, asks, 12, batch),
                tokens,
                None,  # generation: prefill plus up to 12 steps, not counted
            ),
        }
        for what, (fn, n_tokens, flops) in passes.items():
            m = measure(fn, device, repeats=1)
            extra = {"roofline_share": flops / m.seconds / 1e9 / roof} if flops else {}
            rows.append(
                _row(f"{what}, {label}, batch {batch} ({name})", n_tokens / m.seconds, "tokens/s", **extra)
            )
        rows += _encoding(work, device, dtype, name, roof)
    return rows


def _capture_model(path: str):
    from ragdistill.stages import attention

    return attention.load_reader_for_capture(path)


def _encoding(work: Path, device: torch.device, dtype: torch.dtype, name: str, roof: float) -> list[dict]:
    """MiniLM's forward over generated passages, as the encoding stage runs it (weights cast)."""
    import random

    from bench.inputs import words

    path, label = model_dir("minilm", work)
    tok = models.load_tokenizer(path)
    model = models.in_precision(models.load_encoder(path).to(device).eval(), dtype)
    rng = random.Random(0)
    texts = [words(rng, rng.randrange(30, 70)) for _ in range(256)]
    batch = models.tokenize_texts(tok, texts, 128)
    body, _ = linear_flops(model, skip="pooler.dense")
    n_tokens = int(batch["attention_mask"].numel())

    @torch.no_grad()
    def run():
        for s in range(0, len(texts), 64):
            models.embed_batch(model, {k: v[s : s + 64].to(device) for k, v in batch.items()}, "mean", True)

    m = measure(run, device, repeats=1)
    share = n_tokens * body / m.seconds / 1e9 / roof
    return [
        _row(
            f"encoding, {label}, batch 64 ({name})",
            len(texts) / m.seconds,
            "passages/s",
            roofline_share=share,
        )
    ]


def _row(what: str, rate: float, unit: str, **extra) -> dict:
    return {
        "section": "precision",
        "what": what,
        "rate": rate,
        "unit": unit,
        "peak_mb": float("nan"),
        **extra,
    }
