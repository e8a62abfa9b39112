"""An encoder trained in its top layers only: the frozen layers below run once per passage.

Both-mode distillation (``ragdistill/stages/distill.py``) encodes every training question's candidates
with gradients at every step, and re-encodes the dev pool at every index refresh; on a CPU that
is most of the distillation's time. With ``distill.passage_layers: N`` only the passage
encoder's top N transformer layers train, and its embeddings and the layers below are frozen.
Their output for a passage then never changes, so it is computed once per passage
(:func:`lower_states`, no gradient, eval mode) and every later encoding runs only the top N
layers on it (:func:`upper_embed`). Upper over lower is the full forward, exactly: the model's
own forward runs both halves, with its layer list cut (and, for the upper half, its embedding
module replaced by the stored states), so its attention masks and pooling are the usual ones.
Padding positions hold zeros instead of the pad token's states; masked as keys and left out of
the pooling, they change no real token's output (tested against the full forward).

Memory: the stored states are (tokens, hidden) float32 per passage, about 80 KB for a
53-token passage of a 384-wide encoder; the default world's 1,650 passages take 130 MB.
"""

from __future__ import annotations

import contextlib

import torch

from ragdistill.models import pool, tokenize_texts


def layer_stack(model) -> tuple[torch.nn.Module, str, torch.nn.ModuleList]:
    """(parent module, attribute, list) of the encoder's transformer layers: the ModuleList with
    ``config.num_hidden_layers`` entries (BERT's ``encoder.layer``, DistilBERT's ``transformer.layer``)."""
    n = model.config.num_hidden_layers
    for module in model.modules():
        for attr, child in module.named_children():
            if isinstance(child, torch.nn.ModuleList) and len(child) == n:
                return module, attr, child
    raise ValueError(
        f"distill.passage_layers: {type(model).__name__} has no list of its {n} layers; set it to null"
    )


class _Given(torch.nn.Module):
    """Stands in for the embedding module: returns the stored states whatever it is called with."""

    def __init__(self, states: torch.Tensor) -> None:
        super().__init__()
        self.states = states

    def forward(self, *args, **kwargs) -> torch.Tensor:
        return self.states


@contextlib.contextmanager
def _cut(model, layers: list[torch.nn.Module], states: torch.Tensor | None = None):
    """The model with ``layers`` as its layer list, and its embeddings replaced by ``states``
    when given; restored on exit."""
    parent, attr, full = layer_stack(model)
    embeddings = getattr(model, "embeddings", None)
    if states is not None and embeddings is None:
        raise ValueError(f"distill.passage_layers: {type(model).__name__} has no embeddings module")
    parent._modules[attr] = torch.nn.ModuleList(layers)
    if states is not None:
        model._modules["embeddings"] = _Given(states)
    try:
        yield
    finally:
        parent._modules[attr] = full
        if states is not None:
            model._modules["embeddings"] = embeddings


def split(model, train_layers: int) -> tuple[list[torch.nn.Module], list[torch.nn.Module]]:
    """(frozen lower layers, trained top ``train_layers`` layers)."""
    _, _, layers = layer_stack(model)
    if not 1 <= train_layers <= len(layers):
        raise ValueError(
            f"distill.passage_layers: {train_layers}, but the encoder has {len(layers)} layers; "
            f"use 1 to {len(layers)}, or null for all and the embeddings"
        )
    cut = len(layers) - train_layers
    return list(layers[:cut]), list(layers[cut:])


def freeze_lower(model, train_layers: int) -> None:
    """Only the top ``train_layers`` layers (and a pooler above them) keep gradients."""
    lower, _ = split(model, train_layers)
    frozen = {
        id(p) for m in [getattr(model, "embeddings", None), *lower] if m is not None for p in m.parameters()
    }
    for p in model.parameters():
        if id(p) in frozen:
            p.requires_grad_(False)


@torch.no_grad()
def lower_states(
    model, tokenizer, texts: list[str], max_length: int, train_layers: int, batch_size: int = 64
) -> list[torch.Tensor]:
    """Per text, the output of the frozen layers on its real tokens: (tokens, hidden), float32.
    Computed in eval mode (no dropout): frozen layers' outputs are fixed."""
    lower, _ = split(model, train_layers)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[torch.Tensor] = [None] * len(texts)  # type: ignore[list-item]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with _cut(model, lower):
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batch = {
                k: v.to(device)
                for k, v in tokenize_texts(tokenizer, [texts[i] for i in idx], max_length).items()
            }
            hidden = model(**batch).last_hidden_state
            real = batch["attention_mask"].bool()
            for row, i in enumerate(idx):
                out[i] = hidden[row][real[row]].clone()  # its own tokens, whichever side it was padded
    model.train(was_training)
    return out


def upper_embed(
    model, states: list[torch.Tensor], train_layers: int, pooling: str, normalize: bool
) -> torch.Tensor:
    """(len(states), hidden) pooled embeddings: the top ``train_layers`` layers run on stored
    lower states (:func:`lower_states`), with the model's current grad and train mode."""
    _, upper = split(model, train_layers)
    width = max(len(s) for s in states)
    hidden = states[0].new_zeros((len(states), width, states[0].shape[-1]))
    mask = torch.zeros((len(states), width), dtype=torch.long, device=hidden.device)
    for i, s in enumerate(states):
        hidden[i, : len(s)] = s
        mask[i, : len(s)] = 1
    with _cut(model, upper, hidden):
        out = model(input_ids=mask, attention_mask=mask).last_hidden_state
    emb = pool(out, mask, pooling)
    return torch.nn.functional.normalize(emb, dim=-1) if normalize else emb
