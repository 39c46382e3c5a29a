"""Marking in a text the words a lexical search matches (`TermMarker`): for highlights and
titles, of any shard, without an index.
"""

from __future__ import annotations

import re

from .schema import MAX_TOKEN_CHARS, _FOLDER, _STEMMER
from .scoring import typo_budget, within_edits


# A word as the simple tokenizer sees it: a run of letters and digits.
_TOKEN = re.compile(r"[^\W_]+")


class TermMarker:
    """Where the words a lexical search matches stand in a text: a word with the stem of one of
    `words`, one that starts with `prefix` (the word being typed; its stem too), and with `typos`
    one within `typo_budget` edits of a query word's stem, as the index compares them. Built once
    per query; needs no index, so it marks any text (titles, passages of any shard).

    >>> TermMarker(["collapse", "magnitogrosk"], "buil", typos=True).spans("Buildings collapsed in Magnitogorsk.")
    [[0, 9], [10, 19], [23, 35]]
    """

    def __init__(self, words: list[str], prefix: str | None = None, typos: bool = False):
        typed = words + ([prefix] if prefix else [])
        self._exact = {term for word in typed for term in _STEMMER.analyze(word)}
        self._near = [(term, set(term), typo_budget(word)) for word in typed for term in _STEMMER.analyze(word)
                      if typos and typo_budget(word)]
        start = "".join(_FOLDER.analyze(prefix or ""))
        self._prefix = start if len(start) >= 2 else None  # as `LexicalReader.completions`
        self._known: dict[str, bool] = {}

    def spans(self, text: str, offset: int = 0) -> list[list[int]]:
        """[[start, end], ...] of the matched words of `text`, character offsets plus `offset`."""
        found = list(_TOKEN.finditer(text))
        new = {m.group(0) for m in found} - self._known.keys()
        for word, (folded, stems) in _analysed(new).items():
            self._known[word] = (
                any(stem in self._exact for stem in stems)
                or (self._prefix is not None and (folded.startswith(self._prefix)
                                                  or any(stem.startswith(self._prefix) for stem in stems)))
                or any(within_edits(stem, term, budget, letters) for stem in stems for term, letters, budget in self._near))
        return [[offset + m.start(), offset + m.end()] for m in found if self._known[m.group(0)]]


# Stems of words seen in texts marked so far (a word's stem never changes): most words of a page
# were seen on the keystroke before. Emptied when it reaches this many words.
_STEMS: dict[str, list[str]] = {}
_STEMS_LIMIT = 100_000


def _analysed(words: set[str]) -> dict[str, tuple[str, list[str]]]:
    """Each word's folded form and its stems, as the index analyses it. Plain ASCII words are
    stemmed in one call (one token each), others one by one."""
    # Looked up once into a dict of this call: another thread (or this call) may empty the cache
    # between a lookup and the next.
    known = {word: stems for word in words if (stems := _STEMS.get(word)) is not None}
    missing = [word for word in words if word not in known]
    plain = [word for word in missing if word.isascii() and len(word) <= MAX_TOKEN_CHARS]
    stems = _STEMMER.analyze(" ".join(plain)) if plain else []
    if len(stems) != len(plain):  # not one token each after all: one by one below
        plain, stems = [], []
    fresh = {word: [stem] for word, stem in zip(plain, stems)}
    fresh.update({word: _STEMMER.analyze(word) for word in missing if word not in fresh})
    if len(_STEMS) + len(fresh) > _STEMS_LIMIT:
        _STEMS.clear()
    _STEMS.update(fresh)
    known.update(fresh)
    return {word: (word.lower() if word.isascii() else "".join(_FOLDER.analyze(word)), known[word])
            for word in words}
