"""Where a one-article write's time goes, step by step, on an existing index, in process: N
one-article writes through `LiveIndex` (as a server's POST makes them), with one client searching
without pause when the third argument is `search`. Each step (opening the writer, `add`, the
checkpoint, the lexical commit and close, story assignment, the refresh) is timed by a wrapper.

    python benchmarks/write_profile.py INDEX N search CORPUS.jsonl

CORPUS: JSONL articles to write, from its 6,001st on (as benchmarks/soak.py leaves them past its
seed and writes: its `corpus.jsonl`). The index gains the N articles.
"""
import collections, functools, sys, threading, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from indexer import lexical, store, writer as writer_mod
from indexer.article import Article
from search_api import live as live_mod
from indexer.inputs import read_paths

INDEX = Path(sys.argv[1]); N = int(sys.argv[2]); SEARCH = sys.argv[3] == "search"
steps = collections.defaultdict(float)
local = threading.local()
def timed(owner, name, label):
    original = getattr(owner, name)
    @functools.wraps(original)
    def wrapper(*a, **k):
        if threading.current_thread() is not threading.main_thread():
            return original(*a, **k)
        t = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            steps[label] += time.perf_counter() - t
    setattr(owner, name, wrapper)
timed(store, "checkpoint", "checkpoint")
timed(lexical.LexicalWriter, "close", "lexical close (wait merges)")
timed(lexical.LexicalWriter, "commit", "lexical commit")
timed(live_mod, "assign_stories", "assign_stories")
timed(live_mod.LiveIndex, "refresh", "refresh")
timed(live_mod, "open_writer", "open_writer")
timed(writer_mod.IndexWriter, "add", "writer.add")
timed(writer_mod.IndexWriter, "close", "writer.close")
timed(store, "write_lock", "write_lock")
li = live_mod.LiveIndex(INDEX, writable=True)
titles = [r[0] for r in __import__("sqlite3").connect(INDEX / "index.sqlite").execute("SELECT title FROM articles WHERE title != '' LIMIT 100")]
stop = False
def search():
    i = 0
    while not stop:
        with li.reading() as s:
            s.search(titles[i % len(titles)], k=10)
        i += 1
t = threading.Thread(target=search, daemon=True)
if SEARCH: t.start()
corpus = Path(sys.argv[4])
arts = [a for a in read_paths([corpus]) if hasattr(a, "text") and len(a.text) > 200][6000:6000 + N]
rows = []
for n, a in enumerate(arts):
    steps.clear()
    t0 = time.perf_counter()
    li.add([Article(f"prof-{n}-{time.time_ns()}", a.title, a.text, a.url, a.published, source=a.source)])
    total = time.perf_counter() - t0
    rows.append((total, dict(steps)))
    if total > 1:
        print(f"SLOW {n}: {total*1000:.0f} ms", {k: round(v*1000) for k, v in steps.items()}, flush=True)
stop = True
rows.sort(key=lambda r: r[0])
import statistics
print("p50", round(rows[len(rows)//2][0]*1000), "max", round(rows[-1][0]*1000))
for label in sorted({k for _, s in rows for k in s}):
    vals = sorted(s.get(label, 0) for _, s in rows)
    print(f"{label:32s} p50 {vals[len(vals)//2]*1000:8.1f}  max {vals[-1]*1000:8.1f}  mean {statistics.mean(vals)*1000:8.1f}")
li.close()  # the search thread is a daemon: it stops with the process
