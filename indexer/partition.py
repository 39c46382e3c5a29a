"""Which shard of a sharded index holds an article: the one rule that the writer
(indexer.sharding) and the reader (search_api.sharded) both follow, so it imports neither."""

from __future__ import annotations

import hashlib

# Recorded in a sharded index's manifest ("shards.partition").
PARTITION = "sha1(article id) as a big-endian integer, modulo the shard count"


def shard_of(article_id: str, count: int) -> int:
    """The shard of an article: stable across runs, machines and Python versions."""
    return int.from_bytes(hashlib.sha1(article_id.encode("utf-8")).digest()[:8], "big") % count
