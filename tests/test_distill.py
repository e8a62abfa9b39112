"""Distillation maths and the query-side mode's frozen passage encoder."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ragdistill.core import stage_settings
from ragdistill.core.settings import from_params
from ragdistill.data.dumps import load_dump
from ragdistill.stages import distill
from tests.conftest import distill_case


def test_kl_loss_matches_the_formula():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    r = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    want = sum(float((p[i] * (p[i] / r[i]).log()).sum()) for i in range(2)) / 2
    got = distill.kl_loss(p, r.log())
    assert float(got) == pytest.approx(want, rel=1e-6)
    assert float(distill.kl_loss(p, p.log())) == pytest.approx(0.0, abs=1e-7)


def test_retriever_scores_are_scaled_dot_products():
    q = torch.tensor([[1.0, 2.0, 0.0, 1.0]])
    d = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]]])
    tau = 0.5
    s = torch.tensor([1.0, 3.0]) / math.sqrt(4) / tau
    torch.testing.assert_close(distill.retriever_log_probs(q, d, tau)[0], torch.log_softmax(s, -1))


def test_teacher_distribution_temperature():
    s = torch.tensor([[0.02, 0.01, 0.0]])
    p = distill.teacher_distribution(s, 0.01)
    torch.testing.assert_close(p[0], torch.softmax(torch.tensor([2.0, 1.0, 0.0]), -1))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_query_mode_leaves_the_passage_encoder_unchanged(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    retriever = Path(tiny_model_dir("bert"))
    before = _sha(retriever / "model.safetensors")
    inp, out, params = distill_case(tmp_path, str(retriever))
    distill.distill_retriever(inp, out, params)
    assert _sha(retriever / "model.safetensors") == before
    old = load_file(str(retriever / "model.safetensors"))
    new = load_file(str(tmp_path / "qenc" / "model.safetensors"))
    changed = [n for n in old if not torch.equal(old[n], new[n])]
    assert changed, "the query encoder did not learn"
    curve = (tmp_path / "curve.tsv").read_text().splitlines()
    assert curve[0] == "step\tloss\tdev_hr5\tindex_step\twins\tlosses" and len(curve) == 1 + 1 + 3


def _both_case(tmp_path, model, refresh_every=2, passage_layers=None, **kw):
    inp, out, params = distill_case(tmp_path, model, **kw)
    params.update(mode="both", refresh_every=refresh_every, passage_layers=passage_layers)
    out["passage_encoder"] = str(tmp_path / "penc")
    return inp, out, params


def test_both_mode_trains_the_passage_encoder_and_refreshes_on_schedule(tiny_model_dir, tmp_path):
    import json

    from safetensors.torch import load_file

    retriever = Path(tiny_model_dir("bert"))
    before = _sha(retriever / "model.safetensors")
    inp, out, params = _both_case(tmp_path, str(retriever), steps=5)
    distill.distill_retriever(inp, out, params)
    assert _sha(retriever / "model.safetensors") == before, "the initial retriever was written to"
    old = load_file(str(retriever / "model.safetensors"))
    for enc in ("qenc", "penc"):
        new = load_file(str(tmp_path / enc / "model.safetensors"))
        assert any(not torch.equal(old[n], new[n]) for n in old), f"{enc} did not learn"
    rows = [line.split("\t") for line in (tmp_path / "curve.tsv").read_text().splitlines()[1:]]
    assert [int(r[3]) for r in rows] == [0, 0, 2, 2, 4, 4]  # vectors searched: refreshed every 2 steps
    meta = json.loads((tmp_path / "qenc" / "ragdistill_retriever.json").read_text())
    assert (meta["mode"], meta["passage_encoder"], meta["refresh_every"]) == (
        "both",
        out["passage_encoder"],
        2,
    )


def test_top_passage_layers_train_on_stored_states_and_the_rest_stays(tiny_model_dir, tmp_path, monkeypatch):
    """``passage_layers: 1`` of the tiny BERT's 2: the passage encoder's embeddings and layer 0
    keep their initial weights, layer 1 learns; every dev-pool refresh equals the saved-so-far
    encoder's full forward (the stored states stand for the frozen layers exactly)."""
    from safetensors.torch import load_file

    from ragdistill import models

    retriever = Path(tiny_model_dir("bert"))
    inp, out, params = _both_case(tmp_path, str(retriever), steps=4, passage_layers=1)
    refreshed = []
    real = distill.LowerStates.vectors

    def vectors(self, ids):
        got = real(self, ids)
        texts = dict(zip(*distill.dev_pool(distill.read_jsonl(inp["dev"]))[:2], strict=True))
        tok = models.load_tokenizer(str(retriever))
        full = models.embed_all(self.encoder, tok, [texts[i] for i in ids], 8, 32, "mean", False)
        refreshed.append(float(np.abs(got - full).max()))
        return got

    monkeypatch.setattr(distill.LowerStates, "vectors", vectors)
    distill.distill_retriever(inp, out, params)
    assert len(refreshed) == 3 and max(refreshed) < 1e-5  # step 0, refreshes at 2 and 4
    old = load_file(str(retriever / "model.safetensors"))
    new = load_file(str(tmp_path / "penc" / "model.safetensors"))
    changed = {n for n in old if not torch.equal(old[n], new[n])}
    assert changed and all(n.startswith(("encoder.layer.1.", "pooler.")) for n in changed), sorted(changed)
    query = load_file(str(tmp_path / "qenc" / "model.safetensors"))
    assert any(n.startswith("embeddings.") and not torch.equal(old[n], query[n]) for n in old), (
        "query side froze"
    )


