"""The search page in a real browser: Debian's chromium driven by Playwright, against a real
`article-search serve` process over the sample index."""

import os
import shutil

import httpx
import pytest

from conftest import running_server, write_jsonl
from indexer.readers import read_paths
from indexer.writer import IndexWriter

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(sample_index):
    with running_server(sample_index) as url:
        yield url


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed: run scripts/install-test-deps.sh (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        yield page
        browser.close()


def test_typing_a_question_shows_the_right_article_with_the_answer_bold(server, page, tmp_path_factory):
    page.goto(server)
    page.locator("#q").press_sequentially("Which Iranian airline was banned from flying to Germany?", delay=10)
    first = page.locator("#results li.result").first
    first.wait_for(timeout=30_000)
    page.wait_for_function("document.querySelector('#results li.result')?.dataset.id === 'wn-c352228c48de'",
                           timeout=30_000)
    assert "Mahan Air" in first.locator("h2").inner_text()
    answer = first.locator("strong.answer").first
    assert answer.is_visible() and len(answer.inner_text()) > 10
    page.screenshot(path=str(tmp_path_factory.mktemp("shots") / "search.png"))

    first.get_by_role("button", name="Related coverage").click()
    related = first.locator(".related li a")
    related.first.wait_for(timeout=30_000)
    assert related.count() == 5
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
    assert first.locator("h2 a").count() == 0  # shown as text
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
