"""Tiny models for ``init:<architecture>`` sources: random weights of the real architectures,
small enough for the smoke preset, and the byte-level tokenizer they share."""

from __future__ import annotations

import os
from pathlib import Path

import torch

# Tiny shapes for ``init:<architecture>``: fast enough for the smoke preset, big enough to have
# several layers, heads and (for Llama) grouped-query attention, like the real models.
TINY = {
    "llama": dict(
        model_type="llama",
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    ),
    "gpt2": dict(model_type="gpt2", n_embd=64, n_layer=2, n_head=4, n_positions=1024),
    "falcon": dict(
        model_type="falcon",
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        alibi=True,
        new_decoder_architecture=False,
        multi_query=False,
        parallel_attn=False,
        bias=True,
    ),
    "bert": dict(
        model_type="bert",
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
    ),
    # T5 (v1.0 layout: relu, tied head) for the encoder-decoder (FiD) reader
    "t5": dict(
        model_type="t5",
        d_model=64,
        d_ff=128,
        d_kv=16,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        n_positions=512,
    ),
}
DECODERS = {"llama", "gpt2", "falcon"}
SEQ2SEQ = {"t5"}


def init_tokenizer(vocab_size: int = 1200):
    """A byte-level BPE tokenizer trained on generated-world text (seed 0): offline and fixed.

    ``init:`` models need a tokenizer but no hub is reachable; one trained on the kind of text
    the smoke world contains keeps sequences short.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from ragdistill.data.world import WorldConfig, generate

    world = generate(WorldConfig(seed=0, n_people=200, train=50, dev=10, test=10))
    texts = [f"{p['title']} {p['text']}" for p in world["passages"]]
    texts += [
        q["question"] + " Answer: " + q["answers"][0] for s in ("train", "dev", "test") for q in world[s]
    ]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<pad>", "<s>", "</s>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )


def init_model(arch: str, out_dir: str | os.PathLike, seed: int = 0, spec: dict | None = None) -> None:
    """Write a random tiny model of ``arch`` with the offline tokenizer into ``out_dir``.

    ``spec`` replaces the tiny config (``model_type`` and sizes; the benchmarks pass real
    architectures' sizes, ``vocab_size`` included, to get their cost with random weights).
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    if arch not in TINY:
        raise ValueError(f"init:{arch}: unknown architecture; choose one of {sorted(TINY)}")
    tokenizer = init_tokenizer()
    spec = {"vocab_size": len(tokenizer), **(spec or TINY[arch])}
    model_type = spec.pop("model_type")
    if arch in SEQ2SEQ:  # T5 starts the decoder from the pad token
        spec.setdefault("decoder_start_token_id", tokenizer.pad_token_id)
    config = AutoConfig.for_model(
        model_type,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **spec,
    )
    torch.manual_seed(seed)
    auto = AutoModelForSeq2SeqLM if arch in SEQ2SEQ else AutoModel
    auto = AutoModelForCausalLM if arch in DECODERS else auto
    model = auto.from_config(config)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
