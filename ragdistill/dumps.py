"""Reading attention dumps and perplexity scores without importing torch (cheap downstream jobs)."""

from __future__ import annotations

import numpy as np


def load_dump(path: str) -> dict[str, np.ndarray]:
    """Read a dump written by ``attention.dump_attention`` or ``attention.score_perplexity``.

    Plain arrays only: ``allow_pickle=False`` means a crafted file cannot run code when read.
    """
    with np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in z.files}
