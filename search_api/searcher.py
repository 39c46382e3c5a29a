"""`Searcher`: ranking over an index: dense, lexical and hybrid search, related coverage, articles
by id, stats. Used by the CLI and the HTTP API alike.

    searcher = Searcher("index")
    result = searcher.search("what does Russia give North Korea for the shells?", k=5)
    for hit in result.results:
        print(hit.score, hit.title, hit.passages[0].text)

A `Searcher` is composed over an index reader (search_api.index_readers): the reader answers what
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

from indexer.extras import missing_extra
from indexer.lexical import TermMarker, day_number
from indexer.models import Encoder, check_backend, check_model, query_encoder

from .fusion import group_by_article, linear_fusion, reciprocal_rank_fusion
from .matching import MATCH_PROBABILITY, PROBABLE_DEPTH, RARE_WORDS_HELD, required_words, scored
from .query import FUSIONS, MODES, SORTS, Filters, SearchError, checked_facets, typed_words
from .index_readers import open_reader
from .schemas import Copy, RelatedHit, SearchResponse

# Suggestions returned at most, whatever `k` asks (a box shows a handful).
MAX_SUGGESTIONS = 20
# Articles re-scored by a cross-encoder when one is given (`reranker`): the top of the ranking.
RERANK_DEPTH = 30
# Candidates taken from each side before fusing and grouping. Fixed, so that the ranking of a query
# does not depend on the page asked for (pages are disjoint slices of one ranking); deepened only
# when the pool holds fewer articles than the page needs.
CANDIDATE_DEPTH = 300
# Answers a searcher keeps for a request asked again (a keystroke typed again after a backspace, a
# page asked twice): a searcher answers from one generation, so what it answered stays right.
ANSWERS_KEPT = 256
# Query embeddings kept, by query text, for all generations of one encoder (a facet clicked, the
# next page, another mode or a keystroke typed again asks for the same text's embedding).
EMBEDDINGS_KEPT = 1024
# Threads that run the lexical side of hybrid queries beside the query embedding; shared by all
# searchers, since a server opens a new one for every index generation.
_LEXICAL_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lexical")


def _load_reranker(name_or_path: str):
    """A sentence-transformers CrossEncoder from a local folder or the local cache (never downloaded)."""
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:
        raise SearchError(missing_extra("torch", "the re-ranker", exc)) from exc
    try:
        return CrossEncoder(name_or_path, device="cpu")
    except (OSError, ValueError) as exc:
        raise SearchError(f"cannot load the re-ranker '{name_or_path}': {exc}. Give a local CrossEncoder folder "
                          "or a model already in the local Hugging Face cache.") from exc


def _summary(row: dict) -> dict:
    """An article's row (`articles_meta`) as the API lists one: id, title, url, source, date."""
    return {"article_id": row["id"], "title": row["title"], "url": row["url"], "source": row["source"],
            "published": row["published"]}


