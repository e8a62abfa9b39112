"""ADist targets from the fast capture path against a slow eager reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ragdistill import models, readers
from ragdistill.readers import capture
from ragdistill.readers.decoder import build_prompt
from ragdistill.stages import attention
from tests.conftest import example

PROMPT = {"seed": 0, "shuffle": True, "max_doc_tokens": 40, "add_bos": True}


def _value_norm_hooks(model, arch: str, store: list):
    """Per-layer value states (B, kv_heads, T, d), taken from the projection that makes them."""
    handles = []
    if arch == "llama":
        for layer in model.model.layers:
            attn = layer.self_attn

            def hook(mod, args, out, attn=attn):
                b, t, _ = out.shape
                store.append(out.view(b, t, -1, attn.head_dim).transpose(1, 2))

            handles.append(attn.v_proj.register_forward_hook(hook))
    elif arch == "gpt2":
        for block in model.transformer.h:
            attn = block.attn

            def hook(mod, args, out, attn=attn):
                b, t, _ = out.shape
                v = out.split(attn.split_size, dim=2)[2]
                store.append(v.view(b, t, attn.num_heads, attn.head_dim).transpose(1, 2))

            handles.append(attn.c_attn.register_forward_hook(hook))
    elif arch.startswith("falcon"):
        for block in model.transformer.h:
            attn = block.self_attention

            def hook(mod, args, out, attn=attn):
                store.append(attn._split_heads(out)[2].transpose(1, 2))

            handles.append(attn.query_key_value.register_forward_hook(hook))
    return handles


FALCON_ROTARY = {**models.TINY["falcon"], "alibi": False}


def falcon_alibi_reference(path: str, prompts, pad_id: int) -> np.ndarray:
    """Falcon-RW's ALiBi attention written out from each layer's q, k, v: softmax((q.k + alibi)
    / sqrt(d)) over the causal, unpadded keys. transformers 5's eager Falcon cannot be the
    reference here: it adds ALiBi once in the logits and again through the mask."""
    from transformers.models.falcon.modeling_falcon import build_alibi_tensor

    from ragdistill.readers import pad

    model = readers.load(path, attn_implementation="sdpa").eval()
    qkv: list[tuple] = []
    handles = []
    for block in model.transformer.h:
        attn = block.self_attention

        def hook(mod, args, out, attn=attn):
            qkv.append(tuple(x.transpose(1, 2) for x in attn._split_heads(out)))  # (B, H, T, d) each

        handles.append(attn.query_key_value.register_forward_hook(hook))
    ids, mask = pad([p.input_ids for p in prompts], pad_id)
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    for h in handles:
        h.remove()
    b, t = ids.shape
    heads = model.config.num_attention_heads
    alibi = build_alibi_tensor(mask, heads, torch.float32).view(b, heads, 1, t)
    allowed = torch.tril(torch.ones(t, t, dtype=torch.bool))[None, None] & mask.bool()[:, None, None, :]
    prof = np.zeros(ids.shape)
    for q, k, v in qkv:
        logits = (q @ k.transpose(-1, -2) + alibi) / q.shape[-1] ** 0.5
        att = torch.softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
        vn = v.norm(dim=-1)
        for i, p in enumerate(prompts):
            a0, a1 = p.answer_span
            prof[i] += (att[i, :, a0:a1, :] * vn[i][:, None, :]).mean(0).sum(0).double().numpy()
    return prof


def reference_profiles(path: str, arch: str, prompts, pad_id: int) -> np.ndarray:
    """sum_l sum_q mean_h p[h,q,t] * ||V[h,t]|| from eager ``output_attentions`` (the textbook way)."""
    from ragdistill.readers import pad

    model = readers.load(path, attn_implementation="eager").eval()
    values: list[torch.Tensor] = []
    handles = _value_norm_hooks(model, arch, values)
    ids, mask = pad([p.input_ids for p in prompts], pad_id)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
    for h in handles:
        h.remove()
    prof = np.zeros(ids.shape)
    for att, v in zip(out.attentions, values, strict=True):
        groups = att.shape[1] // v.shape[1]
        vn = v.repeat_interleave(groups, dim=1).norm(dim=-1)  # (B, H, T)
        for i, p in enumerate(prompts):
            a0, a1 = p.answer_span
            c = att[i, :, a0:a1, :] * vn[i][:, None, :]  # (H, A, T)
            prof[i] += c.mean(0).sum(0).double().numpy()
    return prof


@pytest.mark.parametrize("arch", ["llama", "gpt2", "falcon", "falcon-rotary"])
def test_capture_matches_eager_reference(tiny_model_dir, tmp_path, arch):
    if arch == "falcon-rotary":
        path = str(tmp_path / arch)
        models.init_model("falcon", path, spec=FALCON_ROTARY)
    else:
        path = tiny_model_dir(arch)
    tok = models.load_tokenizer(path)
    exs = [example("q1"), {**example("q2"), "answers": ["a town 2 and more words"]}]
    prompts = [build_prompt(tok, ex, 3, PROMPT, with_answer=True) for ex in exs]
    assert len(prompts[0].input_ids) != len(prompts[1].input_ids)  # padding is exercised
    model = attention.load_reader_for_capture(path).eval()
    fast = readers.of(model).token_profiles(prompts, tok.pad_token_id)
    if arch == "falcon":
        ref = falcon_alibi_reference(path, prompts, tok.pad_token_id)
    else:
        ref = reference_profiles(path, arch, prompts, tok.pad_token_id)
    for i, p in enumerate(prompts):
        got = attention.doc_scores(fast["vnorm"][i], p.doc_spans)
        want = attention.doc_scores(ref[i], p.doc_spans)
        np.testing.assert_allclose(got, want, rtol=1e-5)
        np.testing.assert_allclose(
            fast["vnorm"][i][: len(p.input_ids)], ref[i][: len(p.input_ids)], rtol=1e-4, atol=1e-7
        )
    assert fast["layers"] == model.config.num_hidden_layers


def test_capture_does_not_change_the_forward_pass(tiny_model_dir):
    path = tiny_model_dir("llama")
    tok = models.load_tokenizer(path)
    p = build_prompt(tok, example(), 3, PROMPT, with_answer=True)
    ids = torch.tensor([p.input_ids])
    plain = readers.load(path, attn_implementation="sdpa").eval()
    capt = attention.load_reader_for_capture(path).eval()
    with torch.no_grad():
        want = plain(input_ids=ids).logits
        capture.RECORDER.rows = None
        got = capt(input_ids=ids).logits
    torch.testing.assert_close(got, want)


def test_dump_is_the_same_whatever_the_batching(tiny_model_dir, tmp_path):
    """Batches are formed in length order; the dump keeps the questions' order and values."""
    from ragdistill.core.files import write_jsonl
    from ragdistill.data.dumps import load_dump

    rows = []
    for i in range(5):
        ex = example(f"q{i}", k=3)
        ex["question"] = "Where was Anna Quenish born" + ", and when" * (3 * (i % 3)) + "?"
        rows.append(ex)
    write_jsonl(tmp_path / "train.jsonl", rows)
    inp = {"model": tiny_model_dir("llama"), "retrieved": str(tmp_path / "train.jsonl")}
    dumps = {}
    for bs in (1, 3):
        out = {"dump": str(tmp_path / f"b{bs}.npz")}
        attention.dump_attention(
            inp, out, {"k": 3, "candidates": 3, "prompt": PROMPT, "batch_size": bs, "max_questions": None}
        )
        dumps[bs] = load_dump(out["dump"])
    one, three = dumps[1], dumps[3]
    assert one["ids"].tolist() == [f"q{i}" for i in range(5)] == three["ids"].tolist()
    for name in one:
        if one[name].dtype.kind in "fc":
            np.testing.assert_allclose(one[name], three[name], rtol=2e-3, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(one[name], three[name], err_msg=name)


def test_noq_leaves_out_the_document_tokens_the_question_repeats(tiny_model_dir, tmp_path):
    from ragdistill.core.files import write_jsonl
    from ragdistill.data.dumps import load_dump

    write_jsonl(tmp_path / "train.jsonl", [{**example("q1"), "question": "Which town is Drossel?"}])
    inp = {"model": tiny_model_dir("llama"), "retrieved": str(tmp_path / "train.jsonl")}
    out = {"dump": str(tmp_path / "d.npz")}
    attention.dump_attention(
        inp, out, {"k": 3, "candidates": 3, "prompt": PROMPT, "batch_size": 1, "max_questions": None}
    )
    d = load_dump(out["dump"])
    s, e = d["tok_offsets"][0], d["tok_offsets"][1]
    question = d["q_ids"][d["q_offsets"][0] : d["q_offsets"][1]]
    repeated = np.isin(d["tok_ids"][s:e], question)
    assert repeated.any() and (~repeated).any()
    profile, doc = d["tok_profile"][s:e].astype(np.float64), d["tok_doc"][s:e]
    const = attention.NORM * int(d["layers"]) * int(d["answer_len"][0])
    want = [profile[(doc == j) & ~repeated].sum() / const for j in range(3)]
    np.testing.assert_allclose(d["scores_noq"][0], want, rtol=2e-3)  # the profile is stored as float16
    every = [profile[doc == j].sum() / const for j in range(3)]
    np.testing.assert_allclose(d["scores_adist"][0], every, rtol=2e-3)
    assert (d["scores_noq"][0] < d["scores_adist"][0]).all()  # every document names Drossel's town


def test_candidates_are_scored_in_windows_as_a_slow_reference_does(tiny_model_dir, tmp_path):
    """distill.candidates N = 2k: the dump's N scores per question equal, document by document,
    eager attention over each window's own prompt (candidates wk..(w+1)k, built alone), and the
    per-token arrays are window 0's, the reader's own prompt."""
    from ragdistill.core.files import write_jsonl
    from ragdistill.data.dumps import load_dump

    path = tiny_model_dir("llama")
    rows = [example("q1", k=6), {**example("q2", k=6), "answers": ["town 4"]}]
    write_jsonl(tmp_path / "train.jsonl", rows)
    out = {"dump": str(tmp_path / "d.npz")}
    params = {"k": 3, "candidates": 6, "prompt": PROMPT, "batch_size": 3, "max_questions": None}
    attention.dump_attention({"model": path, "retrieved": str(tmp_path / "train.jsonl")}, out, params)
    d = load_dump(out["dump"])
    assert d["scores_adist"].shape == (2, 6) and int(d["window"]) == 3
    assert d["ctx_ids"].tolist() == [[c["id"] for c in ex["ctxs"]] for ex in rows]
    tok = models.load_tokenizer(path)
    layers = readers.load(path).config.num_hidden_layers
    for i, ex in enumerate(rows):
        for w in range(2):
            window = {**ex, "ctxs": ex["ctxs"][3 * w : 3 * w + 3]}
            p = build_prompt(tok, window, 3, PROMPT, with_answer=True)
            ref = reference_profiles(path, "llama", [p], tok.pad_token_id)[0]
            a = p.answer_span[1] - p.answer_span[0]
            want = [ref[s:e].sum() / (attention.NORM * layers * a) for s, e in p.doc_spans]
            np.testing.assert_allclose(d["scores_adist"][i, 3 * w : 3 * w + 3], want, rtol=1e-4)
        # the per-token arrays hold window 0's three documents only
        lo, hi = d["tok_offsets"][i], d["tok_offsets"][i + 1]
        assert set(d["tok_doc"][lo:hi].tolist()) == {0, 1, 2}


def test_candidates_must_be_a_multiple_of_k_and_retrieved():
    with pytest.raises(ValueError, match="multiple of k"):
        attention.candidate_windows([example("q1", k=6)], 3, 4)
    with pytest.raises(ValueError, match="retrieve.top_k"):
        attention.candidate_windows([example("q1", k=3)], 3, 6)


# -- attention.answer_rows: which rows of a decoder-only teacher are the answer's -----------------


def convention_rows(p, convention: str) -> list[int]:
    """The query rows of ``convention``, from its definition rather than from the code: for
    ``producing`` the positions q whose next-token prediction (of token q+1) is an answer token,
    for ``own`` the answer tokens' own positions."""
    a0, a1 = p.answer_span
    answer = range(a0, a1)
    if convention == "producing":
        return [q for q in range(len(p.input_ids)) if q + 1 in answer]
    return [q for q in range(len(p.input_ids)) if q in answer]


def eager_llama_profiles(path: str, p, rows: list[int]) -> dict[str, np.ndarray]:
    """One unpadded prompt through eager Llama with ``output_attentions``; per prompt token t,
    ``vnorm`` = sum_l sum_{q in rows} mean_h p[h,q,t] * ||V[h,t]||, ``attn`` the same without the
    value norm, ``first`` only the first of ``rows``: each (T,), float64. GQA: the value norms
    (1, kv_heads, T) are repeated to the query heads that read them."""
    model = readers.load(path, attn_implementation="eager").eval()
    values: list[torch.Tensor] = []
    handles = _value_norm_hooks(model, "llama", values)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([p.input_ids]), output_attentions=True)
    for h in handles:
        h.remove()
    t = len(p.input_ids)
    prof = {name: np.zeros(t) for name in ("vnorm", "attn", "first")}
    for att, v in zip(out.attentions, values, strict=True):  # (1, H, T, T), (1, kv_heads, T, d)
        vn = v.repeat_interleave(att.shape[1] // v.shape[1], dim=1).norm(dim=-1)[0]  # (H, T)
        for j, q in enumerate(rows):
            c = (att[0, :, q, :] * vn).mean(0).double().numpy()  # mean_h c(l,h,q,t): (T,)
            prof["vnorm"] += c
            prof["attn"] += att[0, :, q, :].mean(0).double().numpy()
            if j == 0:
                prof["first"] += c
    return prof


def _dump(path: str, tmp_path, rows: list[dict], answer_rows: str | None, k: int = 3, n: int = 6) -> dict:
    from ragdistill.core.files import write_jsonl
    from ragdistill.data.dumps import load_dump

    write_jsonl(tmp_path / "train.jsonl", rows)
    out = {"dump": str(tmp_path / f"{answer_rows}.npz")}
    params = {"k": k, "candidates": n, "prompt": PROMPT, "batch_size": 3, "max_questions": None}
    if answer_rows is not None:
        params["answer_rows"] = answer_rows
    attention.dump_attention({"model": path, "retrieved": str(tmp_path / "train.jsonl")}, out, params)
    return load_dump(out["dump"])


ROWS = [example("q1", k=6), {**example("q2", k=6), "answers": ["a town 2 and more words"]}]


def test_the_producing_rows_are_those_the_lm_loss_scores(tiny_model_dir):
    """The definition of ``producing`` checked against the model itself: the causal-LM loss on
    the answer tokens (transformers shifts the labels) is the cross-entropy of exactly those
    rows' logits, as ATLAS's decoder positions whose labels are not -100, and as PDist scores."""
    path = tiny_model_dir("llama")
    tok = models.load_tokenizer(path)
    p = build_prompt(tok, ROWS[1], 3, PROMPT, with_answer=True)
    a0, a1 = p.answer_span
    ids = torch.tensor([p.input_ids])
    labels = torch.full_like(ids, -100)
    labels[0, a0:a1] = ids[0, a0:a1]
    model = readers.load(path).eval()
    with torch.no_grad():
        out = model(input_ids=ids, labels=labels)
    rows = convention_rows(p, "producing")
    assert rows == list(range(a0 - 1, a1 - 1))
    mine = torch.nn.functional.cross_entropy(out.logits[0, rows].float(), ids[0, a0:a1])
    torch.testing.assert_close(mine, out.loss.float())


@pytest.mark.parametrize("convention", ["producing", "own"])
def test_dump_reads_the_rows_of_its_convention_as_eager_attention_does(tiny_model_dir, tmp_path, convention):
    """Every candidate window's S(d) (adist, attn, first) and window 0's per-token profile c(t)
    against eager attention summed over the convention's rows (``convention_rows``): Llama with
    grouped-query attention, batches that mix examples, windows and prompt lengths."""
    path = tiny_model_dir("llama")
    d = _dump(path, tmp_path, ROWS, convention)
    assert str(d["answer_rows"]) == convention
    tok = models.load_tokenizer(path)
    layers = readers.load(path).config.num_hidden_layers
    for i, ex in enumerate(ROWS):
        lo = d["tok_offsets"][i]
        for w in range(2):
            p = build_prompt(tok, {**ex, "ctxs": ex["ctxs"][3 * w : 3 * w + 3]}, 3, PROMPT, with_answer=True)
            rows = convention_rows(p, convention)
            a = p.answer_span[1] - p.answer_span[0]
            assert len(rows) == a == d["answer_len"][i]
            ref = eager_llama_profiles(path, p, rows)
            got = {v: d[f"scores_{v}"][i, 3 * w : 3 * w + 3] for v in ("adist", "attn", "first")}
            for v, name, const in (
                ("adist", "vnorm", attention.NORM * layers * a),
                ("attn", "attn", attention.NORM * layers * a),
                ("first", "first", attention.NORM * layers),
            ):
                want = [ref[name][s:e].sum() / const for s, e in p.doc_spans]
                np.testing.assert_allclose(got[v], want, rtol=1e-4, err_msg=f"{v}, window {w}")
            if w == 0:  # the per-token arrays are window 0's (float16)
                want_tok = np.concatenate([ref["vnorm"][s:e] for s, e in p.doc_spans])
                got_tok = d["tok_profile"][lo : d["tok_offsets"][i + 1]].astype(np.float64)
                np.testing.assert_allclose(got_tok, want_tok, rtol=2e-3, atol=1e-6)


def test_the_two_conventions_give_different_targets_and_own_is_the_default(tiny_model_dir, tmp_path):
    """The setting reaches the capture: the scores and profiles differ between the conventions
    (by the first answer token's producing row, in, and the stop newline's, out); leaving the
    setting out of the params gives ``own``."""
    path = tiny_model_dir("llama")
    own, producing = (_dump(path, tmp_path, ROWS, c) for c in ("own", "producing"))
    default = _dump(path, tmp_path, ROWS, None)
    for v in ("adist", "attn", "first", "mean", "noq"):
        x, y = own[f"scores_{v}"], producing[f"scores_{v}"]
        assert np.abs(x - y).max() > 1e-3 * np.abs(x).max(), v
        np.testing.assert_array_equal(default[f"scores_{v}"], x)
    assert not np.allclose(own["tok_profile"], producing["tok_profile"], rtol=1e-2)
    assert str(default["answer_rows"]) == "own"
    # the answer tokens and their number are the same: only the rows move
    np.testing.assert_array_equal(own["a_ids"], producing["a_ids"])
    np.testing.assert_array_equal(own["answer_len"], producing["answer_len"])


def test_answer_rows_of_each_kind_of_prompt(tiny_model_dir):
    """Decoder-only: ``producing`` is the span moved back one position, ``own`` the span. FiD
    (``labels`` set): the span under both, since decoder position i writes label i. The recorder's
    rows follow the setting it is given, and the default when none is."""
    from ragdistill.readers.prompts import Prompt

    tok = models.load_tokenizer(tiny_model_dir("llama"))
    p = build_prompt(tok, ROWS[1], 3, PROMPT, with_answer=True)
    a0, a1 = p.answer_span
    assert capture.answer_rows_of(p, "producing") == (a0 - 1, a1 - 1)
    assert capture.answer_rows_of(p, "own") == (a0, a1)
    fid_prompt = Prompt([5, 6, 7], [(0, 3)], (0, 1), (0, 2), 3, labels=[8, 9, 1])
    for convention in capture.ANSWER_ROWS:
        assert capture.answer_rows_of(fid_prompt, convention) == (0, 2)
    with pytest.raises(ValueError, match="no row writes its first token"):
        capture.answer_rows_of(Prompt([5, 6], [], (0, 0), (0, 1), 2), "producing")
    with pytest.raises(ValueError, match="attention.answer_rows: 'next' is not one of"):
        capture.start_recording([p], 1, len(p.input_ids), "cpu", "next")
    short = build_prompt(tok, ROWS[0], 3, PROMPT, with_answer=True)
    try:
        capture.start_recording([p, short], 2, len(p.input_ids), "cpu", "producing")
        s0, s1 = short.answer_span
        assert capture.RECORDER.rows[0].tolist() == list(range(a0 - 1, a1 - 1))
        # a shorter answer's rows are padded with its last row, masked out
        assert capture.RECORDER.rows[1, : s1 - s0].tolist() == list(range(s0 - 1, s1 - 1))
        assert capture.RECORDER.row_mask[1].tolist() == [True] * (s1 - s0) + [False] * (a1 - a0 - s1 + s0)
        # without the setting: the default, the answer tokens' own rows
        capture.start_recording([p], 1, len(p.input_ids), "cpu")
        assert capture.RECORDER.rows[0].tolist() == list(range(a0, a1))
    finally:
        capture.RECORDER.rows = capture.RECORDER.row_mask = None


def test_a_fid_teacher_reads_the_same_rows_under_either_setting(tiny_model_dir, tmp_path):
    """FiD's decoder rows already produce the answer: the setting changes nothing of its dump."""
    path = tiny_model_dir("t5")
    rows = [example("q1", k=3), {**example("q2", k=3), "answers": ["Ann Lee was here"]}]
    own, producing = (_dump(path, tmp_path, rows, c, n=3) for c in ("own", "producing"))
    for name in own:
        if name != "answer_rows":
            np.testing.assert_array_equal(own[name], producing[name], err_msg=name)
