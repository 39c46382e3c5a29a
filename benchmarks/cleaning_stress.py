"""A stress set for learned boilerplate: story lines that repeat for reasons other than a template.

    python benchmarks/cleaning_stress.py ../shared/data/boilerplate-dev/scraped.jsonl /tmp/cleaning-stress.jsonl
    article-search eval-cleaning /tmp/cleaning-stress.jsonl --min-stories 3 --min-share 0.2

Per source, one quote is inserted as a story line (in `text` and `clean`) after the first story
paragraph of 3 of its stories and another into 2 more; and three stories are syndicated five more
times each under new ids, spread through the file. A cleaner that removes lines merely because
they repeat loses story lines here (`story_kept` below 100%).
"""

from __future__ import annotations

import json
import random
import sys


def with_quote(record: dict, quote: str) -> dict:
    text, clean = record["text"].split("\n\n"), record["clean"].split("\n\n")
    first = next(n for n, paragraph in enumerate(text) if paragraph.strip() == clean[0].strip())
    text.insert(first + 1, quote)
    clean.insert(1, quote)
    return dict(record, text="\n\n".join(text), clean="\n\n".join(clean))


def main(source_path: str, out_path: str) -> None:
    records = [json.loads(line) for line in open(source_path, encoding="utf-8") if line.strip()]
    chosen = random.Random(5)
    positions: dict[str, list[int]] = {}
    for n, record in enumerate(records):
        positions.setdefault(record["source"], []).append(n)
    for source, places in positions.items():
        picked = chosen.sample(places, 5)
        for n in picked[:3]:
            records[n] = with_quote(records[n], f'"We will not back down, whatever the cost to {source.split()[-1]},"'
                                                f' the minister told reporters.')
        for n in picked[3:]:
            records[n] = with_quote(records[n], "The company said it was co-operating fully with the authorities.")
    for story in range(3):
        original = records[story * 50]
        for copy in range(5):
            records.insert(story * 50 + 10 * (copy + 1), dict(original, id=f"{original['id']}-copy{copy}"))
    with open(out_path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(record) + "\n" for record in records)
    print(f"{len(records)} records written to {out_path}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
