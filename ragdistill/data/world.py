"""The generated question-answering world: the default's data, deterministic from a seed.

Why generated: with no dataset hub reachable, a world of fictional people lets the study run
offline, and because the people are fictional a pretrained reader cannot answer from memory; it
must read the passages, which is what attention distillation is about.

How it is made hard for the retriever:
- names are drawn from small pools of given names and family names, so many people share one
  of them (distractors that match half the name);
- each person has several passages that all name them, and only one states the fact asked about;
- relatives (same family name) are mentioned in each other's passages;
- attribute values come from shared pools, so distractors state facts of the same type;
- questions are worded with other words than the passages ("profession" vs "worked as").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_SYLLABLES = (
    "ka lo ve ri sa mun tel dor bra qui nes fal zor em ith var lun pel sor ga tiv ol wen rho "
    "mar cul dea fen hal jor kes lir mov nor pra ros sul tam ulf vex wyn yal zed bel cor"
).split()

_ATTRIBUTES: dict[str, dict] = {
    "hometown": {
        "values": "city",
        "passage": ["{name} was born in the town of {v}.", "{name} grew up in {v}, near the river."],
        "question": ["What is the hometown of {name}?", "Where does {name} come from?"],
    },
    "occupation": {
        "values": "job",
        "passage": ["{name} worked as a {v} for most of {poss} life.", "By trade, {name} was a {v}."],
        "question": ["What was the profession of {name}?", "What job did {name} do?"],
    },
    "employer": {
        "values": "org",
        "passage": [
            "{name} spent many years employed by the {v}.",
            "{name} joined the {v} as a young adult.",
        ],
        "question": ["Which organization did {name} work for?", "Who employed {name}?"],
    },
    "instrument": {
        "values": "instrument",
        "passage": ["In {poss} spare time {name} played the {v}.", "{name} was known to perform on the {v}."],
        "question": ["Which musical instrument did {name} play?", "What instrument could {name} perform on?"],
    },
    "pet": {
        "values": "animal",
        "passage": ["{name} kept a {v} at home.", "{name} looked after an old {v} for years."],
        "question": ["What kind of animal was the pet of {name}?", "Which animal did {name} keep?"],
    },
    "birth_year": {
        "values": "year",
        "passage": ["{name} was born in {v}.", "{name} came into the world in the year {v}."],
        "question": ["In what year was {name} born?", "When was {name} born?"],
    },
    "spouse": {
        "values": "person",
        "passage": ["{name} married {v}.", "{name} shared a house with {poss} partner {v}."],
        "question": ["Who was the spouse of {name}?", "To whom was {name} married?"],
    },
    "award": {
        "values": "award",
        "passage": ["{name} received the {v} for {poss} work.", "The {v} was given to {name}."],
        "question": ["Which prize did {name} win?", "What honour was awarded to {name}?"],
    },
}
# the word that stands for the value in a question worded as its passage (question_wording: passage)
_WH = {"person": "whom"}

# Sentences that name a person next to a value of an attribute type without stating the fact:
# decoy passages are made of them, so that a retriever must read the relation, not just the name.
_DECOYS = {
    "city": "{name} once visited {v} on a long journey.",
    "job": "{name} often talked with a {v} from the market.",
    "org": "{name} wrote several letters to the {v}.",
    "instrument": "{name} admired the sound of the {v}.",
    "animal": "{name} was afraid of the neighbour's {v}.",
    "year": "{name} left the region for a while in {v}.",
    "person": "{name} corresponded with {v} for years.",
    "award": "{name} was nominated for the {v} but did not win it.",
}

_POOLS = {
    "job": "glassblower cartographer beekeeper clockmaker ferryman stonemason bookbinder weaver "
    "lamplighter tanner cooper apothecary surveyor shipwright locksmith chandler".split(),
    "instrument": "harp lute cello oboe zither bagpipe dulcimer flute viola trombone accordion "
    "marimba banjo harmonium".split(),
    "animal": "tortoise ferret parrot goat donkey hedgehog peacock raven pony rabbit owl lizard".split(),
}
_ORG_KINDS = "Guild Company Society Institute Bank Observatory Academy Foundry Library Museum".split()
_AWARD_KINDS = "Medal Prize Cup Ribbon Laurel".split()
_FILLER = [
    "Letters kept in the archive describe {name} as patient and curious.",
    "Few records from that period survive.",
    "{Pron} rarely spoke about {poss} early years.",
    "Neighbours remembered {obj} as a generous host.",
    "Some of this is disputed by local historians.",
    "{Pron} travelled often along the northern coast.",
    "A small portrait of {obj} hangs in the town hall.",
]


@dataclass
class WorldConfig:
    """Sizes and difficulty knobs of the generated world (config key ``datasets.<run>.world``)."""

    seed: int = 0
    n_people: int = 430
    given_names: int = 30
    family_names: int = 20
    passages_per_person: int = 3
    n_cities: int = 40
    n_orgs: int = 30
    n_awards: int = 20
    relative_mentions: float = 0.5
    decoy_passages: int = 2
    full_name_rate: float = 0.3
    # paraphrase: questions in other words than the passages; passage: the gold sentence with its
    # value replaced by "what" ("Ann Lee worked as a what for most of her life?")
    question_wording: str = "paraphrase"
    min_words: int = 45  # filler sentences pad each passage to at least this many words
    train: int = 400
    dev: int = 1000
    test: int = 2000


@dataclass
class Person:
    given: str
    family: str
    pronoun: str
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()


def _unique_words(rng: random.Random, n: int, syllables: tuple[int, int]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        w = _word(rng, rng.randint(*syllables))
        if w not in seen and len(w) > 3:
            seen.add(w)
            out.append(w)
    return out


# distinct 2-3 syllable words longer than 3 letters is far more than this; the cap keeps the
# rejection sampling in _unique_words quick
_MAX_POOL = 20_000


def size_problems(cfg: WorldConfig) -> list[tuple[str, str]]:
    """(key, why) for each size the generator cannot meet. Checked when the config is loaded and
    again before generating: full names are unique, so ``n_people`` above ``given_names x
    family_names`` would otherwise loop for ever."""
    out = []
    for key in ("given_names", "family_names", "n_cities", "n_orgs", "n_awards"):
        n = getattr(cfg, key)
        if not 1 <= n <= _MAX_POOL:
            out.append((key, f"{n}, must be between 1 and {_MAX_POOL}"))
    if cfg.question_wording not in ("paraphrase", "passage"):
        out.append(("question_wording", f"{cfg.question_wording!r}, must be paraphrase or passage"))
    names = cfg.given_names * cfg.family_names
    if cfg.n_people > names:
        out.append(
            (
                "n_people",
                f"{cfg.n_people}, but given_names x family_names = {cfg.given_names} x "
                f"{cfg.family_names} = {names} distinct full names; raise given_names or family_names",
            )
        )
    need, have = cfg.train + cfg.dev + cfg.test, cfg.n_people * len(_ATTRIBUTES)
    if need > have:
        out.append(
            (
                "train",
                f"train+dev+test = {need} questions, but {cfg.n_people} people x {len(_ATTRIBUTES)} "
                f"attributes give only {have}; raise n_people",
            )
        )
    return out


def _pronouns(p: str) -> dict[str, str]:
    if p == "he":
        return {"pron": "he", "Pron": "He", "poss": "his", "obj": "him"}
    return {"pron": "she", "Pron": "She", "poss": "her", "obj": "her"}


def _name_pools(rng: random.Random, cfg: WorldConfig) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """Given names, family names and the value pools of every attribute kind."""
    givens = _unique_words(rng, cfg.given_names, (2, 3))
    families = _unique_words(rng, cfg.family_names, (2, 3))
    pools = dict(_POOLS)
    pools["city"] = _unique_words(rng, cfg.n_cities, (2, 3))
    pools["org"] = [f"{w} {rng.choice(_ORG_KINDS)}" for w in _unique_words(rng, cfg.n_orgs, (2, 3))]
    pools["award"] = [f"{w} {rng.choice(_AWARD_KINDS)}" for w in _unique_words(rng, cfg.n_awards, (2, 3))]
    pools["year"] = [str(y) for y in range(1780, 1920)]
    return givens, families, pools


def _people(rng: random.Random, cfg: WorldConfig, givens, families, pools) -> list[Person]:
    """``n_people`` people with unique full names, then each one's facts."""
    people: list[Person] = []
    names: set[str] = set()
    while len(people) < cfg.n_people:
        person = Person(rng.choice(givens), rng.choice(families), rng.choice(["he", "she"]))
        if person.name in names:
            continue
        names.add(person.name)
        people.append(person)
    for person in people:
        for attr, spec in _ATTRIBUTES.items():
            if spec["values"] == "person":
                person.facts[attr] = f"{rng.choice(givens)} {rng.choice(families)}"
            else:
                person.facts[attr] = rng.choice(pools[spec["values"]])
    return people


