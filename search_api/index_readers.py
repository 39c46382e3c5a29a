"""Index readers: what the `Searcher` (search_api.searcher) asks of an index, and where it asks.

The `Searcher` ranks: it fuses, groups passages into articles, collapses copies, re-ranks, sorts.
An index reader answers the questions ranking asks of an index: the nearest passages of a vector,
the lexical matches of a query, the rows of candidates, facet counts, an article. Three kinds
answer the same methods:

- `LocalReader`: one index directory, read through one snapshot (indexer.store.Snapshot), so every
  answer comes from one generation;
- `ShardedReader` (search_api.sharded): the shards of a sharded index, asked in parallel and merged;
- a shard deployment under Ray Serve (search_api.ray_serve), a `LocalReader` on a replica.

    reader = open_reader("index")      # a LocalReader, or a ShardedReader for a sharded index
    reader.dense(query_vector, 300)    # [(chunk_id, cosine), ...] best first
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from indexer import catalog, store, story_rows
from indexer.highlights import best_sentences
from indexer.lexical import CollectionStats, match_counts, search_matching, text_scores

from .query import Filters, typed_words
from .schemas import Passage, SearchHit

# A filter that at most this many passages pass gives FAISS their ids to search among; a broader
# one searches deeper and keeps what passes (see `LocalReader.dense`). The two cost the same near
# 90k-100k passing at 1M passages (IVF4000,SQ8): below, the ids are cheaper (57k: 47 vs 140 ms
# p50), above, the deeper search (114k: 149-121 vs 176-216 ms; 286k: 135 vs 764 ms).
# benchmarks/filter_strategies.py, docs/benchmarks.md "Dense search with a filter".
FILTER_SELECTOR_LIMIT = 100_000
# Values shown per facet (the most frequent).
FACET_VALUES = 10
# A shard's best lexical candidates scored again from their texts with the statistics of all shards
# (`LocalReader.lexical`); below these, each shard's own average passage length stays, within a
# percent or so. Measured in docs/scaling.md ("Lexical ranking over shards").
RESCORED_DEPTH = 100


def open_reader(index_dir: str | Path, previous=None, held: bool = True):
    """A `ShardedReader` for a sharded index directory, else a `LocalReader`. `previous`, the
    reader of an earlier generation of the same directory, lends the vector segments both have;
    `held` as for indexer.store.Snapshot (False: each request pins the reader, `pinned`)."""
    manifest = store.read_manifest(index_dir)
    if "shards" in manifest:
        from .sharded import ShardedReader

        return ShardedReader.open(index_dir, manifest, previous, held)
    return LocalReader(index_dir, manifest, previous, held)


class LocalReader:
    """One index directory, read-only, as one snapshot: rows, vectors and lexical index of the
    generation that was newest when it opened (indexer.store.Snapshot)."""

    def __init__(self, index_dir: str | Path, manifest: dict | None = None, previous: LocalReader | None = None,
                 held: bool = True):
        self.dir = Path(index_dir)
        self.manifest = manifest or store.read_manifest(self.dir)
        if "shards" in self.manifest:
            raise store.StoreError(f"{self.dir} is a sharded index; open it with search_api.index_readers.open_reader")
        self.snapshot = store.Snapshot(self.dir, self.manifest, getattr(previous, "snapshot", None), held)
        self.vectors = self.snapshot.vectors
        self.lexical_index = self.snapshot.lexical
        self.generation = self.snapshot.generation
        self._sources: list[str] | None = None  # read at the first `stats`

    def probe_vectors(self) -> np.ndarray | None:
        """The vectors the index stored for the probe sentences (see indexer.models.check_backend)."""
        return self.snapshot.probe_vectors()

    def pinned(self):
        """A context in which every answer comes from this reader's generation (store.Snapshot.pinned)."""
        return self.snapshot.pinned()

    def close(self) -> None:
        """Close the snapshot; call when no request uses this reader (a server opens one per
        index generation, and the garbage collector is too late for file descriptors)."""
        self.snapshot.close()

    def verify(self) -> list[str]:
        """Read every byte of the vector segments and lexical files not verified yet against their
        checksums (a server's background check: VectorReader.verify, LexicalReader.verify); one
        line per damaged file."""
        return self.vectors.verify() + self.lexical_index.verify()

    def dense(self, query_vector: np.ndarray, depth: int, filters: Filters = Filters()) -> list[tuple[int, float]]:
        """Chunk ids and cosine scores of the `depth` nearest passages (within `filters`).

        A filter is answered by the lexical index's fast fields (indexer.lexical), never by reading
        every passage: one that few passages pass gives the vector index exactly those ids to
        search among; a broad one searches deeper, by the share of passages that pass, and keeps
        the candidates that do."""
        total = self.vector_count
        depth = min(depth, total)
        if depth <= 0:
            return []
        if not filters:
            return self._nearest_one(query_vector, depth)
        conditions = filters.conditions()
        passing = self.lexical_index.count(**conditions)
        if passing == 0:
            return []
        if passing <= FILTER_SELECTOR_LIMIT:
            among = np.array(self.lexical_index.passing(passing, **conditions), np.int64)
            return self._nearest_one(query_vector, min(depth, passing), among)
        wanted = min(depth, passing)
        reach = min(total, 2 * wanted * -(-total // passing))
        while True:
            candidates = self._nearest_one(query_vector, reach)
            kept = set(self.lexical_index.passing(len(candidates), among=[c for c, _ in candidates], **conditions))
            found = [(c, score) for c, score in candidates if c in kept]
            if len(found) >= wanted or reach >= total:
                return found[:depth]
            reach = min(total, reach * 4)

    def _nearest_one(self, query_vector: np.ndarray, depth: int, among: np.ndarray | None = None) -> list[tuple[int, float]]:
        scores, ids = self.vectors.search(query_vector.reshape(1, -1), depth, among)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical(self, query: str, depth: int, filters: Filters = Filters(),
                collection: CollectionStats | None = None, typos: bool = False) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better) of the `depth` best lexical matches, from
        the lexical index (indexer.lexical); a last word the query ends inside also matches as a
        prefix (`typed_words`), and with `typos` near misses of longer words match too.
        `collection`, the statistics of all shards of a sharded index, scores as one index of
        them all would."""
        words, prefix = typed_words(query)
        hits = self.lexical_index.search(words, depth, prefix=prefix, typos=typos, collection=collection,
                                         **filters.conditions())
        if collection is None or not hits:
            return hits
        # tantivy weighs a passage's length against this shard's average length, not the whole
        # archive's: the best are scored again from their texts, as one index of all shards would.
        texts = {chunk_id: text for chunk_id, (text, _) in
                 self.passage_evidence([chunk_id for chunk_id, _ in hits[:RESCORED_DEPTH]]).items()}
        exact = text_scores(texts, words, prefix, typos, collection)
        return sorted(((chunk_id, exact.get(chunk_id, score)) for chunk_id, score in hits),
                      key=lambda pair: (-pair[1], pair[0]))

    def lexical_matching(self, query: str, depth: int, filters: Filters = Filters(), *, typos: bool = False,
                         minimum: int = 1, newest: bool | None = None,
                         collection: CollectionStats | None = None) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores of the `depth` best passages that hold `minimum` of the query's
        words (the lexical part of a match set, search_api.matching), best first; with `newest`
        True/False, newest/oldest first instead (the score is then the day, YYYYMMDD).
        `collection` as for `lexical`."""
        words, prefix = typed_words(query)
        return search_matching(self.lexical_index, words, depth, prefix=prefix, typos=typos, minimum=minimum,
                               collection=collection, newest=newest, **filters.conditions())

    def match_counts(self, query: str, names: list[str], filters: Filters, *, typos: bool, minimum: int | None,
                     among: list[int] | None, collection: CollectionStats | None = None) -> tuple[int, dict[str, list[dict]]]:
        """(articles, {name: [{"value": ..., "count": articles}, ...]}) of a match set: the passages
        that hold `minimum` of the query's words (None: no lexical part) and the chunk ids `among`
        (its dense part), within `filters`; counted by the lexical index (indexer.lexical.match_counts).
        `collection` as for `lexical`."""
        words, prefix = typed_words(query)
        total, counts = match_counts(self.lexical_index, names, words, prefix, typos=typos, minimum=minimum,
                                     among=among, size=FACET_VALUES, collection=collection, **filters.conditions())
        return total, {name: [{"value": value, "count": count} for value, count in pairs]
                       for name, pairs in counts.items()}

    def lexical_statistics(self, query: str, typos: bool = False) -> CollectionStats:
        """This index's BM25 statistics for the words of `query`, with `typos` those of their near
        misses too (the first phase of a sharded lexical query; the second is `lexical` with the
        shards' sum)."""
        return self.lexical_index.query_statistics(*typed_words(query), typos=typos)

    def term_statistics(self, terms: list[str]) -> CollectionStats:
        """This index's passages and the passages holding each of `terms` (index terms, as the
        `completions` of `lexical_statistics` name them)."""
        return self.lexical_index.statistics(terms)

    def article_of(self, chunk_ids: list[int]) -> dict[int, str]:
        """The article of each chunk id that still exists: looked up by primary key for the
        candidates of one query, so a server holds nothing per passage and opens in the same
        time whatever the archive's size."""
        # An article removed since this snapshot opened may still be named by a candidate; it
        # finds no row here and drops out.
        return dict(self._rows_in(catalog.ARTICLE_OF_CHUNKS, [int(c) for c in chunk_ids]))

    def facet_counts(self, query: str, names: list[str], filters: Filters, *, typos: bool, lexical: bool,
                     among: list[int] | None) -> dict[str, list[dict]]:
        """{name: [{"value": ..., "count": articles}, ...]} over the matching set: with `lexical`,
        every passage the lexical query matches (not only its top candidates); and the chunk ids
        `among`, the ranked candidates of the dense side (dense mode: these alone). Within
        `filters`; an article counts once per value."""
        words, prefix = typed_words(query)
        counts = self.lexical_index.facets(names, words, prefix, typos=typos, match=lexical, among=among,
                                           size=FACET_VALUES, **filters.conditions())
        return {name: [{"value": value, "count": count} for value, count in pairs] for name, pairs in counts.items()}

    def suggest(self, text: str, k: int) -> list[dict]:
        """Completions of a search box's `text`: words of the archive that complete its last word
        (`kind` "term", `text` the box's text with that word completed) and titles that hold its
        words and a completion of the last (`kind` "title", with `article_id`); about half each,
        either filling in for the other. Bounded work: term lookups and a top-k of titles."""
        text = text.lstrip()
        words, prefix = typed_words(text)
        head = text[:len(text) - len(prefix)] if prefix else text
        terms = [{"text": head + term, "kind": "term"} for term in
                 (self.lexical_index.suggest_terms(prefix, k) if prefix else [])]
        chunk_ids = self.lexical_index.suggest_titles(words, prefix, k)
        owners = self.article_of(chunk_ids)
        meta = self.articles_meta(list(owners.values()))
        titles = [{"text": meta[owners[c]]["title"], "kind": "title", "article_id": owners[c]}
                  for c in chunk_ids if c in owners and owners[c] in meta]
        half = min(len(terms), max(k - len(titles), (k + 1) // 2))
        return terms[:half] + titles[:k - half]

    def passage_evidence(self, chunk_ids: list[int]) -> dict[int, tuple[str, np.ndarray]]:
        """Each passage's article title and text, and its vector, by chunk id (what `Searcher.confidence` weighs)."""
        rows = self._rows_in(catalog.PASSAGE_EVIDENCE, [int(c) for c in chunk_ids])
        return {row[0]: (f"{row[1]}\n{row[2]}", np.frombuffer(row[3], dtype=np.float32)) for row in rows}

    def hits(self, page, query_vector) -> list[SearchHit]:
        """Articles and passages of one page of `group_by_article` entries, fetched in two queries;
        highlights when `query_vector` is given."""
        articles = {row["id"]: row for row in self._rows_in(
            catalog.HIT_ARTICLES, [article_id for article_id, _, _ in page])}
        chunks = {row["id"]: row for row in self._rows_in(
            catalog.HIT_PASSAGES, [chunk_id for _, _, chunk_scores in page for chunk_id, _ in chunk_scores])}
        hits = []
        stories = self.story_of(list(articles))
        dimension = self.manifest["dimension"]
        for article_id, score, chunk_scores in page:
            article = articles.get(article_id)
            passages = []
            for chunk_id, chunk_score in chunk_scores:
                row = chunks.get(chunk_id)
                if row is None:
                    continue
                passage = Passage(text=row["text"], start=row["start"], end=row["end"], score=round(chunk_score, 6),
                                  highlights=[])
                if query_vector is not None:
                    spans = json.loads(row["sentences"])
                    vectors = np.frombuffer(row["sentence_vectors"], dtype=np.int8).reshape(len(spans), dimension)
                    # The sentences that best answer the query, from vectors stored at index time
                    # (see indexer.highlights): no model call here.
                    passage.highlights = [[passage.start + spans[i][0], passage.start + spans[i][1]]
                                          for i in best_sentences(vectors, query_vector)]
                passages.append(passage)
            if article is None or not passages:
                continue
            hits.append(SearchHit(article_id=article["id"], title=article["title"], url=article["url"],
                                  source=article["source"], author=article["author"],
                                  published=article["published"], score=round(score, 6), passages=passages,
                                  story_id=stories[article_id]))
        return hits

    def story_of(self, article_ids: list[str]) -> dict[str, str]:
        """The story id of each of `article_ids` (search_api.stories); an article not assigned
        one is a story of its own."""
        found = self.snapshot.stories_of(article_ids)
        return {a: found.get(a) or story_rows.new_story_id(a) for a in article_ids}

    def story_members(self, story_id: str) -> list[str]:
        """The ids of the articles of a story that were assigned to it."""
        return self.snapshot.story_members(story_id)

    def chunk_vectors(self, article_ids: list[str]) -> dict[str, np.ndarray]:
        """The passage vectors of each article, in passage order."""
        grouped: dict[str, list[np.ndarray]] = {}
        rows = self._rows_in(catalog.ARTICLE_VECTORS, article_ids)
        for row in rows:
            grouped.setdefault(row[0], []).append(np.frombuffer(row[1], dtype=np.float32))
        return {article: np.stack(vectors) for article, vectors in grouped.items()}

    def articles_meta(self, ids: list[str]) -> dict[str, dict]:
        """Title, url, source, date and duplicate group of each article of `ids` still indexed."""
        return {row["id"]: dict(row) for row in self._rows_in(catalog.ARTICLES_META, ids)}

    def chunk_texts(self, chunk_ids: list[int]) -> dict[int, str]:
        return dict(self._rows_in(catalog.CHUNK_TEXTS, chunk_ids))

    def nearest(self, vectors: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and chunk ids (-1 for none) of the `depth` nearest passages of each vector."""
        return self.vectors.search(vectors, max(1, min(depth, self.vector_count)))

    @property
    def vector_count(self) -> int:
        return self.vectors.count

    def _rows_in(self, sql: str, values: list) -> list[sqlite3.Row]:
        """Rows of `sql`, whose `IN ({})` takes `values`, asked in parts under SQLite's limit on
        bound parameters. An ORDER BY holds within each part (callers group by key anyway)."""
        rows: list[sqlite3.Row] = []
        for i in range(0, len(values), catalog.IN_LIMIT):
            part = values[i:i + catalog.IN_LIMIT]
            rows += self.snapshot.rows(catalog.placeholders(sql, len(part)), part)
        return rows

    def article(self, article_id: str) -> dict | None:
        """One article's metadata and cleaned text, or None if it is not in the index."""
        rows = self.snapshot.rows(catalog.ARTICLE, (article_id,))
        if not rows:
            return None
        data = dict(rows[0])
        data["metadata"] = json.loads(data["metadata"])
        data["passages"] = self.snapshot.rows(catalog.ARTICLE_PASSAGE_COUNT, (article_id,))[0][0]
        return data

    def stats(self) -> dict:
        """Counts, model, index type and sizes (the JSON of `article-search stats`). The counts are
        the snapshot's, read when it opened (kept in `meta` by the writer): no scan, and no wait
        for the connection that searches share, except for the list of sources, read once per
        snapshot through the source index."""
        if self._sources is None:
            self._sources = [row[0] for row in self.snapshot.rows(catalog.SOURCES)]
        return {
            **self.snapshot.counts,
            "vectors": self.vector_count,
            "model": self.manifest["model"]["name"],
            "model_fingerprint": self.manifest["model"]["fingerprint"],
            "dimension": self.manifest["dimension"],
            "index_type": self.vectors.description(),
            "vector_segments": len(self.vectors.segments),
            "chunker": self.manifest["chunker"],
            "generation": self.generation,
            "sources": self._sources,
            "bytes": store.sizes(self.dir),
            "index_dir": str(self.dir.resolve()),
        }
