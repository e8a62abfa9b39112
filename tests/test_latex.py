"""The LaTeX tables: escaping, booktabs layout, and (where pdflatex is installed) that they
compile in a document that loads only booktabs."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from ragdistill.analysis.latex import claims_tex, escape, grid_tex
from ragdistill.stages.report import grid_summary

ROWS = [
    {"retriever_kind": "initial", "reader_kind": "finetuned", "hr@5": 0.5, "em": 0.1},
    {"retriever_kind": "initial", "reader_kind": "finetuned", "hr@5": 0.7, "em": None},
    {"retriever_kind": "adist-finetuned", "reader_kind": "finetuned", "hr@5": 0.8, "em": 0.2},
]
ITEMS = [
    {
        "claim": "1. Fine-tuned distillation beats the initial retriever on HR@5",
        "seeds_held": "1/1",
        "verdict": "holds",
    },
    {"claim": "6. 100% & more_than ~ {x}", "seeds_held": "0/1", "verdict": "not measured (step 0 kept)"},
]
PER_SEED = [["seed 0: HR@5 adist-finetuned - initial +0.042 [+0.025, +0.058] (n 2000)"], []]


def test_escape_makes_every_special_character_text():
    assert escape("a_b & 5% $x$ #1 {y} ~ ^ \\") == (
        r"a\_b \& 5\% \$x\$ \#1 \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    )
    assert escape("0.5 ± 0.1, k ≥ 5, −0.2") == r"0.5 $\pm$ 0.1, k $\geq$ 5, -0.2"


def test_grid_table_gives_mean_and_sd_over_seeds_in_booktabs():
    cols, groups = grid_summary(ROWS)
    assert cols == ["hr@5", "em"]
    tex = grid_tex(cols, groups, "world")
    lines = tex.splitlines()
    assert lines[lines.index(r"\toprule") + 1] == r"retriever & reader & seeds & HR@5 & EM \\"
    body = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    # hand-computed: mean 0.6, sample sd of (0.5, 0.7) = 0.1414; EM measured in one seed only
    assert body == [
        r"\texttt{initial} & \texttt{finetuned} & 2 & 0.600 $\pm$ 0.141 & 0.100 \\",
        r"\texttt{adist-finetuned} & \texttt{finetuned} & 1 & 0.800 & 0.200 \\",
    ]
    assert r"\label{tab:grid-world}" in tex and tex.isascii()


def test_grid_table_gives_each_retrievers_gain_interval_per_seed():
    """The LaTeX grid's last column: each seed's kept-step HR@5 gain with its interval (from the
    report's fixed-step rows), a kept step 0 said as such, the initial retriever's cell empty."""
    from ragdistill.stages.report import gain_texts

    fixed = [
        {"retriever": "adist-finetuned", "seed": s, "kept_step": k, "selected": sel}
        for s, k, sel in [
            (0, 10, {"diff": 0.042, "lo": 0.025, "hi": 0.058, "n": 2000}),
            (1, 0, None),
        ]
    ]
    gains = gain_texts(fixed)
    assert gains == {"adist-finetuned": ["s0 +0.042 [+0.025, +0.058]", "s1 step 0 kept"]}
    cols, groups = grid_summary(ROWS)
    tex = grid_tex(cols, groups, "world", gains, 0.95)
    lines = tex.splitlines()
    assert lines[lines.index(r"\toprule") + 1].endswith(r"& EM & HR@5 gain [95\% interval] \\")
    body = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    assert body[0].endswith(r"& 0.100 & -- \\")
    assert body[1].endswith(r"& 0.200 & s0 +0.042 [+0.025, +0.058] \newline s1 step 0 kept \\")
    assert r"p{0.2\linewidth}" in tex


def test_claims_table_escapes_each_claim_and_lists_seeds():
    tex = claims_tex(ITEMS, PER_SEED, "squad/s0", 0.95)
    assert r"6. 100\% \& more\_than \textasciitilde{} \{x\}" in tex
    assert r"\textbf{not measured (step 0 kept)}" in tex
    assert "+0.042 [+0.025, +0.058]" in tex and r"95\% interval" in tex
    assert r"\label{tab:claims-squad-s0}" in tex and tex.isascii()
    assert tex.count(r"\\" + "\n") == 3  # header and two claims


NO_PDFLATEX = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


def compile_tables(folder, body: str) -> None:
    """``body`` (tables) in a document that loads only booktabs, compiled by pdflatex."""
    doc = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + body + "\\end{document}\n"
    (folder / "t.tex").write_text(doc)
    res = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert (folder / "t.pdf").stat().st_size > 0


@NO_PDFLATEX
def test_both_tables_compile_with_pdflatex(tmp_path):
    cols, groups = grid_summary(ROWS)
    gains = {"adist-finetuned": ["s0 +0.042 [+0.025, +0.058]", "s1 step 0 kept"]}
    compile_tables(
        tmp_path, grid_tex(cols, groups, "world", gains) + claims_tex(ITEMS, PER_SEED, "world", 0.95)
    )


@NO_PDFLATEX
@pytest.mark.workflow
def test_the_smoke_runs_own_tables_compile_with_pdflatex(smoke_run, tmp_path):
    """The files a run wrote, not hand-made tables: the smoke run's grid.tex and claims.tex."""
    report = smoke_run / "results" / "smoke" / "report"
    body = (report / "grid.tex").read_text() + (report / "claims.tex").read_text()
    assert "HR@5 gain [95\\% interval]" in body
    compile_tables(tmp_path, body)


def test_hr_curve_from_hand_made_retrievals(tmp_path):
    """HR@k against k from the definition: three questions whose first answer-bearing passage is
    at rank 1, rank 3 and nowhere among 4."""
    from ragdistill.analysis.hr_at_k import hr_curve
    from ragdistill.core.files import write_jsonl

    def ex(hits):
        return {"id": "q", "ctxs": [{"has_answer": h} for h in hits]}

    path = tmp_path / "r.jsonl"
    write_jsonl(path, [ex([1, 0, 0, 0]), ex([0, 0, 1, 1]), ex([0, 0, 0, 0])])
    np.testing.assert_allclose(hr_curve(str(path)), [1 / 3, 1 / 3, 2 / 3, 2 / 3])
