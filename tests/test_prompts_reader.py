"""The reader's prompt spans, answer-token loss, fine-tuning options and perplexity targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ragdistill import models, readers
from ragdistill.core.files import write_jsonl
from ragdistill.models import resume
from ragdistill.readers.decoder import build_prompt
from ragdistill.stages import reader
from ragdistill.stages.attention import score_perplexity
from ragdistill.stages.reader import with_answer_in_context
from tests.conftest import LORA, PROMPT, example, finetune_case

CHAT = (  # a template of the usual kind: turns between markers, a system turn first
    "<|system|>Be brief.<|end|>"
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.mark.parametrize("chat", [False, True])
def test_spans_are_exact_and_only_documents_are_truncated(tiny_model_dir, chat):
    tok = models.load_tokenizer(tiny_model_dir("llama"))
    tok.chat_template = CHAT
    ex = example(k=3)
    ex["question"] = "Where was Anna Quenish born, and when, and why, and with whom exactly?"
    p = build_prompt(tok, ex, 3, {**PROMPT, "chat_template": chat}, with_answer=True)
    q0, q1 = p.question_span
    assert tok.decode(p.input_ids[q0:q1]).strip() == ex["question"]
    assert tok.decode(p.input_ids[:q0]).endswith("\nQuestion:")
    a0, a1 = p.answer_span
    between = tok.decode(p.input_ids[q1:a0])
    assert between == ("<|end|><|assistant|>" if chat else "\nAnswer:")
    assert tok.decode(p.input_ids[:a0]).count("<|user|>") == int(chat)
    a0, a1 = p.answer_span
    assert tok.decode(p.input_ids[a0:a1]).strip() == "Drossel"
    assert p.target_end == a1 + 1  # the stop newline
    for d, (s, e) in enumerate(p.doc_spans):
        text = tok.decode(p.input_ids[s:e])
        assert text.startswith("Document [") and f"(Title: Title {d})" in text
        assert len(p.doc_answer_mask[d]) == e - s
    assert p.input_ids[0] == tok.bos_token_id


def test_chat_template_needs_one(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir("llama"))
    tok.chat_template = None
    with pytest.raises(ValueError, match="prompt.chat_template"):
        build_prompt(tok, example(), 3, {**PROMPT, "chat_template": True}, with_answer=False)


def test_answer_mask_marks_the_answer_inside_documents(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir("llama"))
    ex = example(k=2)
    p = build_prompt(tok, ex, 2, {**PROMPT, "max_doc_tokens": 64}, with_answer=True)
    for d, (s, _) in enumerate(p.doc_spans):
        marked = [p.input_ids[s + i] for i, m in enumerate(p.doc_answer_mask[d]) if m]
        assert "Drossel" in tok.decode(marked).replace(" ", "")


def test_answer_in_context_moves_a_hit_into_the_top_k():
    ex = example(k=4)
    for i, c in enumerate(ex["ctxs"]):
        c["has_answer"] = i == 3
    moved = with_answer_in_context(ex, 2)
    assert [c["id"] for c in moved["ctxs"][:2]] == ["p0", "p3"]
    assert with_answer_in_context(moved, 2) is moved


@pytest.mark.parametrize("arch", ["llama", "gpt2", "falcon"])
def test_answer_nll_equals_the_models_own_loss(tiny_model_dir, arch):
    path = tiny_model_dir(arch)
    tok = models.load_tokenizer(path)
    model = readers.load(path).eval()
    prompts = [build_prompt(tok, example(f"q{i}"), 3, PROMPT, with_answer=True) for i in range(3)]
    dec = readers.of(model)
    assert isinstance(dec, readers.DecoderOnly)
    batch = dec.batch(prompts, tok.pad_token_id)
    with torch.no_grad():
        torch.testing.assert_close(dec.answer_nll(batch).mean(), model(**batch).loss)


def test_freezing_keeps_the_lower_blocks_fixed(tiny_model_dir):
    model = readers.load(tiny_model_dir("llama"))
    n = readers.of(model).freeze_below(1)
    assert 0 < n < sum(p.numel() for p in model.parameters())
    assert not any(p.requires_grad for p in model.model.layers[0].parameters())
    assert all(p.requires_grad for p in model.model.layers[-1].parameters())


def test_perplexity_targets_are_minus_mean_answer_nll(tiny_model_dir, tmp_path):
    path = tiny_model_dir("llama")
    tok = models.load_tokenizer(path)
    model = readers.load(path).eval()
    ex = example(k=3)
    write_jsonl(tmp_path / "r.jsonl", [ex])
    params = {"k": 3, "candidates": 3, "prompt": PROMPT, "max_questions": None, "batch_size": 1}
    score_perplexity(
        {"model": path, "retrieved": str(tmp_path / "r.jsonl")}, {"scores": str(tmp_path / "s.npz")}, params
    )
    got = np.load(tmp_path / "s.npz")["scores_pdist"][0]
    for d, c in enumerate(ex["ctxs"]):
        p = build_prompt(tok, {**ex, "ctxs": [c]}, 1, {**PROMPT, "shuffle": False}, with_answer=True)
        ids = torch.tensor([p.input_ids])
        labels = torch.full_like(ids, -100)
        a0, a1 = p.answer_span
        labels[0, a0:a1] = ids[0, a0:a1]
        with torch.no_grad():
            want = -float(model(input_ids=ids, labels=labels).loss)
        assert got[d] == np.float32(want) or abs(got[d] - want) < 1e-5


@pytest.mark.parametrize("arch", ["llama", "gpt2", "falcon"])
def test_batched_answers_equal_answers_one_at_a_time(tiny_model_dir, arch):
    """Left padding in a batch must not change a greedy answer (ALiBi and learned positions
    included): the batch holds prompts of different lengths."""
    path = tiny_model_dir(arch)
    tok = models.load_tokenizer(path)
    model = readers.load(path).eval()
    exs = [example("q1"), {**example("q2"), "question": "Where was the much longer question asked first?"}]
    prompts = [build_prompt(tok, ex, 3, PROMPT, with_answer=False) for ex in exs]
    assert len(prompts[0].input_ids) != len(prompts[1].input_ids)
    dec = readers.of(model)
    together = dec.answer(tok, prompts, max_new_tokens=4, batch_size=2)
    alone = [dec.answer(tok, [p], max_new_tokens=4, batch_size=1)[0] for p in prompts]
    assert together == alone
    assert any(together), "the tiny model answered nothing; the comparison would be empty"


def _safetensors(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_select_best_keeps_the_weights_of_the_best_dev_em(tiny_model_dir, tmp_path, monkeypatch):
    inp, out, params = finetune_case(tmp_path, tiny_model_dir("llama"), steps=6, select="best", eval_every=2)
    # dev EM before training (step 0) and after steps 2, 4 and 6: a tie keeps step 4
    scripted = iter([0.1, 0.0, 0.5, 0.5])
    monkeypatch.setattr(reader, "exact_match_rate", lambda *a, **kw: next(scripted))
    seen: dict[int, dict[str, torch.Tensor]] = {}
    offer = resume.Best.offer

    def spy(self, step, score, model):
        seen[step] = resume.trainable_weights(model)
        offer(self, step, score, model)

    monkeypatch.setattr(resume.Best, "offer", spy)
    reader.finetune_reader(inp, out, params)
    metrics = __import__("json").loads(open(out["metrics"]).read())
    assert (metrics["selected_step"], metrics["dev_em"], metrics["dev_em_last"]) == (4, 0.5, 0.5)
    assert metrics["dev_em_initial"] == 0.1
    assert [r.get("dev_em") for r in metrics["history"]] == [0.1, None, 0.0, None, 0.5, None, 0.5]
    saved = _safetensors(f"{out['model']}/model.safetensors")
    last = _safetensors(f"{out['model']}/{reader.LAST_WEIGHTS}")
    assert set(last) == set(seen[4])
    for name in seen[4]:
        torch.testing.assert_close(saved[name], seen[4][name], rtol=0, atol=0)
        torch.testing.assert_close(last[name], seen[6][name], rtol=0, atol=0)
    assert any(not torch.equal(seen[4][n], seen[6][n]) for n in seen[4])


def test_select_best_needs_dev_questions(tiny_model_dir, tmp_path):
    inp, out, params = finetune_case(tmp_path, tiny_model_dir("llama"), select="best", dev_questions=0)
    with pytest.raises(ValueError, match="reader_finetune.dev_questions"):
        reader.finetune_reader(inp, out, params)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("arch", ["llama", "gpt2", "falcon"])
def test_lora_trains_adapters_and_saves_a_plain_merged_model(tiny_model_dir, tmp_path, arch):
    base = tiny_model_dir(arch)
    inp, out, params = finetune_case(tmp_path, base, steps=3, lora=LORA)  # train_layers 1: the top block
    reader.finetune_reader(inp, out, params)
    before = _safetensors(f"{base}/model.safetensors")
    after = _safetensors(f"{out['model']}/model.safetensors")
    assert set(after) == set(before), "the saved model must be plain: adapters merged, none left"
    changed = sorted(n for n in before if not torch.equal(before[n], after[n]))
    top = str(len(readers.of(readers.load(base)).blocks()) - 1)
    assert changed and all(f".{top}." in n for n in changed), changed  # only the top block's adapted layers
    readers.load(out["model"])  # loads as an ordinary checkpoint


def test_gradient_checkpointing_changes_nothing_but_memory(tiny_model_dir, tmp_path, monkeypatch):
    import transformers.modeling_utils as mu

    calls = []
    real = mu.checkpoint
    monkeypatch.setattr(mu, "checkpoint", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    files, used = {}, {}
    for flag in (False, True):
        case = finetune_case(tmp_path / str(flag), tiny_model_dir("llama"), gradient_checkpointing=flag)
        reader.finetune_reader(*case)
        files[flag] = _safetensors(f"{case[1]['model']}/model.safetensors")
        used[flag], calls[:] = len(calls), []
    assert used[False] == 0 and used[True] > 0, used
    for name, t in files[False].items():
        torch.testing.assert_close(files[True][name], t)


def test_prompt_depends_on_the_set_of_documents_not_their_ranking(tiny_model_dir):
    """Two retrievers that rank the same k documents differently give the reader one prompt (so
    EM differs between them only where the documents do); another set gives another prompt."""
    tok = models.load_tokenizer(tiny_model_dir("llama"))
    ex = example(k=4)
    swapped = {**ex, "ctxs": [ex["ctxs"][i] for i in (2, 0, 3, 1)]}
    a = build_prompt(tok, ex, 4, PROMPT, with_answer=False)
    b = build_prompt(tok, swapped, 4, PROMPT, with_answer=False)
    assert a.input_ids == b.input_ids
    assert b.doc_spans == [a.doc_spans[i] for i in (2, 0, 3, 1)]  # spans follow retrieval order
    other = {**ex, "ctxs": ex["ctxs"][:3] + [{**ex["ctxs"][3], "id": "p9", "text": "Other."}]}
    assert build_prompt(tok, other, 4, PROMPT, with_answer=False).input_ids != a.input_ids
    # unshuffled, the order is the ranking
    plain = {**PROMPT, "shuffle": False}
    assert (
        build_prompt(tok, ex, 4, plain, with_answer=False).input_ids
        != build_prompt(tok, swapped, 4, plain, with_answer=False).input_ids
    )


def test_a_prompt_past_the_readers_context_stops_naming_the_question(tiny_model_dir, caplog):
    from ragdistill.core.files import InputError

    path = tiny_model_dir("llama")
    tok = models.load_tokenizer(path)
    dec = readers.of(readers.load(path))
    long = {**example(qid="q-long"), "question": "why " * 6000}
    with pytest.raises(
        InputError, match=r"answer_questions: question 'q-long': a prompt of \d+ tokens is longer"
    ):
        dec.build_prompts(tok, [example(), long], 3, PROMPT, False, "answer_questions")
    with caplog.at_level("INFO"):
        cut = dec.build_prompts(tok, [example(), long], 3, {**PROMPT, "max_question_tokens": 16}, False, "s")
    assert [p.question_cut for p in cut] == [False, True]
    assert cut[1].question_span[1] - cut[1].question_span[0] == 16
    assert "1 of 2 questions cut to prompt.max_question_tokens" in caplog.text


def test_select_best_keeps_the_untrained_reader_when_training_never_beats_it(
    tiny_model_dir, tmp_path, monkeypatch
):
    """Dev EM before training is a candidate: fine-tuning that only hurts dev EM keeps step 0."""
    base = tiny_model_dir("llama")
    inp, out, params = finetune_case(tmp_path, base, steps=4, select="best", eval_every=2)
    scripted = iter([0.3, 0.1, 0.2])
    monkeypatch.setattr(reader, "exact_match_rate", lambda *a, **kw: next(scripted))
    reader.finetune_reader(inp, out, params)
    metrics = __import__("json").loads(open(out["metrics"]).read())
    assert (metrics["selected_step"], metrics["dev_em"], metrics["dev_em_initial"]) == (0, 0.3, 0.3)
    before = _safetensors(f"{base}/model.safetensors")
    saved = _safetensors(f"{out['model']}/model.safetensors")
    assert all(torch.equal(before[n], saved[n]) for n in before)


def test_random_reader_has_the_architecture_and_fresh_weights(tiny_model_dir, tmp_path):
    """The random control teacher: same config and tokenizer as the reader, other weights, safetensors."""
    import json

    from safetensors.torch import load_file

    from ragdistill.stages.reader import random_reader

    base = tiny_model_dir("llama")
    out = tmp_path / "random"
    random_reader({"model": base}, {"model": str(out)}, {"seed": 1})  # the tiny base is seed 0's
    cfg = lambda p: {k: v for k, v in json.loads((p / "config.json").read_text()).items() if k != "dtype"}  # noqa: E731
    assert cfg(out) == cfg(Path(base))
    old, new = load_file(str(Path(base) / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert old.keys() == new.keys() and all(old[n].shape == new[n].shape for n in old)
    assert sum(not torch.equal(old[n], new[n]) for n in old if old[n].dim() > 1) > 0
    assert (out / "tokenizer.json").exists() or (out / "tokenizer_config.json").exists()


def test_a_noise_rung_is_reproducible_and_scaled_to_each_tensors_norm(tiny_model_dir, tmp_path):
    """The ladder's noise rung: the same seed and scale give the same file byte for byte, another
    seed other weights; each tensor moves by about ``scale`` of its norm (the definition: noise
    N(0, 1) * scale * ||W|| / sqrt(numel(W)))."""
    from safetensors.torch import load_file

    from ragdistill.stages.reader import noisy_reader

    base = tiny_model_dir("llama")
    made = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        noisy_reader({"model": base}, {"model": str(tmp_path / name)}, {"scale": 0.1, "seed": seed})
        made[name] = (tmp_path / name / "model.safetensors").read_bytes()
    assert made["a"] == made["b"] and made["a"] != made["c"]
    old, new = (
        load_file(str(Path(base) / "model.safetensors")),
        load_file(str(tmp_path / "a" / "model.safetensors")),
    )
    for n, w in old.items():
        if w.is_floating_point() and w.numel() > 100:
            rel = float((new[n].float() - w.float()).norm() / w.float().norm())
            assert 0.05 < rel < 0.2, (n, rel)


def test_the_blind_rung_trains_without_its_answer_bearing_passages():
    from ragdistill.stages.reader import without_answers

    ex = {"id": "q", "ctxs": [{"id": i, "has_answer": i in (0, 3)} for i in range(6)]}
    assert [c["id"] for c in without_answers(ex)["ctxs"]] == [1, 2, 4, 5]
