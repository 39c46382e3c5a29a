"""Boilerplate learned from the archive itself: a line that recurs across many of one source's stories
is that source's template (menu, pitch, notice, "READ MORE: <headline>", "Reporting by <a name>"),
not news.

For every source (the `source` field, else the URL's domain) the index counts, per line key, in how
many of the source's distinct stories it occurs. A line's keys are the whole normalised line, its
label ("READ MORE:") when the rest is a headline, its shape ("reporting by *") when it is a
short formula around a slot: a name, a number, a date, or one changing word such as a section (see
`shapes_of`), and its edge shapes when it is a byline or label with fewer fixed words ("Rosa Park,
Lagos" -> "* , *", see `edge_shapes`), which remove a line at a story's head and tail only. A key
is learned boilerplate once it occurs in at least `MIN_STORIES` stories AND in at least `MIN_SHARE` of all the source's
stories: a template recurs across most stories of a source, while a quote that several stories
carry recurs in a few. A line or label is removed anywhere; a shape at the head and tail of a
story, where credits stand, and elsewhere only from a line that is no sentence (`SourceLines`). A
story is counted once however often it arrives: a copy with the same text under another id, or an
update of an id already counted, adds nothing (see `LearnedBoilerplate.observe`).

Every write costs its own article: counts are read per key through the tables' primary keys, and
each source keeps a running count of its stories (`boilerplate_sources`), so nothing reads a whole
source. Each source also has a template version, raised whenever one of its keys becomes learned;
every article records the version it was cleaned with (`cleaned_with`), so that the articles to
clean again are those below their source's version, whichever run learned the line.

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

from . import catalog
from .words import WORD

# Chosen by the sweep in docs/quality.md ("Cleaning"): the smallest values that keep every story
# line of the dev set while removing the templates of sources seen a handful of times.
MIN_STORIES = 3
MIN_SHARE = 0.2

_SHORT_LINE_WORDS = 6
# A short label ending in a colon ("READ MORE:", "Related:", "ALSO READ:") before the rest of the line.
_LABEL = re.compile(r"^([^:.!?\"“”]{1,30}):\s*(\S.*)$")
# Headlines may ask ("Have hackers recruited your PC?"); a paragraph ends with a full stop.
_SENTENCE_END = re.compile(r"[.!…][\"'’”)\]]*$")
# A shape is a formula: a few fixed words around a slot. A line of more words, or whose fixed part
# runs longer, is prose, which may repeat a phrase with a new name ("The council of X voted ...").
# The limits were measured (docs/quality.md, "Templates with a slot"): more fixed words learn more
# credits; none of the story lines of the dev, stress, held-out and retrieval sets is lost at 8.
_SHAPE_MAX_WORDS = 16
_SHAPE_FIXED_WORDS = (2, 8)
_SHAPE_SEPARATED_WORDS = 8  # a line of names and dates between separators: "Jane Doe | March 3, 2004"
# Lines of at most this many words also get shapes with one more slot (`_one_word_slots`): the
# held-out credits and section lines run to 8; every word more adds keys (Reuters-21578, one source,
# counted rows: 433k with no such shapes, 559k up to 8 words, 926k up to 16; docs/quality.md).
_ONE_WORD_SLOT_WORDS = 8
_SEPARATORS = {"|", "·", "•", ">", "›", "/", "—", "–"}
_SHAPE_TOKEN = re.compile(r"@?[^\W_][\w'’.@-]*|[|·•>›/—–]")
_QUOTES = re.compile(r"[\"“”«»„]")
# Words that a title-cased line capitalises without their being names; "and" joins two names.
# Pronouns start sentences ("He said so."), not names.
_FUNCTION_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "from", "he", "her", "his", "i", "if", "in",
                   "it", "its", "of", "on", "or", "our", "she", "that", "the", "their", "there", "these", "they",
                   "this", "those", "to", "we", "when", "with", "you", "your"}
_JOINS = {"and", "&", "de", "van", "von", "der", "da", "al", "bin"}


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
    if len(WORD.findall(line)) <= _SHORT_LINE_WORDS:
        line = re.sub(r"\d+", "0", line)
    return re.sub(r"\s+", " ", line).strip(" \t.,;:!?-–—|•·")


def headline_like(line: str) -> bool:
    """A short line that is not a sentence: a headline, a link text, a menu entry."""
    words = len(WORD.findall(line))
    return 0 < words <= 16 and not _SENTENCE_END.search(line.strip())


def _is_slot(word: str) -> bool:
    """Whether a word is a changing part: a number, an address or handle, or a capitalised word
    that is not a function word (a name, a place, a month)."""
    if any(c.isdigit() for c in word) or "@" in word:
        return True
    return word[0].isupper() and word.casefold() not in _FUNCTION_WORDS


def _parts(tokens: list[str], first_is_slot: bool) -> list[str]:
    """The line's fixed words (casefolded) and separators, every run of slots as one "*"."""
    parts: list[str] = []
    for i, token in enumerate(tokens):
        if token in _SEPARATORS:
            parts.append(token)
        elif _is_slot(token) if i or first_is_slot else token[0].isdigit() or "@" in token:
            if len(parts) > 1 and parts[-1] in _JOINS and parts[-2] == "*":  # "<name> and <name>": one slot
                parts.pop()
            if not parts or parts[-1] != "*":
                parts.append("*")
        else:
            parts.append(token.casefold())
    return parts


