"""The lexical index: BM25 over passage text and title, in tantivy. The only package that imports it.

    INDEX_DIR/lexical/   a tantivy index, one document per passage:
                         chunk_id (the passage's id everywhere), body (its article's title and its
                         text, stemmed), source (exact), day (the published date as YYYYMMDD, when
                         it is a date), article_key (a number naming its article, to count
                         articles; an index written before it has article, the article's id, as
                         text instead: `has_article_keys`), meta (JSON:
                         author and the article's other short metadata values, facets), words (title
                         and text unstemmed, for suggestions), title (unstemmed, on an article's
                         first passage only, for title suggestions)

    with LexicalWriter(index_dir / "lexical") as lexical:       # the index writer's side
        lexical.add(chunk_id=7, title="...", text="...", source="Reuters", published="2024-01-16")
        lexical.delete([3, 4])
        lexical.commit()

    reader = LexicalReader(index_dir / "lexical")                 # a searcher's side, pinned to one commit
    reader.search(["airline", "banned"], depth=300, source="Reuters")   # [(chunk_id, score), ...] best first
    reader.facets(["source", "year"], ["airline"], among=None)           # {"source": [("Reuters", 12), ...], ...}
    reader.suggest_terms("airl", 8), reader.suggest_titles([], "airl", 8)

Why tantivy: its top-k skips the blocks of postings that cannot reach the top (block-max WAND), so
a query costs what it retrieves, not every passage that shares a word with it; SQLite FTS5 scored
every match (1M passages: p50 253 ms against 2.8 ms, docs/benchmarks.md "Lexical engines").
Filters are indexed fields, so a filtered query does not scan either.

Title and text are one field, so a word scores once whichever of the two holds it, against the
length of both: SQLite FTS5's bm25() with the title column at weight 1, the measured best
(docs/quality.md). On squad-dev-a's 5,665 questions this gives lexical recall@5 .9407 against
FTS5's .9398; scoring title and text as two fields, as tantivy's query parser would, gave .9313.

The package's modules: `schema` (fields, analysis, facet values, dates; opening an index),
`integrity` (the commit's files and their checksums), `scoring` (collection statistics, what a
query's words match and weigh, BM25 from texts), `writer` (`LexicalWriter`), `reader`
(`LexicalReader`), `queries` (match sets, their counts and facets) and `marking` (`TermMarker`).
What the rest of the code uses is imported from here.
"""

from __future__ import annotations

from .integrity import FOOTER_MAGIC, commit_files, damaged_files
from .marking import TermMarker
from .queries import match_counts, search_matching
from .reader import LexicalReader, QUERY_STATISTICS_KEPT
from .schema import (ARTICLE_ID_TEXT, ARTICLE_KEY, BUILT_IN_FACETS, FACET_NAME, MAX_FACET_LIST,
                     MAX_FACET_VALUE_CHARS, MAX_TOKEN_CHARS, TOKENIZER, WORDS_TOKENIZER, day_number, exists,
                     facet_values, has_article_keys, terms_of)
from .scoring import (BM25_B, BM25_K1, CollectionStats, FUZZY_WEIGHT, PREFIX_EXPANSIONS, PREFIX_WEIGHT,
                      WordMatch, near_miss_terms, text_scores, typo_budget, within_edits)
from .writer import LexicalWriter

__all__ = ["ARTICLE_ID_TEXT", "ARTICLE_KEY", "BM25_B", "BM25_K1", "BUILT_IN_FACETS", "CollectionStats",
           "FACET_NAME", "FOOTER_MAGIC", "FUZZY_WEIGHT", "LexicalReader", "LexicalWriter", "MAX_FACET_LIST",
           "MAX_FACET_VALUE_CHARS", "MAX_TOKEN_CHARS", "PREFIX_EXPANSIONS", "PREFIX_WEIGHT",
           "QUERY_STATISTICS_KEPT", "TOKENIZER", "TermMarker", "WORDS_TOKENIZER", "WordMatch", "commit_files",
           "damaged_files", "day_number", "exists", "facet_values", "has_article_keys",
           "match_counts", "near_miss_terms", "search_matching", "terms_of", "text_scores",
           "typo_budget", "within_edits"]
