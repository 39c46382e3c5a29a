import json
import re
import socket
import sqlite3
import threading
import time

import numpy as np
import pytest

from indexer import lexical_upkeep, store, vectors
from indexer.models import ModelError, TorchEncoder
from indexer.lexical import LexicalReader
from indexer.article import Article
from indexer.chunking import Chunker
from indexer.inputs import read_paths
from indexer.batches import EmbeddedChunks, embed_articles, pool_sentences, prepare_article
from indexer.writer import IndexWriter
from search_api.searcher import Searcher

from conftest import write_jsonl

STORIES = [
    {"id": "s1", "title": "Harbour bridge to close", "source": "Gazette", "published": "2024-01-10",
     "text": "The harbour bridge will close for six months of cable repairs. Buses will use the ring road."},
    {"id": "s2", "title": "Orchestra tours Asia", "source": "Herald", "published": "2024-02-01",
     "text": "The national orchestra begins a tour of six Asian cities, playing Mahler and Sibelius."},
    {"id": "s3", "title": "Wheat harvest falls", "source": "Gazette", "published": "2024-03-05",
     "text": "A dry spring cut the wheat harvest by a fifth, and bread prices are expected to rise."},
]


def db_state(index_dir):
    conn = sqlite3.connect(index_dir / store.DATABASE)
    articles = conn.execute("SELECT id, content_hash FROM articles ORDER BY id").fetchall()
    chunks = conn.execute("SELECT article_id, position, start, end, text FROM chunks ORDER BY article_id, position").fetchall()
    # Removed passages stay in the lexical index as tombstones for a while (indexer.vectors).
    kept = conn.execute("SELECT COUNT(*) FROM tombstones WHERE in_lexical = 1").fetchone()[0]
    conn.close()
    return articles, chunks, LexicalReader(index_dir / store.LEXICAL).passages - kept


def test_incremental_add_change_remove(tmp_path, encoder):
    index = tmp_path / "index"
    path = write_jsonl(tmp_path / "a.jsonl", STORIES[:2])
    with IndexWriter(index, encoder=encoder) as writer:
        first = writer.add(read_paths([path]))
    assert (first.indexed, first.updated, first.unchanged) == (2, 0, 0)

    changed = [dict(STORIES[0], text=STORIES[0]["text"] + " The work starts in March."), STORIES[1], STORIES[2]]
    write_jsonl(path, changed)
    with IndexWriter(index, encoder=encoder) as writer:
        second = writer.add(read_paths([path]))
        assert (second.indexed, second.updated, second.unchanged) == (1, 1, 1)
        # Only the new and the changed article were embedded.
        assert second.chunks == 2

    searcher = Searcher(index, encoder=encoder)
    assert "starts in March" in searcher.article("s1")["text"]
    stats = searcher.stats()
    assert stats["articles"] == 3 and stats["passages"] == stats["vectors"] == 3

    with IndexWriter(index, encoder=encoder) as writer:
        removed, missing = writer.remove(["s2", "nope"])
    assert (removed, missing) == (["s2"], ["nope"])
    searcher = Searcher(index, encoder=encoder)
    assert searcher.article("s2") is None
    assert searcher.stats()["passages"] == searcher.stats()["vectors"] == 2
    articles, chunks, lexical = db_state(index)
    assert [a for a, _ in articles] == ["s1", "s3"] and lexical == len(chunks) == 2
    for mode in ("dense", "lexical", "hybrid"):
        ids = [hit.article_id for hit in searcher.search("orchestra tour Mahler", mode=mode).results]
        assert "s2" not in ids


