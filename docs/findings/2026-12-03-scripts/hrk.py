"""HR@1/5/10/20 of retrieval files, and where each question's first answer-holding passage sits.

    python hrk.py results/squad/retrieve/initial/{train,dev,test}.jsonl

Reads the ``has_answer`` flag the retrieval stored for each passage (``metrics.has_answer``).
"""

import sys
from collections import Counter

from ragdistill.core.files import read_jsonl
from ragdistill.analysis.metrics import mean_hits

for path in sys.argv[1:]:
    flags = [[bool(c["has_answer"]) for c in row["ctxs"]] for row in read_jsonl(path)]
    first = Counter(next((i for i, f in enumerate(fl) if f), None) for fl in flags)
    hr = mean_hits(flags, (1, 5, 10, 20))
    ranks_6_10 = sum(v for i, v in first.items() if i is not None and 5 <= i < 10)
    ranks_11_20 = sum(v for i, v in first.items() if i is not None and i >= 10)
    print(
        path,
        len(flags),
        {k: round(v, 3) for k, v in hr.items()},
        "answer first at 6-10:",
        ranks_6_10,
        "11-20:",
        ranks_11_20,
        "none in 20:",
        first[None],
    )
