"""The lexical index's writer (`LexicalWriter`): adds and deletes passages, commits."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import tantivy

from .schema import ARTICLE_ID_TEXT, ARTICLE_KEY, _open, day_number, facet_values, has_article_keys


class LexicalWriter:
    """Adds and deletes passages; nothing is visible to readers until `commit`. One at a time per
    folder (the index writer's lock guards it)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.index = _open(self.folder, create=True)
        self._keyed = has_article_keys(self.folder)
        # One indexing thread: the model holds the cores while passages are written.
        self._writer = self.index.writer(heap_size=64_000_000, num_threads=1)

    def add(self, *, chunk_id: int, title: str, text: str, source: str = "", published: str = "",
            article_id: str = "", article_key: int | None = None, author: str = "", metadata: dict | None = None,
            position: int = 0) -> None:
        """One passage: `position` is its place in its article (the title is indexed for title
        suggestions with the first passage only, so that each article counts once); `article_key`,
        the chunk id of its article's first passage (`ARTICLE_KEY`; None: `chunk_id`, a passage
        that is an article of its own)."""
        fields = {"chunk_id": chunk_id, "body": f"{title}\n{text}", "words": f"{title}\n{text}", "source": source}
        if self._keyed:
            fields[ARTICLE_KEY] = chunk_id if article_key is None else article_key
        else:  # an index written before the key, until it is rebuilt
            fields[ARTICLE_ID_TEXT] = article_id
        if position == 0:
            fields["title"] = title
        day = day_number(published)
        if day is not None:
            fields["day"] = day
        document = tantivy.Document(**fields)
        document.add_json("meta", facet_values(author, metadata))
        self._writer.add_document(document)

    def delete(self, chunk_ids: Iterable[int]) -> None:
        for chunk_id in chunk_ids:
            self._writer.delete_documents_by_term("chunk_id", int(chunk_id))

    def delete_all(self) -> None:
        self._writer.delete_all_documents()

    def commit(self) -> None:
        """Make every add and delete so far durable and visible to readers opened after this."""
        self._writer.commit()

    def close(self) -> None:
        """Wait for background merges, so no thread writes the folder after the lock is let go."""
        self._writer.wait_merging_threads()

    def __enter__(self) -> LexicalWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
