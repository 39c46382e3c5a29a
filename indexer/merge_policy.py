"""Which vector segments merge next: a size-tiered policy after Lucene's TieredMergePolicy. No
FAISS and no database here: `plan_merge` reads segment sizes and tombstone counts and answers
with a slice of the layout; indexer.vectors' VectorWriter runs the merge it asks for."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .vectors import Segment

# Segments of similar size merge this many at a time (Lucene's segments per tier and merge
# factor): a query visits ~10 segments per tier of size.
MERGE_FACTOR = 10
# Segments below this many vectors count as this many when sizes are compared (Lucene's floor
# segment size): one-article writes make segments of 1-10 passages, which merge together at once.
FLOOR_SEGMENT = 10
# No merge writes a segment of more vectors than this (Lucene's max merged segment size), and a
# segment of over half of it joins no merge but the rewrite of its own tombstones: merged segments
# stay exact search (FLAT_LIMIT), the merge thread never trains IVF, and no merge rewrites the
# archive. `index --optimize` makes one segment of any size.
MAX_MERGED = 200_000
# Past this many segments the least skewed run of neighbours merges even when sizes differ (Lucene
# merges once the segment count is over its budget). benchmarks/merge_policy.py, 6,000 writes of
# 1-8 passages with a delete every sixth after a 1M- (or 212-) passage optimized segment: at most
# 28 (25) segments, each written vector copied 3.6 (3.7) times; the 1M segment is never rewritten,
# the 212 one first at write 225 (docs/benchmarks.md, "Size-tiered vector merges").
MAX_SEGMENTS = 30
# A segment is rewritten without its tombstones once they are this share of it (Lucene's
# deletes-pct-allowed is 20–33%).
TOMBSTONE_SHARE = 0.25


def plan_merge(segments: list[Segment], tombstoned: dict[str, int]) -> tuple[int, int] | None:
    """The slice [start, end) of neighbouring segments (in id order) to merge next, or None.
    `tombstoned` counts the tombstones inside each segment's range. In order:

    - a segment whose tombstones are TOMBSTONE_SHARE of it or more, rewritten alone;
    - the MERGE_FACTOR neighbours of least total size whose live sizes (floored at FLOOR_SEGMENT)
      are within a factor of MERGE_FACTOR of each other, none over MAX_MERGED / 2 and the sum
      not over MAX_MERGED;
    - over MAX_SEGMENTS segments, the run of 2..MERGE_FACTOR neighbours (longest first) whose
      largest is the least share of the total (Lucene's skew), within the same size limits."""
    for i, segment in enumerate(segments):
        if segment.count and tombstoned.get(segment.file, 0) >= TOMBSTONE_SHARE * segment.count:
            return i, i + 1
    live = [max(s.count - tombstoned.get(s.file, 0), 0) for s in segments]

    def fits(start: int, end: int) -> bool:
        run = live[start:end]
        return max(run) <= MAX_MERGED // 2 and sum(run) <= MAX_MERGED

    best = None
    for start in range(len(segments) - MERGE_FACTOR + 1):
        floored = [max(n, FLOOR_SEGMENT) for n in live[start:start + MERGE_FACTOR]]
        if fits(start, start + MERGE_FACTOR) and max(floored) <= MERGE_FACTOR * min(floored):
            best = min(best or (sum(floored), start), (sum(floored), start))
    if best is not None:
        return best[1], best[1] + MERGE_FACTOR
    if len(segments) <= MAX_SEGMENTS:
        return None
    for length in range(MERGE_FACTOR, 1, -1):
        runs = [(max(live[i:i + length]) / max(sum(live[i:i + length]), 1), i)
                for i in range(len(segments) - length + 1) if fits(i, i + length)]
        if runs:
            start = min(runs)[1]
            return start, start + length
    return None
