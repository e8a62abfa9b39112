rule finetune_reader:
    input:
        model=get_reader_base(),
        train="results/{run}/retrieve/initial/train.jsonl",
        dev="results/{run}/retrieve/initial/dev.jsonl",
        code=lib("reader", "models", "prompts", "metrics", "resume"),
    output:
        model=directory("results/{run}/reader/finetuned-s{seed}/model"),
        metrics="results/{run}/reader/finetuned-s{seed}/train_metrics.json",
    log:
        "logs/finetune_reader/{run}/s{seed}.log",
    benchmark:
        "benchmarks/finetune_reader/{run}/s{seed}.tsv"
    # most of the DAG waits for the fine-tuned reader: start it before the off-the-shelf jobs that
    # become ready at the same time
    priority: 10
    conda:
        "../../envs/ragdistill.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPU,
        mem_mb=16000,
        runtime=720,
    params:
        entry="reader:finetune_reader",
        seed="{seed}",
        k=config["k"],
        train=config["reader_finetune"],
        prompt=config["prompt"],
        max_new_tokens=config["evaluate"]["max_new_tokens"],
        resume_dir="results/{run}/reader/finetuned-s{seed}/resume",
    script:
        "../scripts/run_stage.py"


rule finetune:
    input:
        get_finetune_targets(),
    localrule: True
