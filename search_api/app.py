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
import sqlite3
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from collections.abc import Iterator

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.datastructures import Headers
from starlette.routing import Match, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from indexer import store
from indexer.settings import Settings
from indexer.writing import Problem, article_from_record, unindexable

from . import package_version
from .http_protocol import DeadlineH11Protocol
from .live import LiveIndex
from .schemas import (ArticleIn, ArticleOut, DeleteResponse, ErrorResponse, Health, IndexResponse, Liveness,
                      RelatedResponse, SearchParams, SearchResponse, Stats, StoryResponse, SuggestParams, SuggestResponse)
from .searcher import Searcher, SearchError

log = logging.getLogger("article_search")
STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 16 * 1024 * 1024
# The request line and headers of one request, at most (uvicorn's h11 parser answers 400 beyond it;
# `article-search serve` runs uvicorn with SERVER_LIMITS). Unbounded, one 64 MB header cost 105 MB.
MAX_HEADER_BYTES = 64 * 1024
# h11 with a deadline for receiving each request whole (search_api.http_protocol).
SERVER_LIMITS = {"http": DeadlineH11Protocol, "h11_max_incomplete_event_size": MAX_HEADER_BYTES}
RELOAD_CHECK_SECONDS = 1.0
# Seconds a client is told to wait (Retry-After) after a write that waited store.WRITE_LOCK_TIMEOUT
# for the write lock in vain: an `index` run beside the server commits a batch every few seconds.
WRITE_RETRY_AFTER = 5
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d]: %(message)s"


def _field_message(error: dict) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "body"))
    return f"{location or 'request'}: {error.get('msg', 'invalid value')}"


class Metrics:
    """Prometheus metrics of one app (own registry, so several apps can live in one process).

    With $PROMETHEUS_MULTIPROC_DIR set (`serve --workers N` sets it), every worker process writes
    its values there and a scrape of any worker reports the sum over all of them; otherwise a
    scrape would show the counters of whichever worker answered it."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("article_search_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("article_search_request_seconds", "HTTP request latency", ["route", "method"],
                                 registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        # Every worker serves the same index: the value set last is the index's current size.
        sizes = {"registry": self.registry, "multiprocess_mode": "mostrecent"}
        self.articles = Gauge("article_search_index_articles", "articles in the index", **sizes)
        self.passages = Gauge("article_search_index_passages", "passages in the index", **sizes)
        self.vectors = Gauge("article_search_index_vectors", "vectors in the FAISS index", **sizes)

    def exposition(self, multiprocess: bool) -> bytes:
        """The Prometheus text of this process, or of all worker processes in multiprocess mode."""
        if not multiprocess:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        return generate_latest(merged)


def _is_write(scope: Scope) -> bool:
    """Requests that change the index: anything but a read on /articles and below."""
    path = scope["path"]
    return scope["method"] not in ("GET", "HEAD", "OPTIONS") and (path == "/articles" or path.startswith("/articles/"))


class RequestGuard:
    """The checks made before any route reads a request body (the outermost middleware):

    - a write request without the right key is refused at once, its body left unread;
    - a body over `max_body_bytes` is refused with 413: by its Content-Length when it gives one,
      otherwise (chunked) by counting the bytes as they stream in.
    `key_refusal(headers)` is the HTTPException for a write request's headers, or None."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, key_refusal):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.key_refusal = key_refusal

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"request body over {self.max_body_bytes // (1024 * 1024)} MB; send fewer "
                                  "articles per request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refusal = self.key_refusal(headers) if _is_write(scope) else None
        length = headers.get("content-length", "")
        if refusal is None and length.isdigit() and int(length) > self.max_body_bytes:
            refusal = self._too_large()
        if refusal is not None:
            response = JSONResponse({"detail": refusal.detail}, status_code=refusal.status_code,
                                    headers=refusal.headers)
            return await response(scope, receive, send)
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                # Raised where the route reads its body: FastAPI answers it as any HTTPException.
                raise self._too_large()
            return message

        await self.app(scope, counted, send)


class WholePathRoute(APIRoute):
    """A route that matches only the whole path: Starlette's pattern ends in `$`, which also
    matches before a trailing newline, so "/articles/ID%0A" would have named article ID."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE and scope["type"] == "http" and not self.path_regex.fullmatch(get_route_path(scope)):
            return Match.NONE, {}
        return match, child_scope


class RelatedRoute(WholePathRoute):
    """The route of GET /articles/{id}/related (or /story), where an id may hold "/": it matches
    only when "/related" ends the path as sent, so an id that itself ends in "/related" (sent
    encoded, "%2Frelated") names an article instead."""

    ending = b"/related"

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        raw_path = scope.get("raw_path")
        if match is not Match.NONE and raw_path is not None and not raw_path.partition(b"?")[0].endswith(self.ending):
            return Match.NONE, {}
        return match, child_scope


class StoryRoute(RelatedRoute):
    """The route of GET /articles/{id}/story, matched as `RelatedRoute` is."""

    ending = b"/story"


def public_stats(stats: dict) -> dict:
    """`stats` as the API shows them: index directories by name, not by their path on the server."""
    shown = dict(stats, index_dir=Path(stats["index_dir"]).name)
    if "shards" in shown:
        shown["shards"] = [dict(shard, index_dir=Path(shard["index_dir"]).name) for shard in shown["shards"]]
    return shown


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


def get_index(request: Request) -> LiveIndex:
    """The opened index, shared by all requests (a dependency of every route that reads it)."""
    index = getattr(request.app.state, "index", None)
    if index is None:
        raise HTTPException(503, "the index is still opening; try again in a moment")
    return index


Index = Annotated[LiveIndex, Depends(get_index)]


def current_searcher(index: Index) -> Iterator[Searcher]:
    """The searcher of the index's current generation, kept open until the request is done."""
    with index.reading() as searcher:
        yield searcher


