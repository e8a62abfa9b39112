"""Stage ``reader``: fine-tune the reader on the task, and answer questions with it.

Fine-tuning is plain causal-LM training whose loss covers only the answer tokens (and the
newline that ends them): the documents and question are context, not targets. Answering is
batched greedy decoding that stops at the newline.
"""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import torch

from . import models, resume
from .files import read_jsonl, write_json
from .metrics import exact_match
from .prompts import Prompt, build_prompts, reader_context, stop_token_ids

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


def pad(seqs: list[list[int]], pad_id: int, side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if side == "right":
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        else:
            ids[i, width - len(s) :] = torch.tensor(s)
            mask[i, width - len(s) :] = 1
    return ids, mask


def lm_batch(prompts: list[Prompt], pad_id: int, with_stop: bool = True) -> dict[str, torch.Tensor]:
    """Right-padded batch whose labels are -100 everywhere but the answer (and its stop token).

    Training targets the stop newline too (so the reader learns to stop); scoring an answer
    (perplexity targets) uses ``with_stop=False``.
    """
    ids, mask = pad([p.input_ids for p in prompts], pad_id)
    labels = torch.full_like(ids, -100)
    for i, p in enumerate(prompts):
        a0, a1 = p.answer_span
        end = p.target_end if with_stop else a1
        labels[i, a0:end] = ids[i, a0:end]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_nll(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-target-token NLL (N,), with the LM head applied only where a label is set.

    Equal to the model's own causal-LM loss terms, but the vocabulary projection (large for a
    49k-token vocabulary) runs on the few answer positions instead of every position.
    """
    out = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    hidden = out.last_hidden_state
    labels = batch["labels"][:, 1:]
    sel = labels != -100
    logits = model.get_output_embeddings()(hidden[:, :-1][sel]).float()
    return torch.nn.functional.cross_entropy(logits, labels[sel], reduction="none")


def decoder_layers(model) -> torch.nn.ModuleList:
    """The stack of transformer blocks (Llama ``model.layers``, GPT-2/Falcon ``transformer.h``)."""
    n = model.config.num_hidden_layers
    for module in model.base_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"{type(model).__name__}: cannot find its {n} transformer blocks")


def freeze_below(model, train_layers: int | None) -> int:
    """Train only the top ``train_layers`` blocks, the final norm and an untied LM head.

    Backpropagation then stops at the lowest trainable block, which on a CPU is most of the
    cost of a step. ``None`` trains everything. Returns the number of trainable parameters.
    """
    if train_layers is not None:
        for p in model.parameters():
            p.requires_grad_(False)
        layers = decoder_layers(model)
        for block in list(layers)[len(layers) - int(train_layers) :]:
            for p in block.parameters():
                p.requires_grad_(True)
        top = [m for n, m in model.base_model.named_children() if "norm" in n or n == "ln_f"]
        head = model.get_output_embeddings()
        # a head tied to the input embeddings would make every block's activations part of the
        # graph (the embedding lookup needs their gradient): keep it frozen then
        if head.weight is not model.get_input_embeddings().weight:
            top.append(head)
        for m in top:
            for p in m.parameters():
                p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def answer(
    model, tokenizer, prompts: list[Prompt], max_new_tokens: int, batch_size: int, progress: bool = False
) -> list[str]:
    """Greedy answers, stopped at the first newline or EOS."""
    from tqdm import tqdm

    device = next(model.parameters()).device
    stops = stop_token_ids(tokenizer)
    model.eval()
    out: list[str] = [""] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
    for s in tqdm(range(0, len(order), batch_size), desc="answer", disable=not progress, mininterval=5):
        idx = order[s : s + batch_size]
        ids, mask = pad([prompts[i].input_ids for i in idx], tokenizer.pad_token_id, side="left")
        gen = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stops,
            pad_token_id=tokenizer.pad_token_id,
        )
        for row, i in zip(gen[:, ids.shape[1] :].tolist(), idx, strict=True):
            cut = next((j for j, t in enumerate(row) if t in stops), len(row))
            out[i] = tokenizer.decode(row[:cut], skip_special_tokens=True).strip()
    return out


def exact_match_rate(
    model, tokenizer, examples: list[dict], k: int, prompt: dict, max_new_tokens: int, batch_size: int
) -> float:
    prompts = build_prompts(tokenizer, examples, k, prompt, False, reader_context(model), "dev EM")
    preds = answer(model, tokenizer, prompts, max_new_tokens, batch_size)
    return sum(exact_match(p, ex["answers"]) for p, ex in zip(preds, examples, strict=True)) / max(
        1, len(examples)
    )


LAST_WEIGHTS = "last_step_trainable.safetensors"


def _check(hp: dict) -> None:
    if hp["select"] not in ("best", "last"):
        raise ValueError(f"reader_finetune.select: {hp['select']!r}; use 'best' or 'last'")
    if hp["select"] == "best" and not int(hp["dev_questions"]):
        raise ValueError(
            "reader_finetune.select: 'best' needs dev questions (reader_finetune.dev_questions > 0)"
        )


def add_lora(model, lora: dict, train_layers: int | None):
    """Low-rank adapters (peft) on ``lora["target_modules"]`` (null: peft's choice for the
    architecture), on the top ``train_layers`` blocks only when that is set; everything else
    frozen. Returns the peft wrapper; ``model`` itself now holds the adapters, so the rest of
    the training loop runs on it unchanged, and :func:`merge_lora` folds them back in."""
    from peft import LoraConfig, get_peft_model

    n = len(decoder_layers(model))
    layers = None if train_layers is None else list(range(n - int(train_layers), n))
    config = LoraConfig(
        r=int(lora["r"]),
        lora_alpha=float(lora["alpha"]),
        lora_dropout=float(lora["dropout"]),
        target_modules=lora.get("target_modules"),
        layers_to_transform=layers,
        bias="none",
    )
    return get_peft_model(model, config)


def finetune_reader(inp: dict, out: dict, params: dict) -> None:
    """Fine-tune with AdamW, linear warm-up then linear decay, gradient accumulation; dev EM
    every ``eval_every`` steps and after the last, and the best or the last weights kept."""
    from tqdm import tqdm

    hp = params["train"]
    _check(hp)
    prompt = params["prompt"]
    k = int(params["k"])
    seed = int(params["seed"])
    models.set_seed(seed)
    device = models.pick_device()
    tok = models.load_tokenizer(inp["model"])
    model = models.load_causal_lm(inp["model"]).to(device)
    train = read_jsonl(inp["train"])
    if hp["answer_in_context"]:
        train = [with_answer_in_context(ex, k) for ex in train]
    prompts = build_prompts(tok, train, k, prompt, True, reader_context(model), "finetune_reader")
    dev = read_jsonl(inp["dev"])[: int(hp["dev_questions"])]
    steps, accum, bs = int(hp["steps"]), int(hp["grad_accum"]), int(hp["batch_size"])
    eval_every = int(hp["eval_every"])
    lora = add_lora(model, hp["lora"], hp["train_layers"]) if hp.get("lora") else None
    trainable = (
        freeze_below(model, hp["train_layers"]) if lora is None else lora.get_nb_trainable_parameters()[0]
    )
    log.info("training %d of %d parameters", trainable, sum(p.numel() for p in model.parameters()))
    if hp["gradient_checkpointing"]:
        model.activation_checkpointing_enable({"use_reentrant": False})
        # non-reentrant checkpoints need no gradient at the embeddings; with one, backward would
        # run through the frozen blocks that train_layers spares
        model.disable_input_require_grads()
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=float(hp["lr"]),
        weight_decay=float(hp["weight_decay"]),
    )
    warm = int(hp["warmup_steps"])

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / max(1, warm)
        return max(0.0, (steps - step) / max(1, steps - warm))

    def dev_em() -> float:
        em = exact_match_rate(
            model, tok, dev, k, prompt, int(params["max_new_tokens"]), int(hp["eval_batch_size"])
        )
        model.train()
        return em

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    rng = random.Random(seed)
    ckpt = resume.Checkpointer.for_job("finetune_reader", inp, params, hp["checkpoint_every"])
    fresh = {"order": [], "history": [], "best_step": 0, "best_em": -1.0}
    start, loop, extra = ckpt.restore(model, opt, sched, rng, fresh)
    order: list[int] = loop["order"]
    history: list[dict] = loop["history"]
    best = resume.Best(loop["best_step"], loop["best_em"], extra)
    use_amp = device.type == "cuda"
    model.train()
    bar = tqdm(range(start, steps), desc="finetune_reader", initial=start, total=steps, mininterval=5)
    for step in bar:
        total = 0.0
        for _ in range(accum):
            if len(order) < bs:
                more = list(range(len(prompts)))
                rng.shuffle(more)
                order.extend(more)
            batch = lm_batch([prompts[i] for i in order[:bs]], tok.pad_token_id)
            del order[:bs]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = answer_nll(model, {n: t.to(device) for n, t in batch.items()}).mean() / accum
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["max_grad_norm"]))
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        row = {"step": step + 1, "loss": total, "lr": sched.get_last_lr()[0]}
        if dev and (step + 1 == steps or (eval_every and (step + 1) % eval_every == 0)):
            row["dev_em"] = dev_em()
            log.info("dev EM after %d steps: %.3f", step + 1, row["dev_em"])
            if hp["select"] == "best":
                best.offer(step + 1, row["dev_em"], model)
        history.append(row)
        bar.set_postfix(loss=f"{total:.3f}")
        state = {"order": order, "history": history, "best_step": best.step, "best_em": best.score}
        ckpt.after_step(step + 1, steps, model, opt, sched, rng, state, best.weights or None)
    out_dir = Path(out["model"])
    selected, last = steps, None
    if hp["select"] == "best" and best.step != steps:
        last = resume.trainable_weights(model)
        model.load_state_dict(best.weights, strict=False)
        selected = best.step
    if lora is not None:
        model = lora.merge_and_unload()
    if hp["gradient_checkpointing"]:
        model.activation_checkpointing_disable()
    models.save_trained(model, tok, out_dir, inp["model"])
    if last is not None:  # the last step's trainable weights, beside the kept best ones
        from safetensors.torch import save_file

        save_file(last, str(out_dir / LAST_WEIGHTS))
    ems = {r["step"]: r["dev_em"] for r in history if "dev_em" in r}
    log.info("kept the weights after step %d of %d (select: %s)", selected, steps, hp["select"])
    write_json(
        out["metrics"],
        {
            "steps": steps,
            "select": hp["select"],
            "selected_step": selected,
            "dev_em": ems.get(selected, math.nan),
            "dev_em_last": ems.get(steps, math.nan),
            "dev_questions": len(dev),
            "history": history,
        },
    )
    ckpt.done()
