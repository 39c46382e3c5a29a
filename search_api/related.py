"""Related coverage: the other reports of the same story, best first.

    hits = related(searcher.reader, "wn-c352228c48de", k=10)   # what `Searcher.related` returns
    hits = related(searcher.reader, "wn-c352228c48de", k=10, scope="similar")   # neighbours, any story

Same-story coverage shares the story's specifics (its people, places, numbers and the rare words of
its headline); coverage of another story of the same kind shares only its vocabulary. A candidate
is scored in two steps (docs/quality.md, "Related coverage", has the measurements):

1. every candidate, on two legs:
   - passages: symmetric passage-to-passage coverage, the mean of how well the candidate's
     passages cover this article's and the other way round (cosine of passage vectors);
   - lexical: BM25 of this article's title and first 40 words as a query, a candidate's best passage
     score over this article's own best (BM25 weighs rare words and names most);
2. the best `SPECIFICS_DEPTH` of them also on the story's specifics, read from their texts:
   - names: overlap of the names and numbers (capitalised words inside sentences, figures) of the
     two articles' first words;
   - title: overlap of the two headlines' words;
   - years: overlap of the years (1800-2099) the two articles' first words mention, other than the
     article's own publication year: reports of one event give its year, two events of the same
     kind (two earthquakes, two heists) are often years apart. A report's own year says no more
     than its date ("the 2019 election" in a 2019 report), and most of a dated archive's reports
     share it, so it is not evidence.

With scope "story" (the default) the list is a set: a candidate is listed when the same-story
model (`SAME_STORY`, a logistic model over all five legs) gives it at least its threshold's
probability, so an article no other report covers gets none. Scope "similar" keeps the ranked
neighbours.

Candidates are the articles of each passage's nearest passages and of the lexical query's best
passages: two bounded lookups, never a scan of the archive. `published` dates are not used: no
labelled set here has them to measure a weight by (docs/quality.md); the years a report mentions
are its measured time evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from indexer.words import WORD

from .query import STOPWORDS
from .schemas import RelatedHit

# Neighbours looked up for each of the article's passages.
RELATED_DEPTH = 100
# Passages taken from the lexical query: enough to name the few dozen articles that matter.
LEXICAL_DEPTH = 300
# Words of the article (title first) whose names count, as in the BM25 baseline: the start of a
# news report states the story.
LEAD_WORDS = 200
# Words of the article (title first) that make its lexical query: a query's cost grows with its
# words (1M passages: 200 words p50 60 ms, p99 97-129 ms; 40 words 34 / 55 ms, docs/quality.md).
QUERY_WORDS = 40
# Candidates (best by the first step) whose texts are read for the second; at least 3 × k.
SPECIFICS_DEPTH = 30
# A related article whose passages match this article's this closely on average is a copy of the
# same text (syndicated, republished), not other coverage.
NEAR_DUPLICATE_SCORE = 0.93
# A capitalised word that does not open a sentence, or a figure: the names and numbers of a story.
_NAME = re.compile(r"(?<![.!?:\"”])(?<!^) +([A-Z][\w'’-]+|\d[\d,.:/]*\d|\d)")
# A year a report mentions ("in 2008", "Nov 27, 2005"): when its story happened.
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


@dataclass(frozen=True)
class Weights:
    """How much each leg counts in the related score (a weighted sum)."""

    passages: float = 1.0
    lexical: float = 0.0
    names: float = 0.0
    title: float = 0.0


# Chosen on one half of ecbplus-dev's topics and checked on the other half and on BBC News.
WEIGHTS = Weights(passages=1.0, lexical=0.5, names=1.0, title=0.4)
LEGS = ("passages", "lexical", "names", "title", "years")


@dataclass(frozen=True)
class SameStory:
    """The same-story decision: a logistic model of the probability that a candidate is another
    report of the same story, from its legs (`LEGS`), and the probability from which it counts as one."""

    intercept: float
    passages: float
    lexical: float
    names: float
    title: float
    years: float
    threshold: float

    def probability(self, candidate: Candidate) -> float:
        logit = self.intercept + sum(getattr(self, leg) * getattr(candidate, leg) for leg in LEGS)
        return float(1.0 / (1.0 + np.exp(-logit)))

    def with_threshold(self, threshold: float) -> SameStory:
        return replace(self, threshold=threshold)


# Fitted on half of ecbplus-dev's topics (every second one), the threshold chosen there for the best
# related-set F1 over archives keeping 1, 2, 3, 5 or all reports of each event; checked on the other
# half (benchmarks/same_story_fit.py, docs/quality.md "Related coverage as a set, continued").
SAME_STORY = SameStory(intercept=-8.675, passages=7.129, lexical=2.984, names=8.221, title=3.314, years=2.332,
                        threshold=0.5)
SCOPES = ("story", "similar")


@dataclass
class Candidate:
    """One candidate article's legs: `passages` in [-1, 1], the others in [0, 1]. `years` counts
    in the same-story decision only, not in the ranking score."""

    passages: float
    lexical: float
    names: float = 0.0
    title: float = 0.0
    years: float = 0.0

    def first(self, weights: Weights) -> float:
        return weights.passages * self.passages + weights.lexical * self.lexical

    def score(self, weights: Weights) -> float:
        return self.first(weights) + weights.names * self.names + weights.title * self.title


def lead(title: str, text: str, words: int = LEAD_WORDS) -> str:
    """The article's title and the start of its text, `words` words in all."""
    # A word is rarely 20 characters with its spaces: enough text to split, not a whole long article.
    return " ".join(f"{title} {text[:words * 20]}".split()[:words])


