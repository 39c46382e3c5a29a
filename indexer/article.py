"""`Article`: one news article as it goes into the index, and how it gets a stable id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


MAX_ARTICLE_CHARS = 1_000_000  # the most text an article may have: the default of --max-article-chars


@dataclass
class Article:
    """One article after reading, before cleaning.

    `text` is the body as read; `metadata` holds every input field that is not one of the
    recognised ones (kept and returned by the API, never searched).
    """

    id: str
    title: str
    text: str
    url: str = ""
    published: str = ""
    author: str = ""
    source: str = ""
    metadata: dict = field(default_factory=dict)
    origin: str = ""  # where it was read from ("file.jsonl:12"), for messages only

    def content_hash(self) -> str:
        """A hash of everything that is indexed, so a re-run can tell unchanged from changed."""
        payload = json.dumps(
            [self.title, self.text, self.url, self.published, self.author, self.source, self.metadata],
            sort_keys=True,
            ensure_ascii=False,
        )
        # surrogatepass: a lone surrogate (which readers refuse) must not make hashing raise.
        return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def stable_id(url: str = "", text: str = "", title: str = "") -> str:
    """An id for an article that came without one: from its URL, else from its content.

    The same input always gives the same id, so re-indexing a file finds the articles it already
    holds instead of adding copies.
    """
    if url.strip():
        return "u" + hashlib.sha1(url.strip().encode("utf-8")).hexdigest()[:16]
    digest = hashlib.sha1((title.strip() + "\n" + text.strip()).encode("utf-8")).hexdigest()
    return "c" + digest[:16]


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y",
                 "%d-%b-%Y", "%d/%m/%Y", "%A, %B %d, %Y")


def normalize_date(value: str) -> str:
    """An ISO 8601 date (YYYY-MM-DD) for a published date in a common format, so date filters
    compare like with like; a value that is not a date we recognise is returned unchanged.

    >>> normalize_date("Friday, January 4, 2019"), normalize_date("2024-01-16T10:00:00Z")
    ('2019-01-04', '2024-01-16')
    """
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    value = value.strip()
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        pass
    # Reuters style "26-FEB-1987 15:01:01.79": keep the day.
    head = value.split(" ")[0]
    for fmt in ("%d-%b-%Y", "%d-%B-%Y"):
        try:
            return datetime.strptime(head, fmt).date().isoformat()
        except ValueError:
            continue
    return value
