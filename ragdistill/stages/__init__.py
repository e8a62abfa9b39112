"""The stages: one module per rule file of ``workflow/rules/`` (same name), each holding the
functions its rules name in ``params.entry``. A stage imports the layers below (``core``,
``analysis``, ``data``, ``models``, ``readers``), never another stage: what two stages share
lives in a layer below them.
"""
