"""Sharded indexes: the same articles split over shards answer exactly as one index does."""

from __future__ import annotations

import json
import subprocess
import sys

import faiss
import numpy as np
import pytest

from indexer import sharding, store, vectors
from indexer.inputs import read_paths
from indexer.sharding import ShardedWriter, open_writer, shard_of
from search_api.searcher import Searcher
from search_api.index_readers import LocalReader
from search_api.sharded import ShardedReader

from conftest import LLAMA, SAMPLE_SUBSET_SIZE, write_jsonl

SHARDS = 3
QUERIES = ["How many people died when the ten-storey block came down after a gas leak?",
           "Notre Dame cathedral fire", "same-sex marriage vote parliament", "Mars water oxygen",
           "Iranian airline Germany ban", "zebra stripes flies"]


@pytest.fixture(scope="module")
def sharded_index(tmp_path_factory, encoder, sample_subset):
    index_dir = tmp_path_factory.mktemp("sharded") / "index"
    with open_writer(index_dir, shards=SHARDS, encoder=encoder) as writer:
        summary = writer.add(read_paths([sample_subset]))
    assert summary.indexed == SAMPLE_SUBSET_SIZE and not summary.problems
    return index_dir


@pytest.fixture(scope="module")
def single(sample_index, encoder):
    return Searcher(sample_index, encoder=encoder)


@pytest.fixture(scope="module")
def sharded(sharded_index, encoder):
    return Searcher(sharded_index, encoder=encoder)


def test_each_shard_is_a_complete_index_holding_the_articles_of_its_hash(sharded_index, encoder):
    manifest = store.read_manifest(sharded_index)
    assert manifest["shards"]["count"] == SHARDS and manifest["counts"]["articles"] == SAMPLE_SUBSET_SIZE
    total = 0
    for number, name in enumerate(manifest["shards"]["directories"]):
        shard = Searcher(sharded_index / name, encoder=encoder)
        ids = [row[0] for row in shard.reader.snapshot.rows("SELECT id FROM articles")]
        assert ids and all(shard_of(article_id, SHARDS) == number for article_id in ids)
        assert shard.vector_count == shard.stats()["passages"]
        total += len(ids)
    assert total == SAMPLE_SUBSET_SIZE


def test_lexical_scores_over_shards_use_the_statistics_of_all_shards(single, sharded):
    """Each shard scores with the shards' summed BM25 statistics, so a passage scores nearly what it
    scores in one index (only the average passage length stays the shard's own), and far closer
    than with each shard's own statistics."""
    for query in QUERIES:
        one = dict(single.reader.lexical(query, 50))
        if not one:
            continue
        by_text = {single.reader.chunk_texts([i])[i]: score for i, score in one.items()}
        merged = dict(sharded.reader.lexical(query, 50))
        local = dict(pair for n, shard in enumerate(sharded.reader.shards)
                     for pair in sharded.reader._global(n, shard.lexical(query, 50)))
        texts = sharded.reader.chunk_texts(list(merged) + list(local))
        common = [i for i in merged if texts[i] in by_text]
        assert len(common) >= 0.9 * min(len(merged), len(one)), query
        for i in common:
            assert merged[i] == pytest.approx(by_text[texts[i]], rel=0.05), query
        error = sum(abs(merged[i] - by_text[texts[i]]) for i in common)
        own = sum(abs(local[i] - by_text[texts[i]]) for i in local if texts[i] in by_text and i in merged)
        assert error <= own, query


def _comparable(result):
    """A result as ids, offsets, texts and highlights, with its scores apart: shards embed their
    articles in other batches than one index does, so vectors (and scores) agree to ~1e-6, not bit for bit."""
    same = [(hit.article_id, [(p.start, p.end, p.text, p.highlights) for p in hit.passages]) for hit in result.results]
    scores = [score for hit in result.results for score in [hit.score] + [p.score for p in hit.passages]]
    return same, scores


def _related(hits):
    return [(h.article_id, h.title, h.near_duplicate) for h in hits], [h.score for h in hits]


def assert_same(got, expected, context=None):
    assert got[0] == expected[0], context
    assert got[1] == pytest.approx(expected[1], abs=1e-4), context


