"""Re-cleaning: when a source learns a new boilerplate line (indexer.boilerplate), the stored
articles of that source cleaned before it are cleaned again at the end of an `IndexWriter.add`
(`reclean`), and those whose text changes are written anew; only their passages whose embedded
text changed go through the model (`embed_changed_chunks`), the others keep their stored vectors.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import numpy as np

from . import boilerplate, catalog, duplicates
from .article import Article
from .batches import EmbeddedChunks, IndexSummary, PreparedArticle, embed_articles, pool_sentences
from .chunking import Chunker
from .cleaning import clean_text
from .models import Encoder

if TYPE_CHECKING:
    from .writer import IndexWriter


def reclean(writer: IndexWriter, summary: IndexSummary) -> None:
    """Clean again the stored articles cleaned with an older template version than their
    source's current one, whichever run learned the new line (this one, or one killed before
    it got here), and rewrite those whose text changes through `writer` (its `_write`, in batches
    of about `writer.commit_chunks` passages). Each counts as updated in `summary`. Reads only
    those articles (`cleaned_with` by source and version), never a whole source."""
    reader = writer._reader
    for source, version in boilerplate.sources_behind(reader):
        is_learned = writer.boilerplate.for_source(source)
        batch: list[PreparedArticle] = []
        unchanged = []
        for article_id in boilerplate.articles_behind(reader, source, version):
            row = reader.execute(catalog.STORED_ARTICLE, (article_id,)).fetchone()
            if not (text := clean_text(row[6], is_learned).text) or text == row[6]:
                unchanged.append(article_id)
                continue
            article = Article(row[0], row[1], text, row[2], row[3] or "", row[4], row[5], json.loads(row[7]))
            p = PreparedArticle(article, text, row[4], writer.chunker.chunk(text, article.title), row[8], True,
                                duplicates.signature(text), cleaned_with=version)
            p.embedded = embed_changed_chunks(reader, writer.encoder, writer.chunker, p)
            batch.append(p)
            if sum(len(p.chunks) for p in batch) >= writer.commit_chunks:
                writer._write(batch, EmbeddedChunks.concat([p.embedded for p in batch]), summary)
                batch = []
        if batch:
            writer._write(batch, EmbeddedChunks.concat([p.embedded for p in batch]), summary)
        with writer._holding(lexical=False), writer.conn:
            writer.conn.execute("BEGIN IMMEDIATE")
            for article_id in unchanged:
                boilerplate.record_cleaning(writer.conn, article_id, source, version)
            boilerplate.mark_recleaned(writer.conn, source, version)


def embed_changed_chunks(reader: sqlite3.Connection, encoder: Encoder, chunker: Chunker,
                         p: PreparedArticle) -> EmbeddedChunks:
    """`p`'s embedded chunks, pooled: those whose embedded text an indexed chunk of the article
    has already are taken from the database (`reader`), the others embedded now."""
    stored = {chunker.embedded_text(p.article.title, text): (vector, json.loads(spans), sentences)
              for text, vector, spans, sentences in reader.execute(catalog.STORED_CHUNKS, (p.id,))}
    texts = [chunker.embedded_text(p.article.title, chunk.text) for chunk in p.chunks]
    changed = PreparedArticle(p.article, p.text, p.author, [c for c, t in zip(p.chunks, texts) if t not in stored],
                              p.content_hash, True, p.minhash)
    if changed.chunks:
        embed_articles(encoder, chunker, [changed])
        pool_sentences(encoder.tokenizer, changed)
        fresh = iter(zip(changed.embedded.vectors, changed.embedded.spans, changed.embedded.sentence_vectors))
    parts = []
    dimension = encoder.dimension
    for text in texts:
        if text in stored:
            vector, spans, sentences = stored[text]
            parts.append((np.frombuffer(vector, dtype=np.float32),
                          [tuple(span) for span in spans],
                          np.frombuffer(sentences, dtype=np.int8).reshape(len(spans), dimension)))
        else:
            parts.append(next(fresh))
    return EmbeddedChunks(texts, np.stack([vector for vector, _, _ in parts]).astype(np.float32), None,
                          [spans for _, spans, _ in parts], [sentences for _, _, sentences in parts])
