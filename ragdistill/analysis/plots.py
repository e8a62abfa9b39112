"""Writing a figure: the one way every stage that draws saves it (PNG beside a vector PDF)."""

from __future__ import annotations

from pathlib import Path

from ragdistill.core.files import atomic_path


def save_figure(fig, out: dict, name: str, dpi: int) -> None:
    """Write ``fig`` as ``out[name]`` (PNG) and ``out[name_pdf]`` (vector PDF), each atomically.
    The PDF carries no creation date, so that the same figure gives the same bytes (a rerun or a
    refactor can then be checked with a plain file comparison)."""
    for path in (out[name], out[f"{name}_pdf"]):
        fmt = Path(path).suffix.lstrip(".")
        meta = {"CreationDate": None} if fmt == "pdf" else None
        with atomic_path(path, suffix=Path(path).suffix) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt, metadata=meta)
