rule distill_retriever:
    input:
        # query mode: the candidates' stored vectors (both mode re-encodes them as it trains)
        **(
            {}
            if BOTH_ENCODERS
            else {"vectors": "results/{run}/encode/initial/candidates.npz"}
        ),
        retriever=get_retriever_model(),
        train="results/{run}/retrieve/initial/train.jsonl",
        dev="results/{run}/retrieve/initial/dev.jsonl",
        targets=get_targets,
    output:
        **(
            {
                "passage_encoder": directory(
                    "results/{run}/distill/{objective}-{teacher}-s{seed}/passage_encoder"
                )
            }
            if BOTH_ENCODERS
            else {}
        ),
        **(
            {
                f"last_{side}_encoder": directory(
                    f"results/{{run}}/distill/{{objective}}-{{teacher}}-s{{seed}}/last/{side}_encoder"
                )
                for side in (["query", "passage"] if BOTH_ENCODERS else ["query"])
            }
            if config["distill"]["select"] != "last"
            else {}
        ),
        query_encoder=directory(
            "results/{run}/distill/{objective}-{teacher}-s{seed}/query_encoder"
        ),
        # the last step's encoders: the fixed-step retriever ({name}-last), whatever was kept
        curve="results/{run}/distill/{objective}-{teacher}-s{seed}/curve.tsv",
    log:
        "logs/distill_retriever/{run}/{objective}-{teacher}-s{seed}.log",
    benchmark:
        "benchmarks/distill_retriever/{run}/{objective}-{teacher}-s{seed}.tsv"
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
            settings.DistillSettings,
            # each objective's own teacher temperature only (None: not read), so that a change
            # of one reruns only the distillations that read it
            tau_gold=teacher_tau("tau_gold"),
            tau_pdist=teacher_tau("tau_pdist"),
            seed="{seed}",
            objective="{objective}",
            uniform=lambda w: w.teacher == "uniform",
            # every teacher trains on the first attention.max_questions: a dump holds no more,
            # and the uniform control, which has no dump, takes as many
            max_questions=config["attention"]["max_questions"],
        ),
        code=code_hash("distill"),
        entry="distill:distill_retriever",
        resume_dir="results/{run}/distill/{objective}-{teacher}-s{seed}/resume",
    script:
        "../scripts/run_stage.py"


# The learning curve's subsets: the same distillation on the first n dumped training questions.
use rule distill_retriever as distill_subset with:
    output:
        **(
            {
                "passage_encoder": directory(
                    "results/{run}/distill/{objective}-{teacher}-n{size}-s{seed}/passage_encoder"
                )
            }
            if BOTH_ENCODERS
            else {}
        ),
        query_encoder=directory(
            "results/{run}/distill/{objective}-{teacher}-n{size}-s{seed}/query_encoder"
        ),
        curve="results/{run}/distill/{objective}-{teacher}-n{size}-s{seed}/curve.tsv",
    log:
        "logs/distill_subset/{run}/{objective}-{teacher}-n{size}-s{seed}.log",
    benchmark:
        "benchmarks/distill_subset/{run}/{objective}-{teacher}-n{size}-s{seed}.tsv"
    wildcard_constraints:
        size=r"\d+",
    params:
        **params_of(
            settings.DistillSettings,
            tau_gold=teacher_tau("tau_gold"),
            tau_pdist=teacher_tau("tau_pdist"),
            seed="{seed}",
            objective="{objective}",
            uniform=lambda w: w.teacher == "uniform",
            max_questions=lambda w: int(w.size),
        ),
        code=code_hash("distill"),
        entry="distill:distill_retriever",
        resume_dir="results/{run}/distill/{objective}-{teacher}-n{size}-s{seed}/resume",


rule distill:
    input:
        get_distill_targets(),
    localrule: True
