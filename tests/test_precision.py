"""``model_jobs.precision``: which dtype a model job picks and why, and that a bfloat16 pass keeps
the attention capture in float32, stays close to float32, and trains float32 weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ragdistill import models
from ragdistill.core.files import write_jsonl
from ragdistill.data.dumps import load_dump
from ragdistill.models import device
from ragdistill.stages import attention, reader
from tests.conftest import example, finetune_case

CPU = torch.device("cpu")
PROMPT = {"seed": 0, "shuffle": True, "max_doc_tokens": 40, "add_bos": True}


def test_the_setting_or_the_processor_decides(tmp_path, monkeypatch):
    assert models.pick_precision("float32", CPU)[0] == torch.float32
    assert models.pick_precision("bfloat16", CPU)[0] == torch.bfloat16
    with_bf16, without = tmp_path / "a", tmp_path / "b"
    with_bf16.write_text("processor : 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor : 0\nflags\t\t: fpu sse2 avx2\n")
    assert models.cpu_has_bf16(str(with_bf16)) and not models.cpu_has_bf16(str(without))
    assert not models.cpu_has_bf16(str(tmp_path / "nowhere"))
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)  # where pick_precision looks it up
    dtype, why = models.pick_precision("auto", CPU)
    assert dtype == torch.bfloat16 and "avx512_bf16" in why
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert models.pick_precision("auto", CPU)[0] == torch.float32
    with pytest.raises(ValueError, match="config key model_jobs.precision: 'half'"):
        models.pick_precision("half", CPU)


def test_a_bf16_dump_keeps_float32_targets_close_to_float32s(tiny_model_dir, tmp_path):
    """The dump's forward in bfloat16 (autocast), its capture in float32: the targets come out
    float32, within bf16's rounding of the float32 dump's, with the same top document."""
    rows = [example(f"q{i}", k=3) for i in range(4)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    inp = {"model": tiny_model_dir("llama"), "retrieved": str(tmp_path / "train.jsonl")}
    dumps = {}
    for precision in ("float32", "bfloat16"):
        out = {"dump": str(tmp_path / f"{precision}.npz")}
        params = {"k": 3, "candidates": 3, "prompt": PROMPT, "batch_size": 2, "max_questions": None}
        attention.dump_attention(inp, out, {**params, "precision": precision})
        dumps[precision] = load_dump(out["dump"])
    fp32, bf16 = dumps["float32"]["scores_adist"], dumps["bfloat16"]["scores_adist"]
    assert bf16.dtype == np.float32
    assert not np.array_equal(fp32, bf16), "the bf16 pass did run in bf16"
    np.testing.assert_allclose(bf16, fp32, rtol=0.05)
    assert (bf16.argmax(1) == fp32.argmax(1)).all()


def test_bf16_fine_tuning_keeps_float32_weights(tiny_model_dir, tmp_path):
    inp, out, params = finetune_case(tmp_path, tiny_model_dir("llama"), steps=2)
    reader.finetune_reader(inp, out, {**params, "precision": "bfloat16"})
    weights = load_file(f"{out['model']}/model.safetensors")
    assert {w.dtype for w in weights.values()} == {torch.float32}
