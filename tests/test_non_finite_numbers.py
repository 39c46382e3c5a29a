"""NaN and infinity in an article's metadata are refused where they come in: a JSONL line (file,
line, field) and a POST /articles item (a 422 naming the item and field), by the one check both
paths share (indexer.inputs.article_from_record)."""

from fastapi.testclient import TestClient

from indexer.article import Article
from indexer.inputs import Problem, read_paths
from search_api.app import create_app

KEY = "test-key-123"


def test_nan_and_infinity_in_a_jsonl_record_are_problems_naming_file_line_and_field(tmp_path):
    path = tmp_path / "numbers.jsonl"
    path.write_text('{"id": "ok", "text": "Fine.", "score": 1.5}\n'
                    '{"id": "nan", "text": "Fine.", "score": NaN}\n'
                    '{"id": "big", "text": "Fine.", "extra": {"rank": [1, 1e999]}}\n'
                    '{"id": "inf", "text": "Fine.", "score": -Infinity}\n', encoding="utf-8")
    items = list(read_paths([path]))
    assert [a.id for a in items if isinstance(a, Article)] == ["ok"]
    problems = [str(p) for p in items if isinstance(p, Problem)]
    assert problems == [f"{path}:2: field 'score' is nan, not a finite number",
                        f"{path}:3: field 'extra.rank[1]' is inf, not a finite number",
                        f"{path}:4: field 'score' is -inf, not a finite number"]


def test_post_articles_with_nan_or_infinity_is_422_naming_the_item_and_field(writable_index, encoder, monkeypatch):
    monkeypatch.setenv("ARTICLE_SEARCH_API_KEY", KEY)
    body = (b'[{"id": "n1", "text": "Penguins glide over the ice on their bellies.", "score": NaN},'
            b' {"id": "n2", "text": "Penguins glide over the ice on their bellies again.", "rank": 1e999}]')
    with TestClient(create_app(writable_index, encoder=encoder, api_key=KEY)) as client:
        response = client.post("/articles", content=body, headers={"Authorization": f"Bearer {KEY}",
                                                                    "Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [
            {"field": "body.0", "message": "field 'score' is nan, not a finite number"},
            {"field": "body.1", "message": "field 'rank' is inf, not a finite number"}]
        assert client.get("/articles/n1").status_code == 404
