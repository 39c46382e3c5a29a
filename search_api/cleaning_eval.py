"""`article-search eval-cleaning`: how much of a scrape's boilerplate the cleaner removes, and how much
of the story it keeps, judged line by line against the true text.

The archive is simulated: the records are cleaned one by one in file order, each after its lines
were counted, so a source's learned boilerplate grows exactly as it does while `index` reads the
same file (the first stories of a source are cleaned with little or nothing learned yet); then,
as `index` does at the end of a run, every cleaned text is cleaned again with all that was learned.
The scores are those of that final state; `as_indexed` holds those before the second cleaning.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from indexer.writing import MIN_SHARE, MIN_STORIES, LearnedBoilerplate, clean_text, source_of


class CleaningDataError(ValueError):
    """A record without the fields eval-cleaning needs; the message names the file and line."""


def _lines(text: str) -> list[str]:
    # Compared with spacing folded, as the cleaner folds runs of spaces.
    return [line for line in (re.sub(r"\s+", " ", raw).strip() for raw in text.split("\n")) if line]


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


def read_records(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, record) for every record of a JSONL file that has string `text` and `clean`."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CleaningDataError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
            for name in ("text", "clean"):
                if not isinstance(record, dict) or not isinstance(record.get(name), str):
                    raise CleaningDataError(f"{path}:{number}: field '{name}' is missing or not a string")
            records.append((number, record))
    return records


def evaluate_cleaning(path: str | Path, min_stories: int = MIN_STORIES, min_share: float = MIN_SHARE,
                      learn: bool = True) -> dict:
    """Score the cleaner on `path`: {"boilerplate_removed", "story_kept", "boilerplate_lines",
    "story_lines", "articles", "per_source": {source: the same keys}, "as_indexed": the same keys}.
    A line of `text` is a story line when it is a line of `clean`, else boilerplate; it is kept when
    it is a line of the output. With `learn` False only the patterns clean (what the first story of
    every source gets)."""
    learned = LearnedBoilerplate(min_stories=min_stories, min_share=min_share)
    cleaned = []  # (source, record, text as first cleaned)
    for number, record in read_records(path):
        source = source_of(str(record.get("source") or ""), str(record.get("url") or ""))
        learned.observe(source, str(record.get("id", f"line {number}")), record["text"])
        cleaned.append((source, record, clean_text(record["text"], learned.for_source(source) if learn else None).text))
    as_indexed = _scores([(source, record, text) for source, record, text in cleaned])
    final = _scores([(source, record, clean_text(text, learned.for_source(source)).text if learn else text)
                     for source, record, text in cleaned])
    return {**final, "as_indexed": {key: value for key, value in as_indexed.items() if key != "per_source"}}


def _scores(cleaned: list[tuple[str, dict, str]]) -> dict:
    tallies: dict[str, list[int]] = {}  # source -> [articles, boilerplate lines, removed, story lines, kept]
    for source, record, text in cleaned:
        output, story = set(_lines(text)), set(_lines(record["clean"]))
        tally = tallies.setdefault(source, [0, 0, 0, 0, 0])
        tally[0] += 1
        for line in _lines(record["text"]):
            if line in story:
                tally[3] += 1
                tally[4] += line in output
            else:
                tally[1] += 1
                tally[2] += line not in output

    def scores(articles, boilerplate, removed, story, kept) -> dict:
        return {"boilerplate_removed": _share(removed, boilerplate), "story_kept": _share(kept, story),
                "boilerplate_lines": boilerplate, "story_lines": story, "articles": articles}

    total = [sum(column) for column in zip(*tallies.values())] if tallies else [0] * 5
    return {**scores(*total), "per_source": {source: scores(*tally) for source, tally in sorted(tallies.items())}}
