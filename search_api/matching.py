"""The match decision: which passages match a query, and how relevant each is, from 0 to 1.

A passage matches when it holds enough of the query's words (`required_words`; a word being
typed matches its completions, a misspelt word its near misses, as lexical search matches them),
or when, among the query's best candidates (`PROBABLE_DEPTH` of each side), its `relevance` is at
least `MATCH_PROBABILITY`. The first part is a condition the lexical index counts and filters by
itself (indexer.lexical.match_counts); the second is a set of chunk ids counted with it. So a
facet value counts what a click on it returns, and `total` counts the set. An article matches
when one of its passages does.

`relevance` is a logistic model of "this passage answers the query" over the passage's cosine
with the query and the idf-weighted share of the query's words it holds (`word_shares`), fitted
on two thirds of 1,200 squad-dev-a questions (benchmarks/match_calibration.py; docs/quality.md
"Match sets"). It is a probability on one scale whatever the query, mode or archive; ranking
orders the match set by it. With these weights a passage holding none of the query's words
needs a cosine of 0.89 to match, so a neighbour in meaning alone rarely pads a list.
"""

from __future__ import annotations

import bisect
import math
import sys
import threading

import numpy as np

from indexer.lexical import terms_of, typo_budget, within_edits

from .query import typed_words

# Query words up to this many must all be held; of a longer query, all but one in every
# `SPARE_EVERY` more (a question's wording is not its answer's).
ALL_WORDS_UP_TO = 2
SPARE_EVERY = 3
# relevance = 1 / (1 + exp(-(INTERCEPT + COSINE_WEIGHT * cosine + SHARE_WEIGHT * share)))
INTERCEPT, COSINE_WEIGHT, SHARE_WEIGHT = -9.568, 5.600, 7.316
# A candidate this probably relevant matches whatever words it holds. Chosen on the same
# questions against 100 Wikinews questions (out of archive): 0.01 leaves 90% of those with
# nothing, at 1 point of in-archive recall@5 (0.02: 95%, 1.75 points).
MATCH_PROBABILITY = 0.01
# Candidates of each side (dense, lexical) whose relevance may make them matches.
PROBABLE_DEPTH = 100
# A passage holding at least this share of the query's word weight holds its rare words: it ranks
# above any match that does not (an article naming the person asked about above one merely near).
RARE_WORDS_HELD = 0.5


def required_words(count: int) -> int:
    """How many of a query's `count` words a passage must hold to match on words.

    >>> [required_words(n) for n in (1, 2, 3, 4, 6, 9)]
    [1, 2, 2, 3, 4, 6]
    """
    if count <= ALL_WORDS_UP_TO:
        return count
    return count - math.ceil((count - ALL_WORDS_UP_TO) / SPARE_EVERY)


def relevance(cosine: float, share: float) -> float:
    """The calibrated probability that a passage answers the query (see the module's docstring)."""
    return 1.0 / (1.0 + math.exp(-(INTERCEPT + COSINE_WEIGHT * cosine + SHARE_WEIGHT * share)))


