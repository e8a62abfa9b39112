"""Command lines over finished outputs: ``python -m ragdistill.tools.<name> --help``. They may
import any layer, stages included, and nothing imports them.
"""
