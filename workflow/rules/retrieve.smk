rule retrieve_initial:
    input:
        # the corpus leader's index (itself, or the first replicate with the same corpus), and
        # where it is another's, both replicates' data checks (the corpora must be the same file)
        unpack(get_shared_corpus_checks),
        index=lambda w: f"{initial_index_dir(w.run)}/index.faiss",
        ids=lambda w: f"{initial_index_dir(w.run)}/ids.npy",
        corpus="resources/data/{run}/corpus.tsv",
        questions=expand("resources/data/{{run}}/{split}.jsonl", split=SPLITS),
        query_encoder=get_retriever_model(),
    output:
        train="results/{run}/retrieve/initial/train.jsonl",
        dev="results/{run}/retrieve/initial/dev.jsonl",
        test="results/{run}/retrieve/initial/test.jsonl",
    log:
        "logs/retrieve_initial/{run}.log",
    benchmark:
        "benchmarks/retrieve_initial/{run}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPU,
        # the whole index (a flat one: 4 bytes x dim x passages, 64 GB for 21M x 768) and the
        # ids beside the query encoder, the questions and the retrieved passages' text
        mem_mb=lambda w, input: memory.held_mb([input.index, input.ids], base_mb=8000),
        runtime=60,
    params:
        **params_of(
            settings.RetrieveSettings,
            retriever=retriever_section("passage_max_length"),
            splits=SPLITS,
        ),
        code=code_hash("retrieve"),
        entry="retrieve:retrieve",
    script:
        "../scripts/run_stage.py"


# A distilled retriever: its query encoder against the initial index (query mode) or against the
# corpus re-encoded with its own passage encoder (both mode).
rule retrieve_distilled:
    input:
        # the initial retrieval, copied when the distilled retriever is unchanged (kept step 0)
        unpack(get_initial_retrieval),
        unpack(get_shared_corpus_checks),
        index=lambda w: f"{get_index_dir(w)}/index.faiss",
        ids=lambda w: f"{get_index_dir(w)}/ids.npy",
        corpus="resources/data/{run}/corpus.tsv",
        questions=["resources/data/{run}/test.jsonl"],
        query_encoder=get_query_encoder,
    output:
        test="results/{run}/retrieve/{retriever}/test.jsonl",
    log:
        "logs/retrieve_distilled/{run}/{retriever}.log",
    benchmark:
        "benchmarks/retrieve_distilled/{run}/{retriever}.tsv"
    wildcard_constraints:
        retriever=f"{grid.DISTILLED}|{grid.FIXED}",
    # on the way from the fine-tuned reader to the grid (see finetune_reader)
    priority: 5
    conda:
        "../../envs/ragdistill.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPU,
        # the whole index (a flat one: 4 bytes x dim x passages, 64 GB for 21M x 768) and the
        # ids beside the query encoder, the questions and the retrieved passages' text
        mem_mb=lambda w, input: memory.held_mb([input.index, input.ids], base_mb=8000),
        runtime=60,
    params:
        **params_of(
            settings.RetrieveSettings,
            retriever=retriever_section("passage_max_length"),
            splits=["test"],
        ),
        code=code_hash("retrieve"),
        entry="retrieve:retrieve",
    script:
        "../scripts/run_stage.py"


rule retrieve:
    input:
        get_retrieve_targets(),
    localrule: True
