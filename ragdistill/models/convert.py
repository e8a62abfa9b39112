"""Other formats into the one Hugging Face layout: a GGUF file, or a hub-style folder whose
files are copied (safe kinds only)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch


def convert_gguf(gguf_path: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Dequantise a GGUF causal LM into a plain safetensors checkpoint.

    The GGUF-loaded model is flagged as quantized and refuses ``save_pretrained``, so a fresh
    model is built from its config (without ``quantization_config``) and given its weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    missing = [m for m in missing if "lm_head" not in m]  # tied to the embeddings
    if missing or unexpected:
        raise ValueError(
            f"{gguf_path}: weights do not fit the config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    if getattr(config, "tie_word_embeddings", False):
        fresh.tie_weights()
    fresh.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name).save_pretrained(out_dir)


_KEEP = (".json", ".txt", ".model", ".safetensors", ".py", ".jinja", ".tiktoken")


def normalize_hf_dir(src: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Copy a Hugging Face model folder, converting ``pytorch_model.bin`` to safetensors safely."""
    from safetensors.torch import save_file

    src, out_dir = Path(src), Path(out_dir)
    if not (src / "config.json").exists():
        raise FileNotFoundError(f"{src}: no config.json; not a Hugging Face model folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in src.rglob("*"):
        rel = item.relative_to(src)
        if item.is_file() and item.name.endswith(_KEEP) and not rel.parts[0].startswith("."):
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, out_dir / rel)
    if not list(out_dir.glob("*.safetensors")):
        bins = sorted(src.glob("pytorch_model*.bin"))
        if not bins:
            raise FileNotFoundError(f"{src}: neither *.safetensors nor pytorch_model.bin")
        state: dict[str, torch.Tensor] = {}
        for b in bins:  # weights_only: a pickle cannot run code when it is read
            state.update(torch.load(b, map_location="cpu", weights_only=True))
        save_file({k: v.contiguous() for k, v in state.items()}, str(out_dir / "model.safetensors"))
