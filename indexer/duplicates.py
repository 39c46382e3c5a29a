"""Near-duplicate articles (syndicated wire copy republished by several outlets), found by MinHash.

Each article's cleaned text is cut into overlapping 5-word shingles; its MinHash signature (128
hash minima) estimates the Jaccard similarity of two shingle sets. Signatures are split into 16
bands of 8 rows for locality-sensitive lookup: two articles share a band bucket with high
probability when their similarity is above ~0.7, so finding the candidates of a new article is a
few indexed SQLite lookups, not a scan. A candidate whose estimated similarity reaches
`THRESHOLD` joins the article's duplicate group.

The same wire story under another headline, with the outlet's own boilerplate and a trimmed last
paragraph, keeps most of its shingles (the headline is not part of the text compared, boilerplate
is removed by cleaning), so it stays far above the threshold; two reports of the same event
written independently share few 5-word runs and stay far below it.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

NUM_PERM = 128
BANDS, ROWS = 16, 8
SHINGLE_WORDS = 5
THRESHOLD = 0.8
_PRIME = (1 << 31) - 1
_rng = np.random.default_rng(20240116)  # fixed: signatures must be the same in every process
_A = _rng.integers(1, _PRIME, NUM_PERM, dtype=np.int64)
_B = _rng.integers(0, _PRIME, NUM_PERM, dtype=np.int64)
_WORD = re.compile(r"\w+")


def shingles(text: str) -> np.ndarray:
    """crc32 hashes of the text's lower-cased 5-word shingles (the whole text if shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) <= SHINGLE_WORDS:
        pieces = [" ".join(words)]
    else:
        pieces = [" ".join(words[i:i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)]
    return np.unique(np.fromiter((zlib.crc32(p.encode("utf-8")) for p in pieces), dtype=np.int64, count=len(pieces)))


def signature(text: str) -> np.ndarray:
    """The MinHash signature of `text`: NUM_PERM uint32 values."""
    hashed = shingles(text) % _PRIME
    # (a * x + b) mod p for every permutation and shingle; a, x < 2^31 keeps it within int64.
    values = (_A[:, None] * hashed[None, :] + _B[:, None]) % _PRIME
    return values.min(axis=1).astype(np.uint32)


def band_keys(sig: np.ndarray) -> list[int]:
    """One bucket key per band (crc32 of the band's rows)."""
    return [zlib.crc32(sig[b * ROWS:(b + 1) * ROWS].tobytes()) for b in range(BANDS)]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the texts behind two signatures."""
    return float(np.mean(a == b))
