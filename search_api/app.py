"""The FastAPI application: search, articles, related coverage, writes, health, stats, metrics,
and the search page.

    app = create_app("index")            # what `article-search serve` runs
    uvicorn.run(app, host="127.0.0.1", port=8000)

The index is opened once at start-up (model loaded and warmed up) and shared by all requests;
a background task notices new generations on disk and swaps them in (see `search_api.live`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from indexer import store
from indexer.readers import Problem, article_from_record

from .live import LiveIndex
from .schemas import (ArticleIn, ArticleOut, DeleteResponse, ErrorResponse, Health, IndexResponse, RelatedResponse,
                      SearchParams, SearchResponse, Stats)
from .searcher import SearchError

log = logging.getLogger("article_search")
STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 16 * 1024 * 1024
RELOAD_CHECK_SECONDS = 1.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d]: %(message)s"


def _field_message(error: dict) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "body"))
    return f"{location or 'request'}: {error.get('msg', 'invalid value')}"


class Metrics:
    """Prometheus metrics of one app (own registry, so several apps can live in one process)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("article_search_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("article_search_request_seconds", "HTTP request latency", ["route", "method"],
                                 registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.articles = Gauge("article_search_index_articles", "articles in the index", registry=self.registry)
        self.passages = Gauge("article_search_index_passages", "passages in the index", registry=self.registry)
        self.vectors = Gauge("article_search_index_vectors", "vectors in the FAISS index", registry=self.registry)


def get_index(request: Request) -> LiveIndex:
    """The opened index, shared by all requests (a dependency of every route that reads it)."""
    index = getattr(request.app.state, "index", None)
    if index is None:
        raise HTTPException(503, "the index is still opening; try again in a moment")
    return index


Index = Annotated[LiveIndex, Depends(get_index)]


def app_from_environment() -> FastAPI:
    """The app of one server process among several (`article-search serve --workers N`): each
    worker builds its own from the settings `serve` left in the environment, opens the index
    read-only and follows its generations on its own."""
    logging.basicConfig(level=os.environ.get("ARTICLE_SEARCH_LOG_LEVEL", "info").upper(), format=LOG_FORMAT)
    origins = os.environ.get("ARTICLE_SEARCH_CORS_ORIGINS", "")
    return create_app(os.environ["ARTICLE_SEARCH_INDEX"], cors_origins=[o for o in origins.split(",") if o],
                      backend=os.environ.get("ARTICLE_SEARCH_BACKEND") or None,
                      reranker=os.environ.get("ARTICLE_SEARCH_RERANKER") or None)


def create_app(index_dir: str | Path, *, encoder=None, api_key: str | None = None,
               cors_origins: list[str] | None = None, backend: str | None = None,
               reranker: str | None = None, opener=None) -> FastAPI:
    """Build the app over `index_dir`. `api_key` defaults to $ARTICLE_SEARCH_API_KEY; without one,
    write routes answer 403. `cors_origins` is an allow-list; CORS is off when it is empty.
    `backend` picks the query encoder (torch, onnx, onnx-int8; default: the index's own);
    `reranker` a CrossEncoder that re-scores the top of each ranking; `opener` opens the searcher
    instead of the index directory (Ray Serve, see search_api.ray_serve)."""
    api_key = api_key if api_key is not None else os.environ.get("ARTICLE_SEARCH_API_KEY") or None
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        options = {"opener": opener} if opener else {"backend": backend, "reranker": reranker}
        index = await asyncio.to_thread(LiveIndex, index_dir, encoder, **options)
        # Warm up: the first real query should be as fast as the rest.
        await asyncio.to_thread(index.searcher.search, "warm up", k=1)
        app.state.index = index
        vectors = await asyncio.to_thread(lambda: index.searcher.vector_count)  # a remote call with Ray Serve
        log.info("serving %s: %d vectors, model %s", index.dir, vectors, index.searcher.manifest["model"]["name"])
        watcher = asyncio.create_task(_watch(index))
        yield
        watcher.cancel()

    async def _watch(index: LiveIndex) -> None:
        while True:
            await asyncio.sleep(RELOAD_CHECK_SECONDS)
            try:
                await asyncio.to_thread(index.refresh)
            except Exception:  # a half-written directory is retried on the next tick
                log.exception("could not open the new index generation; still serving the previous one")

    errors = {status: {"model": ErrorResponse, "description": text} for status, text in (
        (401, "no or wrong API key"), (403, "writes are disabled"), (404, "no such article"),
        (409, "another process is writing the index"), (413, "request body too large"),
        (422, "invalid input; `detail` names the field"), (503, "the index is still opening"))}
    app = FastAPI(title="article-search", version="0.1.0", lifespan=lifespan, responses=errors,
                  description="Semantic search over a news article archive.")
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])

    def require_key(request: Request) -> None:
        if api_key is None:
            raise HTTPException(403, "writes are disabled on this server: set ARTICLE_SEARCH_API_KEY to enable them")
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), api_key.encode()):
            raise HTTPException(401, "a valid API key is required: send 'Authorization: Bearer <key>'",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.middleware("http")
    async def observe(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB; send fewer "
                                           "articles per request"}, status_code=413)
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path, request.method).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        return JSONResponse(status_code=422, content={
            "detail": "; ".join(_field_message(e) for e in errors),
            "errors": [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")} for e in errors],
        })

    def run_search(index: LiveIndex, params: SearchParams) -> dict:
        try:
            result = index.searcher.search(
                params.q, k=params.k, offset=params.offset, mode=params.mode, source=params.source,
                date_from=params.date_from.isoformat() if params.date_from else None,
                date_to=params.date_to.isoformat() if params.date_to else None,
                passages=params.passages, highlight=params.highlight)
        except SearchError as exc:
            raise HTTPException(422, f"q: {exc}") from exc
        return result.to_dict()

    @app.get("/search", response_model=SearchResponse, summary="Search articles (query string)")
    def search_get(index: Index, params: Annotated[SearchParams, Query()]):
        return run_search(index, params)

    @app.post("/search", response_model=SearchResponse, summary="Search articles (JSON body)")
    def search_post(index: Index, params: SearchParams):
        return run_search(index, params)

    @app.get("/articles/{article_id}", response_model=ArticleOut, summary="One article with its cleaned text")
    def get_article(index: Index, article_id: str):
        article = index.searcher.article(article_id)
        if article is None:
            raise HTTPException(404, f"no article with id '{article_id}' in the index")
        return article

    @app.get("/articles/{article_id}/related", response_model=RelatedResponse,
             summary="Related coverage of one article")
    def related(index: Index, article_id: str, k: Annotated[int, Query(ge=1, le=100)] = 10):
        started = time.perf_counter()
        try:
            hits = index.searcher.related(article_id, k)
        except KeyError:
            raise HTTPException(404, f"no article with id '{article_id}' in the index") from None
        return {"article_id": article_id, "took_ms": round((time.perf_counter() - started) * 1000, 2),
                "results": [vars(hit) for hit in hits]}

    @app.post("/articles", response_model=IndexResponse, dependencies=[Depends(require_key)],
              summary="Index one article or a list of them")
    def post_articles(index: Index, body: ArticleIn | list[ArticleIn]):
        items = body if isinstance(body, list) else [body]
        if not items:
            raise HTTPException(422, "body: send one article object or a non-empty list of them")
        articles, problems = [], []
        for number, item in enumerate(items):
            parsed = article_from_record(item.model_dump(), f"body[{number}]")
            (problems if isinstance(parsed, Problem) else articles).append(parsed)
        if problems:
            raise HTTPException(422, "; ".join(str(p) for p in problems))
        try:
            summary = index.add(articles)
        except store.IndexLocked as exc:
            raise HTTPException(409, f"{exc}") from exc
        if summary.problems:
            raise HTTPException(422, "; ".join(str(p) for p in summary.problems))
        return {"ids": [a.id for a in articles], "indexed": summary.indexed, "updated": summary.updated,
                "unchanged": summary.unchanged, "passages": summary.chunks, "problems": []}

    @app.delete("/articles/{article_id}", response_model=DeleteResponse, dependencies=[Depends(require_key)],
                summary="Remove an article and its passages")
    def delete_article(index: Index, article_id: str):
        try:
            removed = index.remove(article_id)
        except store.IndexLocked as exc:
            raise HTTPException(409, f"{exc}") from exc
        if not removed:
            raise HTTPException(404, f"no article with id '{article_id}' in the index")
        return {"removed": article_id}

    @app.get("/healthz", response_model=Health, summary="Liveness")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", response_model=Health, summary="Readiness: the index is open")
    def readyz():
        index = getattr(app.state, "index", None)
        if index is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        return {"status": "ready", "generation": index.searcher.generation, "pid": os.getpid()}

    @app.get("/stats", response_model=Stats, summary="Counts, model, index type")
    def stats(index: Index):
        return index.searcher.stats()

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def prometheus(index: Index):
        counts = index.searcher.stats()
        metrics.articles.set(counts["articles"])
        metrics.passages.set(counts["passages"])
        metrics.vectors.set(counts["vectors"])
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
