"""What a query is before any index sees it: its words, the word being typed, its filters, the
modes, sorts and facets it may ask for, and the error for a query that cannot be answered. Shared
by the `Searcher` (search_api.searcher), the index readers (search_api.index_readers), the HTTP schemas
(search_api.schemas) and the command line (search_api.cli)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from indexer.lexical import FACET_NAME
from indexer.words import WORD

_PARTIAL_WORD = re.compile(r"\w+$", re.UNICODE)


Mode = Literal["hybrid", "dense", "lexical"]
Sort = Literal["relevance", "newest", "oldest"]
MODES: tuple[str, ...] = get_args(Mode)
SORTS: tuple[str, ...] = get_args(Sort)
FUSIONS = ("rrf", "linear")  # how hybrid merges its two rankings (search_api.fusion)
# Facets one query may ask for.
MAX_FACETS = 10


class SearchError(ValueError):
    """A query or parameter the index cannot answer; the message says what to change."""


def facet_list(text: str) -> list[str]:
    """The field names of a comma-separated list ("source, author,year"), blanks left out;
    SearchError when it names none. `checked_facets` checks the names."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise SearchError("give field names separated by commas, such as source,author,year")
    return names


def checked_facets(names: list[str]) -> list[str]:
    """`names` without repeats, in order; SearchError when they are more than MAX_FACETS or one
    is not a field name (a word of at most 64 characters, indexer.lexical.FACET_NAME)."""
    names = list(dict.fromkeys(names))
    if len(names) > MAX_FACETS or not all(FACET_NAME.match(name) for name in names):
        raise SearchError(f"facets must be up to {MAX_FACETS} field names (letters, digits, _), "
                          f"such as source,author,year; got {','.join(names)!r}")
    return names


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


# Function words left out of lexical queries (unless a query has nothing else): BM25 gives them
# almost no weight, yet their posting lists make every query score most of the archive.
STOPWORDS = frozenset("""a about after all also an and any are as at be been before but by can could did do does
for from had has have he her his how i if in into is it its just more most my no not of on or our out over said
she so some than that the their them then there these they this those to up was we were what when where which
while who whom why will with would you your""".split())


def query_words(text: str) -> list[str]:
    """The distinct words of a query, lower-cased, stopwords left out unless nothing else is left."""
    words = list(dict.fromkeys(WORD.findall(text.lower())))
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