def assert_nearly_same(got, expected, context=None):
    """BM25 over shards keeps each shard's average passage length (see
    test_lexical_scores_over_shards_use_the_statistics_of_all_shards), so lexical and hybrid
    rankings may swap near-ties; here shards hold 20 articles each, where that length varies most."""
    got_ids, expected_ids = [h.article_id for h in got.results], [h.article_id for h in expected.results]
    assert len(set(got_ids) & set(expected_ids)) >= 0.8 * len(expected_ids), context


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_sharded_search_equals_one_index(single, sharded, mode):
    assert isinstance(sharded.reader, ShardedReader)
    for query in QUERIES:
        expected = single.search(query, k=10, mode=mode)
        got = sharded.search(query, k=10, mode=mode)
        assert got.results
        if mode == "dense":
            assert_same(_comparable(got), _comparable(expected), query)
            for offset in (0, 5):
                assert_same(_comparable(sharded.search(query, k=5, offset=offset, mode=mode)),
                            _comparable(single.search(query, k=5, offset=offset, mode=mode)), (query, offset))
        else:
            assert_nearly_same(got, expected, query)
            # Pages are slices of the shards' own ranking.
            pages = sharded.search(query, k=5, mode=mode).results + sharded.search(query, k=5, offset=5, mode=mode).results
            assert [h.article_id for h in pages] == [h.article_id for h in got.results], query


def test_match_sets_over_shards_are_decided_as_in_one_index(single, sharded):
    """What matches, `total`, facet counts and the calibrated scores are those of one index: the
    words' statistics (which weigh them, and say which are typos) are summed over the shards."""
    for mode in ("hybrid", "dense", "lexical"):
        assert sharded.search("Which enzyme in human saliva breaks down starch?", mode=mode).results == []
    for query in QUERIES + ["election", "Magnitogrosk", "fire kil"]:
        for options in ({}, {"sort": "newest"}, {"date_from": "2019-02-01"}):
            got = sharded.search(query, k=50, facets=["year", "source"], highlight=False, **options)
            expected = single.search(query, k=50, facets=["year", "source"], highlight=False, **options)
            context = (query, options)
            assert got.total == expected.total == len(expected.results), context
            assert got.facets == expected.facets, context
            assert {h.article_id: round(h.score, 4) for h in got.results} == \
                   {h.article_id: round(h.score, 4) for h in expected.results}, context


def test_sharded_filters_related_and_articles_equal_one_index(single, sharded):
    first = single.search("election", k=1).results[0]
    for filters in ({"source": first.source}, {"date_from": first.published[:10]}, {"date_to": first.published[:10]}):
        assert_same(_comparable(sharded.search("election results", k=5, mode="dense", **filters)),
                    _comparable(single.search("election results", k=5, mode="dense", **filters)), filters)
        assert_nearly_same(sharded.search("election results", k=5, **filters),
                           single.search("election results", k=5, **filters), filters)
    for article_id in ("wn-e8d671d30811", "wn-fa626d79c339", first.article_id):
        # The same articles in the same order; scores agree to ~0.01, not 1e-4, since the related
        # score has a BM25 leg and BM25 over shards keeps each shard's average passage length.
        got, expected = _related(sharded.related(article_id, k=5)), _related(single.related(article_id, k=5))
        assert got[0] == expected[0] and got[1] == pytest.approx(expected[1], abs=0.02), article_id
        assert dict(sharded.article(article_id), indexed_at=None) == dict(single.article(article_id), indexed_at=None)
    with pytest.raises(KeyError):
        sharded.related("no-such-article")
    stats, expected = sharded.stats(), single.stats()
    assert {k: stats[k] for k in ("articles", "passages", "vectors", "model", "dimension")} == \
           {k: expected[k] for k in ("articles", "passages", "vectors", "model", "dimension")}
    assert len(stats["shards"]) == SHARDS


def test_updates_and_removals_reach_the_owning_shard(tmp_path, sharded_index, encoder):
    import shutil

    index = tmp_path / "index"
    shutil.copytree(sharded_index, index)
    article = {"id": "new-story", "title": "Volcano erupts on remote island",
               "text": "A volcano erupted on a remote Pacific island on Tuesday, sending ash ten kilometres high. "
                       "Residents were evacuated by boat and no injuries were reported."}
    with open_writer(index, encoder=encoder) as writer:
        assert isinstance(writer, ShardedWriter)
        summary = writer.add(read_paths([write_jsonl(tmp_path / "a.jsonl", [article])]))
        assert summary.indexed == 1
        again = writer.add(read_paths([write_jsonl(tmp_path / "b.jsonl", [dict(article, text=article["text"] + " x")])]))
        assert again.problems and "duplicate id" in again.problems[0].message
    owner = index / sharding.shard_name(shard_of("new-story", SHARDS))
    assert Searcher(owner, encoder=encoder).article("new-story") is not None
    searcher = Searcher(index, encoder=encoder)
    assert searcher.search("volcano ash island evacuated", k=1).results[0].article_id == "new-story"
    with open_writer(index, encoder=encoder) as writer:
        assert writer.add(read_paths([tmp_path / "a.jsonl"])).unchanged == 1
        assert writer.remove(["new-story", "not-there"]) == (["new-story"], ["not-there"])
    searcher = Searcher(index, encoder=encoder)
    assert searcher.article("new-story") is None
    assert searcher.stats()["articles"] == SAMPLE_SUBSET_SIZE