Reader = Annotated[Searcher, Depends(current_searcher)]


def get_settings(request: Request) -> Settings:
    """The settings the app was built with (a dependency of the routes that read one)."""
    return request.app.state.settings


Configured = Annotated[Settings, Depends(get_settings)]


def _warm_up(index: LiveIndex) -> None:
    with index.reading() as searcher:
        try:
            searcher.search("warm up", k=1)
        except store.StoreError as exc:  # a segment the background check found damaged: logged by it
            log.warning("warm-up search refused: %s", exc)


def app_from_environment() -> FastAPI:
    """The app of one server process among several (`article-search serve --workers N`): each
    worker builds its own from the settings `serve` left in the environment, opens the index
    read-only and follows its generations on its own."""
    settings = Settings.from_environment()
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    return create_app(settings.index, cors_origins=list(settings.cors_origins), backend=settings.backend,
                      reranker=settings.reranker, settings=settings)


def create_app(index_dir: str | Path, *, encoder=None, api_key: str | None = None,
               cors_origins: list[str] | None = None, backend: str | None = None,
               reranker: str | None = None, opener=None, settings: Settings | None = None) -> FastAPI:
    """Build the app over `index_dir`. `api_key` defaults to $ARTICLE_SEARCH_API_KEY; without one,
    write routes answer 403. `cors_origins` is an allow-list; CORS is off when it is empty.
    `backend` picks the query encoder (torch, onnx, onnx-int8; default: onnx where it embeds like
    the index, else the index's own, see indexer.models.load_query_encoder);
    `reranker` a CrossEncoder that re-scores the top of each ranking; `opener` opens the searcher
    instead of the index directory (Ray Serve, see search_api.ray_serve); `settings` defaults to
    the environment's (indexer.settings), read now."""
    settings = settings or Settings.from_environment()
    api_key = api_key if api_key is not None else settings.api_key
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        options = {"opener": opener} if opener else {"backend": backend, "reranker": reranker}
        # A server that takes writes loads its write model and starts its merge threads now.
        index = await asyncio.to_thread(LiveIndex, index_dir, encoder, writable=api_key is not None, **options)
        # Warm up: the first real query should be as fast as the rest.
        await asyncio.to_thread(_warm_up, index)
        app.state.index = index
        vectors = await asyncio.to_thread(lambda: index.searcher.vector_count)  # a remote call with Ray Serve
        log.info("serving %s: %d vectors, model %s", index.dir, vectors, index.searcher.manifest["model"]["name"])
        watcher = asyncio.create_task(_watch(index))
        yield
        watcher.cancel()
        await asyncio.to_thread(index.close)

    async def _watch(index: LiveIndex) -> None:
        failure = None  # why the last reload failed: logged once, not at every retry
        while True:
            await asyncio.sleep(RELOAD_CHECK_SECONDS)
            try:
                await asyncio.to_thread(index.refresh)
            except Exception as exc:  # a half-written or damaged directory is retried on the next tick
                if str(exc) != failure:
                    failure = str(exc)
                    log.error("could not open the new index generation: %s; still serving the previous one, "
                              "retrying every %g s", exc, RELOAD_CHECK_SECONDS,
                              exc_info=not isinstance(exc, store.StoreError))  # a StoreError says it all
            else:
                if failure is not None:
                    log.info("index %s opens again", index.dir)
                    failure = None

    errors = {status: {"model": ErrorResponse, "description": text} for status, text in (
        (401, "no or wrong API key"), (403, "writes are disabled"), (404, "no such article"),
        (413, "request body too large"),
        (422, "invalid input; `detail` names the field"),
        (503, "the index is still opening, cannot be read or written, or another writer held it longer than "
              "a write waits (`detail` says why; Retry-After when waiting again may help)"))}
    # FastAPIOffline: /docs and /redoc load their scripts from the installed package, not a CDN.
    app = FastAPIOffline(title="article-search", version=package_version(), lifespan=lifespan, responses=errors,
                         description="Semantic search over a news article archive. Offsets are in Unicode "
                                     "code points (see docs/api.md).")
    app.router.route_class = WholePathRoute  # every route below
    app.state.settings = settings
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])

    def key_refusal(headers: Headers) -> HTTPException | None:
        """Why a write request with these headers is refused (403 or 401), or None."""
        if api_key is None:
            return HTTPException(403, "writes are disabled on this server: set ARTICLE_SEARCH_API_KEY to enable them")
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), api_key.encode()):
            return HTTPException(401, "a valid API key is required: send 'Authorization: Bearer <key>'",
                                 headers={"WWW-Authenticate": "Bearer"})
        return None

    # Added last, so it runs first: before the metrics middleware and any route reads the body.
    app.add_middleware(RequestGuard, max_body_bytes=MAX_BODY_BYTES, key_refusal=key_refusal)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path, request.method).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(store.StoreError)
    async def store_error(request: Request, exc: store.StoreError):
        # The index directory cannot be opened (a damaged manifest, a missing database), or another
        # writer kept the write lock longer than this write waited: the message says which, and
        # what to do.
        headers = {"Retry-After": str(WRITE_RETRY_AFTER)} if isinstance(exc, store.IndexLocked) else None
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers=headers)

    @app.exception_handler(sqlite3.DatabaseError)
    async def database_error(request: Request, exc: sqlite3.DatabaseError):
        # Trouble from outside the process (a disk error, a WAL truncated or deleted under the
        # server, a damaged page): the request cannot be answered now, and says why. Misuse of
        # SQLite (a ProgrammingError, an IntegrityError) is a bug, and stays a 500.
        if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
            raise exc
        log.error("%s %s: the index database failed: %s", request.method, request.url.path, exc)
        return JSONResponse(status_code=503, content={"detail": (
            f"the index database cannot be read or written now ({exc}); check the disk and the index, with: "
            f"article-search index --check --index {Path(index_dir).name}")})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        return JSONResponse(status_code=422, content={
            "detail": "; ".join(_field_message(e) for e in errors),
            "errors": [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")} for e in errors],
        })

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
    @app.get("/search", response_model=SearchResponse, response_model_exclude_unset=True,
             summary="Search articles (query string)")
    def search_get(searcher: Reader, params: Annotated[SearchParams, Query()]):
        return run_search(searcher, params)

    @app.post("/search", response_model=SearchResponse, response_model_exclude_unset=True,
              summary="Search articles (JSON body)")
    def search_post(searcher: Reader, params: SearchParams):
        return run_search(searcher, params)

    @app.get("/suggest", response_model=SuggestResponse, response_model_exclude_none=True,
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

    app.router.add_api_route("/articles/{article_id:path}/related", related, methods=["GET"],
                             response_model=RelatedResponse, summary="Related coverage of one article",
                             route_class_override=RelatedRoute)

    def story(searcher: Reader, article_id: str):
        try:
            return searcher.story(article_id)
        except KeyError:
            raise HTTPException(404, f"no article with id '{article_id}' in the index") from None

    app.router.add_api_route("/articles/{article_id:path}/story", story, methods=["GET"],
                             response_model=StoryResponse, summary="The story an article belongs to, oldest first",
                             route_class_override=StoryRoute)

    @app.get("/articles/{article_id:path}", response_model=ArticleOut, summary="One article with its cleaned text")
    def get_article(searcher: Reader, article_id: str):
        article = searcher.article(article_id)
        if article is None:
            raise HTTPException(404, f"no article with id '{article_id}' in the index")
        return article

    @app.post("/articles", response_model=IndexResponse,
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

    @app.delete("/articles/{article_id:path}", response_model=DeleteResponse,
                summary="Remove an article and its passages (API key)")
    def delete_article(index: Index, article_id: str):
        if not index.remove(article_id):
            raise HTTPException(404, f"no article with id '{article_id}' in the index")
        return {"removed": article_id}

    @app.get("/healthz", response_model=Liveness, summary="Liveness")
    def healthz():
        return {"status": "ok", "pid": os.getpid()}

    @app.get("/readyz", response_model=Health, summary="Readiness: the index is open")
    def readyz():
        index = getattr(app.state, "index", None)
        if index is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        with index.reading() as searcher:
            return {"status": "ready", "generation": searcher.generation, "pid": os.getpid()}

    @app.get("/stats", response_model=Stats, summary="Counts, model, index type")
    def stats(searcher: Reader):
        return public_stats(searcher.stats())

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def prometheus(searcher: Reader, configured: Configured):
        counts = searcher.stats()
        metrics.articles.set(counts["articles"])
        metrics.passages.set(counts["passages"])
        metrics.vectors.set(counts["vectors"])
        return Response(metrics.exposition(multiprocess=configured.metrics_dir is not None),
                        media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/widget.js", summary="The embeddable search box (docs/widget.md)", response_class=FileResponse,
             responses={200: {"content": {"text/javascript": {}}, "description": "the widget's script"}})
    def widget():
        # Loaded by other sites' pages; its requests back to this server need their origin in
        # the CORS allow-list (--cors-origin).
        return FileResponse(STATIC / "widget.js", media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
