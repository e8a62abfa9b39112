"""Encoding many texts: the Rust-direct batch tokenizer and the pipelined ``embed_all`` must give
exactly what the plain transformers call and a plain loop over ``embed`` give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ragdistill import models

TEXTS = [
    "Ada Lovelace was born in London.",
    "",
    "Ünïcödé café — naïve 東京, with an em dash",
    "the of born city river award " * 60,  # longer than max_length: truncated
    "Bram",
    "Cleo moved to the river city, studied, and worked for the company for a year.",
    "[PAD] a literal pad token in the text",
]


@pytest.mark.parametrize("arch", ["bert", "llama"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batch_tokenizer_equals_the_plain_call(tiny_model_dir, arch, side):
    tok = models.load_tokenizer(tiny_model_dir(arch))
    tok.padding_side = side
    fast = models.BatchTokenizer(tok, max_length=24)
    assert fast.rust is not None, "the offline tokenizer has a Rust backend: the fast path must be taken"
    for s in range(0, len(TEXTS), 3):
        want = models.tokenize_texts(tok, TEXTS[s : s + 3], 24)
        got = fast(TEXTS[s : s + 3])
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].dtype == want[name].dtype, name
            assert torch.equal(got[name], want[name]), name


def test_batch_tokenizer_without_a_pad_token_uses_the_plain_call(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir("bert"))
    tok.pad_token = None
    assert models.BatchTokenizer(tok, 24).rust is None


def test_embed_all_equals_a_plain_loop_in_input_order(tiny_model_dir):
    path = tiny_model_dir("bert")
    tok, model = models.load_tokenizer(path), models.load_encoder(path).eval()
    texts = TEXTS * 3
    got = models.embed_all(model, tok, texts, batch_size=4, max_length=24, pooling="mean", normalize=True)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    want = np.zeros_like(got)
    with torch.no_grad():
        for s in range(0, len(order), 4):
            idx = order[s : s + 4]
            want[idx] = models.embed(model, tok, [texts[i] for i in idx], 24, "mean", True).numpy()
    np.testing.assert_array_equal(got, want)
    assert models.embed_all(model, tok, [], 4, 24, "mean", True).shape == (0, model.config.hidden_size)


def _corpus(path, n: int) -> list[tuple[str, str, str]]:
    rows = [(f"p{i}", TEXTS[i % len(TEXTS)] + f" number {i}" * (i % 4), f"Title {i % 5}") for i in range(n)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("id\ttext\ttitle\n")
        f.writelines(f"{pid}\t{text}\t{title}\n" for pid, text, title in rows)
    return rows


@pytest.mark.parametrize("workers", [0, 2])
def test_encode_corpus_stores_the_shards_passages_in_corpus_order(
    tiny_model_dir, tmp_path, monkeypatch, workers
):
    """Several chunks in flight (CHUNK 5), in a thread or in forked tokenising processes: the
    shard holds its passages in corpus order, each the float32 embedding rounded to float16."""
    from ragdistill.stages import encode

    monkeypatch.setattr(encode, "CHUNK", 5)
    path = tiny_model_dir("bert")
    rows = _corpus(tmp_path / "corpus.tsv", 37)
    params = _shard_params(1, 2, batch_size=2, max_length=24)
    out = {"shard": str(tmp_path / "shard.npz")}
    encode.encode_corpus(
        {"corpus": str(tmp_path / "corpus.tsv"), "model": path}, out, {**params, "tokenize_workers": workers}
    )
    mine = rows[1::2]
    tok, model = models.load_tokenizer(path), models.load_encoder(path)
    want = models.embed_all(model, tok, [models.passage_text(t, x) for _, x, t in mine], 2, 24, "mean", True)
    with np.load(out["shard"]) as z:
        assert z["ids"].tolist() == [pid for pid, _, _ in mine]
        assert z["emb"].dtype == np.float16
        np.testing.assert_array_equal(z["emb"], want.astype(np.float16))


def test_tokenize_workers_default_to_none_on_a_cpu(tiny_model_dir):
    from ragdistill.stages import encode

    tokenizer = models.BatchTokenizer(models.load_tokenizer(tiny_model_dir("bert")), 24)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert encode.tokenize_workers(None, cpu, tokenizer) == 0
    assert encode.tokenize_workers(3, cpu, tokenizer) == 3
    torch.set_num_threads(2)
    assert encode.tokenize_workers(None, gpu, tokenizer) == 1
    tokenizer.rust = None
    assert encode.tokenize_workers(3, gpu, tokenizer) == 0


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize(("shard", "n_shards"), [(0, 1), (1, 3)])
def test_token_ids_stored_once_give_the_same_vectors_byte_for_byte(
    tiny_model_dir, tmp_path, monkeypatch, side, shard, n_shards
):
    """``tokenize_corpus`` (an Arrow dataset of unpadded ids) then ``encode_corpus`` reading it
    memory-mapped: the same float16 vectors, byte for byte, and the same ids in the same order as
    tokenising the TSV in the job (several chunks: CHUNK 5; both padding sides; one shard and a
    third of three)."""
    from ragdistill.stages import encode

    monkeypatch.setattr(encode, "CHUNK", 5)
    monkeypatch.setattr(models, "load_tokenizer", _with_side(models.load_tokenizer, side))
    path = tiny_model_dir("bert")
    corpus, tokens = _tokenized_corpus(tmp_path, path)
    assert not list(tmp_path.glob(".tokens*")), "the job's own datasets cache is removed"
    params = _shard_params(shard, n_shards, batch_size=3, max_length=24)
    shards = {}
    for name, inp in {"tsv": {"corpus": str(corpus)}, "arrow": {"tokens": str(tokens)}}.items():
        shards[name] = str(tmp_path / f"{name}.npz")
        encode.encode_corpus({**inp, "model": path}, {"shard": shards[name]}, params)
    with np.load(shards["tsv"]) as a, np.load(shards["arrow"]) as b:
        assert len(a["ids"]) == len(range(shard, 23, n_shards))
        assert a["ids"].tolist() == b["ids"].tolist()
        assert a["emb"].tobytes() == b["emb"].tobytes()

    # token ids made for another length are refused, not silently read
    with pytest.raises(ValueError, match="token ids made with"):
        encode.encode_corpus(
            {"tokens": str(tokens), "model": path},
            {"shard": str(tmp_path / "x.npz")},
            _shard_params(shard, n_shards, batch_size=3, max_length=16),
        )


def _tokenized_corpus(tmp_path, model_dir: str):
    """(corpus.tsv, tokens folder): 23 passages, tokenised by ``tokenize_corpus`` at length 24."""
    from ragdistill.stages import encode

    corpus, tokens = tmp_path / "corpus.tsv", tmp_path / "tokens"
    _corpus(corpus, 23)
    encode.tokenize_corpus(
        {"corpus": str(corpus), "model": model_dir}, {"tokens": str(tokens)}, {"max_length": 24}
    )
    return corpus, tokens


def _initial_flat_index(tmp_path, path: str) -> tuple[Path, list[str], dict[str, str]]:
    """(tokens folder, two encoded shards, flat index files) of the 23-passage corpus."""
    from ragdistill.stages import encode

    _, tokens = _tokenized_corpus(tmp_path, path)
    shards = [str(tmp_path / f"initial{s}.npz") for s in range(2)]
    for s, shard in enumerate(shards):
        encode.encode_corpus(
            {"tokens": str(tokens), "model": path}, {"shard": shard}, _shard_params(s, 2, 3, 24)
        )
    idx = {
        n: str(tmp_path / f) for n, f in [("index", "index.faiss"), ("ids", "ids.npy"), ("meta", "meta.json")]
    }
    encode.build_index({"shards": shards}, idx, {"type": "flat"})
    return tokens, shards, idx


def _shard_params(shard: int, n_shards: int, batch_size: int, max_length: int) -> dict:
    """encode_corpus's params as the rule passes them (the retriever section, no query length)."""
    retriever = {"model": "m", "pooling": "mean", "normalize": True, "batch_size": batch_size}
    retriever["passage_max_length"] = max_length
    return {"shard": shard, "n_shards": n_shards, "retriever": retriever}


