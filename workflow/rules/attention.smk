rule dump_attention:
    input:
        model=get_reader_model,
        retrieved="results/{run}/retrieve/initial/{split}.jsonl",
    output:
        dump="results/{run}/attention/{reader}/{split}.npz",
    log:
        "logs/dump_attention/{run}/{reader}/{split}.log",
    benchmark:
        "benchmarks/dump_attention/{run}/{reader}/{split}.tsv"
    # on the way from the fine-tuned reader to the grid (see finetune_reader)
    priority: 5
    conda:
        "../../envs/ragdistill.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPU,
        mem_mb=16000,
        runtime=240,
    params:
        **params_of(settings.DumpSettings, max_questions=dump_questions),
        code=code_hash("attention"),
        entry="attention:dump_attention",
    script:
        "../scripts/run_stage.py"


rule score_perplexity:
    input:
        model=get_reader_model,
        retrieved="results/{run}/retrieve/initial/{split}.jsonl",
    output:
        scores="results/{run}/perplexity/{reader}/{split}.npz",
    log:
        "logs/score_perplexity/{run}/{reader}/{split}.log",
    benchmark:
        "benchmarks/score_perplexity/{run}/{reader}/{split}.tsv"
    # on the way from the fine-tuned reader to the grid (see finetune_reader)
    priority: 5
    conda:
        "../../envs/ragdistill.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPU,
        mem_mb=16000,
        runtime=240,
    params:
        # one question per pass; answer_rows is not read (the answer's NLL comes from the logits)
        **params_of(
            settings.DumpSettings,
            unread=("answer_rows",),
            batch_size=1,
            max_questions=dump_questions,
        ),
        code=code_hash("attention"),
        entry="attention:score_perplexity",
    script:
        "../scripts/run_stage.py"


rule attention:
    input:
        get_attention_targets(),
    localrule: True
