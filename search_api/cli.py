"""The `article-search` command: index, remove, query, related, stats, serve, eval.

Every subcommand has --help. `--index` defaults to $ARTICLE_SEARCH_INDEX, else ./index.
Exit status is 0 on success; otherwise 1 with a one-line reason on stderr (2 for a usage error).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import textwrap

from indexer.settings import VARIABLES
from indexer.wording import counted, file_size

from . import package_version
from .cli_eval import EVAL_COMMANDS, add_eval_commands
from .cli_options import (add_backend_option, add_index_option, add_lock_timeout_option, add_min_confidence_option,
                          add_ray_options, add_reranker_option, apply_lock_timeout, facet_names, min_confidence,
                          number, positive_int)
from .query import MODES, SORTS, SearchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="article-search",
        description="Semantic search over a news article archive.",
        epilog="Example: article-search index data/ && article-search query \"why did the building collapse?\"",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_index_command(commands)
    _add_remove_command(commands)
    _add_query_command(commands)
    _add_related_command(commands)
    _add_serve_command(commands)
    add_eval_commands(commands)
    _add_stats_command(commands)
    return parser


def _add_index_command(commands) -> None:
    p = commands.add_parser("index", help="add, update or re-index articles from files or folders",
                            description="Ingest JSONL, CSV, .txt, .md and .html files (folders are walked). "
                                        "New articles are added, changed ones re-embedded, unchanged ones skipped.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to index")
    add_index_option(p)
    p.add_argument("--model", help="sentence-transformers model name or path for a new index "
                                   "(default: the bundled all-MiniLM-L6-v2); an existing index keeps its own")
    p.add_argument("--max-tokens", type=positive_int,
                   help="passage size limit in word pieces for a new index (default: the model's max_seq_length)")
    p.add_argument("--overlap", type=number(int, 0), default=1, help="sentences shared by consecutive passages (default 1)")
    p.add_argument("--title-tokens", type=number(int, 0), default=32, metavar="N",
                   help="word pieces of the title embedded with each passage as context; 0 for none (default 32)")
    p.add_argument("--commit-every", type=positive_int, default=256, metavar="N",
                   help="commit after about N passages: each commit is a generation that servers switch to, and "
                        "an interrupted run keeps its progress (default 256)")
    add_backend_option(p, "(default: torch for a new index, else the index's own)")
    p.add_argument("--max-article-chars", type=positive_int, default=1_000_000, metavar="N",
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
    p.add_argument("--shards", type=positive_int, metavar="N",
                   help="a new index split into N shards by a hash of the article id, each a complete index "
                        "(see docs/scaling.md); an existing sharded index keeps its count")
    add_ray_options(p, "read, chunk and embed on Ray; the index is written here as a local run writes it")
    p.add_argument("--ray-actors", type=positive_int, metavar="N",
                   help="model actors embedding in parallel (default: one per CPU of the cluster)")
    p.add_argument("--ray-staging", metavar="PATH",
                   help="where the run's intermediate Parquet shards go, in a folder of the run's own that it "
                        "removes (nothing else there is touched); on a cluster a path every node can write "
                        "(default: INDEX_DIR)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_lock_timeout_option(p)


def _add_remove_command(commands) -> None:
    p = commands.add_parser("remove", help="remove articles and all their passages",
                            description="Remove articles by id, with their passages and vectors; an id not in "
                                        "the index is reported and the exit status is 1.")
    p.add_argument("ids", nargs="+", metavar="ID")
    add_index_option(p)
    add_lock_timeout_option(p)


def _add_query_command(commands) -> None:
    p = commands.add_parser("query", help="search the index",
                            description="Search; prints results grouped by article, or the JSON of GET /search.")
    p.add_argument("text", metavar="TEXT")
    add_index_option(p)
    p.add_argument("-k", type=positive_int, default=10, help="articles to return (default 10)")
    p.add_argument("--offset", type=number(int, 0), default=0, help="skip this many articles (pagination)")
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--source", help="only articles from this source")
    p.add_argument("--since", metavar="DATE", help="only articles published on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DATE", help="only articles published on or before DATE (YYYY-MM-DD)")
    p.add_argument("--passages", type=positive_int, default=3, help="passages per article (default 3)")
    p.add_argument("--sort", choices=SORTS, default="relevance",
                   help="order of the matching articles: relevance (default), or by date")
    p.add_argument("--recency", type=number(float, 0, above=True), metavar="DAYS",
                   help="boost recent articles: the score halves per DAYS older than the newest match")
    p.add_argument("--no-typos", dest="typos", action="store_false",
                   help="match words exactly (by default a word of 5+ letters forgives 1 typo, of 9+ letters 2)")
    p.add_argument("--facets", metavar="NAMES", type=facet_names,
                   help="count the matching articles per value of these fields, comma-separated: "
                        "source, year, author or any metadata field (e.g. source,author,year)")
    add_min_confidence_option(p)
    p.add_argument("--json", action="store_true", help="print the JSON of GET /search")
    add_backend_option(p, "for the query (default: onnx where it embeds as the index did, else the index's own)")
    add_reranker_option(p)


def _add_related_command(commands) -> None:
    p = commands.add_parser("related", help="related coverage of one article",
                            description="Other articles on the same story or topic, best first; near-identical "
                                        "copies (syndicated text) are marked.")
    p.add_argument("id", metavar="ID")
    add_index_option(p)
    p.add_argument("-k", type=positive_int, default=10, help="articles to return at most (default 10)")
    p.add_argument("--scope", choices=["story", "similar"], default="story",
                   help="story: the other reports of the same story, possibly none (default); "
                        "similar: the k nearest articles, whatever their story")
    p.add_argument("--json", action="store_true")


def _add_serve_command(commands) -> None:
    p = commands.add_parser("serve", help="the HTTP API and the search page",
                            description="Serve the JSON API and the search page. Write routes need "
                                        "$ARTICLE_SEARCH_API_KEY; without it they are refused.")
    add_index_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=number(int, 1, 65535), default=8000)
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser requests from ORIGIN (repeatable; default: CORS off)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--request-timeout", type=number(float, 0, above=True), metavar="SECONDS",
                   help="close a connection whose request (line, headers and body) has not arrived whole within "
                        "this many seconds of its first byte: slow clients cannot hold connections (default 30)")
    add_backend_option(p, "for queries (default: onnx where it embeds as the index did, else the index's own)")
    add_reranker_option(p)
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="server processes sharing the port, each with its own copy of the model and the "
                        "read-only index, each following index changes (default 1; see docs/scaling.md)")
    add_ray_options(p, "serve a sharded index with Ray Serve: a deployment per shard and a router that merges")
    p.add_argument("--ray-replicas", type=positive_int, default=1, metavar="N",
                   help="replicas of each shard deployment (default 1)")
    p.add_argument("--ray-replica-cpus", type=number(float, 0, above=True), default=0.25, metavar="CPUS",
                   help="Ray CPUs reserved by each replica (default 0.25; all replicas must fit in the cluster)")


def _add_stats_command(commands) -> None:
    p = commands.add_parser("stats", help="counts, model, index type, sizes",
                            description="Articles, passages and vectors; the model, the FAISS layout, the index "
                                        "generation and the size of each file.")
    add_index_option(p)
    p.add_argument("--json", action="store_true")


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
    from .index_readers import open_reader
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

    from indexer.writing import count_records, open_writer, read_paths, record_limit

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

    apply_lock_timeout(args)
    with open_writer(args.index, args.model, shards=args.shards, backend=args.backend, max_tokens=args.max_tokens,
                     overlap=args.overlap, title_tokens=args.title_tokens, commit_chunks=args.commit_every,
                     repair=args.repair, index_type=args.index_type, rebuild=args.rebuild, optimize=args.optimize,
                     max_article_chars=args.max_article_chars, interleave=True, progress=not args.quiet) as writer:
        try:
            if args.ray or args.ray_address:
                from indexer.writing import index_with_ray

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
    from indexer.writing import open_writer

    store.read_manifest(args.index)  # a mistyped --index is an error, not a new empty index
    apply_lock_timeout(args)
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
                             sort=args.sort, recency=args.recency, facets=args.facets, **min_confidence(args))
    if args.json:
        print(json.dumps(result.model_dump(exclude_none=True), ensure_ascii=False, indent=2))
    else:
        _print_results(result)
        for name, counts in (result.facets or {}).items():
            print(f"{name}: " + (", ".join(f"{c.value} ({c.count})" for c in counts) or "none"))
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
        from .index_readers import open_reader

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
            "serve": cmd_serve, "stats": cmd_stats, **EVAL_COMMANDS}


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
