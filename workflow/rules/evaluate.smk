# One answering job per reader: every test question of every retriever the grid pairs with it,
# each distinct prompt answered once (cells that share a reader mostly share prompts).
rule answer_questions:
    input:
        retrieved=get_answer_inputs,
        reader=get_reader_model,
    output:
        answers="results/{run}/answers/{reader}.jsonl",
    log:
        "logs/answer_questions/{run}/{reader}.log",
    benchmark:
        "benchmarks/answer_questions/{run}/{reader}.tsv"
    # on the way from the fine-tuned reader to the grid (see finetune_reader)
    priority: 5
    conda:
        "../../envs/ragdistill.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPU,
        mem_mb=8000,
        runtime=240,
    params:
        **params_of(
            settings.AnswerSettings,
            reader="{reader}",
            retrievers=lambda w: cell_retrievers(w.reader, seed_of(w.run)),
        ),
        code=code_hash("evaluate"),
        entry="evaluate:answer_questions",
    script:
        "../scripts/run_stage.py"


# A grid cell: its retriever's test retrieval joined with its reader's answers (no model).
rule evaluate_setting:
    input:
        retrieved="results/{run}/retrieve/{retriever}/test.jsonl",
        answers="results/{run}/answers/{reader}.jsonl",
    output:
        predictions="results/{run}/evaluate/{retriever}+{reader}/predictions.jsonl",
        metrics="results/{run}/evaluate/{retriever}+{reader}/metrics.json",
    log:
        "logs/evaluate_setting/{run}/{retriever}+{reader}.log",
    localrule: True
    conda:
        "../../envs/ragdistill.yaml"
    threads: 1
    params:
        **params_of(settings.CellSettings, retriever="{retriever}", reader="{reader}"),
        code=code_hash("evaluate"),
        entry="evaluate:evaluate_setting",
    script:
        "../scripts/run_stage.py"


rule evaluate:
    input:
        get_evaluate_targets(),
    localrule: True
