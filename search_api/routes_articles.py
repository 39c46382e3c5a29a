"""The routes that write the index (the API key is checked before them, by app.RequestGuard):
POST /articles, which writes all of its articles or none, and DELETE /articles/{id}."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from indexer.writing import Problem, article_from_record, unindexable

from .http_routing import Index, WholePathRoute
from .schemas import ArticleIn, DeleteResponse, IndexResponse

router = APIRouter(route_class=WholePathRoute)


def checked_articles(items: list[ArticleIn]) -> tuple[list, list[tuple[int, str]]]:
    """The articles of a POST body, and every item the index would refuse as (position, why):
    a field it cannot store, an id given twice, no text once boilerplate is removed, too much
    text. Checked for all items before any is written, so that a request is written whole or not
    at all."""
    articles, refused, first = [], [], {}
    for number, item in enumerate(items):
        parsed = article_from_record(item.model_dump(), f"body[{number}]")
        if isinstance(parsed, Problem):
            refused.append((number, parsed.message))
        elif parsed.id in first:
            refused.append((number, f"id '{parsed.id}' is also the id of body[{first[parsed.id]}]"))
        elif problem := unindexable(parsed):
            refused.append((number, problem.message))
        else:
            first[parsed.id] = number
            articles.append(parsed)
    return articles, refused


@router.post("/articles", response_model=IndexResponse,
             summary="Index one article or a list of them (API key; all of them or none)")
def post_articles(index: Index, body: ArticleIn | list[ArticleIn]):
    items = body if isinstance(body, list) else [body]
    if not items:
        raise HTTPException(422, "body: send one article object or a non-empty list of them")
    articles, refused = checked_articles(items)
    if refused:
        return JSONResponse(status_code=422, content={
            "detail": "nothing was indexed: " + "; ".join(f"body[{n}]: {message}" for n, message in refused),
            "errors": [{"field": f"body.{n}", "message": message} for n, message in refused]})
    summary = index.add(articles)
    if summary.problems:  # not expected after checked_articles; said rather than hidden
        raise HTTPException(422, "; ".join(str(p) for p in summary.problems))
    return {"ids": [a.id for a in articles], "indexed": summary.indexed, "updated": summary.updated,
            "unchanged": summary.unchanged, "passages": summary.chunks, "problems": []}


@router.delete("/articles/{article_id:path}", response_model=DeleteResponse,
               summary="Remove an article and its passages (API key)")
def delete_article(index: Index, article_id: str):
    if not index.remove(article_id):
        raise HTTPException(404, f"no article with id '{article_id}' in the index")
    return {"removed": article_id}
