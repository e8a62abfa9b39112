"""The example-attention figure's choice of example and its per-document split of a dump."""

from __future__ import annotations

import numpy as np
import pytest

from ragdistill.stages.figures import curve_styles, example_tokens, pick_example


def _dump() -> dict:
    # two examples, k = 2: example 0 has no answer token, example 1 has one in document 1
    return {
        "ids": np.array(["a", "b"]),
        "ctx_ids": np.array([["p", "q"], ["r", "s"]]),
        "tok_offsets": np.array([0, 3, 7]),
        "tok_doc": np.array([0, 0, 1, 0, 1, 1, 1], dtype=np.int8),
        "tok_profile": np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.float16),
        "tok_answer": np.array([0, 0, 0, 0, 0, 1, 0], dtype=bool),
    }


def test_null_picks_the_first_example_with_an_answer_token():
    assert pick_example(_dump(), None) == 1
    assert pick_example(_dump(), 0) == 0


def test_an_index_outside_the_dump_names_the_config_key():
    with pytest.raises(ValueError, match=r"figures.example: 2 is outside the 2 dumped examples"):
        pick_example(_dump(), 2)


def test_tokens_split_by_document_in_retrieval_order():
    docs = example_tokens(_dump(), 1)
    assert [p.tolist() for p, _ in docs] == [[4.0], [5.0, 6.0, 7.0]]
    assert [a.tolist() for _, a in docs] == [[False], [False, True, False]]


def test_a_figure_saved_twice_gives_the_same_bytes(tmp_path):
    """No creation date in the PDF: a rerun or a refactor is checked with a file comparison."""
    import time

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ragdistill.analysis.plots import save_figure

    files = []
    for i in range(2):
        fig, ax = plt.subplots()
        ax.plot([1, 3, 2])
        out = {"f": str(tmp_path / f"{i}.png"), "f_pdf": str(tmp_path / f"{i}.pdf")}
        save_figure(fig, out, "f", 50)
        plt.close(fig)
        files.append(out)
        time.sleep(1.1)  # PDF dates have a resolution of one second
    for kind in ("f", "f_pdf"):
        assert open(files[0][kind], "rb").read() == open(files[1][kind], "rb").read(), kind


def test_curve_styles_give_a_series_per_distillation_and_a_style_per_seed():
    """Seeds of one distillation share a series (one colour, one legend entry); a name without
    a seed suffix is its own series."""
    names = ["adist-finetuned-s0", "adist-finetuned-s1", "pdist-finetuned-s0", "adist-ft10-s12", "odd"]
    styles = curve_styles(names)
    assert styles == {
        "adist-finetuned-s0": ("adist-finetuned", "0"),
        "adist-finetuned-s1": ("adist-finetuned", "1"),
        "pdist-finetuned-s0": ("pdist-finetuned", "0"),
        "adist-ft10-s12": ("adist-ft10", "12"),
        "odd": ("odd", ""),
    }


def test_the_curves_figure_draws_every_distillation_of_every_seed(tmp_path, monkeypatch):
    """Fifteen curves (five distillations, three seeds): one line per curve in each panel, and a
    legend of five distillations and three seeds, not fifteen entries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ragdistill.stages import figures

    series = ["adist-finetuned", "adist-offtheshelf", "adist-random", "adist-uniform", "pdist-finetuned"]
    paths = []
    for name in series:
        for seed in range(3):
            d = tmp_path / f"{name}-s{seed}"
            d.mkdir()
            (d / "curve.tsv").write_text("step\tloss\tdev_hr5\n0\tnan\t0.5\n1\t0.3\tnan\n2\t0.2\t0.55\n")
            paths.append(str(d / "curve.tsv"))
    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, out, name, dpi: drawn.append(fig))
    figures._plot_curves(plt, paths, {}, 50)
    loss, dev = drawn[0].axes
    assert len(loss.lines) == len(dev.lines) == 15
    labels = [t.get_text() for t in dev.get_legend().get_texts()]
    assert labels[:5] == series
    assert labels[5:] == ["seed 0", "seed 1", "seed 2"]
    assert {ln.get_linestyle() for ln in dev.lines} == {"-", "--", ":"}
