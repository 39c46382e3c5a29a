"""The lexical index: BM25 over passage text and title, in tantivy. The only module that imports it.

    INDEX_DIR/lexical/   a tantivy index, one document per passage:
                         chunk_id (the passage's id everywhere), body (its article's title and its
                         text, stemmed), source (exact), day (the published date as YYYYMMDD, when
                         it is a date), article_key (a number naming its article, to count
                         articles; an index written before it has article, the article's id, as
                         text instead: `has_article_keys`), meta (JSON:
                         author and the article's other short metadata values, facets), words (title
                         and text unstemmed, for suggestions), title (unstemmed, on an article's
                         first passage only, for title suggestions)

    with LexicalWriter(index_dir / "lexical") as lexical:       # the index writer's side
        lexical.add(chunk_id=7, title="...", text="...", source="Reuters", published="2024-01-16")
        lexical.delete([3, 4])
        lexical.commit()

    reader = LexicalReader(index_dir / "lexical")                 # a searcher's side, pinned to one commit
    reader.search(["airline", "banned"], depth=300, source="Reuters")   # [(chunk_id, score), ...] best first
    reader.facets(["source", "year"], ["airline"], among=None)           # {"source": [("Reuters", 12), ...], ...}
    reader.suggest_terms("airl", 8), reader.suggest_titles([], "airl", 8)

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

import bisect
import json
import math
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import tantivy

from . import checksums

TOKENIZER = "news"
# Unstemmed words (lower-cased, accents folded) for suggestions, which show whole words.
WORDS_TOKENIZER = "news_words"
# Words longer than this are not words (URLs, hashes, run-together text); FTS5 kept them, to no use.
MAX_TOKEN_CHARS = 40
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
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
# Queries whose statistics a reader keeps (`LexicalReader.query_statistics`); all are forgotten
# when this many are kept (a few kB each).
QUERY_STATISTICS_KEPT = 1024
# tantivy's BM25 parameters (fixed in tantivy): term saturation and length normalisation.
BM25_K1, BM25_B = 1.2, 0.75
# Facets: a metadata field's name must be a word; its values are kept when short enough to be a
# label (a long text is not a value to count by), at most this many values of a list.
FACET_NAME = re.compile(r"^\w{1,64}$")
MAX_FACET_VALUE_CHARS = 100
MAX_FACET_LIST = 20
# Facets that are not metadata fields: "source" (its own field) and "year" (of the published day).
BUILT_IN_FACETS = ("source", "year")
# Articles, not passages, are counted per facet value: tantivy's cardinality aggregation of the
# article_key field (HyperLogLog: exact for small counts, an estimate for large ones; docs/api.md).
# A number, not the article's id as text: a text column's cardinality looks up each distinct
# article's id in the field's term dictionary per bucket, a number is hashed as it is read
# (docs/benchmarks.md "Facets over a numeric article key"). The key is the id of the article's
# first passage: a chunk id is never reused, so no two articles share one, and it is known before
# the article's row is written (the lexical index commits first).
ARTICLE_KEY = "article_key"
# What an index written before the key counts articles by (its article id, as text).
ARTICLE_ID_TEXT = "article"


def _analyzer(stem: bool = True) -> tantivy.TextAnalyzer:
    """Words split at anything not a letter or digit, lower-cased, accents folded, stemmed (English
    Snowball): the same analysis for passages and queries. Unstemmed for the start of a word
    being typed, whose stem is not yet known."""
    builder = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
               .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
               .filter(tantivy.Filter.lowercase())
               .filter(tantivy.Filter.ascii_fold()))
    return (builder.filter(tantivy.Filter.stemmer("english")) if stem else builder).build()


_STEMMER, _FOLDER = _analyzer(), _analyzer(stem=False)


def terms_of(text: str, stem: bool = True) -> set[str]:
    """The index terms of `text`, analysed as passages and queries are (unstemmed when `stem` is
    False, as the start of a word being typed is matched); each once.

    >>> sorted(terms_of("Bridges collapsed")), sorted(terms_of("Bridges", stem=False))
    (['bridg', 'collaps'], ['bridges'])
    """
    return set((_STEMMER if stem else _FOLDER).analyze(text))


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


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("chunk_id", stored=False, indexed=True, fast=True)
    builder.add_text_field("body", stored=False, tokenizer_name=TOKENIZER)
    builder.add_text_field("source", stored=False, tokenizer_name="raw", fast=True)
    builder.add_integer_field("day", stored=False, indexed=True, fast=True)
    builder.add_integer_field(ARTICLE_KEY, stored=False, indexed=False, fast=True)
    builder.add_json_field("meta", stored=False, tokenizer_name="raw", fast=True, index_option="basic")
    builder.add_text_field("words", stored=False, tokenizer_name=WORDS_TOKENIZER, index_option="basic")
    builder.add_text_field("title", stored=False, tokenizer_name=WORDS_TOKENIZER, index_option="freq")
    return builder.build()


def facet_values(author: str, metadata: dict | None) -> dict[str, str | list[str]]:
    """The values an article is counted under by facet name (see `LexicalReader.facets`): its
    author and each of its metadata fields whose name is a word and whose value is a short string,
    a number, a boolean, or a list of those; all as strings.

    >>> facet_values("Ann Lee", {"tags": ["oil", 7], "desk": "x" * 500, "a b": "c", "live": True})
    {'author': 'Ann Lee', 'tags': ['oil', '7'], 'live': 'true'}
    """
    values: dict[str, str | list[str]] = {}
    for name, value in [("author", author), *(metadata or {}).items()]:
        if not FACET_NAME.match(name) or name in BUILT_IN_FACETS:
            continue
        items = value[:MAX_FACET_LIST] if isinstance(value, list) else [value]
        kept = [text for text in map(_facet_value, items) if text]
        if kept:
            values[name] = kept if isinstance(value, list) else kept[0]
    return values


def _facet_value(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and len(value.strip()) <= MAX_FACET_VALUE_CHARS:
        return value.strip() or None
    return None


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


def _open(folder: Path, create: bool) -> tantivy.Index:
    """The index in `folder` with the schema it was written with (an index written before
    article_key keeps its article text field until rebuilt); with `create`, a new one when the
    folder holds none."""
    if create and not exists(folder):
        folder.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_schema(), path=str(folder), reuse=True)
    else:
        index = tantivy.Index.open(str(folder))
    index.register_tokenizer(TOKENIZER, _analyzer())
    index.register_tokenizer(WORDS_TOKENIZER, _analyzer(stem=False))
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


# The end of every file tantivy writes for a segment: a JSON footer holding the CRC-32 of the bytes
# before it, then the footer's length and this magic number, both little-endian u32.
FOOTER_MAGIC = 1337


def _footer_matches(path: Path, whole: bool = True) -> bool:
    """Whether the bytes of one tantivy segment file match the CRC-32 of its footer; with `whole`
    False, only whether its footer is there and readable (a server's open: a few bytes read)."""
    size = path.stat().st_size
    if size < 8:
        return False
    with open(path, "rb") as handle:
        handle.seek(size - 8)
        length, magic = struct.unpack("<II", handle.read(8))
        if magic != FOOTER_MAGIC or length + 8 > size:
            return False
        handle.seek(size - 8 - length)
        try:
            crc = json.loads(handle.read(length))["crc"]
        except (ValueError, KeyError, TypeError):
            return False
    return not whole or checksums.file_crc32(path, size - 8 - length) == crc


def has_article_keys(folder: Path) -> bool:
    """Whether the lexical index in `folder` counts articles by `ARTICLE_KEY` (its schema, in
    meta.json, has the field); False for one written before it, which counts them by the article
    id as text until `article-search index --repair` writes it anew from the database."""
    schema = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))["schema"]
    return any(entry["name"] == ARTICLE_KEY for entry in schema)


