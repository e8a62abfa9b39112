"""Passage vectors stored by ``encode`` (``candidate_vectors`` files), read back by id.

Query-only distillation scores a question's candidates against these fixed vectors instead of
re-encoding the passages at every step (the passage encoder does not train then).
"""

from __future__ import annotations

import os

import numpy as np

from ragdistill.core.files import reading
from ragdistill.data.dumps import read_arrays


class StoredVectors:
    """A ``candidate_vectors`` file, read once; :meth:`rows` looks passages up by id."""

    def __init__(self, path: str) -> None:
        self.path = path
        z = read_arrays(path, "candidate vectors (.npz)", ("ids", "emb"))
        self.row = {p: i for i, p in enumerate(z["ids"].tolist())}
        self.emb = z["emb"]

    def rows(self, ids: list[str]) -> np.ndarray:
        """Vectors of ``ids``, in that order, as float32."""
        missing = [p for p in ids if p not in self.row]
        if missing:
            raise KeyError(f"{self.path}: no vector for passages {missing[:3]} ({len(missing)} missing)")
        return self.emb[[self.row[p] for p in ids]].astype(np.float32)


def read_index(path: str | os.PathLike, mmap: bool = False):
    """A FAISS index an earlier job wrote; one that does not decode (cut short: FAISS's "read
    error") stops as one line naming it. ``mmap``: memory-mapped where this FAISS can (only the
    rows used are read: a flat index of 21M passages is 64 GB)."""
    import faiss

    flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) if mmap else 0
    with reading(path, "FAISS index"):
        return faiss.read_index(str(path), flags)
