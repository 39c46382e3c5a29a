"""The real app over a real small index, through FastAPI's TestClient (httpx)."""

import gc
import shutil
import threading
import time
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import running_server, wait_until
from indexer import store
from search_api.app import STATIC, create_app

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


def test_what_start_up_built_is_kept_out_of_the_garbage_collector(writable_index, encoder):
    """A writing server freezes what its start-up built (models, readers, the write side): the
    garbage collector's full passes then walk only what requests make (docs/benchmarks.md)."""
    gc.unfreeze()  # another app of this test process may have frozen its own start-up
    with TestClient(create_app(writable_index, encoder=encoder, api_key=KEY)) as started:
        assert started.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
        assert started.post("/articles", json=NEW_ARTICLE, headers=auth()).status_code == 200


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
    assert a["mode"] == "hybrid" and a["offset"] == 0
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
    assert 0 < len(data["results"]) == min(4, data["total"])  # what matches in the range, not padding
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
    related = client.get("/articles/wn-e8d671d30811/related", params={"k": 5, "scope": "similar"}).json()
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
    assert {"/search", "/articles", "/articles/{article_id}", "/articles/{article_id}/related", "/stats",
            "/widget.js"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200 and 'id="q"' in page.text


def test_page_and_widget_load_nothing_from_elsewhere(client):
    static = sorted(path.name for path in STATIC.iterdir())
    assert {"app.js", "render.js", "widget.js"} <= set(static)
    for asset in ["/", "/widget.js", *(f"/static/{name}" for name in static)]:
        response = client.get(asset)
        assert response.status_code == 200, asset
        body = response.text
        assert "https://" not in body and "http://" not in body and "//cdn" not in body, asset
    assert client.get("/widget.js").headers["content-type"].startswith("text/javascript")


def test_cors_is_off_by_default_and_allow_listed_when_set(client, sample_index, encoder):
    site = "http://news.example"
    assert "access-control-allow-origin" not in client.get("/search?q=fire", headers={"Origin": site}).headers
    with TestClient(create_app(sample_index, encoder=encoder, cors_origins=[site])) as cors:
        # The widget reads these across origins: its modules, the OpenAPI document, search, suggestions.
        for path in ("/search?q=fire", "/widget.js", "/static/render.js", "/openapi.json"):
            response = cors.get(path, headers={"Origin": site})
            assert response.status_code == 200 and response.headers["access-control-allow-origin"] == site, path
        other = cors.get("/search?q=fire", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


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


@pytest.fixture(scope="module")
def write_server(tmp_path_factory, sample_index):
    """A real `serve` process with the write key over a private copy of the sample index."""
    index = tmp_path_factory.mktemp("served") / "index"
    shutil.copytree(sample_index, index, ignore=shutil.ignore_patterns(".lock"))
    with running_server(index, api_key=KEY) as url:
        yield url


def streamed(total_bytes: int, chunk: bytes = b"x" * 65536):
    """A body sent in chunks, with no Content-Length for the server to go by."""
    for _ in range(total_bytes // len(chunk)):
        yield chunk


def test_oversized_body_is_413_even_when_streamed_without_a_length(write_server):
    response = httpx.post(f"{write_server}/articles", content=streamed(32 * 1024 * 1024), headers=auth(), timeout=60)
    assert response.status_code == 413 and "16 MB" in response.json()["detail"]
    assert httpx.get(f"{write_server}/healthz").status_code == 200


def test_the_key_is_checked_before_the_body_is_read(write_server):
    # Not JSON at all: were it parsed before the key is checked, this would be a 422.
    response = httpx.post(f"{write_server}/articles", content=streamed(1024 * 1024, b"{" * 1024), timeout=60)
    assert response.status_code == 401
    # Nor is it counted: without the key, even an oversized body is a 401.
    response = httpx.post(f"{write_server}/articles", content=streamed(32 * 1024 * 1024), timeout=60)
    assert response.status_code == 401


@pytest.mark.parametrize("article_id", ["../../etc/passwd", "/etc/passwd", "index.sqlite", "manifest.json", "\x00"])
def test_article_ids_are_never_paths(client, article_id):
    """A path-like id reaches the article lookup (the 404 names the id) and is never opened as a file."""
    response = client.get(f"/articles/{quote(article_id, safe='')}")
    assert response.status_code == 404
    assert response.json()["detail"] == f"no article with id '{article_id}' in the index"


def id_path(article_id: str) -> str:
    """An id as one URL path segment (docs/api.md): every reserved character percent-encoded, and
    dots too, or clients resolve an id of ".." as a step up the path."""
    return quote(article_id, safe="").replace(".", "%2E")


# Ids come from users' data (paths, URLs): every one of them must be reachable once encoded.
ODD_IDS = ["news/2024/storm.txt", "https://example.com/a?b=1#c", "50% off", "what?", "#1", "a b  c", "Łódź–日本",
           "ends/with/related", "trailing/", "/leading", "a//b", "..", "%2F"]


def test_every_id_the_index_holds_is_addressable(write_server):
    # A real server: TestClient decodes the path twice ("%252F" arrives as "/", not "%2F").
    with httpx.Client(base_url=write_server, timeout=120) as http:
        articles = [{"id": article_id, "title": f"Odd id {number}",
                     "text": f"Story number {number} about harbour cranes and a strike by the dock workers."}
                    for number, article_id in enumerate(ODD_IDS)]
        response = http.post("/articles", json=articles, headers=auth())
        assert response.status_code == 200 and response.json()["ids"] == ODD_IDS
        for article_id in ODD_IDS:
            path = f"/articles/{id_path(article_id)}"
            article = http.get(path)
            assert article.status_code == 200, (article_id, article.text[:200])
            assert article.json()["id"] == article_id
            related = http.get(f"{path}/related", params={"k": 3})
            assert related.status_code == 200 and related.json()["article_id"] == article_id, article_id
        # "ends/with/related" is an article of its own, not the related list of "ends/with"
        assert http.get("/articles/ends%2Fwith%2Frelated").json()["title"] == "Odd id 7"
        for article_id in ODD_IDS:
            assert http.delete(f"/articles/{id_path(article_id)}", headers=auth()).status_code == 200
            assert http.get(f"/articles/{id_path(article_id)}").status_code == 404


def test_a_batch_with_a_bad_item_writes_nothing_and_names_each_bad_item(write_client):
    good = dict(NEW_ARTICLE, id="batch-good")
    batch = [good, {"id": "batch-no-text", "text": "   "}, dict(good, id="batch-good-2"),
             {"id": "batch-boilerplate", "text": "Share this article\nSubscribe to our newsletter"},
             dict(good, id="batch-good"), {"id": "batch-long", "text": "word " * 200_001}]
    before = write_client.get("/stats").json()
    response = write_client.post("/articles", json=batch, headers=auth())
    assert response.status_code == 422, response.text
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["body.1", "body.3", "body.4", "body.5"], response.json()
    assert "nothing was indexed" in response.json()["detail"]
    for article_id in ("batch-good", "batch-good-2"):
        assert write_client.get(f"/articles/{article_id}").status_code == 404
    assert write_client.get("/stats").json()["articles"] == before["articles"]


def test_a_damaged_index_is_a_503_saying_why_and_is_logged_once(write_client, writable_index, caplog, monkeypatch):
    import search_api.app as app_module

    monkeypatch.setattr(app_module, "RELOAD_CHECK_SECONDS", 0.05)  # from the watcher's next check on
    index = write_client.app.state.index
    failed_reloads = []
    reload = index.refresh

    def counted_reload() -> bool:
        try:
            return reload()
        except Exception:
            failed_reloads.append(True)
            raise

    monkeypatch.setattr(index, "refresh", counted_reload)  # the watcher looks it up at every check
    (writable_index / "manifest.json").write_text("{ damaged", encoding="utf-8")
    wait_until(lambda: len(failed_reloads) >= 3, "the watcher tried to reload the damaged index three times")
    response = write_client.post("/articles", json=NEW_ARTICLE, headers=auth())
    assert response.status_code == 503 and "manifest" in response.json()["detail"], response.text
    assert write_client.get("/search", params={"q": "fire"}).status_code == 200  # still serving the last state
    failures = [r for r in caplog.records if "could not open the new index generation" in r.getMessage()]
    assert len(failures) == 1 and not failures[0].exc_info  # the message says it all: no traceback


def test_healthz_names_the_process_and_stats_hide_the_server_paths(client, sample_index):
    import os

    health = client.get("/healthz").json()
    assert health == {"status": "ok", "pid": os.getpid()}
    stats = client.get("/stats")
    assert str(sample_index) not in stats.text and str(sample_index.parent) not in stats.text
    assert stats.json()["index_dir"] == sample_index.name


def test_api_docs_need_no_network(client):
    import re

    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
        assert urls, page
        for url in urls:
            assert url.startswith("/"), (page, url)
            assert client.get(url).status_code == 200, url
        assert "cdn" not in html and "https://" not in html and "http://" not in html, page


def open_file_descriptors() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


def test_writes_do_not_leak_file_descriptors(write_client):
    """Every write swaps in a new searcher (new SQLite connections, one per thread that reads);
    the old one is closed when its last request ends, not whenever the garbage collector runs."""
    import gc

    def write_and_read(number: int) -> None:
        article = dict(NEW_ARTICLE, id=f"fd-{number}", text=NEW_ARTICLE["text"] + f" Observation {number}.")
        assert write_client.post("/articles", json=article, headers=auth()).status_code == 200
        assert write_client.get("/search", params={"q": "penguins", "k": 3}).status_code == 200
        assert write_client.get(f"/articles/fd-{number}/related", params={"k": 3}).status_code == 200

    gc.disable()  # the leak was only ever closed by the garbage collector: keep it out of the count
    try:
        for number in range(5):  # threads, the write model and its files: opened once
            write_and_read(number)
        before = open_file_descriptors()
        for number in range(5, 35):
            write_and_read(number)
        after = open_file_descriptors()
    finally:
        gc.enable()
    assert after - before <= 5, (before, after)


def test_a_search_is_not_held_by_a_large_write(write_client, monkeypatch):
    """Writes embed with their own model, so a search waits for neither the write nor its batch:
    the write is held inside its model (with every lock it takes) until the search is answered."""
    from sentence_transformers import SentenceTransformer

    sentences = " ".join(f"The harbour board met for session {n} and argued about crane {n * 7} and its repairs."
                         for n in range(120))
    batch = [{"id": f"big-{i}", "title": f"Harbour board session {i}", "text": f"Report {i}. {sentences}"}
             for i in range(20)]
    embedding, searched = threading.Event(), threading.Event()
    answered_while_held = []  # at the write's first batch: whether the search was answered meanwhile
    model_encode = SentenceTransformer.encode

    def held_write_encode(model, texts, *args, **kwargs):
        if not answered_while_held and any("harbour board" in text for text in texts):
            embedding.set()
            answered_while_held.append(searched.wait(60))
        return model_encode(model, texts, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", held_write_encode)
    statuses = []
    write = threading.Thread(target=lambda: statuses.append(
        write_client.post("/articles", json=batch, headers=auth()).status_code))
    write.start()
    assert embedding.wait(120), "the write never reached its model"
    response = write_client.get("/search", params={"q": "penguins on the ice", "k": 3})
    searched.set()
    write.join()
    assert response.status_code == 200 and statuses == [200]
    assert answered_while_held == [True]


def test_a_write_waits_for_another_process_and_answers_503_after_the_timeout(write_client, writable_index,
                                                                            monkeypatch):
    monkeypatch.setattr(store, "WRITE_LOCK_TIMEOUT", 1.0)
    with store.write_lock(writable_index):  # held, as an `index` run holds it for its whole run
        response = write_client.post("/articles", json=NEW_ARTICLE, headers=auth())
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert "another process has been writing the index" in response.json()["detail"]
        assert write_client.delete("/articles/wn-e8d671d30811", headers=auth()).status_code == 503
    # A holder that lets go within the wait: the write waits its turn and is written.
    monkeypatch.setattr(store, "WRITE_LOCK_TIMEOUT", 60.0)
    held = threading.Event()

    def hold_a_second():
        with store.write_lock(writable_index):
            held.set()
            time.sleep(1)

    holder = threading.Thread(target=hold_a_second)
    holder.start()
    held.wait()
    response = write_client.post("/articles", json=NEW_ARTICLE, headers=auth())
    holder.join()
    assert response.status_code == 200, response.text
    assert write_client.get(f"/articles/{NEW_ARTICLE['id']}").status_code == 200


