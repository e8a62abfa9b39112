"""The converted paraphrase-MiniLM-L3-v2 against its ONNX graph, and whether the borrowed
tokenizer is its vocabulary: paraphrase pairs must score far above mismatched pairs.

    python paraphrase_check.py <converted folder> <the .onnx file> [<another encoder folder>]
"""

import sys

import numpy as np
import onnxruntime
import torch

from ragdistill import models

PAIRS = [
    ("A man is playing a guitar.", "Someone plays the guitar."),
    ("The cat sat on the mat.", "A cat was sitting on a rug."),
    ("Where was Marie Curie born?", "What is the birthplace of Marie Curie?"),
    ("The stock market fell sharply today.", "Shares dropped steeply on Monday."),
    ("He bought a new car last week.", "Last week he purchased a new automobile."),
    ("The river flooded the village.", "The village was flooded by the river."),
    ("How do I bake bread at home?", "What is a simple recipe for homemade bread?"),
    ("The film won three awards.", "The movie received three prizes."),
    ("She is studying medicine in Paris.", "She studies to become a doctor in Paris."),
    ("The train to Berlin is late.", "The Berlin train has been delayed."),
]


def cosines(folder: str) -> tuple[float, float]:
    tok = models.load_tokenizer(folder)
    enc = models.load_encoder(folder).eval()
    with torch.no_grad():
        a = models.embed(enc, tok, [p for p, _ in PAIRS], 64, "mean", True)
        b = models.embed(enc, tok, [q for _, q in PAIRS], 64, "mean", True)
    sim = (a @ b.T).numpy()
    off = sim[~np.eye(len(PAIRS), dtype=bool)]
    return float(np.diag(sim).mean()), float(off.mean())


folder, graph = sys.argv[1], sys.argv[2]
tok = models.load_tokenizer(folder)
feed = {k: v.astype(np.int64) for k, v in tok([p for p, _ in PAIRS], padding=True, return_tensors="np").items() if k != "token_type_ids"}
want = onnxruntime.InferenceSession(graph).run(None, feed)
tokens = next(o for o in want if o.ndim == 3)
enc = models.load_encoder(folder).eval()
with torch.no_grad():
    got = enc(**{k: torch.from_numpy(v) for k, v in feed.items()}).last_hidden_state.numpy()
print(f"max |converted - graph| over real tokens of {len(PAIRS)} sentences:", float(np.abs((got - tokens) * feed["attention_mask"][..., None]).max()))
for f in sys.argv[1:2] + sys.argv[3:]:
    para, other = cosines(f)
    print(f"{f}: mean cosine of paraphrase pairs {para:.3f}, of mismatched pairs {other:.3f}")
