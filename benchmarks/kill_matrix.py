"""The kill matrix (issue 21): SIGKILL at random points of every kind of write, then a rerun that
must equal a clean build, texts included.

Phases, each on a small corpus (sample Wikinews articles and two templated outlets of
/work/shared/data/boilerplate-dev, whose learned boilerplate re-cleans earlier articles):

    index     a first `article-search index` run, --commit-every 4 (merges and end-of-run cleaning)
    reclean   a run whose sources learn new boilerplate, re-cleaning the articles of an earlier run
    merge     a run of one-article batches: ten segments merge on the background merge thread
    optimize  `article-search index --optimize` over an index of many segments
    purge     an update run after removals, with the retention at 0 so that lexical tombstones are
              purged and old segment files collected while it runs
    post      two POST /articles (one new, one update) to a writing server (the FastAPI app)

For each kill: the phase's base index is copied, the phase's step runs in a child process that
loads the model first and then waits for a go, and is SIGKILLed a uniform random time after the go
within the step's own duration (measured by a clean run, and shortened to any run that finished
before its kill, as the load of the machine changes); then the step runs
again to its end and the index is compared with the clean build of the same steps: article rows
(id, title, url, date, author, source, cleaned text, metadata, content hash), passages (article,
position, offsets, text, tokens) and their stored vectors (cosine >= 0.9999), the vector and lexical
counts, every live passage found in the vector segments by its own vector, `index --check` clean,
and the top results of a few queries.

    PYTHONPATH=$PWD python benchmarks/kill_matrix.py --kills 100 [--seed 0] [--phases index,post]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "wikinews_en_2019_2020.jsonl"
TEMPLATED = Path("/work/shared/data/boilerplate-dev/scraped.jsonl")
OUTLETS = ("Harbor Times", "Coastal News")
KEY = "kill-matrix-key"
QUERIES = ["apartment building explosion", "hunting ban", "election", "fire"]
PHASES = ("index", "reclean", "merge", "optimize", "purge", "post")


# -- corpora ----------------------------------------------------------------------------------------

def write_corpora(folder: Path) -> None:
    """The JSONL files the phases index, in `folder`."""
    with open(SAMPLE, encoding="utf-8") as handle:
        wiki = [json.loads(next(handle)) for _ in range(21)]
    outlets = {name: [] for name in OUTLETS}
    with open(TEMPLATED, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["source"] in outlets and len(outlets[record["source"]]) < 7:
                record.pop("clean", None)
                outlets[record["source"]].append(record)
    a, b = outlets[OUTLETS[0]], outlets[OUTLETS[1]]

    def dump(name: str, records: list[dict]) -> None:
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    interleaved = [r for pair in zip(a[:5], b[:5]) for r in pair]
    dump("mixed.jsonl", interleaved + wiki[:6])
    dump("early.jsonl", a[:2] + b[:2] + wiki[:4])        # too few stories to learn a template
    dump("late.jsonl", [r for pair in zip(a[2:7], b[2:7]) for r in pair])  # learns it: re-cleans early
    dump("wiki.jsonl", wiki[:8])
    dump("singles.jsonl", wiki[8:19])
    updated = [dict(r, text=r["text"] + "\n\nThis article was updated with a correction.") for r in wiki[:2]]
    dump("updated.jsonl", updated)
    dump("posts.jsonl", [wiki[20], updated[1]])


# -- steps: what a phase's base runs and what its killed step runs ----------------------------------

def cli(*args: str) -> None:
    from search_api.cli import main

    code = main([str(a) for a in args])
    if code != 0:
        raise RuntimeError(f"article-search {' '.join(map(str, args))} exited {code}")


def index(corpus: str, every: int = 4):
    return lambda index_dir, work: cli("index", work / corpus, "--index", index_dir, "--commit-every", every, "--quiet")


def optimize(index_dir: Path, work: Path) -> None:
    cli("index", "--optimize", "--index", index_dir, "--quiet")


def remove_two(index_dir: Path, work: Path) -> None:
    ids = [json.loads(line)["id"] for line in (work / "wiki.jsonl").read_text(encoding="utf-8").splitlines()]
    cli("remove", *ids[4:6], "--index", index_dir)


def purging_update(index_dir: Path, work: Path) -> None:
    """An update run that purges the lexical tombstones and collects old segment files as it goes."""
    from indexer import vectors, writer

    kept = vectors.RETENTION_SECONDS
    vectors.RETENTION_SECONDS = writer.RETENTION_SECONDS = 0.0
    try:
        index("updated.jsonl", 1)(index_dir, work)
    finally:
        vectors.RETENTION_SECONDS = writer.RETENTION_SECONDS = kept


def post(index_dir: Path, work: Path) -> None:
    """The records of posts.jsonl POSTed one by one to the app with writes enabled."""
    from fastapi.testclient import TestClient

    from search_api.app import create_app

    records = [json.loads(line) for line in (work / "posts.jsonl").read_text(encoding="utf-8").splitlines()]
    with TestClient(create_app(index_dir, encoder=ENCODER, api_key=KEY)) as client:
        for record in records:
            response = client.post("/articles", json=record, headers={"Authorization": f"Bearer {KEY}"})
            if response.status_code != 200:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text}")


# phase: (base steps, the step killed)
SCENARIOS = {
    "index": ([], index("mixed.jsonl")),
    "reclean": ([index("early.jsonl")], index("late.jsonl")),
    "merge": ([index("wiki.jsonl", 8)], index("singles.jsonl", 1)),
    "optimize": ([index("wiki.jsonl", 2)], optimize),
    "purge": ([index("wiki.jsonl", 4), remove_two], purging_update),
    "post": ([index("wiki.jsonl", 8)], post),
}

ENCODER = None


def load_model() -> None:
    """Load the model once; every writer and server of this process uses it."""
    global ENCODER
    from indexer import writer
    from indexer.models import TorchEncoder
    from search_api import live

    ENCODER = TorchEncoder()
    writer.load_encoder = live.load_encoder = lambda *args, **kwargs: ENCODER


# -- the child: one step, killed from outside -------------------------------------------------------

def child(phase: str, index_dir: Path, work: Path) -> None:
    load_model()
    print("ready", flush=True)
    sys.stdin.readline()
    SCENARIOS[phase][1](index_dir, work)
    print("done", flush=True)


def run_child(phase: str, index_dir: Path, work: Path, kill_after: float | None) -> tuple[float, bool]:
    """Run the phase's step in a child; SIGKILL it `kill_after` seconds after its go (None: let it
    finish). Returns (seconds from go to its end, whether it was killed)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", phase, str(index_dir), str(work)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the child of {phase} failed to start: {process.communicate()[1][-2000:]}")
    process.stdin.write("go\n")
    process.stdin.flush()
    start = time.monotonic()
    killed = False
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            killed = True
    _, err = process.communicate()
    if not killed and process.returncode != 0:
        raise RuntimeError(f"the child of {phase} exited {process.returncode}: {err[-2000:]}")
    return time.monotonic() - start, killed


