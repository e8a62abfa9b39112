"""Reading attention dumps, perplexity scores and distilled retrievers' records without importing
torch (cheap downstream jobs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import read_json

# beside a distilled query encoder: its teacher, the step it holds (``selected_step``) and more
RETRIEVER_META = "ragdistill_retriever.json"


def load_dump(path: str) -> dict[str, np.ndarray]:
    """Read a dump written by ``attention.dump_attention`` or ``attention.score_perplexity``.

    Plain arrays only: ``allow_pickle=False`` means a crafted file cannot run code when read.
    """
    with np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in z.files}


def example(dump: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """Example ``i`` of an attention dump: its per-document-token arrays (``tok_ids``,
    ``tok_profile``...) and its ``q_ids`` and ``a_ids``, cut out by the offsets arrays."""
    lo, hi = dump["tok_offsets"][i], dump["tok_offsets"][i + 1]
    out = {k: v[lo:hi] for k, v in dump.items() if k.startswith("tok_") and k != "tok_offsets"}
    for span in ("q", "a"):
        if f"{span}_offsets" in dump:
            o = dump[f"{span}_offsets"]
            out[f"{span}_ids"] = dump[f"{span}_ids"][o[i] : o[i + 1]]
    return out


def retriever_record(encoder: str | Path) -> dict:
    """A distilled query encoder's ``ragdistill_retriever.json`` (written by
    ``distill.distill_retriever``): its teacher, the step it holds, the teacher's sharpness."""
    return read_json(Path(encoder) / RETRIEVER_META)


def kept_step(encoder: str | Path) -> int:
    """The distillation step a distilled query encoder holds (0: selection kept the initial one)."""
    return int(retriever_record(encoder)["selected_step"])
