"""fp32 vs bf16 dump batch on the real SmolLM2 fine-tuned reader: time and agreement.

    python bf16.py [questions] [checkout] [reader] [rounds]

checkout: the folder holding results/ and config.yaml (default: this repository).
First session: `python bf16.py 24` (the checkout, reader finetuned-s0, one round).
Second session: `python bf16.py 16 <seeds run folder> finetuned-s1 2` (each precision twice, in turn).
"""
import sys, time, yaml, torch, numpy as np
from pathlib import Path
n = int(sys.argv[1]) if len(sys.argv) > 1 else 24
ROOT = sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parents[3])
READER = sys.argv[3] if len(sys.argv) > 3 else "finetuned-s0"
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 1
sys.path.insert(0, ROOT)
torch.set_num_threads(2)
from ragdistill.stages import attention
from ragdistill import models
from ragdistill.core.files import read_jsonl
from ragdistill.readers.prompts import build_prompts, ReaderShape
from scipy.stats import spearmanr
R = f"{ROOT}/results/world"
cfg = yaml.safe_load(open(f"{ROOT}/config.yaml"))
path = f"{R}/reader/{READER}/model"
tok = models.load_tokenizer(path)
ex = read_jsonl(f"{R}/retrieve/initial/train.jsonl")[:n]
res = {}
for dt in (torch.float32, torch.bfloat16) * ROUNDS:
    model = attention.load_reader_for_capture(path).eval().to(dt)
    prompts = build_prompts(tok, ex, 5, cfg["prompt"], True, ReaderShape.of(model), "x")
    t = time.time(); sc = []
    for i in range(0, n, 4):
        b = prompts[i:i+4]
        prof = attention.token_profiles(model, b, tok.pad_token_id)
        for j, p in enumerate(b):
            sc.append(attention.doc_scores(prof["vnorm"][j], p.doc_spans))
    el = time.time() - t
    toks = sum(len(p.input_ids) for p in prompts)
    res[str(dt)] = np.array(sc)
    print(dt, f"{el:.1f}s {toks/el:.0f} tok/s", flush=True)
a, b = res["torch.float32"], res["torch.bfloat16"]
print("top agree", np.mean(a.argmax(1) == b.argmax(1)), "spearman mean", np.mean([spearmanr(x, y).statistic for x, y in zip(a, b)]))
