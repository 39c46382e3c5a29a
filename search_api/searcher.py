"""`Searcher`: ranking over an index: dense, lexical and hybrid search, related coverage, articles
by id, stats. Used by the CLI and the HTTP API alike.

    searcher = Searcher("index")
    result = searcher.search("what does Russia give North Korea for the shells?", k=5)
    for hit in result.results:
        print(hit.score, hit.title, hit.passages[0].text)

A `Searcher` is composed over an index reader (search_api.readers): the reader answers what
ranking asks of the index (nearest passages, lexical matches, rows), from one directory's snapshot,
from the shards of a sharded index, or from shard replicas under Ray Serve; the `Searcher` fuses,
groups, collapses copies, re-ranks and sorts, the same whichever reader answers. Results are the
API's own shapes (search_api.schemas). Opened on a directory, it answers from the one generation
its reader opened (indexer.store.Snapshot); a server opens a new one when the index moves on
(search_api.live).
"""

from __future__ import annotations

import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from indexer import store
from indexer.embedding import Encoder
from indexer.lexical import FACET_NAME, TermMarker, day_number, terms_of, typo_budget, within_edits

from .fusion import group_by_article, linear_fusion, reciprocal_rank_fusion
from .query import Filters, SearchError, typed_words
from .readers import open_reader
from .schemas import Copy, RelatedHit, SearchResponse

MODES = ("hybrid", "dense", "lexical")
SORTS = ("relevance", "newest", "oldest")
FUSIONS = ("rrf", "linear")
# Facets one query may ask for.
MAX_FACETS = 10
# Suggestions returned at most, whatever `k` asks (a box shows a handful).
MAX_SUGGESTIONS = 20
# Articles re-scored by a cross-encoder when one is given (`reranker`): the top of the ranking.
RERANK_DEPTH = 30
# Candidates taken from each side before fusing and grouping. Fixed, so that the ranking of a query
# does not depend on the page asked for (pages are disjoint slices of one ranking); deepened only
# when the pool holds fewer articles than the page needs.
CANDIDATE_DEPTH = 300
# "No good match": a query whose `Searcher.confidence` is below this gets no results. Chosen on
# squad-dev-a's questions against news questions, checked on the Wikinews sample against squad's
# (docs/quality.md, "No good match"); 0 turns the decision off.
MIN_CONFIDENCE = 0.38
# The best-ranked candidate passages whose evidence `Searcher.confidence` weighs.
CONFIDENCE_DEPTH = 10
# Threads that run the lexical side of hybrid queries beside the query embedding; shared by all
# searchers, since a server opens a new one for every index generation.
_LEXICAL_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lexical")


def _load_reranker(name_or_path: str):
    """A sentence-transformers CrossEncoder from a local folder or the local cache (never downloaded)."""
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(name_or_path, device="cpu")
    except (OSError, ValueError) as exc:
        raise SearchError(f"cannot load the re-ranker '{name_or_path}': {exc}. Give a local CrossEncoder folder "
                          "or a model already in the local Hugging Face cache.") from exc


