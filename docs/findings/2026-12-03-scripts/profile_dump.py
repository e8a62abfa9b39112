"""Profile one attention-dump batch of the real SmolLM2 (4 training prompts of a default run) in float32 and bfloat16, with op families and the bare matmul rate of each (issue 31).

python profile_dump.py RUN_FOLDER   (a default run with resources/models/smollm2 and the initial retrieval)
"""

import collections
import sys
import time

import torch

torch.set_num_threads(2)
import yaml

from ragdistill.stages import attention
from ragdistill import models, readers
from ragdistill.core.files import read_jsonl
from ragdistill.readers.prompts import PromptSettings

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
cfg = yaml.safe_load(open(f"{ROOT}/config.yaml"))
path = f"{ROOT}/resources/models/smollm2"
tok = models.load_tokenizer(path)
ex = read_jsonl(f"{ROOT}/results/world/retrieve/initial/train.jsonl")[:8]
ps = PromptSettings.of(cfg["prompt"])


def mm_rate(dt, m=1360, k=576, n=1536, reps=20):
    a = torch.randn(m, k).to(dt)
    b = torch.randn(k, n).to(dt)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    el = time.perf_counter() - t
    return 2 * m * k * n * reps / el / 1e9


def family(name):
    n = name.lower()
    if any(s in n for s in ("mm", "linear", "matmul", "addmm", "bmm", "mkldnn")):
        return "matmul"
    if "attention" in n or "sdpa" in n or "flash" in n:
        return "sdpa"
    if any(s in n for s in ("softmax",)):
        return "softmax"
    if any(s in n for s in ("to", "copy", "_to_copy", "type_as")) and (
        "copy" in n or n.startswith("aten::to") or "type" in n
    ):
        return "cast/copy"
    if any(s in n for s in ("pow", "rsqrt", "mean", "norm")):
        return "norm"
    if any(s in n for s in ("cos", "sin", "cat", "neg", "slice")):
        return "rotary/cat"
    if any(s in n for s in ("mul", "add", "silu", "sigmoid", "div", "sub")):
        return "elementwise"
    if any(
        s in n
        for s in (
            "gather",
            "masked_fill",
            "index",
            "expand",
            "reshape",
            "view",
            "transpose",
            "contiguous",
            "clone",
        )
    ):
        return "index/layout"
    return "other"


res = {}
for dt in (torch.float32, torch.float32, torch.bfloat16):
    model = models.in_precision(attention.load_reader_for_capture(path).eval(), dt)
    reader = readers.of(model)
    prompts = reader.build_prompts(tok, ex, 5, ps, True, "x")
    prompts.sort(key=lambda p: len(p.input_ids))
    b = prompts[:4]
    ntok = sum(len(p.input_ids) for p in b)
    with torch.no_grad():
        reader.token_profiles(b, tok.pad_token_id)
        t = time.perf_counter()
        for _ in range(3):
            reader.token_profiles(b, tok.pad_token_id)
        el = (time.perf_counter() - t) / 3
        # plain forward, no capture
        batch = readers.to_device(reader.batch(b, tok.pad_token_id, with_stop=False), "cpu")
        t = time.perf_counter()
        for _ in range(3):
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        el_plain = (time.perf_counter() - t) / 3
    key = str(dt)
    res.setdefault(key, []).append(
        {"dump_s": el, "plain_s": el_plain, "tok_s": ntok / el, "tokens": ntok, "mm_gflops": mm_rate(dt)}
    )
    print(key, res[key][-1], flush=True)
    if len(res[key]) == 2 or dt == torch.bfloat16:
        from torch.profiler import ProfilerActivity, profile

        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
            reader.token_profiles(b, tok.pad_token_id)
        fam = collections.Counter()
        for e in prof.key_averages():
            fam[family(e.key)] += e.self_cpu_time_total / 1e6
        tot = sum(fam.values())
        print(key, {k: round(v, 3) for k, v in fam.most_common()}, "total", round(tot, 3))
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