def _naming(rng: random.Random, cfg: WorldConfig, person: Person) -> tuple[str, str]:
    """How a passage names its person, and its title: in full only sometimes, else as "R. Family"
    (then the family name is all the retriever can match, shared with the person's relatives)."""
    full = rng.random() < cfg.full_name_rate
    named = person.name if full else f"{person.given[0]}. {person.family}"
    return named, person.name if full else person.family


def _pad(rng: random.Random, cfg: WorldConfig, sentences: list[str], person: Person, pr: dict) -> str:
    """The sentences, padded with filler to at least ``min_words`` words."""
    fillers = rng.sample(_FILLER, len(_FILLER))
    while len(" ".join(sentences).split()) < cfg.min_words and fillers:
        sentences.append(fillers.pop().format(name=person.family, **pr))
    return " ".join(sentences)


def _fact_passages(
    rng, cfg: WorldConfig, pi: int, person: Person, relatives: list[Person], gold, cloze
) -> list[dict]:
    """The person's facts spread over ``passages_per_person`` passages; records each fact's gold
    passage and its cloze sentence (the sentence with its value asked for)."""
    attrs = list(_ATTRIBUTES)
    order = attrs[:]
    rng.shuffle(order)
    chunks = [order[i :: cfg.passages_per_person] for i in range(cfg.passages_per_person)]
    pr = _pronouns(person.pronoun)
    out = []
    for ci, chunk in enumerate(chunks):
        pid = f"p{pi}-{ci}"
        sentences = []
        named, title = _naming(rng, cfg, person)
        for j, attr in enumerate(chunk):
            template = rng.choice(_ATTRIBUTES[attr]["passage"])
            # the first sentence names the person; later ones use the family name or a
            # pronoun, so a fact's sentence need not repeat the name the question uses
            who = named if j == 0 else rng.choice([person.family, named, "PRONOUN"])
            if who == "PRONOUN":
                who = pr["Pron"] if template.startswith("{name}") else pr["pron"]
            sentences.append(template.format(name=who, v=person.facts[attr], **pr))
            gold[(pi, attr)] = pid
            wh = _WH.get(_ATTRIBUTES[attr]["values"], "what")
            cloze[(pi, attr)] = template.format(name=person.name, v=wh, **pr)
        if relatives and rng.random() < cfg.relative_mentions:
            rel = rng.choice(relatives)
            rattr = rng.choice(attrs)
            rv = rel.facts[rattr]
            sentences.append(
                f"{pr['Pron']} was related to {rel.name}, whose {rattr.replace('_', ' ')} was {rv}."
            )
        out.append({"id": pid, "title": title, "text": _pad(rng, cfg, sentences, person, pr)})
    return out


