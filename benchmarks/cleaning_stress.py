"""A stress set for learned boilerplate: story lines that repeat for reasons other than a template.

    python benchmarks/cleaning_stress.py ../shared/data/boilerplate-dev/scraped.jsonl /tmp/cleaning-stress.jsonl
    article-search eval-cleaning /tmp/cleaning-stress.jsonl --min-stories 3 --min-share 0.2

Per source, one quote is inserted as a story line (in `text` and `clean`) after the first story
paragraph of 3 of its stories and another into 2 more; and three stories are syndicated five more
times each under new ids, spread through the file. Lines with a slot (issue 23): a quote with a new
speaker each time in 3 stories, and a phrase with a new name ("<name> told <outlet> on <day>.") in
8 of its 30 stories, above the 20% share, both story lines; and as boilerplate (in `text` only), a
credit line with new names in every story, after its last story paragraph ("Reporting by <name>;
Editing by <name>"). A cleaner that removes lines merely because they repeat, or because their
fixed words repeat, loses story lines here (`story_kept` below 100%); one that learns only exact
lines keeps the credits (`boilerplate_removed` below 100%).
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


FIRST = ["Priya", "David", "Tom", "Ana", "Jon", "Mei", "Sara", "Omar", "Lena", "Ivan", "Ruth", "Kofi"]
LAST = ["Nair", "Levy", "Okafor", "Lima", "Berg", "Chen", "Holm", "Aziz", "Voss", "Petrov", "Ode", "Mensah"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def with_credit(record: dict, credit: str) -> dict:
    """`record` with a boilerplate line after its last story paragraph (in `text` only)."""
    text, last = record["text"].split("\n\n"), record["clean"].split("\n\n")[-1].strip()
    end = max(n for n, paragraph in enumerate(text) if paragraph.strip() == last)
    text.insert(end + 1, credit)
    return dict(record, text="\n\n".join(text))


def main(source_path: str, out_path: str) -> None:
    records = [json.loads(line) for line in open(source_path, encoding="utf-8") if line.strip()]
    chosen, slotted = random.Random(5), random.Random(23)  # the second: the first stays as the sweep had it
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
        name = lambda: f"{slotted.choice(FIRST)} {slotted.choice(LAST)}"  # noqa: E731
        for n in slotted.sample(places, 3):
            records[n] = with_quote(records[n], f'"We will study the report carefully," said {name()}.')
        for n in slotted.sample(places, 8):
            records[n] = with_quote(records[n], f"{name()} told {source} on {slotted.choice(DAYS)}.")
        for n in places:
            records[n] = with_credit(records[n], f"Reporting by {name()}; Editing by {name()}")
    for story in range(3):
        original = records[story * 50]
        for copy in range(5):
            records.insert(story * 50 + 10 * (copy + 1), dict(original, id=f"{original['id']}-copy{copy}"))
    with open(out_path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(record) + "\n" for record in records)
    print(f"{len(records)} records written to {out_path}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