def _shape(parts: list[str], tokens: int) -> str | None:
    """The shape the parts of a line of `tokens` tokens make, None when they are no formula (see
    `shapes_of`)."""
    fixed = sum(part != "*" and part not in _SEPARATORS for part in parts)
    separated = any(part in _SEPARATORS for part in parts) and tokens <= _SHAPE_SEPARATED_WORDS
    if "*" not in parts or fixed > _SHAPE_FIXED_WORDS[1] or (fixed < _SHAPE_FIXED_WORDS[0] and not separated):
        return None
    return " ".join(parts)


def _one_word_slots(parts: list[str], tokens: int) -> list[str]:
    """The shapes with one more slot: a fixed word that is no function word and touches no slot
    ("More sport news from the <outlet>" -> "more * news from the *", "<name> is a business
    correspondent" -> "* is a * correspondent"), so that a section or a beat that changes from
    story to story is a slot too. Only for a formula around a slot already (or in capitals): a
    story's phrase with no name in it ("the company said.") gets no slot ("the * said"). A word
    next to a slot would only widen it: "* mln vs *" would become "* vs *", which fits the
    figures of every results table ("Net 1.1 mln vs 829,000").
    Each keeps a fixed word that is no function word, and the limits of any shape."""
    shapes = []
    for i, part in enumerate(parts):
        if part in _FUNCTION_WORDS or part in _SEPARATORS or "*" in parts[max(i - 1, 0):i + 2]:
            continue
        slotted = parts[:i] + ["*"] + parts[i + 1:]
        content = any(p not in _FUNCTION_WORDS | _SEPARATORS | {"*"} for p in slotted)
        if content and (shape := _shape(slotted, tokens)):
            shapes.append(shape)
    return shapes


def shapes_of(line: str) -> list[str]:
    """The line's shapes: its fixed words and separators, with every run of names, numbers and
    dates as one slot ("Reporting by Priya Nair and Tom Ode" -> "reporting by *", "Jane Doe |
    March 3, 2004" -> "* | *"), and the same with one more fixed word as a slot (see
    `_one_word_slots`). A capitalised first word may be fixed ("Reporting") or a name ("Oslo
    bureau"), so there are two shapes when it is capitalised. In an all-capitals line no word can be
    told for a name, so its words are fixed and only the one-word slots count ("WESTGATE WIRE —
    BUSINESS" -> "westgate wire — *"). None for a line that is no formula: no slot, more than 8
    fixed words, fewer than 2 without a separator, more than 16 words, or a quotation (a quote with
    a new speaker each time stays a quote)."""
    line = unicodedata.normalize("NFKC", line.strip())
    capitals = not any(c.islower() for c in line)
    tokens = [token.rstrip(".'’-") for token in _SHAPE_TOKEN.findall(line.casefold() if capitals else line)]
    words = [token for token in tokens if token not in _SEPARATORS]
    if not words or len(words) > _SHAPE_MAX_WORDS or _QUOTES.search(line):
        return []
    shapes = []
    for first in (False, True) if _is_slot(words[0]) and not tokens[0][0].isdigit() else (False,):
        parts = _parts(tokens, first)
        shapes += [shape for shape in [_shape(parts, len(tokens))] if shape is not None and not capitals]
        if len(words) <= _ONE_WORD_SLOT_WORDS and ("*" in parts or capitals):
            shapes += _one_word_slots(parts, len(tokens))
    return list(dict.fromkeys(shapes))


