"""What a word is wherever the project counts or compares words (duplicate shingles, boilerplate
lines and fingerprints, query words, related titles, evaluation questions): a run of Unicode
letters, digits and underscores. The lexical index splits text with tantivy's own analyser
instead (indexer.lexical)."""

from __future__ import annotations

import re

WORD = re.compile(r"\w+")