def test_shard_count_mismatch_and_unsharded_index_are_refused(sharded_index, writable_index, encoder):
    with pytest.raises(store.StoreError, match="has 3 shards, not 2"):
        ShardedWriter(sharded_index, shards=2, encoder=encoder)
    with pytest.raises(store.StoreError, match="unsharded index"):
        open_writer(writable_index, shards=2, encoder=encoder)
    with pytest.raises(store.StoreError, match="is a sharded index"):
        LocalReader(sharded_index)  # one directory's reader; a Searcher opens the shards instead


def test_a_sharded_writer_reads_the_manifest_only_under_the_lock(sharded_index, encoder, monkeypatch):
    """A second run, with another --shards, while one holds the lock: it must wait for the lock
    before reading the manifest, which the run holding it may be about to write."""
    monkeypatch.setattr(store, "WRITE_LOCK_TIMEOUT", 0.5)
    with store.write_lock(sharded_index):
        with pytest.raises(store.IndexLocked):
            ShardedWriter(sharded_index, shards=SHARDS + 1, encoder=encoder)


def test_large_sharded_index_shares_one_trained_ivf(tmp_path, sample_subset, encoder, monkeypatch):
    # The sample is far below the sizes where IVF pays; lower the thresholds to build one anyway.
    monkeypatch.setattr(vectors, "IVF_MIN", 50)
    index = tmp_path / "index"
    with open_writer(index, shards=2, encoder=encoder, index_type="ivf-sq8") as writer:
        writer.add(read_paths([sample_subset]))
    assert (index / sharding.TRAINED).exists()

    def centroids_of(shard: Searcher) -> np.ndarray:
        (segment,) = shard.reader.vectors.segments
        assert segment.kind == "ivf-sq8"
        index = vectors.read_index(shard.reader.dir / vectors.FOLDER / segment.file)  # owns what `ivf` views
        ivf = faiss.extract_index_ivf(index)
        return ivf.quantizer.reconstruct_n(0, ivf.nlist)

    centroids = [centroids_of(Searcher(index / name, encoder=encoder))
                 for name in store.read_manifest(index)["shards"]["directories"]]
    assert np.array_equal(centroids[0], centroids[1])
    # A shard whose vectors are lost is rebuilt by the writer's repair with the shared IVF, not one
    # of its own; a reader refuses it meanwhile instead of training one.
    for path in (index / "shard-000" / vectors.FOLDER).iterdir():
        path.unlink()
    with pytest.raises(store.StoreError, match="--repair"):
        Searcher(index / "shard-000", encoder=encoder)
    with open_writer(index, encoder=encoder, repair=True):
        pass
    assert np.array_equal(centroids_of(Searcher(index / "shard-000", encoder=encoder)), centroids[0])
    top = Searcher(index, encoder=encoder).search(QUERIES[0], k=1).results[0]
    assert top.article_id == "wn-e8d671d30811"


