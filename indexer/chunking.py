"""Chunking: cleaned article text into passages that fit the embedding model.

Sentences are packed greedily into chunks, measured with the model's own tokenizer, so that the
text that is embedded (title line + passage, plus the model's special tokens) never exceeds the
model's `max_seq_length`: nothing is cut off silently by the model. A sentence longer than the
budget is split at word-piece boundaries. A passage also stays within `max_chars` characters: a
"word" the tokenizer cannot split (a long run without spaces is one [UNK]) is cut into pieces of
that length, so no input makes a megabyte passage. Consecutive chunks share `overlap` sentences so that an
answer straddling a boundary is whole in one of them.

Every `Chunk` carries `start`/`end`, character offsets into the cleaned text:
`chunk.text == cleaned_text[chunk.start:chunk.end]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "gen", "col", "lt", "sgt", "capt", "gov",
    "sen", "rep", "rev", "hon", "pres", "no", "vs", "etc", "inc", "ltd", "co", "corp", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "est", "fig",
}
# The look-behind lets a run of ".!?…" match only from its first character, and the possessive
# quantifiers never give back: a long run of them costs its length once, not its length squared.
_SENTENCE_END = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s)|\n\s*\n|\n")
# The word before a full stop, looked for in a short window: an abbreviation or initial is short,
# and a window keeps the search from re-reading the sentence at every full stop.
_WORD_BEFORE = re.compile(r"\w+\Z")
_WORD_WINDOW = 32


@dataclass(frozen=True)
class Chunk:
    """One passage of an article: its text and where it lies in the cleaned article text."""

    text: str
    start: int
    end: int
    tokens: int  # word pieces of the embedded text (title context + passage), special tokens included


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) spans of the sentences of `text`, whitespace excluded.

    Sentence ends are ., ! or ? followed by white space (not after a known abbreviation, an initial
    such as "J." or a number's decimal point), and line breaks.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if match.group().startswith((".",)) and "\n" not in match.group():
            word = _WORD_BEFORE.search(text, max(start, match.start() - _WORD_WINDOW), match.start())
            if word and (word.group().lower() in _ABBREVIATIONS or len(word.group()) == 1):
                continue
            following = text[end:end + 3].lstrip()
            if following[:1].islower():
                continue
        _append_span(text, start, end, spans)
        start = end
    _append_span(text, start, len(text), spans)
    return spans


def _append_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + lead + len(stripped)))


class Chunker:
    """Packs sentences into chunks that fit `max_tokens` word pieces once the title is prepended.

    `tokenizer` is a Hugging Face fast tokenizer (the embedding model's own), used to count word
    pieces and to split over-long sentences at word-piece boundaries.
    """

    # Characters allowed per word piece of the limit: English text runs at 4 to 5 per word piece,
    # so only text of words the model cannot read (runs without spaces, [UNK]) reaches this.
    CHARS_PER_TOKEN = 8

    def __init__(self, tokenizer, max_tokens: int, overlap: int = 1, title_tokens: int = 32):
        if max_tokens < 32:
            raise ValueError(f"max_tokens must be at least 32, got {max_tokens}")
        if overlap < 0:
            raise ValueError(f"overlap must be at least 0, got {overlap}")
        if not 0 <= title_tokens <= max_tokens // 2:
            raise ValueError(f"title_tokens must be between 0 and half of max_tokens ({max_tokens // 2}), "
                             f"got {title_tokens}")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.max_chars = self.CHARS_PER_TOKEN * max_tokens
        self.overlap = overlap
        self.title_tokens = title_tokens
        self._special = len(tokenizer("", add_special_tokens=True)["input_ids"])

    def settings(self) -> dict:
        """What the manifest records, so an index is always extended with the same chunking."""
        return {"max_tokens": self.max_tokens, "overlap_sentences": self.overlap,
                "title_tokens": self.title_tokens}

    def context(self, title: str) -> str:
        """The title line put before each passage when it is embedded, cut to `title_tokens`
        (0: no title context)."""
        title = " ".join(title.split())
        if not title or self.title_tokens == 0:
            return ""
        encoded = self.tokenizer(title, add_special_tokens=False, return_offsets_mapping=True)
        if len(encoded["input_ids"]) > self.title_tokens:
            title = title[: encoded["offset_mapping"][self.title_tokens - 1][1]]
        return title

    def embedded_text(self, title: str, passage: str) -> str:
        """The text the model sees for a passage: its article's title as context, then the passage."""
        context = self.context(title)
        return f"{context}\n{passage}" if context else passage

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def chunk(self, text: str, title: str = "") -> list[Chunk]:
        """Split cleaned article `text` into chunks; `title` only reduces the budget here."""
        context = self.context(title)
        context_tokens = len(self.tokenizer(context, add_special_tokens=False)["input_ids"]) if context else 0
        budget = self.max_tokens - self._special - context_tokens
        pieces = self._pieces(text, budget)
        chunks: list[Chunk] = []
        i = 0
        while i < len(pieces):
            j, used = i, 0
            while (j < len(pieces) and used + pieces[j][2] <= budget
                   and pieces[j][1] - pieces[i][0] <= self.max_chars):
                used += pieces[j][2]
                j += 1
            j = max(j, i + 1)
            chunks.extend(self._fit(text, context, pieces[i:j]))
            if j >= len(pieces):
                break
            # Step back `overlap` pieces, but always move forward by at least one.
            i = max(j - self.overlap, i + 1)
        return chunks

    def _fit(self, text: str, context: str, pieces: list[tuple[int, int, int]]) -> list[Chunk]:
        """Make a chunk of `pieces`, checked against the real token count of the embedded text.

        Counting sentences one by one can differ from counting the joined text by a piece or two;
        when it does and the chunk is over the limit, the last piece moves into a chunk of its own.
        """
        start, end = pieces[0][0], pieces[-1][1]
        passage = text[start:end]
        tokens = self.count_tokens(f"{context}\n{passage}" if context else passage)
        if tokens <= self.max_tokens or len(pieces) == 1:
            return [Chunk(passage, start, end, tokens)]
        return self._fit(text, context, pieces[:-1]) + self._fit(text, context, pieces[-1:])

    def _pieces(self, text: str, budget: int) -> list[tuple[int, int, int]]:
        """Sentences as (start, end, word pieces); a sentence over `budget` word pieces or
        `max_chars` characters is split into parts."""
        spans = split_sentences(text)
        if not spans:
            return []
        encoded = self.tokenizer([text[s:e] for s, e in spans], add_special_tokens=False,
                                 return_offsets_mapping=True)
        pieces: list[tuple[int, int, int]] = []
        for (start, end), ids, offsets in zip(spans, encoded["input_ids"], encoded["offset_mapping"]):
            if len(ids) <= budget and end - start <= self.max_chars:
                pieces.append((start, end, len(ids)))
                continue
            pieces.extend(_split_long(start, offsets, budget, self.max_chars))
        return pieces


def _split_long(start: int, offsets: list[tuple[int, int]], budget: int,
                max_chars: int) -> list[tuple[int, int, int]]:
    """Cut one over-long sentence (its word pieces' character `offsets`, relative to `start`) into
    parts of at most `budget` word pieces and `max_chars` characters, at word starts (a word piece
    that follows white space) where one lies in the second half of the part. A word piece longer
    than `max_chars` (an [UNK] standing for a long run without spaces) is cut into pieces of
    `max_chars` characters, each counted as one word piece: alone, each is one [UNK] again."""
    units = []
    for begin, end in offsets:
        while end - begin > max_chars:
            units.append((begin, begin + max_chars))
            begin += max_chars
        units.append((begin, end))
    # Leave a margin: re-tokenising a cut piece can give a word piece or two more.
    step = max(budget - 4, 1)
    parts, k = [], 0
    while k < len(units):
        cut, limit = k + 1, min(k + step, len(units))
        while cut < limit and units[cut][1] - units[k][0] <= max_chars:
            cut += 1
        if cut < len(units):
            for c in range(cut, k + (cut - k) // 2, -1):
                if units[c][0] > units[c - 1][1]:
                    cut = c
                    break
        parts.append((start + units[k][0], start + units[cut - 1][1], cut - k))
        k = cut
    return parts
