"""Timing and peak memory of one call, the same way for every benchmark.

Peak memory: on a GPU, torch's allocator peak; on the CPU, the process's resident set sampled
every 2 ms by a thread (torch's CPU allocations are invisible to tracemalloc), reported as the
growth over the resident set before the call, so that loaded models do not count.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import torch


@dataclass
class Measured:
    seconds: float  # best of the repeats (the least disturbed by other processes)
    peak_mb: float  # peak memory growth of one call


class _RssPeak:
    def __init__(self) -> None:
        self.proc = psutil.Process(os.getpid())
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> _RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(fn: Callable[[], object], device: torch.device, repeats: int = 3, warmup: int = 1) -> Measured:
    """Best wall time of ``repeats`` calls after ``warmup`` calls; peak memory of the first timed one."""
    for _ in range(warmup):
        fn()
    sync(device)
    best, peak = float("inf"), 0.0
    for i in range(repeats):
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        with _RssPeak() if i == 0 and device.type != "cuda" else contextlib.nullcontext() as rss:
            t0 = time.perf_counter()
            fn()
            sync(device)
            best = min(best, time.perf_counter() - t0)
        if i == 0:
            if device.type == "cuda":
                peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            else:
                peak = (rss.peak - rss.base) / 2**20
    return Measured(best, peak)
