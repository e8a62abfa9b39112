"""The encoder-decoder (FiD) reader: prompt spans, loss, answers, and its cross-attention targets
against an eager reference on tiny random T5 models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ragdistill import models, readers
from ragdistill.core.stage_settings import PromptSettings
from ragdistill.readers import fid
from ragdistill.stages import attention
from tests.conftest import example

PROMPT = PromptSettings(seed=0, shuffle=True, max_doc_tokens=40, add_bos=False)


@pytest.fixture(scope="module")
def t5(tiny_model_dir):
    path = tiny_model_dir("t5")
    return path, models.load_tokenizer(path)


def _prompts(tok, model, n=3, k=3, with_answer=True):
    exs = [example(qid=f"q{i}", k=k) for i in range(n)]
    exs[1]["answers"] = ["Ann Lee was here"]  # a longer answer: rows of unequal length in a batch
    return exs, readers.of(model).build_prompts(tok, exs, k, PROMPT, with_answer, "test")


def test_fid_prompt_spans_are_exact(t5):
    path, tok = t5
    model = readers.load(path)
    exs, prompts = _prompts(tok, model)
    for ex, p in zip(exs, prompts, strict=True):
        # passages tile the prompt, one per document, each ending in EOS
        assert p.passages[0][0] == 0 and p.passages[-1][1] == len(p.input_ids)
        assert all(a[1] == b[0] for a, b in zip(p.passages, p.passages[1:], strict=False))
        assert all(p.input_ids[e - 1] == tok.eos_token_id for _, e in p.passages)
        q0, q1 = p.question_span
        assert tok.decode(p.input_ids[q0:q1]).strip() == ex["question"]
        for d, (s, e) in enumerate(p.doc_spans):
            c = ex["ctxs"][d]
            text = tok.decode(p.input_ids[s:e]).strip()
            assert text.startswith(f"title: {c['title']} context:")
            # every passage repeats the question before its document
            (ps, pe) = next(b for b in p.passages if b[0] <= s < b[1])
            assert p.input_ids[ps + q0 : ps + q1] == p.input_ids[q0:q1] and e < pe
            assert len(p.doc_answer_mask[d]) == e - s
        a0, a1 = p.answer_span
        assert tok.decode(p.labels[a0:a1]).strip() == ex["answers"][0]
        assert p.labels[a1:] == [tok.eos_token_id]
    # the answer mask marks the gold answer in each document (each says "Drossel")
    p = prompts[0]
    for d, (s, e) in enumerate(p.doc_spans):
        marked = [t for t, m in zip(p.input_ids[s:e], p.doc_answer_mask[d], strict=True) if m]
        assert tok.decode(marked).strip() == "Drossel"


def test_fid_nll_equals_the_models_own_loss(t5):
    path, tok = t5
    model = readers.load(path).eval()
    _, prompts = _prompts(tok, model)
    reader = readers.of(model)
    assert isinstance(reader, readers.FusionInDecoder)
    batch = reader.batch(prompts, tok.pad_token_id)
    with torch.no_grad():
        nll = reader.answer_nll(batch)
        hidden, mask = fid.encode_passages(
            model, batch["input_ids"], batch["attention_mask"], batch["n_docs"]
        )
        from transformers.modeling_outputs import BaseModelOutput

        # the model's own loss shifts the labels right itself: a check of decoder_input_ids
        own = model(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
            attention_mask=mask,
            labels=batch["labels"],
        ).loss
    assert nll.shape[0] == sum(len(p.labels) for p in prompts)
    assert torch.allclose(nll.mean(), own, atol=1e-5)
    # the encoder saw each passage alone: one row per (question, document)
    assert batch["input_ids"].shape[0] == 3 * 3


def test_fid_answers_come_back_in_order(t5):
    path, tok = t5
    model = readers.load(path).eval()
    _, prompts = _prompts(tok, model, with_answer=False)
    reader = readers.of(model)
    many = reader.answer(tok, prompts, 4, batch_size=2)
    ones = [reader.answer(tok, [p], 4, batch_size=1)[0] for p in prompts]
    assert many == ones and all(isinstance(a, str) for a in many)


def _eager_reference(path: str, prompts, pad_id: int) -> list[dict[str, np.ndarray]]:
    """Cross-attention probabilities from eager attention (output_attentions), value norms from
    the value projection's output, summed as ATLAS does; per prompt, on its own positions."""

    model = readers.load(path, attn_implementation="eager").eval()
    batch = readers.of(model).batch(prompts, pad_id)
    values = []
    hooks = [
        blk.layer[1].EncDecAttention.v.register_forward_hook(lambda m, a, o: values.append(o))
        for blk in model.decoder.block
    ]
    with torch.no_grad():
        out = fid.decoder_forward(model, batch, output_attentions=True)
    for h in hooks:
        h.remove()
    heads = model.config.num_heads
    width = batch["input_ids"].shape[1]
    refs = []
    for i, p in enumerate(prompts):
        a = p.answer_span[1] - p.answer_span[0]
        vnorm = attn = first = 0.0
        for probs, v in zip(out.cross_attentions, values, strict=True):
            vn = v[i].view(v.shape[1], heads, -1).norm(dim=-1).T  # (H, T)
            pa = probs[i, :, :a, :]  # (H, A, T)
            vnorm = vnorm + (pa * vn[:, None, :]).mean(0).sum(0)
            attn = attn + pa.mean(0).sum(0)
            first = first + (pa[:, 0, :] * vn).mean(0)
        ref = {n: np.zeros(len(p.input_ids)) for n in ("vnorm", "attn", "first")}
        for start, at, n in fid.unpad_positions([p], width)[0]:
            for name, arr in (("vnorm", vnorm), ("attn", attn), ("first", first)):
                ref[name][start : start + n] = arr[at : at + n].numpy()
        refs.append(ref)
    return refs