def _name_only(segment: str) -> bool:
    """Whether a part of a line is a name or a place alone: at most 4 words, every one a slot."""
    tokens = [token.rstrip(".'’-") for token in _SHAPE_TOKEN.findall(segment)]
    return 0 < len(tokens) <= 4 and _parts(tokens, True) == ["*"]


def edge_shapes(line: str) -> list[str]:
    """Shapes of furniture with too few fixed words to be a shape anywhere, learned like shapes but
    removing a line only at a story's head and tail, where bylines and section labels stand:
    - names and places parted by commas ("Rosa Park, Lagos", "Jane Doe, Staff Writer" -> "* , *");
    - a name, a comma and a role of at most 4 words, by the role's last word ("Jo Ode, business
      reporter" -> "* , * reporter");
    - a name for an outlet ("Jo Ode for Harbour Times" -> "* for *"; with "the" it is a shape);
    - an all-capitals line of 2 to 6 words, by its first or its last word, whichever is no
      function word ("EXAMINER BUSINESS" -> "examiner *", "* business"): in capitals no word can
      be told for a name.
    None for a line with a figure or a quotation: a score ("Arsenal 3, Everton 0") is a story's
    line. A line's first or last word alone is no shape in mixed case: a hard-wrapped story's
    lines end in "the company said." in a fifth of its stories (Reuters-21578)."""
    line = unicodedata.normalize("NFKC", line.strip())
    if _QUOTES.search(line) or any(c.isdigit() for c in line):
        return []
    segments = [segment.strip() for segment in line.rstrip(".").split(",")]
    if len(segments) > 1 and all(map(_name_only, segments)):
        return [" , ".join(["*"] * len(segments))]
    role = [token.rstrip(".'’-") for token in _SHAPE_TOKEN.findall(segments[-1])]
    if len(segments) == 2 and _name_only(segments[0]) and 0 < len(role) <= 4 and role[-1].islower() \
            and role[-1] not in _FUNCTION_WORDS:
        return [f"* , {'* ' * (len(role) > 1)}{role[-1]}"]
    writer, _, outlet = line.rstrip(".").partition(" for ")
    if outlet and _name_only(writer) and _name_only(outlet):
        return ["* for *"]
    words = [token for token in _SHAPE_TOKEN.findall(line) if token not in _SEPARATORS]
    if any(c.islower() for c in line) or not 2 <= len(words) <= _SHORT_LINE_WORDS:
        return []
    first, last = words[0].casefold(), words[-1].casefold()
    return [f"{first} *"] * (first not in _FUNCTION_WORDS) + [f"* {last}"] * (last not in _FUNCTION_WORDS)


def _hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def line_keys(line: str) -> list[int]:
    """What is counted for a line and removes it wherever it stands: the whole normalised line, and
    for "LABEL: <headline>" also the label, so that "READ MORE: <a different headline each time>"
    is learned by its label. Each as a 64-bit hash: the index stores 8 bytes per distinct line."""
    line = line.strip()
    if not line:
        return []
    names = ["line:" + normalise(line)]
    label = _LABEL.match(line)
    if label and len(WORD.findall(label.group(1))) <= 4 and headline_like(label.group(2)):
        names.append("label:" + normalise(label.group(1)))
    return [_hash(name) for name in names]


