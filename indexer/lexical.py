"""The lexical index: BM25 over passage text and title, in tantivy. The only module that imports it.

    INDEX_DIR/lexical/   a tantivy index, one document per passage:
                         chunk_id (the passage's id everywhere), body (its article's title and its
                         text, stemmed), source (exact), day (the published date as YYYYMMDD, when
                         it is a date)

    with LexicalWriter(index_dir / "lexical") as lexical:       # the index writer's side
        lexical.add(chunk_id=7, title="...", text="...", source="Reuters", published="2024-01-16")
        lexical.delete([3, 4])
        lexical.commit()

    reader = LexicalReader(index_dir / "lexical")                 # a searcher's side, pinned to one commit
    reader.search(["airline", "banned"], depth=300, source="Reuters")   # [(chunk_id, score), ...] best first

Why tantivy: its top-k skips the blocks of postings that cannot reach the top (block-max WAND), so
a query costs what it retrieves, not every passage that shares a word with it; SQLite FTS5 scored
every match (1M passages: p50 253 ms against 2.8 ms, docs/benchmarks.md "Lexical engines").
Filters are indexed fields, so a filtered query does not scan either.

Title and text are one field, so a word scores once whichever of the two holds it, against the
length of both: SQLite FTS5's bm25() with the title column at weight 1, the measured best
(docs/quality.md). On squad-dev-a's 5,665 questions this gives lexical recall@5 .9407 against
FTS5's .9398; scoring title and text as two fields, as tantivy's query parser would, gave .9313.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import tantivy

TOKENIZER = "news"
# Words longer than this are not words (URLs, hashes, run-together text); FTS5 kept them, to no use.
MAX_TOKEN_CHARS = 40
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def _analyzer() -> tantivy.TextAnalyzer:
    """Words split at anything not a letter or digit, lower-cased, accents folded, stemmed (English
    Snowball): the same analysis for passages and queries."""
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .filter(tantivy.Filter.stemmer("english"))
            .build())


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("chunk_id", stored=False, indexed=True, fast=True)
    builder.add_text_field("body", stored=False, tokenizer_name=TOKENIZER)
    builder.add_text_field("source", stored=False, tokenizer_name="raw", fast=True)
    builder.add_integer_field("day", stored=False, indexed=True, fast=True)
    return builder.build()


def day_number(date: str) -> int | None:
    """20240116 for a date that starts "2024-01-16" (how the index stores dates), else None.

    >>> day_number("2024-01-16T10:00:00Z"), day_number("yesterday")
    (20240116, None)
    """
    match = _ISO_DAY.match(date or "")
    return int("".join(match.groups())) if match else None


@dataclass
class CollectionStats:
    """BM25's collection statistics for some terms: passages in all, and passages holding each term,
    both counted as tantivy's BM25 counts them (a deleted passage counts until a merge drops it)."""

    passages: int
    doc_freqs: dict[str, int]

    def __add__(self, other: CollectionStats) -> CollectionStats:
        terms = self.doc_freqs.keys() | other.doc_freqs.keys()
        return CollectionStats(self.passages + other.passages,
                               {t: self.doc_freqs.get(t, 0) + other.doc_freqs.get(t, 0) for t in terms})

    def idf(self, term: str) -> float:
        """tantivy's BM25 idf: ln(1 + (N - n + 0.5) / (n + 0.5))."""
        n = self.doc_freqs.get(term, 0)
        return math.log1p((self.passages - n + 0.5) / (n + 0.5))


def _open(folder: Path, create: bool) -> tantivy.Index:
    if create:
        folder.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_schema(), path=str(folder), reuse=True)
    else:
        index = tantivy.Index.open(str(folder))
    index.register_tokenizer(TOKENIZER, _analyzer())
    return index


def _explained(explanation: dict, description: str) -> float | None:
    """The value of the first part of a tantivy score explanation whose description starts so."""
    if explanation.get("description", "").startswith(description):
        return explanation["value"]
    for detail in explanation.get("details", []):
        value = _explained(detail, description)
        if value is not None:
            return value
    return None


def exists(folder: Path) -> bool:
    """Whether `folder` holds a lexical index (tantivy raises for a folder that is not there)."""
    return Path(folder).is_dir() and tantivy.Index.exists(str(folder))


