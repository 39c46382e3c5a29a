"""Writes the Wikinews sample (data/) with the hand-written questions about it
(tests/fixtures/wikinews_questions.jsonl, one article each) as a BEIR folder, for `article-search
eval` and its `--no-match` check (docs/quality.md, "No good match"):

    python benchmarks/wikinews_beir.py /tmp/wikinews-qa
    article-search eval /tmp/wikinews-qa --no-match ../shared/data/squad-dev-a/queries.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path) -> None:
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as corpus:
        for line in open(ROOT / "data" / "wikinews_en_2019_2020.jsonl", encoding="utf-8"):
            article = json.loads(line)
            if len(article["text"].split()) < 10:  # a test page holding only its date line: nothing to index
                continue
            corpus.write(json.dumps({"_id": article["id"], "title": article["title"], "text": article["text"]}) + "\n")
    questions = [json.loads(line) for line in open(ROOT / "tests" / "fixtures" / "wikinews_questions.jsonl")]
    with open(out / "queries.jsonl", "w", encoding="utf-8") as queries:
        for question in questions:
            queries.write(json.dumps({"_id": question["_id"], "text": question["text"]}) + "\n")
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        qrels.writelines(f"{q['_id']}\t{q['article']}\t1\n" for q in questions)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
