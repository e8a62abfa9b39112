"""Reader kinds behind one interface (:class:`~ragdistill.readers.base.Reader`).

The kind is decided here and only here, from the model's config: when the model loads
(:func:`load` picks the transformers class by :func:`kind_of_folder`) and for a loaded model
(:func:`of`, the interface the stages call). Adding a kind is one module in this package with its
:class:`~ragdistill.readers.base.Reader` subclass, listed in :data:`KINDS`, plus its tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ragdistill import models
from ragdistill.core.files import read_json
from ragdistill.readers.base import Reader, pad, to_device
from ragdistill.readers.decoder import DecoderOnly
from ragdistill.readers.fid import FusionInDecoder

# Checked in order; the first kind whose ``matches`` accepts the config is the reader's.
KINDS: tuple[type[Reader], ...] = (FusionInDecoder, DecoderOnly)

__all__ = [
    "KINDS",
    "DecoderOnly",
    "FusionInDecoder",
    "Reader",
    "kind_for",
    "kind_of_folder",
    "load",
    "of",
    "pad",
    "to_device",
]


def kind_for(config) -> type[Reader]:
    """The reader kind of a model config (a transformers config, or config.json as a dict)."""
    for kind in KINDS:
        if kind.matches(config):
            return kind
    model_type = config.get("model_type") if isinstance(config, dict) else getattr(config, "model_type", None)
    raise ValueError(f"no reader kind in ragdistill/readers accepts a model of type {model_type!r}")


def kind_of_folder(path: str | os.PathLike) -> type[Reader]:
    """The reader kind of a model folder, read from its config.json (no weights are loaded)."""
    return kind_for(read_json(Path(path) / "config.json", remove=path))


def of(model) -> Reader:
    """The interface to a loaded reader model."""
    return kind_for(model.config)(model)


def load(path: str | os.PathLike, attn_implementation: str = "sdpa", trust_remote_code: bool | None = None):
    """The reader model from a folder, float32 and safetensors only, with the transformers class
    of its kind (a causal LM, or a sequence-to-sequence LM of the T5 family read FiD style);
    remote code only where ``models.trusts_remote_code`` allows it."""
    if trust_remote_code is None:
        trust_remote_code = models.trusts_remote_code(path)
    models.warn_remote_code(path, trust_remote_code)
    auto = kind_of_folder(path).auto_class()
    with models.reading_model(path, "the reader"):
        return auto.from_pretrained(
            path,
            use_safetensors=True,
            attn_implementation=attn_implementation,
            dtype=torch.float32,
            trust_remote_code=trust_remote_code,
        )