# -- comparing an index with the clean build --------------------------------------------------------

def content(index_dir: Path) -> dict:
    """What must be equal: rows, passages, vectors, counts, engines' agreement, top results."""
    from indexer import store
    from search_api.searcher import Searcher

    conn = sqlite3.connect(f"file:{index_dir / store.DATABASE}?mode=ro", uri=True)
    articles = conn.execute("SELECT id, title, url, published, author, source, text, metadata, content_hash "
                            "FROM articles ORDER BY id").fetchall()
    chunks = conn.execute("SELECT article_id, position, start, end, text, tokens, id, vector FROM chunks "
                          "ORDER BY article_id, position").fetchall()
    conn.close()
    searcher = Searcher(index_dir, encoder=ENCODER)
    try:
        reader = searcher.reader.snapshot.vectors
        unfound = []
        for chunk in chunks:
            vector = np.frombuffer(chunk[7], dtype=np.float32)[None, :]
            scores, ids = reader.search(vector, 1, among=np.array([chunk[6]], np.int64))
            if ids[0, 0] != chunk[6] or scores[0, 0] < 0.999:
                unfound.append(chunk[:2])
        tops = [[h.article_id for h in searcher.search(q, k=5, highlight=False).results] for q in QUERIES]
        counts = (searcher.vector_count, searcher.reader.lexical_index.passages, len(chunks))
        segments = len(reader.segments)
    finally:
        searcher.close()
    return {"articles": articles, "passages": [c[:6] for c in chunks],
            "vectors": np.stack([np.frombuffer(c[7], dtype=np.float32) for c in chunks]) if chunks else None,
            "counts": counts, "unfound": unfound, "check": store.check_index(index_dir), "tops": tops,
            "segments": segments}


