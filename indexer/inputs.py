"""Reading articles from files: JSONL, CSV, and folders of .txt, .md and .html files.

`read_paths(paths)` yields an `Article` for every record it can read and a `Problem` for every one
it cannot (a malformed line, a binary file), so one bad record never stops the rest of a run and is
never skipped silently. Field names follow ../shared/API.md "Input records".

JSONL and CSV files are read as a stream, line by line, and decoded line by line, so a file of any
size fits in memory and one bad byte costs one record.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .article import MAX_ARTICLE_CHARS, Article, stable_id
from .extras import missing_extra
from .page_dates import page_date

RECORD_SUFFIXES = {".jsonl", ".ndjson", ".csv"}
DOCUMENT_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm"}
SUPPORTED_SUFFIXES = RECORD_SUFFIXES | DOCUMENT_SUFFIXES

# Each recognised field with the input names that fill it, first match wins.
FIELD_ALIASES = {
    "id": ("id", "_id"),
    "title": ("title", "headline"),
    "text": ("text", "body", "content"),
    "url": ("url", "link"),
    "published": ("published", "date"),
    "author": ("author", "byline"),
    "source": ("source",),
}
_KNOWN_INPUT_NAMES = {name for names in FIELD_ALIASES.values() for name in names}

# Deeper than this a record is refused: no article field needs it, and deeper values would
# exhaust the recursion of json.dumps when the article is hashed and stored.
MAX_NESTING = 64
# JSON's "\ud800" escape gives a lone surrogate: a str with no UTF-8 form, which SQLite, hashing
# and every client would fail on.
_SURROGATE = re.compile("[\ud800-\udfff]")

csv.field_size_limit(64 * 1024 * 1024)


def record_limit(max_article_chars: int = MAX_ARTICLE_CHARS) -> int:
    """The most bytes one record (a JSONL or CSV line, a .txt/.md/.html file) may take for articles
    of up to `max_article_chars` characters of text: 12 bytes a character (a character outside the
    BMP written as two JSON \\uXXXX escapes) and 64 KiB for the other fields. A longer record is
    refused while it is read, in bounded memory, never held whole."""
    return 12 * max_article_chars + 65536


# A line over the limit is read through in blocks of this size, each dropped once counted.
_SKIP_BLOCK = 1 << 16


@dataclass
class Problem:
    """A record or file that could not be read: where (`file:line`) and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _surrogate_message(text: str) -> str | None:
    match = _SURROGATE.search(text)
    if match is None:
        return None
    return (f"holds a lone surrogate (\\u{ord(match.group()):04x} at character {match.start() + 1}), "
            f"which is not text: it has no UTF-8 form")


