"""The routes that read the index: /search, /suggest, an article, its related coverage and its
story. Each gets the searcher of the index's current generation (search_api.http_routing.Reader)."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from .http_routing import Reader, RelatedRoute, StoryRoute, WholePathRoute
from .schemas import (ArticleOut, RelatedResponse, SearchParams, SearchResponse, StoryResponse, SuggestParams,
                      SuggestResponse)
from .searcher import Searcher, SearchError

router = APIRouter(route_class=WholePathRoute)


def run_search(searcher: Searcher, params: SearchParams) -> dict:
    try:
        result = searcher.search(
            params.q, k=params.k, offset=params.offset, mode=params.mode, source=params.source,
            date_from=params.date_from.isoformat() if params.date_from else None,
            date_to=params.date_to.isoformat() if params.date_to else None,
            passages=params.passages, highlight=params.highlight, typos=params.typos,
            sort=params.sort, recency=params.recency,
            facets=params.facets.split(",") if params.facets else None,
            **({} if params.min_confidence is None else {"min_confidence": params.min_confidence}))
    except SearchError as exc:
        raise HTTPException(422, f"q: {exc}") from exc
    return result.model_dump(exclude_none=True)


# exclude_unset: `facets` is in the answer only when asked for.
@router.get("/search", response_model=SearchResponse, response_model_exclude_unset=True,
            summary="Search articles (query string)")
def search_get(searcher: Reader, params: Annotated[SearchParams, Query()]):
    return run_search(searcher, params)


@router.post("/search", response_model=SearchResponse, response_model_exclude_unset=True,
             summary="Search articles (JSON body)")
def search_post(searcher: Reader, params: SearchParams):
    return run_search(searcher, params)


@router.get("/suggest", response_model=SuggestResponse, response_model_exclude_none=True,
            summary="Completions for a search box: archive words and article titles")
def suggest(searcher: Reader, params: Annotated[SuggestParams, Query()]):
    return {"suggestions": searcher.suggest(params.q, params.k)}


# Article ids come from users' data (paths, URLs), so the id is the rest of the path, "/"
# included. The related route comes first, or /articles/{id} would take ".../related" as an id.
def related(searcher: Reader, article_id: str, k: Annotated[int, Query(ge=1, le=100)] = 10,
            scope: Annotated[Literal["story", "similar"], Query(
                description="story: the other reports of the same story, possibly none; "
                            "similar: the k nearest articles, whatever their story")] = "story"):
    started = time.perf_counter()
    try:
        hits = searcher.related(article_id, k, scope)
    except KeyError:
        raise HTTPException(404, f"no article with id '{article_id}' in the index") from None
    return {"article_id": article_id, "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "results": hits}


router.add_api_route("/articles/{article_id:path}/related", related, methods=["GET"],
                     response_model=RelatedResponse, summary="Related coverage of one article",
                     route_class_override=RelatedRoute)


def story(searcher: Reader, article_id: str):
    try:
        return searcher.story(article_id)
    except KeyError:
        raise HTTPException(404, f"no article with id '{article_id}' in the index") from None


router.add_api_route("/articles/{article_id:path}/story", story, methods=["GET"],
                     response_model=StoryResponse, summary="The story an article belongs to, oldest first",
                     route_class_override=StoryRoute)


@router.get("/articles/{article_id:path}", response_model=ArticleOut, summary="One article with its cleaned text")
def get_article(searcher: Reader, article_id: str):
    article = searcher.article(article_id)
    if article is None:
        raise HTTPException(404, f"no article with id '{article_id}' in the index")
    return article
