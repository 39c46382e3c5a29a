"""The write side's one face: everything search_api uses of indexing (reading input files,
cleaning them, writing, sharding, merging and distributing the writes) is imported from here
and from nowhere else on the write side (tests/test_layers.py holds search_api to it).

The modules behind it hold the code; this one only names what the read side may call:

- input: `Article`, `Problem`, `read_paths`, `count_records`, `record_limit`, `article_from_record`
  (indexer.inputs), `unindexable` (indexer.batches: why an article cannot be indexed);
- writing: `open_writer` (indexer.sharding: an `IndexWriter` or a sharded one), `IndexWriter`,
  `IndexSummary` (indexer.batches), `mergers` (indexer.merging: background vector merges),
  `index_with_ray` (indexer.distributed);
- cleaning, for its evaluation: `clean_text` (indexer.cleaning), `LearnedBoilerplate`,
  `source_of`, `MIN_SHARE`, `MIN_STORIES` (indexer.boilerplate).

Shared by both sides, and imported directly: indexer.store, indexer.catalog, indexer.partition,
the engines (indexer.vectors, indexer.lexical), indexer.models and indexer.settings.
"""

from __future__ import annotations

from .article import Article
from .boilerplate import MIN_SHARE, MIN_STORIES, LearnedBoilerplate, source_of
from .cleaning import clean_text
from .distributed import index_with_ray
from .merging import mergers
from .inputs import Problem, article_from_record, count_records, read_paths, record_limit
from .sharding import open_writer
from .batches import IndexSummary, unindexable
from .writer import IndexWriter

__all__ = ["Article", "IndexSummary", "IndexWriter", "LearnedBoilerplate", "MIN_SHARE", "MIN_STORIES", "Problem",
           "article_from_record", "clean_text", "count_records", "index_with_ray", "mergers", "open_writer",
           "read_paths", "record_limit", "source_of", "unindexable"]
