"""Passage vectors stored by ``encode`` (``candidate_vectors`` files), read back by id.

Query-only distillation scores a question's candidates against these fixed vectors instead of
re-encoding the passages at every step (the passage encoder does not train then).
"""

from __future__ import annotations

import numpy as np


class StoredVectors:
    """A ``candidate_vectors`` file, read once; :meth:`rows` looks passages up by id."""

    def __init__(self, path: str) -> None:
        self.path = path
        with np.load(path, allow_pickle=False) as z:
            self.row = {p: i for i, p in enumerate(z["ids"].tolist())}
            self.emb = z["emb"]

    def rows(self, ids: list[str]) -> np.ndarray:
        """Vectors of ``ids``, in that order, as float32."""
        missing = [p for p in ids if p not in self.row]
        if missing:
            raise KeyError(f"{self.path}: no vector for passages {missing[:3]} ({len(missing)} missing)")
        return self.emb[[self.row[p] for p in ids]].astype(np.float32)