def names(title: str, text: str) -> set[str]:
    """The names and figures of an article's lead."""
    return set(_NAME.findall(lead(title, text)))


def years(article: dict) -> set[str]:
    """The years an article's lead mentions, other than the year it was published (`article` as
    `reader.article` gives it)."""
    return set(_YEAR.findall(lead(article["title"], article["text"]))) - {(article.get("published") or "")[:4]}


def title_words(title: str) -> set[str]:
    return {word for word in WORD.findall(title.lower()) if word not in STOPWORDS}


def _overlap(a: set, b: set) -> float:
    """Dice's coefficient: 1 for the same set, 0 when nothing is shared."""
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def candidates(reader, article: dict) -> dict[str, Candidate]:
    """Every candidate article for `article` (as `reader.article` gives it) with its first-step
    legs. `reader` is an index reader (search_api.index_readers: local, sharded or remote)."""
    own = reader.chunk_vectors([article["id"]])[article["id"]]
    _, ids = reader.nearest(own, RELATED_DEPTH)
    # The trailing space ends the last word: it is a whole word, not the start of one being typed.
    lexical = reader.lexical(lead(article["title"], article["text"], QUERY_WORDS) + " ", LEXICAL_DEPTH)
    article_of = reader.article_of([int(i) for i in np.unique(ids) if i >= 0] + [c for c, _ in lexical])
    best: dict[str, float] = {}
    for chunk, score in lexical:
        other = article_of.get(chunk)
        if other is not None and other not in best:
            best[other] = score
    # The article's own best passage is the most a candidate can match; without it (a query whose
    # words all fell out), the best candidate's.
    top = best.get(article["id"]) or max(best.values(), default=1.0) or 1.0
    vectors = reader.chunk_vectors(sorted(set(article_of.values()) - {article["id"]}))
    if not vectors:
        return {}
    # All candidates' passages in one matrix product; each candidate's columns reduced apart.
    others = list(vectors)
    lengths = np.array([len(vectors[other]) for other in others])
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    similarity = own @ np.concatenate([vectors[other] for other in others]).T
    # How well each candidate covers this article, and this article each candidate.
    covered = np.maximum.reduceat(similarity, starts, axis=1).mean(axis=0)
    covering = np.add.reduceat(similarity.max(axis=0), starts) / lengths
    return {other: Candidate(float(a + b) / 2, best.get(other, 0.0) / top)
            for other, a, b in zip(others, covered, covering)}


def add_specifics(reader, article: dict, found: dict[str, Candidate], others: list[str]) -> None:
    """Fill in the names, title and years legs of `others` (ids of `found`)."""
    own_names, own_title = names(article["title"], article["text"]), title_words(article["title"])
    own_years = years(article)
    for other in others:
        row = reader.article(other)
        if row is not None:
            found[other].names = _overlap(own_names, names(row["title"], row["text"]))
            found[other].title = _overlap(own_title, title_words(row["title"]))
            found[other].years = _overlap(own_years, years(row))


def shortlist(found: dict[str, Candidate], weights: Weights, k: int) -> list[str]:
    """The best `max(SPECIFICS_DEPTH, 3k)` candidates by the first step: those scored on specifics."""
    first = sorted(found, key=lambda other: (-found[other].first(weights), other))
    return first[:max(SPECIFICS_DEPTH, 3 * k)]


def rank(found: dict[str, Candidate], weights: Weights, k: int) -> list[tuple[float, str]]:
    """(score, id) of the shortlist (whose specifics must be filled in, `add_specifics`) by the full
    score, best first. Candidates off the shortlist are left out: it holds 3 × k at least."""
    return sorted(((found[other].score(weights), other) for other in shortlist(found, weights, k)),
                  key=lambda pair: (-pair[0], pair[1]))


def related(reader, article_id: str, k: int = 10, weights: Weights = WEIGHTS, scope: str = "story",
            decision: SameStory = SAME_STORY) -> list:
    """Other coverage of `article_id`, best first, as `RelatedHit`s, plus any near-identical copies
    of the article, marked `near_duplicate` and not counted. `scope` "story": the other reports of
    the same story, those whose same-story probability (`decision`, the hit's `score`) reaches its
    threshold, at most `k` (none is a valid answer); "similar": the `k` best-scored neighbours,
    whatever their story. Raises KeyError for an article not in the index."""
    article = reader.article(article_id)
    if article is None:
        raise KeyError(article_id)
    found = candidates(reader, article)
    add_specifics(reader, article, found, shortlist(found, weights, k))
    ranked = rank(found, weights, k)
    meta = reader.articles_meta([article_id] + [other for _, other in ranked])
    group = meta[article_id]["duplicate_group"]

    def is_copy(other: str) -> bool:
        # A copy is the same text: judged on the passages alone, whatever the other legs say.
        return meta[other]["duplicate_group"] == group or found[other].passages >= NEAR_DUPLICATE_SCORE

    ranked = [(score, other) for score, other in ranked if other in meta]
    if scope == "story":  # a copy is the same story whatever the model says
        chances = [(decision.probability(found[other]), other) for _, other in ranked]
        ranked = sorted(((p, other) for p, other in chances if p >= decision.threshold or is_copy(other)),
                        key=lambda pair: (-pair[0], pair[1]))
    hits = []
    others = 0
    for score, other in ranked:
        row = meta[other]
        copy = is_copy(other)
        if not copy:
            if others == k:
                continue  # only copies may still follow
            others += 1
        hits.append(RelatedHit(article_id=other, title=row["title"], url=row["url"], source=row["source"],
                               published=row["published"], score=round(score, 6), near_duplicate=copy))
    return hits
