"""The sweep behind the limits of learned shapes (docs/quality.md, "Cleaning (issue 23)"): where a
learned shape removes a line, and how many fixed words a shape may have.

    python benchmarks/cleaning_shape_sweep.py DEV.jsonl STRESS.jsonl HELDOUT1.jsonl HELDOUT2.jsonl

Each file is scored as `article-search eval-cleaning` scores it (boilerplate removed / story kept,
in %), with the module's limits set for the run.
"""

from __future__ import annotations

import sys

from indexer import boilerplate
from search_api.cleaning_eval import evaluate_cleaning

PLACES = {
    "head and tail": lambda self, line: self.learned.is_boilerplate(self.source, line),
    "anywhere": lambda self, line: self.learned.is_boilerplate(self.source, line, shapes=True),
    "head and tail; mid-body for non-sentences": boilerplate.SourceLines.__call__,
}


def main(paths: list[str]) -> None:
    for place, predicate in PLACES.items():
        boilerplate.SourceLines.__call__ = predicate
        for most in (4, 6, 8, 10):
            boilerplate._SHAPE_FIXED_WORDS = (2, most)
            scores = [evaluate_cleaning(path) for path in paths]
            print(f"| {place} | {most} | " + " | ".join(
                f"{100 * s['boilerplate_removed']:.2f} / {100 * s['story_kept']:.2f}" for s in scores) + " |",
                flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
