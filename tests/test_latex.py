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


def test_claims_table_escapes_each_claim_and_lists_seeds():
    tex = claims_tex(ITEMS, PER_SEED, "squad/s0", 0.95)
    assert r"6. 100\% \& more\_than \textasciitilde{} \{x\}" in tex
    assert r"\textbf{not measured (step 0 kept)}" in tex
    assert "+0.042 [+0.025, +0.058]" in tex and r"95\% interval" in tex
    assert r"\label{tab:claims-squad-s0}" in tex and tex.isascii()
    assert tex.count(r"\\" + "\n") == 3  # header and two claims


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_both_tables_compile_with_pdflatex(tmp_path):
    cols, groups = grid_summary(ROWS)
    body = grid_tex(cols, groups, "world") + claims_tex(ITEMS, PER_SEED, "world", 0.95)
    doc = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + body + "\\end{document}\n"
    (tmp_path / "t.tex").write_text(doc)
    res = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / "t.pdf").stat().st_size > 0


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
