"""ragdistill: reproduce "Unveiling the Magic: Investigating Attention Distillation in RAG".

The Snakemake workflow at the repository root calls one module of this package per stage
(``fetch``, ``lengths``, ``encode``, ``retrieve``, ``reader``, ``attention``, ``distill``, ``evaluate``,
``indicators``, ``figures``, ``sweep``, ``learning_curve``, ``report``, ``arms``: one per file in
``workflow/rules/``); the other modules are the pieces they share.
"""

__version__ = "0.1.0"
