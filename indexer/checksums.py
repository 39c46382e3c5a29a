"""Checksums of the index's immutable files: CRC-32 of a file's bytes, and which files this process
has verified already.

The vector segments' checksums are recorded with the layout when a segment is written
(indexer.vectors); the lexical index's files carry tantivy's own CRC-32 in their footers
(indexer.lexical). A file is immutable once written, so a reader verifies each file once per
process, the first time it opens it; a file that changes on disk (a new inode, size or mtime) is
verified again. `article-search index --check` and `--repair` verify every file fully, whatever
this cache holds (docs/reliability.md, "Checksums").
"""

from __future__ import annotations

import os
import threading
import zlib
from pathlib import Path

BLOCK = 1 << 20  # read and summed a mebibyte at a time: flat memory whatever the file's size

_verified: set[tuple] = set()  # identities of files whose checksum matched, this process
_verified_lock = threading.Lock()


def crc32(data: bytes | memoryview, value: int = 0) -> int:
    """CRC-32 (IEEE, zlib's and tantivy's) of `data`, continuing from `value`."""
    return zlib.crc32(data, value)


def file_crc32(path: Path, length: int | None = None) -> int:
    """CRC-32 of the first `length` bytes of `path` (all of it by default), read a block at a time."""
    value = 0
    remaining = os.path.getsize(path) if length is None else length
    with open(path, "rb") as handle:
        while remaining > 0:
            block = handle.read(min(BLOCK, remaining))
            if not block:
                break
            value = zlib.crc32(block, value)
            remaining -= len(block)
    return value


def _identity(path: Path, expected: object) -> tuple:
    stat = os.stat(path)
    return str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, expected


def verified_once(path: Path, expected: object, verify) -> bool:
    """Whether `verify(path)` (a full check against `expected`) holds, asked once per process for
    each identity of the file: a match is remembered, a mismatch is asked again next time."""
    identity = _identity(path, expected)
    with _verified_lock:
        if identity in _verified:
            return True
    if not verify(path):
        return False
    with _verified_lock:
        _verified.add(identity)
    return True
