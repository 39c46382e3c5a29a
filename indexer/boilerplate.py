"""Boilerplate learned from the archive itself: a line that recurs across many of one source's stories
is that source's template (menu, pitch, notice, "READ MORE: <headline>"), not news.

For every source (the `source` field, else the URL's domain) the index counts, per normalised line,
in how many of the source's distinct stories it occurs. A line is learned boilerplate once it occurs
in at least `MIN_STORIES` stories AND in at least `MIN_SHARE` of all the source's stories: a template
recurs across most stories of a source, while a quote that several stories carry recurs in a few.
A story is counted once however often it arrives: a copy with the same text under another id, or
an update of an id already counted, adds nothing (see `LearnedBoilerplate.observe`).

    >>> learned = LearnedBoilerplate()
    >>> for n in range(6):
    ...     _ = learned.observe("Daily", f"id{n}", f"Story {n} text.\\nCopyright 201{n} The Daily. All rights reserved.")
    >>> learned.is_boilerplate("Daily", "Copyright 2024 The Daily. All rights reserved.")
    True
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Chosen by the sweep in docs/quality.md ("Cleaning"): the smallest values that keep every story
# line of the dev set while removing the templates of sources seen a handful of times.
MIN_STORIES = 3
MIN_SHARE = 0.2

SCHEMA = """
CREATE TABLE IF NOT EXISTS learned_lines (
    source TEXT NOT NULL, key INTEGER NOT NULL, stories INTEGER NOT NULL, PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS boilerplate_stories (
    source TEXT NOT NULL, story TEXT NOT NULL, PRIMARY KEY (source, story)
) WITHOUT ROWID;
"""

_WORD = re.compile(r"\w+")
_SHORT_LINE_WORDS = 6
# A short label ending in a colon ("READ MORE:", "Related:", "ALSO READ:") before the rest of the line.
_LABEL = re.compile(r"^([^:.!?\"“”]{1,30}):\s*(\S.*)$")
# Headlines may ask ("Have hackers recruited your PC?"); a paragraph ends with a full stop.
_SENTENCE_END = re.compile(r"[.!…][\"'’”)\]]*$")


def source_of(source: str, url: str) -> str:
    """The name boilerplate is learned under: `source`, else the URL's host without 'www.', else ''."""
    if source.strip():
        return source.strip()
    host = urlsplit(url.strip()).hostname or ""
    return host.removeprefix("www.")


def normalise(line: str) -> str:
    """A line as counted: case, compatibility forms, years, runs of spaces and punctuation at the
    ends do not matter ("© Gazette 2020" is "© Gazette 2021"), nor any number in a short line
    ("5 min read"). Other numbers do: stories that differ only in their figures (a daily market
    report, "Report 3 ...") are different stories."""
    line = unicodedata.normalize("NFKC", line).casefold()
    line = re.sub(r"\b(?:19|20)\d\d\b", "0", line)
    if len(_WORD.findall(line)) <= _SHORT_LINE_WORDS:
        line = re.sub(r"\d+", "0", line)
    return re.sub(r"\s+", " ", line).strip(" \t.,;:!?-–—|•·")


def headline_like(line: str) -> bool:
    """A short line that is not a sentence: a headline, a link text, a menu entry."""
    words = len(_WORD.findall(line))
    return 0 < words <= 16 and not _SENTENCE_END.search(line.strip())


def line_keys(line: str) -> list[int]:
    """What is counted for a line: the whole normalised line, and for "LABEL: <headline>" also the
    label, so that "READ MORE: <a different headline each time>" is learned by its label. Each as a
    64-bit hash: the index stores 8 bytes per distinct line, not the line."""
    line = line.strip()
    if not line:
        return []
    names = ["line:" + normalise(line)]
    label = _LABEL.match(line)
    if label and len(_WORD.findall(label.group(1))) <= 4 and headline_like(label.group(2)):
        names.append("label:" + normalise(label.group(1)))
    return [int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
            for name in names]


def story_key(text: str) -> str:
    """The identity of a story's text for counting: the same words in the same order, whatever the
    spacing, case or id it arrives under."""
    return "text:" + hashlib.blake2b(" ".join(_WORD.findall(text.casefold())).encode(), digest_size=12).hexdigest()


@dataclass
class SourceCounts:
    """What is known of one source: its distinct stories and, per line key, how many of them hold it."""

    stories: set[str] = field(default_factory=set)
    lines: dict[int, int] = field(default_factory=dict)
    articles: int = 0  # distinct stories counted


class LearnedBoilerplate:
    """Per-source line counts, in memory; `load` and `observe`'s returned delta keep them in SQLite.

    `observe(source, article_id, text)` counts one article's lines (once per distinct story);
    `is_boilerplate(source, line)` says whether a line is learned template of that source."""

    def __init__(self, conn: sqlite3.Connection | None = None, min_stories: int = MIN_STORIES,
                 min_share: float = MIN_SHARE):
        self.conn = conn  # read lazily, one source at a time (a large archive has many sources)
        self.min_stories = min_stories
        self.min_share = min_share
        self._sources: dict[str, SourceCounts] = {}
        self._known: dict[str, set[int]] = {}  # per source, the keys learned when last checked (see grown_sources)

    def _counts(self, source: str) -> SourceCounts:
        counts = self._sources.get(source)
        if counts is None:
            counts = self._sources[source] = SourceCounts()
            if self.conn is not None:
                counts.stories = {row[0] for row in self.conn.execute(
                    "SELECT story FROM boilerplate_stories WHERE source = ?", (source,))}
                counts.articles = sum(1 for story in counts.stories if story.startswith("text:"))
                counts.lines = dict(self.conn.execute(
                    "SELECT key, stories FROM learned_lines WHERE source = ?", (source,)))
            self._known[source] = self._learned_keys(source)
        return counts

    def _learned_keys(self, source: str) -> set[int]:
        counts = self._sources[source]
        needed = max(self.min_stories, self.min_share * counts.articles)
        return {key for key, stories in counts.lines.items() if stories >= needed}

    def grown_sources(self) -> list[str]:
        """The sources that learned a line since they were loaded or last returned here: their
        articles indexed before may hold lines now known to be boilerplate."""
        grown = []
        for source, known in self._known.items():
            learned = self._learned_keys(source)
            if learned - known:
                grown.append(source)
            self._known[source] = learned
        return grown

    def observe(self, source: str, article_id: str, text: str) -> list[tuple[str, str]]:
        """Count the lines of one article of `source`, unless its story is counted already (the
        same text under any id, or an earlier version of this id). Returns the rows it added to
        `boilerplate_stories` (for `save`), empty when nothing was counted."""
        counts = self._counts(source)
        text_key, id_key = story_key(text), "id:" + article_id
        if text_key in counts.stories or id_key in counts.stories:
            return []
        counts.stories.update((text_key, id_key))
        counts.articles += 1
        for key in {key for line in text.split("\n") for key in line_keys(line)}:
            counts.lines[key] = counts.lines.get(key, 0) + 1
        return [(source, text_key), (source, id_key)]

    def save(self, conn: sqlite3.Connection, observed: list[tuple[str, str]], text: str) -> None:
        """Write one observed article's counts into `conn` (inside the caller's transaction): only
        the rows of its own lines change."""
        if not observed:
            return
        conn.executemany("INSERT OR IGNORE INTO boilerplate_stories VALUES (?, ?)", observed)
        source = observed[0][0]
        conn.executemany("INSERT INTO learned_lines VALUES (?, ?, 1) ON CONFLICT(source, key) "
                         "DO UPDATE SET stories = stories + 1",
                         [(source, key) for key in {key for line in text.split("\n") for key in line_keys(line)}])

    def is_boilerplate(self, source: str, line: str) -> bool:
        """Whether `line` (or its "LABEL:") recurs in enough of `source`'s stories to be template."""
        counts = self._counts(source)
        needed = max(self.min_stories, self.min_share * counts.articles)
        return any(counts.lines.get(key, 0) >= needed for key in line_keys(line))

    def for_source(self, source: str):
        """A predicate `line -> bool` for `clean_text(raw, learned=...)`."""
        return lambda line: self.is_boilerplate(source, line)
