"""Stage ``reader``: fine-tune the reader on the task (and make the ``random`` control reader).

Fine-tuning is plain LM training whose loss covers only the answer tokens and the token that ends
them (a decoder-only reader's newline, a Fusion-in-Decoder reader's EOS): the documents and the
question are context, not targets. Everything that depends on the reader's kind (prompt layout,
batches, the answer's NLL, which blocks train, greedy answers for dev EM) is the reader's own,
``ragdistill/readers/``.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import torch

from ragdistill import models, readers
from ragdistill.analysis.metrics import exact_match
from ragdistill.core.files import read_jsonl, write_json
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import FinetuneJob, FinetuneSettings, NoiseSettings, RandomReaderSettings
from ragdistill.models import resume
from ragdistill.readers import Reader, to_device
from ragdistill.readers.prompts import Prompt

log = logging.getLogger(__name__)


def with_answer_in_context(example: dict, k: int) -> dict:
    """If none of the top k ctxs holds an answer, move the best-ranked one that does into slot k.

    The reader can only learn to read if the answer is there to read (config
    ``reader_finetune.answer_in_context``).
    """
    ctxs = example["ctxs"]
    if any(c["has_answer"] for c in ctxs[:k]):
        return example
    hits = [c for c in ctxs[k:] if c["has_answer"]]
    if not hits:
        return example
    return {**example, "ctxs": ctxs[: k - 1] + [hits[0]] + ctxs[k - 1 :]}


def without_answers(example: dict) -> dict:
    """The example with every answer-bearing passage removed from its ranked list, so that its top
    k hold none: the blind rung of the ladder (``ladder.blind``) learns to answer without reading."""
    return {**example, "ctxs": [c for c in example["ctxs"] if not c["has_answer"]]}


def exact_match_rate(
    reader: Reader,
    tokenizer,
    examples: list[dict],
    k: int,
    prompt: dict,
    max_new_tokens: int,
    batch_size: int,
) -> float:
    prompts = reader.build_prompts(tokenizer, examples, k, prompt, False, "dev EM")
    preds = reader.answer(tokenizer, prompts, max_new_tokens, batch_size)
    return sum(exact_match(p, ex["answers"]) for p, ex in zip(preds, examples, strict=True)) / max(
        1, len(examples)
    )


LAST_WEIGHTS = "last_step_trainable.safetensors"


def add_lora(reader: Reader, lora: dict, train_layers: int | None):
    """Low-rank adapters (peft) on ``lora["target_modules"]`` (null: peft's choice for the
    architecture), on the top ``train_layers`` blocks only when that is set; everything else
    frozen. Returns the peft wrapper; ``model`` itself now holds the adapters, so the rest of
    the training loop runs on it unchanged, and :func:`merge_lora` folds them back in."""
    from peft import LoraConfig, get_peft_model

    n = len(reader.blocks())
    layers = None if train_layers is None else list(range(n - int(train_layers), n))
    config = LoraConfig(
        r=int(lora["r"]),
        lora_alpha=float(lora["alpha"]),
        lora_dropout=float(lora["dropout"]),
        target_modules=lora.get("target_modules"),
        layers_to_transform=layers,
        bias="none",
    )
    return get_peft_model(reader.model, config)


def _trainable_reader(reader: Reader, s: FinetuneSettings):
    """Freeze what ``train_layers`` spares (or add LoRA adapters), set up gradient checkpointing;
    returns the peft wrapper or None."""
    model = reader.model
    lora = add_lora(reader, s.lora, s.train_layers) if s.lora else None
    trainable = reader.freeze_below(s.train_layers) if lora is None else lora.get_nb_trainable_parameters()[0]
    log.info("training %d of %d parameters", trainable, sum(p.numel() for p in model.parameters()))
    if s.gradient_checkpointing:
        model.activation_checkpointing_enable({"use_reentrant": False})
        # non-reentrant checkpoints need no gradient at the embeddings; with one, backward would
        # run through the frozen blocks that train_layers spares
        model.disable_input_require_grads()
    return lora


def _warmup_then_decay(s: FinetuneSettings):
    """Learning-rate factor per step: linear warm-up over ``warmup_steps``, then linear decay to 0."""

    def lr_at(step: int) -> float:
        if step < s.warmup_steps:
            return (step + 1) / max(1, s.warmup_steps)
        return max(0.0, (s.steps - step) / max(1, s.steps - s.warmup_steps))

    return lr_at


def _train_step(
    reader: Reader, tok, prompts: list[Prompt], order: list[int], rng, s: FinetuneSettings, device, dtype
) -> float:
    """One optimizer step's forward and backward passes (``grad_accum`` micro-batches); its loss.
    The forward runs in ``dtype`` (autocast: bfloat16 products, float32 master weights); the
    backward outside the autocast region, as torch recommends."""
    total = 0.0
    for _ in range(s.grad_accum):
        batch = reader.batch(
            [prompts[i] for i in resume.next_batch(order, rng, len(prompts), s.batch_size)], tok.pad_token_id
        )
        with models.autocast(dtype, device):
            loss = reader.answer_nll(to_device(batch, device)).float().mean() / s.grad_accum
        loss.backward()
        total += loss.item()
    return total


def check_prompts_fit(tok, test: list[dict], job: FinetuneJob, reader: Reader) -> None:
    """Build every test question's prompt from its initial retrieval, as ``answer_questions``
    will: one longer than the reader's context stops the first reader job, naming the question
    and the keys to change, instead of the answering stage after every training stage. (A
    distilled retriever's documents differ, but each is cut to ``prompt.max_doc_tokens`` as
    these are; ``answer_questions`` checks its own prompts again.)"""
    reader.build_prompts(tok, test, job.k, job.prompt, False, "finetune_reader, checking the test questions")


def finetune_reader(inp: dict, out: dict, params: dict) -> None:
    """Fine-tune with AdamW, linear warm-up then linear decay, gradient accumulation; dev EM
    every ``eval_every`` steps and after the last, and the best or the last weights kept."""
    from tqdm import tqdm

    job = FinetuneJob.from_params(params)
    s = job.train
    models.set_seed(job.seed)
    device = models.pick_device()
    dtype = models.stage_precision(job.precision, device, "finetune_reader")
    tok = models.load_tokenizer(inp["model"])
    model = readers.load(inp["model"]).to(device)
    train = read_jsonl(inp["train"])
    if job.blind:
        train = [without_answers(ex) for ex in train]
    elif s.answer_in_context:
        train = [with_answer_in_context(ex, job.k) for ex in train]
    reader = readers.of(model)
    prompts = reader.build_prompts(tok, train, job.k, job.prompt, True, "finetune_reader")
    dev = read_jsonl(inp["dev"])[: s.dev_questions]
    if "test" in inp:  # a test question too long for the reader stops the run here, before training
        check_prompts_fit(tok, read_jsonl(inp["test"]), job, reader)
    lora = _trainable_reader(reader, s)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=s.lr, weight_decay=s.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_then_decay(s))
    rng = random.Random(job.seed)
    ckpt = resume.Checkpointer.for_job("finetune_reader", inp, params, s.checkpoint_every)
    fresh = {"order": [], "history": [], "best_step": 0, "best_em": -1.0}
    start, loop, extra = ckpt.restore(model, opt, sched, rng, fresh)
    order: list[int] = loop["order"]
    history: list[dict] = loop["history"]
    best = resume.Best(loop["best_step"], loop["best_em"], extra)

    def dev_em(step: int) -> float:
        with models.autocast(dtype, device):
            em = exact_match_rate(reader, tok, dev, job.k, job.prompt, job.max_new_tokens, s.eval_batch_size)
        model.train()
        log.info("dev EM after %d steps: %.3f", step, em)
        if s.select == "best":
            best.offer(step, em, model)
        return em

    if dev and start == 0:  # the reader before training: the reference fine-tuning must beat
        history.append({"step": 0, "loss": None, "lr": 0.0, "dev_em": dev_em(0)})
    model.train()
    bar = tqdm(range(start, s.steps), desc="finetune_reader", initial=start, total=s.steps, mininterval=5)
    for step in bar:
        total = _train_step(reader, tok, prompts, order, rng, s, device, dtype)
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        row = {"step": step + 1, "loss": total, "lr": sched.get_last_lr()[0]}
        if dev and (step + 1 == s.steps or (s.eval_every and (step + 1) % s.eval_every == 0)):
            row["dev_em"] = dev_em(step + 1)
        history.append(row)
        bar.set_postfix(loss=f"{total:.3f}")
        state = {"order": order, "history": history, "best_step": best.step, "best_em": best.score}
        ckpt.after_step(step + 1, s.steps, model, opt, sched, rng, state, best.weights or None)
    _save_reader(model, lora, tok, inp, out, s, history, best)
    ckpt.done()


def _save_reader(
    model, lora, tok, inp: dict, out: dict, s: FinetuneSettings, history: list[dict], best
) -> None:
    """The kept weights (best or last; LoRA merged in), the last step's beside a kept best, and
    ``train_metrics.json`` (dev EM null where it was not measured)."""
    out_dir = Path(out["model"])
    selected, last = s.steps, None
    if s.select == "best" and best.step != s.steps:
        last = resume.trainable_weights(model)
        model.load_state_dict(best.weights, strict=False)
        selected = best.step
    if lora is not None:
        model = lora.merge_and_unload()
    if s.gradient_checkpointing:
        model.activation_checkpointing_disable()
    models.save_trained(model, tok, out_dir, inp["model"])
    if last is not None:  # the last step's trainable weights, beside the kept best ones
        from safetensors.torch import save_file

        save_file(last, str(out_dir / LAST_WEIGHTS))
    ems = {r["step"]: r["dev_em"] for r in history if "dev_em" in r}
    log.info("kept the weights after step %d of %d (select: %s)", selected, s.steps, s.select)
    write_json(
        out["metrics"],
        {
            "steps": s.steps,
            "select": s.select,
            "selected_step": selected,
            "dev_em": ems.get(selected),
            "dev_em_last": ems.get(s.steps),
            "dev_em_initial": ems.get(0),
            "dev_questions": s.dev_questions,
            "history": history,
        },
    )


def random_reader(inp: dict, out: dict, params: dict) -> None:
    """The ``random`` control teacher: the reader's architecture (its config) with freshly
    initialised weights (its seed: :class:`RandomReaderSettings`), saved as safetensors with the
    reader's tokenizer.

    Dumped and distilled like any teacher, it separates what a teacher knows from what the
    distillation procedure does by itself: its attention carries no reading of the documents.
    """
    from transformers import AutoConfig

    seed = from_params(RandomReaderSettings, params).seed
    models.set_seed(seed)
    trust = models.trusts_remote_code(inp["model"])
    cfg = AutoConfig.from_pretrained(inp["model"], trust_remote_code=trust)
    model = readers.kind_for(cfg).auto_class().from_config(cfg, trust_remote_code=trust)
    models.save_trained(model, models.load_tokenizer(inp["model"]), out["model"], inp["model"])
    log.info(
        "random reader: %s, %d parameters, seed %s",
        type(model).__name__,
        model.num_parameters(),
        seed,
    )


def noisy_reader(inp: dict, out: dict, params: dict) -> None:
    """A noise rung of the ladder (``ladder.noise``): the fine-tuned reader with Gaussian noise
    added to every floating-point weight tensor W, N(0, 1) * scale * ||W|| / sqrt(numel(W)), so
    that the noise's norm is about ``scale`` times the tensor's. Tensors in name order, one seeded
    generator: the same seed and scale give the same weights, byte for byte. Tied weights (the
    input embedding and the output head) are one tensor and get one noise draw."""
    s = from_params(NoiseSettings, params)
    scale, seed = s.scale, s.seed
    model = readers.load(inp["model"])
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, w in sorted(model.named_parameters(), key=lambda nw: nw[0]):
            if not w.is_floating_point() or w.numel() == 0:
                continue
            noise = torch.randn(w.shape, generator=gen, dtype=torch.float32)
            w.add_((noise * (scale * w.float().norm() / w.numel() ** 0.5)).to(w.dtype))
    models.save_trained(model, models.load_tokenizer(inp["model"]), out["model"], inp["model"])
    log.info("noisy reader: scale %g of each tensor's norm, seed %d", scale, seed)
