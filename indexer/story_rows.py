"""The stories table: which story each article belongs to (issue 19's story threads). A story id is
opaque; an article never assigned one is a story of its own, `new_story_id(article_id)`.
search_api.stories decides the stories; these read and write the rows."""

from __future__ import annotations

import hashlib
import sqlite3

from . import catalog


def new_story_id(article_id: str) -> str:
    """The id of the story that `article_id` starts (opaque; also the story of an article not yet
    assigned one, a story of its own)."""
    return "story-" + hashlib.sha1(article_id.encode("utf-8")).hexdigest()[:16]


def stories_of(conn: sqlite3.Connection, article_ids: list[str]) -> dict[str, str]:
    """{article id: story id} of those of `article_ids` assigned a story; empty for an index made
    before stories existed, whose read-only database lacks the table."""
    if not article_ids or not conn.execute(catalog.TABLE_EXISTS, ("stories",)).fetchone():
        return {}
    found = {}
    for i in range(0, len(article_ids), catalog.IN_LIMIT):
        part = article_ids[i:i + catalog.IN_LIMIT]
        found.update(conn.execute(catalog.placeholders(catalog.STORIES_OF, len(part)), part).fetchall())
    return found


def story_members(conn: sqlite3.Connection, story_id: str) -> list[str]:
    """The ids of the articles of one story (by the story's index: never a scan)."""
    if not conn.execute(catalog.TABLE_EXISTS, ("stories",)).fetchone():
        return []
    return [row[0] for row in conn.execute(catalog.STORY_MEMBERS, (story_id,))]


def set_story(conn: sqlite3.Connection, article_id: str, story_id: str) -> None:
    """Put one article in a story, inside the caller's transaction."""
    conn.execute(catalog.SET_STORY, (article_id, story_id))