def _with_side(load, side):
    def loader(*args, **kwargs):
        tok = load(*args, **kwargs)
        tok.padding_side = side
        return tok

    return loader


def test_a_resaved_tokenizer_keeps_its_digest_and_another_vocabulary_does_not(tiny_model_dir, tmp_path):
    """A both-mode passage encoder saves the retriever's tokenizer again, with other bytes (its
    truncation state, its formatting): the stored token ids must still be accepted for it."""
    import json
    import shutil
    from pathlib import Path

    from ragdistill.stages import encode

    base = tiny_model_dir("bert")
    again = tmp_path / "again"
    shutil.copytree(base, again)
    spec = json.loads((again / "tokenizer.json").read_text())
    spec["truncation"] = {"direction": "Right", "max_length": 7, "strategy": "LongestFirst", "stride": 0}
    (again / "tokenizer.json").write_text(json.dumps(spec, indent=1, sort_keys=True))
    assert (again / "tokenizer.json").read_bytes() != (Path(base) / "tokenizer.json").read_bytes()
    assert encode.tokenizer_digest(again) == encode.tokenizer_digest(base)
    vocab = spec["model"]["vocab"]
    vocab[next(iter(vocab))], vocab[list(vocab)[1]] = vocab[list(vocab)[1]], vocab[next(iter(vocab))]
    (again / "tokenizer.json").write_text(json.dumps(spec))
    assert encode.tokenizer_digest(again) != encode.tokenizer_digest(base)


