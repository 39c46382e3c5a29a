"""The FastAPI application: search, articles, related coverage, writes, health, stats, metrics,
and the search page.

    app = create_app("index")            # what `article-search serve` runs
    uvicorn.run(app, host="127.0.0.1", port=8000)

The index is opened once at start-up (model loaded and warmed up) and shared by all requests;
a background task notices new generations on disk and swaps them in (see `search_api.live`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import sqlite3
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from indexer import store
from indexer.settings import Settings

from . import package_version, routes_articles, routes_search, routes_service
from .http_protocol import DeadlineH11Protocol
from .live import LiveIndex
from .routes_service import STATIC
from .schemas import ErrorResponse

log = logging.getLogger("article_search")
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

# The error answers every route may give, shown in the OpenAPI schema.
ERRORS = {status: {"model": ErrorResponse, "description": text} for status, text in (
    (401, "no or wrong API key"), (403, "writes are disabled"), (404, "no such article"),
    (413, "request body too large"),
    (422, "invalid input; `detail` names the field"),
    (503, "the index is still opening, cannot be read or written, or another writer held it longer than "
          "a write waits (`detail` says why; Retry-After when waiting again may help)"))}


async def _watch(index: LiveIndex) -> None:
    """Follow the index's generations: every RELOAD_CHECK_SECONDS, open the newest if it moved."""
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


def _lifespan(index_dir: str | Path, encoder, writable: bool, options: dict):
    """The app's lifespan: open the index (`options` are LiveIndex's), warm it up, follow its
    generations while the app runs, close it at the end."""
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # A server that takes writes loads its write model and starts its merge threads now.
        index = await asyncio.to_thread(LiveIndex, index_dir, encoder, writable=writable, **options)
        # Warm up: the first real query should be as fast as the rest.
        await asyncio.to_thread(_warm_up, index)
        # What start-up built (the models, the index's readers) lives as long as the server: out of
        # the collector's sight, a full collection of a writing server at 1M passages takes ~0 ms
        # instead of ~200 (docs/benchmarks.md, "Looking for the 13-16 s write at 1M"). Frozen once:
        # start-up's objects in a cycle that a later generation replaces are kept, once, not per write.
        gc.freeze()
        app.state.index = index
        vectors = await asyncio.to_thread(lambda: index.searcher.vector_count)  # a remote call with Ray Serve
        log.info("serving %s: %d vectors, model %s", index.dir, vectors, index.searcher.manifest["model"]["name"])
        watcher = asyncio.create_task(_watch(index))
        yield
        watcher.cancel()
        await asyncio.to_thread(index.close)

    return lifespan


def _key_refusal(api_key: str | None):
    """`key_refusal(headers)` for RequestGuard: why a write request with these headers is refused
    (403 or 401), or None."""
    def key_refusal(headers: Headers) -> HTTPException | None:
        if api_key is None:
            return HTTPException(403, "writes are disabled on this server: set ARTICLE_SEARCH_API_KEY to enable them")
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), api_key.encode()):
            return HTTPException(401, "a valid API key is required: send 'Authorization: Bearer <key>'",
                                 headers={"WWW-Authenticate": "Bearer"})
        return None

    return key_refusal


def _observe(metrics: Metrics):
    """The middleware that counts each request and its latency by route, method and status."""
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path, request.method).observe(time.perf_counter() - started)
        return response

    return observe


def _add_error_handlers(app: FastAPI, index_dir: str | Path) -> None:
    """The answers to a damaged or locked index, a failing database and invalid input."""
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
    options = {"opener": opener} if opener else {"backend": backend, "reranker": reranker}
    # FastAPIOffline: /docs and /redoc load their scripts from the installed package, not a CDN.
    app = FastAPIOffline(title="article-search", version=package_version(),
                         lifespan=_lifespan(index_dir, encoder, api_key is not None, options), responses=ERRORS,
                         description="Semantic search over a news article archive. Offsets are in Unicode "
                                     "code points (see docs/api.md).")
    app.state.settings = settings
    app.state.metrics = Metrics()
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    # Added last, so it runs first: before the metrics middleware and any route reads the body.
    app.add_middleware(RequestGuard, max_body_bytes=MAX_BODY_BYTES, key_refusal=_key_refusal(api_key))
    app.middleware("http")(_observe(app.state.metrics))
    _add_error_handlers(app, index_dir)
    # Each router's routes match only the whole path (search_api.http_routing.WholePathRoute).
    for routes in (routes_search, routes_articles, routes_service):
        app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
