"""Time each reader pass (training step, forward, PDist, generation) on the fine-tuned SmolLM2 of a default run, float32, 2 threads.

python reader_passes.py RUN_FOLDER
"""

import dataclasses
import time

import torch
import yaml

torch.set_num_threads(2)
import sys

from ragdistill import models, readers
from ragdistill.core.files import read_jsonl
from ragdistill.readers.prompts import PromptSettings

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
cfg = yaml.safe_load(open(f"{ROOT}/config.yaml"))
path = f"{ROOT}/results/world/reader/finetuned-s0/model"
tok = models.load_tokenizer(path)
ex = read_jsonl(f"{ROOT}/results/world/retrieve/initial/train.jsonl")[:40]
ps = PromptSettings.of(cfg["prompt"])


def tm(f, reps=2):
    f()
    t = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t) / reps


# training step
model = readers.load(path)
reader = readers.of(model)
prompts = reader.build_prompts(tok, ex, 5, ps, True, "x")
print("mean prompt tokens", sum(len(p.input_ids) for p in prompts) / len(prompts))
n = reader.freeze_below(8)
print("trainable", n)
model.train()
b = reader.batch(prompts[:4], tok.pad_token_id)


def step():
    loss = reader.answer_nll(b).float().mean()
    loss.backward()


print("train step (4 ex): %.2f s" % tm(step))
for p in model.parameters():
    p.requires_grad_(False)
model.eval()
with torch.no_grad():
    print("forward only (4 ex, answer_nll): %.2f s" % tm(lambda: reader.answer_nll(b)))
    pd = dataclasses.replace(ps, shuffle=False)
    singles = reader.build_prompts(
        tok, [{**e, "ctxs": [c]} for e in ex[:4] for c in e["ctxs"][:5]], 1, pd, True, "x"
    )
    print("pdist single-doc prompt tokens", sum(len(p.input_ids) for p in singles) / len(singles))
    bs = reader.batch(singles[:5], tok.pad_token_id, with_stop=False)
    print("pdist 1 question (5 singles): %.2f s" % tm(lambda: reader.answer_nll(bs)))
    bs20 = reader.batch(sorted(singles, key=lambda p: len(p.input_ids)), tok.pad_token_id, with_stop=False)
    print("pdist 4 questions (20 singles, sorted): %.2f s" % tm(lambda: reader.answer_nll(bs20)))
    q = reader.build_prompts(tok, ex[:20], 5, ps, False, "x")
    print("generate 20 prompts, 12 tokens: %.2f s" % tm(lambda: reader.generate(tok, q, 12), 1))
