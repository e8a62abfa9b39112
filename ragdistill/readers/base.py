"""The reader interface: everything that depends on the reader's kind, behind one class.

A reader kind is one subclass of :class:`Reader` in this package (``decoder.py``: decoder-only
causal LMs; ``fid.py``: encoder-decoders read Fusion-in-Decoder style). The kind is decided once,
from the model's config, by :func:`ragdistill.readers.kind_for`; the stages then call the
interface and never ask which kind they hold. What a kind provides:

- its prompt layout (:meth:`Reader.build_prompt`) and how long a prompt is against the model's
  context (:meth:`Reader.prompt_length`);
- its batches (:meth:`Reader.batch`) and the answer's per-token NLL (:meth:`Reader.answer_nll`,
  with :meth:`Reader.target_counts` saying which tokens belong to which row);
- greedy answers of one batch (:meth:`Reader.generate`);
- which blocks train (:meth:`Reader.blocks`, :meth:`Reader.top_modules`);
- where attention is captured (:meth:`Reader.prepare_capture`, :meth:`Reader.token_profiles`).

What every kind shares is here: padding, building a stage's prompts with the context check,
the answering loop, freezing below the top blocks.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch

from ragdistill import models
from ragdistill.core.files import InputError
from ragdistill.core.stage_settings import PromptSettings
from ragdistill.readers.prompts import Prompt

log = logging.getLogger(__name__)


def pad(seqs: list[list[int]], pad_id: int, side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists as one padded batch: ids and attention mask, both (B, T) long."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if side == "right":
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        else:
            ids[i, width - len(s) :] = torch.tensor(s)
            mask[i, width - len(s) :] = 1
    return ids, mask


def to_device(batch: dict, device) -> dict:
    """The batch's tensors on ``device`` (other entries, such as FiD's ``n_docs``, as they are)."""
    return {n: t.to(device) if isinstance(t, torch.Tensor) else t for n, t in batch.items()}


def config_flag(config, name: str) -> bool:
    """A boolean of a model's config: a transformers config, or config.json read as a dict."""
    return bool(config.get(name, False) if isinstance(config, dict) else getattr(config, name, False))


def context_of(config) -> int | None:
    """The reader's context length in tokens (``max_position_embeddings``, GPT-2's
    ``n_positions``), or None where the config states none (ALiBi models may have none). For an
    encoder-decoder reader it bounds each FiD passage (T5's relative positions have no hard
    limit; its config's ``n_positions`` is the length it was trained at)."""
    return models.context_length(config)


