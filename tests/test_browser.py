"""The search page in a real browser: Debian's chromium driven by Playwright, against a real
`article-search serve` process over the sample index."""

import os
import shutil

import pytest

from conftest import running_server

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
