"""Data: where text comes from (sources, hub datasets, SQuAD, the generated world), how it is
split and checked for leakage, and the stored formats of dumps and vectors. Imports ``core`` and
``analysis`` (answer normalisation), never a model.
"""
