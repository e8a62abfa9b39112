"""Names the workflow, the stages and the report share: objectives and the paper's grid settings.

Defined once here. ``workflow/rules/common.smk`` builds its wildcards and grid from them, the
attention dump writes one ``scores_<objective>`` array per attention objective, the claims check
names its cells with them, and a test checks the config schema's ``grid.extra`` pattern against
them. No import beyond the standard library, so that the Snakefile stays quick to parse.
"""

from __future__ import annotations

# distillation objectives whose targets come from the attention dump (docs/method.md, "ADist")
ATTENTION_OBJECTIVES = ("adist", "attn", "first", "mean", "noq")
# ... and the one whose targets come from perplexity scoring
PERPLEXITY_OBJECTIVE = "pdist"
OBJECTIVES = (*ATTENTION_OBJECTIVES, PERPLEXITY_OBJECTIVE)

OFF_THE_SHELF, FINE_TUNED = "offtheshelf", "finetuned"
INITIAL = "initial"
# the paper's distilled settings, <objective>-<teacher>, each in every seed's grid
ADIST_OFF = f"adist-{OFF_THE_SHELF}"
ADIST_FT = f"adist-{FINE_TUNED}"
PDIST_FT = f"{PERPLEXITY_OBJECTIVE}-{FINE_TUNED}"
PAPER_SETTINGS = (ADIST_OFF, ADIST_FT, PDIST_FT)
