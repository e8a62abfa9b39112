"""The scaling benchmark's arithmetic (bench/scaling.py): growth exponents and their
extrapolation on a hand-made table, and one small run of the index and search path."""

from __future__ import annotations

import math

import pytest
import torch

from bench import scaling


def _rows(stage: str, kind: str, points: list[tuple[int, float, float]]) -> list[dict]:
    return [
        {
            "stage": stage,
            "kind": kind,
            "passages": n,
            "seconds": s,
            "peak_mb": mb,
            "what": f"{stage} x on {n}",
        }
        for n, s, mb in points
    ]


def test_growth_is_the_exponent_between_the_two_largest_sizes_extrapolated_to_dpr():
    rows = _rows("index", "flat", [(10_000, 50.0, 1.0), (100_000, 1.0, 100.0), (1_000_000, 10.0, 400.0)])
    (g,) = scaling.growth(rows)
    # 1.0 s -> 10.0 s over 10x more passages: linear; the first size's fixed cost is not fitted
    assert g["time_exponent"] == pytest.approx(1.0)
    assert g["rate"] == pytest.approx(10.0 * scaling.DPR / 1_000_000)
    # 100 -> 400 MB over 10x: n^log10(4)
    assert g["memory_exponent"] == pytest.approx(math.log10(4))
    assert g["peak_mb"] == pytest.approx(400.0 * (scaling.DPR / 1_000_000) ** math.log10(4))


def test_memory_too_small_to_measure_gets_no_exponent():
    rows = _rows("retrieve", "hnsw", [(100_000, 1.0, 2.0), (1_000_000, 3.0, 60.0)])
    (g,) = scaling.growth(rows)
    assert math.isnan(g["memory_exponent"]) and g["time_exponent"] == pytest.approx(math.log10(3))


def test_index_and_search_rows_on_a_small_corpus(tmp_path):
    rows = scaling.bench_index_and_search(tmp_path, torch.device("cpu"), 3_000, kinds=("flat", "hnsw"))
    by = {(r["stage"], r["kind"]): r for r in rows}
    assert set(by) == {("index", "flat"), ("retrieve", "flat"), ("index", "hnsw"), ("retrieve", "hnsw")}
    assert by[("retrieve", "flat")]["recall_at_20"] == 1.0
    assert by[("retrieve", "hnsw")]["recall_at_20"] > 0.9
    assert by[("index", "flat")]["index_mb"] == pytest.approx(3_000 * 384 * 4 / 2**20, rel=0.05)
    assert not list(tmp_path.iterdir())  # the shard and the indexes are cleaned up
