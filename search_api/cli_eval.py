"""The evaluation commands of `article-search`: eval (retrieval quality on a BEIR-layout set),
eval-sets (match sets), eval-related (related coverage) and eval-cleaning (cleaning quality).
Each indexes its data set (or reuses --index) and prints its measures, or their JSON."""

from __future__ import annotations

import argparse
import json
import sys

from .cli_options import (add_backend_option, add_min_confidence_option, add_reranker_option, min_confidence,
                          number, positive_int)
from .query import FUSIONS, MODES


def _add_eval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", metavar="DIR",
                        help="keep the evaluation index here and reuse it next time (default: a temporary one)")
    parser.add_argument("--model", help="sentence-transformers model name or path (default: the bundled one)")
    parser.add_argument("--max-tokens", type=positive_int, help="passage size limit in word pieces")
    parser.add_argument("--title-tokens", type=number(int, 0), default=32, metavar="N",
                        help="word pieces of the title embedded with each passage; 0 for none (default 32)")
    parser.add_argument("--fusion", choices=FUSIONS, help="hybrid fusion (default: the searcher's)")
    parser.add_argument("--rrf-k", type=number(float, 0, above=True), help="RRF constant k")
    parser.add_argument("--linear-weight", type=number(float, 0, 1), help="dense weight of linear fusion, 0..1")
    add_backend_option(parser, "(default: torch)")
    add_reranker_option(parser)
    parser.add_argument("--json", action="store_true")


def add_eval_commands(commands) -> None:
    """The subparsers of eval, eval-sets, eval-related and eval-cleaning, added to `commands`."""
    p = commands.add_parser("eval", help="retrieval quality on a BEIR-layout question set",
                            description="Index each corpus entry as one article and score every query: "
                                        "recall@1/5/10, MRR@10, nDCG@10 per mode.")
    p.add_argument("dataset", metavar="DATASET_DIR", help="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument("--mode", nargs="+", choices=MODES, default=["dense", "lexical", "hybrid"])
    p.add_argument("--max-queries", type=positive_int,
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
    add_min_confidence_option(p)
    _add_eval_options(p)

    p = commands.add_parser("eval-sets", help="match sets: name and topic queries over a JSONL archive",
                            description="Index the archive (or reuse --index) and run each query: newest-first "
                                        "precision and recall of the first page, relevance-order R-precision (an "
                                        "article is relevant when it mentions one of the query's `mentions`), and "
                                        "the year facet counts that a click on the year contradicts.")
    p.add_argument("file", metavar="FILE", help="the archive, JSONL (e.g. data/wikinews_en_2019_2020.jsonl)")
    p.add_argument("--queries", metavar="JSONL", required=True,
                   help="queries: text, kind, mentions (e.g. tests/fixtures/match_queries.jsonl)")
    add_min_confidence_option(p)
    _add_eval_options(p)

    p = commands.add_parser("eval-related", help="related-coverage quality on a labelled JSONL archive",
                            description="For every article its related list is judged relevant where --label "
                                        "matches: precision@5, precision@10, MAP; beside BM25-only and dense-only "
                                        "related lists measured in the same run.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--label", required=True, metavar="FIELD", help="the field that marks articles as related")
    p.add_argument("-k", type=positive_int, default=10, help="related articles per article (default 10)")
    p.add_argument("--max-articles", type=positive_int, help="judge a fixed random sample of N articles")
    p.add_argument("--sets", action="store_true",
                   help="also judge related coverage as a set: related-set F1 and B³ F1 of story threads on copies of "
                        "the index where each --label value keeps 1, 2, 3, 5 or all of its articles")
    p.add_argument("--set-k", type=positive_int, default=20, metavar="K",
                   help="the cap of a related set in those measures (default 20)")
    _add_eval_options(p)

    p = commands.add_parser("eval-cleaning", help="cleaning quality on scraped text with its true text",
                            description="Clean each record's `text` in file order, learning each source's "
                                        "boilerplate as index does, and compare with `clean`: the share of "
                                        "boilerplate lines removed and of story lines kept, overall and per source.")
    p.add_argument("file", metavar="FILE", help="JSONL with `text` (scraped) and `clean` (the truth); `source`/`url`")
    p.add_argument("--min-stories", type=positive_int, default=None,
                   help="stories of a source a line must recur in to be learned (default: the indexer's)")
    p.add_argument("--min-share", type=float, default=None,
                   help="share of a source's stories a line must recur in (default: the indexer's)")
    p.add_argument("--patterns-only", action="store_true", help="learn nothing: only the pattern cleaner")
    p.add_argument("--json", action="store_true", help="print JSON")


def _searcher_options(args) -> dict:
    """The ranking options given on the command line (the searcher's defaults for the rest)."""
    names = ("fusion", "rrf_k", "linear_weight", "reranker")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _evaluation_index(args, articles, strict: bool = True) -> tuple:
    """Index `articles` into --index (reused when it holds them already) or a temporary folder;
    returns the searcher and the temporary folder, which the caller holds until it is done.
    `strict`: an article that cannot be indexed is an error (else it is left out and said so)."""
    import tempfile

    from indexer.writing import IndexWriter

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
    options = {"progress": not args.json, "typos": args.typo_tolerance, **min_confidence(args)}
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
    from indexer.writing import Article, read_paths

    from .evaluation import evaluate_sets, load_set_queries

    queries = load_set_queries(args.queries)
    read = list(read_paths([args.file]))
    problems = [str(item) for item in read if not isinstance(item, Article)]
    if problems:
        raise ValueError(f"the archive has records that cannot be indexed, first: {problems[0]}")
    searcher, temporary = _evaluation_index(args, read, strict=False)
    results = evaluate_sets(searcher, read, queries, **min_confidence(args))
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
    from indexer.writing import MIN_SHARE, MIN_STORIES

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


EVAL_COMMANDS = {"eval": cmd_eval, "eval-related": cmd_eval_related, "eval-sets": cmd_eval_sets,
                 "eval-cleaning": cmd_eval_cleaning}