@pytest.mark.parametrize("passage_layers", [None, 1])
def test_both_mode_resumes_to_the_same_encoders_and_curve(
    tiny_model_dir, tmp_path, monkeypatch, passage_layers
):
    """Killed after step 4 (its checkpoint holds the index refreshed at step 3, which the dev
    evaluation of step 5 searches), resumed: bitwise the same encoders, curve and searched passage
    vectors as an uninterrupted run."""
    from ragdistill.models import resume

    real_hits = distill.pool_hits

    def recording(seen):
        def hits(q, d_pool, flags, at):
            seen.append(d_pool.double().sum().item())
            return real_hits(q, d_pool, flags, at)

        return hits

    model = tiny_model_dir("bert")
    once, twice = [], []
    monkeypatch.setattr(distill, "pool_hits", recording(once))
    inp, out, params = _both_case(
        tmp_path / "once", model, refresh_every=3, steps=5, passage_layers=passage_layers
    )
    distill.distill_retriever(inp, out, params)

    class Killed(Exception):
        pass

    def kill_at_4(stage, step):
        if step == 4:
            raise Killed

    inp2, out2, params2 = _both_case(
        tmp_path / "twice", model, refresh_every=3, steps=5, checkpoint_every=2, passage_layers=passage_layers
    )
    monkeypatch.setattr(distill, "pool_hits", recording(twice))
    monkeypatch.setattr(resume, "crash_point", kill_at_4)
    with pytest.raises(Killed):
        distill.distill_retriever(inp2, out2, params2)
    monkeypatch.setattr(resume, "crash_point", lambda *a: None)
    distill.distill_retriever(inp2, out2, params2)
    assert len(once) == 4 and once == twice  # evaluations at steps 0, 2, 4, 5 search the index of 0, 0, 3, 3
    for enc in ("qenc", "penc"):
        assert _sha(tmp_path / "once" / enc / "model.safetensors") == _sha(
            tmp_path / "twice" / enc / "model.safetensors"
        ), enc
    assert (tmp_path / "once" / "curve.tsv").read_text() == (tmp_path / "twice" / "curve.tsv").read_text()


def test_targets_on_other_documents_are_refused(tmp_path):
    ex = [{"id": "q", "ctxs": [{"id": "a"}, {"id": "b"}]}]
    np.savez(
        tmp_path / "t.npz",
        ids=np.array(["q"]),
        ctx_ids=np.array([["a", "c"]]),
        scores_adist=np.zeros((1, 2), np.float32),
    )
    with pytest.raises(ValueError, match="other documents"):
        path = str(tmp_path / "t.npz")
        distill._targets(load_dump(path), path, "scores_adist", ex, 2)


def _hits(share: float, n: int = 10) -> np.ndarray:
    """Per-question dev hits with the given share, the first ones hit (so a higher share's hits
    include a lower one's: every difference is a win)."""
    return np.arange(n) < round(share * n)


