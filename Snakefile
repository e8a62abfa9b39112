# ragdistill: a Snakemake workflow reproducing "Unveiling the Magic: Investigating Attention
# Distillation in Retrieval-augmented Generation" (Li, Zhang & Zhang, NAACL 2024).
#   snakemake --cores 8 all                          # the embedded default (offline, CPU)
#   snakemake --cores 8 all --configfile config/smoke.yaml
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/lengths.smk"
include: "workflow/rules/encode.smk"
include: "workflow/rules/retrieve.smk"
include: "workflow/rules/reader.smk"
include: "workflow/rules/attention.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/indicators.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/learning_curve.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/arms.smk"


rule all:
    default_target: True
    input:
        get_all_targets(),
    localrule: True
