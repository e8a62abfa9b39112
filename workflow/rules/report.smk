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
        lengths=lambda w: [f"results/{replicate(w.run, s)}/checks/lengths.json" for s in SEEDS],
        # every teacher's retriever: the step it kept, its test retrieval there and at the last step
        encoders=get_teacher_files("distill/{r}/query_encoder"),
        selected=get_teacher_files("retrieve/{r}/test.jsonl"),
        fixed=get_teacher_files("retrieve/{last}/test.jsonl"),
        # each teacher's seed's initial retrieval: the baseline of its gains
        initial=get_teacher_files("retrieve/initial/test.jsonl"),
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
        code=code_hash("report"),
        entry="report:make_report",
        run="{run}",
        cells=grid_cells(),
        readers=GRID.seed_readers(),
        seeds=SEEDS,
        k=config["k"],
        top_n=config["indicators"]["top_n"],
        bootstrap=config["report"],
        captions=FIGURE_CAPTIONS,
        teachers=GRID.teacher_retrievers(),
        distill_steps=config["distill"]["steps"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/run_stage.py"