def test_best_keeps_the_encoder_of_the_best_dev_step_across_a_resume(tiny_model_dir, tmp_path, monkeypatch):
    """Dev HR@5 scripted 0.5, 0.9, 0.6, 0.7 at steps 0, 2, 4, 6: ``best`` keeps step 2's weights,
    those a 2-step ``last`` run ends with, though the job is killed after step 4 and resumed."""
    import json

    from ragdistill.models import resume

    model = tiny_model_dir("bert")
    inp, out, params = distill_case(tmp_path / "last2", model, steps=2)
    distill.distill_retriever(inp, out, params)
    want = _sha(Path(out["query_encoder"]) / "model.safetensors")

    class Killed(Exception):
        pass

    def scripted(values):
        it = iter(values)
        monkeypatch.setattr(distill, "pool_hits", lambda *a: _hits(next(it)))

    def kill_at_4(stage, step):
        if step == 4:
            raise Killed

    inp, out, params = distill_case(tmp_path / "best", model, steps=6, checkpoint_every=2, select="best")
    scripted([0.5, 0.9, 0.6])
    monkeypatch.setattr(resume, "crash_point", kill_at_4)
    with pytest.raises(Killed):
        distill.distill_retriever(inp, out, params)
    scripted([0.7])
    distill.distill_retriever(inp, out, params)
    kept = json.loads((Path(out["query_encoder"]) / "ragdistill_retriever.json").read_text())
    assert (kept["selected_step"], kept["dev_hr5_selected"]) == (2, 0.9)
    assert _sha(Path(out["query_encoder"]) / "model.safetensors") == want


def test_sgd_optimizer_trains_and_an_unknown_one_names_the_key(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    retriever = Path(tiny_model_dir("bert"))
    inp, out, params = distill_case(tmp_path, str(retriever))
    params.update(optimizer="sgd", momentum=0.9, lr=0.5)
    distill.distill_retriever(inp, out, params)
    old = load_file(str(retriever / "model.safetensors"))
    new = load_file(str(tmp_path / "qenc" / "model.safetensors"))
    assert any(not torch.equal(old[n], new[n]) for n in old)
    with pytest.raises(ValueError, match=r"distill.optimizer: 'lion'"):
        from_params(distill.DistillSettings, {**params, "optimizer": "lion"})


def _shards_of(tmp_path: Path, inp: dict, params: dict, retriever: str) -> list[str]:
    """Two shards holding the case's passages (float32, as encoded) in scrambled order, plus decoys."""
    from ragdistill import models
    from ragdistill.core.files import read_jsonl

    passages = {}
    for name in ("train", "dev"):
        for ex in read_jsonl(inp[name]):
            for c in ex["ctxs"]:
                passages[c["id"]] = models.passage_text(c["title"], c["text"])
    passages.update({f"decoy{i}": f"unrelated passage {i}" for i in range(5)})
    ids = sorted(passages, reverse=True)
    tok, enc = models.load_tokenizer(retriever), models.load_encoder(retriever).eval()
    emb = distill._passage_embeddings(
        enc, tok, [passages[i] for i in ids], from_params(distill.DistillSettings, params)
    )
    paths = []
    for s in range(2):
        paths.append(str(tmp_path / f"shard{s}.npz"))
        np.savez(paths[-1], ids=np.array(ids[s::2]), emb=emb[s::2])
    return paths


def test_stored_candidate_vectors_give_the_same_distillation_as_encoding(
    tiny_model_dir, tmp_path, monkeypatch
):
    from ragdistill.stages import encode

    retriever = tiny_model_dir("bert")
    inp, out, params = distill_case(tmp_path / "enc", retriever)
    distill.distill_retriever(inp, out, params)
    shards = _shards_of(tmp_path, inp, params, retriever)
    vectors = tmp_path / "candidates.npz"
    encode.candidate_vectors(
        {"shards": shards, "train": inp["train"], "dev": inp["dev"]},
        {"vectors": str(vectors)},
        {"candidates": 3},
    )
    assert len(np.load(vectors)["ids"]) == 8 * 3  # the candidates, not the decoys
    inp2, out2, params2 = distill_case(tmp_path / "stored", retriever)

    def no_encoding(*args, **kwargs):
        raise AssertionError("query mode with stored vectors encoded passages")

    monkeypatch.setattr(distill, "_passage_embeddings", no_encoding)
    distill.distill_retriever({**inp2, "vectors": str(vectors)}, out2, params2)
    assert Path(out["curve"]).read_text() == Path(out2["curve"]).read_text()
    assert _sha(Path(out["query_encoder"]) / "model.safetensors") == _sha(
        Path(out2["query_encoder"]) / "model.safetensors"
    )


def test_candidate_vectors_name_the_shards_when_a_passage_is_missing(tiny_model_dir, tmp_path):
    from ragdistill.stages import encode

    retriever = tiny_model_dir("bert")
    inp, _, params = distill_case(tmp_path, retriever)
    shards = _shards_of(tmp_path, inp, params, retriever)
    with np.load(shards[0]) as z:
        np.savez(shards[0], ids=z["ids"][1:], emb=z["emb"][1:])
    out = tmp_path / "candidates.npz"
    with pytest.raises(KeyError, match="shard0.npz.*1 retrieved passages have no stored vector"):
        encode.candidate_vectors(
            {"shards": shards, "train": inp["train"], "dev": inp["dev"]},
            {"vectors": str(out)},
            {"candidates": 3},
        )
    assert not out.exists()


def test_a_step_beats_step0_by_the_one_sided_mcnemar_rule():
    h0 = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], bool)
    # 3 wins, 0 losses: 3 / sqrt(3) = 1.73 >= 1.645
    assert distill.beats_step0(np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], bool), h0) == (3, 0, True)
    # 4 wins, 1 loss: 3 / sqrt(5) = 1.34
    assert distill.beats_step0(np.array([0, 1, 1, 1, 1, 1, 0, 0, 0, 0], bool), h0) == (4, 1, False)
    assert distill.beats_step0(h0, h0) == (0, 0, False)


