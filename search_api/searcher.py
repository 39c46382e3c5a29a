"""`Searcher`: the read side of an index directory: dense, lexical and hybrid search, related
coverage, articles by id, stats. Used by the CLI and the HTTP API alike.

    searcher = Searcher("index")
    result = searcher.search("what does Russia give North Korea for the shells?", k=5)
    for hit in result.results:
        print(hit.score, hit.title, hit.passages[0].text)

The index opens read-only with the model it was built with (from its manifest).
"""

from __future__ import annotations

import datetime
import json
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from indexer import store
from indexer.embedding import Encoder, load_encoder
from indexer.highlights import best_sentences
from indexer.lexical import FACET_NAME, CollectionStats, TermMarker, day_number, terms_of, typo_budget

from .fusion import group_by_article, linear_fusion, reciprocal_rank_fusion

MODES = ("hybrid", "dense", "lexical")
SORTS = ("relevance", "newest", "oldest")
FUSIONS = ("rrf", "linear")
# Values shown per facet (the most frequent), and facets one query may ask for.
FACET_VALUES = 10
MAX_FACETS = 10
# Suggestions returned at most, whatever `k` asks (a box shows a handful).
MAX_SUGGESTIONS = 20
# Articles re-scored by a cross-encoder when one is given (`reranker`): the top of the ranking.
RERANK_DEPTH = 30
# Candidates taken from each side before fusing and grouping. Fixed, so that the ranking of a query
# does not depend on the page asked for (pages are disjoint slices of one ranking); deepened only
# when the pool holds fewer articles than the page needs.
CANDIDATE_DEPTH = 300
# A filter that at most this many passages pass gives FAISS their ids to search among; a broader
# one searches deeper and keeps what passes (see `Searcher.dense`).
FILTER_SELECTOR_LIMIT = 50_000
# "No good match": a query whose `Searcher.confidence` is below this gets no results. Chosen on
# squad-dev-a's questions against news questions, checked on the Wikinews sample against squad's
# (docs/quality.md, "No good match"); 0 turns the decision off.
MIN_CONFIDENCE = 0.38
# The best-ranked candidate passages whose evidence `Searcher.confidence` weighs.
CONFIDENCE_DEPTH = 10
_WORD = re.compile(r"\w+", re.UNICODE)
_PARTIAL_WORD = re.compile(r"\w+$", re.UNICODE)
# Threads that run the lexical side of hybrid queries beside the query embedding; shared by all
# searchers, since a server opens a new one for every index generation.
_LEXICAL_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lexical")


class SearchError(ValueError):
    """A query or parameter the index cannot answer; the message says what to change."""


@dataclass
class PassageHit:
    text: str
    start: int
    end: int
    score: float
    highlights: list[list[int]] = field(default_factory=list)
    chunk_id: int = 0
    terms: list[list[int]] = field(default_factory=list)


@dataclass
class ArticleHit:
    article_id: str
    title: str
    url: str
    source: str
    author: str
    published: str
    score: float
    passages: list[PassageHit]
    also_published_in: list[dict] = field(default_factory=list)
    title_terms: list[list[int]] = field(default_factory=list)


@dataclass
class SearchResult:
    query: str
    mode: str
    took_ms: float
    offset: int
    results: list[ArticleHit]
    facets: dict[str, list[dict]] | None = None

    def to_dict(self) -> dict:
        """The JSON shape of `GET /search` (../shared/API.md); `facets` only when asked for."""
        data = asdict(self)
        if data["facets"] is None:
            del data["facets"]
        for hit in data["results"]:
            for passage in hit["passages"]:
                passage.pop("chunk_id")
        return data


@dataclass
class RelatedHit:
    article_id: str
    title: str
    url: str
    source: str
    published: str
    score: float
    near_duplicate: bool


@dataclass
class Filters:
    source: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def conditions(self) -> dict:
        """The filters as the lexical index takes them (indexer.lexical answers every filter)."""
        return {"source": self.source, "date_from": self.date_from, "date_to": self.date_to}

    def __bool__(self) -> bool:
        return bool(self.source or self.date_from or self.date_to)


