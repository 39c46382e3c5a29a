"""Batches of articles on their way into an index: what `IndexWriter.add` reports (`IndexSummary`),
an article cleaned, chunked and fingerprinted (`PreparedArticle`, made by `prepare_article`; why
one cannot be is `unindexable`), and the model's output for its passages (`EmbeddedChunks`, made
by `embed_articles`, its token embeddings pooled into sentence vectors by `pool_sentences`).
None of it touches an index: a Ray worker (indexer.distributed) prepares and embeds with it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import duplicates
from .article import MAX_ARTICLE_CHARS, Article
from .boilerplate import LearnedBoilerplate, Observation, source_of
from .chunking import Chunk, Chunker, split_sentences
from .cleaning import clean_text
from .highlights import pooled_sentence_vectors
from .inputs import Problem
from .models import Encoder
from .wording import counted

# Problems a summary keeps; the rest are counted, and each is still given to `on_problem` as it
# comes (the CLI prints them all), so a run over a million bad records does not hold them all.
KEPT_PROBLEMS = 1000


@dataclass
class IndexSummary:
    """What one `add` did. `problems` are the first KEPT_PROBLEMS records skipped, each with where
    and why; `skipped` counts them all. `on_problem`, when set, is called with each as it comes."""

    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # ids of the articles indexed or updated, in order
    phases: dict[str, float] = field(default_factory=dict)  # seconds per stage, where a run reports them
    dropped: int = 0  # problems counted but not kept in `problems`
    on_problem: Callable[[Problem], None] | None = field(default=None, repr=False)

    @property
    def skipped(self) -> int:
        return len(self.problems) + self.dropped

    def report(self, problem: Problem) -> None:
        """Count `problem`, give it to `on_problem`, and keep it while fewer than KEPT_PROBLEMS are."""
        if self.on_problem is not None:
            self.on_problem(problem)
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(problem)
        else:
            self.dropped += 1

    def merge(self, other: IndexSummary) -> None:
        """Add the counts and problems of `other` (another add, another shard) to this summary;
        `other`'s problems were given to its own `on_problem` already."""
        self.indexed += other.indexed
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.chunks += other.chunks
        kept = other.problems[:max(0, KEPT_PROBLEMS - len(self.problems))]
        self.problems += kept
        self.dropped += other.skipped - len(kept)
        self.written += other.written

    def __str__(self) -> str:
        rate = self.chunks / self.seconds if self.seconds else 0.0
        return (f"{self.indexed:,} indexed, {self.updated:,} updated, {self.unchanged:,} unchanged, "
                f"{self.skipped:,} skipped; {counted(self.chunks, 'passage')} embedded in {self.seconds:.1f} s "
                f"({rate:.1f} passages/s)")


@dataclass
class EmbeddedChunks:
    """The model's output for the chunks of one or more articles, in chunk order: the embedded
    texts (title context + passage), their vectors, and either the token embeddings or, once
    pooled (`pool_sentences`), each chunk's sentence spans and int8 sentence vectors."""

    texts: list[str]
    vectors: np.ndarray
    tokens: list[np.ndarray] | None = None
    spans: list[list[tuple[int, int]]] | None = None
    sentence_vectors: list[np.ndarray] | None = None

    @staticmethod
    def concat(parts: list[EmbeddedChunks]) -> EmbeddedChunks:
        pooled = all(part.spans is not None for part in parts)
        return EmbeddedChunks(
            [text for part in parts for text in part.texts],
            np.concatenate([part.vectors for part in parts]) if parts else np.zeros((0, 0), np.float32),
            None if pooled else [t for part in parts for t in part.tokens],
            [s for part in parts for s in part.spans] if pooled else None,
            [v for part in parts for v in part.sentence_vectors] if pooled else None)


@dataclass
class PreparedArticle:
    """An article cleaned, chunked and fingerprinted, ready to embed (`embedded` once it is)."""

    article: Article
    text: str
    author: str
    chunks: list[Chunk]
    content_hash: str
    is_update: bool
    minhash: np.ndarray
    embedded: EmbeddedChunks | None = None
    observed: Observation | None = None  # what LearnedBoilerplate.observe counted
    cleaned_with: int | None = None  # the source's template version it was cleaned with; None: patterns only

    @property
    def id(self) -> str:
        return self.article.id


