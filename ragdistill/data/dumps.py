"""Reading attention dumps, perplexity scores and distilled retrievers' records without importing
torch (cheap downstream jobs)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ragdistill.core.files import read_json, reading

# beside a distilled query encoder: its teacher, the step it holds (``selected_step``) and more
RETRIEVER_META = "ragdistill_retriever.json"


def read_arrays(
    path: str | os.PathLike, what: str, names: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Every array (or the ``names``) of an ``.npz`` an earlier job wrote, read into memory; a file
    that does not decode (cut short: "not a zip file") stops as one line naming it
    (:class:`ragdistill.core.files.DamagedFile`).

    Plain arrays only: ``allow_pickle=False`` means a crafted file cannot run code when read.
    """
    with reading(path, what), np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in (z.files if names is None else names)}


def read_array(path: str | os.PathLike, what: str) -> np.ndarray:
    """One ``.npy`` array an earlier job wrote (a FAISS index's passage ids), as :func:`read_arrays`."""
    with reading(path, what):
        return np.load(path, allow_pickle=False)


def load_dump(path: str) -> dict[str, np.ndarray]:
    """Read a dump written by ``attention.dump_attention`` or ``attention.score_perplexity``."""
    return read_arrays(path, "attention dump (.npz)")


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
