"""The real app over a real small index, through FastAPI's TestClient (httpx)."""

import threading

import pytest
from fastapi.testclient import TestClient

from search_api.app import create_app

KEY = "test-key-123"
NEW_ARTICLE = {"id": "penguins-1", "title": "Penguins seen gliding over Antarctic ice",
               "text": "Scientists in Antarctica filmed a colony of emperor penguins gliding short distances over "
                       "the ice on their bellies, pushed by strong katabatic winds. The researchers said the "
                       "behaviour saves the birds energy on long journeys to the sea.",
               "source": "Polar Post", "published": "2024-05-02", "section": "science"}


@pytest.fixture(scope="module")
def client(sample_index, encoder):
    with TestClient(create_app(sample_index, encoder=encoder, api_key=KEY)) as client:
        yield client


@pytest.fixture
def write_client(writable_index, encoder):
    with TestClient(create_app(writable_index, encoder=encoder, api_key=KEY)) as client:
        yield client


def auth(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def test_search_get_and_post_agree_and_answer_the_question(client):
    params = {"q": "Which Iranian airline is no longer allowed to fly to Germany?", "k": 3, "passages": 2}
    got = client.get("/search", params=params)
    posted = client.post("/search", json=params)
    assert got.status_code == posted.status_code == 200
    a, b = got.json(), posted.json()
    assert a["results"][0]["article_id"] == "wn-c352228c48de"
    assert [r["article_id"] for r in a["results"]] == [r["article_id"] for r in b["results"]]
    assert a["mode"] == "hybrid" and a["offset"] == 0 and a["took_ms"] > 0
    assert set(a["results"][0]) >= {"article_id", "title", "url", "source", "author", "published", "score", "passages"}


def test_passage_offsets_and_highlights_point_into_the_article_text(client):
    data = client.get("/search", params={"q": "escape room fire Poland", "k": 5}).json()
    for hit in data["results"]:
        text = client.get(f"/articles/{hit['article_id']}").json()["text"]
        for passage in hit["passages"]:
            assert text[passage["start"]:passage["end"]] == passage["text"]
            assert passage["highlights"]
            for start, end in passage["highlights"]:
                assert passage["start"] <= start < end <= passage["end"]


def test_pagination_is_stable(client):
    whole = client.get("/search", params={"q": "election vote", "k": 9}).json()["results"]
    pages = []
    for offset in (0, 3, 6):
        pages += client.get("/search", params={"q": "election vote", "k": 3, "offset": offset}).json()["results"]
    assert [r["article_id"] for r in pages] == [r["article_id"] for r in whole]


def test_filters(client):
    data = client.get("/search", params={"q": "crash", "date_from": "2019-01-10", "date_to": "2019-01-31", "k": 4}).json()
    assert len(data["results"]) == 4
    assert all("2019-01-10" <= r["published"] <= "2019-01-31" for r in data["results"])
    assert client.get("/search", params={"q": "crash", "source": "Nowhere"}).json()["results"] == []


@pytest.mark.parametrize("params, field", [
    ({"q": ""}, "q"), ({"q": "   "}, "q"), ({"q": "x" * 2001}, "q"), ({"q": "fire", "k": 0}, "k"),
    ({"q": "fire", "k": 101}, "k"), ({"q": "fire", "mode": "fuzzy"}, "mode"), ({"q": "fire", "offset": -1}, "offset"),
    ({"q": "fire", "date_from": "yesterday"}, "date_from"), ({"q": "fire", "passages": 0}, "passages"), ({}, "q"),
])
def test_invalid_parameters_are_422_naming_the_field(client, params, field):
    response = client.get("/search", params=params)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{field}:")


def test_unknown_article_is_404(client):
    assert client.get("/articles/nope").status_code == 404
    assert client.get("/articles/nope/related").status_code == 404
    assert "no article with id 'nope'" in client.get("/articles/nope").json()["detail"]


def test_article_and_related(client):
    article = client.get("/articles/wn-e8d671d30811").json()
    assert article["title"].startswith("Magnitogorsk") and article["passages"] >= 1
    related = client.get("/articles/wn-e8d671d30811/related", params={"k": 5}).json()
    ids = [r["article_id"] for r in related["results"]]
    assert len(ids) == 5 and "wn-e8d671d30811" not in ids
    scores = [r["score"] for r in related["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(r["near_duplicate"] is False for r in related["results"])


def test_health_stats_metrics_openapi_page(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"
    stats = client.get("/stats").json()
    assert stats["articles"] == 60 and stats["passages"] == stats["vectors"] > 60
    assert stats["model"] == "sentence-transformers/all-MiniLM-L6-v2" and stats["dimension"] == 384
    client.get("/search", params={"q": "fire"})
    metrics = client.get("/metrics").text
    assert 'article_search_requests_total{method="GET",route="/search",status="200"}' in metrics
    assert "article_search_request_seconds_bucket" in metrics and "article_search_index_passages" in metrics
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/articles", "/articles/{article_id}", "/articles/{article_id}/related", "/stats"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200 and 'id="q"' in page.text


def test_page_loads_nothing_from_elsewhere(client):
    for asset in ("/", "/static/app.js", "/static/style.css"):
        body = client.get(asset).text
        assert "https://" not in body and "http://" not in body and "//cdn" not in body


def test_writes_need_the_right_key(write_client):
    assert write_client.post("/articles", json=NEW_ARTICLE).status_code == 401
    assert write_client.post("/articles", json=NEW_ARTICLE, headers=auth("wrong")).status_code == 401
    assert write_client.delete("/articles/wn-e8d671d30811", headers=auth("wrong")).status_code == 401
    assert write_client.get("/articles/penguins-1").status_code == 404


def test_writes_are_refused_without_a_configured_key(writable_index, encoder, monkeypatch):
    monkeypatch.delenv("ARTICLE_SEARCH_API_KEY", raising=False)
    with TestClient(create_app(writable_index, encoder=encoder)) as client:
        response = client.post("/articles", json=NEW_ARTICLE, headers=auth())
        assert response.status_code == 403 and "ARTICLE_SEARCH_API_KEY" in response.json()["detail"]


def test_posted_article_is_searchable_at_once_and_delete_removes_it(write_client):
    response = write_client.post("/articles", json=NEW_ARTICLE, headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["ids"] == ["penguins-1"] and response.json()["indexed"] == 1
    top = write_client.get("/search", params={"q": "penguins sliding on their bellies", "k": 1}).json()["results"][0]
    assert top["article_id"] == "penguins-1" and top["source"] == "Polar Post"
    assert write_client.get("/articles/penguins-1").json()["metadata"] == {"section": "science"}
    again = write_client.post("/articles", json=[NEW_ARTICLE], headers=auth()).json()
    assert again["unchanged"] == 1 and again["indexed"] == 0
    assert write_client.delete("/articles/penguins-1", headers=auth()).status_code == 200
    assert write_client.get("/articles/penguins-1").status_code == 404
    hits = write_client.get("/search", params={"q": "penguins sliding on their bellies"}).json()["results"]
    assert "penguins-1" not in [h["article_id"] for h in hits]
    assert write_client.delete("/articles/penguins-1", headers=auth()).status_code == 404
    stats = write_client.get("/stats").json()
    assert stats["passages"] == stats["vectors"]


@pytest.mark.parametrize("body", [{"title": "no text"}, {"text": ""}, [], {"text": "ok", "k": {"x": 1}, "title": 5}])
def test_bad_article_bodies_are_422(write_client, body):
    response = write_client.post("/articles", json=body, headers=auth())
    assert response.status_code == 422, response.text


def test_oversized_body_is_413(write_client):
    big = {"text": "word " * (4 * 1024 * 1024)}
    assert write_client.post("/articles", json=big, headers=auth()).status_code == 413


def test_searches_keep_answering_during_writes(write_client):
    errors, statuses = [], []

    def searcher():
        for _ in range(15):
            response = write_client.get("/search", params={"q": "penguins ice", "k": 5, "highlight": False})
            statuses.append(response.status_code)
            for hit in response.json().get("results", []):
                if not hit["passages"]:
                    errors.append(hit)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(3):
        article = dict(NEW_ARTICLE, id=f"p{i}", text=NEW_ARTICLE["text"] + f" Observation {i}.")
        assert write_client.post("/articles", json=article, headers=auth()).status_code == 200
        assert write_client.delete(f"/articles/p{i}", headers=auth()).status_code == 200
    for t in threads:
        t.join()
    assert set(statuses) == {200} and not errors


def test_cors_is_off_by_default_and_allow_listed_when_set(sample_index, encoder, client):
    origin = {"Origin": "https://archive.example"}
    assert "access-control-allow-origin" not in client.get("/healthz", headers=origin).headers
    with TestClient(create_app(sample_index, encoder=encoder, cors_origins=["https://archive.example"])) as c:
        assert c.get("/healthz", headers=origin).headers["access-control-allow-origin"] == "https://archive.example"


@pytest.mark.parametrize("article_id", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "index.sqlite", "%00"])
def test_article_ids_are_never_paths(client, article_id):
    response = client.get(f"/articles/{article_id}")
    assert response.status_code == 404
