"""The index database's format in one place: its tables, its `meta` keys and the named SQL
statements that the store, the vector engine, the distributed indexer and search_api's index
readers, the writer and the boilerplate model run. Those modules execute these names; they write
no SQL text of their own (transaction control, BEGIN, and the connection's PRAGMAs excepted).

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
# The boilerplate model's counts and the cleaning version of each article (indexer.boilerplate).
BOILERPLATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS learned_lines (
    source TEXT NOT NULL, key INTEGER NOT NULL, stories INTEGER NOT NULL, PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS boilerplate_stories (
    source TEXT NOT NULL, story TEXT NOT NULL, PRIMARY KEY (source, story)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS boilerplate_sources (
    source TEXT PRIMARY KEY,
    stories INTEGER NOT NULL,              -- distinct stories counted
    version INTEGER NOT NULL DEFAULT 0,    -- raised each time one of its keys becomes learned
    recleaned INTEGER NOT NULL DEFAULT 0   -- the version its stored articles were all cleaned again with
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS boilerplate_sources_behind ON boilerplate_sources(source) WHERE recleaned < version;
CREATE TABLE IF NOT EXISTS cleaned_with (
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    source TEXT NOT NULL, version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cleaned_with_version ON cleaned_with(source, version);
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
CONFIG = "config"                          # the manifest as last saved, which --repair restores
# The counts of /stats and /metrics, kept by each transaction that adds or removes articles:
# reading them costs one row, not a scan of the archive.
COUNT_KEYS = {"articles": "count_articles", "passages": "count_passages"}

# -- meta statements ----------------------------------------------------------------------------

META_VALUE = "SELECT value FROM meta WHERE key = ?"
META_HAS = "SELECT 1 FROM meta WHERE key = ?"
META_INSERT = "INSERT INTO meta VALUES (?, ?)"
META_SET = "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
META_REPLACE = "INSERT OR REPLACE INTO meta VALUES (?, ?)"
META_UPDATE = "UPDATE meta SET value = ? WHERE key = ?"
META_ADD = "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = ?"
META_INCREMENT = "INSERT INTO meta VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
META_NEXT_GENERATION = "SELECT CAST(value AS INTEGER) + 1 FROM meta WHERE key = 'generation'"
# The lexical index holds the generation being published (inside its transaction).
LEXICAL_AT_GENERATION = ("INSERT INTO meta SELECT 'lexical_generation', value FROM meta WHERE key = 'generation' "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
META_VALUES_IN = "SELECT key, value FROM meta WHERE key IN ({})"
META_DELETE_IN = "DELETE FROM meta WHERE key IN ({})"

# -- counts -------------------------------------------------------------------------------------

COUNTED = {"articles": "SELECT COUNT(*) FROM articles", "passages": "SELECT COUNT(*) FROM chunks"}
ARTICLE_PASSAGE_COUNT = "SELECT COUNT(*) FROM chunks WHERE article_id = ?"

# -- the database itself ------------------------------------------------------------------------

TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE name = ?"
READABLE = "SELECT COUNT(*) FROM sqlite_master"  # fails on garbage or a truncated file
TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
DROP_FTS = "DROP TABLE IF EXISTS chunks_fts"  # format 1's lexical index
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
LEXICAL_TOMBSTONES_BEFORE = "SELECT chunk_id FROM tombstones WHERE in_lexical = 1 AND removed_at < ?"

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

# -- the writer (indexer.writer) ---------------------------------------------------------------

CONTENT_HASH = "SELECT content_hash FROM articles WHERE id = ?"
STORED_ARTICLE = ("SELECT id, title, url, published, author, source, text, metadata, content_hash FROM articles "
                  "WHERE id = ?")
STORED_CHUNKS = "SELECT text, vector, sentences, sentence_vectors FROM chunks WHERE article_id = ?"
# With each passage its article's key: the id of the article's first passage.
LEXICAL_SOURCE_ROWS = ("SELECT c.id, c.text, c.position, a.id, f.first, a.title, a.source, a.published, a.author, "
                       "a.metadata FROM chunks c JOIN articles a ON a.id = c.article_id "
                       "JOIN (SELECT article_id, MIN(id) AS first FROM chunks GROUP BY article_id) f "
                       "ON f.article_id = c.article_id")
INSERT_CHUNK = ("INSERT INTO chunks (id, article_id, position, start, end, text, tokens, vector, sentences, "
                "sentence_vectors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
UPSERT_ARTICLE = (
    "INSERT INTO articles (id, title, url, published, author, source, text, metadata, content_hash, indexed_at, "
    "minhash, duplicate_group) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
    "title=excluded.title, url=excluded.url, published=excluded.published, author=excluded.author, "
    "source=excluded.source, text=excluded.text, metadata=excluded.metadata, "
    "content_hash=excluded.content_hash, indexed_at=excluded.indexed_at, minhash=excluded.minhash, "
    "duplicate_group=excluded.duplicate_group")
DELETE_ARTICLE = "DELETE FROM articles WHERE id = ?"
ARTICLE_CHUNK_IDS = "SELECT id FROM chunks WHERE article_id = ?"
DELETE_ARTICLE_CHUNKS = "DELETE FROM chunks WHERE article_id = ?"
# Near-duplicates (indexer.duplicates): MinHash bands, and the group of copies an article is in.
DUPLICATE_GROUP = "SELECT duplicate_group FROM articles WHERE id = ?"
SET_DUPLICATE_GROUP = "UPDATE articles SET duplicate_group = ? WHERE id = ?"
GROUP_MEMBERS = "SELECT id, minhash, content_hash FROM articles WHERE duplicate_group = ? AND id != ?"
DELETE_BANDS = "DELETE FROM minhash_bands WHERE article_id = ?"
INSERT_BAND = "INSERT OR IGNORE INTO minhash_bands VALUES (?, ?, ?)"
BAND_MATCH = "(band = ? AND bucket = ?)"  # OR-joined into BAND_CANDIDATES, one per band
BAND_CANDIDATES = ("SELECT DISTINCT a.id, a.minhash, a.duplicate_group FROM minhash_bands m JOIN articles a "
                   "ON a.id = m.article_id WHERE ({}) AND m.article_id != ?")

# -- the boilerplate model (indexer.boilerplate) ------------------------------------------------

SOURCE_COUNTS = "SELECT stories, version FROM boilerplate_sources WHERE source = ?"
LEARNED_LINES_IN = "SELECT key, stories FROM learned_lines WHERE source = ? AND key IN ({})"
STORY_COUNTED = "SELECT 1 FROM boilerplate_stories WHERE source = ? AND story IN (?, ?)"
COUNT_STORY = "INSERT OR IGNORE INTO boilerplate_stories VALUES (?, ?)"
COUNT_LINE = "INSERT INTO learned_lines VALUES (?, ?, 1) ON CONFLICT(source, key) DO UPDATE SET stories = stories + 1"
COUNT_SOURCE = ("INSERT INTO boilerplate_sources (source, stories, version) VALUES (?, 1, ?) "
                "ON CONFLICT(source) DO UPDATE SET stories = stories + 1, version = max(version, excluded.version)")
RECORD_CLEANING = ("INSERT INTO cleaned_with VALUES (?, ?, ?) ON CONFLICT(article_id) DO UPDATE SET "
                   "source = excluded.source, version = excluded.version")
SOURCES_BEHIND = ("SELECT source, version FROM boilerplate_sources INDEXED BY boilerplate_sources_behind "
                  "WHERE recleaned < version")
ARTICLES_BEHIND = "SELECT article_id FROM cleaned_with WHERE source = ? AND version < ? ORDER BY article_id"
MARK_RECLEANED = "UPDATE boilerplate_sources SET recleaned = max(recleaned, ?) WHERE source = ?"
# An index made before the boilerplate tables: filled once from what it holds.
SOURCE_COUNTS_FROM_STORIES = ("INSERT OR IGNORE INTO boilerplate_sources (source, stories) SELECT source, COUNT(*) "
                              "FROM boilerplate_stories WHERE story LIKE 'text:%' GROUP BY source")
CLEANED_WITH_NOTHING = "INSERT OR IGNORE INTO cleaned_with VALUES (?, ?, 0)"
ARTICLE_SOURCES = "SELECT id, source, url FROM articles"

# SQLite's default limit on bound parameters is 999: lists are asked in parts of this many.
IN_LIMIT = 900


def placeholders(statement: str, count: int) -> str:
    """`statement` with its `IN ({})` holding `count` parameters."""
    return statement.format(",".join("?" * count))
