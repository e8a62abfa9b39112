"""HR@1/5/10/20 of a retrieval file per split, and where the first answer-holding passage sits."""

import json
import sys
from collections import Counter

from ragdistill.metrics import has_answer

for path in sys.argv[1:]:
    rows = [json.loads(line) for line in open(path)]
    first = Counter()
    for r in rows:
        flags = [has_answer(c["text"], r["answers"]) for c in r["ctxs"]]
        first[next((i for i, f in enumerate(flags) if f), None)] += 1
    n = len(rows)
    hr = {k: sum(v for i, v in first.items() if i is not None and i < k) / n for k in (1, 5, 10, 20)}
    print(
        path,
        n,
        {k: round(v, 3) for k, v in hr.items()},
        "answer first at 6-10:",
        sum(v for i, v in first.items() if i is not None and 5 <= i < 10),
        "11-20:",
        sum(v for i, v in first.items() if i is not None and i >= 10),
        "none in 20:",
        first[None],
    )
