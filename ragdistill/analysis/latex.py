"""LaTeX tables (booktabs) of the grid and the claims check, for a paper.

Why a module of its own: the report writes each table three ways (CSV for scripts, Markdown for
``report.md``, LaTeX for a paper); the LaTeX needs its own escaping and layout rules, kept here
so that the report stays about what it says, not about typesetting. The tables need the
``booktabs`` package (``\\usepackage{booktabs}``) and nothing else; ``tests/test_latex.py``
compiles them with ``pdflatex`` where it is installed.
"""

from __future__ import annotations

import re

import numpy as np

from ragdistill.analysis.stats import mean_sd

# characters LaTeX reads as commands, and the few non-ASCII ones our texts use
_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "−": "-",
    "×": r"$\times$",
    "–": "--",
    "—": "---",
}
_PATTERN = re.compile("|".join(re.escape(c) for c in _SPECIAL))


def escape(text: str) -> str:
    """``text`` as LaTeX text: every special character escaped, so that a retriever name such as
    ``adist-finetuned-s0`` or a rule with ``%`` prints as written."""
    return _PATTERN.sub(lambda m: _SPECIAL[m.group(0)], str(text))


def _table(spec: str, header: list[str], rows: list[list[str]], caption: str, label: str) -> str:
    """A booktabs ``table``: header and cells are LaTeX already (escaped by the caller)."""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
        *(" & ".join(r) + r" \\" for r in rows),
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def grid_tex(
    cols: list[str],
    groups: list[tuple[str, str, int, list[np.ndarray]]],
    run: str,
    gains: dict[str, list[str]] | None = None,
    level: float = 0.95,
) -> str:
    """The evaluation grid (``report.grid_summary``): one row per (retriever kind, reader kind),
    each measure's mean over the seeds, with ``± sd`` where several seeds measured it; with
    ``gains`` (retriever kind -> each seed's HR@5 gain over the initial retriever as
    ``s0 +0.042 [+0.025, +0.058]``, ``report.gain_texts``) a last column with those intervals."""
    header = ["retriever", "reader", "seeds", *(escape(c.upper()) for c in cols)]
    if gains is not None:
        header.append(rf"HR@5 gain [{round(level * 100)}\% interval]")
    rows = []
    for ret, rea, n, values in groups:
        cells = []
        for v in values:
            if not len(v):
                cells.append("--")
            else:
                mean, sd = mean_sd(v)
                cells.append(rf"{mean:.3f} $\pm$ {sd:.3f}" if len(v) > 1 else f"{mean:.3f}")
        if gains is not None:
            cells.append(r" \newline ".join(escape(t) for t in gains.get(ret, [])) or "--")
        rows.append([rf"\texttt{{{escape(ret)}}}", rf"\texttt{{{escape(rea)}}}", str(n), *cells])
    caption = (
        f"Evaluation grid of run \\texttt{{{escape(run)}}}: test HR@k, gold-passage recall and the "
        "reader's EM and F1, mean over the seeds ($\\pm$ sample sd where several seeds ran)"
        + (
            "; each distilled retriever's test HR@5 gain over the initial one per seed, paired per "
            "question (resampled by article where questions have one; the kept step, the report's "
            "fixed-step table gives the last)."
            if gains is not None
            else "."
        )
    )
    spec = "ll r" + "r" * len(cols) + ("p{0.2\\linewidth}" if gains is not None else "")
    return _table(spec, header, rows, caption, f"tab:grid-{_label(run)}")


def claims_tex(items: list[dict], per_seed: list[list[str]], run: str, level: float) -> str:
    """The claims check (``claims.json``): each claim, every comparison per seed with its interval
    (``per_seed``: the same texts as the Markdown table's, ``claims.seed_texts``), the seeds in
    which it held, and the verdict."""
    rows = [
        [
            escape(c["claim"]),
            r" \newline ".join(escape(x) for x in texts) or "--",
            escape(c["seeds_held"]),
            rf"\textbf{{{escape(c['verdict'])}}}",
        ]
        for c, texts in zip(items, per_seed, strict=True)
    ]
    caption = (
        f"Claims check of run \\texttt{{{escape(run)}}}: each paired comparison per seed as mean "
        f"difference [{round(level * 100)}\\% interval] (n); the rules are in the project's "
        "docs/method.md."
    )
    return _table(
        "p{0.26\\linewidth}p{0.46\\linewidth}cp{0.12\\linewidth}",
        ["claim", "measured per seed", "held", "verdict"],
        rows,
        caption,
        f"tab:claims-{_label(run)}",
    )


def _label(run: str) -> str:
    """A run's name as a LaTeX label part (``world/s0`` would read as a path)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", run)