class Searcher:
    """Opens `index_dir` read-only (sharded or not), or ranks over `reader` when one is given (an
    index reader of search_api.index_readers, such as a `ShardedReader` over remote shards). `encoder`
    may be passed to share a loaded model; `model` is only checked against the index's own (a
    different one is refused). `backend` runs the query encoder on torch, onnx or onnx-int8; one
    whose embeddings differ from the index's is refused. By default (None or "auto") onnx answers
    where it embeds like the index, else the index's own backend
    (indexer.models.load_query_encoder). `previous`, the searcher of an earlier generation of the
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
                self.encoder = self.encoder or query_encoder(self.manifest, probes, model, backend)
                check_model(self.manifest, self.encoder.name, self.encoder.fingerprint, self.dir)
                check_backend(self.manifest, probes, self.encoder, self.dir)
            if fusion not in FUSIONS:
                raise SearchError(f"fusion must be one of {', '.join(FUSIONS)}, got '{fusion}'")
            # A name or path is loaded; a loaded CrossEncoder (shared by a server's searchers) is used as is.
            self.reranker = _load_reranker(reranker) if isinstance(reranker, str) else reranker
        except BaseException:
            if reader is None:
                self.reader.close()
            raise
        self.fusion, self.rrf_k, self.linear_weight = fusion, rrf_k, linear_weight
        self._answers: dict[tuple, SearchResponse] = {}  # see ANSWERS_KEPT
        same_model = previous is not None and previous.encoder is self.encoder
        self._embeddings: dict[str, np.ndarray] = previous._embeddings if same_model else {}  # see EMBEDDINGS_KEPT
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

    def verify(self) -> list[str]:
        """Check every byte of the vector segments and lexical files this process has not verified
        yet; one line per damaged file, which the searches that need it refuse from then on (a
        server's background check)."""
        verify = getattr(self.reader, "verify", None)
        return verify() if verify is not None else []

    # -- search ----------------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, offset: int = 0, mode: str = "hybrid", *,
               source: str | None = None, date_from: str | None = None, date_to: str | None = None,
               passages: int = 3, highlight: bool = True, query_vector: np.ndarray | None = None,
               typos: bool = True, sort: str = "relevance", recency: float | None = None,
               facets: list[str] | None = None, min_confidence: float | None = None) -> SearchResponse:
        """Rank articles for `query`; returns `k` articles from `offset`, each with up to `passages`
        best passages and, with `highlight`, the spans of the sentences that best answer the query.
        The last word of a query that does not end in a space or punctuation also matches as the
        start of a longer word (lexical and hybrid), as in a search box being typed in; `typos`
        forgives a typo or two in longer words (see indexer.lexical.typo_budget).
        Only matching articles are listed (search_api.matching: enough of the query's words, or
        near enough in meaning), best first by `score`, a calibrated relevance in 0..1; `total` is
        how many match in all. A query nothing matches ("no good match") gets no results; one
        without a word ("😀") matches nothing. `min_confidence=0` turns the decision off: the fused
        candidates are listed as before it (scores then are fusion scores), `total` counts them.
        `sort` "newest" or "oldest" orders the matching articles by date, undated ones last.
        `recency`, a half-life in days, multiplies each article's score by 1/2 per that many days
        it is older than the newest match ("the latest on X").
        `query_vector` may be given when the caller embedded the query already (batch evaluation).
        `facets` (source, year, author or any metadata field) adds the matching articles per value
        (see `LocalReader.match_counts`): filtering on a value gives that count as `total`. Each
        passage and title carries `terms`, the
        offsets of the words the query matches (see indexer.lexical.TermMarker). A request asked
        again is answered from what this searcher kept (`ANSWERS_KEPT`), a copy."""
        started = time.perf_counter()
        key = None if query_vector is not None else (
            query, k, offset, mode, source, date_from, date_to, passages, highlight, typos, sort, recency,
            tuple(facets) if facets is not None else None, min_confidence)
        kept = self._answers.get(key) if key is not None else None
        if kept is not None:
            return kept.model_copy(deep=True, update={"took_ms": round((time.perf_counter() - started) * 1000, 2)})
        answer = self._search(query, k, offset, mode, source, date_from, date_to, passages, highlight, query_vector,
                              typos, sort, recency, facets, min_confidence, started)
        if key is not None:
            if len(self._answers) >= ANSWERS_KEPT:
                self._answers.clear()
            self._answers[key] = answer.model_copy(deep=True)
        return answer

    def _search(self, query: str, k: int, offset: int, mode: str, source: str | None, date_from: str | None,
                date_to: str | None, passages: int, highlight: bool, query_vector: np.ndarray | None, typos: bool,
                sort: str, recency: float | None, facets: list[str] | None, min_confidence: float | None,
                started: float) -> SearchResponse:
        """`search` without the answers kept; `started`, when the request came in."""
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
        facets = checked_facets(facets) if facets is not None else None
        for name, value in (("date_from", date_from), ("date_to", date_to)):
            if value and day_number(value) is None:
                raise SearchError(f"{name} must be a date as YYYY-MM-DD, got '{value}'")
        filters = Filters(source or None, date_from or None, date_to or None)
        words, prefix = typed_words(typed)
        if not words and not prefix:  # "😀", a zero-width space: no word to match, nothing matches
            return SearchResponse(query=query, mode=mode, took_ms=round((time.perf_counter() - started) * 1000, 2),
                                  offset=offset, total=0, results=[], facets={n: [] for n in facets} if facets else None)
        # The lexical index answers while the model embeds the query.
        lexical = self._lexical_parts(typed, mode, filters, typos, sort) if min_confidence != 0 else None
        if query_vector is None and (mode != "lexical" or highlight or min_confidence != 0):
            query_vector = self._embedding(query)
        if lexical is not None:
            groups, copies, total, counts = self._match_set(typed, query_vector, mode, filters, offset + k, typos,
                                                            passages, sort, facets, lexical)
        else:
            groups, copies, counts = self._candidates(typed, query_vector, mode, filters, offset + k, typos,
                                                      passages, facets)
            total = len(groups)
        if self.reranker is not None:
            groups = self._rerank(query, groups, max(offset + k, RERANK_DEPTH))
        if recency:
            groups = self._boost_recent(groups, recency)
        if sort != "relevance":
            groups = self._by_date(groups, newest=sort == "newest")
        hits = self.reader.hits(groups[offset:offset + k], query_vector if highlight else None)
        for hit in hits:
            hit.also_published_in = [Copy(**copy) for copy in copies.get(hit.article_id, [])]
        marker = TermMarker(words, prefix, typos=typos)
        for hit in hits:
            hit.title_terms = marker.spans(hit.title)
            for passage in hit.passages:
                passage.terms = marker.spans(passage.text, passage.start)
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(query=query, mode=mode, took_ms=round(took, 2), offset=offset, total=total,
                              results=hits, facets=counts)

    def _embedding(self, query: str) -> np.ndarray:
        """The query's embedding, kept for the next request of the same text (EMBEDDINGS_KEPT)."""
        vector = self._embeddings.get(query)
        if vector is None:
            vector = self.encoder.encode([query])[0]
            vector.flags.writeable = False  # shared by the requests that ask for it again
            if len(self._embeddings) >= EMBEDDINGS_KEPT:
                self._embeddings.clear()
            self._embeddings[query] = vector
        return vector

    def _candidates(self, typed: str, query_vector, mode: str, filters: Filters, need: int, typos: bool,
                    passages: int, facets: list[str] | None):
        """With the match decision off: the fused candidates of `mode`, deepened until they hold
        `need` articles, as (groups, copies, facet counts over the candidates and lexical matches)."""
        lexical = _LEXICAL_POOL.submit(self.reader.lexical, typed, CANDIDATE_DEPTH, filters,
                                       typos=typos) if mode != "dense" else None
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
        counts = self.reader.facet_counts(typed, facets, filters, typos=typos, lexical=mode != "dense",
                                          among=[c for c, _ in ranked] if mode != "lexical" else None) if facets else None
        return groups, copies, counts

    def _lexical_parts(self, typed: str, mode: str, filters: Filters, typos: bool, sort: str) -> tuple:
        """The lexical index's parts of a match set, started in the lexical pool: (how many words a
        passage must hold, date order or None, the passages holding them (a future, None in dense
        mode), the best lexical candidates without filters (a future, None in dense mode))."""
        words, prefix = typed_words(typed)
        minimum = required_words(len(words) + (1 if prefix else 0))
        newest = None if sort == "relevance" else sort == "newest"
        if mode == "dense":
            return minimum, newest, None, None
        return (minimum, newest,
                _LEXICAL_POOL.submit(self.reader.lexical_matching, typed, CANDIDATE_DEPTH, filters, typos=typos,
                                     minimum=minimum, newest=newest),
                _LEXICAL_POOL.submit(self.reader.lexical, typed, PROBABLE_DEPTH, typos=typos))

    def _match_set(self, typed: str, query_vector, mode: str, filters: Filters, need: int, typos: bool,
                   passages: int, sort: str, facets: list[str] | None, lexical: tuple):
        """The articles that match (search_api.matching), best first by calibrated relevance, at
        least `need` of them when that many match; as (groups, copies, total, facet counts).
        The passages holding enough words come from the lexical index best first by BM25 (by date
        for a date sort; `lexical`, from `_lexical_parts`), deepened until they hold `need`
        articles; the probable ones are the best `PROBABLE_DEPTH` candidates of the mode's sides at
        `MATCH_PROBABILITY` or above. `total` and facets are counted by the lexical index over the set."""
        minimum, newest, holding, best_lexical = lexical
        # The probable part is decided without the filters, then filtered: a filter (a facet
        # clicked) narrows the set, and never reaches deeper candidates that were not in it.
        candidates = (best_lexical.result() if best_lexical is not None else []) \
            + (self.reader.dense(query_vector, PROBABLE_DEPTH) if mode != "lexical" else [])
        scores = scored(self.reader, typed, query_vector, list(dict.fromkeys(c for c, _ in candidates)), typos)
        probable = self._passing([c for c, (relevance, _, _) in scores.items() if relevance >= MATCH_PROBABILITY],
                                 filters)
        depth = CANDIDATE_DEPTH
        while True:
            found = [c for c, _ in holding.result()] if holding is not None else []
            scores.update(scored(self.reader, typed, query_vector, [c for c in found if c not in scores], typos))
            members = [c for c in dict.fromkeys(found + probable) if c in scores]
            ranked = sorted(((c, scores[c][0]) for c in members), key=lambda pair: (-pair[1], pair[0]))
            groups = group_by_article(ranked, self.reader.article_of(members), passages)
            # An article holding the query's rare words ranks above any that holds none of them.
            groups.sort(key=lambda g: (not any(scores[c][2] >= RARE_WORDS_HELD for c, _ in g[2]), -g[1], g[0]))
            groups, copies = self._collapse_duplicates(groups)
            if len(groups) >= need or len(found) < depth:
                break
            depth *= 4
            holding = _LEXICAL_POOL.submit(self.reader.lexical_matching, typed, depth, filters, typos=typos,
                                           minimum=minimum, newest=newest)
        total, counts = self.reader.match_counts(typed, facets or [], filters, typos=typos,
                                                 minimum=minimum if mode != "dense" else None, among=probable)
        return groups, copies, total, counts if facets else None

    def _passing(self, chunk_ids: list[int], filters: Filters) -> list[int]:
        """The passages of `chunk_ids` whose article passes `filters` (its source, its published day)."""
        if not filters:
            return chunk_ids
        owners = self.reader.article_of(chunk_ids)
        meta = self.reader.articles_meta(list(set(owners.values())))
        low, high = day_number(filters.date_from or ""), day_number(filters.date_to or "")

        def passes(row: dict) -> bool:
            day = day_number(row["published"] or "")
            return ((not filters.source or row["source"] == filters.source)
                    and (low is None or day is not None and day >= low) and (high is None or day is not None and day <= high))

        return [c for c in chunk_ids if c in owners and owners[c] in meta and passes(meta[owners[c]])]

    def suggest(self, text: str, k: int = 8) -> list[dict]:
        """Completions of a search box's `text`, at most MAX_SUGGESTIONS (see `LocalReader.suggest`)."""
        return self.reader.suggest(text, min(k, MAX_SUGGESTIONS))

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
        return kept, {kept_id: [_summary(meta[o]) for o in others if o in meta] for kept_id, others in copies.items()}

    # -- related coverage ------------------------------------------------------------------------

    def related(self, article_id: str, k: int = 10, scope: str = "story") -> list[RelatedHit]:
        """Other coverage of `article_id`, best first, itself excluded, plus any near-identical
        copies of it, marked `near_duplicate` and not counted. `scope` "story": the other reports of
        the same story, at most `k`, possibly none; "similar": the `k` nearest articles, whatever
        their story. Scored by passage similarity, BM25 of the article's lead, and shared names and
        headline words (see search_api.related). Raises KeyError for an article not in the index."""
        from .related import SCOPES, related

        if scope not in SCOPES:
            raise SearchError(f"scope must be one of {', '.join(SCOPES)}, got '{scope}'")
        return related(self.reader, article_id, k, scope=scope)

    def story(self, article_id: str) -> dict:
        """The story `article_id` belongs to (search_api.stories): {"story_id", "articles"}, its
        reports oldest first, undated last, the article itself among them; near-identical copies
        are collapsed into one report (`also_published_in`), the article itself standing for its
        own. Raises KeyError for an article not in the index."""
        story_id = self.reader.story_of([article_id])[article_id]
        meta = self.reader.articles_meta(sorted(set(self.reader.story_members(story_id)) | {article_id}))
        if article_id not in meta:
            raise KeyError(article_id)
        own_group = meta[article_id]["duplicate_group"]
        ordered = sorted(meta.values(), key=lambda row: (not row["published"], row["published"], row["id"]))
        shown: dict[str, dict] = {own_group: meta[article_id]}  # the report of each group of copies
        for row in ordered:
            shown.setdefault(row["duplicate_group"], row)
        copies: dict[str, list[Copy]] = {}
        for row in ordered:
            if shown[row["duplicate_group"]] is not row:
                copies.setdefault(row["duplicate_group"], []).append(Copy(**_summary(row)))
        reports = [{**_summary(row), "also_published_in": copies.get(row["duplicate_group"], [])}
                   for row in ordered if shown[row["duplicate_group"]] is row]
        return {"story_id": story_id, "articles": reports}

    # -- articles --------------------------------------------------------------------------------

    def article(self, article_id: str) -> dict | None:
        """One article's metadata and cleaned text, or None if it is not in the index."""
        return self.reader.article(article_id)

    def stats(self) -> dict:
        """Counts, model, index type, sizes and the query backend (the JSON of `article-search stats`)."""
        return {**self.reader.stats(), "query_backend": self.encoder.backend}
