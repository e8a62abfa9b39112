"""Which replicates read the same corpus, so that its initial index is encoded and built once.

Why: at the paper's scale NaturalQuestions and TriviaQA both search the 21M-passage DPR corpus,
and every seed of either searches it again; each initial index costs a full encoding (hours on a
GPU) and a flat index of about 64 GB. The initial retriever and the corpus are all an initial
index depends on, so replicates with the same corpus can share one: the group's first replicate
(its **leader**, in the config's order of runs and seeds) builds it under
``results/<leader>/index/initial`` and the others (its followers) search it there.

A corpus is known to be the same, before anything is fetched, from the config alone:

- a corpus of files (``datasets.<name>.corpus``): the same ``corpus``, ``corpus_format`` and
  ``corpus_sha256``, whatever the questions and their seed (a seed draws questions, never
  passages);
- a SQuAD file (``question_format: squad``): the same ``squad.source``, ``squad.sha256`` and
  ``squad.passage_words`` (every paragraph of the file is the corpus, whatever the split's seed);
- a generated world (``source: 'synthetic:'``): the same ``world`` settings and the same seed
  (each seed draws its own world, so its own corpus): two runs of one world that differ only
  in their reader (the study's two arms) share it, two seeds never do.

The key is written conservatively (a default left out in one dataset and written in another
counts as different), and the workflow checks at run time that a follower's fetched corpus is
byte for byte the leader's (``checks.json``'s ``corpus_sha256``; ``ragdistill/stages/retrieve.py``),
so a wrong guess stops with one line instead of retrieving from another corpus.

Standard library and ``core.grid`` only: the Snakefile calls it while planning.
"""

from __future__ import annotations

import json

from ragdistill.core.grid import replicate_parts


def corpus_key(dataset: dict, replicate: str) -> str:
    """A string that two replicates share exactly when their fetched corpora are the same file.

    ``dataset`` is the replicate's ``datasets.<name>`` section; ``replicate`` its name
    (``world/s0``), whose seed is part of a generated world's key."""
    if dataset.get("source") is not None:
        seed = replicate_parts(replicate)[1]
        return json.dumps(["world", dataset.get("source"), dataset.get("world"), seed], sort_keys=True)
    if dataset.get("question_format") == "squad":
        sq = dataset.get("squad") or {}
        return json.dumps(["squad", sq.get("source"), sq.get("sha256"), sq.get("passage_words")])
    return json.dumps(
        ["files", dataset.get("corpus"), dataset.get("corpus_format"), dataset.get("corpus_sha256")]
    )


def corpus_leaders(datasets: dict[str, dict], replicates: list[str]) -> dict[str, str]:
    """Each replicate's leader: the first replicate in ``replicates`` with its corpus key (a
    leader is its own). ``datasets`` maps a run's name (the part before ``/s<seed>``) to its
    section."""
    first: dict[str, str] = {}
    leaders = {}
    for name in replicates:
        key = corpus_key(datasets[replicate_parts(name)[0]], name)
        leaders[name] = first.setdefault(key, name)
    return leaders
