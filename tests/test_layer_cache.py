"""The passage encoder's top layers on stored lower states against the full forward."""

from __future__ import annotations

import pytest
import torch

from ragdistill import models
from ragdistill.models import layer_cache

TEXTS = [
    "Ann Lee. Ann Lee was born in Paris and worked as a baker.",
    "short",
    "A much longer passage about a person, who lived in a city, had a trade, and won an award once.",
    "R. Lee. The baker moved to Rome.",
]


@pytest.fixture(scope="module")
def bert4(tmp_path_factory):
    out = tmp_path_factory.mktemp("bert4")
    models.init_model("bert", out, seed=3, spec={**models.TINY["bert"], "num_hidden_layers": 4})
    torch.set_num_threads(2)
    return str(out)


# right padding only: BERT's absolute positions count from the first column, so under left
# padding a text's own output depends on how much its batch padded it (in the full forward too)
@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("train_layers", [1, 2, 4])
def test_upper_on_lower_states_is_the_full_forward(bert4, pooling, train_layers):
    tok = models.load_tokenizer(bert4)
    enc = models.load_encoder(bert4).eval()
    with torch.no_grad():
        full = models.embed(enc, tok, TEXTS, 32, pooling, True)
        states = layer_cache.lower_states(enc, tok, TEXTS, 32, train_layers, batch_size=3)
        got = layer_cache.upper_embed(enc, states, train_layers, pooling, True)
    torch.testing.assert_close(got, full, rtol=1e-5, atol=1e-6)
    # each text's states cover its own tokens only, whatever the batch padded it to
    assert [len(s) for s in states] == [len(tok(t, truncation=True, max_length=32).input_ids) for t in TEXTS]
    # the model is whole again afterwards
    assert len(layer_cache.layer_stack(enc)[2]) == 4 and not isinstance(enc.embeddings, layer_cache._Given)


def test_gradients_reach_only_the_top_layers(bert4):
    tok = models.load_tokenizer(bert4)
    enc = models.load_encoder(bert4)
    layer_cache.freeze_lower(enc, 1)
    enc.train()
    states = layer_cache.lower_states(enc, tok, TEXTS, 32, 1)
    assert enc.training, "lower_states left the encoder in eval mode"
    layer_cache.upper_embed(enc, states, 1, "mean", True).sum().backward()
    grads = {n for n, p in enc.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert grads and all(n.startswith("encoder.layer.3.") for n in grads), sorted(grads)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert not any(n.startswith(("embeddings.", "encoder.layer.0.", "encoder.layer.2.")) for n in trainable)


def test_a_layer_count_out_of_range_names_the_key(bert4):
    enc = models.load_encoder(bert4)
    with pytest.raises(ValueError, match=r"distill\.passage_layers: 5, but the encoder has 4 layers"):
        layer_cache.split(enc, 5)
