"""Encoding many texts: the Rust-direct batch tokenizer and the pipelined ``embed_all`` must give
exactly what the plain transformers call and a plain loop over ``embed`` give."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ragdistill import models

TEXTS = [
    "Ada Lovelace was born in London.",
    "",
    "Ünïcödé café — naïve 東京, with an em dash",
    "the of born city river award " * 60,  # longer than max_length: truncated
    "Bram",
    "Cleo moved to the river city, studied, and worked for the company for a year.",
    "[PAD] a literal pad token in the text",
]


@pytest.mark.parametrize("arch", ["bert", "llama"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batch_tokenizer_equals_the_plain_call(tiny_model_dir, arch, side):
    tok = models.load_tokenizer(tiny_model_dir(arch))
    tok.padding_side = side
    fast = models.BatchTokenizer(tok, max_length=24)
    assert fast.rust is not None, "the offline tokenizer has a Rust backend: the fast path must be taken"
    for s in range(0, len(TEXTS), 3):
        want = models.tokenize_texts(tok, TEXTS[s : s + 3], 24)
        got = fast(TEXTS[s : s + 3])
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].dtype == want[name].dtype, name
            assert torch.equal(got[name], want[name]), name


def test_batch_tokenizer_without_a_pad_token_uses_the_plain_call(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir("bert"))
    tok.pad_token = None
    assert models.BatchTokenizer(tok, 24).rust is None


def test_embed_all_equals_a_plain_loop_in_input_order(tiny_model_dir):
    path = tiny_model_dir("bert")
    tok, model = models.load_tokenizer(path), models.load_encoder(path).eval()
    texts = TEXTS * 3
    got = models.embed_all(model, tok, texts, batch_size=4, max_length=24, pooling="mean", normalize=True)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    want = np.zeros_like(got)
    with torch.no_grad():
        for s in range(0, len(order), 4):
            idx = order[s : s + 4]
            want[idx] = models.embed(model, tok, [texts[i] for i in idx], 24, "mean", True).numpy()
    np.testing.assert_array_equal(got, want)
    assert models.embed_all(model, tok, [], 4, 24, "mean", True).shape == (0, model.config.hidden_size)
