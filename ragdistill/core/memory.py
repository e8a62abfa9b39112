"""Memory a job asks its scheduler for, from the size of the files it holds in memory.

The rules that hold a whole index (``build_index`` the corpus's vectors, the retrieval rules the
FAISS index) ask for memory in proportion to their inputs, so that one rule fits the default's
few megabytes and the paper preset's 21M passages alike (a flat index of 21M x 768 float32 is
about 64 GB): Snakemake evaluates a resource that reads ``input`` when the job is about to run,
once its inputs exist (a dry run shows it as ``<TBD>``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

MB = 1_000_000


def held_mb(paths: Iterable[str], times: float = 1.0, base_mb: int = 4000) -> int:
    """``base_mb`` (the interpreter, the libraries, a model) plus ``times`` the bytes of
    ``paths``, in MB (Snakemake's and SLURM's ``mem_mb``)."""
    held = sum(os.path.getsize(p) for p in paths)
    return base_mb + math.ceil(times * held / MB)
