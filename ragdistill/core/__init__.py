"""The core: names, the grid of runs and cells, typed settings, file reading and writing, code
digests, memory estimates and provenance. Light imports only (no torch): the Snakefile loads
these while it plans, and every other layer builds on them.
"""