def test_cli_builds_and_queries_a_sharded_index(tmp_path, sample_subset):
    index = tmp_path / "index"
    run = subprocess.run([sys.executable, "-m", "search_api.cli", "index", str(sample_subset), "--index", str(index),
                          "--shards", "2", "--quiet"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    query = subprocess.run([sys.executable, "-m", "search_api.cli", "query", QUERIES[0], "--index", str(index),
                            "-k", "1", "--json"], capture_output=True, text=True)
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout)["results"][0]["article_id"] == "wn-e8d671d30811"
    again = subprocess.run([sys.executable, "-m", "search_api.cli", "index", str(sample_subset), "--index", str(index),
                            "--shards", "3", "--quiet"], capture_output=True, text=True)
    assert again.returncode == 1 and "has 2 shards, not 3" in again.stderr


def test_copies_of_a_story_in_different_shards_are_grouped(tmp_path, encoder):
    from test_duplicates import COPY, ORIGINAL, OTHER_COVERAGE, UNRELATED

    assert shard_of(ORIGINAL["id"], 2) != shard_of(COPY["id"], 2)
    path = write_jsonl(tmp_path / "wire.jsonl", [ORIGINAL, OTHER_COVERAGE, UNRELATED, COPY])
    with open_writer(tmp_path / "index", shards=2, encoder=encoder) as writer:
        writer.add(read_paths([path]))
    searcher = Searcher(tmp_path / "index", encoder=encoder)
    results = searcher.search("flooding in Rio Grande do Sul", k=10).results
    ids = [hit.article_id for hit in results]
    assert len({"wire-1", "gazette-77"} & set(ids)) == 1 and "herald-5" in ids, ids
    shown = next(hit for hit in results if hit.article_id in ("wire-1", "gazette-77"))
    assert [copy.article_id for copy in shown.also_published_in] == \
           [other for other in ("wire-1", "gazette-77") if other != shown.article_id]
    related = {hit.article_id: hit.near_duplicate for hit in searcher.related("wire-1", k=3)}
    assert related["gazette-77"] is True and related["herald-5"] is False

    # Either copy, updated to other text in its shard, leaves the group of the other in the other shard,
    # in a new generation of that shard (readers of its current one keep the rows they started with).
    for article, other in ((COPY, "wire-1"), (ORIGINAL, "gazette-77")):
        other_shard = tmp_path / "index" / sharding.shard_name(shard_of(other, 2))
        generation = store.current_generation(other_shard)
        update = write_jsonl(tmp_path / "update.jsonl", [dict(article, title=LLAMA["title"], text=LLAMA["text"])])
        with open_writer(tmp_path / "index", encoder=encoder) as writer:
            writer.add(read_paths([update]))
        assert store.current_generation(other_shard) > generation
        searcher = Searcher(tmp_path / "index", encoder=encoder)
        shown = [hit for hit in searcher.search("flooding in Rio Grande do Sul").results if hit.article_id == other]
        assert shown and shown[0].also_published_in == []
        assert {hit.article_id: hit.near_duplicate for hit in searcher.related(other)}.get(article["id"]) is not True
        write_jsonl(tmp_path / "restore.jsonl", [article])
        with open_writer(tmp_path / "index", encoder=encoder) as writer:
            writer.add(read_paths([tmp_path / "restore.jsonl"]))


def test_api_writes_to_a_sharded_index(tmp_path, sharded_index, encoder):
    import shutil

    from fastapi.testclient import TestClient

    from conftest import LLAMA
    from search_api.app import create_app

    index = tmp_path / "index"
    shutil.copytree(sharded_index, index)
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(index, encoder=encoder, api_key="k")) as client:
        assert client.post("/articles", json=LLAMA, headers=headers).json()["indexed"] == 1
        top = client.get("/search", params={"q": "llamas on the village council", "k": 1}).json()["results"][0]
        assert top["article_id"] == "llama-1"
        assert client.get("/stats").json()["articles"] == SAMPLE_SUBSET_SIZE + 1
        assert client.delete("/articles/llama-1", headers=headers).status_code == 200
        assert client.get("/articles/llama-1").status_code == 404
    # The write went to the article's own shard and nowhere else.
    for number, name in enumerate(store.read_manifest(index)["shards"]["directories"]):
        generation = Searcher(index / name, encoder=encoder).generation
        original = Searcher(sharded_index / name, encoder=encoder).generation
        assert (generation > original) == (number == shard_of("llama-1", SHARDS)), name


# Search-box forms of QUERIES: a seeded-style typo in a long word, and a last word half typed.
TYPED = ["How many people died when the ten-storey blcok came down after a gas laek?",
         "Notre Dame cathedarl fire", "same-sex marriage vote parliment", "Mars water oxyg",
         "Iranian airline Germany ba", "zebra stripes fli", "Notre Dame cath", "same-sex marriage vo"]


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_sharded_search_box_queries_rank_as_one_index(single, sharded, mode):
    """Typo'd and half-typed queries: the weight of a word's near misses and the completions of a
    word being typed are taken from all shards together (issue 20, item 6), as one index takes
    them, so the top 10 is one index's, in the same order. Each shard weighing near misses by its
    own counts and completing a word with its own most frequent words ranked otherwise."""
    for query in TYPED:
        expected = [h.article_id for h in single.search(query, k=10, mode=mode).results]
        got = [h.article_id for h in sharded.search(query, k=10, mode=mode).results]
        assert expected and got == expected, query
