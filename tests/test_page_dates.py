"""An HTML page's `published` date comes from the page's own metadata or dateline, or is empty:
never a © year, a date the story mentions, or a modification date (issue 23)."""

from pathlib import Path

import pytest

from indexer.article import Article
from indexer.inputs import read_document, read_paths
from indexer.writer import IndexWriter
from search_api.searcher import Searcher

from conftest import FIXTURES, write_jsonl

SEED = (FIXTURES / "page.html").read_text(encoding="utf-8")
SEED_DATE = '<meta property="article:published_time" content="2024-02-20T08:30:00Z">\n'
SEED_COPYRIGHT = "<footer>Copyright 2024 Island Times. All rights reserved.</footer>\n"
STORY = ("<p>The council voted on Tuesday to rebuild the old harbour wall, which was last repaired in July 2000 "
         "after a storm on 12 March 1999 broke through it.</p>"
         "<p>Work starts next spring and should take two years, the council said in a statement.</p>"
         "<p>Fishermen, who have asked for the repair since 2015, welcomed the decision.</p>")


def page(head: str = "", body_top: str = "", after: str = "", url: str = "https://coast.example/harbour") -> str:
    """A news page: `head` inside <head>, `body_top` before the story's paragraphs, `after` after
    the article (asides, footers)."""
    return (f"<!DOCTYPE html><html><head><title>Council votes to rebuild harbour wall</title>"
            f'<link rel="canonical" href="{url}">{head}</head><body>'
            f"<nav><a href='/'>Home</a> | <a href='/news'>News</a></nav>"
            f"<article><h1>Council votes to rebuild harbour wall</h1>{body_top}{STORY}</article>{after}"
            f"</body></html>")


def published(html: str) -> str:
    [article] = [item for item in read_document(Path("page.html"), html.encode()) if isinstance(item, Article)]
    return article.published


def test_the_seed_page_gets_no_invented_date_with_or_without_its_copyright_lines():
    assert published(SEED) == "2024-02-20"
    undated = SEED.replace(SEED_DATE, "")
    assert undated != SEED and published(undated) == ""  # was 2024-01-01, from "Copyright 2024"
    assert published(undated.replace("Copyright 2024", "©2024")) == ""
    without_copyright = undated.replace(SEED_COPYRIGHT, "")
    assert without_copyright != undated and published(without_copyright) == ""
    mentions = without_copyright.replace("before dawn on Tuesday", "before dawn on Tuesday, its first since July 2000")
    assert published(mentions) == ""  # was 2000-01-01, from "July 2000" in the story


DATED = {  # a page with its own date in metadata or a dateline, and that date
    "article:published_time": (page('<meta property="article:published_time" content="2019-01-04T09:15:00+01:00">'
                                     '<meta property="article:modified_time" content="2019-02-10T10:00:00Z">'),
                               "2019-01-04"),
    "og:published_time": (page('<meta property="og:published_time" content="2020-03-03">'), "2020-03-03"),
    "dc.date": (page('<meta name="DC.date" content="2018-11-30">'), "2018-11-30"),
    "dcterms.issued": (page('<meta name="dcterms.issued" content="2017-06-05T12:00:00Z">'), "2017-06-05"),
    "itemprop datePublished": (page(body_top='<span itemprop="datePublished" content="2016-04-01">1 April 2016</span>'),
                               "2016-04-01"),
    "JSON-LD": (page('<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
                     '"headline": "Council votes", "datePublished": "2021-05-06T08:00:00Z", '
                     '"dateModified": "2021-06-01T08:00:00Z"}</script>'), "2021-05-06"),
    "JSON-LD @graph": (page('<script type="application/ld+json">{"@context": "https://schema.org", "@graph": ['
                            '{"@type": "WebSite", "name": "Coast News"}, {"@type": "NewsArticle", '
                            '"datePublished": "2022-07-08"}]}</script>'), "2022-07-08"),
    "time pubdate": (page(body_top='<time datetime="2015-09-10T07:00:00Z" pubdate>10 September 2015</time>',
                          after='<aside><ul><li><time datetime="2023-01-01">Other story</time></li></ul></aside>'),
                     "2015-09-10"),
    "time in the header": (page(body_top='<header><time datetime="2014-02-03">3 February 2014</time></header>'),
                           "2014-02-03"),
    "weekday dateline": (page(body_top="<p>Friday, January 4, 2019</p>"), "2019-01-04"),
    "place dateline": (page(body_top="<p>WASHINGTON, Jan 4, 2019 (Reuters) - The harbour wall of the capital's "
                                     "marina will be rebuilt as well, officials said.</p>"), "2019-01-04"),
}