def word_shares(reader, query: str, texts: dict[int, str], typos: bool = True) -> dict[int, float]:
    """Each text's idf-weighted share (0..1) of the words of `query`, by chunk id: a word the
    archive never holds weighs the most (the highest idf), so a name weighs more than a common word.
    A last word still being typed is held by a text with a word that starts with it; with `typos`,
    a word the archive does not hold (or, being typed, starts none of its words) is held by a text
    with a word `typo_budget` edits away, as the match condition matches them, and weighs as the
    passages holding its near misses. `reader` gives the idf (its `lexical_statistics`)."""
    words, prefix = typed_words(query)
    statistics = reader.lexical_statistics(query, typos=typos)
    weights = {term: statistics.idf(term) for term in terms_of(" ".join(words))}
    # A misspelt word is one no passage holds: only those are looked for among near words.
    misspelt = [t for t in weights if typos and not statistics.doc_freqs.get(t) and typo_budget(t)]
    # One with near misses in the archive weighs as the word it is a typo of, as lexical search
    # weighs it ("lcoated" as "located"), not as a name the archive lacks (the highest idf): a
    # passage without it then loses what the corrected question would lose there, no more.
    weights.update({t: statistics.near_miss_idf(t) for t in misspelt if statistics.near_misses.get(t)})
    start = "".join(sorted(terms_of(prefix, stem=False))) if prefix else ""
    # A word being typed weighs as the whole word when the archive holds it ("air" of "Mahan Air"),
    # else as the passages holding its completions ("gam": game, games, gamma), as a misspelt word
    # weighs as its near misses; one that starts no word of the archive as a word no passage holds.
    typed_terms = [t for t in terms_of(prefix) if statistics.doc_freqs.get(t)] if prefix else []
    completed = sum(statistics.doc_freqs.get(t, 0) for t in statistics.completions)
    typed_weight = (max(map(statistics.idf, typed_terms)) if typed_terms
                    else statistics.passages_idf(completed) if completed else statistics.idf(""))
    total = sum(weights.values()) + (typed_weight if start else 0.0)
    if not total:
        return {chunk: 0.0 for chunk in texts}
    analysed = {chunk: analysed_text(chunk, text) for chunk, text in texts.items()}
    vocabulary = set().union(*(stems for stems, _ in analysed.values())) if misspelt else set()
    near = {t: {w for w in vocabulary if within_edits(t, w, typo_budget(t))} for t in misspelt}
    # A word being typed that starts a word of the archive is no typo (as lexical search takes it).
    unknown_start = not any(n and term.startswith(start) for term, n in statistics.doc_freqs.items())
    budget = typo_budget(start)
    shares = {}
    for chunk, (stems, folded) in analysed.items():
        held = sum(weight for term, weight in weights.items()
                   if term in stems or term in near and not near[term].isdisjoint(stems))
        if start and (_starts_one(folded, start) or typos and unknown_start
                      and any(within_edits(start, word, budget) for word in folded)):
            held += typed_weight
        shares[chunk] = held / total
    return shares


# The analysed words of passages scored lately, by chunk id and text (an id alone could be reused
# by a later generation): the keystrokes of a search box score mostly the candidates of the
# keystroke before, and analysing their texts was most of the time of scoring them
# (docs/benchmarks.md, "Keystrokes: work per query"). The oldest are forgotten past this many
# passages (a few kB each, the words interned).
ANALYSED_TEXTS = 8192
_ANALYSED: dict[tuple[int, str], tuple[frozenset[str], tuple[str, ...]]] = {}
_ANALYSED_LOCK = threading.Lock()


def analysed_text(chunk_id: int, text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """A passage's index terms (`terms_of`, stemmed) and its words unstemmed, sorted (as the
    start of a word being typed is matched), kept for the next query that scores the same passage."""
    key = (chunk_id, text)
    found = _ANALYSED.get(key)
    if found is None:
        found = (frozenset(map(sys.intern, terms_of(text))), tuple(sorted(map(sys.intern, terms_of(text, stem=False)))))
        with _ANALYSED_LOCK:
            _ANALYSED[key] = found
            while len(_ANALYSED) > ANALYSED_TEXTS:
                del _ANALYSED[next(iter(_ANALYSED))]
    return found


def _starts_one(words: tuple[str, ...], start: str) -> bool:
    """Whether one of the sorted `words` starts with `start`."""
    at = bisect.bisect_left(words, start)
    return at < len(words) and words[at].startswith(start)


def scored(reader, query: str, query_vector: np.ndarray, chunk_ids: list[int],
           typos: bool = True) -> dict[int, tuple[float, float, float]]:
    """(relevance, cosine, word share) of each passage of `chunk_ids` that still exists."""
    evidence = reader.passage_evidence(chunk_ids)
    shares = word_shares(reader, query, {chunk: text for chunk, (text, _) in evidence.items()}, typos)
    result = {}
    for chunk, (_, vector) in evidence.items():
        cosine = float(np.dot(vector, query_vector))
        result[chunk] = (relevance(cosine, shares[chunk]), cosine, shares[chunk])
    return result
