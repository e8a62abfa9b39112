"""The models and inputs the benchmarks run on: the fetched real models where present
(``resources/models/<name>``, as ``snakemake fetch`` leaves them), else random weights of the
same architecture, which cost the same per token; the report says which."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from ragdistill import models
from ragdistill.readers.prompts import Prompt

ROOT = Path(__file__).resolve().parent.parent
# the real architectures, for random-weight stand-ins (sizes from the models' own configs)
ARCH = {
    "minilm": dict(
        model_type="bert",
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        vocab_size=30522,
    ),
    # the paper's retriever (Contriever is BERT-base): six times MiniLM's work per passage
    "contriever": dict(
        model_type="bert",
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        vocab_size=30522,
    ),
    "smollm2": dict(
        model_type="llama",
        hidden_size=576,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        intermediate_size=1536,
        vocab_size=49152,
        tie_word_embeddings=True,
        rope_theta=100000.0,
        max_position_embeddings=8192,
    ),
    "gpt2": dict(model_type="gpt2", n_embd=768, n_layer=12, n_head=12, vocab_size=50257),
    # the paper's reader: the tiny Falcon's layout (ALiBi, multi-head, sequential blocks) at full size
    "falcon-rw-1b": {
        **models.TINY["falcon"],
        "hidden_size": 2048,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "vocab_size": 50304,
    },
    # an encoder-decoder reader (T5 v1.1 layout, as Flan-T5-base), read Fusion-in-Decoder style
    "flan-t5-base": dict(
        model_type="t5",
        d_model=768,
        d_ff=2048,
        d_kv=64,
        num_layers=12,
        num_decoder_layers=12,
        num_heads=12,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        vocab_size=32128,
    ),
}
# models.init_model's architecture names
BASE = {
    "minilm": "bert",
    "contriever": "bert",
    "smollm2": "llama",
    "gpt2": "gpt2",
    "falcon-rw-1b": "falcon",
    "flan-t5-base": "t5",
}
LAYERS = {  # the config key holding the number of blocks
    "bert": "num_hidden_layers",
    "llama": "num_hidden_layers",
    "gpt2": "n_layer",
    "falcon": "num_hidden_layers",
    "t5": "num_decoder_layers",
}


def model_dir(name: str, workdir: Path, layers: int | None = None) -> tuple[str, str]:
    """(folder, what it holds): the fetched model, or random weights of its architecture saved
    with the offline tokenizer (whose texts tokenise to about as many tokens).

    ``layers`` keeps only that many of the architecture's blocks (random weights only): a
    1.3B-parameter reader takes minutes per batch on a laptop CPU, while a ratio of two ways
    of running the same blocks does not depend on how many there are.
    """
    fetched = ROOT / "resources" / "models" / name
    if layers is None and (fetched / "config.json").exists():
        return str(fetched), f"{name} (fetched weights)"
    spec = dict(ARCH[name])
    if layers is not None:
        spec[LAYERS[BASE[name]]] = layers
    out = workdir / (name if layers is None else f"{name}-{layers}l")
    if not (out / "config.json").exists():
        models.init_model(BASE[name], out, spec=spec)
    if layers is not None:
        return str(out), f"{name} architecture, {layers} of its blocks (random weights)"
    return str(out), f"{name} architecture (random weights)"


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ragdistill-bench-"))


def words(rng: random.Random, n: int) -> str:
    vocab = "the of born city river award worked company person family year moved studied".split()
    names = ["Ada", "Bram", "Cleo", "Dov", "Eun", "Femi", "Gita", "Hugo"]
    return " ".join(rng.choice(vocab) if rng.random() < 0.8 else rng.choice(names) for _ in range(n))


def dpr_corpus(work: Path, passages: int) -> Path:
    """A generated DPR-style TSV (id, text, title) of ``passages`` lines of 20-90 words."""
    corpus = work / f"corpus-{passages}.tsv"
    rng = random.Random(0)
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("id\ttext\ttitle\n")
        for i in range(passages):
            f.write(f"p{i}\t{words(rng, rng.randrange(20, 90))}\tTitle {i}\n")
    return corpus


def thin_minilm(work: Path) -> Path:
    """An encoder of MiniLM's width (384) with one thin block, random weights: stored vectors as
    large as the real ones, at a speed that gets a CPU through a million passages."""
    path = work / "minilm-width"
    if not (path / "config.json").exists():
        spec = {**ARCH["minilm"], "num_hidden_layers": 1, "intermediate_size": 64}
        models.init_model("bert", path, spec=spec)
    return path


def reader_prompts(n: int, vocab: int, k: int = 5, doc_tokens: int = 68, answer: int = 6, seed: int = 0):
    """Prompts shaped like the default's: header, k documents, question, answer (random ids)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ids = [rng.randrange(10, vocab) for _ in range(10)]
        spans, masks = [], []
        for _ in range(k):
            d = doc_tokens + rng.randrange(-8, 9)
            spans.append((len(ids), len(ids) + d))
            masks.append([False] * d)
            ids += [rng.randrange(10, vocab) for _ in range(d)]
        q0 = len(ids)
        ids += [rng.randrange(10, vocab) for _ in range(14)]
        a0 = len(ids)
        ids += [rng.randrange(10, vocab) for _ in range(answer)]
        ids.append(rng.randrange(10, vocab))
        out.append(Prompt(ids, spans, (q0, a0), (a0, a0 + answer), len(ids), masks))
    return out


def fid_prompts(n: int, vocab: int, k: int = 5, doc_tokens: int = 68, answer: int = 6, seed: int = 0):
    """FiD prompts of the same sizes (random ids): k passages of question and document, each
    ending in EOS (id 1), and an answer of ``answer`` tokens with its EOS as the labels."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        q = [rng.randrange(10, vocab) for _ in range(14)]
        ids, spans, masks, passages = [], [], [], []
        for _ in range(k):
            start = len(ids)
            ids += q
            d = doc_tokens + rng.randrange(-8, 9)
            spans.append((len(ids), len(ids) + d))
            masks.append([False] * d)
            ids += [rng.randrange(10, vocab) for _ in range(d)] + [1]
            passages.append((start, len(ids)))
        labels = [rng.randrange(10, vocab) for _ in range(answer)] + [1]
        out.append(
            Prompt(ids, spans, (0, 14), (0, answer), len(ids), masks, passages=passages, labels=labels)
        )
    return out
