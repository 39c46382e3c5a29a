"""Checking the lexical index's files: the files of its current commit (`commit_files`) and
whether their bytes match the CRC-32 tantivy wrote in each file's footer (`damaged_files`).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from .. import checksums


# The end of every file tantivy writes for a segment: a JSON footer holding the CRC-32 of the bytes
# before it, then the footer's length and this magic number, both little-endian u32.
FOOTER_MAGIC = 1337


def _footer_matches(path: Path, whole: bool = True) -> bool:
    """Whether the bytes of one tantivy segment file match the CRC-32 of its footer; with `whole`
    False, only whether its footer is there and readable (a server's open: a few bytes read)."""
    size = path.stat().st_size
    if size < 8:
        return False
    with open(path, "rb") as handle:
        handle.seek(size - 8)
        length, magic = struct.unpack("<II", handle.read(8))
        if magic != FOOTER_MAGIC or length + 8 > size:
            return False
        handle.seek(size - 8 - length)
        try:
            crc = json.loads(handle.read(length))["crc"]
        except (ValueError, KeyError, TypeError):
            return False
    return not whole or checksums.file_crc32(path, size - 8 - length) == crc


def commit_files(folder: Path) -> list[Path]:
    """The files of the lexical index's current commit (the segments of its meta.json); raises
    OSError or ValueError when meta.json cannot be read."""
    folder = Path(folder)
    segments = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["segments"]
    prefixes = {segment["segment_id"].replace("-", "") for segment in segments}
    return [path for path in sorted(folder.iterdir()) if path.name.split(".", 1)[0] in prefixes]


def damaged_files(folder: Path, depth: str = "full") -> list[str]:
    """The files of the lexical index's current commit whose bytes do not match the CRC-32 that
    tantivy wrote in their footer, each named with why; [] when none. `depth` as for
    indexer.vectors.check_segment: "full" reads every file; "once" skips a file this process
    verified already; "sampled" (a server's open) reads only each footer, leaving the rest to the
    server's background check (`LexicalReader.verify`). A file found damaged is remembered
    (indexer.checksums) and fails every depth but "full"."""
    try:
        files = commit_files(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"meta.json cannot be read ({exc})"]
    damaged = []
    for path in files:
        try:
            if depth != "full" and checksums.is_damaged(path):
                good = False
            elif depth == "sampled":
                good = _footer_matches(path, whole=False)
            elif depth == "once":
                good = checksums.verified_once(path, "footer", _footer_matches)
            else:
                good = _footer_matches(path)
        except FileNotFoundError:  # merged away meanwhile: no longer part of the commit
            continue
        if not good:
            checksums.mark_damaged(path)
            damaged.append(f"{path.name} fails its checksum")
    return damaged