def _unstorable(record: dict) -> str | None:
    """Why `record` cannot be stored (a name or value, however nested, holding a lone surrogate;
    a number that is NaN or infinite; nesting over MAX_NESTING levels), or None. Walked with a
    stack, not recursion, so that no input can exhaust the recursion limit here."""
    stack = [(record, "", 0)]
    while stack:
        value, name, depth = stack.pop()
        if isinstance(value, (dict, list)) and depth > MAX_NESTING:
            return f"field '{name.split('.')[0].split('[')[0]}' is nested more than {MAX_NESTING} levels deep"
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                key = str(key)
                if reason := _surrogate_message(key):
                    return f"a field name {reason}"
                stack.append((item, f"{name}.{key}" if name else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{name}[{i}]", depth + 1) for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, str) and (reason := _surrogate_message(value)):
            return f"field '{name}' {reason}"
        elif isinstance(value, float) and not math.isfinite(value):
            # JSON's NaN, Infinity and numbers past the float range (1e999) read as these: no
            # JSON answer can return them, and facets would count them as "nan" and "inf".
            return f"field '{name}' is {value}, not a finite number"
    return None


def article_from_record(record: dict, where: str) -> Article | Problem:
    """Map one JSONL object, CSV row or API item onto an `Article`, or say what is wrong with it
    (a missing text, a field of the wrong type, a value that cannot be stored), naming the field."""
    if reason := _unstorable(record):
        return Problem(where, reason)
    values: dict[str, str] = {}
    for field, names in FIELD_ALIASES.items():
        for name in names:
            value = record.get(name)
            if value is None or value == "":
                continue
            if isinstance(value, (dict, list)):
                return Problem(where, f"field '{name}' must be a string, got {type(value).__name__}")
            values[field] = str(value)
            break
    text = values.get("text", "")
    if not text.strip():
        return Problem(where, "no article text: expected a non-empty 'text', 'body' or 'content' field")
    metadata = {k: v for k, v in record.items() if k not in _KNOWN_INPUT_NAMES and v is not None}
    article_id = values.get("id", "").strip() or stable_id(values.get("url", ""), text, values.get("title", ""))
    return Article(
        id=article_id,
        title=values.get("title", "").strip(),
        text=text,
        url=values.get("url", "").strip(),
        published=values.get("published", "").strip(),
        author=values.get("author", "").strip(),
        source=values.get("source", "").strip(),
        metadata=metadata,
        origin=where,
    )


# -- decoding, line by line ------------------------------------------------------------------------

def _bounded_lines(handle, limit: int, newline: str | bytes) -> Iterator[str | bytes | int]:
    """The lines of `handle` (binary, or text whose `readline` counts characters), each with its
    `newline`; a line longer than `limit` (its line end aside) comes as its length, an int, after
    being read through in blocks: memory stays within `limit` whatever the line's size."""
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(newline):
            yield line
            continue
        length = len(line)
        while line and not line.endswith(newline):
            line = handle.readline(_SKIP_BLOCK)
            length += len(line)
        yield length - (1 if line.endswith(newline) else 0)


def _too_long(where: str, number: int, length: int, limit: int, unit: str) -> Problem:
    return Problem(f"{where}:{number}", f"line of {length:,} {unit} is over the limit of {limit:,} {unit} for one "
                                        f"record (see --max-article-chars); not read")


def _decoded_lines(handle: BinaryIO, where: str, limit: int) -> Iterator[tuple[int, str | Problem]]:
    """The lines of the text file open in binary `handle`, numbered from 1, each with its line end;
    only "\\n" ends a line. A line that cannot be decoded, or is over `limit` bytes, comes as a
    `Problem` naming its byte or its length.

    The encoding: UTF-16 when the file starts with a UTF-16 BOM; otherwise UTF-8 (BOM optional),
    decoded line by line. A legacy file, one with bytes that are not UTF-8 and no line that is
    UTF-8 with non-ASCII characters, is decoded as cp1252 throughout (latin-1 for the five bytes
    cp1252 leaves undefined). A file with some UTF-8 text is never decoded as anything else, so
    its good lines stay exact and each bad line is reported.
    """
    start = handle.read(3)
    handle.seek(0)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # A lone surrogate is kept as one, for the record's check to name its field.
        text = io.TextIOWrapper(handle, encoding="utf-16", errors="surrogatepass", newline="\n")
        number = 0
        try:
            for number, line in enumerate(_bounded_lines(text, limit // 2, "\n"), start=1):  # 2 bytes a character
                if isinstance(line, int):
                    line = _too_long(where, number, line, limit // 2, "characters")
                yield number, line
        except UnicodeDecodeError as exc:
            yield number + 1, Problem(f"{where}:{number + 1}", f"not valid UTF-16 ({exc.reason}); "
                                                               f"the rest of the file is not read")
        return
    utf8 = start == codecs.BOM_UTF8  # a BOM, or a line of non-ASCII UTF-8, shows the file is UTF-8
    if utf8:
        handle.seek(3)
    legacy = False
    for number, raw in enumerate(_bounded_lines(handle, limit, b"\n"), start=1):
        if isinstance(raw, int):
            yield number, _too_long(where, number, raw, limit, "bytes")
            continue
        if not legacy:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if utf8 or _later_utf8_line(handle, limit):
                    utf8 = True  # decided once: the look ahead never runs twice
                    column = len(raw[:exc.start].decode("utf-8")) + 1
                    yield number, Problem(f"{where}:{number}", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} "
                                                               f"at column {column})")
                    continue
                legacy = True  # every line so far was ASCII, which cp1252 decodes alike
            else:
                utf8 = utf8 or not raw.isascii()
                yield number, line
                continue
        try:
            yield number, raw.decode("cp1252")
        except UnicodeDecodeError:
            yield number, raw.decode("latin-1")


def _later_utf8_line(handle: BinaryIO, limit: int) -> bool:
    """Whether a line after the position of `handle` (and not over `limit` bytes) is UTF-8 with
    non-ASCII characters; the position is kept."""
    position = handle.tell()
    try:
        for raw in _bounded_lines(handle, limit, b"\n"):
            if not isinstance(raw, int) and not raw.isascii():
                try:
                    raw.decode("utf-8")
                    return True
                except UnicodeDecodeError:
                    continue
        return False
    finally:
        handle.seek(position)


# -- record files ----------------------------------------------------------------------------------

def _record_from_json(line: str, where: str) -> Article | Problem:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        # json's message for a control character ends in "at" already ("Invalid control character at").
        return Problem(where, f"invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})")
    except RecursionError:
        return Problem(where, "invalid JSON: nested too deeply to read")
    except ValueError as exc:  # a number over Python's 4,300-digit limit
        return Problem(where, f"invalid JSON ({str(exc).split(';')[0]})")
    if not isinstance(record, dict):
        return Problem(where, f"expected a JSON object, got {type(record).__name__}")
    return article_from_record(record, where)


def read_jsonl(path: Path, handle: BinaryIO, limit: int) -> Iterator[Article | Problem]:
    """One article (or problem) per non-blank line of the JSONL file open in binary `handle`; a
    line over `limit` bytes is a problem."""
    records = 0
    for number, line in _decoded_lines(handle, str(path), limit):
        if isinstance(line, Problem):
            records += 1
            yield line
        elif line.strip():
            records += 1
            yield _record_from_json(line, f"{path}:{number}")
    if not records:
        yield Problem(str(path), "no records: the file holds only blank lines")


class _CsvLines:
    """The decoded lines of a CSV file, fed to `csv.reader`. Keeps the lines of the record being
    parsed, so that a bad record spanning several lines can be parsed again from its second line;
    lines that cannot be decoded are kept aside as problems instead of being parsed."""

    def __init__(self, lines: Iterator[tuple[int, str | Problem]]):
        self._lines = lines
        self._again: deque[tuple[int, str]] = deque()
        self.record: list[tuple[int, str]] = []
        self.problems: list[Problem] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        while True:
            number, line = self._again.popleft() if self._again else next(self._lines)
            if isinstance(line, Problem):
                self.problems.append(line)
                continue
            self.record.append((number, line))
            return line

    def read_again_after_first_line(self) -> None:
        self._again.extendleft(reversed(self.record[1:]))


def read_csv(path: Path, handle: BinaryIO, limit: int) -> Iterator[Article | Problem]:
    """One article (or problem) per row of the CSV file (with a header) open in binary `handle`.

    A quoted field may span lines. Rows are parsed as strict CSV, so a quote that does not close
    where a field can end is an error; a bad row (that, or a wrong number of fields) is reported at
    the line it starts on. When it spans several lines, as an unclosed quote makes it, parsing
    resumes at its second line: an unclosed quote costs its own row, never the rows after it.
    """
    lines = _CsvLines(_decoded_lines(handle, str(path), limit))
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    rows = 0
    while True:
        lines.record = []
        error = None
        try:
            fields = next(reader)
        except StopIteration:
            fields = None
        except csv.Error as exc:
            fields, error = [], str(exc)
        yield from lines.problems
        rows += len(lines.problems)
        lines.problems.clear()
        if fields is None:
            break
        if not lines.record or (fields == [] and error is None):
            continue  # a blank line
        first, last = lines.record[0][0], lines.record[-1][0]
        where = f"{path}:{first}"
        if header is None:
            if error is not None:
                yield Problem(where, f"malformed CSV header ({error}); the file is not read")
                return
            header = fields
            if not any(name in FIELD_ALIASES["text"] for name in header):
                yield Problem(where, f"CSV header {header[:8]} has no 'text', 'body' or 'content' column")
                return
            continue
        if error is None and len(fields) != len(header):
            error = f"row has {len(fields)} fields, the header has {len(header)}"
        rows += 1
        if error is None:
            yield article_from_record(dict(zip(header, fields)), where)
            continue
        if last > first:
            error += (f"; lines {first}-{last} were read as one row, so a quote may be unclosed: "
                      f"reading on from line {first + 1}")
            lines.read_again_after_first_line()
        yield Problem(where, f"malformed CSV ({error})")
    if not rows:
        yield Problem(str(path), "no records: the file holds no rows" + (" after its header" if header else ""))


# -- documents -------------------------------------------------------------------------------------

def document_id(path: Path) -> str:
    """The id of a .txt/.md/.html article: from its file's resolved absolute path, so it is unique
    per file (two `story.txt` in different folders differ) and the same in every run, whatever the
    folder given or the working directory; editing the file updates the same article."""
    return stable_id(url=path.resolve().as_uri())


def read_document(path: Path, data: bytes) -> Iterator[Article | Problem]:
    """One .txt/.md/.html file (its bytes `data`) is one article; a .txt/.md file's first line is
    its title. A line that cannot be decoded is a problem naming its line and byte, and the
    article keeps the other lines (a bad title line leaves the article untitled)."""
    where = str(path)
    if b"\x00" in data[:8192] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        yield Problem(where, "looks like a binary file (NUL bytes), not text")
        return
    lines: list[str | None] = []  # None: a line that could not be decoded (reported)
    for _, line in _decoded_lines(io.BytesIO(data), where, len(data)):
        if isinstance(line, Problem):
            yield line
            lines.append(None)
        else:
            lines += line.splitlines()  # "\r" and the other line ends a text file may use
    text = "\n".join(line or "" for line in lines)
    if reason := _surrogate_message(text):
        yield Problem(where, f"the file {reason}")
        return
    if path.suffix.lower() in {".html", ".htm"}:
        yield _read_html(where, text, document_id(path))
        return
    while lines and lines[0] is not None and not lines[0].strip():
        lines.pop(0)
    if not any(line and line.strip() for line in lines):
        yield Problem(where, "no text: the file holds only white space")
        return
    first = lines[0] or ""
    title = first.lstrip("#").strip() if path.suffix.lower() in {".md", ".markdown"} else first.strip()
    body = "\n".join(line for line in lines[1:] if line is not None).strip()
    if not body:
        yield Problem(where, "no article text after the title line")
        return
    yield Article(id=document_id(path), title=title, text=body, origin=where)


def _read_html(where: str, html: str, article_id: str) -> Article | Problem:
    """The article of an HTML page: main text, title, author, URL and site by trafilatura; the
    date only from the page's own metadata or dateline (indexer.page_dates), never trafilatura's,
    which takes any date in the page."""
    try:  # imported here: it takes a second, and only HTML input needs it (the [html] extra)
        import trafilatura
        from trafilatura.utils import load_html
    except ImportError as exc:
        return Problem(where, missing_extra("html", "HTML input", exc))

    tree = load_html(html)
    doc = trafilatura.bare_extraction(html, with_metadata=True)
    if tree is None or doc is None or not (doc.text or "").strip():
        return Problem(where, "no main text found in the HTML page")
    title = (doc.title or "").strip()
    text = doc.text
    # trafilatura repeats the headline as the first line of the text.
    first, _, rest = text.partition("\n")
    if title and first.strip() == title and rest.strip():
        text = rest
    return Article(
        id=stable_id(doc.url) if doc.url else article_id,
        title=title,
        text=text,
        url=doc.url or "",
        published=page_date(tree, text),
        author=doc.author or "",
        source=doc.sitename or "",
        origin=where,
    )


# -- files and folders -----------------------------------------------------------------------------

def read_file(path: Path, limit: int | None = None) -> Iterator[Article | Problem]:
    """Yield the articles (and problems) of one regular file, whatever its supported type; a record
    (a line of a JSONL or CSV file, a whole document) over `limit` bytes (default `record_limit()`)
    is a problem, found without holding it."""
    limit = limit or record_limit()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        yield Problem(str(path), f"unsupported file type '{suffix or path.name}' "
                      f"(expected one of {', '.join(sorted(SUPPORTED_SUFFIXES))})")
        return
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                yield Problem(str(path), "empty file")
            elif suffix in {".jsonl", ".ndjson"}:
                yield from read_jsonl(path, handle, limit)
            elif suffix == ".csv":
                yield from read_csv(path, handle, limit)
            elif size > limit:
                yield Problem(str(path), f"file of {size:,} bytes is over the limit of {limit:,} bytes for one "
                                         f"article (see --max-article-chars); not read")
            else:
                yield from read_document(path, handle.read())
    except OSError as exc:
        yield Problem(str(path), f"cannot read file: {exc.strerror}")


def walk_paths(paths: list[str | Path]) -> Iterator[Path]:
    """Every entry to read under `paths`, in indexing order: folders walked sorted, hidden entries
    skipped. Symbolic links to folders are not followed (a link can lead out of the tree or round
    in a loop) but yielded, for the reader to report; a path given that is not a folder is yielded
    as given."""
    for given in paths:
        root = Path(given)
        if not root.is_dir():
            yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            folder = Path(dirpath)
            linked = [d for d in dirnames if (folder / d).is_symlink()]
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in linked)
            for name in sorted(filenames + linked):
                if not name.startswith("."):
                    yield folder / name


def read_path(path: Path, limit: int | None = None) -> Iterator[Article | Problem]:
    """The articles and problems of one entry of `walk_paths` (`limit` as for `read_file`)."""
    where = str(path)
    if path.is_dir():
        yield Problem(where, "symbolic link to a folder: not followed (give its target to index it)")
    elif path.is_symlink() and not path.exists():
        yield Problem(where, "symbolic link to nothing")
    elif not path.exists():
        yield Problem(where, "no such file or folder")
    elif not path.is_file():
        yield Problem(where, "not a regular file (a pipe, socket or device)")
    else:
        yield from read_file(path, limit)


def _lines_with_text(handle: BinaryIO) -> int:
    """The lines of binary `handle` that hold more than white space, counted in 1 MB blocks
    (never a whole line at once)."""
    count, open_line = 0, False  # open_line: the line running on from the last block has text
    while block := handle.read(1 << 20):
        pieces = block.split(b"\n")
        for piece in pieces[:-1]:
            count += open_line or bool(piece.strip())
            open_line = False
        open_line = open_line or bool(pieces[-1].strip())
    return count + open_line


def count_records(paths: list[str | Path]) -> int:
    """How many items `read_paths(paths)` will yield, counted before reading, for a progress bar's
    total: a JSONL file's lines with text, a CSV file's lines with text after its header, one for a
    document and one for an entry that gives one problem (a missing or unsupported file). Exact but
    for a CSV row spanning lines and a UTF-16 file's lines, which count a little over."""
    total = 0
    for path in walk_paths(paths):
        suffix = path.suffix.lower()
        if suffix not in RECORD_SUFFIXES or not path.is_file():
            total += 1
            continue
        try:
            with open(path, "rb") as handle:
                lines = _lines_with_text(handle)
        except OSError:
            lines = 1
        total += max(1, lines - (suffix == ".csv"))
    return total


def read_paths(paths: list[str | Path], limit: int | None = None) -> Iterator[Article | Problem]:
    """Yield articles and problems from files and folders (folders are walked in sorted order); a
    record over `limit` bytes (default `record_limit()`) is a problem."""
    for path in walk_paths(paths):
        yield from read_path(path, limit)