class LexicalWriter:
    """Adds and deletes passages; nothing is visible to readers until `commit`. One at a time per
    folder (the index writer's lock guards it)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.index = _open(self.folder, create=True)
        # One indexing thread: the model holds the cores while passages are written.
        self._writer = self.index.writer(heap_size=64_000_000, num_threads=1)

    def add(self, *, chunk_id: int, title: str, text: str, source: str = "", published: str = "") -> None:
        fields = {"chunk_id": chunk_id, "body": f"{title}\n{text}", "source": source}
        day = day_number(published)
        if day is not None:
            fields["day"] = day
        self._writer.add_document(tantivy.Document(**fields))

    def delete(self, chunk_ids: Iterable[int]) -> None:
        for chunk_id in chunk_ids:
            self._writer.delete_documents_by_term("chunk_id", int(chunk_id))

    def delete_all(self) -> None:
        self._writer.delete_all_documents()

    def commit(self) -> None:
        """Make every add and delete so far durable and visible to readers opened after this."""
        self._writer.commit()

    def close(self) -> None:
        """Wait for background merges, so no thread writes the folder after the lock is let go."""
        self._writer.wait_merging_threads()

    def __enter__(self) -> LexicalWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LexicalReader:
    """Searches the commit that was the newest when it was opened: later commits are not seen, and
    the files of the commit it holds are kept until it is gone (tantivy's segments are immutable)."""

    def __init__(self, folder: str | Path):
        self.index = _open(Path(folder), create=False)
        self.schema = self.index.schema
        self.searcher = self.index.searcher()
        self._analyzer = _analyzer()

    @property
    def passages(self) -> int:
        return self.searcher.num_docs

    def terms(self, words: Iterable[str]) -> list[str]:
        """The index terms of query words, each once, in order."""
        return list(dict.fromkeys(token for word in words for token in self._analyzer.analyze(word)))

    def statistics(self, terms: list[str]) -> CollectionStats:
        """How many passages this index holds and how many hold each of `terms` (analysed terms,
        see `terms`): the first phase of a search over several indexes (shards)."""
        return CollectionStats(self._scored_passages, {t: self.searcher.doc_freq("body", t) for t in terms})

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

    def search(self, words: list[str], depth: int, *, source: str | None = None, date_from: str | None = None,
               date_to: str | None = None, collection: CollectionStats | None = None) -> list[tuple[int, float]]:
        """The `depth` best passages for any of `words` by BM25, as (chunk_id, score), best first.
        Filters restrict without scoring: `source` exactly, `date_from`/`date_to` as inclusive ISO
        days (a passage without a date never passes one). `collection`, the summed statistics of
        several indexes, makes each word weigh what it weighs in all of them together."""
        terms = self.terms(words)
        if not terms:
            return []
        own = self.statistics(terms) if collection is not None else None
        should = []
        for term in terms:
            query = tantivy.Query.term_query(self.schema, "body", term)
            if collection is not None and own.doc_freqs[term]:
                # BM25 is idf × a term-frequency part, so this boost swaps this index's idf for
                # the collection's; only the average passage length stays this index's own.
                query = tantivy.Query.boost_query(query, collection.idf(term) / own.idf(term))
            should.append((tantivy.Occur.Should, query))
        query = tantivy.Query.boolean_query(should)
        restrictions = self._filters(source, date_from, date_to)
        if restrictions:
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query)] +
                [(tantivy.Occur.Must, tantivy.Query.const_score_query(r, 0.0)) for r in restrictions])
        hits = self.searcher.search(query, depth, count=False).hits
        ids = self.searcher.fast_field_values("chunk_id", [address for _, address in hits])
        return [(int(chunk_id), float(score)) for (score, _), chunk_id in zip(hits, ids)]

    def count(self, *, source: str | None = None, date_from: str | None = None, date_to: str | None = None) -> int:
        """How many passages pass the filters (all passages when none is given)."""
        restrictions = self._filters(source, date_from, date_to)
        if not restrictions:
            return self.passages
        return self.searcher.search(self._all_of(restrictions), 1, count=True).count

    def passing(self, limit: int, *, among: Iterable[int] | None = None, source: str | None = None,
                date_from: str | None = None, date_to: str | None = None) -> list[int]:
        """Up to `limit` chunk ids of passages that pass the filters, of `among` when given: the
        filters' one implementation, for the dense side as for the lexical one."""
        restrictions = self._filters(source, date_from, date_to)
        if among is not None:
            restrictions.append(tantivy.Query.term_set_query(self.schema, "chunk_id", [int(i) for i in among]))
        if not restrictions or limit <= 0:
            return []
        hits = self.searcher.search(self._all_of(restrictions), limit, count=False).hits
        return [int(i) for i in self.searcher.fast_field_values("chunk_id", [address for _, address in hits])]

    @staticmethod
    def _all_of(restrictions: list[tantivy.Query]) -> tantivy.Query:
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.const_score_query(r, 0.0))
                                            for r in restrictions])

    def _filters(self, source: str | None, date_from: str | None, date_to: str | None) -> list[tantivy.Query]:
        restrictions = []
        if source:
            restrictions.append(tantivy.Query.term_query(self.schema, "source", source))
        low, high = day_number(date_from or ""), day_number(date_to or "")
        if low is not None or high is not None:
            restrictions.append(tantivy.Query.range_query(self.schema, "day", tantivy.FieldType.Integer, low, high))
        return restrictions
