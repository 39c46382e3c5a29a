"""The vector merge policy (indexer.merge_policy.plan_merge) over a long run of small writes, simulated on
segment sizes alone (no vectors, no model): how many segments a query visits, and how many times
each written vector is copied by merges.

    python benchmarks/merge_policy.py --start 1000000 --writes 6000
    python benchmarks/merge_policy.py --start 212 --writes 6000

The run: an optimized segment of `--start` vectors, then `--writes` writes of 1-8 passages each
(a one-article POST), every sixth also removing 1-5 passages of a random segment; after each write
the merges `plan_merge` asks for run to the end, as the merge thread runs them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.merge_policy import plan_merge  # noqa: E402
from indexer.vectors import Segment  # noqa: E402


def simulate(start: int, writes: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    segments = [Segment("optimized", 0, 0, start, "flat")]
    dead = {"optimized": 0}
    written = copied = largest_merge = most_segments = 0
    optimized_rewritten_at = None
    for number in range(1, writes + 1):
        if number % 6 == 0:
            victim = segments[rng.integers(len(segments))]
            dead[victim.file] = min(victim.count, dead[victim.file] + int(rng.integers(1, 6)))
        size = int(rng.integers(1, 9))
        name = f"w{number}"
        segments.append(Segment(name, 0, 0, size, "flat"))
        dead[name] = 0
        written += size
        while (span := plan_merge(segments, dead)) is not None:
            parts = segments[span[0]:span[1]]
            live = sum(s.count - dead[s.file] for s in parts)
            if optimized_rewritten_at is None and any(s.file == "optimized" for s in parts):
                optimized_rewritten_at = number
            merged = Segment(f"m{number}-{span[0]}", 0, 0, live, "flat")
            dead[merged.file] = 0
            segments[span[0]:span[1]] = [merged]
            copied += live
            largest_merge = max(largest_merge, live)
        most_segments = max(most_segments, len(segments))
    return {"segments at the end": len(segments), "most segments": most_segments,
            "copies per written vector": round(copied / written, 2), "largest merge": largest_merge,
            "optimized segment first rewritten at write": optimized_rewritten_at or "never"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=1_000_000, help="vectors in the optimized segment")
    parser.add_argument("--writes", type=int, default=6000)
    args = parser.parse_args()
    for key, value in simulate(args.start, args.writes).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
