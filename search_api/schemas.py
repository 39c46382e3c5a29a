"""Pydantic models of every request and response of the HTTP API (../shared/API.md)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .query import Mode, Sort, checked_facets, facet_list

MAX_QUERY_CHARS = 2000


class SearchParams(BaseModel):
    """The parameters of `GET /search` (query string) and `POST /search` (JSON body)."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the question or keywords")
    k: int = Field(10, ge=1, le=100, description="articles per page")
    offset: int = Field(0, ge=0, le=10_000, description="articles to skip (pagination)")
    mode: Mode = "hybrid"
    source: str | None = Field(None, max_length=200, description="only articles from this source")
    date_from: dt.date | None = Field(None, description="only articles published on or after this date")
    date_to: dt.date | None = Field(None, description="only articles published on or before this date")
    passages: int = Field(3, ge=1, le=10, description="best passages per article")
    highlight: bool = Field(True, description="mark the sentences that best answer the query")
    sort: Sort = Field(
        "relevance", description="relevance, or the matching articles by date (newest or oldest first)")
    recency: float | None = Field(None, gt=0, le=1_000_000, description="boost recent articles: a half-life in "
                                  "days (the score halves per that many days older than the newest match)")
    typos: bool = Field(True, description="forgive 1 typo in words of 5+ letters, 2 in words of 9+ (lexical "
                                          "and hybrid); a last word with no space after it also matches as a prefix")
    facets: str | None = Field(None, max_length=1000, description="count the matching articles per value of "
                               "these fields, comma-separated: source, year, author or any metadata field; "
                               "the answer's `facets`")

    @field_validator("facets")
    @classmethod
    def _facet_names(cls, value: str | None) -> str | None:
        return None if value is None else ",".join(checked_facets(facet_list(value)))
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="0 turns the match decision off: the best candidates are listed, matching or "
        "not, as before it; any other value (or none) keeps it on (docs/api.md, 'Match sets and total')")

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is blank; type some words to search for")
        return value


class Passage(BaseModel):
    text: str
    start: int = Field(description="offset of the passage in the article's cleaned text")
    end: int
    score: float
    highlights: list[list[int]] = Field(description="[start, end] offsets of the best-answering sentences")
    terms: list[list[int]] = Field(default_factory=list, description="[start, end] offsets of the words the "
                                   "query matches (stems, the word being typed, typos forgiven)")


class Copy(BaseModel):
    """A near-identical copy of a result (the same syndicated text from another outlet)."""

    article_id: str
    title: str
    url: str
    source: str
    published: str


class SearchHit(BaseModel):
    article_id: str
    title: str
    url: str
    source: str
    author: str
    published: str
    score: float
    passages: list[Passage]
    also_published_in: list[Copy] = Field(default_factory=list,
                                          description="near-identical copies, collapsed into this result")
    title_terms: list[list[int]] = Field(default_factory=list, description="[start, end] offsets into the title "
                                                                           "of the words the query matches")
    story_id: str = Field("", description="the story the article belongs to (GET /articles/{id}/story)")


class FacetValue(BaseModel):
    value: str
    count: int = Field(description="matching articles with this value")


class SearchResponse(BaseModel):
    query: str
    mode: str
    took_ms: float
    offset: int
    total: int = Field(0, description="the matching articles in all, before paging (see docs/api.md)")
    results: list[SearchHit]
    facets: dict[str, list[FacetValue]] | None = Field(
        None, description="with `facets`: per field, the matching articles per value, most first (docs/api.md "
                          "says what matches in each mode)")


class SuggestParams(BaseModel):
    """The parameters of `GET /suggest`."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=200, description="the text in the search box")
    k: int = Field(8, ge=1, le=20, description="suggestions to return at most")


class Suggestion(BaseModel):
    text: str = Field(description="the box's text with its last word completed, or an article's title")
    kind: Literal["term", "title"]
    article_id: str | None = Field(None, description="the titled article (titles only)")


class SuggestResponse(BaseModel):
    suggestions: list[Suggestion]


class ArticleOut(BaseModel):
    id: str
    title: str
    url: str
    source: str
    author: str
    published: str
    text: str = Field(description="the cleaned text that passage offsets point into")
    metadata: dict
    passages: int
    indexed_at: str


class RelatedHit(BaseModel):
    article_id: str
    title: str
    url: str
    source: str
    published: str
    score: float
    near_duplicate: bool = Field(description="a near-identical copy (syndicated text) rather than other coverage")


class RelatedResponse(BaseModel):
    article_id: str
    took_ms: float
    results: list[RelatedHit]


class StoryArticle(BaseModel):
    article_id: str
    title: str
    url: str
    source: str
    published: str
    also_published_in: list[Copy] = Field(default_factory=list,
                                          description="near-identical copies, collapsed into this report")


class StoryResponse(BaseModel):
    story_id: str
    articles: list[StoryArticle] = Field(description="the story's reports, the article itself among them, oldest "
                                                     "first, undated last")


class ArticleIn(BaseModel):
    """One article to index. Fields other than these are kept as metadata."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(None, min_length=1, max_length=512)
    title: str = Field("", max_length=2000)
    text: str = Field(min_length=1)
    url: str = Field("", max_length=4000)
    published: str = Field("", max_length=100)
    author: str = Field("", max_length=500)
    source: str = Field("", max_length=200)

    @field_validator("id")
    @classmethod
    def _printable_id(cls, value: str | None) -> str | None:
        # An id names its article in URLs (/articles/{id}), where a control character cannot be
        # matched back: the article would be searchable and impossible to get, relate or delete.
        bad = next((c for c in value or "" if unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            raise ValueError(f"holds a control character ({bad!r} at character {value.index(bad) + 1}); "
                             "an id names its article in URLs: use printable characters")
        return value


class IndexResponse(BaseModel):
    ids: list[str]
    indexed: int
    updated: int
    unchanged: int
    passages: int
    problems: list[str]


class DeleteResponse(BaseModel):
    removed: str


class Stats(BaseModel):
    model_config = ConfigDict(extra="allow")

    articles: int
    passages: int
    vectors: int
    model: str
    dimension: int
    index_type: str
    generation: int
    query_backend: str | None = Field(None, description="the encoder that embeds queries here: torch, onnx or onnx-int8")


class FieldError(BaseModel):
    field: str = Field(description="where the problem is, e.g. query.k or body.0.text")
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx answer: `detail` says what to fix; validation errors also list each field."""

    detail: str
    errors: list[FieldError] | None = None


class Liveness(BaseModel):
    """`GET /healthz`: the process answers (it may still be opening the index)."""

    status: str
    pid: int = Field(description="the server process that answered (one of --workers)")


class Health(BaseModel):
    """`GET /readyz`: the index is open and searchable."""

    status: str
    generation: int = Field(description="the index generation this process serves")
    pid: int = Field(description="the server process that answered (one of --workers)")
