rule finetune_reader:
    input:
        model=get_reader_base,
        train="results/{run}/retrieve/initial/train.jsonl",
        dev="results/{run}/retrieve/initial/dev.jsonl",
        # read only to check, before training, that every test question's prompt fits the reader
        test="results/{run}/retrieve/initial/test.jsonl",
    output:
        model=directory("results/{run}/reader/{reader}/model"),
        metrics="results/{run}/reader/{reader}/train_metrics.json",
    log:
        "logs/finetune_reader/{run}/{reader}.log",
    benchmark:
        "benchmarks/finetune_reader/{run}/{reader}.tsv"
    # finetuned-s<seed> (reader_finetune.steps), a teacher sweep's ft<N>-s<seed> (N steps) or the
    # ladder's blind-s<seed> (reader_finetune.steps without its answer-bearing passages)
    wildcard_constraints:
        reader=grid.FINETUNED_READER,
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
        **params_of(
            settings.FinetuneJob,
            seed=lambda w: str(grid.reader_seed(w.reader)),
            # the sweep's readers (ft<N>) train for their own N steps
            train=lambda w: {
                **config["reader_finetune"],
                "steps": finetune_steps(w.reader),
            },
            blind=lambda w: w.reader.startswith("blind-"),
        ),
        code=code_hash("reader"),
        entry="reader:finetune_reader",
        resume_dir="results/{run}/reader/{reader}/resume",
    script:
        "../scripts/run_stage.py"


# The random control teacher (grid.controls): the reader's architecture with random weights.
rule random_reader:
    input:
        model=get_reader_base,
    output:
        model=directory("results/{run}/reader/random/model"),
    log:
        "logs/random_reader/{run}.log",
    benchmark:
        "benchmarks/random_reader/{run}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        # its seed: RandomReaderSettings's default (ragdistill/core/stage_settings.py)
        **params_of(settings.RandomReaderSettings),
        code=code_hash("reader"),
        entry="reader:random_reader",
    script:
        "../scripts/run_stage.py"


# A noise rung of the ladder (ladder.noise): the seed's fine-tuned reader with Gaussian noise of
# nz<M> per mille of each weight tensor's norm.
rule noisy_reader:
    input:
        model="results/{run}/reader/finetuned-s{seed}/model",
    output:
        model=directory("results/{run}/reader/nz{milli}-s{seed}/model"),
    log:
        "logs/noisy_reader/{run}/nz{milli}-s{seed}.log",
    benchmark:
        "benchmarks/noisy_reader/{run}/nz{milli}-s{seed}.tsv"
    wildcard_constraints:
        milli=r"\d+",
    conda:
        "../../envs/ragdistill.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        **params_of(
            settings.NoiseSettings,
            scale=lambda w: grid.noise_scale(f"nz{w.milli}"),
            seed=lambda w: int(w.seed),
        ),
        code=code_hash("reader"),
        entry="reader:noisy_reader",
    script:
        "../scripts/run_stage.py"


rule finetune:
    input:
        get_finetune_targets(),
    localrule: True