def test_manifest_records_model_chunker_and_counts(tmp_path, encoder):
    index = tmp_path / "index"
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add(read_paths([write_jsonl(tmp_path / "a.jsonl", STORIES)]))
    manifest = json.loads((index / store.MANIFEST).read_text())
    assert manifest["format_version"] == store.FORMAT_VERSION
    assert manifest["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["model"]["fingerprint"] == encoder.fingerprint
    assert manifest["dimension"] == 384
    assert manifest["chunker"]["max_tokens"] == 256 and manifest["chunker"]["overlap_sentences"] == 1
    assert manifest["counts"] == {"articles": 3, "passages": 3, "vectors": 3}
    assert manifest["generation"] >= 1 and manifest["faiss"]["segments"] >= 1


def test_vectors_in_faiss_and_database_agree(sample_index, encoder):
    searcher = Searcher(sample_index, encoder=encoder)
    conn = sqlite3.connect(sample_index / store.DATABASE)
    for chunk_id, blob in conn.execute("SELECT id, vector FROM chunks ORDER BY random() LIMIT 20"):
        # Each stored vector finds itself first in the segments, at cosine 1.
        scores, ids = searcher.reader.vectors.search(np.frombuffer(blob, dtype=np.float32), 1)
        assert ids[0][0] == chunk_id and scores[0][0] == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory, encoder):
    """A genuinely different model: the default one with its word embeddings perturbed, saved to disk."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(encoder.location, device="cpu")
    with torch.no_grad():
        embeddings = model[0].auto_model.embeddings.word_embeddings.weight
        embeddings.add_(torch.randn_like(embeddings) * 0.05)
    path = tmp_path_factory.mktemp("model") / "perturbed-minilm"
    model.save(str(path))
    return path


def test_opening_with_another_model_is_refused(writable_index, other_model, encoder):
    with pytest.raises(store.StoreError, match="was built with model 'sentence-transformers/all-MiniLM-L6-v2'"):
        IndexWriter(writable_index, str(other_model))
    with pytest.raises(store.StoreError, match="embeds differently"):
        Searcher(writable_index, str(other_model))
    # The refusal left the index intact and unlocked.
    with IndexWriter(writable_index, encoder=encoder) as writer:
        assert writer.counts()["articles"] > 0


def test_a_second_writer_waits_for_the_lock_then_gives_up_saying_why(writable_index, encoder, monkeypatch):
    monkeypatch.setattr(store, "WRITE_LOCK_TIMEOUT", 0.5)
    with IndexWriter(writable_index, encoder=encoder):
        with pytest.raises(store.IndexLocked, match="another process has been writing the index .* for the 0.5 s"):
            IndexWriter(writable_index, encoder=encoder)


def test_a_truncated_or_lost_segment_is_refused_by_readers_and_rebuilt_by_a_repair(writable_index, encoder):
    """Readers never build vectors (a rebuild is the writer's, reading every stored vector): they
    refuse with the command that mends it, which writes the same vectors back from the database."""
    expected = Searcher(writable_index, encoder=encoder).search("bridge collapse", mode="dense").model_dump(exclude_none=True)["results"]
    for damage in ("truncate", "unlink"):
        segment = writable_index / vectors.FOLDER / Searcher(writable_index, encoder=encoder).reader.vectors.segments[0].file
        if damage == "truncate":
            segment.write_bytes(segment.read_bytes()[:1000])
        else:
            segment.unlink()
        with pytest.raises(store.StoreError, match=f"{segment.name} (is 1,000 bytes|is missing).*index --repair"):
            Searcher(writable_index, encoder=encoder)
        with IndexWriter(writable_index, encoder=encoder, repair=True):
            pass
        searcher = Searcher(writable_index, encoder=encoder)
        assert searcher.search("bridge collapse", mode="dense").model_dump(exclude_none=True)["results"] == expected


def test_damaged_manifest_is_reported_and_repaired(writable_index, encoder):
    manifest = writable_index / store.MANIFEST
    manifest.write_text(manifest.read_text()[:50])
    with pytest.raises(store.StoreError, match="damaged.*--repair"):
        Searcher(writable_index, encoder=encoder)
    with pytest.raises(store.StoreError, match="damaged"):
        IndexWriter(writable_index, encoder=encoder)
    with IndexWriter(writable_index, encoder=encoder, repair=True):
        pass
    stats = Searcher(writable_index, encoder=encoder).stats()
    assert stats["passages"] == stats["vectors"] > 0


def test_articles_with_nothing_but_boilerplate_and_duplicate_ids_are_reported(tmp_path, encoder):
    path = write_jsonl(tmp_path / "a.jsonl", [
        STORIES[0], {"id": "junk", "text": "Read the full article here\n© 2024 Someone. All rights reserved."},
        dict(STORIES[1], id="s1")])
    with IndexWriter(tmp_path / "index", encoder=encoder) as writer:
        summary = writer.add(read_paths([path]))
    assert summary.indexed == 1
    messages = [str(p) for p in summary.problems]
    assert messages[0].startswith(f"{path}:2") and "no text left after removing boilerplate" in messages[0]
    assert messages[1].startswith(f"{path}:3") and f"duplicate id 's1' (first seen at {path}:1)" in messages[1]


def test_a_model_is_never_downloaded(monkeypatch):
    """With every outgoing connection refused (and recorded), the bundled model loads and embeds,
    and a model that is not on this machine is a clear error, not a download attempt."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("this test allows no network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ModelError, match="(?s)cannot load model 'no-such-org/no-such-model'.*nothing is downloaded"):
        TorchEncoder("no-such-org/no-such-model")
    assert TorchEncoder().encode(["Storm hits coast"]).shape == (1, 384)
    assert attempts == []