UNDATED = {  # a page that does not give its own date: every one must get ""
    "nothing": page(),
    "© line": page(after="<footer>© 2024 Coast News. All rights reserved.</footer>"),
    "©year": page(after="<footer>©2024 Coast News</footer>"),
    "copyright with a full date": page(after="<footer>Copyright January 1, 2024 Coast News</footer>"),
    "only a modification date": page('<meta property="article:modified_time" content="2019-02-10T10:00:00Z">'
                                     '<script type="application/ld+json">{"@type": "NewsArticle", '
                                     '"dateModified": "2019-02-10"}</script>'),
    "dates in the story": page(body_top="<p>On 4 January 2019 the harbour wall cracked again.</p>"),
    "a time in the story": page(body_top='<p>The wall cracked on <time datetime="2019-01-04">4 January 2019</time>.'
                                         '</p>'),
    "dates of other stories": page(after='<aside><h2>Most read</h2><ul><li><time datetime="2023-05-01">1 May</time> '
                                         'Storm closes port</li></ul></aside>'
                                         '<footer>Updated <time datetime="2023-06-01">June 2023</time></footer>'),
    "a yearless dateline": page(body_top="<p>WASHINGTON, Jan 4 (Reuters) - The harbour wall of the capital's marina "
                                         "will be rebuilt as well, officials said.</p>"),
    "a story opening with a date": page(body_top="<p>January 4, 2019, was the day the harbour wall cracked.</p>"),
    "a meta date that is no date": page('<meta property="article:published_time" content="yesterday">'),
    "a date in the URL": page(url="https://coast.example/2019/01/04/harbour"),
    "a related article's JSON-LD": page('<script type="application/ld+json">{"@type": "WebPage", "relatedLink": '
                                        '{"@type": "NewsArticle", "datePublished": "2012-01-01"}}</script>'),
}


@pytest.mark.parametrize("name", DATED)
def test_a_page_with_its_own_date_gets_that_date(name):
    html, day = DATED[name]
    assert published(html) == day


@pytest.mark.parametrize("name", UNDATED)
def test_a_page_without_its_own_date_gets_none(name):
    assert published(UNDATED[name]) == ""


def test_undated_articles_sort_last_and_no_date_filter_passes_them(tmp_path, encoder):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "undated.html").write_text(UNDATED["© line"], encoding="utf-8")
    write_jsonl(tmp_path / "in" / "dated.jsonl", [
        {"id": "old", "published": "2010-05-01", "title": "Harbour wall damaged by storm",
         "text": "A storm broke through the old harbour wall, and the council promised to repair it soon."},
        {"id": "new", "published": "2020-05-01", "title": "Harbour wall repair approved",
         "text": "The council approved the repair of the harbour wall after years of requests by fishermen."}])
    with IndexWriter(tmp_path / "index", encoder=encoder) as writer:
        summary = writer.add(read_paths([tmp_path / "in"]))
    assert summary.indexed == 3 and not summary.problems
    searcher = Searcher(tmp_path / "index", encoder=encoder)
    for mode in ("hybrid", "dense", "lexical"):
        query = {"query": "harbour wall council repair", "k": 10, "mode": mode, "min_confidence": 0}
        newest = [hit.published for hit in searcher.search(**query, sort="newest").results]
        oldest = [hit.published for hit in searcher.search(**query, sort="oldest").results]
        assert newest == ["2020-05-01", "2010-05-01", ""] and oldest == ["2010-05-01", "2020-05-01", ""], mode
        since = searcher.search(**query, date_from="2000-01-01").results
        until = searcher.search(**query, date_to="2100-01-01").results
        assert sorted(hit.published for hit in since) == sorted(hit.published for hit in until) == \
            ["2010-05-01", "2020-05-01"], mode
