"""The index database's format in one place: its tables, its `meta` keys and the named SQL
statements that the store, the vector engine, the distributed indexer and search_api's index
readers run. Those modules execute these names; they write no SQL text of their own. (The
writer's and the boilerplate model's statements are still in indexer/writer.py and
indexer/boilerplate.py.)

Statements that take a list of values hold `IN ({})`: the caller formats in one `?` per value
(see `placeholders`), in parts under SQLite's limit on bound parameters (IN_LIMIT).
"""

from __future__ import annotations

# -- tables -------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    published TEXT NOT NULL,
    author TEXT NOT NULL,
    source TEXT NOT NULL,
    text TEXT NOT NULL,              -- the cleaned text; chunk offsets point into it
    metadata TEXT NOT NULL,          -- JSON object of the input's other fields
    content_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    minhash BLOB NOT NULL,           -- MinHash signature of the text, see indexer.duplicates
    duplicate_group TEXT NOT NULL    -- opaque id shared by near-identical copies, see indexer.duplicates
);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_duplicate_group ON articles(duplicate_group);
CREATE TABLE IF NOT EXISTS minhash_bands (
    band INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    PRIMARY KEY (band, bucket, article_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS minhash_bands_article ON minhash_bands(article_id);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused; also the chunk's FAISS id and lexical id
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    vector BLOB NOT NULL,            -- float32, unit length
    sentences TEXT NOT NULL,         -- JSON [[start, end], ...] of its sentences, relative to the chunk
    sentence_vectors BLOB NOT NULL   -- int8 (n_sentences x dimension), see indexer.highlights
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id, position);
CREATE TABLE IF NOT EXISTS stories (    -- the story thread of each article, see search_api.stories
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    story_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_story ON stories(story_id);
"""

# Created by the writer and the merger (indexer.vectors.create_tombstones), not by `connect`.
TOMBSTONES_SCHEMA = """
CREATE TABLE IF NOT EXISTS tombstones (
    chunk_id INTEGER PRIMARY KEY,     -- a passage removed from the database whose data an engine still holds
    removed_at REAL NOT NULL,         -- unix time
    in_vectors INTEGER NOT NULL,      -- 1 while a segment holds its vector
    in_lexical INTEGER NOT NULL,      -- 1 while the lexical index holds it
    generation INTEGER NOT NULL DEFAULT 0  -- the generation whose transaction removed it (0: before these were kept)
);
"""
# A database whose tombstones were made before they carried their generation gets the column.
ADD_TOMBSTONE_GENERATION = "ALTER TABLE tombstones ADD COLUMN generation INTEGER NOT NULL DEFAULT 0"
TOMBSTONES_GENERATION_INDEX = "CREATE INDEX IF NOT EXISTS tombstones_generation ON tombstones(generation)"
TOMBSTONE_COLUMNS = "PRAGMA table_info(tombstones)"

# -- meta keys ----------------------------------------------------------------------------------

GENERATION = "generation"                  # bumped by every committed batch
LEXICAL_GENERATION = "lexical_generation"  # the generation the lexical index was last committed at
VECTOR_SEGMENTS = "vector_segments"        # JSON list of the current segments (indexer.vectors.Segment)
RETIRED_SEGMENTS = "retired_segments"      # JSON [[file, unix time], ...] merged away, kept a while
LEXICAL_PURGES = "lexical_purges"          # how many times tombstones left the lexical index
PROBE_VECTORS = "probe_vectors"            # hex float32 vectors of indexer.models.PROBE_SENTENCES
# The counts of /stats and /metrics, kept by each transaction that adds or removes articles:
# reading them costs one row, not a scan of the archive.
COUNT_KEYS = {"articles": "count_articles", "passages": "count_passages"}

# -- meta statements ----------------------------------------------------------------------------

META_VALUE = "SELECT value FROM meta WHERE key = ?"
META_HAS = "SELECT 1 FROM meta WHERE key = ?"
META_INSERT = "INSERT INTO meta VALUES (?, ?)"
META_SET = "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
META_UPDATE = "UPDATE meta SET value = ? WHERE key = ?"
META_ADD = "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = ?"
META_INCREMENT = "INSERT INTO meta VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
META_NEXT_GENERATION = "SELECT CAST(value AS INTEGER) + 1 FROM meta WHERE key = 'generation'"
META_VALUES_IN = "SELECT key, value FROM meta WHERE key IN ({})"
META_DELETE_IN = "DELETE FROM meta WHERE key IN ({})"

# -- counts -------------------------------------------------------------------------------------

COUNTED = {"articles": "SELECT COUNT(*) FROM articles", "passages": "SELECT COUNT(*) FROM chunks"}
ARTICLE_PASSAGE_COUNT = "SELECT COUNT(*) FROM chunks WHERE article_id = ?"

# -- the database itself ------------------------------------------------------------------------

TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE name = ?"
READABLE = "SELECT COUNT(*) FROM sqlite_master"  # fails on garbage or a truncated file
NEWEST_CHUNK = "SELECT seq FROM sqlite_sequence WHERE name = 'chunks'"
ANY_CHUNK = "SELECT 1 FROM chunks LIMIT 1"
QUICK_CHECK = "PRAGMA quick_check(3)"
DATABASE_FILE = "PRAGMA database_list"

# -- stories ------------------------------------------------------------------------------------

STORIES_OF = "SELECT article_id, story_id FROM stories WHERE article_id IN ({})"
STORY_MEMBERS = "SELECT article_id FROM stories WHERE story_id = ?"
SET_STORY = ("INSERT INTO stories (article_id, story_id) VALUES (?, ?) "
             "ON CONFLICT(article_id) DO UPDATE SET story_id = excluded.story_id")

# -- tombstones ---------------------------------------------------------------------------------

# The column that says whether an engine still holds a removed passage.
ENGINE_COLUMNS = {"vectors": "in_vectors", "lexical": "in_lexical"}
TOMBSTONES_IN_RANGE = {engine: f"SELECT chunk_id FROM tombstones WHERE chunk_id BETWEEN ? AND ? AND {column} = 1 "
                               "ORDER BY chunk_id" for engine, column in ENGINE_COLUMNS.items()}
TOMBSTONES_SINCE = {engine: f"SELECT chunk_id FROM tombstones WHERE generation > ? AND {column} = 1"
                    for engine, column in ENGINE_COLUMNS.items()}
VECTOR_TOMBSTONE_COUNT = "SELECT COUNT(*) FROM tombstones WHERE in_vectors = 1"
VECTOR_TOMBSTONE_COUNT_IN_RANGE = "SELECT COUNT(*) FROM tombstones WHERE in_vectors = 1 AND chunk_id BETWEEN ? AND ?"
VECTOR_TOMBSTONES_IN_RANGE = "SELECT chunk_id FROM tombstones WHERE in_vectors = 1 AND chunk_id BETWEEN ? AND ?"
ADD_TOMBSTONE = ("INSERT OR REPLACE INTO tombstones (chunk_id, removed_at, in_vectors, in_lexical, generation) "
                 "VALUES (?, ?, 1, 1, ?)")
FORGET_ALL_LEXICAL = "UPDATE tombstones SET in_lexical = 0"
FORGET_LEXICAL = "UPDATE tombstones SET in_lexical = 0 WHERE chunk_id = ?"
FORGET_VECTOR = "UPDATE tombstones SET in_vectors = 0 WHERE chunk_id = ?"
DROP_SPENT_TOMBSTONES = "DELETE FROM tombstones WHERE in_vectors = 0 AND in_lexical = 0"

# -- passages and articles ----------------------------------------------------------------------

STORED_VECTORS = "SELECT id, vector FROM chunks WHERE id BETWEEN ? AND ? ORDER BY id"
CONTENT_HASHES = "SELECT id, content_hash FROM articles"
ARTICLE_OF_CHUNKS = "SELECT id, article_id FROM chunks WHERE id IN ({})"
PASSAGE_EVIDENCE = ("SELECT c.id, a.title, c.text, c.vector FROM chunks c JOIN articles a "
                    "ON a.id = c.article_id WHERE c.id IN ({})")
HIT_ARTICLES = "SELECT id, title, url, source, author, published FROM articles WHERE id IN ({})"
HIT_PASSAGES = "SELECT id, text, start, end, sentences, sentence_vectors FROM chunks WHERE id IN ({})"
ARTICLE_VECTORS = "SELECT article_id, vector FROM chunks WHERE article_id IN ({}) ORDER BY article_id, position"
ARTICLES_META = "SELECT id, title, url, source, published, duplicate_group FROM articles WHERE id IN ({})"
CHUNK_TEXTS = "SELECT id, text FROM chunks WHERE id IN ({})"
ARTICLE = "SELECT id, title, url, source, author, published, text, metadata, indexed_at FROM articles WHERE id = ?"
# The distinct non-empty sources, each found by one seek in the articles_source index (a loose
# index scan): the cost grows with the number of sources, not of articles.
SOURCES = """WITH RECURSIVE next(source) AS (
    SELECT MIN(source) FROM articles WHERE source > ''
    UNION ALL SELECT (SELECT MIN(source) FROM articles WHERE source > next.source) FROM next WHERE source IS NOT NULL)
SELECT source FROM next WHERE source IS NOT NULL"""

# SQLite's default limit on bound parameters is 999: lists are asked in parts of this many.
IN_LIMIT = 900


def placeholders(statement: str, count: int) -> str:
    """`statement` with its `IN ({})` holding `count` parameters."""
    return statement.format(",".join("?" * count))
