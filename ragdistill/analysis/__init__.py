"""Analysis of numbers already computed: answer and retrieval metrics, paired statistics and
intervals, the claims check, plots, LaTeX tables. Nothing here loads a model or reads a corpus;
it imports only ``core``.
"""
