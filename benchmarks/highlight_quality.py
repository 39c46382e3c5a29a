"""Highlight quality: how often the marked sentence holds the answer (squad-dev-a, gold passage given).

    python benchmarks/highlight_quality.py --questions 400

For each sampled question whose gold passage has several sentences and an answer inside one of
them, three ways of choosing the sentence to mark: the index's way (sentence vectors pooled from
the passage's own token embeddings, `indexer.highlights`), each sentence embedded on its own (a
model call per sentence at query time), and simply the first sentence.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA  # noqa: E402

from indexer.chunking import split_sentences  # noqa: E402
from indexer.models import TorchEncoder  # noqa: E402
from indexer.highlights import best_sentences, pooled_sentence_vectors  # noqa: E402
from search_api.evaluation import load_beir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(SHARED_DATA / "squad-dev-a"))
    parser.add_argument("--questions", type=int, default=400)
    args = parser.parse_args()
    corpus, queries, qrels = load_beir(args.dataset)
    docs = {a.id: a for a in corpus}
    answers = {json.loads(line)["_id"]: json.loads(line)["metadata"]["answers"]
               for line in open(Path(args.dataset) / "queries.jsonl", encoding="utf-8")}
    encoder = TorchEncoder()
    hits = {"pooled (index)": 0, "one by one": 0, "first sentence": 0}
    judged = 0
    for qid in random.Random(0).sample(sorted(queries), args.questions):
        doc = docs[next(iter(qrels[qid]))]
        spans = split_sentences(doc.text)
        holds = [any(a in doc.text[s:e] for a in answers[qid]) for s, e in spans]
        if len(spans) < 2 or not any(holds):
            continue
        judged += 1
        query = encoder.encode([queries[qid]])[0]
        embedded = f"{doc.title}\n{doc.text}"
        _, tokens = encoder.encode_with_tokens([embedded])
        offsets = encoder.tokenizer([embedded], return_offsets_mapping=True)["offset_mapping"][0]
        pooled = pooled_sentence_vectors(tokens[0], offsets, len(doc.title) + 1, spans)
        hits["pooled (index)"] += holds[best_sentences(pooled, query, margin=0.0)[0]]
        alone = encoder.encode([doc.text[s:e] for s, e in spans])
        hits["one by one"] += holds[int(np.argmax(alone @ query))]
        hits["first sentence"] += holds[0]
    print(f"{judged} questions judged")
    for name, count in hits.items():
        print(f"{name:16} {count / judged:.3f}")


if __name__ == "__main__":
    main()