def shape_keys(line: str, edge: bool = False) -> list[int]:
    """The keys of the line's shapes (see `shapes_of`), which remove it at a story's head and tail;
    with `edge` also its edge shapes (see `edge_shapes`), which remove it there only."""
    edges = edge_shapes(line) if edge else []
    return [_hash("shape:" + shape) for shape in shapes_of(line)] + [_hash("edge:" + shape) for shape in edges]


def text_keys(text: str) -> set[int]:
    """Every key counted for a text: its lines' keys and shapes, each once."""
    return {key for line in text.split("\n") for key in (*line_keys(line), *shape_keys(line, edge=True))}


def story_key(text: str) -> str:
    """The identity of a story's text for counting: the same words in the same order, whatever the
    spacing, case or id it arrives under."""
    return "text:" + hashlib.blake2b(" ".join(WORD.findall(text.casefold())).encode(), digest_size=12).hexdigest()


@dataclass
class Observation:
    """What one counted article adds to its source (see `LearnedBoilerplate.save`)."""

    source: str
    stories: list[str]  # its story keys: the text's and the id's
    keys: set[int]
    version: int  # the source's template version after it was counted


@dataclass
class SourceCounts:
    """What this process knows of one source: its story count and template version, and the counts
    of the keys it has looked up (each read once, then kept up to date as stories are counted)."""

    articles: int = 0
    version: int = 0
    lines: dict[int, int] = field(default_factory=dict)
    stories: set[str] = field(default_factory=set)  # counted by this process, maybe not yet saved


@dataclass
class SourceLines:
    """The predicate `clean_text` takes for one source: called with a line, whether its line or
    label is learned (removed anywhere), or its shape when the line is no sentence; `at_edge(line)`
    whether its line, label or shape is (at the head and tail)."""

    learned: LearnedBoilerplate
    source: str

    def __call__(self, line: str) -> bool:
        # Mid-body, a shape counts only for a line that is no sentence ("Interactive graphic by
        # <name>"): a story's sentence with a new name each time ("<name> told the Post.") stays.
        return self.learned.is_boilerplate(self.source, line, shapes=headline_like(line))

    def at_edge(self, line: str) -> bool:
        return self.learned.is_boilerplate(self.source, line, shapes=True, edge=True)


