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


# the gid of a panel's note: a figure test tells a note saying why a panel holds no data from
# any other text on it (a point's label is not a reason)
NOTE_GID = "panel-note"


def panel_note(ax, text: str) -> None:
    """Say in the middle of ``ax`` why it holds no data, instead of leaving it empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, transform=ax.transAxes, gid=NOTE_GID)


def not_drawn_figure(out: dict, name: str, dpi: int, title: str, why: str) -> None:
    """The file a figure's rule must write when the run measured too little to draw it: no axes,
    only ``title`` and the reason (the report says the same in a line of its own)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(6, 1.6))
    fig.suptitle(f"{title}: not drawn", fontsize=9)
    fig.text(0.5, 0.4, why, ha="center", va="center", fontsize=8, wrap=True, gid=NOTE_GID)
    save_figure(fig, out, name, dpi)
    plt.close(fig)


def count_axis(ax, ticks=None) -> None:
    """A count on the x axis (questions, steps, k): linear, with ``ticks`` as its labels, or
    whole-number ticks where matplotlib chooses them (a short run once showed "0.5 steps")."""
    from matplotlib.ticker import MaxNLocator

    if ticks is not None:
        ax.set_xticks(list(ticks), [str(t) for t in ticks])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
