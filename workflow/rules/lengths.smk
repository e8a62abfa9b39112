# The limits known once the data and the reader are fetched (passages cut for retrieval or in the
# prompt, questions that may not fit the reader's context), checked before any model job: a
# rule of its own, so that changing a limit reruns this check, not the fetch and all after it.
rule check_lengths:
    input:
        checks="resources/data/{run}/checks.json",
        reader=get_reader_base,
    output:
        lengths="results/{run}/checks/lengths.json",
    log:
        "logs/check_lengths/{run}.log",
    # as soon as its inputs exist, before the jobs that train and read models (priority 10 and
    # 5): a warning after an hour of work is a late warning
    priority: 20
    localrule: True
    conda:
        "../../envs/ragdistill.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        **params_of(settings.LengthSettings),
        code=code_hash("lengths"),
        entry="lengths:check_lengths",
    script:
        "../scripts/run_stage.py"


rule lengths:
    input:
        [f"results/{r}/checks/lengths.json" for r in REPLICATES],
    localrule: True