def test_index_type_auto_stays_exact_when_small_and_rebuild_keeps_results(writable_index, encoder):
    before = Searcher(writable_index, encoder=encoder).search("bridge collapse", mode="dense").model_dump(exclude_none=True)["results"]
    with IndexWriter(writable_index, encoder=encoder, index_type="ivf-sq8", rebuild=True):
        pass
    manifest = json.loads((writable_index / store.MANIFEST).read_text())
    # Below IVF_MIN vectors an IVF index would be poorly trained: the layout stays exact.
    assert manifest["faiss"]["index_type"] == "ivf-sq8" and manifest["faiss"]["description"] == "IDMap2,Flat"
    after = Searcher(writable_index, encoder=encoder).search("bridge collapse", mode="dense").model_dump(exclude_none=True)["results"]
    assert after == before


def kinds(searcher: Searcher) -> list[str]:
    return [segment.kind for segment in searcher.reader.vectors.segments]


def test_ivf_layout_is_built_from_stored_vectors_and_supports_updates(writable_index, encoder, monkeypatch, tmp_path):
    monkeypatch.setattr(vectors, "IVF_MIN", 50)
    exact = Searcher(writable_index, encoder=encoder)
    queries = ["gas explosion in Russia", "Speaker of the House elected", "fire in an escape room"]
    expected = [[h.article_id for h in exact.search(q, k=3, mode="dense").results] for q in queries]
    with IndexWriter(writable_index, encoder=encoder, index_type="ivf-sq8"):
        pass
    manifest = json.loads((writable_index / store.MANIFEST).read_text())
    assert manifest["faiss"]["description"].startswith("IVF") and manifest["faiss"]["nprobe"] >= 1
    searcher = Searcher(writable_index, encoder=encoder)
    assert kinds(searcher) == ["ivf-sq8"] and searcher.vector_count == searcher.stats()["passages"]
    # nprobe covers every list at this size, so the IVF answers equal the exact ones.
    assert [[h.article_id for h in searcher.search(q, k=3, mode="dense").results] for q in queries] == expected
    with IndexWriter(writable_index, encoder=encoder) as writer:
        writer.remove(["wn-e8d671d30811"])
        writer.add(read_paths([write_jsonl(tmp_path / "n.jsonl", STORIES[:1])]))
    searcher = Searcher(writable_index, encoder=encoder)
    # The new article's vectors went to a small exact segment beside the IVF one, not into it.
    assert kinds(searcher) == ["ivf-sq8", "flat"]
    assert searcher.stats()["passages"] == searcher.stats()["vectors"]
    assert searcher.search("harbour bridge cable repairs", k=1, mode="dense").results[0].article_id == "s1"
    assert "wn-e8d671d30811" not in [h.article_id for h in searcher.search("gas explosion Magnitogorsk").results]

    # A merge of the IVF segment with the small one stays IVF and copies its inverted lists from the
    # mmapped file: no training on the write path (and no resizing of a mapped array, which aborted).
    def centroids(searcher):
        ivf = vectors.read_index(writable_index / vectors.FOLDER / searcher.reader.vectors.segments[0].file)
        return ivf.quantizer.reconstruct_n(0, ivf.nlist)

    lists = centroids(searcher)
    with IndexWriter(writable_index, encoder=encoder) as writer:
        writer.vectors._merge(list(writer.vectors.segments))
    merged = Searcher(writable_index, encoder=encoder)
    assert kinds(merged) == ["ivf-sq8"] and np.array_equal(centroids(merged), lists)
    assert merged.search("harbour bridge cable repairs", k=1, mode="dense").results[0].article_id == "s1"
    # --optimize writes one segment from all the stored vectors, trained anew (lists grow with the archive).
    with IndexWriter(writable_index, encoder=encoder, optimize=True):
        pass
    optimized = Searcher(writable_index, encoder=encoder)
    assert kinds(optimized) == ["ivf-sq8"] and optimized.vector_count == optimized.stats()["passages"]
    assert optimized.search("harbour bridge cable repairs", k=1, mode="dense").results[0].article_id == "s1"


