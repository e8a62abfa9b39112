import sys, time, yaml, torch, numpy as np
sys.path.insert(0, "/tmp/seeds")
torch.set_num_threads(2)
from ragdistill import attention, models
from ragdistill.files import read_jsonl
from ragdistill.prompts import build_prompts, ReaderShape
R = "/tmp/seeds/results/world"
cfg = yaml.safe_load(open("/tmp/seeds/config.yaml"))
path = f"{R}/reader/finetuned-s1/model"
tok = models.load_tokenizer(path)
n = 16
ex = read_jsonl(f"{R}/retrieve/initial/train.jsonl")[:n]
res = {}
for dt in (torch.float32, torch.bfloat16, torch.float32, torch.bfloat16):
    model = attention.load_reader_for_capture(path).eval().to(dt)
    print(dt, next(model.parameters()).dtype, model.config._attn_implementation, flush=True)
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
print("top agree", np.mean(a.argmax(1) == b.argmax(1)))