class Searcher:
    """Opens `index_dir` read-only (sharded or not), or ranks over `reader` when one is given (an
    index reader of search_api.readers, such as a `ShardedReader` over remote shards). `encoder`
    may be passed to share a loaded model; `model` is only checked against the index's own (a
    different one is refused). `backend` runs the query encoder on torch, onnx or onnx-int8; one
    whose embeddings differ from the index's is refused. By default (None or "auto") onnx answers
    where it embeds like the index, else the index's own backend
    (indexer.embedding.load_query_encoder). `previous`, the searcher of an earlier generation of the
    same directory, lends the vector segments both have. `held` (the default) keeps its generation
    for its whole life; a server opens searchers not held and pins each per request (`pinned`,
    search_api.live), so that no read transaction outlives a request."""

    def __init__(self, index_dir: str | Path | None = None, model: str | None = None, *, reader=None,
                 encoder: Encoder | None = None, backend: str | None = None, fusion: str = "linear",
                 rrf_k: float = 60.0, linear_weight: float = 0.5, reranker=None, previous: Searcher | None = None,
                 held: bool = True):
        self.reader = reader if reader is not None else open_reader(index_dir, getattr(previous, "reader", None), held)
        try:
            self.manifest = self.reader.manifest
            self.dir = Path(index_dir) if index_dir is not None else self.reader.dir
            self.encoder = encoder or getattr(previous, "encoder", None)
            # A later generation of the same index keeps the model and probes its encoder was
            # checked against: a server opening one per committed batch embeds the probes once.
            if previous is None or previous.encoder is not self.encoder:
                probes = self.reader.probe_vectors()
                self.encoder = self.encoder or store.query_encoder(self.manifest, probes, model, backend)
                store.check_model(self.manifest, self.encoder.name, self.encoder.fingerprint, self.dir)
                store.check_backend(self.manifest, probes, self.encoder, self.dir)
            if fusion not in FUSIONS:
                raise SearchError(f"fusion must be one of {', '.join(FUSIONS)}, got '{fusion}'")
        except BaseException:
            if reader is None:
                self.reader.close()
            raise
        self.fusion, self.rrf_k, self.linear_weight = fusion, rrf_k, linear_weight
        # A name or path is loaded; a loaded CrossEncoder (shared by a server's searchers) is used as is.
        self.reranker = _load_reranker(reranker) if isinstance(reranker, str) else reranker
        self._rerank_lock = threading.Lock()  # one cross-encoder call at a time, like the encoder

    @property
    def generation(self) -> int:
        return self.reader.generation

    @property
    def vector_count(self) -> int:
        return self.reader.vector_count

    def pinned(self):
        """A context in which every answer comes from this searcher's generation; raises
        store.SnapshotMoved when a searcher not held can no longer see it (indexer.store.Snapshot)."""
        pin = getattr(self.reader, "pinned", None)
        return pin() if pin is not None else nullcontext(self)

    def close(self) -> None:
        """Close the reader; call when no request uses this searcher (a server opens one per index
        generation, and the garbage collector is too late for file descriptors)."""
        self.reader.close()

    # -- search ----------------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, offset: int = 0, mode: str = "hybrid", *,
               source: str | None = None, date_from: str | None = None, date_to: str | None = None,
               passages: int = 3, highlight: bool = True, query_vector: np.ndarray | None = None,
               typos: bool = True, sort: str = "relevance", recency: float | None = None,
               facets: list[str] | None = None, min_confidence: float = MIN_CONFIDENCE) -> SearchResponse:
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
        matching set (see `LocalReader.facet_counts`). Each passage and title carries `terms`, the
        offsets of the words the query matches (see indexer.lexical.TermMarker)."""
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
        lexical = _LEXICAL_POOL.submit(self.reader.lexical, typed, CANDIDATE_DEPTH, filters,
                                       typos=typos) if mode != "dense" else None
        if query_vector is None and (mode != "lexical" or highlight or min_confidence):
            query_vector = self.encoder.encode([query])[0]
        depth = CANDIDATE_DEPTH
        while True:
            first = lexical.result() if lexical is not None and depth == CANDIDATE_DEPTH else None
            ranked = self._ranked(typed, query_vector, mode, filters, depth, first, typos)
            groups = group_by_article(ranked, self.reader.article_of([c for c, _ in ranked]), passages)
            groups, copies = self._collapse_duplicates(groups)
            # Deeper helps only while a side still filled its list: one that returned fewer
            # candidates than asked has none left (few matches, or a narrow filter).
            if len(groups) >= need or depth >= self.vector_count or len(ranked) < depth:
                break
            depth *= 4
        no_match = bool(min_confidence) and self.confidence(typed, query_vector, ranked, typos) < min_confidence
        if no_match:
            groups = []
        if self.reranker is not None:
            groups = self._rerank(query, groups, max(need, RERANK_DEPTH))
        if recency:
            groups = self._boost_recent(groups, recency)
        if sort != "relevance":
            groups = self._by_date(groups, newest=sort == "newest")
        page = groups[offset:need]
        hits = self.reader.hits(page, query_vector if highlight else None)
        for hit in hits:
            hit.also_published_in = [Copy(**copy) for copy in copies.get(hit.article_id, [])]
        marker = TermMarker(*typed_words(typed), typos=typos)
        for hit in hits:
            hit.title_terms = marker.spans(hit.title)
            for passage in hit.passages:
                passage.terms = marker.spans(passage.text, passage.start)
        if facets and no_match:  # nothing matches: no counts either
            counts = {name: [] for name in facets}
        elif facets:
            counts = self.reader.facet_counts(typed, facets, filters, typos=typos, lexical=mode != "dense",
                                              among=[c for c, _ in ranked] if mode != "lexical" else None)
        else:
            counts = None
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(query=query, mode=mode, took_ms=round(took, 2), offset=offset, results=hits,
                              facets=counts)

    def suggest(self, text: str, k: int = 8) -> list[dict]:
        """Completions of a search box's `text`, at most MAX_SUGGESTIONS (see `LocalReader.suggest`)."""
        return self.reader.suggest(text, min(k, MAX_SUGGESTIONS))

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
        evidence = self.reader.passage_evidence([chunk for chunk, _ in ranked[:CONFIDENCE_DEPTH]])
        if not evidence:
            return 0.0
        words, prefix = typed_words(query)
        statistics = self.reader.lexical_statistics(query)
        weights = {term: statistics.idf(term) for term in terms_of(" ".join(words))}
        start = "".join(sorted(terms_of(prefix, stem=False))) if prefix else ""
        unseen = statistics.idf("")  # a word no passage holds: the highest idf
        total = sum(weights.values()) + (unseen if start else 0.0)
        texts = {chunk: terms_of(text) for chunk, (text, _) in evidence.items()}
        # A misspelt word is one no passage holds: only those are looked for among near words.
        misspelt = [t for t in weights if typos and not statistics.doc_freqs.get(t) and typo_budget(t)]
        near = {t: {w for terms in texts.values() for w in terms if within_edits(t, w, typo_budget(t))}
                for t in misspelt}
        best = 0.0
        for chunk, (text, vector) in evidence.items():
            terms = texts[chunk] | {t for t in misspelt if near[t] & texts[chunk]}
            held = sum(weight for term, weight in weights.items() if term in terms)
            if start and any(word.startswith(start) or typos and within_edits(start, word, typo_budget(start))
                             for word in terms_of(text, stem=False)):
                held += unseen
            best = max(best, (float(np.dot(vector, query_vector)) + (held / total if total else 0.0)) / 2)
        return best

    def _ranked(self, query: str, query_vector, mode: str, filters: Filters, depth: int,
                lexical: list[tuple[int, float]] | None = None, typos: bool = True) -> list[tuple[int, float]]:
        """Candidates of `mode` at `depth`, fused for hybrid; `lexical` when already computed."""
        if mode == "dense":
            return self.reader.dense(query_vector, depth, filters)
        if lexical is None:
            lexical = self.reader.lexical(query, depth, filters, typos=typos)
        if mode == "lexical":
            return lexical
        dense = self.reader.dense(query_vector, depth, filters)
        if self.fusion == "linear":
            return linear_fusion(dense, lexical, self.linear_weight)
        return reciprocal_rank_fusion([dense, lexical], self.rrf_k)

    def _rerank(self, query: str, groups, depth: int):
        """Re-score the top `depth` articles by the cross-encoder's score of (query, best passage)."""
        head, tail = groups[:depth], groups[depth:]
        if not head:
            return groups
        texts = self.reader.chunk_texts([passages[0][0] for _, _, passages in head])
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
        for row in self.reader.articles_meta([g[0] for g in groups]).values():
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
        published = {row["id"]: row["published"] or "" for row in self.reader.articles_meta([g[0] for g in groups]).values()}
        dated = [g for g in groups if published.get(g[0])]
        dated.sort(key=lambda g: published[g[0]], reverse=newest)  # stable both ways
        return dated + [g for g in groups if not published.get(g[0])]

    def _collapse_duplicates(self, groups):
        """Keep the best-ranked copy of each group of near-identical articles; the others are
        listed with it (`also_published_in`) instead of taking places in the ranking."""
        kept, first_of_group, copies = [], {}, {}
        meta = self.reader.articles_meta([entry[0] for entry in groups])
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

    # -- related coverage ------------------------------------------------------------------------

    def related(self, article_id: str, k: int = 10) -> list[RelatedHit]:
        """Other coverage of the same story, best first, `article_id` itself excluded: `k` articles,
        plus any near-identical copies of it, marked `near_duplicate` and not counted. Scored by
        passage similarity, BM25 of the article's lead, and shared names and headline words (see
        search_api.related). Raises KeyError for an article not in the index."""
        from .related import related

        return related(self.reader, article_id, k)

    # -- articles --------------------------------------------------------------------------------

    def article(self, article_id: str) -> dict | None:
        """One article's metadata and cleaned text, or None if it is not in the index."""
        return self.reader.article(article_id)

    def stats(self) -> dict:
        """Counts, model, index type, sizes and the query backend (the JSON of `article-search stats`)."""
        return {**self.reader.stats(), "query_backend": self.encoder.backend}