def _decoy_passages(rng, cfg: WorldConfig, pi: int, person: Person, givens, families, pools) -> list[dict]:
    """Passages naming the person beside values that are not theirs."""
    pr = _pronouns(person.pronoun)
    out = []
    for di in range(cfg.decoy_passages):
        kinds = rng.sample(list(_DECOYS), 3)
        sentences = []
        named, title = _naming(rng, cfg, person)
        for j, kind in enumerate(kinds):
            v = (
                f"{rng.choice(givens)} {rng.choice(families)}"
                if kind == "person"
                else rng.choice(pools[kind])
            )
            who = named if j == 0 else rng.choice([person.family, named])
            sentences.append(_DECOYS[kind].format(name=who, v=v))
        out.append({"id": f"p{pi}-d{di}", "title": title, "text": _pad(rng, cfg, sentences, person, pr)})
    return out


def _questions(
    rng: random.Random, cfg: WorldConfig, people: list[Person], gold, cloze
) -> dict[str, list[dict]]:
    """Train, dev and test questions over disjoint (person, attribute) pairs."""
    pairs = [(pi, attr) for pi in range(len(people)) for attr in _ATTRIBUTES]
    rng.shuffle(pairs)
    splits: dict[str, list[dict]] = {}
    start = 0
    for split, n in (("train", cfg.train), ("dev", cfg.dev), ("test", cfg.test)):
        rows = []
        for qi, (pi, attr) in enumerate(pairs[start : start + n]):
            person = people[pi]
            template = rng.choice(_ATTRIBUTES[attr]["question"])  # drawn either way: same world
            if cfg.question_wording == "passage":
                question = cloze[(pi, attr)].rstrip(".") + "?"
                question = question[0].upper() + question[1:]
            else:
                question = template.format(name=person.name)
            rows.append(
                {
                    "id": f"{split}-{qi}",
                    "question": question,
                    "answers": [person.facts[attr]],
                    "gold_ids": [gold[(pi, attr)]],
                }
            )
        splits[split] = rows
        start += n
    return splits


def generate(cfg: WorldConfig) -> dict:
    """Make the world: ``{"passages": [...], "train"|"dev"|"test": [questions]}``.

    Passages: ``{"id", "title", "text"}``; questions: ``{"id", "question", "answers",
    "gold_ids"}``. The same config gives the same world, byte for byte: one generator, drawn
    from in a fixed order by the helpers below.
    """
    problems = size_problems(cfg)
    if problems:
        raise ValueError("; ".join(f"world.{key}: {why}" for key, why in problems))
    rng = random.Random(cfg.seed)
    givens, families, pools = _name_pools(rng, cfg)
    people = _people(rng, cfg, givens, families, pools)
    by_family: dict[str, list[Person]] = {}
    for person in people:
        by_family.setdefault(person.family, []).append(person)
    passages: list[dict] = []
    gold: dict[tuple[int, str], str] = {}
    cloze: dict[tuple[int, str], str] = {}
    for pi, person in enumerate(people):
        relatives = [r for r in by_family[person.family] if r is not person]
        passages += _fact_passages(rng, cfg, pi, person, relatives, gold, cloze)
        passages += _decoy_passages(rng, cfg, pi, person, givens, families, pools)
    return {"passages": passages, **_questions(rng, cfg, people, gold, cloze)}
