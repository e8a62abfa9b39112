"""The ladder's scale rule (docs/method.md, "The teacher ladder"; ragdistill/tools/ladder_scales.py)
on hand-made dev gains, and the tool on a hand-made run folder."""

from __future__ import annotations

import pytest

from ragdistill.tools import ladder_scales


def test_each_target_takes_the_nearest_scale_not_yet_taken():
    # G = 0.05: targets 0.04, 0.03, 0.02, 0.01, 0
    gains = {0.002: 0.049, 0.005: 0.041, 0.01: 0.028, 0.02: 0.022, 0.05: 0.012, 0.1: 0.001, 0.2: -0.02}
    assert ladder_scales.choose(gains, 0.05) == [0.005, 0.01, 0.02, 0.05, 0.1]


def test_a_scale_is_taken_once_and_ties_go_to_the_smaller_scale():
    # both 0.01 and 0.02 are 0.005 from 0.6 G = 0.03; the smaller wins; 0.02 then serves 0.4 G
    gains = {0.005: 0.05, 0.01: 0.035, 0.02: 0.025, 0.05: 0.0, 0.1: 0.0}
    chosen = ladder_scales.choose(gains, 0.05)
    assert chosen == [0.005, 0.01, 0.02, 0.05, 0.1]
    assert ladder_scales.choose({0.01: 0.01, 0.02: 0.01}, 0.05, targets=(0.2,)) == [0.01]


def test_dev_gain_is_the_last_step_minus_step_0_not_the_best():
    points = [{"step": 0, "dev_hr5": 0.5}, {"step": 10, "dev_hr5": 0.55}, {"step": 20, "dev_hr5": 0.52}]
    assert ladder_scales.dev_gain(points) == pytest.approx(0.02)


def _curve(folder, hr: list[float]) -> None:
    folder.mkdir(parents=True)
    lines = ["step\tloss\tdev_hr5\tindex_step\twins\tlosses"]
    lines += [f"{10 * i}\t0.1\t{h}\t0\t0\t0" for i, h in enumerate(hr)]
    (folder / "curve.tsv").write_text("\n".join(lines) + "\n")


def test_the_tool_reads_the_scan_and_prints_the_chosen_scales(tmp_path, capsys):
    distill = tmp_path / "results" / "world" / "s0" / "distill"
    _curve(distill / "adist-finetuned-s0", [0.50, 0.56, 0.55])  # G = 0.05
    for milli, last in ((2, 0.549), (5, 0.541), (10, 0.528), (20, 0.522), (50, 0.512), (100, 0.501)):
        _curve(distill / f"adist-nz{milli}-s0", [0.50, 0.53, last])
    _curve(distill / "adist-offtheshelf-s0", [0.50, 0.52, 0.51])  # not a rung
    ladder_scales.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "G = +0.050" in out and "noise: [0.005, 0.01, 0.02, 0.05, 0.1]" in out


def test_too_few_rungs_stop_with_one_line(tmp_path):
    distill = tmp_path / "results" / "world" / "s0" / "distill"
    _curve(distill / "adist-finetuned-s0", [0.50, 0.55])
    _curve(distill / "adist-nz10-s0", [0.50, 0.52])
    with pytest.raises(SystemExit, match="1 noise rungs distilled; the rule takes 5"):
        ladder_scales.main([str(tmp_path)])
