"""Match sets over a `LexicalReader`: the lexical side of a match decision (search_api.matching:
`search_matching`, `match_counts`) and the set that facets and
totals count (`_set_query`), with the facet aggregations (`_facet_aggregation`, `_facet_counts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import tantivy

from .scoring import CollectionStats, _word_matches

if TYPE_CHECKING:
    from .reader import LexicalReader


def _facet_aggregation(name: str, size: int, articles: dict) -> dict:
    """The tantivy aggregation that counts the articles of one facet's values; `articles`, the
    reader's article count (`_articles`)."""
    if name == "year":  # days are YYYYMMDD numbers: buckets of 10,000 are years
        return {"histogram": {"field": "day", "interval": 10_000, "min_doc_count": 1}, "aggs": articles}
    field = "source" if name == "source" else f"meta.{name}"
    # One more than asked, in case the empty value (no source) is among them.
    return {"terms": {"field": field, "size": size + 1, "order": {"articles": "desc"}}, "aggs": articles}


def _facet_counts(name: str, answer: dict, size: int) -> list[tuple[str, int]]:
    """(value, articles) of a facet aggregation's answer, most articles first, then by value."""
    counts = []
    for bucket in answer.get("buckets", []):
        value = str(int(bucket["key"]) // 10_000) if name == "year" else str(bucket["key"])
        articles = round(bucket["articles"]["value"])
        if value and articles:
            counts.append((value, articles))
    counts.sort(key=lambda pair: (-pair[1], pair[0]))
    return counts[:size]


# -- the lexical side of a match decision (search_api.matching) -------------------------------------

def _words_condition(reader: LexicalReader, words: list[str], prefix: str | None, typos: bool, minimum: int,
                     collection: CollectionStats | None, own: CollectionStats | None) -> tantivy.Query | None:
    """Passages holding at least `minimum` of the query's words (each as `_word_matches` plans it:
    its term, a completion of `prefix`, and with `typos` near misses of a word that neither the
    archive (`collection`, else this index) holds nor, being typed, starts a word of it), scored
    by BM25 as `search` scores them; None for no words. A word whose terms repeat another's
    counts once."""
    if collection is None:
        own = collection = reader.query_statistics(words, prefix, typos)
    should, seen = [], set()
    for word, partial in [(w, False) for w in words] + ([(prefix, True)] if prefix else []):
        terms = tuple(reader.terms([word]))
        if terms in seen and not partial:
            continue
        seen.add(terms)
        # A word the archive holds matches itself: its near misses are other words ("about" is
        # one edit from "abort", the stem of "abortion"); only a word it lacks is taken for a typo.
        held = any(collection.doc_freqs.get(t) for t in terms) or (partial and bool(reader.completions(word)))
        plan = _word_matches([] if partial else [word], word if partial else None, typos and not held, collection)
        # A word no passage can hold still counts: `minimum` is of the query's words, not the archive's.
        query = reader._word_query(plan[0], collection, own) if plan else tantivy.Query.empty_query()
        should.append((tantivy.Occur.Should, query))
    if not should:
        return None
    return tantivy.Query.boolean_query(should, minimum_number_should_match=max(1, min(minimum, len(should))))


def search_matching(reader: LexicalReader, words: list[str], depth: int, *, prefix: str | None = None,
                    typos: bool = False, minimum: int = 1, collection: CollectionStats | None = None,
                    source: str | None = None, date_from: str | None = None, date_to: str | None = None,
                    newest: bool | None = None) -> list[tuple[int, float]]:
    """The `depth` best passages that hold `minimum` of the query's words, (chunk_id, BM25), best
    first; or, with `newest` True/False, the newest/oldest first (the score is then the day as
    YYYYMMDD, 0 for an undated passage). Filters and `collection` as `LexicalReader.search`."""
    own = reader.statistics(list(collection.doc_freqs)) if collection is not None else None
    query = _words_condition(reader, words, prefix, typos, minimum, collection, own)
    if query is None or depth <= 0:
        return []
    restrictions = reader._filters(source, date_from, date_to)
    if restrictions:
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, reader._all_of(restrictions))])
    if newest is None:
        hits = reader.searcher.search(reader._visible(query), depth, count=False).hits
    else:
        order = tantivy.Order.Desc if newest else tantivy.Order.Asc
        hits = reader.searcher.search(reader._visible(query), depth, count=False, order_by_field="day", order=order).hits
    ids = reader.searcher.fast_field_values("chunk_id", [address for _, address in hits])
    return [(int(chunk_id), float(score or 0)) for (score, _), chunk_id in zip(hits, ids)]


def _set_query(reader: LexicalReader, condition, among: Iterable[int] | None, source: str | None,
               date_from: str | None, date_to: str | None):
    """The visible passages that meet `condition` (a words query, or None) or are among the chunk
    ids of `among`, within the filters: the set that facets and totals count; None when empty."""
    matching = [condition] if condition is not None else []
    among = [int(i) for i in among or []]
    if among:
        matching.append(tantivy.Query.term_set_query(reader.schema, "chunk_id", among))
    if not matching:
        return None
    query = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in matching])
    restrictions = reader._filters(source, date_from, date_to)
    if restrictions:
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, reader._all_of(restrictions))])
    return reader._visible(query)


def match_counts(reader: LexicalReader, names: list[str], words: list[str], prefix: str | None = None, *,
                 typos: bool = False, minimum: int | None = None, among: Iterable[int] | None = None, size: int = 10,
                 collection: CollectionStats | None = None, source: str | None = None, date_from: str | None = None,
                 date_to: str | None = None) -> tuple[int, dict[str, list[tuple[str, int]]]]:
    """(articles, facets) of a match set: the passages that hold `minimum` of the query's words
    (None: no lexical part) and the chunk ids of `among` (the dense part), within the filters.
    Articles are counted by the same aggregation as each facet value (`LexicalReader.facets`), so
    filtering on a value returns the value's count as its total. One aggregation over the set's
    fast fields: it costs what the set holds, never a pass over the archive. `collection`, the
    statistics of all shards, decides which words are typos as `search_matching` does."""
    condition = None
    if minimum is not None:
        own = reader.statistics(list(collection.doc_freqs)) if collection is not None else None
        condition = _words_condition(reader, words, prefix, typos, minimum, collection, own)
    query = _set_query(reader, condition, among, source, date_from, date_to)
    if query is None:
        return 0, {name: [] for name in names}
    aggregations = {name: _facet_aggregation(name, size, reader.articles) for name in names}
    answer = reader.searcher.aggregate(query, {"_total": reader.articles["articles"], **aggregations})
    total = round((answer.get("_total") or {}).get("value") or 0)
    return total, {name: _facet_counts(name, answer.get(name) or {}, size) for name in names}