class LearnedBoilerplate:
    """Per-source key counts, read from SQLite key by key (`conn`, optional) and kept up to date in
    memory as `observe` counts articles; `save` writes one article's counts in the caller's
    transaction. One writer at a time (the index's write lock), so what was read stays true."""

    def __init__(self, conn: sqlite3.Connection | None = None, min_stories: int = MIN_STORIES,
                 min_share: float = MIN_SHARE):
        self.conn = conn
        self.min_stories = min_stories
        self.min_share = min_share
        self._sources: dict[str, SourceCounts] = {}

    def _counts(self, source: str) -> SourceCounts:
        counts = self._sources.get(source)
        if counts is None:
            counts = self._sources[source] = SourceCounts()
            row = self.conn.execute(catalog.SOURCE_COUNTS, (source,)).fetchone() if self.conn is not None else None
            if row is not None:
                counts.articles, counts.version = row[0], row[1]
        return counts

    def _stories_of(self, counts: SourceCounts, source: str, keys: set[int]) -> dict[int, int]:
        """The story count of every key of `keys`, reading only those not read before."""
        missing = [key for key in keys if key not in counts.lines]
        if missing:
            counts.lines.update((key, 0) for key in missing)
            if self.conn is not None:
                for start in range(0, len(missing), 500):
                    part = missing[start:start + 500]
                    counts.lines.update(self.conn.execute(
                        catalog.placeholders(catalog.LEARNED_LINES_IN, len(part)), [source, *part]).fetchall())
        return {key: counts.lines[key] for key in keys}

    def _counted(self, counts: SourceCounts, source: str, stories: list[str]) -> bool:
        if any(story in counts.stories for story in stories):
            return True
        return self.conn is not None and self.conn.execute(catalog.STORY_COUNTED, (source, *stories)).fetchone() \
            is not None

    def _needed(self, articles: int) -> float:
        return max(self.min_stories, self.min_share * articles)

    def version(self, source: str) -> int:
        """The source's template version: how many times one of its keys became learned."""
        return self._counts(source).version

    def observe(self, source: str, article_id: str, text: str) -> Observation | None:
        """Count the lines of one article of `source`, unless its story is counted already (the
        same text under any id, or an earlier version of this id). Returns what it added (for
        `save`), None when nothing was counted."""
        counts = self._counts(source)
        stories = [story_key(text), "id:" + article_id]
        if self._counted(counts, source, stories):
            return None
        keys = text_keys(text)
        before = self._stories_of(counts, source, keys)
        needed_before, needed = self._needed(counts.articles), self._needed(counts.articles + 1)
        counts.stories.update(stories)
        counts.articles += 1
        for key, stories_before in before.items():
            counts.lines[key] = stories_before + 1
        # A key becomes learned only when its own count rises (the share needed only ever grows).
        if any(n + 1 >= needed and n < needed_before for n in before.values()):
            counts.version += 1
        return Observation(source, stories, keys, counts.version)

    def save(self, conn: sqlite3.Connection, observed: Observation | None) -> None:
        """Write one observed article's counts into `conn` (inside the caller's transaction): only
        its own keys' rows and its source's row change."""
        if observed is None:
            return
        source = observed.source
        conn.executemany(catalog.COUNT_STORY, [(source, story) for story in observed.stories])
        conn.executemany(catalog.COUNT_LINE, [(source, key) for key in observed.keys])
        conn.execute(catalog.COUNT_SOURCE, (source, observed.version))

    def is_boilerplate(self, source: str, line: str, shapes: bool = False, edge: bool = False) -> bool:
        """Whether `line` (or its "LABEL:", or with `shapes` its shape, with `edge` its edge shapes
        too) recurs in enough of `source`'s stories to be template."""
        keys = set(line_keys(line) + (shape_keys(line, edge) if shapes else []))
        if not keys:
            return False
        counts = self._counts(source)
        needed = self._needed(counts.articles)
        return any(stories >= needed for stories in self._stories_of(counts, source, keys).values())

    def for_source(self, source: str) -> SourceLines:
        """The predicate for `clean_text(raw, learned=...)`."""
        return SourceLines(self, source)


def record_cleaning(conn: sqlite3.Connection, article_id: str, source: str, version: int) -> None:
    """Record, in the caller's transaction, that an article was cleaned with its source's `version`."""
    conn.execute(catalog.RECORD_CLEANING, (article_id, source, version))


def sources_behind(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(source, version) of every source with articles that may be cleaned with an older version
    than its current one (read through a partial index: only those sources)."""
    return conn.execute(catalog.SOURCES_BEHIND).fetchall()


def articles_behind(conn: sqlite3.Connection, source: str, version: int) -> list[str]:
    """The ids of `source`'s articles cleaned with a version older than `version`."""
    return [row[0] for row in conn.execute(catalog.ARTICLES_BEHIND, (source, version))]


def mark_recleaned(conn: sqlite3.Connection, source: str, version: int) -> None:
    """Record that every stored article of `source` is cleaned with `version` (or a later one)."""
    conn.execute(catalog.MARK_RECLEANED, (version, source))


def migrate(conn: sqlite3.Connection) -> None:
    """Create the tables of learned boilerplate in an index made before them, and fill the new ones
    once from what the index holds: a source's story count from its counted stories, and a record
    of version 0 for every stored article (so that a line learned next cleans them again)."""
    tables = {row[0] for row in conn.execute(catalog.TABLES)}
    conn.executescript(catalog.BOILERPLATE_SCHEMA)
    with conn:
        if "boilerplate_sources" not in tables:
            conn.execute(catalog.SOURCE_COUNTS_FROM_STORIES)
        if "cleaned_with" not in tables:
            conn.executemany(catalog.CLEANED_WITH_NOTHING,
                             ((article_id, source_of(source, url)) for article_id, source, url
                              in conn.execute(catalog.ARTICLE_SOURCES).fetchall()))
