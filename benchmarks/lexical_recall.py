"""Lexical-only recall@1/5/10 and MRR@10 on a BEIR set (articles = corpus ids), clean / one typo / cut
inside the last word, through LexicalReader.search(depth 100, typos=True) on an eval index's lexical
folder: no embedding, so a change of lexical weighting is measured in minutes.

    python benchmarks/lexical_recall.py INDEX_DIR ../shared/data/squad-dev-a [clean typo cut]
"""
import csv, json, sqlite3, sys
from search_api.evaluation import altered_queries, with_typo, cut_inside_last_word
from search_api.query import typed_words
from indexer.lexical import LexicalReader
INDEX, D = sys.argv[1], sys.argv[2]
queries = {json.loads(l)["_id"]: json.loads(l)["text"] for l in open(f"{D}/queries.jsonl")}
qrels = {}
for row in csv.DictReader(open(f"{D}/qrels/test.tsv"), delimiter="\t"):
    qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
queries = {q: t for q, t in queries.items() if q in qrels}
conn = sqlite3.connect(f"file:{INDEX}/index.sqlite?mode=ro", uri=True)
article = dict(conn.execute("select id, article_id from chunks"))
reader = LexicalReader(f"{INDEX}/lexical")
VARIANTS = (("clean", queries), ("typo", altered_queries(queries, with_typo)), ("cut", altered_queries(queries, cut_inside_last_word)))
for name, qs in [v for v in VARIANTS if len(sys.argv) < 4 or v[0] in sys.argv[3:]]:
    r1 = r5 = r10 = mrr = 0
    for qid, text in qs.items():
        words, prefix = typed_words(text)
        ranked = list(dict.fromkeys(article[c] for c, _ in reader.search(words, 100, prefix=prefix, typos=True)))[:10]
        hit = [i for i, a in enumerate(ranked) if a in qrels[qid]]
        r1 += bool(hit and hit[0] < 1); r5 += bool(hit and hit[0] < 5); r10 += bool(hit); mrr += 1 / (hit[0] + 1) if hit else 0
    n = len(qs)
    print(f"{name}: recall@1 {r1/n:.4f} recall@5 {r5/n:.4f} recall@10 {r10/n:.4f} MRR@10 {mrr/n:.4f} ({n} questions)")
