"""Cleaning of scraped news text: boilerplate off the head and tail, the byline into `author`.

Scraped pages carry lines that are not the story: copyright and distribution notices, "Read the full
article here", "You may also like", share and subscribe prompts. They hurt retrieval (every article
matches "copyright") and clutter passages. Only whole lines that look like boilerplate are removed,
and only where boilerplate sits: at the head and tail of the article, plus a few standalone markers
("Story continues", "Advertisement") that sites drop between paragraphs. A sentence that merely
mentions copyright or comments is content and stays. Beyond the patterns, the lines learned as a
source's template (`indexer.boilerplate`) are removed wherever they stand.

    >>> clean_text("By Jane Doe\\n\\nThe council met.\\n\\nRead the full article here")
    CleanedText(text='The council met.', author='Jane Doe')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .boilerplate import headline_like

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# A dateline alone on a line at the head or tail ("Friday, January 4, 2019") restates `published`;
# so does one with its place before it ("Oslo, September 22, 2004") or its time after it
# ("November 7, 2004 at 11:53 AM ET"): page furniture, not the story.
_DATE = r"(\w+ \d{1,2},? \d{4}|\d{1,2} \w+,? \d{4}|\d{4}-\d{2}-\d{2})"
_DATELINE = (r"((?-i:[A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*){0,2}),\s+)?"
             r"((monday|tuesday|wednesday|thursday|friday|saturday|sunday),?\s+)?" + _DATE +
             r"(,?\s+(at\s+)?\d{1,2}[:.]\d{2}(\s*[ap]\.?m\.?)?(\s+[a-z]{2,4})?)?")

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
    r"(related|recommended)( (for you|articles|stories|coverage|reading|content))?\s*:?",
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
    # Page furniture: skip links, menus, breadcrumbs ("Gazette > News > World", "Home › Sport"), navigation bars
    # ("Home | News | Sport"), reading aids and a bare publication year.
    r"skip to (main )?(content|navigation)\W*",
    r"(main )?menu\W*",
    r"[^.!?>›»]{1,40}( [>›»] [^.!?>›»]{1,40}){1,5}",
    r"[^.!?|]{1,25}( \| [^.!?|]{1,25}){2,}",
    r"listen to (this|the) (article|story)\W*",
    r"\d+ min(ute)?s? read\W*",
    r"(published|updated)( on)? (\d{4}|" + _DATE + r")\W*",
    # A wire dateline alone on its line: a place of up to 3 words in capitals, an agency of up to 3
    # capitalised words in brackets ("TORONTO (Reuters) -"); a table's "WINNERS (six times)" or a
    # heading's "U.S. POSTED PRICES REPORT (DLRS/BBL)" is neither.
    r"(?-i:[A-Z][A-Z.'-]*(?: [A-Z][A-Z.'-]*){0,2}) \((?-i:[A-Z][\w.&'-]*(?: [A-Z][\w.&'-]*){0,2})\)\s*[-–—]?",
]
# Editorial notices: corrections and updates announced at the head or tail of a story.
_EDGE_BOILERPLATE += [
    r"(this|the) (article|story|report|post) (has been|was|is) (updated|corrected|amended|edited)\b.*",
    r"an earlier version of this (article|story|report|post)\b.*",
    r"(correction|clarification)s?\s*(\(.{0,40}\))?\s*:.*",
]
# These markers are dropped as whole lines anywhere in the body: sites insert them mid-article.
_ANYWHERE_BOILERPLATE = [
    r"story continues( below)?\W*",
    r"(advertisement|sponsored content)\W*",
    # Photo and image credits, alone or ending a caption ("Crowds at the march. Image: Jane Doe
    # (flickr)."; "Photo: Reuters"; "(Photo by Jane Doe/AFP)"): the label capitalised, as a
    # credit has it, and the credit short. "He posted a photo: a cat" is prose and stays.
    # (A caption may run into its credit: "Jo JorgensenImage: Jo Jorgensen for President.")
    r".{0,400}?(?-i:(Image|Photo|Picture|Photograph|Illustration|Graphic)s?( [Cc]redits?)?)\s*:\s*[^\s:].{0,80}",
    r"((image|photo|picture) )?credits?\s*:\s*[^\s:].{0,80}",
    r"(.{0,400}?\s)?\((photo|image|picture|photograph)s? (by|courtesy( of)?|credit:?)\s[^()]{1,80}\)\W*",
    r"(photo|image|picture|photograph)s? (by|courtesy( of)?)\s[^.!?]{1,80}(\.|\s(on|via) \w+\W*)?",
    # Editorial notices and review banners (Wikinews: "This article requires pre-publication
    # review ...", "... Please check the talk page history before reviewing.").
    r"editor['’]?s['’]? note\s*:.*",
    r"this (article|story) (requires|needs|is awaiting|awaits) (pre-publication |independent )?review\b.*",
    r".{0,200}\bplease check the talk page history before reviewing\W*",
]
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


# A line announcing a block of links ("More from the Gazette:", "Recommended for you"): the
# headline-like lines right under it belong to the block.
_BLOCK_OPENER = re.compile(
    r"^(?:(?:more (?:from|on|stories)|recommended|related|also read|read (?:more|next)|most (?:read|popular)"
    r"|(?:you )?(?:may|might) also (?:like|enjoy)|top stories|trending|popular|see also|further reading)"
    r"(?:\W+\w+){0,3}\W*|[^.!?]{1,60}:)$", re.IGNORECASE)
_MAX_BLOCK_LINKS = 6


def _is_edge_boilerplate(line: str) -> bool:
    return bool(_edge_re.match(line)) or bool(_dateline_re.match(line))


def _link_block_end(lines: list[str], opener: int) -> int:
    """The index after the headline-like lines (blank lines between them allowed) under `opener`."""
    end, links = opener + 1, 0
    for i in range(opener + 1, len(lines)):
        if not lines[i]:
            continue
        if links == _MAX_BLOCK_LINKS or not headline_like(lines[i]):
            break
        links, end = links + 1, i + 1
    return end


def _strip_tail(lines: list[str], known: Callable[[str], bool]) -> None:
    """Pop boilerplate off the end of `lines`. Past known lines, also a block of links under a known
    opener, and one short headline-like line standing between two known lines: a story's last
    paragraph is a sentence, never headline-like, so it is never taken."""
    popped_known = False
    while lines:
        if not lines[-1] or known(lines[-1]):
            popped_known = popped_known or bool(lines[-1])
            lines.pop()
            continue
        above = len(lines) - 2
        while above >= 0 and (not lines[above] or (headline_like(lines[above]) and not known(lines[above]))):
            above -= 1
        if (above >= 0 and known(lines[above]) and _BLOCK_OPENER.match(lines[above])
                and _link_block_end(lines, above) == len(lines)):
            del lines[above + 1:]
            continue
        previous = len(lines) - 2
        while previous >= 0 and not lines[previous]:
            previous -= 1
        if popped_known and headline_like(lines[-1]) and previous >= 0 and known(lines[previous]):
            del lines[previous + 1:]
            continue
        break


def _strip_head(lines: list[str], known: Callable[[str], bool], popped: bool) -> str:
    """Pop boilerplate and the byline off the start of `lines`; return the byline's name, or "".
    Past a removed line (`popped`: one was removed above already), one short headline-like line
    standing between it and a line the patterns know goes too: an outlet's line not learned yet
    ("<name> reports") does not shield the dateline under it. Not above a line known only by a
    learned shape: a story's sentence may share one ("<name> told the Post on Monday."), and the
    heading above it is the story's. A story's first paragraph is a sentence, never headline-like."""
    author = ""
    while lines:
        if not lines[0] or known(lines[0]) or (not author and _BYLINE.match(lines[0])):
            match = _BYLINE.match(lines[0]) if lines[0] else None
            if match and not author and not known(lines[0]):
                author = match.group("name").strip()
            popped = popped or bool(lines[0])
            lines.pop(0)
            continue
        below = next((i for i in range(1, len(lines)) if lines[i]), None)
        if popped and headline_like(lines[0]) and below is not None and _is_edge_boilerplate(lines[below]):
            del lines[:below]
            continue
        return author
    return author


def clean_text(raw: str, learned: Callable[[str], bool] | None = None) -> CleanedText:
    """Return the cleaned body of `raw` and the author named by a leading byline, if any.

    `learned` says whether a line is boilerplate learned for the article's source (see
    `indexer.boilerplate`): such a line is removed wherever it stands, with the headline-like
    lines under it when it opens a block of links; if that would leave nothing, only the patterns
    apply, as they do without `learned`.
    Whitespace is normalised (control characters removed, trailing spaces stripped, runs of blank
    lines folded to one) so that character offsets into the cleaned text are stable.
    """
    text = _CONTROL_CHARS.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.strip() for line in text.split("\n")]
    first = next((line for line in lines if line), "")
    lines = [line for line in lines if not _anywhere_re.match(line)]
    if learned is not None:
        kept, i = [], 0
        while i < len(lines):
            if lines[i] and learned(lines[i]):
                i = _link_block_end(lines, i) if _BLOCK_OPENER.match(lines[i]) else i + 1
                continue
            kept.append(lines[i])
            i += 1
        lines = kept

    # At the head and tail, a learned shape counts too ("Reporting by <a name>"); see SourceLines.
    at_edge = getattr(learned, "at_edge", learned)

    def known(line: str) -> bool:
        return _is_edge_boilerplate(line) or (at_edge is not None and at_edge(line))

    author = _strip_head(lines, known, popped=first != next((line for line in lines if line), ""))
    _strip_tail(lines, known)

    body = "\n".join(lines)
    body = re.sub(r"\n{3,}", "\n\n", body)
    body = re.sub(r"[ \t\u00a0]{2,}", " ", body).strip()
    if not body and learned is not None:
        # Nothing but lines the source repeats: rather a story told by a formula (a results table,
        # an automated notice) than a template with no story; keep what the patterns keep.
        return clean_text(raw)
    return CleanedText(text=body, author=author)
