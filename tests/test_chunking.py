import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.chunking import Chunker, split_sentences
from indexer.cleaning import clean_text

from conftest import SAMPLE


@pytest.fixture(scope="module")
def chunker(encoder):
    return Chunker(encoder.tokenizer, encoder.max_seq_length, overlap=1)


def check_chunks(chunker, text, title, chunks):
    limit = chunker.max_tokens
    for chunk in chunks:
        assert chunk.text == text[chunk.start:chunk.end]
        assert chunk.text.strip() == chunk.text and chunk.text
        assert len(chunk.text) <= chunker.max_chars
        # The text the model sees (title + passage, special tokens included) fits the model.
        embedded = chunker.embedded_text(title, chunk.text)
        assert chunker.count_tokens(embedded) <= limit
        assert chunk.tokens == chunker.count_tokens(embedded)
    # Nothing is dropped: every word of the text lies inside some chunk.
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_sample_articles_chunk_within_the_model_limit(chunker):
    with open(SAMPLE, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle][:40]
    for record in records:
        text = clean_text(record["text"]).text
        chunks = chunker.chunk(text, record["title"])
        assert chunks
        check_chunks(chunker, text, record["title"], chunks)


def test_a_sentence_over_the_limit_is_split_not_truncated(chunker):
    text = "Short opening sentence. " + " ".join(f"word{i}" for i in range(900)) + ". Closing sentence here."
    chunks = chunker.chunk(text, "A title")
    assert len(chunks) >= 4
    check_chunks(chunker, text, "A title", chunks)
    # Long sentences are cut between words, never inside one.
    for chunk in chunks:
        assert not text[chunk.end:chunk.end + 1].isalnum()


def test_consecutive_chunks_share_one_sentence(chunker):
    sentences = [f"Sentence number {i} talks about the harbour bridge repairs in some detail." for i in range(80)]
    text = " ".join(sentences)
    chunks = chunker.chunk(text)
    assert len(chunks) > 2
    for first, second in zip(chunks, chunks[1:]):
        last_sentence = text[split_sentences(text[:first.end])[-1][0]:first.end]
        assert second.text.startswith(last_sentence)


def test_the_title_is_context_not_part_of_the_passage(chunker):
    chunks = chunker.chunk("The bridge reopened on Monday.", "Harbour bridge reopens")
    assert chunks[0].text == "The bridge reopened on Monday."
    assert chunker.embedded_text("Harbour bridge reopens", chunks[0].text).startswith("Harbour bridge reopens\n")


def test_sentence_splitting_respects_abbreviations():
    text = "Dr. Smith met U.S. officials on Jan. 5 in Washington. They agreed on 3.5 billion dollars! Done?"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Dr. Smith met U.S. officials on Jan. 5 in Washington.", "They agreed on 3.5 billion dollars!", "Done?"]


words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(words, st.sampled_from([" ", ". ", "\n\n", "! ", ", "])), max_size=300),
       title=st.text(max_size=200))
def test_any_text_chunks_within_limits_with_exact_offsets(chunker, parts, title):
    text = clean_text("".join(w + sep for w, sep in parts)).text
    check_chunks(chunker, text, title, chunker.chunk(text, title))


def test_a_word_over_the_limit_is_split_into_passages_of_sane_length(chunker):
    # One "word" of 200,000 characters is a single [UNK] to the tokenizer: it must still be cut.
    text = "Opening sentence here. " + "x" * 200_000 + " Closing sentence."
    chunks = chunker.chunk(text, "A title")
    assert len(chunks) > 50
    assert max(len(chunk.text) for chunk in chunks) <= chunker.max_chars
    check_chunks(chunker, text, "A title", chunks)


def test_sentence_splitting_is_linear():
    import time

    # Measured under 0.1 s each after the fix; before it, "A. " * 70,000 took minutes (quadratic).
    for text in ("A. " * 70_000, "Mr. " * 50_000, "." * 200_000 + " x", "word " * 40_000 + "end."):
        started = time.perf_counter()
        spans = split_sentences(text)
        assert time.perf_counter() - started < 2.0, text[:12]
        assert spans


def test_settings_that_would_drop_text_are_refused(encoder):
    for settings in ({"overlap": -1}, {"title_tokens": -1}, {"title_tokens": 200}):
        with pytest.raises(ValueError):
            Chunker(encoder.tokenizer, 256, **settings)