def test_a_retriever_distilled_back_to_step_0_reads_the_initial_index_and_retrieval(
    tiny_model_dir, tmp_path, monkeypatch
):
    """A distillation that keeps step 0 saves the initial weights: its corpus shard is the
    initial flat index's vectors (byte for byte what encoding writes, without encoding), and its
    test retrieval is the initial one, copied. Changed weights, or an index that does not keep
    its vectors, are encoded and searched as usual."""
    import json

    from ragdistill.stages import encode, retrieve

    path = tiny_model_dir("bert")
    tokens, shards, idx = _initial_flat_index(tmp_path, path)
    corpus = tmp_path / "corpus.tsv"

    tok, model = models.load_tokenizer(path), models.load_encoder(path)
    same, changed = str(tmp_path / "same"), str(tmp_path / "changed")
    models.save_trained(model, tok, same, path)
    with torch.no_grad():
        next(model.parameters()).add_(0.5)
    models.save_trained(model, tok, changed, path)
    assert models.same_weights(same, path) and not models.same_weights(changed, path)

    link = {"initial_model": path, "initial_index": idx["index"], "initial_ids": idx["ids"]}
    link["initial_meta"] = idx["meta"]

    def shard1(model_dir: str, name: str) -> str:
        out = str(tmp_path / f"{name}.npz")
        inp = {"tokens": str(tokens), "model": model_dir, **link}
        encode.encode_corpus(inp, {"shard": out}, _shard_params(1, 2, 3, 24))
        return out

    real_embed = models.embed_batches
    monkeypatch.setattr(models, "embed_batches", lambda *a, **k: pytest.fail("encoded again"))
    with np.load(shard1(same, "same")) as a, np.load(shards[1]) as b:
        assert a["ids"].tolist() == b["ids"].tolist()
        assert a["emb"].dtype == np.float16 and a["emb"].tobytes() == b["emb"].tobytes()
    monkeypatch.setattr(models, "embed_batches", real_embed)
    with np.load(shard1(changed, "changed")) as a, np.load(shards[1]) as b:
        assert a["ids"].tolist() == b["ids"].tolist()
        assert a["emb"].tobytes() != b["emb"].tobytes()
    (tmp_path / "meta.json").write_text(
        json.dumps({**json.loads((tmp_path / "meta.json").read_text()), "factory": "HNSW32"})
    )
    with np.load(shard1(same, "hnsw")) as a, np.load(shards[1]) as b:  # encoded: the same vectors
        assert a["emb"].tobytes() == b["emb"].tobytes()

    # retrieval: the initial test split copied when nothing changed, searched otherwise
    questions = tmp_path / "test.jsonl"
    rows = [{"id": f"q{i}", "question": TEXTS[i], "answers": ["number"]} for i in range(5)]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = {
        "splits": ["test"],
        "retriever": _shard_params(0, 1, 3, 24)["retriever"] | {"query_max_length": 16},
    }
    params["top_k"] = 4
    initial_test = tmp_path / "initial_test.jsonl"
    base = {**idx, "corpus": str(corpus), "questions": [str(questions)]}
    retrieve.retrieve({**base, "query_encoder": path}, {"test": str(initial_test)}, params)
    initial_test.write_text(initial_test.read_text().replace('"q0"', '"q0-marked"'))  # a copy shows it
    link = {"initial_encoder": path, "initial_index": idx["index"], "initial_ids": idx["ids"]}
    link["initial_test"] = str(initial_test)
    for encoder, copied in [(same, True), (changed, False)]:
        out = tmp_path / f"test-{copied}.jsonl"
        retrieve.retrieve({**base, **link, "query_encoder": encoder}, {"test": str(out)}, params)
        assert ("q0-marked" in out.read_text()) is copied
        assert len(out.read_text().splitlines()) == 5


def test_candidate_vectors_from_a_shared_flat_index_are_the_shards_vectors(tiny_model_dir, tmp_path):
    """A replicate that searches another's initial index after that one's shards were deleted
    reads its candidates' vectors from the flat index: the same ids, order and float16 bytes as
    from the shards; an index that does not store its vectors as encoded is refused."""
    import json

    from ragdistill.stages import encode

    path = tiny_model_dir("bert")
    _, shards, idx = _initial_flat_index(tmp_path, path)
    # a training question retrieving passages of both shards, a dev question one more
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    train.write_text(json.dumps({"ctxs": [{"id": p} for p in ("p4", "p1", "p2", "p9")]}) + "\n")
    dev.write_text(json.dumps({"ctxs": [{"id": "p7"}]}) + "\n")
    made = {}
    for how, source in {"shards": {"shards": shards}, "index": idx}.items():
        out = str(tmp_path / f"candidates-{how}.npz")
        encode.candidate_vectors(
            {**source, "train": str(train), "dev": str(dev)}, {"vectors": out}, {"candidates": 3}
        )
        made[how] = np.load(out)
    assert made["index"]["ids"].tolist() == made["shards"]["ids"].tolist()
    assert sorted(made["index"]["ids"].tolist()) == ["p1", "p2", "p4", "p7"]  # the top 3 and dev's
    assert made["index"]["emb"].dtype == np.float16
    assert made["index"]["emb"].tobytes() == made["shards"]["emb"].tobytes()
    (tmp_path / "meta.json").write_text(json.dumps({"factory": "HNSW32"}))
    with pytest.raises(ValueError, match="not a flat index"):
        encode.candidate_vectors(
            {**idx, "train": str(train), "dev": str(dev)},
            {"vectors": str(tmp_path / "x.npz")},
            {"candidates": 3},
        )
