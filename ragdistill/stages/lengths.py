"""Stage ``lengths``: the limits known once the data and the reader are fetched, checked then.

``fetch_data`` counts words (it runs before, and without, any model) and keeps the counts in
``checks.json``; this stage compares them with the settings that cut passages and bound prompts,
before any model job. It is a stage of its own, not part of the fetch, so that changing a limit
(or the reader) reruns this light check and the report, never the fetch and all after it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ragdistill import models, readers
from ragdistill.core.files import read_json, write_json
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import LengthSettings

log = logging.getLogger(__name__)


def _over(histogram: dict, limit: int) -> int:
    """Passages of more than ``limit`` words in a words histogram (JSON keys are strings)."""
    return sum(int(c) for w, c in histogram.items() if int(w) > limit)


def check_lengths(inp: dict, out: dict, params: dict) -> None:
    """The limits known once the data and the reader are fetched, checked then, not after
    encoding, retrieval and a dump: passages longer than ``retriever.passage_max_length`` (cut for
    retrieval) and ``prompt.max_doc_tokens`` (cut in the reader's prompt), and each split's
    longest question against the reader's context. Each finding is a warning with the count and
    the longest id, in ``out["lengths"]`` for the report.

    Counted in words from fetch_data's ``checks.json`` (``fetch.LENGTH_UNIT``): the passage counts
    are lower bounds; a question is flagged where its words and k documents of
    ``prompt.max_doc_tokens`` may not fit (an estimate; ``finetune_reader`` still measures every
    test prompt in tokens and stops on one that does not fit)."""
    s = from_params(LengthSettings, params)
    lengths = read_json(inp["checks"]).get("lengths")
    if lengths is None:  # a run fetched before the counts: say so, and let the run go on to its report
        log.warning("%s: no word counts (an older fetch_data's); delete it to count them", inp["checks"])
        write_json(out["lengths"], {"unit": None})
        return
    passages = lengths["passages"]
    found: dict = {"unit": lengths["unit"], "passages": {}, "questions": {}}
    for key, limit, what in (
        ("retriever.passage_max_length", s.passage_max_length, "cut for retrieval"),
        ("prompt.max_doc_tokens", s.max_doc_tokens, "cut in the reader's prompt"),
    ):
        n = _over(passages["histogram"], limit)
        found["passages"][key] = {
            "limit": limit,
            "at_least": n,
            "longest": passages["longest"],
            "words": passages["words"],
        }
        if n:
            log.warning(
                "%s: at least %d passages are longer than %s (%d tokens) and are %s; the longest, "
                "%r, has %d words",
                inp["checks"],
                n,
                key,
                limit,
                what,
                passages["longest"],
                passages["words"],
            )
    context = models.context_length(read_json(Path(inp["reader"]) / "config.json", remove=inp["reader"]))
    # a decoder-only reader reads the k documents in one prompt; Fusion-in-Decoder one per passage
    docs = readers.kind_of_folder(inp["reader"]).documents_per_sequence(s.k)
    room = None if context is None else context - docs * s.max_doc_tokens
    for split, q in lengths["questions"].items():
        words = q["words"] if s.max_question_tokens is None else min(q["words"], s.max_question_tokens)
        fits = room is None or words <= room
        found["questions"][split] = {**q, "context": context, "may_not_fit": not fits}
        if not fits:
            log.warning(
                "%s: %s question %r has %d words: with %d documents of up to %d tokens "
                "(prompt.max_doc_tokens) it may not fit the reader's context of %d tokens; "
                "set prompt.max_question_tokens or lower prompt.max_doc_tokens",
                inp["checks"],
                split,
                q["longest"],
                q["words"],
                docs,
                s.max_doc_tokens,
                context,
            )
    write_json(out["lengths"], found)
