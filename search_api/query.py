"""What a query is before any index sees it: its words, the word being typed, its filters, and
the error for a query that cannot be answered. Shared by the `Searcher` (search_api.searcher) and
the index readers (search_api.readers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)
_PARTIAL_WORD = re.compile(r"\w+$", re.UNICODE)


class SearchError(ValueError):
    """A query or parameter the index cannot answer; the message says what to change."""


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