def _articles(field: str) -> dict:
    """The sub-aggregation that counts the articles of a bucket by `field` (see `ARTICLE_KEY`)."""
    return {"articles": {"cardinality": {"field": field}}}


def commit_files(folder: Path) -> list[Path]:
    """The files of the lexical index's current commit (the segments of its meta.json); raises
    OSError or ValueError when meta.json cannot be read."""
    folder = Path(folder)
    segments = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["segments"]
    prefixes = {segment["segment_id"].replace("-", "") for segment in segments}
    return [path for path in sorted(folder.iterdir()) if path.name.split(".", 1)[0] in prefixes]


def damaged_files(folder: Path, depth: str = "full") -> list[str]:
    """The files of the lexical index's current commit whose bytes do not match the CRC-32 that
    tantivy wrote in their footer, each named with why; [] when none. `depth` as for
    indexer.vectors.check_segment: "full" reads every file; "once" skips a file this process
    verified already; "sampled" (a server's open) reads only each footer, leaving the rest to the
    server's background check (`LexicalReader.verify`). A file found damaged is remembered
    (indexer.checksums) and fails every depth but "full"."""
    try:
        files = commit_files(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"meta.json cannot be read ({exc})"]
    damaged = []
    for path in files:
        try:
            if depth != "full" and checksums.is_damaged(path):
                good = False
            elif depth == "sampled":
                good = _footer_matches(path, whole=False)
            elif depth == "once":
                good = checksums.verified_once(path, "footer", _footer_matches)
            else:
                good = _footer_matches(path)
        except FileNotFoundError:  # merged away meanwhile: no longer part of the commit
            continue
        if not good:
            checksums.mark_damaged(path)
            damaged.append(f"{path.name} fails its checksum")
    return damaged

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