def test_more_looks_at_dev_need_a_larger_margin():
    # Bonferroni over the steps compared with step 0: z for 0.05 / looks, one-sided
    assert [round(distill.z_needed(m), 3) for m in (1, 2, 3)] == [1.645, 1.96, 2.128]
    # evaluated steps: every eval_every-th and the last one
    assert stage_settings.dev_looks(20, 10) == 2
    assert stage_settings.dev_looks(30, 10) == 3
    assert stage_settings.dev_looks(25, 10) == 3
    assert stage_settings.dev_looks(5, 10) == 1
    h0 = np.zeros(20, bool)
    # 4 wins, 0 losses: z = 2.0, enough for one or two looks, not for three
    step = np.array([1] * 4 + [0] * 16, bool)
    assert [distill.beats_step0(step, h0, m)[2] for m in (1, 2, 3)] == [True, True, False]


def test_significant_keeps_step0_unless_a_step_beats_it_by_the_test(tiny_model_dir, tmp_path, monkeypatch):
    """Scripted dev hits of 10 questions: 0.2 at step 0, then 0.4 (2 wins: 1.41, not enough), 0.3;
    ``significant`` keeps step 0, ``best`` step 2. With 0.6 at step 4 (4 wins: 2.0) it keeps 4:
    two looks at dev (steps 2 and 4) need z >= 1.96."""
    import json

    model = tiny_model_dir("bert")
    for name, values, want in (("flat", [0.2, 0.4, 0.3], 0), ("rise", [0.2, 0.4, 0.6], 4)):
        for select, expect in (("significant", want), ("best", 4 if name == "rise" else 2)):
            it = iter(values)
            monkeypatch.setattr(distill, "pool_hits", lambda *a, it=it: _hits(next(it)))
            inp, out, params = distill_case(tmp_path / f"{name}-{select}", model, steps=4, select=select)
            distill.distill_retriever(inp, out, params)
            kept = json.loads((Path(out["query_encoder"]) / "ragdistill_retriever.json").read_text())
            assert kept["selected_step"] == expect, (name, select)
            assert kept["select_z"] == pytest.approx(1.96, abs=1e-3)


def test_uniform_teacher_needs_no_targets_and_subsets_take_the_first_questions(tiny_model_dir, tmp_path):
    import json

    inp, out, params = distill_case(tmp_path, tiny_model_dir("bert"), steps=2)
    del inp["targets"]
    params.update(uniform=True, max_questions=5)
    distill.distill_retriever(inp, out, params)
    kept = json.loads((Path(out["query_encoder"]) / "ragdistill_retriever.json").read_text())
    assert kept["questions"] == 5
    assert kept["teacher_mean_top_p"] == pytest.approx(1 / 3, abs=1e-4)


def test_pdist_has_its_own_temperature(tmp_path):
    _, _, params = distill_case(tmp_path, "unused")
    s = from_params(distill.DistillSettings, {**params, "tau_gold": 5e-4, "tau_pdist": 1.0}, "distill.")
    assert (s.tau, s.score_key) == (5e-4, "scores_adist")
    s = from_params(distill.DistillSettings, {**params, "objective": "pdist", "tau_pdist": 1.0}, "distill.")
    assert (s.tau, s.score_key) == (1.0, "scores_pdist")