class Reader(ABC):
    """One loaded reader model and what its kind does with it (module docstring)."""

    kind: ClassVar[str]  # the arms' label: "decoder-only" or "encoder-decoder"
    length_unit: ClassVar[str]  # what :meth:`prompt_length` measures, for error messages

    def __init__(self, model) -> None:
        self.model = model
        self.context = context_of(model.config)

    @staticmethod
    @abstractmethod
    def matches(config) -> bool:
        """Whether a model of this config (a transformers config or config.json as a dict) is
        of this kind."""

    @staticmethod
    @abstractmethod
    def auto_class():
        """The transformers ``Auto*`` class that loads this kind."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- prompts ---------------------------------------------------------------------------

    @abstractmethod
    def build_prompt(
        self,
        tokenizer,
        example: dict,
        k: int,
        ps: PromptSettings,
        with_answer: bool,
        answer: str | None = None,
    ) -> Prompt:
        """The prompt of one example with its first ``k`` ctxs (``answer``: the first gold)."""

    def check_settings(self, ps: PromptSettings) -> None:
        """Stop on prompt settings this kind cannot honour (every kind honours them all by default)."""
        return None

    @abstractmethod
    def prompt_length(self, prompt: Prompt) -> int:
        """The length that must fit the model's context (a prompt, or its longest passage)."""

    @staticmethod
    @abstractmethod
    def documents_per_sequence(k: int) -> int:
        """How many of a question's k documents share one sequence, and so the model's context
        (what the lengths check can know before any prompt is built)."""

    def build_prompts(
        self,
        tokenizer,
        examples: list[dict],
        k: int,
        params: dict | PromptSettings,
        with_answer: bool,
        stage: str,
    ) -> list[Prompt]:
        """Every example's prompt. One longer than the reader's context stops the stage with the
        question's id, since positions past it are garbage or an error; questions cut to
        ``prompt.max_question_tokens`` are counted in the log."""
        settings = PromptSettings.of(params)  # once, not once per example
        self.check_settings(settings)
        prompts = [self.build_prompt(tokenizer, ex, k, settings, with_answer) for ex in examples]
        for ex, p in zip(examples, prompts, strict=True):
            length = self.prompt_length(p)
            if self.context is not None and length > self.context:
                raise InputError(
                    f"{stage}: question {ex['id']!r}: a {self.length_unit} of {length} tokens is longer "
                    f"than the reader's context of {self.context} (its question alone is "
                    f"{p.question_span[1] - p.question_span[0]} tokens); set prompt.max_question_tokens "
                    "or lower prompt.max_doc_tokens"
                )
        cut = sum(p.question_cut for p in prompts)
        if cut:
            log.info("%s: %d of %d questions cut to prompt.max_question_tokens", stage, cut, len(prompts))
        return prompts

    # -- batches and answers ---------------------------------------------------------------

    @abstractmethod
    def batch(self, prompts: list[Prompt], pad_id: int, with_stop: bool = True) -> dict:
        """A training batch: labels -100 everywhere but the answer and, with ``with_stop``, the
        token that ends it (training targets it, so the reader learns to stop; scoring an
        answer, as PDist does, leaves it out)."""

    @abstractmethod
    def answer_nll(self, batch: dict) -> torch.Tensor:
        """Per-target-token NLL (N,) of the batch's labels, row after row."""

    @abstractmethod
    def target_counts(self, batch: dict) -> list[int]:
        """How many of :meth:`answer_nll`'s values belong to each row of the batch."""

    @abstractmethod
    def generate(self, tokenizer, prompts: list[Prompt], max_new_tokens: int) -> list[str]:
        """Greedy answers of one batch of prompts."""

    @torch.no_grad()
    def answer(
        self, tokenizer, prompts: list[Prompt], max_new_tokens: int, batch_size: int, progress: bool = False
    ) -> list[str]:
        """Greedy answers of every prompt, in batches of similar length."""
        from tqdm import tqdm

        self.model.eval()
        out: list[str] = [""] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
        for s in tqdm(range(0, len(order), batch_size), desc="answer", disable=not progress, mininterval=5):
            idx = order[s : s + batch_size]
            texts = self.generate(tokenizer, [prompts[i] for i in idx], max_new_tokens)
            for i, text in zip(idx, texts, strict=True):
                out[i] = text
        return out

    # -- training --------------------------------------------------------------------------

    @abstractmethod
    def blocks(self) -> torch.nn.ModuleList:
        """The transformer blocks that ``train_layers`` counts from the top."""

    @abstractmethod
    def top_modules(self) -> list[torch.nn.Module]:
        """What trains above the blocks besides the LM head (the final norm)."""

    def freeze_below(self, train_layers: int | None) -> int:
        """Train only the top ``train_layers`` blocks, :meth:`top_modules` and an untied LM head.

        Backpropagation then stops at the lowest trainable block, which on a CPU is most of the
        cost of a step. ``None`` trains everything. Returns the number of trainable parameters.
        """
        model = self.model
        if train_layers is not None:
            for p in model.parameters():
                p.requires_grad_(False)
            layers = self.blocks()
            for block in list(layers)[len(layers) - int(train_layers) :]:
                for p in block.parameters():
                    p.requires_grad_(True)
            top = self.top_modules()
            head = model.get_output_embeddings()
            # a head tied to the input embeddings would make every block's activations part of
            # the graph (the embedding lookup needs their gradient): keep it frozen then
            if head.weight is not model.get_input_embeddings().weight:
                top.append(head)
            for m in top:
                for p in m.parameters():
                    p.requires_grad_(True)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    # -- attention capture -----------------------------------------------------------------

    @abstractmethod
    def prepare_capture(self) -> None:
        """Switch the loaded model to capture (``ragdistill/readers/capture.py``), or fail early where
        its attention cannot be captured."""

    @abstractmethod
    def token_profiles(
        self, prompts: list[Prompt], pad_id: int, answer_rows: str = "own"
    ) -> dict[str, np.ndarray]:
        """One forward pass over a batch; per prompt token the three recorded sums (B, T) on the
        prompt's own positions, and ``layers``, the number of layers they add up. ``answer_rows``:
        which rows are the answer's (``capture.ANSWER_ROWS``; a FiD reader's are always the rows
        that produce it)."""