def exists(folder: Path) -> bool:
    """Whether `folder` holds a lexical index (tantivy raises for a folder that is not there)."""
    return Path(folder).is_dir() and tantivy.Index.exists(str(folder))


class LexicalWriter:
    """Adds and deletes passages; nothing is visible to readers until `commit`. One at a time per
    folder (the index writer's lock guards it)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.index = _open(self.folder, create=True)
        self._keyed = has_article_keys(self.folder)
        # One indexing thread: the model holds the cores while passages are written.
        self._writer = self.index.writer(heap_size=64_000_000, num_threads=1)

    def add(self, *, chunk_id: int, title: str, text: str, source: str = "", published: str = "",
            article_id: str = "", article_key: int | None = None, author: str = "", metadata: dict | None = None,
            position: int = 0) -> None:
        """One passage: `position` is its place in its article (the title is indexed for title
        suggestions with the first passage only, so that each article counts once); `article_key`,
        the chunk id of its article's first passage (`ARTICLE_KEY`; None: `chunk_id`, a passage
        that is an article of its own)."""
        fields = {"chunk_id": chunk_id, "body": f"{title}\n{text}", "words": f"{title}\n{text}", "source": source}
        if self._keyed:
            fields[ARTICLE_KEY] = chunk_id if article_key is None else article_key
        else:  # an index written before the key, until it is rebuilt
            fields[ARTICLE_ID_TEXT] = article_id
        if position == 0:
            fields["title"] = title
        day = day_number(published)
        if day is not None:
            fields["day"] = day
        document = tantivy.Document(**fields)
        document.add_json("meta", facet_values(author, metadata))
        self._writer.add_document(document)

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
            from .store import StoreError  # store imports this module

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


# A word as the simple tokenizer sees it: a run of letters and digits.
_TOKEN = re.compile(r"[^\W_]+")


class TermMarker:
    """Where the words a lexical search matches stand in a text: a word with the stem of one of
    `words`, one that starts with `prefix` (the word being typed; its stem too), and with `typos`
    one within `typo_budget` edits of a query word's stem, as the index compares them. Built once
    per query; needs no index, so it marks any text (titles, passages of any shard).

    >>> TermMarker(["collapse", "magnitogrosk"], "buil", typos=True).spans("Buildings collapsed in Magnitogorsk.")
    [[0, 9], [10, 19], [23, 35]]
    """

    def __init__(self, words: list[str], prefix: str | None = None, typos: bool = False):
        typed = words + ([prefix] if prefix else [])
        self._exact = {term for word in typed for term in _STEMMER.analyze(word)}
        self._near = [(term, set(term), typo_budget(word)) for word in typed for term in _STEMMER.analyze(word)
                      if typos and typo_budget(word)]
        start = "".join(_FOLDER.analyze(prefix or ""))
        self._prefix = start if len(start) >= 2 else None  # as `LexicalReader.completions`
        self._known: dict[str, bool] = {}

    def spans(self, text: str, offset: int = 0) -> list[list[int]]:
        """[[start, end], ...] of the matched words of `text`, character offsets plus `offset`."""
        found = list(_TOKEN.finditer(text))
        new = {m.group(0) for m in found} - self._known.keys()
        for word, (folded, stems) in _analysed(new).items():
            self._known[word] = (
                any(stem in self._exact for stem in stems)
                or (self._prefix is not None and (folded.startswith(self._prefix)
                                                  or any(stem.startswith(self._prefix) for stem in stems)))
                or any(within_edits(stem, term, budget, letters) for stem in stems for term, letters, budget in self._near))
        return [[offset + m.start(), offset + m.end()] for m in found if self._known[m.group(0)]]


# Stems of words seen in texts marked so far (a word's stem never changes): most words of a page
# were seen on the keystroke before. Emptied when it reaches this many words.
_STEMS: dict[str, list[str]] = {}
_STEMS_LIMIT = 100_000


def _analysed(words: set[str]) -> dict[str, tuple[str, list[str]]]:
    """Each word's folded form and its stems, as the index analyses it. Plain ASCII words are
    stemmed in one call (one token each), others one by one."""
    # Looked up once into a dict of this call: another thread (or this call) may empty the cache
    # between a lookup and the next.
    known = {word: stems for word in words if (stems := _STEMS.get(word)) is not None}
    missing = [word for word in words if word not in known]
    plain = [word for word in missing if word.isascii() and len(word) <= MAX_TOKEN_CHARS]
    stems = _STEMMER.analyze(" ".join(plain)) if plain else []
    if len(stems) != len(plain):  # not one token each after all: one by one below
        plain, stems = [], []
    fresh = {word: [stem] for word, stem in zip(plain, stems)}
    fresh.update({word: _STEMMER.analyze(word) for word in missing if word not in fresh})
    if len(_STEMS) + len(fresh) > _STEMS_LIMIT:
        _STEMS.clear()
    _STEMS.update(fresh)
    known.update(fresh)
    return {word: (word.lower() if word.isascii() else "".join(_FOLDER.analyze(word)), known[word])
            for word in words}


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


def distinct_words(reader: LexicalReader, words: list[str], prefix: str | None) -> int:
    """How many words `_words_condition` counts for a query (repeated terms once)."""
    seen = {tuple(reader.terms([w])) for w in words}
    return len(seen) + (1 if prefix else 0)


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


def scores_among(reader: LexicalReader, words: list[str], chunk_ids: Iterable[int], *, prefix: str | None = None,
                 typos: bool = False, collection: CollectionStats | None = None) -> dict[int, float]:
    """BM25 (as `search` scores it: any of the words) of those of `chunk_ids` that hold a query word."""
    chunk_ids = [int(i) for i in chunk_ids]
    own = reader.statistics(list(collection.doc_freqs)) if collection is not None else None
    query = reader._match_query(words, prefix, typos, collection, own)
    if query is None or not chunk_ids:
        return {}
    query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, tantivy.Query.const_score_query(
        tantivy.Query.term_set_query(reader.schema, "chunk_id", chunk_ids), 0.0))])
    hits = reader.searcher.search(reader._visible(query), len(chunk_ids), count=False).hits
    ids = reader.searcher.fast_field_values("chunk_id", [address for _, address in hits])
    return {int(chunk_id): float(score) for (score, _), chunk_id in zip(hits, ids)}


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
