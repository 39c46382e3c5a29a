"""`Settings`: every environment variable article-search reads, read in this one place.

    settings = Settings.from_environment()   # os.environ as it is now

`VARIABLES` names the variable of each field; docs/api.md ("Settings: the environment variables")
says what each one does and its default. `article-search serve --workers N` hands its options to
its worker processes through these variables. A variable set but empty counts as unset, except
ARTICLE_SEARCH_INDEX and ARTICLE_SEARCH_CACHE, whose value is taken as it is. Dependency-free, so
that the command line reads it without loading a model or an index.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

VARIABLES = {"index": "ARTICLE_SEARCH_INDEX", "api_key": "ARTICLE_SEARCH_API_KEY",
             "cors_origins": "ARTICLE_SEARCH_CORS_ORIGINS", "backend": "ARTICLE_SEARCH_BACKEND",
             "reranker": "ARTICLE_SEARCH_RERANKER", "log_level": "ARTICLE_SEARCH_LOG_LEVEL",
             "request_timeout": "ARTICLE_SEARCH_REQUEST_TIMEOUT", "metrics_dir": "PROMETHEUS_MULTIPROC_DIR",
             "cache_dir": "ARTICLE_SEARCH_CACHE"}


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "article-search"


@dataclass(frozen=True)
class Settings:
    index: str = "index"
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    backend: str | None = None
    reranker: str | None = None
    log_level: str = "info"
    request_timeout: float | None = None  # None: search_api.http_protocol.REQUEST_SECONDS
    metrics_dir: str | None = None
    cache_dir: Path = field(default_factory=_default_cache_dir)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings `environ` holds (the process's environment by default); ValueError naming
        the variable when ARTICLE_SEARCH_REQUEST_TIMEOUT is not a number."""
        def value(name: str) -> str | None:
            return environ.get(VARIABLES[name]) or None

        timeout = value("request_timeout")
        try:
            request_timeout = float(timeout) if timeout else None
        except ValueError:
            raise ValueError(f"{VARIABLES['request_timeout']} must be a number of seconds, got {timeout!r}") from None
        return cls(index=environ.get(VARIABLES["index"], "index"), api_key=value("api_key"),
                   cors_origins=tuple(o for o in (value("cors_origins") or "").split(",") if o),
                   backend=value("backend"), reranker=value("reranker"), log_level=value("log_level") or "info",
                   request_timeout=request_timeout, metrics_dir=value("metrics_dir"),
                   cache_dir=Path(environ.get(VARIABLES["cache_dir"], _default_cache_dir())))
