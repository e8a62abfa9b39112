rule make_report:
    input:
        metrics=get_cell_metrics,
        predictions=get_cell_predictions,
        indicators=get_indicator_files,
        figures=get_figure_files,
        sweep=get_sweep_files,
        curve=get_curve_files,
        # every seed's replicate: its data checks, its questions' articles (clustered intervals)
        data_checks=lambda w: [
            f"resources/data/{replicate(w.run, s)}/checks.json" for s in SEEDS
        ],
        # every seed's replicate: passages and questions against the limits (check_lengths)
        lengths=lambda w: [
            f"results/{replicate(w.run, s)}/checks/lengths.json" for s in SEEDS
        ],
        # every teacher's retriever: the step it kept, its test retrieval there and at the last step
        encoders=get_teacher_files("distill/{r}/query_encoder"),
        selected=get_teacher_files("retrieve/{r}/test.jsonl"),
        fixed=get_teacher_files("retrieve/{last}/test.jsonl"),
        # each teacher's seed's initial retrieval: the baseline of its gains
        initial=get_teacher_files("retrieve/initial/test.jsonl"),
        # what the fetch recorded of each model (its source and hub commit), for the provenance
        models=run_models,
        questions=lambda w: [
            f"resources/data/{replicate(w.run, s)}/{split}.jsonl"
            for s in SEEDS
            for split in SPLITS
        ],
    output:
        report=report(
            "results/{run}/report/report.md",
            caption="../report/report.rst",
            category="Report",
            labels={"run": "{run}", "file": "report.md"},
        ),
        claims="results/{run}/report/claims.json",
        fixed_step="results/{run}/report/fixed_step.json",
        # the claims at a glance (the report's first figure)
        claims_png=report(
            "results/{run}/figures/claims.png",
            caption="../report/claims.rst",
            category="Report",
            labels={"run": "{run}", "figure": "claims at a glance"},
        ),
        claims_pdf="results/{run}/figures/claims.pdf",
        grid_csv=report(
            "results/{run}/report/grid.csv",
            caption="../report/grid_table.rst",
            category="Evaluation",
            labels={"run": "{run}", "file": "grid.csv"},
        ),
        grid_md="results/{run}/report/grid.md",
        # the grid and the claims for a paper (booktabs)
        grid_tex="results/{run}/report/grid.tex",
        claims_tex="results/{run}/report/claims.tex",
        # every retriever's test HR@k for k = 1 .. retrieve.top_k
        hr_at_k_png=report(
            "results/{run}/figures/hr_at_k.png",
            caption="../report/hr_at_k.rst",
            category="Evaluation",
            labels={"run": "{run}", "figure": "HR@k against k"},
        ),
        hr_at_k_pdf="results/{run}/figures/hr_at_k.pdf",
        # the resolved config (every --configfile merged), beside the report that names its digest
        config="results/{run}/report/config.yaml",
        front_page=report(
            "results/{run}/report/claims-{run}.rst",
            caption="../report/front_page.rst",
            category="Report",
            labels={"run": "{run}", "file": "claims-{run}.rst"},
        ),
    log:
        "logs/make_report/{run}.log",
    wildcard_constraints:
        run=RUN_NAMES,
    localrule: True
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        **params_of(
            settings.ReportSettings,
            run="{run}",
            cells=grid_cells(),
            readers=GRID.seed_readers(),
            captions=FIGURE_CAPTIONS,
            teachers=GRID.teacher_retrievers(),
            not_drawn=not_drawn(),
        ),
        code=code_hash("report"),
        entry="report:make_report",
    script:
        "../scripts/run_stage.py"


# several runs in one invocation: their claims in one figure (a marker per run and seed)
rule claims_across_runs:
    input:
        claims=[f"results/{r}/report/claims.json" for r in RUNS],
    output:
        png=report(
            "results/runs/claims.png",
            caption="../report/claims_across_runs.rst",
            category="Report",
            labels={"figure": "claims of every run"},
        ),
        pdf="results/runs/claims.pdf",
    log:
        "logs/claims_across_runs.log",
    localrule: True
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        **params_of(settings.AcrossRunsSettings, runs=RUNS),
        code=code_hash("report"),
        entry="report:claims_across_runs",
    script:
        "../scripts/run_stage.py"
