"""Optional re-ranking with a sentence-transformers CrossEncoder. No cross-encoder ships with the
project, so the test makes a real one from the bundled MiniLM weights (its scoring head is
untrained): what is tested is that the top of the ranking follows the cross-encoder's scores."""

import pytest

from search_api.searcher import RERANK_DEPTH, SearchError, Searcher


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory, encoder):
    from sentence_transformers import CrossEncoder

    path = tmp_path_factory.mktemp("cross") / "minilm-cross"
    CrossEncoder(encoder.location, num_labels=1, device="cpu").save(str(path))
    return path


def test_top_articles_follow_the_cross_encoder(sample_index, encoder, cross_encoder_dir):
    plain = Searcher(sample_index, encoder=encoder)
    reranked = Searcher(sample_index, encoder=encoder, reranker=str(cross_encoder_dir))
    query = "fire kills people in a building"
    before = plain.search(query, k=RERANK_DEPTH, passages=1, highlight=False).results
    after = reranked.search(query, k=RERANK_DEPTH, passages=1, highlight=False).results
    # The same candidates, re-ordered by the cross-encoder's score of (query, best passage).
    assert {h.article_id for h in after} == {h.article_id for h in before}
    expected = reranked.reranker.predict([(query, h.passages[0].text) for h in before], show_progress_bar=False)
    order = sorted(zip(expected, [h.article_id for h in before]), key=lambda p: (-p[0], p[1]))
    assert [h.article_id for h in after] == [article_id for _, article_id in order]
    assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)
    # Pages are still slices of one ranking.
    pages = [h.article_id for o in (0, 5) for h in reranked.search(query, k=5, offset=o, highlight=False).results]
    assert pages == [h.article_id for h in after[:10]]


def test_a_missing_reranker_is_a_clear_error(sample_index, encoder, tmp_path):
    with pytest.raises(SearchError, match="cannot load the re-ranker"):
        Searcher(sample_index, encoder=encoder, reranker=str(tmp_path / "nope"))


def test_a_reranker_that_fails_to_load_leaves_no_index_file_open(writable_index, encoder, tmp_path):
    import os

    def open_in_index() -> list[str]:
        targets = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                targets.append(os.readlink(f"/proc/self/fd/{fd}"))
            except FileNotFoundError:  # the listing's own descriptor, closed by now
                pass
        return [t for t in targets if t.startswith(str(writable_index))]

    with pytest.raises(SearchError) as caught:  # its traceback keeps the half-made Searcher alive
        Searcher(writable_index, encoder=encoder, reranker=str(tmp_path / "nope"))
    assert caught.value and open_in_index() == []