@pytest.mark.parametrize("seed", [0, 1])
def test_cross_attention_targets_match_eager(tiny_model_dir, tmp_path, seed):
    """The capture (SDPA model, hooks on the cross-attention) against eager attention weights."""
    path = str(tmp_path / "t5")
    models.init_model("t5", path, seed=seed)
    tok = models.load_tokenizer(path)
    model = attention.load_reader_for_capture(path).eval()
    _, prompts = _prompts(tok, model)
    got = readers.of(model).token_profiles(prompts, tok.pad_token_id)
    assert got["layers"] == len(model.decoder.block)
    for i, ref in enumerate(_eager_reference(path, prompts, tok.pad_token_id)):
        n = len(prompts[i].input_ids)
        for name in ("vnorm", "attn", "first"):
            np.testing.assert_allclose(got[name][i, :n], ref[name], rtol=1e-4, atol=1e-6)
        # every answer row's attention sums to one over the encoder tokens, per layer
        a = prompts[i].answer_span[1]
        assert got["attn"][i, :n].sum() == pytest.approx(a * got["layers"], rel=1e-4)


def test_capture_refuses_an_encoder_decoder_without_t5_cross_attention(t5):
    path, _ = t5
    model = readers.load(path)
    for blk in model.decoder.block:
        blk.layer[1].renamed = blk.layer[1].EncDecAttention
        del blk.layer[1].EncDecAttention
    with pytest.raises(RuntimeError, match="T5 family"):
        readers.of(model).prepare_capture()


def test_train_layers_trains_the_top_decoder_blocks_only(t5):
    path, _ = t5
    model = readers.load(path)
    readers.of(model).freeze_below(1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(
        n.startswith(("decoder.block.1.", "decoder.final_layer_norm")) for n in trainable
    )


def test_a_fid_reader_refuses_a_chat_template_and_checks_each_passage(t5):
    import dataclasses

    from ragdistill.core.files import InputError

    path, tok = t5
    model = readers.load(path)
    reader = readers.of(model)
    with pytest.raises(ValueError, match="prompt.chat_template"):
        reader.build_prompts(tok, [example()], 3, dataclasses.replace(PROMPT, chat_template=True), False, "t")
    # the context bounds each passage, not the concatenation of all k
    long = {**example(qid="q-long"), "question": "why " * 600}
    with pytest.raises(InputError, match=r"question 'q-long': a passage of \d+ tokens is longer"):
        reader.build_prompts(tok, [long], 3, PROMPT, False, "t")
    (p,) = reader.build_prompts(tok, [example(qid="q-many", k=40)], 40, PROMPT, False, "t")
    assert len(p.passages) == 40 and len(p.input_ids) > reader.context
