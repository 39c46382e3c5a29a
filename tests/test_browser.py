"""The search page and the embeddable widget in a real browser: Debian's chromium driven by
Playwright, against a real `article-search serve` process over the sample index.

Screenshots go to $ARTICLE_SEARCH_SCREENSHOTS when it is set, else to a `screenshots` folder in
pytest's temporary directory (`pytest --basetemp DIR` to keep it in a known place)."""

import functools
import http.server
import os
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from conftest import running_server, write_jsonl
from indexer.inputs import read_paths
from indexer.writer import IndexWriter
from search_api.index_readers import open_reader
from search_api.stories import assign_stories

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(sample_index):
    with running_server(sample_index) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed: run scripts/install-test-deps.sh (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser):
    return browser.new_page()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """The folder the screenshots are written to (see the module's docstring)."""
    if os.environ.get("ARTICLE_SEARCH_SCREENSHOTS"):
        folder = Path(os.environ["ARTICLE_SEARCH_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


def test_typing_a_question_shows_the_right_article_with_the_answer_bold(server, page, shots):
    first = type_and_wait_for(page, server, "Which Iranian airline was banned from flying to Germany?",
                              "wn-c352228c48de")
    assert "Mahan Air" in first.locator("h2").inner_text()
    answer = first.locator("strong.answer").first
    assert answer.is_visible() and len(answer.inner_text()) > 10
    page.screenshot(path=str(shots / "search.png"))

    first.get_by_role("button", name="Related coverage").click()
    # The other reports of the story, as the API lists them, or a line saying there are none.
    expected = [hit["article_id"] for hit in httpx.get(f"{server}/articles/wn-c352228c48de/related",
                                                        params={"k": 5}).json()["results"]]
    box = first.locator(".related")
    page.wait_for_function("(box) => !box.textContent.includes('Loading')", arg=box.element_handle(), timeout=30_000)
    links = box.locator("li a")
    assert links.count() == len(expected)
    if not expected:
        assert "No related coverage" in box.inner_text()
    assert first.get_by_role("button", name="Related coverage").get_attribute("aria-expanded") == "true"


def test_keyboard_and_url_state(server, page):
    page.goto(f"{server}/?q=Notre+Dame+fire")
    page.locator("#results li.result").first.wait_for(timeout=30_000)
    assert "Notre Dame" in page.locator("#results li.result h2").first.inner_text()
    page.locator("body").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Escape")
    page.wait_for_function("document.querySelectorAll('#results li').length === 0", timeout=10_000)
    # A URL with values the controls do not offer searches with their defaults instead of failing.
    page.goto(f"{server}/?q=Notre+Dame+fire&mode=nonsense&sort=nonsense")
    page.locator("#results li.result").first.wait_for(timeout=30_000)
    assert page.locator("#mode").input_value() == "hybrid" and page.locator("#sort").input_value() == "relevance"


def test_source_and_date_filters_narrow_the_results(server, page):
    page.goto(server)
    page.locator("#date_from").fill("2019-04-01")
    page.locator("#q").fill("fire")
    page.locator("#q").press("Enter")
    page.locator("#results li.result").first.wait_for(timeout=30_000)
    dates = page.locator("#results .meta").all_inner_texts()
    assert dates and all(text.split(" · ")[1] >= "2019-04-01" for text in dates)
    assert page.locator("#source option").all_inner_texts() == ["all sources", "Wikinews"]


# Scraped data the page must show safely and exactly: a "javascript:" URL, and emoji (one code
# point each, two UTF-16 units) before the sentence that answers the question.
HOSTILE = [
    {"id": "js-link", "title": "Ferret parade cancelled", "url": "javascript:alert(document.domain)",
     "source": "Scraped Weekly", "text": "The annual ferret parade in Quibbleton was cancelled because of heavy rain. "
                                         "Organisers said the ferrets were disappointed."},
    {"id": "emoji-text", "title": "Goat festival moves", "url": "https://example.org/goats", "source": "Emoji Daily",
     "text": "🎉🎉🎉 Big news! 😀👍🏽 Everyone cheered. 🐐🐐 The goat festival of Zorbaville will move to the "
             "first week of March next year. 🎈 Tickets go on sale soon."},
]


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, sample_index, encoder):
    index = tmp_path_factory.mktemp("hostile") / "index"
    shutil.copytree(sample_index, index, ignore=shutil.ignore_patterns(".lock"))
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add(read_paths([write_jsonl(index.parent / "hostile.jsonl", HOSTILE)]))
    with running_server(index) as url:
        yield url


def search_on_page(page, url: str, query: str, article_id: str):
    page.goto(url)
    page.locator("#q").fill(query)
    page.locator("#q").press("Enter")
    page.wait_for_function(f"document.querySelector('#results li.result')?.dataset.id === '{article_id}'",
                           timeout=30_000)
    return page.locator("#results li.result").first


def test_a_javascript_url_from_the_data_is_never_a_link(hostile_server, page):
    first = search_on_page(page, hostile_server, "ferret parade cancelled in Quibbleton", "js-link")
    assert first.locator("h2").inner_text() == "Ferret parade cancelled"
    assert page.locator("a[href^='javascript:' i]").count() == 0
    # The title opens the article in the page; the original URL is no link at all.
    assert first.locator("h2 a").get_attribute("href").startswith("/?article=js-link")
    assert first.locator("a.original").count() == 0
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.protocol)")
    assert set(hrefs) <= {"http:", "https:"}


