"""What the HTTP routers (search_api.routes_*) share: the route classes that match only the whole
path, and the dependencies that hand a route the index, the searcher of its current generation
(held for the request) and the app's settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from starlette.routing import Match, get_route_path
from starlette.types import Scope

from indexer.settings import Settings

from .live import LiveIndex
from .searcher import Searcher


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
