"""Reading articles from files: JSONL, CSV, and folders of .txt, .md and .html files.

`read_paths(paths)` yields an `Article` for every record it can read and a `Problem` for every one
it cannot (a malformed line, a binary file), so one bad record never stops the rest of a run and is
never skipped silently. Field names follow ../shared/API.md "Input records".
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .article import Article, stable_id

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

csv.field_size_limit(64 * 1024 * 1024)


@dataclass
class Problem:
    """A record or file that could not be read: where (`file:line`) and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class BinaryFileError(ValueError):
    """Raised for bytes that are not text in any encoding we accept."""


def decode_bytes(data: bytes) -> str:
    """Decode file contents: UTF-8 (with or without BOM), UTF-16 with a BOM, else cp1252/latin-1.

    Raises `BinaryFileError` for data with NUL bytes and no UTF-16 BOM (images, archives, PDFs).
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise BinaryFileError("looks like a binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 maps every byte.
        return data.decode("latin-1")


def article_from_record(record: dict, where: str) -> Article | Problem:
    """Map one JSONL object or CSV row onto an `Article`, or say what is wrong with it."""
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


def read_jsonl(path: Path, text: str) -> Iterator[Article | Problem]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Problem(where, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield Problem(where, f"expected a JSON object, got {type(record).__name__}")
            continue
        yield article_from_record(record, where)


def read_csv(path: Path, text: str) -> Iterator[Article | Problem]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if not any(name in FIELD_ALIASES["text"] for name in header):
        yield Problem(f"{path}:1", f"CSV header {header[:8]} has no 'text', 'body' or 'content' column")
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Problem(f"{path}:{reader.line_num}", f"malformed CSV ({exc})")
            return
        where = f"{path}:{reader.line_num}"
        if None in row:
            yield Problem(where, f"row has {len(header) + len(row[None])} fields, the header has {len(header)}")
            continue
        if any(value is None for value in row.values()):
            yield Problem(where, f"row has fewer fields than the header's {len(header)}")
            continue
        yield article_from_record(row, where)


def read_document(path: Path, text: str, relative_name: str) -> Article | Problem:
    """One .txt/.md/.html file is one article; its id comes from its path under the input root,
    so editing the file re-indexes the same article instead of adding a new one."""
    where = str(path)
    article_id = stable_id(url="file:" + relative_name)
    if path.suffix.lower() in {".html", ".htm"}:
        return _read_html(where, text, article_id)
    lines = text.strip().splitlines()
    if not lines:
        return Problem(where, "empty file")
    title = lines[0].lstrip("#").strip() if path.suffix.lower() in {".md", ".markdown"} else lines[0].strip()
    body = "\n".join(lines[1:]).strip()
    if not body:
        return Problem(where, "no article text after the title line")
    return Article(id=article_id, title=title, text=body, origin=where)


def _read_html(where: str, html: str, article_id: str) -> Article | Problem:
    import trafilatura  # imported here: it takes a second and only HTML input needs it

    doc = trafilatura.bare_extraction(html, with_metadata=True)
    if doc is None or not (doc.text or "").strip():
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
        published=doc.date or "",
        author=doc.author or "",
        source=doc.sitename or "",
        origin=where,
    )


def read_file(path: Path, relative_name: str | None = None) -> Iterator[Article | Problem]:
    """Yield the articles (and problems) of one file, whatever its supported type."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        yield Problem(str(path), f"unsupported file type '{suffix or path.name}' "
                      f"(expected one of {', '.join(sorted(SUPPORTED_SUFFIXES))})")
        return
    try:
        text = decode_bytes(path.read_bytes())
    except BinaryFileError as exc:
        yield Problem(str(path), str(exc))
        return
    except OSError as exc:
        yield Problem(str(path), f"cannot read file: {exc.strerror}")
        return
    if suffix in {".jsonl", ".ndjson"}:
        yield from read_jsonl(path, text)
    elif suffix == ".csv":
        yield from read_csv(path, text)
    else:
        yield read_document(path, text, relative_name or path.name)


def walk_paths(paths: list[str | Path]) -> Iterator[tuple[Path, str | None]]:
    """Every file to read under `paths` with its name relative to its given folder (None for a file
    given itself), in indexing order: folders walked sorted, hidden entries skipped. A path that is
    neither file nor folder is yielded as given, for the reader to report."""
    for given in paths:
        root = Path(given)
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith("."):
                        path = Path(dirpath) / name
                        yield path, f"{root.name}/{path.relative_to(root).as_posix()}"
        else:
            yield root, None


def read_path(path: Path, relative: str | None = None) -> Iterator[Article | Problem]:
    """The articles and problems of one entry of `walk_paths`."""
    if relative is None and not path.is_file():
        yield Problem(str(path), "no such file or folder")
    else:
        yield from read_file(path, relative)


def read_paths(paths: list[str | Path]) -> Iterator[Article | Problem]:
    """Yield articles and problems from files and folders (folders are walked in sorted order)."""
    for path, relative in walk_paths(paths):
        yield from read_path(path, relative)
