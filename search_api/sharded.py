"""`ShardedReader`: the shards of a sharded index (see indexer.sharding) read as if they were one index.

    searcher = Searcher("index")           # over a ShardedReader when the index is sharded
    searcher.search("OPEC output quotas", k=5)

The ranking is `Searcher`'s own; this reader answers its questions by a fan-out to the shards and
a merge. Each shard is asked for its best `depth` candidates and the merge keeps the best `depth`
of all, so with exact FAISS indexes dense candidates are exactly those of one index. Lexical
candidates are scored in two phases, as Elasticsearch's DFS query-then-fetch: the shards report
their statistics for the query (`LexicalReader.query_statistics`: passages, each term's passages,
the passages of each typo'd word's near misses, their completions of a word being typed, their
passages' total length), then each scores its matches with the sum, so every word, near miss and
completion weighs what it weighs in the whole archive, and each shard scores its best candidates
again from their texts with the archive's average passage length (`LocalReader.lexical`), which
tantivy takes from no one but the shard. Near-duplicate
groups are found across all shards at index time (see indexer.sharding), so copies of a story in
different shards collapse into one result as they do in one index.

A chunk is named across shards by `local id * shard count + shard`. A shard is any index reader
(search_api.index_readers): a `LocalReader` in this process, or a remote one (search_api.ray_serve).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from itertools import zip_longest
from pathlib import Path

import numpy as np

from indexer import store
from indexer.lexical import CollectionStats
from indexer.partition import shard_of

from .query import Filters
from .index_readers import FACET_VALUES, LocalReader
from .schemas import SearchHit

# Threads that ask the shards; shared by all sharded readers (a server opens one per generation).
_SHARD_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="shard")


def _merge(lists: list[list[tuple[int, float]]], depth: int) -> list[tuple[int, float]]:
    """The best `depth` of several best-first candidate lists (ties by id, as within one index)."""
    merged = [pair for candidates in lists for pair in candidates]
    merged.sort(key=lambda pair: (-pair[1], pair[0]))
    return merged[:depth]


class ShardedReader:
    """Reads the `shards` of the sharded index at `index_dir` (its `manifest`) as one index."""

    def __init__(self, index_dir: str | Path, manifest: dict, shards: list):
        self.dir = Path(index_dir)
        self.manifest = manifest
        if "shards" not in self.manifest:
            raise store.StoreError(f"{self.dir} is not a sharded index")
        self.shards = shards
        self._count = len(shards)
        self._vectors = sum(self._each("vector_count"))
        self.generation = sum(self._each("generation"))

    @classmethod
    def open(cls, index_dir: str | Path, manifest: dict, previous: ShardedReader | None = None,
             held: bool = True) -> ShardedReader:
        """Open every shard in this process, each as a `LocalReader` (`previous` lends each shard's
        vector segments to the same shard's new reader; `held` as for indexer.store.Snapshot)."""
        names = manifest["shards"]["directories"]
        lent = getattr(previous, "shards", None) or [None] * len(names)
        shards = []
        try:
            for name, earlier in zip(names, lent):
                shards.append(LocalReader(Path(index_dir) / name, previous=earlier, held=held))
        except BaseException:
            for shard in shards:
                shard.close()
            raise
        return cls(index_dir, manifest, shards)

    # -- fan-out helpers ---------------------------------------------------------------------------

    def _each(self, method: str, *args, shards: list[int] | None = None) -> list:
        """`method(*args)` on every shard (or those numbered in `shards`), in parallel, in order.
        An attribute that is not callable is read instead."""
        def call(number: int):
            member = getattr(self.shards[number], method)
            return member(*args) if callable(member) else member

        numbers = range(self._count) if shards is None else shards
        return list(_SHARD_POOL.map(call, numbers))

    def _global(self, number: int, candidates: list[tuple[int, float]]) -> list[tuple[int, float]]:
        return [(chunk_id * self._count + number, score) for chunk_id, score in candidates]

    def _split(self, chunk_ids) -> dict[int, list[int]]:
        """Global chunk ids by shard, as each shard's own ids."""
        by_shard: dict[int, list[int]] = {}
        for chunk_id in chunk_ids:
            by_shard.setdefault(int(chunk_id) % self._count, []).append(int(chunk_id) // self._count)
        return by_shard

    def _by_owner(self, article_ids) -> dict[int, list[str]]:
        by_shard: dict[int, list[str]] = {}
        for article_id in article_ids:
            by_shard.setdefault(shard_of(article_id, self._count), []).append(article_id)
        return by_shard

    def _ask(self, method: str, groups: dict[int, list], *args) -> list:
        """`method(group, *args)` on each shard that has a group, in parallel; [(shard, answer), ...]."""
        numbers = list(groups)
        answers = list(_SHARD_POOL.map(lambda n: getattr(self.shards[n], method)(groups[n], *args), numbers))
        return list(zip(numbers, answers))

    # -- the reader's questions ------------------------------------------------------------------------

    @property
    def vector_count(self) -> int:
        return self._vectors

    @contextmanager
    def pinned(self):
        """Every shard in this process pinned to its generation for the block (a remote shard
        answers each call from its own current generation)."""
        with ExitStack() as stack:
            for shard in self.shards:
                if hasattr(shard, "pinned"):
                    stack.enter_context(shard.pinned())
            yield self

    def close(self) -> None:
        for shard in self.shards:
            shard.close()

    def verify(self) -> list[str]:
        """Every shard in this process's background check (LocalReader.verify)."""
        return [problem for shard in self.shards if hasattr(shard, "verify") for problem in shard.verify()]

    def probe_vectors(self) -> np.ndarray | None:
        # Through the pool like every call to a shard: a remote shard must not be waited on from
        # the thread of an event loop (a Ray Serve replica's constructor runs in one).
        return self._each("probe_vectors", shards=[0])[0]

    def dense(self, query_vector: np.ndarray, depth: int, filters: Filters = Filters()) -> list[tuple[int, float]]:
        answers = self._each("dense", query_vector, depth, filters)
        return _merge([self._global(n, answer) for n, answer in enumerate(answers)], depth)

    def lexical(self, query: str, depth: int, filters: Filters = Filters(),
                typos: bool = False) -> list[tuple[int, float]]:
        collection = self.lexical_statistics(query, typos)
        answers = self._each("lexical", query, depth, filters, collection, typos)
        return _merge([self._global(n, answer) for n, answer in enumerate(answers)], depth)

    def lexical_matching(self, query: str, depth: int, filters: Filters = Filters(), *, typos: bool = False,
                         minimum: int = 1, newest: bool | None = None) -> list[tuple[int, float]]:
        # Scored as one index (the shards' summed statistics, which also say which words are
        # typos), or merged by day for a date order.
        collection = self.lexical_statistics(query, typos)
        answers = list(_SHARD_POOL.map(lambda n: self.shards[n].lexical_matching(
            query, depth, filters, typos=typos, minimum=minimum, newest=newest, collection=collection),
            range(self._count)))
        merged = [pair for n, answer in enumerate(answers) for pair in self._global(n, answer)]
        if newest is False:  # oldest first: the smallest day first, undated (0) last
            merged.sort(key=lambda pair: (pair[1] == 0, pair[1], pair[0]))
            return merged[:depth]
        return _merge([merged], depth)

    def match_counts(self, query: str, names: list[str], filters: Filters, *, typos: bool, minimum: int | None,
                     among: list[int] | None) -> tuple[int, dict[str, list[dict]]]:
        # An article lives in one shard: totals and each value's count add up (a value outside a
        # shard's top FACET_VALUES is missing from that shard's part, as for `facet_counts`).
        local = self._split(among or [])
        collection = self.lexical_statistics(query, typos) if minimum is not None else None
        answers = list(_SHARD_POOL.map(lambda n: self.shards[n].match_counts(
            query, names, filters, typos=typos, minimum=minimum, among=local.get(n, []), collection=collection),
            range(self._count)))
        return sum(total for total, _ in answers), self._merged_counts(names, [counts for _, counts in answers])

    def facet_counts(self, query: str, names: list[str], filters: Filters, *, typos: bool, lexical: bool,
                     among: list[int] | None) -> dict[str, list[dict]]:
        # An article lives in one shard, so the shards' counts add up; a value outside a shard's
        # top FACET_VALUES is missing from that shard's part (counts are then low, as Elasticsearch's
        # terms aggregation across shards).
        local = self._split(among or [])
        answers = list(_SHARD_POOL.map(lambda n: self.shards[n].facet_counts(
            query, names, filters, typos=typos, lexical=lexical, among=local.get(n, []) if among is not None else None),
            range(self._count)))
        return self._merged_counts(names, answers)

    @staticmethod
    def _merged_counts(names: list[str], answers: list[dict[str, list[dict]]]) -> dict[str, list[dict]]:
        """The shards' facet counts summed per value, the FACET_VALUES most frequent of each facet."""
        merged = {}
        for name in names:
            totals: dict[str, int] = {}
            for answer in answers:
                for entry in answer.get(name, []):
                    totals[entry["value"]] = totals.get(entry["value"], 0) + entry["count"]
            ranked = sorted(totals.items(), key=lambda pair: (-pair[1], pair[0]))[:FACET_VALUES]
            merged[name] = [{"value": value, "count": count} for value, count in ranked]
        return merged

    def suggest(self, text: str, k: int = 8) -> list[dict]:
        # Each shard's best, taken in turn: terms first, each once, then titles.
        answers = self._each("suggest", text, k)
        turns = [entry for row in zip_longest(*answers) for entry in row if entry is not None]
        terms = list({entry["text"]: entry for entry in turns if entry["kind"] == "term"}.values())
        titles = [entry for entry in turns if entry["kind"] == "title"]
        half = min(len(terms), max(k - len(titles), (k + 1) // 2))
        return terms[:half] + titles[:k - half]

    def lexical_statistics(self, query: str, typos: bool = False) -> CollectionStats:
        statistics = self._each("lexical_statistics", query, typos)
        listed = sorted(set().union(*(shard.completions for shard in statistics)))
        if listed:
            # Each shard lists its own most frequent completions: every shard's passages of each
            # listed one count, or the most frequent of all would be picked from partial counts.
            for shard, counts in zip(statistics, self._each("term_statistics", listed)):
                shard.doc_freqs.update(counts.doc_freqs)
        return sum(statistics[1:], statistics[0])

    def passage_evidence(self, chunk_ids: list[int]) -> dict[int, tuple[str, np.ndarray]]:
        result: dict[int, tuple[str, np.ndarray]] = {}
        for number, answer in self._ask("passage_evidence", self._split(chunk_ids)):
            result.update({chunk_id * self._count + number: evidence for chunk_id, evidence in answer.items()})
        return result

    def article_of(self, chunk_ids: list[int]) -> dict[int, str]:
        result: dict[int, str] = {}
        for number, answer in self._ask("article_of", self._split(chunk_ids)):
            result.update({chunk_id * self._count + number: article for chunk_id, article in answer.items()})
        return result

    def hits(self, page, query_vector) -> list[SearchHit]:
        pages: dict[int, list] = {}
        for article_id, score, chunk_scores in page:
            local = [(chunk_id // self._count, chunk_score) for chunk_id, chunk_score in chunk_scores]
            pages.setdefault(shard_of(article_id, self._count), []).append((article_id, score, local))
        found: dict[str, SearchHit] = {}
        for _, answer in self._ask("hits", pages, query_vector):
            for hit in answer:
                found[hit.article_id] = hit
        return [found[article_id] for article_id, _, _ in page if article_id in found]

    def articles_meta(self, ids: list[str]) -> dict[str, dict]:
        result: dict[str, dict] = {}
        for _, answer in self._ask("articles_meta", self._by_owner(ids)):
            result.update(answer)
        return result

    def story_of(self, article_ids: list[str]) -> dict[str, str]:
        result: dict[str, str] = {}
        for _, answer in self._ask("story_of", self._by_owner(article_ids)):
            result.update(answer)
        return result

    def story_members(self, story_id: str) -> list[str]:
        return [article for members in self._each("story_members", story_id) for article in members]

    def chunk_texts(self, chunk_ids: list[int]) -> dict[int, str]:
        result: dict[int, str] = {}
        for number, answer in self._ask("chunk_texts", self._split(chunk_ids)):
            result.update({chunk_id * self._count + number: text for chunk_id, text in answer.items()})
        return result

    def chunk_vectors(self, article_ids: list[str]) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = {}
        for _, answer in self._ask("chunk_vectors", self._by_owner(article_ids)):
            result.update(answer)
        return result

    def nearest(self, vectors: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        depth = max(1, min(depth, self._vectors))
        scores, ids = [], []
        for number, (shard_scores, shard_ids) in enumerate(self._each("nearest", vectors, depth)):
            scores.append(shard_scores)
            ids.append(np.where(shard_ids >= 0, shard_ids * self._count + number, -1))
        scores, ids = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)

    def article(self, article_id: str) -> dict | None:
        return self.shards[shard_of(article_id, self._count)].article(article_id)

    def stats(self) -> dict:
        per_shard = self._each("stats")
        first = per_shard[0]
        total = {key: sum(shard[key] for shard in per_shard) for key in ("articles", "passages", "vectors")}
        sizes: dict[str, int] = {}
        for shard in per_shard:
            for name, size in shard["bytes"].items():
                sizes[name] = sizes.get(name, 0) + size
        return {**first, **total, "generation": self.generation, "bytes": sizes,
                "sources": sorted({source for shard in per_shard for source in shard["sources"]}),
                "index_dir": str(self.dir.resolve()),
                "shards": [{key: shard[key] for key in ("index_dir", "articles", "passages", "vectors", "index_type")}
                           for shard in per_shard]}
