"""Where and in which precision a model runs: the device, bfloat16 where the CPU or GPU has it,
autocast for training passes, and seeds."""

from __future__ import annotations

import logging

import numpy as np
import torch

log = logging.getLogger(__name__)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


PRECISIONS = ("auto", "float32", "bfloat16")


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True where the processor computes bfloat16 products natively (``avx512_bf16`` or AMX):
    there torch's CPU matmuls in bf16 run several times faster than float32; elsewhere bf16 is
    emulated and slower."""
    try:
        flags = next((line for line in open(cpuinfo) if line.startswith("flags")), "")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def pick_precision(setting: str, device: torch.device) -> tuple[torch.dtype, str]:
    """(the dtype model passes compute in, why): ``model_jobs.precision`` ``float32`` or
    ``bfloat16`` as set; ``auto`` bfloat16 where the GPU or the CPU supports it, else float32."""
    if setting not in PRECISIONS:
        raise ValueError(f"config key model_jobs.precision: {setting!r} is not one of {PRECISIONS}")
    if setting != "auto":
        return getattr(torch, setting), f"model_jobs.precision: {setting}"
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return (torch.bfloat16 if ok else torch.float32), f"auto: this GPU {'has' if ok else 'lacks'} bf16"
    ok = cpu_has_bf16()
    return (
        torch.bfloat16 if ok else torch.float32
    ), f"auto: this CPU {'has' if ok else 'lacks'} avx512_bf16/AMX"


def stage_precision(setting: str, device: torch.device, stage: str) -> torch.dtype:
    """:func:`pick_precision`, with the choice and its reason in the job's log."""
    dtype, why = pick_precision(setting, device)
    log.info("%s computes in %s (%s)", stage, str(dtype).removeprefix("torch."), why)
    return dtype


def in_precision(model, dtype: torch.dtype):
    """A model for no-grad passes in ``dtype``: its weights cast once to bfloat16 (autocast would
    cast every weight again on every call: measured five times slower than float32 on this
    project's CPU for an attention dump, where bf16 weights are faster), unchanged in float32."""
    return model.to(torch.bfloat16) if dtype == torch.bfloat16 else model


def autocast(dtype: torch.dtype, device: torch.device):
    """Mixed precision for training: ``torch.autocast`` in ``dtype`` when it is bfloat16 (weights
    stay float32, so training keeps float32 master weights and saves float32), nothing in
    float32. No-grad passes use :func:`in_precision` instead."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)


def set_seed(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
