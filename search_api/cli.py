"""The `article-search` command: index, remove, query, related, stats, serve, eval.

Every subcommand has --help. `--index` defaults to $ARTICLE_SEARCH_INDEX, else ./index.
Exit status is 0 on success; otherwise 1 with a one-line reason on stderr (2 for a usage error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import sys
import textwrap

from indexer.settings import VARIABLES, Settings
from indexer.wording import counted, file_size

from . import package_version
from .query import FUSIONS, MODES, SORTS, SearchError, facet_list


def _default_index() -> str:
    return Settings.from_environment().index


def _add_index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", default=_default_index(), metavar="DIR",
                        help="index directory (default: $ARTICLE_SEARCH_INDEX, else ./index)")


def _add_backend_option(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"],
                        help=f"run the model on torch, onnxruntime, or onnxruntime with int8 weights {purpose}")


def _number(kind: type, low: float, high: float | None = None, above: bool = False):
    """An argparse type: a finite `kind` (int or float) from `low` (exclusive when `above`) up to
    `high`, so that an out-of-range flag is a usage error instead of silently odd behaviour."""
    span = (f"greater than {low}" if above else f"between {low} and {high}" if high is not None
            else f"at least {low}")

    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'} "
                                             f"{span}, got '{value}'") from None
        if not (math.isfinite(number) and (number > low if above else number >= low)
                and (high is None or number <= high)):
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return number

    return parse


_positive_int = _number(int, 1)


def _add_lock_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock-timeout", type=_number(float, 0), metavar="SECONDS",
                        help="how long to wait while another process (a server's write, another run) writes the "
                             "index, before giving up (default 20)")


def _apply_lock_timeout(args) -> None:
    """--lock-timeout: this process's writes wait that long for the index's write lock."""
    from indexer import store

    if args.lock_timeout is not None:
        store.WRITE_LOCK_TIMEOUT = args.lock_timeout


def _add_reranker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reranker", metavar="NAME_OR_PATH",
                        help="re-score the top 30 articles with this sentence-transformers CrossEncoder "
                             "(a local folder or cached model; off by default)")


def _add_ray_options(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument("--ray", action="store_true",
                        help=f"{purpose} (pip install 'article-search[ray]'; a local Ray instance unless --ray-address)")
    parser.add_argument("--ray-address", metavar="ADDRESS",
                        help="a running Ray cluster, e.g. ray://head:10001 (implies --ray)")


def _add_eval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", metavar="DIR",
                        help="keep the evaluation index here and reuse it next time (default: a temporary one)")
    parser.add_argument("--model", help="sentence-transformers model name or path (default: the bundled one)")
    parser.add_argument("--max-tokens", type=_positive_int, help="passage size limit in word pieces")
    parser.add_argument("--title-tokens", type=_number(int, 0), default=32, metavar="N",
                        help="word pieces of the title embedded with each passage; 0 for none (default 32)")
    parser.add_argument("--fusion", choices=FUSIONS, help="hybrid fusion (default: the searcher's)")
    parser.add_argument("--rrf-k", type=_number(float, 0, above=True), help="RRF constant k")
    parser.add_argument("--linear-weight", type=_number(float, 0, 1), help="dense weight of linear fusion, 0..1")
    _add_backend_option(parser, "(default: torch)")
    _add_reranker_option(parser)
    parser.add_argument("--json", action="store_true")


def _add_min_confidence_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-confidence", type=_number(float, 0, 1), metavar="C",
                        help="0 turns the match decision off: the best candidates are listed, matching or not "
                             "(any other value: on, the default; docs/api.md 'Match sets and total')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="article-search",
        description="Semantic search over a news article archive.",
        epilog="Example: article-search index data/ && article-search query \"why did the building collapse?\"",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("index", help="add, update or re-index articles from files or folders",
                            description="Ingest JSONL, CSV, .txt, .md and .html files (folders are walked). "
                                        "New articles are added, changed ones re-embedded, unchanged ones skipped.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to index")
    _add_index_option(p)
    p.add_argument("--model", help="sentence-transformers model name or path for a new index "
                                   "(default: the bundled all-MiniLM-L6-v2); an existing index keeps its own")
    p.add_argument("--max-tokens", type=_positive_int,
                   help="passage size limit in word pieces for a new index (default: the model's max_seq_length)")
    p.add_argument("--overlap", type=_number(int, 0), default=1, help="sentences shared by consecutive passages (default 1)")
    p.add_argument("--title-tokens", type=_number(int, 0), default=32, metavar="N",
                   help="word pieces of the title embedded with each passage as context; 0 for none (default 32)")
    p.add_argument("--commit-every", type=_positive_int, default=256, metavar="N",
                   help="commit after about N passages: each commit is a generation that servers switch to, and "
                        "an interrupted run keeps its progress (default 256)")
    _add_backend_option(p, "(default: torch for a new index, else the index's own)")
    p.add_argument("--max-article-chars", type=_positive_int, default=1_000_000, metavar="N",
                   help="skip (and report) articles with more text than this (default 1,000,000)")
    p.add_argument("--index-type", choices=["auto", "flat", "ivf-sq8"],
                   help="FAISS layout of the vector segments: exact flat, IVF with 8-bit vectors, or auto by "
                        "segment size (default auto; kept)")
    p.add_argument("--optimize", action="store_true",
                   help="merge the vector segments into one, written from the stored vectors (small segments "
                        "are merged as they come anyway; this is for a quiet hour)")
    p.add_argument("--rebuild", action="store_true",
                   help="rebuild the vector segments and the lexical index from the database, without "
                        "re-embedding (also upgrades an index of an earlier format)")
    p.add_argument("--repair", action="store_true",
                   help="rewrite a missing or damaged manifest, vector segments and lexical index from the database "
                        "(every file checked against its checksum)")
    p.add_argument("--check", action="store_true",
                   help="read the whole index and report what is damaged (database pages, generation, every "
                        "vector segment and lexical file against its checksum); exit 1 if anything is. Writes nothing")
    p.add_argument("--shards", type=_positive_int, metavar="N",
                   help="a new index split into N shards by a hash of the article id, each a complete index "
                        "(see docs/scaling.md); an existing sharded index keeps its count")
    _add_ray_options(p, "read, chunk and embed on Ray; the index is written here as a local run writes it")
    p.add_argument("--ray-actors", type=_positive_int, metavar="N",
                   help="model actors embedding in parallel (default: one per CPU of the cluster)")
    p.add_argument("--ray-staging", metavar="PATH",
                   help="where the run's intermediate Parquet shards go, in a folder of the run's own that it "
                        "removes (nothing else there is touched); on a cluster a path every node can write "
                        "(default: INDEX_DIR)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_lock_timeout_option(p)

    p = commands.add_parser("remove", help="remove articles and all their passages",
                            description="Remove articles by id, with their passages and vectors; an id not in "
                                        "the index is reported and the exit status is 1.")
    p.add_argument("ids", nargs="+", metavar="ID")
    _add_index_option(p)
    _add_lock_timeout_option(p)

    p = commands.add_parser("query", help="search the index",
                            description="Search; prints results grouped by article, or the JSON of GET /search.")
    p.add_argument("text", metavar="TEXT")
    _add_index_option(p)
    p.add_argument("-k", type=_positive_int, default=10, help="articles to return (default 10)")
    p.add_argument("--offset", type=_number(int, 0), default=0, help="skip this many articles (pagination)")
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--source", help="only articles from this source")
    p.add_argument("--since", metavar="DATE", help="only articles published on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DATE", help="only articles published on or before DATE (YYYY-MM-DD)")
    p.add_argument("--passages", type=_positive_int, default=3, help="passages per article (default 3)")
    p.add_argument("--sort", choices=SORTS, default="relevance",
                   help="order of the matching articles: relevance (default), or by date")
    p.add_argument("--recency", type=_number(float, 0, above=True), metavar="DAYS",
                   help="boost recent articles: the score halves per DAYS older than the newest match")
    p.add_argument("--no-typos", dest="typos", action="store_false",
                   help="match words exactly (by default a word of 5+ letters forgives 1 typo, of 9+ letters 2)")
    p.add_argument("--facets", metavar="NAMES", type=_facet_names,
                   help="count the matching articles per value of these fields, comma-separated: "
                        "source, year, author or any metadata field (e.g. source,author,year)")
    _add_min_confidence_option(p)
    p.add_argument("--json", action="store_true", help="print the JSON of GET /search")
    _add_backend_option(p, "for the query (default: onnx where it embeds as the index did, else the index's own)")
    _add_reranker_option(p)

    p = commands.add_parser("related", help="related coverage of one article",
                            description="Other articles on the same story or topic, best first; near-identical "
                                        "copies (syndicated text) are marked.")
    p.add_argument("id", metavar="ID")
    _add_index_option(p)
    p.add_argument("-k", type=_positive_int, default=10, help="articles to return at most (default 10)")
    p.add_argument("--scope", choices=["story", "similar"], default="story",
                   help="story: the other reports of the same story, possibly none (default); "
                        "similar: the k nearest articles, whatever their story")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("serve", help="the HTTP API and the search page",
                            description="Serve the JSON API and the search page. Write routes need "
                                        "$ARTICLE_SEARCH_API_KEY; without it they are refused.")
    _add_index_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_number(int, 1, 65535), default=8000)
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser requests from ORIGIN (repeatable; default: CORS off)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--request-timeout", type=_number(float, 0, above=True), metavar="SECONDS",
                   help="close a connection whose request (line, headers and body) has not arrived whole within "
                        "this many seconds of its first byte: slow clients cannot hold connections (default 30)")
    _add_backend_option(p, "for queries (default: onnx where it embeds as the index did, else the index's own)")
    _add_reranker_option(p)
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="server processes sharing the port, each with its own copy of the model and the "
                        "read-only index, each following index changes (default 1; see docs/scaling.md)")
    _add_ray_options(p, "serve a sharded index with Ray Serve: a deployment per shard and a router that merges")
    p.add_argument("--ray-replicas", type=_positive_int, default=1, metavar="N",
                   help="replicas of each shard deployment (default 1)")
    p.add_argument("--ray-replica-cpus", type=_number(float, 0, above=True), default=0.25, metavar="CPUS",
                   help="Ray CPUs reserved by each replica (default 0.25; all replicas must fit in the cluster)")

    p = commands.add_parser("eval", help="retrieval quality on a BEIR-layout question set",
                            description="Index each corpus entry as one article and score every query: "
                                        "recall@1/5/10, MRR@10, nDCG@10 per mode.")
    p.add_argument("dataset", metavar="DATASET_DIR", help="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument("--mode", nargs="+", choices=MODES, default=["dense", "lexical", "hybrid"])
    p.add_argument("--max-queries", type=_positive_int,
                   help="a fixed random sample of N queries (quick runs; of the --no-match questions too)")
    p.add_argument("--typos", action="store_true",
                   help="also score the questions with one seeded typo each, in one word of 5+ characters")
    p.add_argument("--prefix", action="store_true",
                   help="also score the questions cut inside their last word (3+ characters kept), as typed")
    p.add_argument("--no-typos", dest="typo_tolerance", action="store_false",
                   help="search with typo tolerance off (as query --no-typos)")
    p.add_argument("--no-match", metavar="OTHER_QUERIES_JSONL",
                   help="also run these questions, written for another corpus (JSONL with _id and text), and report "
                        "the share answered with no results, and recall@5 with and without the no-match decision")
    _add_min_confidence_option(p)
    _add_eval_options(p)

    p = commands.add_parser("eval-sets", help="match sets: name and topic queries over a JSONL archive",
                            description="Index the archive (or reuse --index) and run each query: newest-first "
                                        "precision and recall of the first page, relevance-order R-precision (an "
                                        "article is relevant when it mentions one of the query's `mentions`), and "
                                        "the year facet counts that a click on the year contradicts.")
    p.add_argument("file", metavar="FILE", help="the archive, JSONL (e.g. data/wikinews_en_2019_2020.jsonl)")
    p.add_argument("--queries", metavar="JSONL", required=True,
                   help="queries: text, kind, mentions (e.g. tests/fixtures/match_queries.jsonl)")
    _add_min_confidence_option(p)
    _add_eval_options(p)

    p = commands.add_parser("eval-related", help="related-coverage quality on a labelled JSONL archive",
                            description="For every article its related list is judged relevant where --label "
                                        "matches: precision@5, precision@10, MAP; beside BM25-only and dense-only "
                                        "related lists measured in the same run.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--label", required=True, metavar="FIELD", help="the field that marks articles as related")
    p.add_argument("-k", type=_positive_int, default=10, help="related articles per article (default 10)")
    p.add_argument("--max-articles", type=_positive_int, help="judge a fixed random sample of N articles")
    p.add_argument("--sets", action="store_true",
                   help="also judge related coverage as a set: related-set F1 and B³ F1 of story threads on copies of "
                        "the index where each --label value keeps 1, 2, 3, 5 or all of its articles")
    p.add_argument("--set-k", type=_positive_int, default=20, metavar="K",
                   help="the cap of a related set in those measures (default 20)")
    _add_eval_options(p)

    p = commands.add_parser("eval-cleaning", help="cleaning quality on scraped text with its true text",
                            description="Clean each record's `text` in file order, learning each source's "
                                        "boilerplate as index does, and compare with `clean`: the share of "
                                        "boilerplate lines removed and of story lines kept, overall and per source.")
    p.add_argument("file", metavar="FILE", help="JSONL with `text` (scraped) and `clean` (the truth); `source`/`url`")
    p.add_argument("--min-stories", type=_positive_int, default=None,
                   help="stories of a source a line must recur in to be learned (default: the indexer's)")
    p.add_argument("--min-share", type=float, default=None,
                   help="share of a source's stories a line must recur in (default: the indexer's)")
    p.add_argument("--patterns-only", action="store_true", help="learn nothing: only the pattern cleaner")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = commands.add_parser("stats", help="counts, model, index type, sizes",
                            description="Articles, passages and vectors; the model, the FAISS layout, the index "
                                        "generation and the size of each file.")
    _add_index_option(p)
    p.add_argument("--json", action="store_true")
    return parser


def _iso_date(value: str | None, option: str) -> str | None:
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"{option} must be an ISO date like 2024-01-16, got '{value}'") from None


def _assign_stories(index_dir: str, writer, written: list[str]) -> None:
    """Put the articles a run wrote in their stories (search_api.stories), group by group, each
    under the write lock (see IndexWriter's `interleave`)."""
    from .readers import open_reader
    from .stories import assign_stories

    if not written:
        return
    reader = open_reader(index_dir)
    try:
        assign_stories(reader, writer, written)
    finally:
        reader.close()


def cmd_check(index_dir: str) -> int:
    """`index --check`: every problem on its own line, exit 1 if there is any."""
    from indexer import store

    problems = store.check_index(index_dir)
    for problem in problems:
        print(f"damaged: {problem}", file=sys.stderr)
    print(f"index {index_dir}: {len(problems)} problem(s) found" if problems else f"index {index_dir}: ok")
    return 1 if problems else 0


def cmd_index(args) -> int:
    from tqdm import tqdm

    from indexer.readers import count_records, read_paths, record_limit
    from indexer.sharding import open_writer

    if args.check:
        if args.paths:
            raise ValueError("--check reads the index and writes nothing: give it no files to index")
        return cmd_check(args.index)
    if not args.paths and not (args.repair or args.rebuild or args.index_type or args.optimize):
        raise ValueError("give files or folders to index (or --optimize, --repair, --rebuild or --index-type)")
    missing = [path for path in args.paths if not os.path.lexists(path)]
    if missing and len(missing) == len(args.paths):
        # Checked before the index is opened, so a mistyped path creates no index directory.
        raise ValueError(f"no such file or folder: {', '.join(missing)}; nothing was indexed")

    def report(problem) -> None:  # each problem as it comes, above the progress bar if there is one
        if args.quiet:
            print(f"skipped {problem}", file=sys.stderr)  # tqdm.write costs ~0.1 ms a line more
        else:
            tqdm.write(f"skipped {problem}", file=sys.stderr)

    _apply_lock_timeout(args)
    with open_writer(args.index, args.model, shards=args.shards, backend=args.backend, max_tokens=args.max_tokens,
                     overlap=args.overlap, title_tokens=args.title_tokens, commit_chunks=args.commit_every,
                     repair=args.repair, index_type=args.index_type, rebuild=args.rebuild, optimize=args.optimize,
                     max_article_chars=args.max_article_chars, interleave=True) as writer:
        try:
            if args.ray or args.ray_address:
                from indexer.distributed import index_with_ray

                summary = index_with_ray(args.paths, writer, address=args.ray_address, actors=args.ray_actors,
                                         staging=args.ray_staging, progress=not args.quiet, on_problem=report)
            else:
                total = None if args.quiet else count_records(args.paths)
                summary = writer.add(read_paths(args.paths, record_limit(args.max_article_chars)),
                                     progress=not args.quiet, total=total, on_problem=report)
            _assign_stories(args.index, writer, summary.written)
        except KeyboardInterrupt:
            print("interrupted: what was committed is kept; run the same command again to finish",
                  file=sys.stderr)
            return 130
        counts = writer.counts()
    print(f"{summary}\nindex at {args.index}: {counted(counts['articles'], 'article')}, "
          f"{counted(counts['passages'], 'passage')}")
    if missing:
        print(f"error: no such file or folder: {', '.join(missing)}; the other paths were indexed", file=sys.stderr)
        return 1
    if summary.skipped and not (summary.indexed or summary.updated or summary.unchanged):
        print(f"error: nothing could be indexed from {', '.join(args.paths)}", file=sys.stderr)
        return 1
    return 0


def cmd_remove(args) -> int:
    from indexer import store
    from indexer.sharding import open_writer

    store.read_manifest(args.index)  # a mistyped --index is an error, not a new empty index
    _apply_lock_timeout(args)
    with open_writer(args.index) as writer:
        removed, missing = writer.remove(args.ids)
    if removed:
        print(f"removed {counted(len(removed), 'article')}: {', '.join(removed)}")
    if missing:
        print(f"error: not in the index: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def _merged_passages(passages) -> list[tuple[float, str, list[list[int]]]]:
    """An article's passages as (score, text, highlights in that text), overlapping passages joined
    into one by their offsets: consecutive passages share a sentence, which is printed once. Best
    first."""
    merged: list[list] = []  # [start, end, text, score, highlights], by start
    for passage in sorted(passages, key=lambda p: p.start):
        if merged and passage.start <= merged[-1][1]:
            last = merged[-1]
            if passage.end > last[1]:
                last[2] += passage.text[last[1] - passage.start:]
                last[1] = passage.end
            last[3] = max(last[3], passage.score)
            last[4] += passage.highlights
        else:
            merged.append([passage.start, passage.end, passage.text, passage.score, list(passage.highlights)])
    merged.sort(key=lambda m: -m[3])
    return [(score, text, sorted({(s - start, e - start) for s, e in spans}))
            for start, _, text, score, spans in merged]


def _print_results(result) -> None:
    if not result.results:
        print(f"no results for '{result.query}'" + (f" on this page ({result.total} matching articles)"
                                                    if result.total else ""))
        return
    for number, hit in enumerate(result.results, start=result.offset + 1):
        meta = ", ".join(x for x in (hit.source, hit.published, hit.article_id) if x)
        print(f"{number}. {hit.title or '(untitled)'}  [{hit.score:.4f}]  ({meta})")
        if hit.url:
            print(f"   {hit.url}")
        for _, text, highlights in _merged_passages(hit.passages):
            # Bold the highlighted sentences for a terminal reader, working backwards so that
            # earlier offsets stay valid.
            for s, e in reversed(highlights):
                text = text[:s] + "**" + text[s:e] + "**" + text[e:]
            print(textwrap.indent(textwrap.fill(" ".join(text.split()), width=100), "   > "))
        print()
    print(f"({result.total} matching article{'s' if result.total != 1 else ''}; {result.mode}, {result.took_ms:.1f} ms)")


def cmd_query(args) -> int:
    from .searcher import Searcher

    since, until = _iso_date(args.since, "--since"), _iso_date(args.until, "--until")
    searcher = Searcher(args.index, backend=args.backend, reranker=args.reranker)
    result = searcher.search(args.text, k=args.k, offset=args.offset, mode=args.mode, source=args.source,
                             date_from=since, date_to=until, passages=args.passages, typos=args.typos,
                             sort=args.sort, recency=args.recency, facets=args.facets, **_min_confidence(args))
    if args.json:
        print(json.dumps(result.model_dump(exclude_none=True), ensure_ascii=False, indent=2))
    else:
        _print_results(result)
        for name, counts in (result.facets or {}).items():
            print(f"{name}: " + (", ".join(f"{c.value} ({c.count})" for c in counts) or "none"))
    return 0


def _facet_names(text: str) -> list[str]:
    """The field names of --facets ("source,author,year")."""
    try:
        return facet_list(text)
    except SearchError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _min_confidence(args) -> dict:
    """`min_confidence` for `Searcher.search` when given on the command line (else its default)."""
    return {} if args.min_confidence is None else {"min_confidence": args.min_confidence}


def _searcher_options(args) -> dict:
    """The ranking options given on the command line (the searcher's defaults for the rest)."""
    names = ("fusion", "rrf_k", "linear_weight", "reranker")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _evaluation_index(args, articles, strict: bool = True) -> tuple:
    """Index `articles` into --index (reused when it holds them already) or a temporary folder;
    returns the searcher and the temporary folder, which the caller holds until it is done.
    `strict`: an article that cannot be indexed is an error (else it is left out and said so)."""
    import tempfile

    from indexer.writer import IndexWriter

    from .searcher import Searcher

    temporary = None
    index_dir = args.index
    if index_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="article-search-eval-")
        index_dir = temporary.name
    with IndexWriter(index_dir, args.model, backend=args.backend, max_tokens=args.max_tokens,
                     title_tokens=args.title_tokens) as writer:
        summary = writer.add(articles, progress=not args.json)
        encoder = writer.encoder
    if summary.problems and strict:
        raise ValueError(f"the data set has records that cannot be indexed, first: {summary.problems[0]}")
    for problem in summary.problems:
        print(f"left out: {problem}", file=sys.stderr)
    return Searcher(index_dir, encoder=encoder, **_searcher_options(args)), temporary


def cmd_eval(args) -> int:
    from .evaluation import (altered_queries, cut_inside_last_word, evaluate_no_match, evaluate_search, load_beir,
                             load_queries, sample_queries, with_typo)

    corpus, queries, qrels = load_beir(args.dataset)
    queries = sample_queries(queries, args.max_queries)
    # A bad file fails before indexing; --max-queries samples these questions too.
    other = sample_queries(load_queries(args.no_match), args.max_queries) if args.no_match else None
    searcher, temporary = _evaluation_index(args, corpus)
    options = {"progress": not args.json, "typos": args.typo_tolerance, **_min_confidence(args)}
    results = evaluate_search(searcher, queries, qrels, args.mode, **options)
    variants = {"typos": with_typo, "prefix": cut_inside_last_word}
    for name, alter in variants.items():
        if getattr(args, name):
            results[name] = evaluate_search(searcher, altered_queries(queries, alter), qrels, args.mode, **options)
    if other is not None:
        without = evaluate_search(searcher, queries, qrels, args.mode, **{**options, "min_confidence": 0})
        results["no_match"] = {mode: {**shares, "recall@5": results[mode]["recall@5"],
                                      "recall@5_without": without[mode]["recall@5"]}
                               for mode, shares in evaluate_no_match(searcher, other, args.mode, **options).items()}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        names = list(next(iter(results.values())))
        print(f"{len(queries)} queries, {len(corpus)} documents, {searcher.stats()['passages']} passages")
        print(f"{'mode':16} " + " ".join(f"{n:>10}" for n in names))
        rows = [(mode, metrics) for mode, metrics in results.items() if mode not in variants and mode != "no_match"]
        rows += [(f"{mode} ({name})", metrics) for name in variants for mode, metrics in results.get(name, {}).items()]
        for label, metrics in rows:
            print(f"{label:16} " + " ".join(f"{metrics[n]:>10.4f}" for n in names))
        for mode, shares in results.get("no_match", {}).items():
            print(f"no match, {mode}: {shares['no_results']:.1%} of {shares['questions']} other questions got no "
                  f"results; recall@5 {shares['recall@5']:.4f} (without the decision {shares['recall@5_without']:.4f})")
    return 0


def cmd_eval_sets(args) -> int:
    from indexer.article import Article
    from indexer.readers import read_paths

    from .evaluation import evaluate_sets, load_set_queries

    queries = load_set_queries(args.queries)
    read = list(read_paths([args.file]))
    problems = [str(item) for item in read if not isinstance(item, Article)]
    if problems:
        raise ValueError(f"the archive has records that cannot be indexed, first: {problems[0]}")
    searcher, temporary = _evaluation_index(args, read, strict=False)
    results = evaluate_sets(searcher, read, queries, **_min_confidence(args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for kind, metrics in results.items():
            if kind != "facets":
                print(f"{kind:6} ({metrics['queries']} queries): newest first precision {metrics['newest_precision']:.3f} "
                      f"recall {metrics['newest_recall']:.3f}; relevance order R-precision {metrics['r_precision']:.3f}")
        facets = results["facets"]
        print(f"year facets: {facets['contradicted_by_a_click']} of {facets['year_counts']} counts contradicted by a click")
    return 0


def cmd_eval_related(args) -> int:
    from .evaluation import evaluate_related_modes, evaluate_related_sets, load_labelled

    labelled = load_labelled(args.file, args.label)
    searcher, temporary = _evaluation_index(args, [article for article, _ in labelled])
    labels = {article.id: label for article, label in labelled}
    results = evaluate_related_modes(searcher, labels, args.k, args.max_articles, progress=not args.json)
    if args.sets:
        results["sets"] = evaluate_related_sets(searcher.dir, labels, args.set_k, searcher.encoder,
                                                progress=not args.json, similar_k=args.k)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{results['articles']} articles judged, label '{args.label}', k={args.k}")
    rows = {"article-search (default)": results, **{f"{name} only": m for name, m in results["baselines"].items()}}
    for method, metrics in rows.items():
        print(f"{method:26} " + "  ".join(f"{name} {metrics[name]:.4f}" for name in ("precision@5", "precision@10", "map")))
    for keep, scores in results.get("sets", {}).items():
        threads = scores["b_cubed"]
        print(f"keeping {keep:>3} per label ({scores['articles']} articles): related-set F1 {scores['set_f1']:.4f} "
              f"(scope similar, k={args.k}: {scores['set_f1_similar']:.4f}); story threads B³ precision "
              f"{threads['precision']:.4f} recall {threads['recall']:.4f} F1 {threads['f1']:.4f}")
    return 0


def cmd_eval_cleaning(args) -> int:
    from indexer.boilerplate import MIN_SHARE, MIN_STORIES

    from .cleaning_eval import evaluate_cleaning

    results = evaluate_cleaning(args.file, args.min_stories or MIN_STORIES,
                                MIN_SHARE if args.min_share is None else args.min_share, learn=not args.patterns_only)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        rows = {**results["per_source"], "all": results}
        print(f"{'source':24} {'boilerplate removed':>20} {'story kept':>12}")
        for source, scores in rows.items():
            print(f"{source[:24]:24} {scores['boilerplate_removed']:>10.2%} of {scores['boilerplate_lines']:<6} "
                  f"{scores['story_kept']:>8.2%} of {scores['story_lines']}")
    return 0


def cmd_stats(args) -> int:
    from .searcher import Searcher

    stats = Searcher(args.index).stats()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        for key in ("articles", "passages", "vectors", "model", "dimension", "index_type", "generation"):
            print(f"{key:12} {stats[key]}")
        print(f"{'query with':12} {stats['query_backend']}")
        for name, size in stats["bytes"].items():
            print(f"{name:12} {file_size(size)}")
    return 0


def cmd_related(args) -> int:
    from .searcher import Searcher

    searcher = Searcher(args.index)
    try:
        hits = searcher.related(args.id, args.k, args.scope)
    except KeyError:
        raise ValueError(f"no article with id '{args.id}' in the index at {args.index}") from None
    if args.json:
        print(json.dumps({"article_id": args.id, "results": [h.model_dump() for h in hits]}, ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no other report of this story in the index (--scope similar lists the nearest articles)")
    for number, hit in enumerate(hits, start=1):
        mark = "  [near-duplicate]" if hit.near_duplicate else ""
        print(f"{number}. {hit.title}  [{hit.score:.4f}]  ({hit.source}, {hit.published}, {hit.article_id}){mark}")
    return 0


def cmd_serve(args) -> int:
    import logging
    import shutil
    import tempfile

    import uvicorn

    from indexer import store

    from .app import LOG_FORMAT, SERVER_LIMITS, create_app

    store.read_manifest(args.index)  # a missing index is a one-line error, not a server that fails to start
    if args.request_timeout:  # read by every worker's protocol (search_api.http_protocol)
        os.environ[VARIABLES["request_timeout"]] = str(args.request_timeout)
    if not (args.ray or args.ray_address):
        # Every file a server opens, opened and checked here first as the server opens it: damage
        # (a lost segment or lexical folder, a segment of another size or failing its sampled
        # checksum, a lost WAL) is a one-line error, not a traceback from the server's start-up.
        # The rest of each segment's bytes is checked by the server's background thread.
        from .readers import open_reader

        open_reader(args.index, held=False).close()
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    print(f"serving {args.index} on http://{args.host}:{args.port} (search page at /, API docs at /docs)",
          file=sys.stderr)
    if args.ray or args.ray_address:
        if args.workers > 1:
            raise ValueError("--workers and --ray do not combine; give the shards replicas with --ray-replicas")
        from .ray_serve import RemoteSearcher, connect, deploy

        connect(args.ray_address)
        handle = deploy(args.index, replicas=args.ray_replicas, backend=args.backend,
                        replica_cpus=args.ray_replica_cpus)
        app = create_app(args.index, cors_origins=args.cors_origin, opener=lambda: RemoteSearcher(handle, args.index))
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, **SERVER_LIMITS)
        return 0
    if args.workers == 1:
        app = create_app(args.index, cors_origins=args.cors_origin, backend=args.backend, reranker=args.reranker)
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, **SERVER_LIMITS)
        return 0
    # Worker processes are started by uvicorn and build their app from the environment.
    os.environ.update({VARIABLES["index"]: args.index, VARIABLES["log_level"]: args.log_level,
                       VARIABLES["cors_origins"]: ",".join(args.cors_origin),
                       VARIABLES["backend"]: args.backend or "", VARIABLES["reranker"]: args.reranker or ""})
    # One metrics directory for all workers, so that /metrics counts every worker's requests.
    os.environ[VARIABLES["metrics_dir"]] = metrics_dir = tempfile.mkdtemp(prefix="article-search-metrics-")
    try:
        uvicorn.run("search_api.app:app_from_environment", factory=True, host=args.host, port=args.port,
                    log_level=args.log_level, workers=args.workers, **SERVER_LIMITS)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


COMMANDS = {"index": cmd_index, "remove": cmd_remove, "query": cmd_query, "related": cmd_related,
            "serve": cmd_serve, "stats": cmd_stats, "eval": cmd_eval, "eval-related": cmd_eval_related, "eval-sets": cmd_eval_sets,
            "eval-cleaning": cmd_eval_cleaning}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from indexer.models import ModelError
    from indexer.store import StoreError

    # A broken pipe (piping into `head`) is a normal end, not a traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return COMMANDS[args.command](args)
    except (StoreError, ModelError, SearchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:  # damage in pages that the checks made on open do not read
        print(f"error: the index at {getattr(args, 'index', None)} is not a valid index database ({exc}); restore "
              "it from a backup, or index the articles again into a new --index directory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
