"""The lexical index's reader (`LexicalReader`): one commit's search, statistics, facets, suggestions
and filters, with removed and unpublished passages hidden.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

import tantivy

from .. import checksums
from .integrity import commit_files, damaged_files
from .queries import _facet_aggregation, _facet_counts, _set_query
from .schema import ARTICLE_ID_TEXT, ARTICLE_KEY, _FOLDER, _STEMMER, _open, day_number, has_article_keys
from .scoring import CollectionStats, PREFIX_EXPANSIONS, WordMatch, _word_matches, near_miss_terms, typo_budget


# Queries whose statistics a reader keeps (`LexicalReader.query_statistics`); all are forgotten
# when this many are kept (a few kB each).
QUERY_STATISTICS_KEPT = 1024


def _explained(explanation: dict, description: str) -> float | None:
    """The value of the first part of a tantivy score explanation whose description starts so."""
    if explanation.get("description", "").startswith(description):
        return explanation["value"]
    for detail in explanation.get("details", []):
        value = _explained(detail, description)
        if value is not None:
            return value
    return None


def _articles(field: str) -> dict:
    """The sub-aggregation that counts the articles of a bucket by `field` (see `ARTICLE_KEY`)."""
    return {"articles": {"cardinality": {"field": field}}}


class LexicalReader:
    """Searches the commit that was the newest when it was opened: later commits are not seen, and
    the files of the commit it holds are kept until it is gone (tantivy's segments are immutable).
    `hidden`, chunk ids removed from the index's database that this commit still holds (the writer
    deletes them here a while later, see indexer.vectors), and the ids above `newest`, the last
    passage of the generation the reader serves (a batch this commit holds before the database
    publishes it), match nothing and count nowhere."""

    _body_average: float | None = None  # see `_average_length`

    def __init__(self, folder: str | Path, hidden: Iterable[int] = (), newest: int | None = None):
        self.folder = Path(folder)
        self.index = _open(self.folder, create=False)
        self.schema = self.index.schema
        self.searcher = self.index.searcher()
        try:
            self._files = commit_files(self.folder)  # the files `verify` reads and `_visible` guards
            keyed = has_article_keys(self.folder)
        except (OSError, ValueError, KeyError, TypeError):
            self._files, keyed = [], True
        self.articles = _articles(ARTICLE_KEY if keyed else ARTICLE_ID_TEXT)  # see `_facet_aggregation`
        hidden = [int(i) for i in hidden]
        clauses = [tantivy.Query.term_set_query(self.schema, "chunk_id", hidden)] if hidden else []
        unpublished = 0
        if newest is not None:
            later = tantivy.Query.range_query(self.schema, "chunk_id", tantivy.FieldType.Integer, newest + 1, None)
            unpublished = self.searcher.search(later, 1, count=True).count
            if unpublished:
                clauses.append(later)
        self._hidden_count = len(hidden) + unpublished
        self._query_statistics: dict[tuple, CollectionStats] = {}  # see `query_statistics`
        self._hidden = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in clauses]) if clauses else None

    def verify(self) -> list[str]:
        """Read every byte of this commit's files not verified yet in this process against their
        footers (a server's background check): one line per damaged file, which every query of
        this reader refuses from then on."""
        return [f"{self.folder}: {problem}" for problem in damaged_files(self.folder, "once")]

    def _visible(self, query: tantivy.Query) -> tantivy.Query:
        """`query` without the hidden passages; a StoreError (a 503 for a server) once a file of
        this commit was found damaged."""
        damaged = [path.name for path in self._files if checksums.is_damaged(path)]
        if damaged:
            from ..store import StoreError  # store imports this package

            raise StoreError(f"{self.folder / damaged[0]} fails its checksum (its bytes changed on disk since it "
                             f"was written): lexical search is refused until the lexical index is rebuilt from "
                             f"the database with: article-search index --repair --index {self.folder.parent}")
        if self._hidden is None:
            return query
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.MustNot, self._hidden)])

    @property
    def passages(self) -> int:
        return self.searcher.num_docs - self._hidden_count

    def terms(self, words: Iterable[str]) -> list[str]:
        """The index terms of query words, each once, in order."""
        return list(dict.fromkeys(token for word in words for token in _STEMMER.analyze(word)))

    def completions(self, prefix: str) -> list[str]:
        """The index terms that start with `prefix` (lower-cased, accents folded; 2+ characters),
        the `PREFIX_EXPANSIONS` most frequent."""
        start = "".join(_FOLDER.analyze(prefix))
        if len(start) < 2:
            return []
        return [term for term, _ in self.searcher.terms_with_prefix("body", start, limit=PREFIX_EXPANSIONS)]

    def query_terms(self, words: list[str], prefix: str | None = None) -> list[str]:
        """Every index term a query of `words` and a word being typed, `prefix`, may match exactly,
        each once: its words' terms and this index's `completions` of `prefix`."""
        terms = self.terms(words + ([prefix] if prefix else []))
        return list(dict.fromkeys(terms + (self.completions(prefix) if prefix else [])))

    def statistics(self, terms: list[str]) -> CollectionStats:
        """How many passages this index holds and how many hold each of `terms` (analysed terms,
        see `terms`)."""
        doc_freqs = {t: self.searcher.doc_freq("body", t) for t in terms}
        return CollectionStats(self._scored_passages, doc_freqs,
                               tokens=self._scored_passages * self._average_length(doc_freqs))

    def query_statistics(self, words: list[str], prefix: str | None = None, typos: bool = False) -> CollectionStats:
        """Everything `search` weighs a query of `words` and a word being typed, `prefix`, by: the
        `statistics` of its `query_terms`, the completions of `prefix` this index would take, and
        with `typos` the passages holding near misses of each word forgiven a typo. Term lookups
        only, whatever the archive's size. The first phase of a search over several indexes
        (shards), as Elasticsearch's DFS phase: their sum, passed to each as `collection`, gives
        each word its weight in all of them together and the completions most frequent in all.
        These are the most frequent of the union of the shards' `PREFIX_EXPANSIONS` (counted in
        every shard: search_api.sharded), so they are one index's unless a completion is frequent
        in all shards together but in no shard's own list. Kept for the reader's life (one commit's
        statistics never change): a query asks for them up to four times, and the next keystroke of
        a search box asks for many of them again. The answer is shared: not to be changed."""
        key = (tuple(words), prefix, typos)
        statistics = self._query_statistics.get(key)
        if statistics is not None:
            return statistics
        statistics = self.statistics(self.query_terms(words, prefix))
        if prefix:
            statistics.completions = frozenset(self.completions(prefix))
        if typos:
            statistics.near_misses = {term: sum(self.searcher.doc_freq("body", t) for t in near_miss_terms(term))
                                      for term in self._fuzzy_terms(words, prefix)}
        if len(self._query_statistics) >= QUERY_STATISTICS_KEPT:
            self._query_statistics.clear()
        self._query_statistics[key] = statistics
        return statistics

    def _fuzzy_terms(self, words: list[str], prefix: str | None) -> list[str]:
        """The terms of the words that `_word_query` matches with typo tolerance."""
        fuzzy = []
        for word in words + ([prefix] if prefix else []):
            terms = self.terms([word])
            if len(terms) == 1 and typo_budget(word):
                fuzzy.append(terms[0])
        return fuzzy

    @cached_property
    def _scored_passages(self) -> int:
        """N in tantivy's BM25: every passage of this commit's segments, deleted ones included until
        a merge drops them, as `doc_freq` counts them (`num_docs` counts live ones only). The Python
        bindings do not give it, so it is read from the explanation of one passage's score."""
        hits = self.searcher.search(tantivy.Query.all_query(), 1, count=False).hits
        if not hits:
            return 0
        address = hits[0][1]
        (chunk_id,) = self.searcher.fast_field_values("chunk_id", [address])
        explanation = tantivy.Query.term_query(self.schema, "chunk_id", chunk_id).explain(self.searcher, address)
        return int(_explained(json.loads(explanation.to_json()), "N, "))

    def _average_length(self, doc_freqs: dict[str, int]) -> float:
        """avgdl in tantivy's BM25 of the body field, read (once per reader) from the explanation
        of a passage's score for one of `doc_freqs`' terms that some passage holds; 0 while none has."""
        if self._body_average is None:
            term = next((t for t, n in doc_freqs.items() if n), None)
            if term is None:
                return 0.0
            query = tantivy.Query.term_query(self.schema, "body", term)
            ((_, address),) = self.searcher.search(query, 1, count=False).hits
            self._body_average = _explained(json.loads(query.explain(self.searcher, address).to_json()), "avgdl")
        return self._body_average

    def search(self, words: list[str], depth: int, *, prefix: str | None = None, typos: bool = False,
               source: str | None = None, date_from: str | None = None, date_to: str | None = None,
               collection: CollectionStats | None = None) -> list[tuple[int, float]]:
        """The `depth` best passages for any of `words` by BM25, as (chunk_id, score), best first.
        `prefix`, a word being typed, also matches its most frequent completions. With `typos`, a
        word of 5 letters or more also matches words `typo_budget` edits away, below exact matches.
        Filters restrict without scoring: `source` exactly, `date_from`/`date_to` as inclusive ISO
        days (a passage without a date never passes one). `collection`, the summed statistics of
        several indexes (`query_statistics` summed), makes each word weigh what it weighs in all of
        them together, completions and near misses included."""
        own = self.statistics(list(collection.doc_freqs)) if collection is not None else None
        query = self._match_query(words, prefix, typos, collection, own)
        if query is None:
            return []
        restrictions = self._filters(source, date_from, date_to)
        if restrictions:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query),
                                                 (tantivy.Occur.Must, self._all_of(restrictions))])
        hits = self.searcher.search(self._visible(query), depth, count=False).hits
        ids = self.searcher.fast_field_values("chunk_id", [address for _, address in hits])
        return [(int(chunk_id), float(score)) for (score, _), chunk_id in zip(hits, ids)]

    def _match_query(self, words: list[str], prefix: str | None, typos: bool, collection: CollectionStats | None,
                     own: CollectionStats | None) -> tantivy.Query | None:
        """The query `search` ranks by: any of the words (see `_word_matches`); None for no words.
        Weighed by `collection`, else by this index's own `query_statistics`."""
        if collection is None:
            own = collection = self.query_statistics(words, prefix, typos)
        should = [(tantivy.Occur.Should, self._word_query(match, collection, own))
                  for match in _word_matches(words, prefix, typos, collection)]
        return tantivy.Query.boolean_query(should) if should else None

    def facets(self, names: list[str], words: list[str], prefix: str | None = None, *, typos: bool = False,
               match: bool = True, among: Iterable[int] | None = None, size: int = 10, source: str | None = None,
               date_from: str | None = None, date_to: str | None = None) -> dict[str, list[tuple[str, int]]]:
        """Articles per value of each facet of `names`, the `size` most frequent values, over the
        matching passages: those that match the query as `search` matches it (when `match`: every
        match, not only the top) and the chunk ids of `among` (a dense side's candidates), within
        the filters. An article counts once per value however many of its passages match.
        "source" and "year" (of the published date) are built in; any other name is an author or
        metadata field (`facet_values`). One aggregation over the matching passages' fast fields:
        it costs what the query matches, never a pass over the archive."""
        condition = self._match_query(words, prefix, typos, None, None) if match else None
        query = _set_query(self, condition, among, source, date_from, date_to)
        if query is None:
            return {name: [] for name in names}
        answer = self.searcher.aggregate(query, {name: _facet_aggregation(name, size, self.articles)
                                                 for name in names})
        return {name: _facet_counts(name, answer.get(name) or {}, size) for name in names}

    def suggest_terms(self, prefix: str, limit: int) -> list[str]:
        """Words of the archive's titles and texts that start with `prefix` (2+ characters), the
        most frequent first; as indexed: lower-cased, accents folded, not stemmed."""
        start = "".join(_FOLDER.analyze(prefix))
        if len(start) < 2:
            return []
        return [term for term, _ in self.searcher.terms_with_prefix("words", start, limit=limit + 1)
                if term != start][:limit]

    def suggest_titles(self, words: list[str], prefix: str | None, limit: int) -> list[int]:
        """Chunk ids of the first passages of up to `limit` articles whose title holds all of
        `words` and, given `prefix`, one of the `PREFIX_EXPANSIONS` most frequent title words
        that start with it; best first by BM25 over titles. Bounded: a few term lookups and a top-k."""
        must = [tantivy.Query.term_query(self.schema, "title", term)
                for word in words for term in _FOLDER.analyze(word)]
        if prefix is not None:
            start = "".join(_FOLDER.analyze(prefix))
            completions = self.searcher.terms_with_prefix("title", start, limit=PREFIX_EXPANSIONS) \
                if len(start) >= 2 else []
            if not completions:
                return []
            must.append(tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(
                self.schema, "title", term)) for term, _ in completions]))
        if not must:
            return []
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in must])
        hits = self.searcher.search(self._visible(query), limit, count=False).hits
        return [int(i) for i in self.searcher.fast_field_values("chunk_id", [address for _, address in hits])]

    def count(self, *, source: str | None = None, date_from: str | None = None, date_to: str | None = None) -> int:
        """How many passages pass the filters (all passages when none is given)."""
        restrictions = self._filters(source, date_from, date_to)
        if not restrictions:
            return self.passages
        return self.searcher.search(self._visible(self._all_of(restrictions)), 1, count=True).count

    def passing(self, limit: int, *, among: Iterable[int] | None = None, source: str | None = None,
                date_from: str | None = None, date_to: str | None = None) -> list[int]:
        """Up to `limit` chunk ids of passages that pass the filters, of `among` when given: the
        filters' one implementation, for the dense side as for the lexical one."""
        restrictions = self._filters(source, date_from, date_to)
        if among is not None:
            restrictions.append(tantivy.Query.term_set_query(self.schema, "chunk_id", [int(i) for i in among]))
        if not restrictions or limit <= 0:
            return []
        hits = self.searcher.search(self._visible(self._all_of(restrictions)), limit, count=False).hits
        return [int(i) for i in self.searcher.fast_field_values("chunk_id", [address for _, address in hits])]

    def ids_from(self, first: int) -> list[int]:
        """The chunk ids of `first` and above that this commit holds (a batch a killed run committed
        here and never published; see IndexWriter)."""
        query = tantivy.Query.range_query(self.schema, "chunk_id", tantivy.FieldType.Integer, first, None)
        found = self.searcher.search(query, 1, count=True).count
        if not found:
            return []
        hits = self.searcher.search(query, found, count=False).hits
        return [int(i) for i in self.searcher.fast_field_values("chunk_id", [address for _, address in hits])]

    @staticmethod
    def _all_of(restrictions: list[tantivy.Query]) -> tantivy.Query:
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.const_score_query(r, 0.0))
                                            for r in restrictions])

    def _word_query(self, match: WordMatch, collection: CollectionStats, own: CollectionStats) -> tantivy.Query:
        """One query word's tantivy query (see `WordMatch`), weighed by `collection`; `own`, this
        index's statistics when `collection` is several indexes'."""
        queries = [self._term_query(term, collection, own) if boost == 1.0
                   else tantivy.Query.boost_query(self._term_query(term, collection, own), boost)
                   for term, boost in match.terms]
        if match.summed:
            return tantivy.Query.boolean_query([(tantivy.Occur.Should, query) for query in queries])
        if match.fuzzy is not None:
            term, budget, weight = match.fuzzy
            fuzzy = tantivy.Query.fuzzy_term_query(self.schema, "body", term, distance=budget)
            queries.append(tantivy.Query.const_score_query(fuzzy, weight))
        return queries[0] if len(queries) == 1 else tantivy.Query.disjunction_max_query(queries)

    def _term_query(self, term: str, collection: CollectionStats, own: CollectionStats) -> tantivy.Query:
        query = tantivy.Query.term_query(self.schema, "body", term)
        if collection is not own and own.doc_freqs.get(term):
            # BM25 is idf × a term-frequency part, so this boost swaps this index's idf for the
            # collection's, and its average passage length for the collection's as far as one
            # factor can (`length_correction`).
            query = tantivy.Query.boost_query(
                query, collection.idf(term) / own.idf(term) * collection.length_correction(own))
        return query

    def _filters(self, source: str | None, date_from: str | None, date_to: str | None) -> list[tantivy.Query]:
        restrictions = []
        if source:
            restrictions.append(tantivy.Query.term_query(self.schema, "source", source))
        low, high = day_number(date_from or ""), day_number(date_to or "")
        if low is not None or high is not None:
            restrictions.append(tantivy.Query.range_query(self.schema, "day", tantivy.FieldType.Integer, low, high))
        return restrictions
