"""Decoder-only readers (causal LMs: Llama, GPT-2, Falcon, ...): one prompt holds all k documents.

Prompt layout (each piece tokenised on its own and concatenated, so document, question and answer
spans are exact token ranges, whatever the tokenizer):

    [bos] [<header>\\n] Document [1] (Title: <title>) <text>\\n ... Document [k] ...\\n
    Question: <question>\\nAnswer: <answer>\\n

With ``chat_template: true`` the same text up to the question is the user's message in the
tokenizer's chat template, and the answer is the assistant's reply (no "Answer:" cue):

    [bos] <template before the user message> [<header>\n] Document [1] ... Question: <question>
    <template after it, opening the assistant's turn><answer>\n

Documents appear in a shuffled order (``ragdistill.readers.prompts.shuffle_order``), because decoder-only
readers favour recent positions. Training covers the answer and the newline that ends it;
answers are greedy and stop at the newline or EOS. Attention is captured inside the layers'
own attention call (``ragdistill/readers/capture.py``): through transformers' attention interface where
the architecture routes attention through it (Llama, GPT-2), else from torch's SDPA (Falcon).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ragdistill.core.stage_settings import PromptSettings
from ragdistill.readers import capture
from ragdistill.readers.base import Reader, config_flag, pad
from ragdistill.readers.prompts import Prompt, answer_mask, encode, shuffle_order

_SENTINEL = "\x00RAGDISTILL_USER_CONTENT\x00"


def chat_turns(tokenizer) -> tuple[list[int], list[int]]:
    """Token ids of the tokenizer's chat template before and after one user message, the
    assistant's turn opened after it (``add_generation_prompt``); ``prompt.chat_template``
    puts the documents and the question inside that message and the answer in the reply."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt.chat_template is true, but the reader's tokenizer has no chat template")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": _SENTINEL}], add_generation_prompt=True, tokenize=False
    )
    before, after = text.split(_SENTINEL)
    return encode(tokenizer, before).input_ids, encode(tokenizer, after).input_ids


def _documents(
    tokenizer, ctxs: list[dict], order: list[int], answers: list[str], max_doc: int, ids: list[int]
):
    """Append each document (in prompt ``order``) to ``ids``; per document (retrieval order) its
    span and its tokens' gold-answer mask."""
    spans: dict[int, tuple[int, int]] = {}
    masks: dict[int, list[bool]] = {}
    for slot, ci in enumerate(order):
        c = ctxs[ci]
        head = encode(tokenizer, f"Document [{slot + 1}] (Title: {c['title']})").input_ids
        body_text = " " + c["text"]
        body = encode(tokenizer, body_text, offsets=True)
        body_ids = body.input_ids[:max_doc]
        mask = answer_mask(body_text, body.offset_mapping[:max_doc], answers)
        start = len(ids)
        ids.extend(head)
        masks[ci] = [False] * len(head) + mask
        ids.extend(body_ids)
        spans[ci] = (start, len(ids))
        ids.extend(encode(tokenizer, "\n").input_ids)
    return [spans[i] for i in range(len(ctxs))], [masks[i] for i in range(len(ctxs))]


def build_prompt(
    tokenizer,
    example: dict,
    k: int,
    params: dict | PromptSettings,
    with_answer: bool,
    answer: str | None = None,
) -> Prompt:
    """Prompt for one example with its first ``k`` ctxs; ``answer`` defaults to the first gold."""
    ps = PromptSettings.of(params)
    ctxs = example["ctxs"][:k]
    order = shuffle_order([str(c["id"]) for c in ctxs], ps.seed, str(example["id"]), ps.shuffle)
    ids: list[int] = []
    if ps.add_bos and tokenizer.bos_token_id is not None:
        ids.append(tokenizer.bos_token_id)
    chat = chat_turns(tokenizer) if ps.chat_template else None
    if chat:
        ids.extend(chat[0])
    # A header before the documents takes the "attention sink" of the first positions, which
    # would otherwise land on the first document and decide its attention score.
    if ps.header:
        ids.extend(encode(tokenizer, str(ps.header).rstrip("\n") + "\n").input_ids)
    spans, masks = _documents(tokenizer, ctxs, order, example.get("answers", []), ps.max_doc_tokens, ids)
    # the question span is the question's own tokens, not the "Question:" cue, which is the same
    # in every prompt (MQ, the question-similarity indicator, compares document tokens with it)
    ids.extend(encode(tokenizer, "Question:").input_ids)
    q_start = len(ids)
    q_ids = encode(tokenizer, f" {example['question']}").input_ids
    cut = ps.max_question_tokens is not None and len(q_ids) > ps.max_question_tokens
    ids.extend(q_ids[: ps.max_question_tokens] if cut else q_ids)
    q_span = (q_start, len(ids))
    # the answer cue: "Answer:", or with a chat template the end of the user's turn and the
    # start of the assistant's
    ids.extend(chat[1] if chat else encode(tokenizer, "\nAnswer:").input_ids)
    answer_span = None
    target_end = len(ids)
    if with_answer:
        text = answer if answer is not None else example["answers"][0]
        a_ids = encode(tokenizer, text if chat else " " + text).input_ids
        answer_span = (len(ids), len(ids) + len(a_ids))
        ids.extend(a_ids)
        ids.extend(encode(tokenizer, "\n").input_ids)
        target_end = len(ids)
    return Prompt(ids, spans, q_span, answer_span, target_end, masks, cut)