def test_highlights_land_on_the_answer_after_emoji(hostile_server, page):
    query = "When will the goat festival of Zorbaville move?"
    hit = httpx.get(f"{hostile_server}/search", params={"q": query, "k": 1}).json()["results"][0]
    text = httpx.get(f"{hostile_server}/articles/emoji-text").json()["text"]
    start, end = hit["passages"][0]["highlights"][0]
    assert text[start:end].endswith("The goat festival of Zorbaville will move to the first week of March next year.")
    first = search_on_page(page, hostile_server, query, "emoji-text")
    assert first.locator("strong.answer").first.inner_text() == text[start:end]
    assert "🐐🐐" in first.locator("p.passage").inner_text()


def test_api_docs_render_with_the_network_cut_off(server, page):
    local = server.rstrip("/")
    blocked = []

    def only_local(route):
        if route.request.url.startswith(local):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    try:
        page.goto(f"{server}/docs")
        page.locator(".opblock").first.wait_for(timeout=30_000)
        summaries = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/search" in path for path in summaries) and any("/articles" in path for path in summaries)
    finally:
        page.unroute("**/*")
    assert blocked == []


# ---- The search box of an archive site (issue 13) ----

MAGNITOGORSK = "wn-e8d671d30811"  # "Magnitogorsk apartment building collapses after explosion, dozens dead"


def top_hit(server: str, **params) -> dict:
    return httpx.get(f"{server}/search", params=params, timeout=30).json()["results"][0]


def type_and_wait_for(page, server: str, text: str, article_id: str, mode: str = "hybrid"):
    """Type `text` into the box key by key (as a person does) and wait for `article_id` on top of
    the results for all of it (those for the first letters may come first)."""
    page.goto(f"{server}/?mode={mode}")
    page.locator("#q").press_sequentially(text, delay=30)
    page.wait_for_function(f"document.querySelector('#results').dataset.query === {text!r} && "
                           f"document.querySelector('#results li.result')?.dataset.id === '{article_id}'",
                           timeout=30_000)
    return page.locator("#results li.result").first


def test_a_partial_last_word_finds_the_article_with_the_word_marked(server, page, shots):
    hit = top_hit(server, q="Magnito", mode="hybrid")
    assert "title_terms" in hit, hit  # the page marks what the API says matched
    first = type_and_wait_for(page, server, "Magnito", MAGNITOGORSK)
    assert page.locator("#q").input_value() == "Magnito"  # no space typed: the word is still being typed
    assert first.locator("h2 mark.term").first.inner_text() == "Magnitogorsk"
    assert "q=Magnito" in page.url
    page.screenshot(path=str(shots / "partial-word.png"))
    # A space ends the word: the page sends it, and "Magnito" alone is no word of the archive.
    page.locator("#mode").select_option("lexical")
    first.wait_for(timeout=30_000)
    page.locator("#q").press("End")
    page.locator("#q").press(" ")
    page.wait_for_function("document.querySelector('#results').dataset.query === 'Magnito '", timeout=30_000)
    assert page.locator("#nothing").is_visible()
    assert page.locator("#results li").count() == 0