def _load_reranker(name_or_path: str):
    """A sentence-transformers CrossEncoder from a local folder or the local cache (never downloaded)."""
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(name_or_path, device="cpu")
    except (OSError, ValueError) as exc:
        raise SearchError(f"cannot load the re-ranker '{name_or_path}': {exc}. Give a local CrossEncoder folder "
                          "or a model already in the local Hugging Face cache.") from exc


def faiss_search(index, vectors: np.ndarray, k: int, params=None):
    """`index.search` on one OpenMP thread: a few queries at a time gain nothing from threads and
    lose to their start-up (measured at 1M vectors: one exact query 142 ms on 2 threads, 58 ms on 1).
    The setting is per calling thread and restored after, so the model's own threads (the same
    OpenMP runtime) keep both cores for encoding."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(vectors, k, params=params)
    finally:
        faiss.omp_set_num_threads(previous)


# Function words left out of lexical queries (unless a query has nothing else): BM25 gives them
# almost no weight, yet their posting lists make every query score most of the archive.
STOPWORDS = frozenset("""a about after all also an and any are as at be been before but by can could did do does
for from had has have he her his how i if in into is it its just more most my no not of on or our out over said
she so some than that the their them then there these they this those to up was we were what when where which
while who whom why will with would you your""".split())


def query_words(text: str) -> list[str]:
    """The distinct words of a query, lower-cased, stopwords left out unless nothing else is left."""
    words = list(dict.fromkeys(_WORD.findall(text.lower())))
    return [word for word in words if word not in STOPWORDS] or words


def typed_words(text: str) -> tuple[list[str], str | None]:
    """`query_words` of a query being typed, and its last word apart when the text ends inside it
    (no space or punctuation after it yet): a word that may be the start of a longer one.

    >>> typed_words("why did Magnito"), typed_words("why did Magnito ")
    (([], 'magnito'), (['magnito'], None))
    """
    partial = _PARTIAL_WORD.search(text)
    prefix = partial.group(0).lower() if partial else None
    return [word for word in query_words(text) if word != prefix], prefix


def _within_edits(a: str, b: str, budget: int) -> bool:
    """Whether `b` is at most `budget` edits (insert, delete, substitute, swap of neighbours) from `a`.

    >>> _within_edits("magnitogrosk", "magnitogorsk", 1), _within_edits("oil", "oak", 1)
    (True, False)
    """
    if abs(len(a) - len(b)) > budget:
        return False
    before, row = None, list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > budget:
            return False
        before, row = row, current
    return row[-1] <= budget


class Searcher:
    """Opens an index directory read-only. `encoder` may be passed to share a loaded model;
    `model` is only checked against the index's own (a different one is refused). `backend` runs
    the query encoder on torch, onnx or onnx-int8 (default: the index's own); one whose embeddings
    differ from the index's is refused."""

    def __init__(self, index_dir: str | Path, model: str | None = None, *, encoder: Encoder | None = None,
                 backend: str | None = None, fusion: str = "linear", rrf_k: float = 60.0, linear_weight: float = 0.5,
                 reranker=None):
        self.dir = Path(index_dir)
        self.manifest = store.read_manifest(self.dir)
        if "shards" in self.manifest:
            raise store.StoreError(f"{self.dir} is a sharded index; open it with search_api.sharded.open_searcher")
        self.encoder = encoder or load_encoder(model or self.manifest["model"]["name"],
                                               backend or self.manifest["model"].get("backend", "torch"))
        store.check_model(self.manifest, self.encoder.name, self.encoder.fingerprint, self.dir)
        self._init_ranking(fusion, rrf_k, linear_weight, reranker)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []  # every thread's, closed by `close`
        self._connections_lock = threading.Lock()
        conn = self._conn()
        store.check_backend(self.manifest, conn, self.encoder, self.dir)
        self.faiss, self.rebuilt = store.load_faiss(self.dir, self.manifest, conn)
        self.lexical_index = store.open_lexical(self.dir)
        self.generation = store.db_generation(conn)

    def _init_ranking(self, fusion: str, rrf_k: float, linear_weight: float, reranker) -> None:
        if fusion not in FUSIONS:
            raise SearchError(f"fusion must be one of {', '.join(FUSIONS)}, got '{fusion}'")
        self.fusion, self.rrf_k, self.linear_weight = fusion, rrf_k, linear_weight
        # A name or path is loaded; a loaded CrossEncoder (shared by a server's searchers) is used as is.
        self.reranker = _load_reranker(reranker) if isinstance(reranker, str) else reranker
        self._rerank_lock = threading.Lock()  # one cross-encoder call at a time, like the encoder

    def _conn(self) -> sqlite3.Connection:
        """One read-only connection per thread (sqlite3 connections are not for sharing)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = store.connect(self.dir, readonly=True)
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close the database connections of every thread; call when no request uses this searcher
        (a server opens one per index generation, and the garbage collector is too late for file
        descriptors)."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    # -- search ----------------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, offset: int = 0, mode: str = "hybrid", *,
               source: str | None = None, date_from: str | None = None, date_to: str | None = None,
               passages: int = 3, highlight: bool = True, query_vector: np.ndarray | None = None,
               typos: bool = True, sort: str = "relevance", recency: float | None = None,
               facets: list[str] | None = None,
               min_confidence: float = MIN_CONFIDENCE) -> SearchResult:
        """Rank articles for `query`; returns `k` articles from `offset`, each with up to `passages`
        best passages and, with `highlight`, the spans of the sentences that best answer the query.
        The last word of a query that does not end in a space or punctuation also matches as the
        start of a longer word (lexical and hybrid), as in a search box being typed in; `typos`
        forgives a typo or two in longer words (see indexer.lexical.typo_budget). `sort` "newest"
        or "oldest" orders the matching articles (the candidates ranked, as for relevance) by date,
        articles without one last. `recency`, a half-life in days, multiplies each article's score by
        1/2 per that many days it is older than the newest candidate ("the latest on X").
        A query whose `confidence` is below `min_confidence` has no good match: no results (0: off).
        `query_vector` may be given when the caller embedded the query already (batch evaluation).
        `facets` (source, year, author or any metadata field) adds the articles per value over the
        matching set (see `facet_counts`). Each passage and title carries `terms`, the offsets of
        the words the query matches (see indexer.lexical.TermMarker)."""
        started = time.perf_counter()
        typed = query.lstrip()  # a trailing space says the last word is complete
        query = query.strip()
        if not query:
            raise SearchError("the query is empty; type some words to search for")
        if mode not in MODES:
            raise SearchError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
        if sort not in SORTS:
            raise SearchError(f"sort must be one of {', '.join(SORTS)}, got '{sort}'")
        if recency is not None and not recency > 0:
            raise SearchError(f"recency is a half-life in days and must be above 0, got {recency}")
        facets = list(dict.fromkeys(facets)) if facets is not None else None
        if facets is not None and (len(facets) > MAX_FACETS or not all(FACET_NAME.match(f) for f in facets)):
            raise SearchError(f"facets must be up to {MAX_FACETS} field names (letters, digits, _), "
                              f"such as source,author,year; got {','.join(facets)!r}")
        for name, value in (("date_from", date_from), ("date_to", date_to)):
            if value and day_number(value) is None:
                raise SearchError(f"{name} must be a date as YYYY-MM-DD, got '{value}'")
        filters = Filters(source or None, date_from or None, date_to or None)
        need = offset + k
        # The lexical side needs no vector: it runs in the lexical index while the model embeds the query.
        lexical = _LEXICAL_POOL.submit(self.lexical, typed, CANDIDATE_DEPTH, filters,
                                       typos=typos) if mode != "dense" else None
        if query_vector is None and (mode != "lexical" or highlight or min_confidence):
            query_vector = self.encoder.encode([query])[0]
        depth = CANDIDATE_DEPTH
        while True:
            first = lexical.result() if lexical is not None and depth == CANDIDATE_DEPTH else None
            ranked = self._ranked(typed, query_vector, mode, filters, depth, first, typos)
            groups = group_by_article(ranked, self.article_of([c for c, _ in ranked]), passages)
            groups, copies = self._collapse_duplicates(groups)
            # Deeper helps only while a side still filled its list: one that returned fewer
            # candidates than asked has none left (few matches, or a narrow filter).
            if len(groups) >= need or depth >= self.vector_count or len(ranked) < depth:
                break
            depth *= 4
        if min_confidence and self.confidence(typed, query_vector, ranked, typos) < min_confidence:
            groups = []
        if self.reranker is not None:
            groups = self._rerank(query, groups, max(need, RERANK_DEPTH))
        if recency:
            groups = self._boost_recent(groups, recency)
        if sort != "relevance":
            groups = self._by_date(groups, newest=sort == "newest")
        page = groups[offset:need]
        hits = self.hits(page, query_vector if highlight else None)
        for hit in hits:
            hit.also_published_in = copies.get(hit.article_id, [])
        marker = TermMarker(*typed_words(typed), typos=typos)
        for hit in hits:
            hit.title_terms = marker.spans(hit.title)
            for passage in hit.passages:
                passage.terms = marker.spans(passage.text, passage.start)
        counts = self.facet_counts(typed, facets, filters, typos=typos, lexical=mode != "dense",
                                   among=[c for c, _ in ranked] if mode != "lexical" else None) if facets else None
        took = (time.perf_counter() - started) * 1000
        return SearchResult(query=query, mode=mode, took_ms=round(took, 2), offset=offset, results=hits,
                            facets=counts)

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

    def suggest(self, text: str, k: int = 8) -> list[dict]:
        """Completions of a search box's `text`: words of the archive that complete its last word
        (`kind` "term", `text` the box's text with that word completed) and titles that hold its
        words and a completion of the last (`kind` "title", with `article_id`); about half each,
        either filling in for the other. Bounded work: term lookups and a top-k of titles."""
        text = text.lstrip()
        words, prefix = typed_words(text)
        k = min(k, MAX_SUGGESTIONS)
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

    def confidence(self, query: str, query_vector: np.ndarray, ranked: list[tuple[int, float]],
                   typos: bool = True) -> float:
        """How well the archive answers `query`, from 0 to 1, judged on its best `CONFIDENCE_DEPTH`
        candidates (`ranked`, best first): the best, over those passages, of the mean of the cosine
        between the query and the passage and the share of the query's words that the passage holds
        (title included), each word weighted by its idf, so that a name the archive never mentions
        weighs the most. One passage must answer in meaning and in words: a nearest passage always
        exists, and a passage holding a common word nearly always. A last word still being typed is
        held by a passage with a word that starts with it; with `typos`, a word the archive does not
        hold is held by a passage with a word `typo_budget` edits away, as lexical search matches it."""
        evidence = self.passage_evidence([chunk for chunk, _ in ranked[:CONFIDENCE_DEPTH]])
        if not evidence:
            return 0.0
        words, prefix = typed_words(query)
        statistics = self.lexical_statistics(query)
        weights = {term: statistics.idf(term) for term in terms_of(" ".join(words))}
        start = "".join(sorted(terms_of(prefix, stem=False))) if prefix else ""
        unseen = statistics.idf("")  # a word no passage holds: the highest idf
        total = sum(weights.values()) + (unseen if start else 0.0)
        texts = {chunk: terms_of(text) for chunk, (text, _) in evidence.items()}
        # A misspelt word is one no passage holds: only those are looked for among near words.
        misspelt = [t for t in weights if typos and not statistics.doc_freqs.get(t) and typo_budget(t)]
        near = {t: {w for terms in texts.values() for w in terms if _within_edits(t, w, typo_budget(t))}
                for t in misspelt}
        best = 0.0
        for chunk, (text, vector) in evidence.items():
            terms = texts[chunk] | {t for t in misspelt if near[t] & texts[chunk]}
            held = sum(weight for term, weight in weights.items() if term in terms)
            if start and any(word.startswith(start) or typos and _within_edits(start, word, typo_budget(start))
                             for word in terms_of(text, stem=False)):
                held += unseen
            best = max(best, (float(np.dot(vector, query_vector)) + (held / total if total else 0.0)) / 2)
        return best

    def passage_evidence(self, chunk_ids: list[int]) -> dict[int, tuple[str, np.ndarray]]:
        """Each passage's article title and text, and its vector, by chunk id (what `confidence` weighs)."""
        rows = self._rows_in("SELECT c.id, a.title, c.text, c.vector FROM chunks c JOIN articles a "
                             "ON a.id = c.article_id WHERE c.id IN ({})", [int(c) for c in chunk_ids])
        return {row[0]: (f"{row[1]}\n{row[2]}", np.frombuffer(row[3], dtype=np.float32)) for row in rows}

    def _ranked(self, query: str, query_vector, mode: str, filters: Filters, depth: int,
                lexical: list[tuple[int, float]] | None = None, typos: bool = True) -> list[tuple[int, float]]:
        """Candidates of `mode` at `depth`, fused for hybrid; `lexical` when already computed."""
        if mode == "dense":
            return self.dense(query_vector, depth, filters)
        if lexical is None:
            lexical = self.lexical(query, depth, filters, typos=typos)
        if mode == "lexical":
            return lexical
        dense = self.dense(query_vector, depth, filters)
        if self.fusion == "linear":
            return linear_fusion(dense, lexical, self.linear_weight)
        return reciprocal_rank_fusion([dense, lexical], self.rrf_k)

    def dense(self, query_vector: np.ndarray, depth: int, filters: Filters = Filters()) -> list[tuple[int, float]]:
        """Chunk ids and cosine scores of the `depth` nearest passages (within `filters`).

        A filter is answered by the lexical index's fast fields (indexer.lexical), never by reading
        every passage: one that few passages pass gives FAISS exactly those ids to search among;
        a broad one lets FAISS search deeper, by the share of passages that pass, and keeps the
        candidates that do."""
        import faiss

        index = self.faiss
        depth = min(depth, index.ntotal)
        if depth == 0:
            return []
        if not filters:
            return self._nearest_one(query_vector, depth)
        conditions = filters.conditions()
        passing = self.lexical_index.count(**conditions)
        if passing == 0:
            return []
        if passing <= FILTER_SELECTOR_LIMIT:
            selector = faiss.IDSelectorBatch(np.array(self.lexical_index.passing(passing, **conditions), np.int64))
            # An IVF index refuses plain SearchParameters, and parameters it is given replace its
            # own settings: without its nprobe it would probe one list and miss most matches.
            params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe) if hasattr(index, "nprobe") \
                else faiss.SearchParameters(sel=selector)
            return self._nearest_one(query_vector, min(depth, passing), params)
        wanted = min(depth, passing)
        reach = min(index.ntotal, 2 * wanted * -(-index.ntotal // passing))
        while True:
            candidates = self._nearest_one(query_vector, reach)
            kept = set(self.lexical_index.passing(len(candidates), among=[c for c, _ in candidates], **conditions))
            found = [(c, score) for c, score in candidates if c in kept]
            if len(found) >= wanted or reach >= index.ntotal:
                return found[:depth]
            reach = min(index.ntotal, reach * 4)

    def _nearest_one(self, query_vector: np.ndarray, depth: int, params=None) -> list[tuple[int, float]]:
        scores, ids = faiss_search(self.faiss, query_vector.reshape(1, -1), depth, params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical(self, query: str, depth: int, filters: Filters = Filters(),
                collection: CollectionStats | None = None, typos: bool = False) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better) of the `depth` best lexical matches, from
        the lexical index (indexer.lexical); a last word the query ends inside also matches as a
        prefix (`typed_words`), and with `typos` near misses of longer words match too.
        `collection`, the statistics of all shards of a sharded index, scores as one index of
        them all would."""
        words, prefix = typed_words(query)
        return self.lexical_index.search(words, depth, prefix=prefix, typos=typos, collection=collection,
                                         **filters.conditions())

    def lexical_statistics(self, query: str) -> CollectionStats:
        """This index's BM25 statistics for the words of `query` (the first phase of a sharded
        lexical query; the second is `lexical` with the shards' sum)."""
        return self.lexical_index.statistics(self.lexical_index.query_terms(*typed_words(query)))

    def article_of(self, chunk_ids: list[int]) -> dict[int, str]:
        """The article of each chunk id that still exists: looked up by primary key for the
        candidates of one query, so a server holds nothing per passage and opens in the same
        time whatever the archive's size."""
        # An article removed since this snapshot opened may still be named by a candidate; it
        # finds no row here and drops out.
        return dict(self._rows_in("SELECT id, article_id FROM chunks WHERE id IN ({})", [int(c) for c in chunk_ids]))

    def _rerank(self, query: str, groups, depth: int):
        """Re-score the top `depth` articles by the cross-encoder's score of (query, best passage)."""
        head, tail = groups[:depth], groups[depth:]
        if not head:
            return groups
        texts = self.chunk_texts([passages[0][0] for _, _, passages in head])
        pairs = [(query, texts.get(passages[0][0], "")) for _, _, passages in head]
        with self._rerank_lock:
            scores = self.reranker.predict(pairs, show_progress_bar=False)
        rescored = [(article_id, float(score), passages) for (article_id, _, passages), score in zip(head, scores)]
        rescored.sort(key=lambda group: (-group[1], group[0]))
        return rescored + tail

    def _boost_recent(self, groups, half_life_days: float):
        """`group_by_article` entries re-ranked by score × 0.5^(days older than the newest / half-life).
        Ages are counted from the newest candidate, not from today, so an archive's ranking does not
        drift with the clock; an undated article gets the oldest's factor."""
        days = {}
        for row in self.articles_meta([g[0] for g in groups]).values():
            day = day_number(row["published"] or "")
            if day is not None:
                days[row["id"]] = datetime.date(day // 10000, day // 100 % 100, day % 100).toordinal()
        if not days:
            return groups
        newest, oldest = max(days.values()), min(days.values())
        boosted = [(article_id, score * 0.5 ** ((newest - days.get(article_id, oldest)) / half_life_days), passages)
                   for article_id, score, passages in groups]
        return sorted(boosted, key=lambda g: -g[1])

    def _by_date(self, groups, newest: bool):
        """`group_by_article` entries ordered by their article's published date (newest or oldest
        first); undated articles last, and ties in their relevance order (the sort is stable)."""
        published = {row["id"]: row["published"] or "" for row in self.articles_meta([g[0] for g in groups]).values()}
        dated = [g for g in groups if published.get(g[0])]
        dated.sort(key=lambda g: published[g[0]], reverse=newest)  # stable both ways
        return dated + [g for g in groups if not published.get(g[0])]

    def _collapse_duplicates(self, groups):
        """Keep the best-ranked copy of each group of near-identical articles; the others are
        listed with it (`also_published_in`) instead of taking places in the ranking."""
        kept, first_of_group, copies = [], {}, {}
        meta = self.articles_meta([entry[0] for entry in groups])
        for entry in groups:
            group = meta.get(entry[0], {}).get("duplicate_group") or entry[0]
            if group in first_of_group:
                copies.setdefault(first_of_group[group], []).append(entry[0])
            else:
                first_of_group[group] = entry[0]
                kept.append(entry)
        def summary(row):
            return {"article_id": row["id"], "title": row["title"], "url": row["url"], "source": row["source"],
                    "published": row["published"]}

        return kept, {kept_id: [summary(meta[o]) for o in others if o in meta] for kept_id, others in copies.items()}

    def hits(self, page, query_vector) -> list[ArticleHit]:
        """Articles and passages of one page of `group_by_article` entries, fetched in two queries;
        highlights when `query_vector` is given."""
        articles = {row["id"]: row for row in self._rows_in(
            "SELECT id, title, url, source, author, published FROM articles WHERE id IN ({})",
            [article_id for article_id, _, _ in page])}
        chunks = {row["id"]: row for row in self._rows_in(
            "SELECT id, text, start, end, sentences, sentence_vectors FROM chunks WHERE id IN ({})",
            [chunk_id for _, _, chunk_scores in page for chunk_id, _ in chunk_scores])}
        hits = []
        dimension = self.manifest["dimension"]
        for article_id, score, chunk_scores in page:
            article = articles.get(article_id)
            passages = []
            for chunk_id, chunk_score in chunk_scores:
                row = chunks.get(chunk_id)
                if row is None:
                    continue
                passage = PassageHit(row["text"], row["start"], row["end"], round(chunk_score, 6), chunk_id=chunk_id)
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
            hits.append(ArticleHit(article["id"], article["title"], article["url"], article["source"],
                                   article["author"], article["published"], round(score, 6), passages))
        return hits

    # -- related coverage ------------------------------------------------------------------------

    def related(self, article_id: str, k: int = 10) -> list[RelatedHit]:
        """Other coverage of the same story, best first, `article_id` itself excluded: `k` articles,
        plus any near-identical copies of it, marked `near_duplicate` and not counted. Scored by
        passage similarity, BM25 of the article's lead, and shared names and headline words (see
        search_api.related). Raises KeyError for an article not in the index."""
        from .related import related

        return related(self, article_id, k)

    def chunk_vectors(self, article_ids: list[str]) -> dict[str, np.ndarray]:
        """The passage vectors of each article, in passage order."""
        grouped: dict[str, list[np.ndarray]] = {}
        rows = self._rows_in("SELECT article_id, vector FROM chunks WHERE article_id IN ({}) "
                             "ORDER BY article_id, position", article_ids)
        for row in rows:
            grouped.setdefault(row[0], []).append(np.frombuffer(row[1], dtype=np.float32))
        return {article: np.stack(vectors) for article, vectors in grouped.items()}

    def articles_meta(self, ids: list[str]) -> dict[str, dict]:
        """Title, url, source, date and duplicate group of each article of `ids` still indexed."""
        return {row["id"]: dict(row) for row in self._rows_in(
            "SELECT id, title, url, source, published, duplicate_group FROM articles WHERE id IN ({})", ids)}

    def chunk_texts(self, chunk_ids: list[int]) -> dict[int, str]:
        return dict(self._rows_in("SELECT id, text FROM chunks WHERE id IN ({})", chunk_ids))

    def nearest(self, vectors: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and chunk ids (-1 for none) of the `depth` nearest passages of each vector."""
        return faiss_search(self.faiss, vectors, max(1, min(depth, self.vector_count)))

    @property
    def vector_count(self) -> int:
        return int(self.faiss.ntotal)

    def _rows_in(self, sql: str, values: list) -> list[sqlite3.Row]:
        """Rows of `sql`, whose `IN ({})` takes `values`, asked in parts under SQLite's limit on
        bound parameters. An ORDER BY holds within each part (callers group by key anyway)."""
        rows: list[sqlite3.Row] = []
        for i in range(0, len(values), 900):
            part = values[i:i + 900]
            rows += self._conn().execute(sql.format(",".join("?" * len(part))), part).fetchall()
        return rows

    # -- articles --------------------------------------------------------------------------------

    def article(self, article_id: str) -> dict | None:
        """One article's metadata and cleaned text, or None if it is not in the index."""
        row = self._conn().execute(
            "SELECT id, title, url, source, author, published, text, metadata, indexed_at FROM articles WHERE id = ?",
            (article_id,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        data["metadata"] = json.loads(data["metadata"])
        data["passages"] = self._conn().execute(
            "SELECT COUNT(*) FROM chunks WHERE article_id = ?", (article_id,)).fetchone()[0]
        return data

    def stats(self) -> dict:
        """Counts, model, index type and sizes (the JSON of `article-search stats`)."""
        conn = self._conn()
        files = {name: (self.dir / name).stat().st_size for name in (store.DATABASE, store.VECTORS, store.MANIFEST)
                 if (self.dir / name).exists()}
        files[store.LEXICAL] = sum(path.stat().st_size for path in (self.dir / store.LEXICAL).iterdir() if path.is_file())
        return {
            "articles": conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0],
            "passages": conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0],
            "vectors": int(self.faiss.ntotal),
            "model": self.manifest["model"]["name"],
            "model_fingerprint": self.manifest["model"]["fingerprint"],
            "dimension": self.manifest["dimension"],
            "index_type": self.manifest["faiss"]["description"],
            "chunker": self.manifest["chunker"],
            "generation": store.db_generation(conn),
            "sources": [r[0] for r in conn.execute("SELECT DISTINCT source FROM articles WHERE source != '' ORDER BY 1")],
            "bytes": files,
            "index_dir": str(self.dir.resolve()),
        }
