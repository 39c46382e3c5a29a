"""Lexical leg timing: LexicalReader.search(words, 300, prefix, typos=True) over squad questions,
clean and cut inside the last word, on a synthetic archive (benchmarks/lexical_engines.py's passages),
built in LEXICAL_FOLDER first if it is not there.

    python benchmarks/lexical_leg.py LEXICAL_FOLDER PASSAGES
"""
import statistics, sys, time
from pathlib import Path
from indexer.lexical import LexicalReader, LexicalWriter
from search_api.query import typed_words
from lexical_engines import synthetic_passages, questions
folder, count = Path(sys.argv[1]), int(sys.argv[2])
if not folder.exists():
    with LexicalWriter(folder) as writer:
        for pid, title, text, source, day in synthetic_passages(count):
            writer.add(chunk_id=pid, title=title, text=text, source=source,
                       published=f"{day // 10000}-{day // 100 % 100:02d}-{day % 100:02d}")
        writer.commit()
reader = LexicalReader(folder)
qs = questions(300)
typed = [typed_words(q) for q in qs] + [typed_words(q.rstrip("?")[:-2]) for q in qs]
for words, prefix in typed[:20]:
    reader.search(words, 300, prefix=prefix, typos=True)
times = []
for _ in range(2):
    for words, prefix in typed:
        t = time.perf_counter()
        reader.search(words, 300, prefix=prefix, typos=True)
        times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"{count} passages, {len(times)} searches: p50 {statistics.median(times):.2f} ms, p90 {times[int(.9 * len(times))]:.2f} ms")
