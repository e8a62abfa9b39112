"""Where a SmolLM2-shaped dump batch spends its time, float32 against bfloat16 (2 threads)."""
import sys, time, torch
from collections import defaultdict
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # this repository's ragdistill
torch.set_num_threads(2)
from transformers import LlamaConfig, LlamaForCausalLM
from ragdistill.stages import attention

cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                  num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
                  tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=100000)
torch.manual_seed(0)
B, T = 4, 340
ids = torch.randint(0, 49152, (B, T))
mask = torch.ones(B, T, dtype=torch.long)
if "--pad" in sys.argv: mask[1:, -30:] = 0

def bare(dt, m=B*T, k=576, n=1536, reps=20):
    a = torch.randn(m, k, dtype=dt); b = torch.randn(k, n, dtype=dt)
    for _ in range(3): a @ b
    t = time.perf_counter()
    for _ in range(reps): a @ b
    return 2*m*k*n*reps / (time.perf_counter()-t) / 1e9

def run(model, capture, reps=2):
    attention.register()
    model.set_attn_implementation(attention.CAPTURE if capture else "sdpa")
    rec = attention.RECORDER
    with torch.no_grad():
        def once():
            if capture:
                rows = torch.arange(T-8, T)[None].expand(B, 8).contiguous()
                rec.rows, rec.row_mask = rows, torch.ones(B, 8, dtype=torch.bool)
                rec.vnorm = torch.zeros(B, T); rec.attn = torch.zeros(B, T); rec.first = torch.zeros(B, T); rec.layers = 0
            else:
                rec.rows = None
            model(input_ids=ids, attention_mask=mask, logits_to_keep=1)
        once()
        t = time.perf_counter()
        for _ in range(reps): once()
        return B*T*reps/(time.perf_counter()-t)

flops_per_tok = 2 * (30 * (576*576*2 + 576*192*2 + 3*576*1536))  # q,o + k,v + mlp (no head: logits_to_keep=1)
for dt in (torch.float32, torch.bfloat16):
    g = bare(dt)
    model = LlamaForCausalLM(cfg).eval().to(dt)
    for cap in (False, True):
        tps = run(model, cap)
        print(f"{dt} capture={cap}: {tps:.0f} tok/s; bare mm {g:.1f} GFLOP/s; roofline {g*1e9/flops_per_tok:.0f} tok/s; ratio {tps/(g*1e9/flops_per_tok):.2f}", flush=True)
    if "--prof" in sys.argv:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run(model, True, reps=1)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
