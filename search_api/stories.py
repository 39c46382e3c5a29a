"""Story threads: every article belongs to one story, the reports of one event.

    with IndexWriter("index") as writer:
        summary = writer.add(articles)
        assign_stories(open_reader("index"), writer, summary.written)   # what `index` and POST do

An article written joins the story of its best same-story match (`related`, scope "story": the
read side's own decision), or starts a story of its own when it has none. Written articles are
assigned in the order they were written, so a report joins a story that an earlier report of the
same batch started. Each costs one related lookup, whatever the archive's size. A story id is
opaque (`indexer.story_rows.new_story_id`); an article never assigned one (indexed before stories
existed) is a story of its own until it is written again.

Stories are kept for unsharded indexes: a sharded index's writer has no `write_stories`, and its
articles are each a story of their own.
"""

from __future__ import annotations

from functools import partial

from indexer import story_rows

from .related import related

# Same-story matches looked at for the story to join: the best one that has a story decides.
STORY_CANDIDATES = 10
# Articles assigned per transaction (and generation): a long run's assignment publishes as it goes,
# and another process's write waits for at most one group's story rows.
STORY_GROUP = 32


def keeps_stories(writer) -> bool:
    """Whether `writer` (an IndexWriter, or a sharded index's writer) stores story threads."""
    return hasattr(writer, "write_stories")


def assign_stories(reader, writer, article_ids: list[str]) -> dict[str, str]:
    """Put each of `article_ids` (written by `writer`, visible to `reader`, an index reader of the
    generation that published them) in a story; returns {article id: story id}. Publishes one
    generation per STORY_GROUP articles (`writer.write_stories`, under the write lock); the related
    lookups of a group run before it, so the lock is held only to read and write story rows, and a
    long run's assignment lets other writers in between its groups."""
    if not keeps_stories(writer) or not article_ids:
        return {}

    waiting = set(article_ids)  # not assigned yet, in any group

    def same_story(group: list[str]) -> dict[str, list[str]]:
        """{article id: its same-story matches, best first}; an article removed since it was
        written has none."""
        found = {}
        for article_id in group:
            try:
                found[article_id] = [hit.article_id for hit in related(reader, article_id, STORY_CANDIDATES)]
            except KeyError:
                pass
        return found

    def assign(group: list[str], found: dict[str, list[str]], conn) -> dict[str, str]:
        assigned = {}
        for article_id in group:
            waiting.discard(article_id)
            if article_id not in found:  # removed since it was written
                continue
            matches = found[article_id]
            stories = story_rows.stories_of(conn, matches)
            # A match of this run not assigned yet has no story to join; an older one never
            # assigned (indexed before stories existed) is a story of its own, written down here.
            best = next((m for m in matches if m in stories or m not in waiting), None)
            if best is None:
                story = story_rows.new_story_id(article_id)
            elif best in stories:
                story = stories[best]
            else:
                story = story_rows.new_story_id(best)
                story_rows.set_story(conn, best, story)
            story_rows.set_story(conn, article_id, story)
            assigned[article_id] = story
        return assigned

    assigned: dict[str, str] = {}
    for start in range(0, len(article_ids), STORY_GROUP):
        group = article_ids[start:start + STORY_GROUP]
        assigned.update(writer.write_stories(partial(assign, group, same_story(group))))
    return assigned
