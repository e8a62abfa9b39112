"""Resumable training: checkpoints of a training loop that a killed job picks up when rerun.

A checkpoint holds exactly what the next step depends on, so that a resumed run on CPU ends
bit for bit where an uninterrupted one would: the trainable weights, the optimizer and
scheduler state, the Python and torch random states, and the loop's own bookkeeping (data
order, loss history). Tensors go to safetensors (nothing is unpickled on load), the rest to JSON.

Checkpoints live outside the rule's outputs (Snakemake deletes the outputs of an incomplete
job before rerunning it), in ``<resume_dir>/step-<n>/`` with ``<resume_dir>/LATEST`` naming the
newest complete one; only the newest is kept, and the folder is deleted once the job succeeds.
A fingerprint of the job's inputs and params guards against resuming from another
configuration: a mismatch starts from scratch and says so in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ragdistill.core.files import write_text

log = logging.getLogger(__name__)
CRASH_ENV = "RAGDISTILL_CRASH_AT"


def trainable_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights that training changes (those that require a gradient)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@dataclass
class Best:
    """The trainable weights at the step with the highest dev score so far.

    Early stopping on dev: training on a few hundred questions overfits, and the dev score
    peaks and falls; ``select: best`` keeps the peak. Ties keep the earlier step.
    """

    step: int
    score: float
    weights: dict[str, torch.Tensor]

    def offer(self, step: int, score: float, model: torch.nn.Module) -> None:
        """Keep ``model``'s trainable weights if ``score`` beats the best so far."""
        if score > self.score:
            self.step, self.score, self.weights = step, score, trainable_weights(model)


def next_batch(order: list[int], rng: random.Random, n: int, size: int) -> list[int]:
    """The next ``size`` item indices of a training loop's data order (shared by both loops).

    ``order`` is the loop's remaining order, kept in its checkpoints: when fewer than ``size``
    remain, a fresh seeded shuffle of all ``n`` items is appended (epochs run into each other,
    as the seeded shuffle decides). The batch is taken off its front, in place.
    """
    if len(order) < size:
        more = list(range(n))
        rng.shuffle(more)
        order.extend(more)
    batch = order[:size]
    del order[:size]
    return batch


def fingerprint(inp: dict, params: dict) -> str:
    """Hash of the params and of every input file's name, size and modification time."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for name in sorted(inp):
        values = inp[name] if isinstance(inp[name], list) else [inp[name]]
        for value in values:
            path = Path(value)
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                st = f.stat()
                h.update(f"{name}:{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, slots in state["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, _, name = key.partition(".")
        state.setdefault(int(idx), {})[name] = value
    for idx, slots in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(slots)
    return {"state": state, "param_groups": meta["param_groups"]}


def save(
    resume_dir: str | os.PathLike,
    step: int,
    fp: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None,
    rng: random.Random,
    loop: dict,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the checkpoint after ``step`` (only the trainable parameters), then make it LATEST.

    ``extra`` holds tensors the loop carries besides the model (the best weights so far).
    """
    from safetensors.torch import save_file

    root = Path(resume_dir)
    final = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        weights = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(weights, str(tmp / "trainable.safetensors"))
        opt_tensors, opt_meta = _flatten_optimizer(optimizer)
        opt_tensors["rng.torch"] = torch.get_rng_state()
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        extra_tensors = {n: t.detach().cpu().contiguous() for n, t in (extra or {}).items()}
        save_file(extra_tensors, str(tmp / "extra.safetensors"))
        meta = {
            "step": step,
            "fingerprint": fp,
            "optimizer": opt_meta,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng_python": rng.getstate(),
            "loop": loop,
        }
        (tmp / "state.json").write_text(json.dumps(meta), encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk leaves no half checkpoint behind
        raise
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    write_text(root / "LATEST", final.name + "\n")  # atomic: a kill leaves the previous one named
    for old in root.glob("step-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint after step %d -> %s", step, final)


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


def load(
    resume_dir: str | os.PathLike,
    fp: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None,
    rng: random.Random,
) -> tuple[int, dict, dict[str, torch.Tensor]] | None:
    """Restore the LATEST checkpoint into the given objects; ``(step, loop, extra)`` or None."""
    from safetensors.torch import load_file

    root = Path(resume_dir)
    latest = root / "LATEST"
    if not latest.exists():
        return None
    ckpt = root / latest.read_text(encoding="utf-8").strip()
    try:
        meta = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        log.warning("%s: unreadable checkpoint (%s); starting from scratch", ckpt, err)
        return None
    if meta["fingerprint"] != fp:
        log.warning("%s: written for other inputs or settings; starting from scratch", ckpt)
        return None
    weights = load_file(str(ckpt / "trainable.safetensors"))
    unexpected = model.load_state_dict(weights, strict=False).unexpected_keys
    if unexpected:
        raise ValueError(f"{ckpt}: checkpoint has parameters the model lacks: {unexpected[:5]}")
    tensors = load_file(str(ckpt / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("rng.torch"))
    optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    if scheduler is not None and meta["scheduler"] is not None:
        scheduler.load_state_dict(meta["scheduler"])
    rng.setstate(_as_tuple(meta["rng_python"]))
    extra = load_file(str(ckpt / "extra.safetensors"))
    log.info("resuming from %s (step %d)", ckpt, meta["step"])
    return int(meta["step"]), meta["loop"], extra


def clear(resume_dir: str | os.PathLike) -> None:
    """Drop the checkpoints once the job's outputs are written (they are only for resuming)."""
    shutil.rmtree(resume_dir, ignore_errors=True)


@dataclass
class Checkpointer:
    """The resume checkpoints of one training job: restore at the start, save every N steps."""

    stage: str
    resume_dir: str
    every: int
    fp: str

    @classmethod
    def for_job(cls, stage: str, inp: dict, params: dict, every: int) -> Checkpointer:
        return cls(stage, str(params["resume_dir"]), int(every), fingerprint(inp, params))

    def restore(
        self, model, optimizer, scheduler, rng: random.Random, fresh: dict
    ) -> tuple[int, dict, dict[str, torch.Tensor]]:
        """``(steps done, loop state, extra tensors)`` from the LATEST checkpoint that fits, else
        ``(0, fresh, {})``. A checkpoint a kill left half-written (``.step-*.tmp``) goes first."""
        for left in Path(self.resume_dir).glob(".step-*.tmp"):
            shutil.rmtree(left, ignore_errors=True)
        restored = load(self.resume_dir, self.fp, model, optimizer, scheduler, rng)
        return restored if restored is not None else (0, fresh, {})

    def after_step(
        self, step: int, steps: int, model, optimizer, scheduler, rng, loop: dict, extra=None
    ) -> None:
        """Checkpoint after every ``every``-th step but the last (the outputs follow it)."""
        if self.every and step % self.every == 0 and step < steps:
            save(self.resume_dir, step, self.fp, model, optimizer, scheduler, rng, loop, extra)
            crash_point(self.stage, step)

    def done(self) -> None:
        clear(self.resume_dir)


def crash_point(stage: str, at: int) -> None:
    """Test hook: SIGKILL this job's process when ``RAGDISTILL_CRASH_AT`` is ``<stage>:<at>``.

    The job dies as under the out-of-memory killer or a scheduler's kill: no exception handler,
    no cleanup. The reliability tests use it to interrupt a training job at an exact step, which
    an outside kill cannot hit in a smoke run whose steps take milliseconds.
    """
    if os.environ.get(CRASH_ENV) == f"{stage}:{at}":
        log.warning("%s=%s: killing this job", CRASH_ENV, os.environ[CRASH_ENV])
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