def test_a_typo_finds_the_article_with_the_right_word_marked(server, page, shots):
    hit = top_hit(server, q="building collapse in Magnitogrosk")
    assert "terms" in hit["passages"][0], hit
    first = type_and_wait_for(page, server, "building collapse in Magnitogrosk", MAGNITOGORSK)
    marked = first.locator("mark.term").all_inner_texts()
    assert "Magnitogorsk" in marked  # the word as written in the article, found through the typo
    page.screenshot(path=str(shots / "typo.png"))


def test_nothing_found_is_said_and_offers_to_drop_the_filters(server, page, shots):
    page.goto(server)
    page.locator("#date_from").fill("2030-01-01")
    page.locator("#q").fill("building collapse")
    page.locator("#q").press("Enter")
    nothing = page.locator("#nothing")
    nothing.wait_for(timeout=30_000)
    assert page.locator("#results li").count() == 0 and page.locator("#more").is_hidden()
    assert "building collapse" in nothing.inner_text() and "filters" in nothing.inner_text()
    assert page.locator("#status").inner_text().startswith("No matching articles")
    page.screenshot(path=str(shots / "nothing-found-filtered.png"))
    page.get_by_role("button", name="Search without filters").click()
    page.locator("#results li.result").first.wait_for(timeout=30_000)
    assert nothing.is_hidden() and page.locator("#date_from").input_value() == ""
    assert "date_from" not in page.url


def test_a_query_nothing_answers_says_nothing_found(server, page, shots):
    answer = httpx.get(f"{server}/search", params={"q": "zzzzqqqq"}, timeout=30).json()
    assert answer["results"] == [], answer  # no good match: the API answers nothing
    page.goto(server)
    page.locator("#q").press_sequentially("zzzzqqqq", delay=30)
    page.wait_for_function("document.querySelector('#results').dataset.query === 'zzzzqqqq'", timeout=30_000)
    assert page.locator("#nothing").is_visible()
    assert "zzzzqqqq" in page.locator("#nothing").inner_text()
    assert page.locator("#clear-filters").is_hidden()  # no filter to blame
    assert page.locator("#results li").count() == 0 and page.locator("#facets").is_hidden()
    page.screenshot(path=str(shots / "nothing-found.png"))


def test_a_suggestion_is_chosen_with_the_keyboard(server, page, shots):
    response = httpx.get(f"{server}/suggest", params={"q": "Magni", "k": 8}, timeout=30)
    assert response.status_code == 200, response.text
    first = response.json()["suggestions"][0]
    page.goto(server)
    page.locator("#q").press_sequentially("Magni", delay=30)
    options = page.locator("#suggestions[data-query=Magni] li[role=option]")  # not those for "Mag"
    options.first.wait_for(timeout=30_000)
    assert options.first.inner_text().startswith(first["text"])
    page.screenshot(path=str(shots / "suggestions.png"))
    page.keyboard.press("ArrowDown")
    assert options.first.get_attribute("aria-selected") == "true"
    assert page.locator("#q").get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    page.keyboard.press("Enter")
    if first["kind"] == "title":  # a title opens its article
        page.wait_for_url(re.compile(r"article="), timeout=30_000)
        page.locator("#article-title").wait_for(timeout=30_000)
        assert page.locator("#article-title").inner_text() == first["text"]
    else:  # a word completes the one being typed, and is searched for
        assert page.locator("#q").input_value().lower() == f"{first['text'].lower()} "
        page.locator("#results li.result").first.wait_for(timeout=30_000)
    assert page.locator("#suggestions").is_hidden()
    # Escape closes a list that is open, and leaves the box as it is.
    page.goto(server)
    page.locator("#q").press_sequentially("Magni", delay=30)
    options.first.wait_for(timeout=30_000)
    page.keyboard.press("Escape")
    assert page.locator("#suggestions").is_hidden() and page.locator("#q").input_value() == "Magni"