def test_lost_ivf_segments_are_refused_by_readers_and_repaired_as_ivf_by_the_writer(writable_index, encoder,
                                                                                    monkeypatch, capsys):
    monkeypatch.setattr(vectors, "IVF_MIN", 50)
    with IndexWriter(writable_index, encoder=encoder, index_type="ivf-sq8"):
        pass
    for path in (writable_index / vectors.FOLDER).iterdir():
        path.unlink()
    status, _, err = run_cli(capsys, "query", "bridge collapse", "--index", writable_index)
    assert_one_line_error(status, err, "is missing", f"article-search index --repair --index {writable_index}")
    with IndexWriter(writable_index, encoder=encoder, repair=True):
        pass
    assert kinds(Searcher(writable_index, encoder=encoder)) == ["ivf-sq8"]


def test_pooling_on_the_write_thread_never_disturbs_embedding(encoder):
    """The writer pools sentence vectors (tokenizing with `encoder.tokenizer`) on its write thread
    while the next batch is embedded on the main thread. The model pads each batch with its
    tokenizer; were that the same object, the pooling call would reset its padding mid-batch and
    the batch would fail ("excessive nesting") or embed unpadded. The model's own per-batch step
    (`model.tokenize`, what every encode runs first) is looped for a few seconds, where the shared
    tokenizer failed within a fraction of one; then whole embeds are checked against their vectors
    embedded alone."""
    chunker = Chunker(encoder.tokenizer, encoder.max_seq_length)
    # Passages of very different lengths: a batch of them must be padded to one width.
    batch = [prepare_article(Article(f"a{n}", f"Story {n}", " ".join(["The harbour bridge closed for repairs."] * n)),
                             chunker, 1_000_000, False) for n in (1, 3, 9, 20)]
    embed_articles(encoder, chunker, batch)
    pooled, others = batch[-1], batch[:-1]
    expected = np.concatenate([p.embedded.vectors for p in others])
    texts, vectors, tokens = pooled.embedded.texts, pooled.embedded.vectors, pooled.embedded.tokens
    stop = threading.Event()
    pool_errors: list[BaseException] = []

    def pool_until_stopped():
        while not stop.is_set():
            pooled.embedded = EmbeddedChunks(texts, vectors, tokens)
            try:
                pool_sentences(encoder.tokenizer, pooled)
            except BaseException as exc:  # noqa: BLE001 - asserted on the main thread
                pool_errors.append(exc)
                return

    thread = threading.Thread(target=pool_until_stopped)
    thread.start()
    try:
        batch_texts = [text for p in others for text in p.embedded.texts]
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            encoder.model.tokenize(batch_texts)
        embed_articles(encoder, chunker, others)
        assert np.allclose(np.concatenate([p.embedded.vectors for p in others]), expected, atol=1e-5)
    finally:
        stop.set()
        thread.join()
    assert not pool_errors


