"""What a query's words match and weigh under BM25, without an index: the collection statistics
that weigh them (`CollectionStats`, summed over shards), each word's terms, completions and near
misses (`WordMatch`, `_word_matches`, `typo_budget`, `near_miss_terms`, `within_edits`), and BM25
computed from passage texts as tantivy computes it (`text_scores`).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from .schema import _FOLDER, _STEMMER


# Completions of a word being typed, the most frequent first: enough for a rare word to be among them.
PREFIX_EXPANSIONS = 20
# A completion weighs this much of the word's BM25, so a word typed whole ranks above its longer
# completions of the same rarity.
PREFIX_WEIGHT = 0.9
# A fuzzy match of a word scores this share of what a one-time exact match of a word as rare as
# its near misses would (tantivy scores fuzzy matches as a constant), so exact ranks above fuzzy.
# How rare the near misses are is read from the term dictionary (`near_miss_terms`), not counted.
# Measured on 1,000 squad-dev-a questions with a seeded typo, hybrid recall@5: .944 at 0.8, .947 at
# 0.9, .949 at 1.0; clean questions .965-.966 at all three (docs/quality.md).
FUZZY_WEIGHT = 0.9


# tantivy's BM25 parameters (fixed in tantivy): term saturation and length normalisation.
BM25_K1, BM25_B = 1.2, 0.75


def typo_budget(word: str) -> int:
    """Edits (insert, delete, substitute, transpose) forgiven in a query word: 1 from 5 letters,
    2 from 9, none below (Meilisearch's defaults: a short word one edit away is another word).

    >>> typo_budget("paris"), typo_budget("magnitogorsk"), typo_budget("oil")
    (1, 2, 0)
    """
    return 2 if len(word) >= 9 else 1 if len(word) >= 5 else 0


# Letters a near miss may insert or substitute, besides the word's own: the index's terms are
# lower-cased and accents folded.
_NEAR_MISS_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def near_miss_terms(term: str) -> set[str]:
    """`term` and every string one edit from it (a letter deleted, inserted or substituted, two
    neighbours swapped; letters a-z, 0-9 and the term's own): the terms whose passages weigh a
    fuzzy match of `term`. Some 20-40 x len(term) strings, looked up in the term dictionary one by
    one (well under a microsecond each), so a word's fuzzy weight costs the same in any archive,
    where counting the passages its fuzzy query matches grew with the archive (issue 22). A word
    forgiven two edits is weighed by these too: the terms two edits away are too many to look up.

    >>> sorted(near_miss_terms("oil") & {"oil", "oils", "soil", "oli", "owl", "io", "oak"})
    ['oil', 'oils', 'oli', 'owl', 'soil']
    """
    letters = _NEAR_MISS_LETTERS | set(term)
    splits = [(term[:i], term[i:]) for i in range(len(term) + 1)]
    found = {term}
    found.update(head + tail[1:] for head, tail in splits if tail)
    found.update(head + tail[1] + tail[0] + tail[2:] for head, tail in splits if len(tail) > 1)
    found.update(head + letter + tail[1:] for head, tail in splits if tail for letter in letters)
    found.update(head + letter + tail for head, tail in splits for letter in letters)
    return found


@dataclass
class CollectionStats:
    """BM25's collection statistics for some terms: passages in all, and passages holding each term,
    both counted as tantivy's BM25 counts them (a deleted passage counts until a merge drops it).
    For a query (`LexicalReader.query_statistics`) also every weight a word has beside its term's:
    `near_misses`, per term matched with typo tolerance, the passages holding its `near_miss_terms`
    (summed over those terms); `completions`, the terms a word being typed may complete to, of which
    the most frequent are taken. All add up over indexes (shards), so the sum weighs every word as
    one index of them all would. `tokens`, the passages' lengths summed as BM25 averages them."""

    passages: int
    doc_freqs: dict[str, int]
    near_misses: dict[str, int] = field(default_factory=dict)
    completions: frozenset[str] = frozenset()
    tokens: float = 0.0

    def __add__(self, other: CollectionStats) -> CollectionStats:
        return CollectionStats(self.passages + other.passages, _summed(self.doc_freqs, other.doc_freqs),
                               _summed(self.near_misses, other.near_misses), self.completions | other.completions,
                               self.tokens + other.tokens)

    def length_correction(self, own: CollectionStats) -> float:
        """The factor that turns BM25's term-frequency part under `own` average passage length into
        this collection's, exact for a passage of the average length holding the term once (tantivy
        takes no average length from outside, so a longer or shorter passage keeps a small error)."""
        if not (own.tokens and self.tokens and own.passages and self.passages):
            return 1.0
        ratio = (own.tokens / own.passages) / (self.tokens / self.passages)
        return (1 + BM25_K1) / (1 + BM25_K1 * (1 - BM25_B + BM25_B * ratio))

    def idf(self, term: str) -> float:
        """tantivy's BM25 idf: ln(1 + (N - n + 0.5) / (n + 0.5))."""
        return _idf(self.passages, self.doc_freqs.get(term, 0))

    def fuzzy_weight(self, term: str) -> float:
        """The constant score of a fuzzy match of `term`: `FUZZY_WEIGHT` of its `near_miss_idf`."""
        return FUZZY_WEIGHT * self.near_miss_idf(term)

    def near_miss_idf(self, term: str) -> float:
        """The idf of the near misses of `term` (their passages summed, so at most every passage:
        "for" and "from" are near misses of "form"): what the word weighs if it is a typo of one."""
        return self.passages_idf(self.near_misses.get(term, 0))

    def passages_idf(self, holding: int) -> float:
        """The idf of a word held by `holding` passages (capped at every passage: summed counts of
        several terms may count a passage twice)."""
        return _idf(self.passages, min(holding, self.passages))

    def top_completions(self, start: str) -> list[str]:
        """The `PREFIX_EXPANSIONS` most frequent `completions` that start with `start`, most frequent
        first, then alphabetically (as tantivy's `terms_with_prefix` orders them)."""
        found = sorted((-self.doc_freqs.get(t, 0), t) for t in self.completions if t.startswith(start))
        return [term for _, term in found[:PREFIX_EXPANSIONS]]


def _idf(passages: int, holding: int) -> float:
    return math.log1p((passages - holding + 0.5) / (holding + 0.5))


def _summed(first: dict[str, int], second: dict[str, int]) -> dict[str, int]:
    return {key: first.get(key, 0) + second.get(key, 0) for key in first.keys() | second.keys()}


@dataclass
class WordMatch:
    """What one query word matches and what each match weighs: `terms`, (term, boost) pairs scored
    by BM25 (the word's term; a word being typed, its completions too); `fuzzy`, (term, edits,
    constant score) of its near misses. A passage scores the best of these (a word counts once),
    or with `summed` the sum of `terms` (a word the analyser splits in several)."""

    terms: list[tuple[str, float]]
    summed: bool = False
    fuzzy: tuple[str, int, float] | None = None


def _word_matches(words: list[str], prefix: str | None, typos: bool, collection: CollectionStats) -> list[WordMatch]:
    """The `WordMatch` of each of `words` and of a word being typed, `prefix`, weighed by `collection`
    (completions and near-miss weights from it): what `LexicalReader.search` asks tantivy, and
    what `text_scores` scores texts by."""
    matches, seen = [], set()
    for word, partial in [(w, False) for w in words] + ([(prefix, True)] if prefix else []):
        terms = list(dict.fromkeys(_STEMMER.analyze(word)))
        if tuple(terms) in seen and not partial:
            continue  # "run" and "running" are one term: it counts once
        seen.add(tuple(terms))
        if len(terms) != 1:  # none (too long), or several (a word with "_" in it): plain terms
            if terms:
                matches.append(WordMatch([(term, 1.0) for term in terms], summed=True))
            continue
        term = terms[0]
        match = WordMatch([(term, 1.0)])
        if partial:
            start = "".join(_FOLDER.analyze(word))
            match.terms += [(c, PREFIX_WEIGHT) for c in collection.top_completions(start) if c != term]
        budget = typo_budget(word) if typos else 0
        # No term one edit away: none two away either for a short word (a long one may have some).
        if budget and (collection.near_misses.get(term) or budget > 1):
            match.fuzzy = (term, budget, collection.fuzzy_weight(term))
        matches.append(match)
    return matches


def _field_norms() -> list[int]:
    """The 256 passage lengths tantivy's BM25 knows (Lucene's one-byte scheme: exact to 24, then
    four significant bits); a passage counts as the longest of these not above its length."""
    norms = []
    for code in range(256):
        part = code - 24
        bits, shift = part & 7, part >> 3
        norms.append(code if code < 24 else 24 + (bits if shift == 0 else (bits | 8) << (shift - 1)))
    return norms


_FIELD_NORMS = _field_norms()


def text_scores(texts: dict[int, str], words: list[str], prefix: str | None, typos: bool,
                collection: CollectionStats) -> dict[int, float]:
    """The BM25 score of each passage of `texts` ({chunk_id: its title, a line break and its text,
    as indexed}) for a query, as `LexicalReader.search` would score it in one index holding all
    of `collection`: idf, near-miss weights, completions and the average passage length all
    the collection's. What a shard's tantivy cannot do (it takes no average length from outside),
    done from the texts of its candidates: a shard's best then rank as one index ranks them."""
    matches = _word_matches(words, prefix, typos, collection)
    average = collection.tokens / collection.passages if collection.passages else 0.0
    analysed = {chunk_id: _STEMMER.analyze(text) for chunk_id, text in texts.items()}
    vocabulary = {token for tokens in analysed.values() for token in tokens}
    near = {match.fuzzy: _near_words(vocabulary, *match.fuzzy[:2]) for match in matches if match.fuzzy}
    scores = {}
    for chunk_id, tokens in analysed.items():
        counts = dict.fromkeys(tokens, 0)
        for token in tokens:
            counts[token] += 1
        norm = _FIELD_NORMS[bisect.bisect_right(_FIELD_NORMS, len(tokens)) - 1]
        saturation = BM25_K1 * (1 - BM25_B + BM25_B * norm / average) if average else BM25_K1
        total = 0.0
        for match in matches:
            parts = [boost * collection.idf(term) * (1 + BM25_K1) * counts[term] / (counts[term] + saturation)
                     for term, boost in match.terms if term in counts]
            if match.fuzzy is not None and not near[match.fuzzy].isdisjoint(counts):
                parts.append(match.fuzzy[2])
            if parts:
                total += sum(parts) if match.summed else max(parts)
        scores[chunk_id] = total
    return scores


def _near_words(words: set[str], term: str, budget: int) -> set[str]:
    """The words of `words` within `budget` edits of `term` (as tantivy's fuzzy query matches)."""
    if budget == 1:  # a set intersection; only words with other letters need the comparison
        letters = _NEAR_MISS_LETTERS | set(term)
        return (words & near_miss_terms(term)) | {w for w in words if not letters.issuperset(w)
                                                   and within_edits(w, term, budget)}
    return {w for w in words if abs(len(w) - len(term)) <= budget and within_edits(w, term, budget)}


def within_edits(a: str, b: str, limit: int, letters_of_b: set[str] | None = None) -> bool:
    """Whether `a` is at most `limit` edits from `b`, a transposition counting as one (as
    tantivy's fuzzy term query counts them: optimal string alignment distance).
    `letters_of_b`, set(b) when the caller keeps it, gives a quick no: each letter of `b` that `a`
    lacks costs an edit.

    >>> within_edits("magnitogrosk", "magnitogorsk", 1), within_edits("oil", "oak", 1)
    (True, False)
    """
    letters_of_b = set(b) if letters_of_b is None else letters_of_b
    if abs(len(a) - len(b)) > limit or len(letters_of_b.difference(a)) > limit:
        return False
    previous2, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return False  # every alignment already costs more: most words stop within a few letters
        previous2, previous = previous, current
    return previous[len(b)] <= limit
