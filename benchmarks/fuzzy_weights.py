"""Per query: the fuzzy weights' cost, by counting fuzzy matches (before) and by term lookups (after),
interleaved, over a lexical folder (e.g. one lexical_leg.py made).

    python benchmarks/fuzzy_weights.py LEXICAL_FOLDER
"""
import statistics, sys, time
import tantivy
from indexer.lexical import LexicalReader, near_miss_terms, typo_budget
from search_api.query import typed_words
from lexical_engines import questions
reader = LexicalReader(sys.argv[1])
s = reader.searcher
count_ms, lookup_ms = [], []
for _ in range(2):
    for q in questions(300):
        words, prefix = typed_words(q)
        fuzzy = [(t, typo_budget(w)) for w in words for t in reader.terms([w]) if typo_budget(w)]
        t0 = time.perf_counter()
        for term, budget in fuzzy:
            s.search(tantivy.Query.fuzzy_term_query(reader.schema, "body", term, distance=budget), 1, count=True).count
        t1 = time.perf_counter()
        for term, budget in fuzzy:
            sum(s.doc_freq("body", t) for t in near_miss_terms(term))
        t2 = time.perf_counter()
        count_ms.append((t1 - t0) * 1000); lookup_ms.append((t2 - t1) * 1000)
print(f"{s.num_docs} passages, {len(count_ms)} queries: fuzzy weights by counting p50 {statistics.median(count_ms):.2f} ms, by lookups p50 {statistics.median(lookup_ms):.2f} ms")