def differences(got: dict, clean: dict) -> list[str]:
    """What differs between an index rerun after a kill and the clean build ([] when none)."""
    found = []
    if got["articles"] != clean["articles"]:
        ids = {a[0] for a in got["articles"]} ^ {a[0] for a in clean["articles"]}
        changed = [a[0] for a, b in zip(got["articles"], clean["articles"]) if a != b]
        found.append(f"articles differ (ids only on one side: {sorted(ids)[:5]}; rows changed: {changed[:5]})")
    if got["passages"] != clean["passages"]:
        found.append("passages differ (text, offsets or tokens)")
    elif got["vectors"] is not None and np.min(np.sum(got["vectors"] * clean["vectors"], axis=1)) < 0.9999:
        found.append("stored vectors differ")
    if not (got["counts"][0] == got["counts"][1] == got["counts"][2]) or got["counts"] != clean["counts"]:
        found.append(f"counts (vectors, lexical, passages) {got['counts']} against {clean['counts']}")
    if got["unfound"]:
        found.append(f"{len(got['unfound'])} passages not found in the vector segments by their vector")
    if got["check"]:
        found.append(f"index --check: {got['check'][:2]}")
    if got["tops"] != clean["tops"]:
        found.append("top results differ")
    return found


# -- the matrix -------------------------------------------------------------------------------------

def build(folder: Path, steps, work: Path) -> None:
    for step in steps:
        step(folder, work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--child", nargs=3, metavar=("PHASE", "INDEX", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    phases = args.phases.split(",")
    rng = random.Random(args.seed)
    load_model()
    with tempfile.TemporaryDirectory(prefix="kill-matrix-") as tmp:
        work = Path(tmp)
        write_corpora(work)
        bases, cleans, durations = {}, {}, {}
        for phase in phases:
            base_steps, _ = SCENARIOS[phase]
            bases[phase] = work / f"base-{phase}"
            build(bases[phase], base_steps, work)
            clean = work / f"clean-{phase}"
            copy(bases[phase], clean)
            durations[phase], _ = run_child(phase, clean, work, None)
            cleans[phase] = content(clean)
            print(f"{phase}: clean step {durations[phase]:.1f} s, {cleans[phase]['counts'][2]} passages, "
                  f"{cleans[phase]['segments']} segments", flush=True)
        tally = {phase: Counter() for phase in phases}
        for n in range(args.kills):
            phase = phases[n % len(phases)]
            target = work / "killed"
            copy(bases[phase], target)
            at = rng.uniform(0, durations[phase])
            took, killed = run_child(phase, target, work, at)
            if not killed:  # the machine got faster: kill within the step's shorter duration from now on
                durations[phase] = min(durations[phase], took)
            SCENARIOS[phase][1](target, work)  # the rerun, to its end
            found = differences(content(target), cleans[phase])
            tally[phase]["runs"] += 1
            tally[phase]["killed"] += killed
            tally[phase]["mismatches"] += bool(found)
            print(f"{n + 1:3d} {phase:8s} kill at {at:5.1f} s{'' if killed else ' (finished first)'}: "
                  f"{'; '.join(found) or 'equal to the clean build'}", flush=True)
            if found:
                keep = work.parent / f"kill-matrix-mismatch-{phase}-{n + 1}"
                shutil.copytree(target, keep, dirs_exist_ok=True)
                print(f"    kept at {keep}", flush=True)
    print("\n| phase | clean step (s) | runs | killed mid-step | mismatches |\n|---|---|---|---|---|")
    for phase in phases:
        t = tally[phase]
        print(f"| {phase} | {durations[phase]:.1f} | {t['runs']} | {t['killed']} | {t['mismatches']} |")
    return int(any(t["mismatches"] for t in tally.values()))


def copy(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    if source.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".lock"))


if __name__ == "__main__":
    sys.exit(main())
