"""Checksums of the index's immutable files: CRC-32 of a file's bytes, of a sample of them, and
which files this process has verified already or found damaged.

The vector segments' checksums are recorded with the layout when a segment is written
(indexer.vectors): one of the whole file, and one of SAMPLE_SPANS evenly spread spans of it, which
a server checks at open in a read of SAMPLE_SPANS * SAMPLE_BYTES bytes whatever the file's size,
leaving the whole file to a background thread (search_api.live). The lexical index's files carry
tantivy's own CRC-32 in their footers (indexer.lexical). A file is immutable once written, so a
reader verifies each file once per process; a file that changes on disk (a new inode, size or
mtime) is verified again. A file found damaged is remembered (`mark_damaged`) and never served
again by this process. `article-search index --check` and `--repair` verify every file fully,
whatever this memory holds (docs/reliability.md, "Checksums").
"""

from __future__ import annotations

import os
import threading
import zlib
from pathlib import Path

BLOCK = 1 << 20  # read and summed a mebibyte at a time: flat memory whatever the file's size
# The sampled check at a server's open: 16 spans of 4 KiB, evenly spread from the first byte to the
# last (64 KiB read for any file; a file this small or smaller is read whole).
SAMPLE_SPANS = 16
SAMPLE_BYTES = 4096

_verified: set[tuple] = set()  # identities of files whose checksum matched, this process
_damaged: set[str] = set()  # paths of files whose checksum failed, this process
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


def sample_spans(size: int) -> list[tuple[int, int]]:
    """(offset, length) of the spans of a file of `size` bytes that its sampled checksum covers."""
    if size <= SAMPLE_SPANS * SAMPLE_BYTES:
        return [(0, size)]
    step = (size - SAMPLE_BYTES) / (SAMPLE_SPANS - 1)
    return [(round(i * step), SAMPLE_BYTES) for i in range(SAMPLE_SPANS)]


def sample_crc32(data: bytes | memoryview) -> int:
    """CRC-32 of the sampled spans of `data`, a whole file's bytes (at write time)."""
    value = 0
    for offset, length in sample_spans(len(data)):
        value = zlib.crc32(data[offset:offset + length], value)
    return value


def file_sample_crc32(path: Path) -> int:
    """CRC-32 of the sampled spans of `path`, reading only them."""
    value = 0
    with open(path, "rb") as handle:
        for offset, length in sample_spans(os.path.getsize(path)):
            handle.seek(offset)
            value = zlib.crc32(handle.read(length), value)
    return value


def mark_damaged(path: Path) -> None:
    """Remember that `path` failed its checksum: this process never serves it again."""
    with _verified_lock:
        _damaged.add(str(path))


def is_damaged(path: Path) -> bool:
    return str(path) in _damaged


def is_verified(path: Path, expected: object) -> bool:
    """Whether this process verified `path`, as it is now, against `expected` fully already."""
    try:
        identity = _identity(path, expected)
    except FileNotFoundError:
        return False
    with _verified_lock:
        return identity in _verified


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
