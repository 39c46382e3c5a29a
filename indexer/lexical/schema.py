"""The lexical index's schema and analysis: its fields (`_schema`, opened by `_open`; `ARTICLE_KEY`
and `has_article_keys` for an index written before the key), how text is cut into terms (`_analyzer`,
`terms_of`: the same for passages and queries), what an article is counted under per facet
(`facet_values`) and how a date is stored (`day_number`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import tantivy


TOKENIZER = "news"
# Unstemmed words (lower-cased, accents folded) for suggestions, which show whole words.
WORDS_TOKENIZER = "news_words"
# Words longer than this are not words (URLs, hashes, run-together text); FTS5 kept them, to no use.
MAX_TOKEN_CHARS = 40
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


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


def has_article_keys(folder: Path) -> bool:
    """Whether the lexical index in `folder` counts articles by `ARTICLE_KEY` (its schema, in
    meta.json, has the field); False for one written before it, which counts them by the article
    id as text until `article-search index --repair` writes it anew from the database."""
    schema = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))["schema"]
    return any(entry["name"] == ARTICLE_KEY for entry in schema)


def exists(folder: Path) -> bool:
    """Whether `folder` holds a lexical index (tantivy raises for a folder that is not there)."""
    return Path(folder).is_dir() and tantivy.Index.exists(str(folder))