def stop_token_ids(tokenizer) -> list[int]:
    """Tokens that end an answer: the newline the prompt puts after answers, and EOS."""
    out = [encode(tokenizer, "\n").input_ids[-1]]
    if tokenizer.eos_token_id is not None:
        out.append(tokenizer.eos_token_id)
    return out


class DecoderOnly(Reader):
    """A causal LM reading one prompt of k documents (module docstring)."""

    kind = "decoder-only"
    length_unit = "prompt"

    @staticmethod
    def matches(config) -> bool:
        return not config_flag(config, "is_encoder_decoder")

    @staticmethod
    def auto_class():
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    def build_prompt(self, tokenizer, example, k, ps, with_answer, answer=None) -> Prompt:
        return build_prompt(tokenizer, example, k, ps, with_answer, answer)

    def prompt_length(self, prompt: Prompt) -> int:
        return len(prompt.input_ids)

    @staticmethod
    def documents_per_sequence(k: int) -> int:
        return k  # one prompt holds them all

    def batch(self, prompts: list[Prompt], pad_id: int, with_stop: bool = True) -> dict:
        """Right-padded ids (B, T), mask and labels (-100 but on the answer and its newline)."""
        ids, mask = pad([p.input_ids for p in prompts], pad_id)
        labels = torch.full_like(ids, -100)
        for i, p in enumerate(prompts):
            a0, a1 = p.answer_span
            end = p.target_end if with_stop else a1
            labels[i, a0:end] = ids[i, a0:end]
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def answer_nll(self, batch: dict) -> torch.Tensor:
        """Equal to the model's own causal-LM loss terms, but the vocabulary projection (large
        for a 49k-token vocabulary) runs on the few answer positions instead of every position."""
        model = self.model
        out = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        hidden = out.last_hidden_state
        labels = batch["labels"][:, 1:]
        sel = labels != -100
        logits = model.get_output_embeddings()(hidden[:, :-1][sel]).float()
        return torch.nn.functional.cross_entropy(logits, labels[sel], reduction="none")

    def target_counts(self, batch: dict) -> list[int]:
        return (batch["labels"][:, 1:] != -100).sum(1).tolist()

    @torch.no_grad()
    def generate(self, tokenizer, prompts: list[Prompt], max_new_tokens: int) -> list[str]:
        """Left-padded greedy decoding, each answer cut at its first newline or EOS."""
        device = self.device
        stops = stop_token_ids(tokenizer)
        ids, mask = pad([p.input_ids for p in prompts], tokenizer.pad_token_id, side="left")
        gen = self.model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stops,
            pad_token_id=tokenizer.pad_token_id,
        )
        out = []
        for row in gen[:, ids.shape[1] :].tolist():
            cut = next((j for j, t in enumerate(row) if t in stops), len(row))
            out.append(tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
        return out

    def blocks(self) -> torch.nn.ModuleList:
        """The stack of transformer blocks (Llama ``model.layers``, GPT-2/Falcon ``transformer.h``)."""
        model = self.model
        n = model.config.num_hidden_layers
        for module in model.base_model.modules():
            if isinstance(module, torch.nn.ModuleList) and len(module) == n:
                return module
        raise ValueError(f"{type(model).__name__}: cannot find its {n} transformer blocks")

    def top_modules(self) -> list[torch.nn.Module]:
        return [m for n, m in self.model.base_model.named_children() if "norm" in n or n == "ln_f"]

    def prepare_capture(self) -> None:
        """Capture through transformers' attention interface where the architecture supports it;
        otherwise :meth:`token_profiles` records from torch's SDPA (the model loads with SDPA)."""
        capture.register()
        if self.model.is_backend_compatible():
            self.model.set_attn_implementation(capture.CAPTURE)

    @torch.no_grad()
    def token_profiles(
        self, prompts: list[Prompt], pad_id: int, answer_rows: str = "own"
    ) -> dict[str, np.ndarray]:
        model = self.model
        device = self.device
        ids, mask = pad([p.input_ids for p in prompts], pad_id)
        direct = model.config._attn_implementation != capture.CAPTURE
        with capture.recording(prompts, *ids.shape, device, answer_rows):
            with capture.recording_sdpa() if direct else contextlib.nullcontext():
                model(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=1)
            return capture.recorded(model, model.config.num_hidden_layers)