def test_an_index_path_with_uri_characters_opens_its_own_database(tmp_path, encoder):
    """Readers open SQLite by URI (read-only): '#', '?' and '%' in the path must stay part of it."""
    index = tmp_path / "a#b?c%d"
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add(read_paths([write_jsonl(tmp_path / "a.jsonl", STORIES)]))
    searcher = Searcher(index, encoder=encoder)
    assert searcher.stats()["articles"] == 3
    assert searcher.search("harbour bridge cable repairs", k=1).results[0].article_id == "s1"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """`article-search ARGV` in this process: (exit status, stdout, stderr)."""
    from search_api.cli import main

    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def vector_files(index_dir) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (index_dir / vectors.FOLDER).iterdir()}


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == 1 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


@pytest.mark.parametrize("damage", ["garbage", "truncated", "overwritten"])
def test_a_damaged_database_is_a_one_line_error_with_guidance(writable_index, capsys, damage):
    database = writable_index / store.DATABASE
    data = database.read_bytes()
    third = len(data) // 3
    database.write_bytes({"garbage": b"this is not an SQLite file\n" * 1000,
                          "truncated": data[:len(data) // 2],
                          # the header and schema intact: found only when those pages are read
                          "overwritten": data[:third] + b"\xab" * third + data[2 * third:]}[damage])
    before = vector_files(writable_index)
    for argv in (["stats"], ["query", "bridge collapse"], ["related", "wn-e8d671d30811"], ["index", "--repair"]):
        status, _, err = run_cli(capsys, *argv, "--index", writable_index)
        if damage == "overwritten" and argv[0] != "index" and status == 0:
            # A reader opens without reading every page (its cost must not grow with the archive),
            # so damage in pages it does not touch goes unseen until they are read, or --repair checks.
            assert "Traceback" not in err
            continue
        assert_one_line_error(status, err, str(writable_index), "is not a valid index database", "backup")
    assert vector_files(writable_index) == before  # the repair touched nothing


def test_a_manifest_missing_keys_is_reported_and_repaired(writable_index, capsys, encoder):
    (writable_index / store.MANIFEST).write_text(json.dumps({"format_version": store.FORMAT_VERSION}))
    status, _, err = run_cli(capsys, "stats", "--index", writable_index)
    assert_one_line_error(status, err, "'model'", "--repair")
    status, out, err = run_cli(capsys, "index", "--repair", "--index", writable_index)
    assert status == 0, err
    stats = Searcher(writable_index, encoder=encoder).stats()
    assert stats["articles"] > 0 and stats["passages"] == stats["vectors"]


def test_a_repair_never_replaces_what_it_cannot_rebuild(writable_index, capsys):
    (writable_index / store.DATABASE).unlink()
    kept = vector_files(writable_index), (writable_index / store.MANIFEST).read_bytes()
    for argv in (["index", "--repair"], ["remove", "wn-e8d671d30811"]):
        status, _, err = run_cli(capsys, *argv, "--index", writable_index)
        assert_one_line_error(status, err, f"{writable_index / store.DATABASE} is missing", "backup")
    assert not (writable_index / store.DATABASE).exists()
    assert (vector_files(writable_index), (writable_index / store.MANIFEST).read_bytes()) == kept


def test_remove_from_a_mistyped_index_path_creates_nothing(tmp_path, capsys):
    mistyped = tmp_path / "indx"
    status, _, err = run_cli(capsys, "remove", "some-id", "--index", mistyped)
    assert_one_line_error(status, err, f"no index at {mistyped}")
    assert not mistyped.exists()


def _lexical_answers(index_dir, encoder, queries=("bridge collapse", "election results", "cathedral fire")):
    searcher = Searcher(index_dir, encoder=encoder)
    return {q: [h.article_id for h in searcher.search(q, k=5, mode="lexical").results] for q in queries}


def test_a_format_1_index_is_upgraded_in_place_without_re_embedding(writable_index, capsys, encoder):
    """Format 1 kept its lexical index as an FTS5 table in the database: readers say how to upgrade,
    and `index --rebuild` builds the lexical index from the stored passages, embedding nothing."""
    expected = _lexical_answers(writable_index, encoder)
    manifest = json.loads((writable_index / store.MANIFEST).read_text())
    (writable_index / store.MANIFEST).write_text(json.dumps(dict(manifest, format_version=1)))
    import shutil

    shutil.rmtree(writable_index / store.LEXICAL)
    with sqlite3.connect(writable_index / store.DATABASE) as conn:
        conn.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(text, title)")
        conn.execute("DELETE FROM meta WHERE key = 'lexical_generation'")
        stored = conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()

    status, _, err = run_cli(capsys, "query", "bridge collapse", "--index", writable_index)
    assert_one_line_error(status, err, "format version 1", f"article-search index --rebuild --index {writable_index}")
    status, out, err = run_cli(capsys, "index", "--rebuild", "--index", writable_index)
    assert status == 0, err

    assert json.loads((writable_index / store.MANIFEST).read_text())["format_version"] == store.FORMAT_VERSION
    with sqlite3.connect(writable_index / store.DATABASE) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'chunks_fts'").fetchone()[0] == 0
        assert conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall() == stored  # nothing re-embedded
    assert _lexical_answers(writable_index, encoder) == expected


def test_a_format_2_index_is_upgraded_in_place_without_re_embedding(writable_index, capsys, encoder):
    """Format 2 kept every vector in one vectors.faiss, and its lexical index lacks the fields of
    facets and suggestions: readers say how to upgrade, and `index --rebuild` writes segments and
    the lexical index anew from the database, embedding nothing."""
    import shutil

    import tantivy

    expected = _lexical_answers(writable_index, encoder)
    dense = Searcher(writable_index, encoder=encoder).search("bridge collapse", mode="dense").model_dump(exclude_none=True)["results"]
    with sqlite3.connect(writable_index / store.DATABASE) as conn:  # format 2's one vectors file
        stored = conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
        conn.execute("DELETE FROM meta WHERE key = 'vector_segments'")
    reading = store.connect(writable_index, readonly=True)
    ids, stored_vectors = vectors.stored_vectors(reading, 384)
    reading.close()
    vectors.write_index(writable_index / store.VECTORS, vectors.build("flat", 384, ids, stored_vectors))
    shutil.rmtree(writable_index / vectors.FOLDER)
    manifest = json.loads((writable_index / store.MANIFEST).read_text())
    (writable_index / store.MANIFEST).write_text(json.dumps(dict(manifest, format_version=2)))
    shutil.rmtree(writable_index / store.LEXICAL)
    old = tantivy.SchemaBuilder()  # format 2's lexical schema
    old.add_integer_field("chunk_id", indexed=True, fast=True)
    old.add_text_field("body")
    old.add_text_field("source", tokenizer_name="raw", fast=True)
    old.add_integer_field("day", indexed=True, fast=True)
    (writable_index / store.LEXICAL).mkdir()
    writer = tantivy.Index(old.build(), path=str(writable_index / store.LEXICAL)).writer(heap_size=15_000_000)
    writer.add_document(tantivy.Document(chunk_id=1, body="bridge collapse", source="Wikinews", day=20190101))
    writer.commit()
    writer.wait_merging_threads()

    status, _, err = run_cli(capsys, "query", "bridge collapse", "--index", writable_index, "--facets", "source")
    assert_one_line_error(status, err, "format version 2", f"article-search index --rebuild --index {writable_index}")
    status, out, err = run_cli(capsys, "index", "--rebuild", "--index", writable_index)
    assert status == 0, err

    assert json.loads((writable_index / store.MANIFEST).read_text())["format_version"] == store.FORMAT_VERSION
    assert not (writable_index / store.VECTORS).exists() and list((writable_index / vectors.FOLDER).iterdir())
    with sqlite3.connect(writable_index / store.DATABASE) as conn:
        assert conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall() == stored  # nothing re-embedded
    assert _lexical_answers(writable_index, encoder) == expected
    after = Searcher(writable_index, encoder=encoder).search("bridge collapse", mode="dense").model_dump(exclude_none=True)["results"]
    assert after == dense
    result = Searcher(writable_index, encoder=encoder).search("bridge collapse", mode="lexical", facets=["source"])
    assert result.facets["source"][0].value == "Wikinews" and result.facets["source"][0].count >= len(result.results)


def test_a_lexical_index_behind_the_database_is_rebuilt_by_the_next_writer(writable_index, encoder):
    """A run killed between a batch's transaction and its lexical commit leaves the lexical index a
    generation behind; the next writer finds it so and writes it anew from the database."""
    expected = _lexical_answers(writable_index, encoder)
    with IndexWriter(writable_index, encoder=encoder) as writer:
        writer.lexical.delete_all()  # as if the last batches never reached the lexical index
        writer.lexical.commit()
        with writer.conn:
            writer.conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) - 1 WHERE key = 'lexical_generation'")
    assert _lexical_answers(writable_index, encoder) != expected
    with IndexWriter(writable_index, encoder=encoder):
        pass
    assert _lexical_answers(writable_index, encoder) == expected


