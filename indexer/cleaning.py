"""Cleaning of scraped news text: boilerplate off the head and tail, the byline into `author`.

Scraped pages carry lines that are not the story: copyright and distribution notices, "Read the full
article here", "You may also like", share and subscribe prompts. They hurt retrieval (every article
matches "copyright") and clutter passages. Only whole lines that look like boilerplate are removed,
and only where boilerplate sits: at the head and tail of the article, plus a few standalone markers
("Story continues", "Advertisement") that sites drop between paragraphs. A sentence that merely
mentions copyright or comments is content and stays.

    >>> clean_text("By Jane Doe\\n\\nThe council met.\\n\\nRead the full article here")
    CleanedText(text='The council met.', author='Jane Doe')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# A line matching one of these, as a whole, is boilerplate wherever it stands at the head or tail.
_EDGE_BOILERPLATE = [
    # A notice is known by how it starts, never by its length (a full notice runs to 200
    # characters): "©"; "(c)" or "copyright" before a year, "©" or ":"; any line reserving all
    # rights. Prose that starts with the word ("Copyright lawyers said ...") is none of these.
    r"©.*",
    r"(\(c\)|copyright)\s*(©|\(c\)|\d{4}\b|:).*",
    r".*\ball rights reserved\b.*",
    r"(distributed|syndicated|provided) by\b.{0,80}",
    r"read (the )?(full|original|complete|whole) (article|story)( here| at .{0,60}| on .{0,60})?\W*",
    r"(read|see) more( here| at .{0,60}| on .{0,60})?\W*",
    r"continue reading\W*",
    r"click here\b.{0,80}",
    r"(you|you'll) (may|might) also (like|enjoy)\W*",
    r"(related|recommended)( (articles|stories|coverage|reading|content))?\s*:?",
    r"more (from|on) .{0,60}:?",
    r"(leave|post|add|write) a comment\W*",
    r"\d+ comments?\W*",
    r"comments?\W*",
    r"share (this|on|via)\b.{0,60}",
    r"(share|tweet|email|print|pin it)(\s*[|/•·]\s*(share|tweet|email|print|facebook|twitter|linkedin|whatsapp|pin it))*\W*",
    r"(subscribe|sign up)\b.{0,100}",
    r"follow us\b.{0,80}",
    r"(this|the) (article|story) (was )?(originally|first) (appeared|published)\b.*",
    r"(advertisement|sponsored( content)?|ad)\W*",
    r"story continues( below)?\W*",
    r"(image|photo|picture) (credit|source)\s*:.{0,100}",
]
# These markers are dropped as whole lines anywhere in the body: sites insert them mid-article.
_ANYWHERE_BOILERPLATE = [
    r"story continues( below)?\W*",
    r"(advertisement|sponsored content)\W*",
]
# A dateline alone on the first line ("Friday, January 4, 2019") restates `published`.
_DATELINE = (
    r"((monday|tuesday|wednesday|thursday|friday|saturday|sunday),?\s+)?"
    r"(\w+ \d{1,2},? \d{4}|\d{1,2} \w+,? \d{4}|\d{4}-\d{2}-\d{2})"
)
# "By Jane Doe" or "By Jane Doe, Reuters": two to five name words, no sentence after them, so that a
# first sentence such as "By Monday, officials had left." is not taken for a byline.
_BYLINE = re.compile(
    r"^(?i:by|written by|words by)\s+"
    r"(?P<name>[A-Z][\w.'’-]*(?:\s+(?:van|von|de|der|da|al|bin|[A-Z][\w.'’-]*)){1,4})"
    r"(?:\s*(?:,|\||-|–|—|and)\s*[^.!?]{0,60})?$",
)

_edge_re = re.compile("^(?:" + "|".join(_EDGE_BOILERPLATE) + ")$", re.IGNORECASE)
_anywhere_re = re.compile("^(?:" + "|".join(_ANYWHERE_BOILERPLATE) + ")$", re.IGNORECASE)
_dateline_re = re.compile("^" + _DATELINE + "$", re.IGNORECASE)


@dataclass
class CleanedText:
    """The article body with boilerplate removed, and the byline if one was found."""

    text: str
    author: str = ""


def _is_edge_boilerplate(line: str) -> bool:
    return bool(_edge_re.match(line)) or bool(_dateline_re.match(line))


def clean_text(raw: str) -> CleanedText:
    """Return the cleaned body of `raw` and the author named by a leading byline, if any.

    Whitespace is normalised (control characters removed, trailing spaces stripped, runs of blank
    lines folded to one) so that character offsets into the cleaned text are stable.
    """
    text = _CONTROL_CHARS.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if not _anywhere_re.match(line)]

    author = ""
    while lines and (not lines[0] or _is_edge_boilerplate(lines[0]) or (not author and _BYLINE.match(lines[0]))):
        match = _BYLINE.match(lines[0]) if lines[0] else None
        if match and not author and not _is_edge_boilerplate(lines[0]):
            author = match.group("name").strip()
        lines.pop(0)
    while lines and (not lines[-1] or _is_edge_boilerplate(lines[-1])):
        lines.pop()

    body = "\n".join(lines)
    body = re.sub(r"\n{3,}", "\n\n", body)
    body = re.sub(r"[ \t\u00a0]{2,}", " ", body)
    return CleanedText(text=body.strip(), author=author)
