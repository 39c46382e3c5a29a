"""Keeping an index's lexical index in step with its database, for `IndexWriter` (indexer.writer):
opening its writer, first removing a folder that is damaged, of an older schema or (on a repair
or a rebuild) without article keys (`open_lexical`); telling whether it misses a batch or holds
other passages than the database (`out_of_step`); writing it anew from the database
(`rewrite`); dropping the documents of a batch never published (`drop_unpublished`); and
deleting the passages removed long enough ago that no reader needs them (`purge_tombstones`).
The database holds everything the lexical index holds, so each of these only reads it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from . import catalog, store
from .lexical import LexicalReader, LexicalWriter, damaged_files, exists, has_article_keys
from .progress import close_progress_bar, progress_bar
from .tombstones import forget_lexical, read_tombstones


def open_lexical(folder: Path, manifest: dict, mend: bool) -> tuple[LexicalWriter, bool]:
    """The lexical index's writer at `folder`, and whether the index existed: False when it was
    missing or removed here to be written anew from the database (`rewrite`). With `mend` (a
    repair or a rebuild), files failing their checksums and an index without article keys are
    removed too."""
    if mend and exists(folder) and damaged_files(folder):
        shutil.rmtree(folder)  # files failing their checksums: written anew from the database
    if manifest.get("format_version") in store.UPGRADABLE_VERSIONS and folder.exists():
        shutil.rmtree(folder)  # an older lexical schema: written anew from the database
    elif mend and exists(folder) and not has_article_keys(folder):
        # Written before articles were counted by a number (indexer.lexical.ARTICLE_KEY): it
        # still serves as it is; a repair or a rebuild writes it anew to gain the key.
        shutil.rmtree(folder)
    existed = exists(folder)
    try:
        return LexicalWriter(folder), existed
    except ValueError:  # damaged: it is written anew from the database, which holds all it held
        shutil.rmtree(folder)
        return LexicalWriter(folder), False


def out_of_step(conn: sqlite3.Connection, folder: Path) -> bool:
    """Whether the lexical index misses a batch (a run killed between the database's commit and
    its own), or holds other passages than the last save counted (a folder or a database
    restored from another time)."""
    if store.db_generation(conn, "lexical_generation") != store.db_generation(conn):
        return True
    passages = store.read_counts(conn)["passages"]  # kept by each batch: no scan per writer open
    held = passages + len(read_tombstones(conn, "lexical"))
    return LexicalReader(folder).passages < held


def drop_unpublished(lexical: LexicalWriter, first_unpublished: int) -> None:
    """Remove the lexical documents of a batch committed to the lexical index by a run killed
    before the transaction that would have published it: their ids, from `first_unpublished`
    on, will be given again."""
    orphans = LexicalReader(lexical.folder).ids_from(first_unpublished)
    if orphans:
        lexical.delete(orphans)
        lexical.commit()


def rewrite(conn: sqlite3.Connection, lexical: LexicalWriter, progress: bool) -> None:
    """Write the lexical index anew from the database: when it is missing, damaged or holds fewer
    passages than the database, or to upgrade a format-1 or format-2 index (an FTS5 table, or a
    schema without the fields of facets). Reads every passage's text; embeds nothing. With
    `progress`, a bar counts the passages."""
    lexical.delete_all()
    # Minutes at a million passages: the bar says how far it is (store.read_counts costs no scan).
    bar = progress_bar(store.read_counts(conn)["passages"], progress, "lexical index", "passages")
    # An article's key is the id of its first passage, as `IndexWriter._publish` gives it.
    rows = conn.execute(catalog.LEXICAL_SOURCE_ROWS)
    for chunk_id, text, position, article_id, key, title, source, published, author, metadata in rows:
        lexical.add(chunk_id=chunk_id, title=title, text=text, source=source, published=published,
                    article_id=article_id, article_key=key, author=author, metadata=json.loads(metadata),
                    position=position)
        bar.update()
    close_progress_bar(bar)
    lexical.commit()
    with conn:  # the lexical index holds the database's current generation
        conn.execute(catalog.META_SET, (catalog.LEXICAL_GENERATION, str(store.db_generation(conn))))
    with conn:
        conn.execute(catalog.DROP_FTS)
    forget_lexical(conn)


def purge_tombstones(conn: sqlite3.Connection, lexical: LexicalWriter, cutoff: float) -> None:
    """Delete from the lexical index the passages removed before `cutoff` (a time.time()): the
    writer passes one older than any generation a request still reads (docs/reliability.md,
    "Snapshots")."""
    old = [row[0] for row in conn.execute(catalog.LEXICAL_TOMBSTONES_BEFORE, (cutoff,))]
    if not old:
        return
    lexical.delete(old)
    lexical.commit()
    forget_lexical(conn, old)