# One story told by two outlets over fifteen months, with authors and dates: facets, sorting, the
# article view's timeline and the widget have something to show.
STORY = [
    {"id": "dam-1", "title": "Cracks found in the Zorbaville dam", "published": "2020-03-02",
     "source": "Valley Herald", "author": "Ada Lind",
     "text": "Engineers found cracks in the Zorbaville dam on Monday. The reservoir behind the dam holds water for "
             "40,000 people. Officials said the dam is being watched around the clock."},
    {"id": "dam-2", "title": "Zorbaville evacuated as the dam weakens", "published": "2020-03-05",
     "source": "River Times", "author": "Ben Okafor",
     "text": "Residents below the Zorbaville dam were evacuated on Thursday after engineers said the cracks in the "
             "dam had widened. About 3,000 people spent the night in schools and sports halls."},
    {"id": "dam-3", "title": "Zorbaville dam repaired, residents return", "published": "2021-06-10",
     "source": "Valley Herald", "author": "Ada Lind",
     "text": "Repairs to the cracked Zorbaville dam are finished, fifteen months after the cracks were found, and "
             "the last residents evacuated from the valley have returned home."},
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def static_site(folder: Path):
    """Another origin: a plain HTTP server on a free port serving `folder`; yields its URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(folder, origin) of the site that embeds the widget."""
    folder = tmp_path_factory.mktemp("site")
    with static_site(folder) as url:
        yield folder, url


@pytest.fixture(scope="module")
def story_server(tmp_path_factory, sample_index, encoder, site):
    """The sample index with STORY added, served with the embedding site's origin allow-listed."""
    index = tmp_path_factory.mktemp("story") / "index"
    shutil.copytree(sample_index, index, ignore=shutil.ignore_patterns(".lock"))
    with IndexWriter(index, encoder=encoder) as writer:
        summary = writer.add(read_paths([write_jsonl(index.parent / "story.jsonl", STORY)]))
        reader = open_reader(index)
        assign_stories(reader, writer, summary.written)  # as `article-search index` does
        reader.close()
    with running_server(index, options=("--cors-origin", site[1])) as url:
        yield url


def shown(page) -> list[tuple[str, str]]:
    """(article id, date) of each result on the page."""
    return page.eval_on_selector_all("#results li.result", "items => items.map(li => "
                                     "[li.dataset.id, li.querySelector('.meta').textContent.split(' · ')[1] || ''])")


def search_for(page, url: str, query: str):
    page.goto(url)
    page.locator("#q").fill(query)
    page.locator("#q").press("Enter")
    page.locator("#results li.result").first.wait_for(timeout=30_000)


def test_sorting_by_date_orders_the_matching_articles(story_server, page, shots):
    search_for(page, story_server, "Zorbaville dam cracks")
    by_relevance = shown(page)
    assert {"dam-1", "dam-2", "dam-3"} <= {article for article, _ in by_relevance[:3]}
    for order, reverse in (("newest", True), ("oldest", False)):
        page.locator("#sort").select_option(order)
        page.wait_for_function(f"location.search.includes('sort={order}')", timeout=10_000)
        page.wait_for_function(f"document.querySelector('#status').textContent.includes('{order} first')", timeout=30_000)
        dates = [date for _, date in shown(page)]
        assert dates == sorted(dates, reverse=reverse) and len(set(dates)) > 1
        assert f"{order} first" in page.locator("#status").inner_text()
        page.screenshot(path=str(shots / f"sort-{order}.png"))
    page.locator("#sort").select_option("relevance")
    page.wait_for_function("!location.search.includes('sort=')", timeout=10_000)


def test_a_facet_click_narrows_the_results_and_the_counts_are_true(story_server, page, shots):
    hit = httpx.get(f"{story_server}/search", params={"q": "Zorbaville dam", "facets": "source"}, timeout=30).json()
    assert "facets" in hit, hit
    search_for(page, story_server, "Zorbaville dam")
    river = page.locator("#facets [data-field=source] .facet-value", has_text="River Times")
    river.wait_for(timeout=30_000)
    count = int(river.locator(".count").inner_text())
    assert count == 1
    page.screenshot(path=str(shots / "facets.png"))
    river.click()
    page.wait_for_function("location.search.includes('source=River+Times')", timeout=10_000)
    page.wait_for_function(f"document.querySelectorAll('#results li.result').length === {count}", timeout=30_000)
    assert [article for article, _ in shown(page)] == ["dam-2"]
    assert page.locator("#source").input_value() == "River Times"
    assert page.locator("#status").inner_text().startswith("1 matching article")
    assert river.get_attribute("aria-pressed") == "true"
    page.screenshot(path=str(shots / "facet-clicked.png"))

    year = page.locator("#facets [data-field=year] .facet-value", has_text="2021")
    river.click()  # a second click drops the source filter again
    year.wait_for(timeout=30_000)
    year.click()
    page.wait_for_function("location.search.includes('date_to=2021-12-31')", timeout=10_000)
    page.wait_for_function("[...document.querySelectorAll('#results li.result')].every(li => "
                           "li.querySelector('.meta').textContent.includes('2021-'))", timeout=30_000)
    assert page.locator("#date_from").input_value() == "2021-01-01"
    assert page.locator("#facets [data-field=author]").inner_text().count("Ada Lind") == 1


def test_the_article_view_shows_the_matched_passage_and_the_story_over_time(story_server, page, shots):
    search_for(page, story_server, "Zorbaville residents evacuated")
    item = page.locator("#results li.result[data-id=dam-2]")
    passage = top_hit(story_server, q="Zorbaville residents evacuated")["passages"][0]
    item.locator("h2 a").click()
    page.wait_for_url(re.compile(r"article=dam-2&start=\d+&end=\d+"), timeout=10_000)
    page.locator("#article-text mark.match").wait_for(timeout=30_000)
    article = httpx.get(f"{story_server}/articles/dam-2", timeout=30).json()
    assert page.locator("#article-title").inner_text() == article["title"]
    assert page.locator("#article-text").inner_text() == article["text"]
    assert page.locator("#article-text mark.match").inner_text() == article["text"][passage["start"]:passage["end"]]
    page.locator("#timeline li.current").wait_for(timeout=30_000)
    page.locator("#timeline li:not(.current)").first.wait_for(timeout=30_000)
    timeline = page.eval_on_selector_all("#timeline li[data-id]", "items => items.map(li => "
                                         "[li.dataset.id, li.querySelector('time')?.getAttribute('datetime') || ''])")
    ids = [article for article, _ in timeline]
    dates = [date for _, date in timeline]
    assert dates == sorted(dates)  # every related article here has a date: the story in order
    assert ids.index("dam-1") < ids.index("dam-2") < ids.index("dam-3")
    assert page.locator("#timeline li.current").get_attribute("data-id") == "dam-2"
    page.screenshot(path=str(shots / "article-view.png"), full_page=True)
    page.locator("#timeline li[data-id=dam-3] a").click()
    page.wait_for_url(re.compile(r"article=dam-3"), timeout=10_000)
    page.wait_for_function("document.querySelector('#article-title').textContent.includes('repaired')",
                           timeout=30_000)
    page.locator("#back").click()
    page.wait_for_url(re.compile(r"/\?q=Zorbaville"), timeout=10_000)
    page.locator("#results li.result").first.wait_for(timeout=30_000)


def test_the_timeline_of_an_article_no_other_report_covers_says_so(story_server, page, shots):
    """The Magnitogorsk collapse is the archive's only report of it: its timeline is itself alone,
    not the nearest other stories."""
    page.goto(f"{story_server}/?article=wn-e8d671d30811")
    page.locator("#timeline li.none").wait_for(timeout=30_000)
    assert page.eval_on_selector_all("#timeline li[data-id]", "items => items.map(li => li.dataset.id)") == \
        ["wn-e8d671d30811"]
    assert page.locator("#timeline li.current").get_attribute("data-id") == "wn-e8d671d30811"
    assert page.locator("#timeline li.none").inner_text() == "No other coverage yet."
    page.screenshot(path=str(shots / "article-view-alone.png"), full_page=True)


# The embedding site's page: styles that would wreck a widget drawn in the page itself, and an
# input and list of its own that the widget's styles must leave alone.
HOST_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Valley news</title>
<style>
  * {{ font-family: serif; }}
  input {{ display: none; }}
  li {{ color: rgb(255, 0, 0); font-size: 30px; }}
  mark, strong {{ background: rgb(0, 0, 255); }}
</style></head>
<body><h1>Valley news</h1><input id="host-input"><ol><li id="host-item">A story of the site's own</li></ol>
<div id="article-search"></div>
<script src="{api}/widget.js" data-k="3" data-placeholder="Search the valley archive"></script>
</body></html>"""


def test_the_widget_searches_from_another_origin_without_touching_the_site(story_server, site, browser, shots,
                                                                          tmp_path):
    folder, origin = site
    (folder / "embed.html").write_text(HOST_PAGE.format(api=story_server), encoding="utf-8")
    page = browser.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{origin}/embed.html")
        box = page.locator("#article-search input")  # Playwright's CSS locators go into open shadow roots
        box.wait_for(timeout=30_000)
        assert box.get_attribute("placeholder") == "Search the valley archive"
        box.press_sequentially("Zorbaville dam", delay=30)
        results = page.locator("#article-search ol[data-query='Zorbaville dam'] li.result")
        results.first.wait_for(timeout=30_000)
        assert results.count() == 3
        assert {results.nth(n).get_attribute("data-id") for n in range(3)} == {"dam-1", "dam-2", "dam-3"}
        link = results.first.locator("a.title").get_attribute("href")
        assert link.startswith(f"{story_server}/?article=dam-")
        # The widget's look is its own; the site's look is untouched by it.
        style = "(node, name) => getComputedStyle(node)[name]"
        assert box.is_visible()
        assert results.first.evaluate(style, "color") != "rgb(255, 0, 0)"
        assert "serif" != results.first.evaluate(style, "fontFamily")
        assert page.locator("#host-item").evaluate(style, "color") == "rgb(255, 0, 0)"
        assert page.locator("#host-input").is_hidden()
        assert page.evaluate("document.styleSheets.length") == 1  # only the site's own
        box.press("Escape")  # the suggestion list, open over the results, closes
        assert page.locator("#article-search .suggestions").is_hidden()
        page.screenshot(path=str(shots / "widget.png"), full_page=True)
        # Everything came from the site or the archive: no CDN, nothing else.
        assert requested and all(url.startswith((origin, story_server)) for url in requested)
        assert any(url.startswith(f"{story_server}/search?") for url in requested)
    finally:
        page.close()

    # A site that is not on the allow-list gets no answers, and the widget says so.
    other = tmp_path / "other"
    other.mkdir()
    (other / "embed.html").write_text(HOST_PAGE.format(api=story_server), encoding="utf-8")
    with static_site(other) as stranger:
        page = browser.new_page()
        try:
            page.goto(f"{stranger}/embed.html")
            status = page.locator("#article-search .status")
            page.wait_for_function("document.querySelector('#article-search').shadowRoot"
                                   ".querySelector('.status').textContent.includes('unavailable')", timeout=30_000)
            assert "--cors-origin" in status.inner_text()
        finally:
            page.close()


def test_the_page_shows_the_total_and_year_counts_that_a_click_returns(story_server, page, shots):
    search_for(page, story_server, "Zorbaville dam")
    page.wait_for_function("document.querySelector('#status').textContent.includes('matching')", timeout=30_000)
    # The three reports match, nothing else pads the list, and the status line says how many.
    assert sorted(article for article, _ in shown(page)) == ["dam-1", "dam-2", "dam-3"]
    assert page.locator("#status").inner_text().startswith("3 matching articles")
    years = page.locator("#facets [data-field=year] .facet-value")
    years.first.wait_for(timeout=30_000)
    counts = {button.get_attribute("data-value"): int(button.locator(".count").inner_text()) for button in years.all()}
    assert counts == {"2020": 2, "2021": 1}
    page.locator("#facets [data-field=year] .facet-value[data-value='2020']").click()
    page.wait_for_function("location.search.includes('date_to=2020-12-31')", timeout=10_000)
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('2 matching articles')",
                           timeout=30_000)
    assert sorted(article for article, _ in shown(page)) == ["dam-1", "dam-2"]
    page.screenshot(path=str(shots / "total-and-year-click.png"))