def unindexable(article: Article, max_article_chars: int = MAX_ARTICLE_CHARS) -> Problem | None:
    """Why `prepare_article` would refuse `article`, or None: for callers that must check a whole
    batch before writing any of it (POST /articles writes all of a request or nothing)."""
    if len(article.text) > max_article_chars:
        return Problem(article.origin, f"article '{article.id}' has {len(article.text):,} characters of text, over "
                                       f"the limit of {max_article_chars:,} (--max-article-chars); not indexed")
    if not clean_text(article.text).text:
        return Problem(article.origin, f"article '{article.id}' has no text left after removing boilerplate")
    return None


def prepare_article(article: Article, chunker: Chunker, max_article_chars: int,
                    is_update: bool, learned: LearnedBoilerplate | None = None) -> PreparedArticle | Problem:
    """Clean and chunk one article (no model call); a Problem when it cannot be indexed. With
    `learned`, the article's lines are counted for its source first, and the lines learned as that
    source's boilerplate are removed too."""
    if problem := unindexable(article, max_article_chars):
        return problem
    source = source_of(article.source, article.url)
    observed = learned.observe(source, article.id, article.text) if learned else None
    # Cleaned again: cleaning costs ~0.1 ms per article, next to ~1 s of embedding.
    cleaned = clean_text(article.text, learned.for_source(source) if learned else None)
    if not cleaned.text:
        return Problem(article.origin, f"article '{article.id}' has no text left after removing boilerplate")
    chunks = chunker.chunk(cleaned.text, article.title)
    return PreparedArticle(article, cleaned.text, article.author or cleaned.author, chunks, article.content_hash(),
                           is_update, duplicates.signature(cleaned.text), observed=observed,
                           cleaned_with=learned.version(source) if learned else None)


# Texts per model call: one forward batch (about 1.3 s at 25 passages/s), so that a progress bar
# moves that often rather than once a commit (256 passages).
EMBED_GROUP = 32


def embed_articles(encoder: Encoder, chunker: Chunker, batch: list[PreparedArticle],
                   done: Callable[[float], None] | None = None) -> None:
    """Embed the chunks of every article of `batch` (title + text; see `Chunker.embedded_text`) and
    set each article's `embedded` (token embeddings not yet pooled). The texts are embedded longest
    first in groups of EMBED_GROUP: the order and batches that sentence-transformers makes of one
    call, so the padding and the work are the same, and `done(articles)`, when given, is called
    after each group with the share of the batch's articles it embedded (a chunk is 1/chunks of its
    article)."""
    texts = [chunker.embedded_text(p.article.title, c.text) for p in batch for c in p.chunks]
    shares = [1 / len(p.chunks) for p in batch for _ in p.chunks]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors, tokens = np.zeros((len(texts), encoder.dimension), np.float32), [None] * len(texts)
    for start in range(0, len(order), EMBED_GROUP):
        group = order[start:start + EMBED_GROUP]
        group_vectors, group_tokens = encoder.encode_with_tokens([texts[i] for i in group])
        for i, vector, token in zip(group, group_vectors, group_tokens):
            vectors[i], tokens[i] = vector, token
        if done is not None:
            done(sum(shares[i] for i in group))
    start = 0
    for p in batch:
        end = start + len(p.chunks)
        p.embedded = EmbeddedChunks(texts[start:end], vectors[start:end], tokens[start:end])
        start = end


def pool_sentences(tokenizer, p: PreparedArticle) -> None:
    """Replace the token embeddings of `p.embedded` by each chunk's sentence spans and pooled
    int8 sentence vectors (see indexer.highlights)."""
    embedded = p.embedded
    offsets = tokenizer(embedded.texts, return_offsets_mapping=True)["offset_mapping"] if embedded.texts else []
    embedded.spans = [split_sentences(chunk.text) for chunk in p.chunks]
    embedded.sentence_vectors = [
        pooled_sentence_vectors(tokens, token_offsets, len(text) - len(chunk.text), spans)
        for tokens, token_offsets, text, chunk, spans
        in zip(embedded.tokens, offsets, embedded.texts, p.chunks, embedded.spans)]
    embedded.tokens = None
