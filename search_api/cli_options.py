"""The options and argument types that several `article-search` commands share
(search_api.cli, search_api.cli_eval): an out-of-range flag is a usage error."""

from __future__ import annotations

import argparse
import math

from indexer.settings import Settings

from .query import SearchError, facet_list


def default_index() -> str:
    return Settings.from_environment().index


def add_index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", default=default_index(), metavar="DIR",
                        help="index directory (default: $ARTICLE_SEARCH_INDEX, else ./index)")


def add_backend_option(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"],
                        help=f"run the model on torch, onnxruntime, or onnxruntime with int8 weights {purpose}")


def number(kind: type, low: float, high: float | None = None, above: bool = False):
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


positive_int = number(int, 1)


def add_lock_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock-timeout", type=number(float, 0), metavar="SECONDS",
                        help="how long to wait while another process (a server's write, another run) writes the "
                             "index, before giving up (default 20)")


def apply_lock_timeout(args) -> None:
    """--lock-timeout: this process's writes wait that long for the index's write lock."""
    from indexer import store

    if args.lock_timeout is not None:
        store.WRITE_LOCK_TIMEOUT = args.lock_timeout


def add_reranker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reranker", metavar="NAME_OR_PATH",
                        help="re-score the top 30 articles with this sentence-transformers CrossEncoder "
                             "(a local folder or cached model; off by default)")


def add_ray_options(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument("--ray", action="store_true",
                        help=f"{purpose} (pip install 'article-search[ray]'; a local Ray instance unless --ray-address)")
    parser.add_argument("--ray-address", metavar="ADDRESS",
                        help="a running Ray cluster, e.g. ray://head:10001 (implies --ray)")


def add_min_confidence_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-confidence", type=number(float, 0, 1), metavar="C",
                        help="0 turns the match decision off: the best candidates are listed, matching or not "
                             "(any other value: on, the default; docs/api.md 'Match sets and total')")


def facet_names(text: str) -> list[str]:
    """The field names of --facets ("source,author,year")."""
    try:
        return facet_list(text)
    except SearchError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def min_confidence(args) -> dict:
    """`min_confidence` for `Searcher.search` when given on the command line (else its default)."""
    return {} if args.min_confidence is None else {"min_confidence": args.min_confidence}
