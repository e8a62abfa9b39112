"""The study's design as names (ragdistill/core/grid.py), on hand-written configs."""

from __future__ import annotations

import re

import pytest

from ragdistill.core import grid

BASE = {
    "seeds": [0, 1],
    "reader_finetune": {"steps": 30},
    "grid": {"extra": ["attn-finetuned"], "teachers": [0, 10, 30], "controls": True},
    "curve": {"sizes": [50, 200], "teachers": ["finetuned", "offtheshelf"], "seeds": "first"},
}


def test_cells_pair_each_retriever_with_its_teacher_and_the_off_the_shelf_ones_with_both():
    cells = [(c["retriever"], c["reader"]) for c in grid.Grid.of(BASE).cells()]
    per_seed = lambda s: [  # noqa: E731
        ("initial", "offtheshelf"),  # each seed's replicate has its own initial retriever
        ("initial", f"finetuned-s{s}"),
        (f"adist-offtheshelf-s{s}", "offtheshelf"),
        (f"adist-offtheshelf-s{s}", f"finetuned-s{s}"),
        (f"adist-finetuned-s{s}", f"finetuned-s{s}"),
        (f"pdist-finetuned-s{s}", f"finetuned-s{s}"),
        (f"attn-finetuned-s{s}", f"finetuned-s{s}"),
    ]
    assert cells == [*per_seed(0), *per_seed(1)]
    assert [c["seed"] for c in grid.Grid.of(BASE).cells()] == [0] * 7 + [1] * 7


def test_readers_sweep_and_controls():
    g = grid.Grid.of(BASE)
    assert g.sweep == ["offtheshelf", "ft10", "finetuned"]  # 30 steps is the default's reader
    # each seed's replicate dumps every reader on its own questions, off the shelf included
    assert g.readers(1) == ["offtheshelf", "finetuned-s1", "random", "ft10-s1"]
    assert g.seed_readers()[:4] == [(0, "offtheshelf"), (0, "finetuned-s0"), (0, "random"), (0, "ft10-s0")]
    assert len(g.seed_readers()) == 8
    assert g.sweep_retrievers() == [
        "adist-offtheshelf-s0",
        "adist-ft10-s0",
        "adist-finetuned-s0",
        "adist-offtheshelf-s1",
        "adist-ft10-s1",
        "adist-finetuned-s1",
    ]
    assert g.control_retrievers() == [
        "adist-random-s0",
        "adist-uniform-s0",
        "adist-random-s1",
        "adist-uniform-s1",
    ]
    assert g.sweeps
    quiet = grid.Grid.of({**BASE, "grid": {"extra": [], "teachers": [], "controls": False}})
    assert quiet.readers(0) == ["offtheshelf", "finetuned-s0"] and not quiet.sweeps


def test_the_learning_curve_runs_on_the_first_seed_unless_told_otherwise():
    g = grid.Grid.of(BASE)
    assert g.curve_retrievers() == [
        "adist-finetuned-n50-s0",
        "adist-finetuned-n200-s0",
        "adist-offtheshelf-n50-s0",
        "adist-offtheshelf-n200-s0",
    ]
    rows = g.curve_rows()
    assert [(r["teacher"], r["size"], r["retriever"]) for r in rows][2] == (
        "finetuned",
        None,
        "adist-finetuned-s0",
    )
    assert len(rows) == 6
    every = grid.Grid.of({**BASE, "curve": {**BASE["curve"], "seeds": "all"}})
    assert len(every.curve_retrievers()) == 8
    off = grid.Grid.of({**BASE, "curve": {**BASE["curve"], "sizes": []}})
    assert off.curve_teachers == () and off.curve_rows() == []


def test_distilled_retrievers_are_every_trained_one_once_and_match_the_wildcard():
    g = grid.Grid.of(BASE)
    found = g.distilled_retrievers()
    assert found == sorted(set(found)) and "initial" not in found
    assert {"adist-uniform-s1", "adist-finetuned-n50-s0", "attn-finetuned-s1"} <= set(found)
    assert all(re.fullmatch(grid.DISTILLED, r) for r in found)
    assert not re.fullmatch(grid.DISTILLED, "adist-finetuned-s0-extra")


def test_reader_names_and_their_grammar():
    g = grid.Grid.of(BASE)
    assert grid.teacher_reader("finetuned", 2) == "finetuned-s2"
    assert grid.teacher_reader("random", 2) == "random" == grid.teacher_reader("random", 0)
    assert grid.reader_seed("ft60-s12") == 12 and grid.reader_seed("finetuned-s0") == 0
    assert g.finetune_steps_of("finetuned-s1") == 30 and g.finetune_steps_of("ft60-s1") == 60
    for name in ("offtheshelf", "finetuned", "ft-s1", "finetuned-s"):
        with pytest.raises(ValueError, match="fine-tuned reader's name"):
            grid.reader_seed(name)
    for _, r in g.seed_readers():
        assert re.fullmatch(grid.READER, r), r
    assert g.cell_retrievers("offtheshelf", 1) == ["initial", "adist-offtheshelf-s1"]
    assert grid.replicate("world", 2) == "world/s2" and grid.replicate_parts("world/s2") == ("world", 2)
    with pytest.raises(ValueError, match="replicate"):
        grid.replicate_parts("world")


def test_fixed_step_retrievers_are_the_teachers_last_steps():
    g = grid.Grid.of(BASE)
    assert "adist-finetuned-n50-s0" not in g.teacher_retrievers()
    assert g.fixed("adist-random-s1") == "adist-random-s1-last"
    assert [g.fixed(r) for r in g.teacher_retrievers()] == [f"{r}-last" for r in g.teacher_retrievers()]
    assert all(re.fullmatch(grid.FIXED, g.fixed(r)) for r in g.teacher_retrievers())
    assert grid.fixed_of("adist-random-s1-last") == "adist-random-s1"
    last = grid.Grid.of({**BASE, "distill": {"select": "last"}})
    assert last.fixed("adist-random-s1") == "adist-random-s1"
    assert all(last.fixed(r) == r for r in last.teacher_retrievers())


def test_the_ladder_adds_its_rungs_to_the_sweep():
    g = grid.Grid.of({**BASE, "ladder": {"noise": [0.02, 0.1], "blind": True}})
    assert g.ladder == ["nz20", "nz100", "blind"]
    assert g.sweep == ["offtheshelf", "ft10", "finetuned", "nz20", "nz100", "blind"]
    assert g.readers(0)[-3:] == ["nz20-s0", "nz100-s0", "blind-s0"]
    assert [g.sweep_label(t) for t in g.sweep] == [
        "0 steps",
        "10 steps",
        "30 steps",
        "noise 0.02",
        "noise 0.1",
        "blind",
    ]
    assert "adist-nz20-s1" in g.sweep_retrievers() and re.fullmatch(grid.DISTILLED, "adist-blind-s0")
    assert all(re.fullmatch(grid.READER, r) for _, r in g.seed_readers())
    assert grid.reader_seed("nz20-s3") == 3 and grid.noise_scale("nz20") == 0.02
    assert g.finetune_steps_of("blind-s0") == 30
    with pytest.raises(ValueError, match="ladder.noise"):
        grid.noise_name(0.0205)
