"""The routes that serve the service itself: liveness and readiness, stats, Prometheus metrics,
the search page and the embeddable widget."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .http_routing import Configured, Reader, WholePathRoute
from .schemas import Health, Liveness, Stats

STATIC = Path(__file__).resolve().parent / "static"
router = APIRouter(route_class=WholePathRoute)


def public_stats(stats: dict) -> dict:
    """`stats` as the API shows them: index directories by name, not by their path on the server."""
    shown = dict(stats, index_dir=Path(stats["index_dir"]).name)
    if "shards" in shown:
        shown["shards"] = [dict(shard, index_dir=Path(shard["index_dir"]).name) for shard in shown["shards"]]
    return shown


@router.get("/healthz", response_model=Liveness, summary="Liveness")
def healthz():
    return {"status": "ok", "pid": os.getpid()}


@router.get("/readyz", response_model=Health, summary="Readiness: the index is open")
def readyz(request: Request):
    index = getattr(request.app.state, "index", None)
    if index is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    with index.reading() as searcher:
        return {"status": "ready", "generation": searcher.generation, "pid": os.getpid()}


@router.get("/stats", response_model=Stats, summary="Counts, model, index type")
def stats(searcher: Reader):
    return public_stats(searcher.stats())


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def prometheus(request: Request, searcher: Reader, configured: Configured):
    metrics = request.app.state.metrics  # app.Metrics, the app's own registry
    counts = searcher.stats()
    metrics.articles.set(counts["articles"])
    metrics.passages.set(counts["passages"])
    metrics.vectors.set(counts["vectors"])
    return Response(metrics.exposition(multiprocess=configured.metrics_dir is not None),
                    media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
def page():
    return FileResponse(STATIC / "index.html")


@router.get("/widget.js", summary="The embeddable search box (docs/widget.md)", response_class=FileResponse,
            responses={200: {"content": {"text/javascript": {}}, "description": "the widget's script"}})
def widget():
    # Loaded by other sites' pages; its requests back to this server need their origin in
    # the CORS allow-list (--cors-origin).
    return FileResponse(STATIC / "widget.js", media_type="text/javascript")