def test_a_lost_lexical_folder_is_rebuilt_by_the_next_writer_not_started_empty(writable_index, encoder):
    import shutil

    expected = _lexical_answers(writable_index, encoder)
    shutil.rmtree(writable_index / store.LEXICAL)
    with IndexWriter(writable_index, encoder=encoder) as writer:
        writer.remove(["no-such-article"])  # any write
    assert _lexical_answers(writable_index, encoder) == expected


def test_a_writer_that_fails_lets_go_of_its_locks(writable_index, encoder, monkeypatch):
    """A writer that fails while opening or saving closes what it opened: the file lock and the
    lexical index's own lock are free for the next writer of the same process (a server's next POST)."""
    def fail(*_):
        raise OSError("no space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(lexical_upkeep, "out_of_step", fail)
        with pytest.raises(OSError):
            IndexWriter(writable_index, encoder=encoder)
    writer = IndexWriter(writable_index, encoder=encoder, rebuild=True)
    with monkeypatch.context() as patched:
        patched.setattr(vectors, "write_index", fail)
        with pytest.raises(OSError):
            writer.close()
    with IndexWriter(writable_index, encoder=encoder) as writer:
        assert writer.counts()["passages"] > 0


def test_a_damaged_lexical_index_is_a_one_line_error_and_a_rebuild_mends_it(writable_index, capsys, encoder):
    expected = _lexical_answers(writable_index, encoder)
    (writable_index / store.LEXICAL / "meta.json").write_text("{not json")
    status, _, err = run_cli(capsys, "query", "bridge collapse", "--index", writable_index)
    assert_one_line_error(status, err, "is damaged", f"article-search index --rebuild --index {writable_index}")
    status, _, err = run_cli(capsys, "index", "--rebuild", "--index", writable_index)
    assert status == 0, err
    assert _lexical_answers(writable_index, encoder) == expected


def test_a_sharded_format_1_index_is_upgraded_in_place(tmp_path, capsys, encoder):
    import shutil

    from indexer.sharding import open_writer

    index = tmp_path / "index"
    with open_writer(index, shards=2, encoder=encoder) as writer:
        writer.add(read_paths([write_jsonl(tmp_path / "a.jsonl", STORIES)]))
    expected = [h.article_id for h in Searcher(index, encoder=encoder).search("wheat harvest", mode="lexical").results]
    for manifest_path in [index / store.MANIFEST, *index.glob(f"shard-*/{store.MANIFEST}")]:
        manifest_path.write_text(json.dumps(dict(json.loads(manifest_path.read_text()), format_version=1)))
    for folder in index.glob(f"shard-*/{store.LEXICAL}"):
        shutil.rmtree(folder)
    status, _, err = run_cli(capsys, "index", "--rebuild", "--index", index)
    assert status == 0, err
    assert json.loads((index / store.MANIFEST).read_text())["format_version"] == store.FORMAT_VERSION
    assert [h.article_id for h in Searcher(index, encoder=encoder).search("wheat harvest", mode="lexical").results] \
        == expected


def _counts(index_dir, encoder, queries=("bridge collapse", "election results", "the", "cathedral fi")):
    """Each query's total, facets and results, hybrid and lexical, as `GET /search` gives them."""
    searcher = Searcher(index_dir, encoder=encoder)
    return {(q, mode): searcher.search(q, k=10, mode=mode, facets=["source", "year", "author"], highlight=False)
            .model_dump(exclude={"took_ms"}) for q in queries for mode in ("hybrid", "lexical")}


def test_a_lexical_index_written_before_the_article_key_serves_as_it_is_and_a_repair_adds_the_key(
        writable_index, capsys, encoder):
    """An index whose lexical index counts articles by their id as text (written before
    indexer.lexical.ARTICLE_KEY) opens, takes writes and counts as before with no flag; `index
    --repair` writes it anew with the numeric key. Totals and facet counts are the same throughout."""
    import shutil

    import tantivy

    from indexer.lexical import has_article_keys

    expected = _counts(writable_index, encoder)
    folder = writable_index / store.LEXICAL
    shutil.rmtree(folder)
    old = tantivy.SchemaBuilder()  # the lexical schema before the article key
    old.add_integer_field("chunk_id", stored=False, indexed=True, fast=True)
    old.add_text_field("body", stored=False, tokenizer_name="news")
    old.add_text_field("source", stored=False, tokenizer_name="raw", fast=True)
    old.add_integer_field("day", stored=False, indexed=True, fast=True)
    old.add_text_field("article", stored=False, tokenizer_name="raw", fast=True, index_option="basic")
    old.add_json_field("meta", stored=False, tokenizer_name="raw", fast=True, index_option="basic")
    old.add_text_field("words", stored=False, tokenizer_name="news_words", index_option="basic")
    old.add_text_field("title", stored=False, tokenizer_name="news_words", index_option="freq")
    folder.mkdir()
    tantivy.Index(old.build(), path=str(folder))
    with IndexWriter(writable_index, encoder=encoder):
        pass  # finds the lexical index behind the database: writes every passage into the old schema
    assert not has_article_keys(folder)
    assert _counts(writable_index, encoder) == expected

    status, _, err = run_cli(capsys, "index", "--repair", "--index", writable_index)
    assert status == 0, err
    passages = store.read_counts(store.connect(writable_index, readonly=True))["passages"]
    bars = [line for line in re.split(r"[\r\n]", err) if line.startswith("lexical index:")]
    assert bars and all(f"/{passages} [" in line for line in bars), err  # the rewrite shows a total
    assert has_article_keys(folder)
    assert _counts(writable_index, encoder) == expected
