"""Test hook, imported at start-up by every Python process that has this folder on PYTHONPATH
(tests/test_figures_drawn.py puts it there for one workflow run): each PNG a figure is saved to
also gets a JSON summary of what the figure holds (titles, data points per panel, text notes) in
``$RAGDISTILL_FIGURE_DUMP``, so that the test can check every figure from the figure objects the
workflow's own jobs drew. Nothing of the product imports or knows this file."""

import json
import os
from pathlib import Path

_DUMP = os.environ.get("RAGDISTILL_FIGURE_DUMP")


def _finite(xs, ys) -> int:
    import numpy as np

    try:
        x = np.asarray(xs, dtype=float).ravel()
        y = np.asarray(ys, dtype=float).ravel()
    except (TypeError, ValueError):  # categorical x: count the finite y
        y = np.asarray(ys, dtype=float).ravel()
        return int(np.isfinite(y).sum())
    if x.size != y.size:
        return int(np.isfinite(y).sum())
    return int((np.isfinite(x) & np.isfinite(y)).sum())


def _panel(ax) -> dict:
    """Data points of one panel: lines drawn in data coordinates (not axhline/axvline), each
    error bar's point (not its caps), bars with a finite height, scatter points and images."""
    from matplotlib.container import BarContainer, ErrorbarContainer

    in_errorbars = set()
    points = 0
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            line = c.lines[0]
            in_errorbars.update(id(x) for x in (c.lines[1] or ()))
            if line is not None:
                in_errorbars.add(id(line))
                points += _finite(line.get_xdata(), line.get_ydata())
        elif isinstance(c, BarContainer):
            points += sum(1 for p in c.patches if p.get_height() == p.get_height())  # 0 is a value
    for line in ax.lines:
        if id(line) in in_errorbars or line.get_transform() != ax.transData:
            continue
        points += _finite(line.get_xdata(), line.get_ydata())
    for coll in ax.collections:
        if type(coll).__name__ == "PathCollection":
            points += len(coll.get_offsets())
    points += sum(int(im.get_array().size) for im in ax.images)
    points += sum(len(p.get_data().values) for p in ax.patches if type(p).__name__ == "StepPatch")
    title = " ".join(t for t in (ax.get_title(loc=w) for w in ("left", "center", "right")) if t)
    return {
        "title": title,
        "points": points,
        "texts": [t.get_text() for t in ax.texts],
        # a note saying why the panel holds no data (the product's plots.panel_note), told from
        # other texts by its gid: a point's label is not a reason
        "notes": [t.get_text() for t in ax.texts if t.get_gid() == "panel-note"],
        "xscale": ax.get_xscale(),
        "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
        "xlabel": ax.get_xlabel(),
        "legend": [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else [],
    }


if _DUMP:
    from matplotlib.figure import Figure

    _savefig = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        name = str(fname)
        fmt = kwargs.get("format") or Path(name).suffix.lstrip(".")
        saved = _savefig(self, fname, *args, **kwargs)  # drawn first: the tick labels are set then
        if fmt == "png":
            sup = self._suptitle.get_text() if self._suptitle is not None else ""
            axes = [_panel(ax) for ax in self.axes if ax.get_visible() and ax.axison]
            notes = [t.get_text() for t in self.texts if t.get_gid() == "panel-note"]
            summary = {"file": name, "suptitle": sup, "axes": axes, "notes": notes}
            out = Path(_DUMP) / f"{os.getpid()}-{len(list(Path(_DUMP).iterdir()))}.json"
            out.write_text(json.dumps(summary))
        return saved

    Figure.savefig = savefig
