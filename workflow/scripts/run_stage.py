"""Thin entry point: every rule runs this; params.entry names the library function to call."""

from ragdistill.runner import run_from_snakemake

run_from_snakemake(snakemake)  # noqa: F821 (injected by Snakemake)
