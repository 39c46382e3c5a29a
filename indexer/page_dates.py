"""The publication date of an HTML page, taken only from what the page says about itself.

`page_date(html, text)` looks, in this order, at:
1. meta tags naming the publication date (`article:published_time`, `og:published_time`,
   `dc.date`, `dcterms.issued`, `itemprop="datePublished"`, ...; PUBLISHED_META);
2. JSON-LD `datePublished` of the page's own objects (top level, `@graph`, `mainEntity`);
3. a `<time datetime>` marked as the publication (`pubdate`, `itemprop="datePublished"`), else the
   first one outside the story's paragraphs, lists, asides, navigation and footer;
4. a dateline at the start of the text: "Friday, January 4, 2019", "4 January 2019 -",
   "WASHINGTON, Jan 4, 2019 (Reuters) -".
and gives "YYYY-MM-DD", or "" when none of these holds a valid date. Nothing else is read: not a
© year, not a date the story mentions, not a modification date, and not a dateline without a
year ("WASHINGTON, Jan 4 (Reuters) -": its year would be a guess). No date is better than a wrong
one. trafilatura's own date (htmldate) is not used: it falls back to any date in the page, which
made "©2024" a publication date of 2024-01-01 and "July 2000" in a story 2000-01-01.
"""

from __future__ import annotations

import json
import re
from datetime import date

from .article import normalize_date

# Meta names (name=, property= or itemprop=, lower-cased) that give the publication date.
# Modification dates (article:modified_time, dateModified) are not publication dates.
PUBLISHED_META = {
    "article:published_time", "article:published", "article.published", "article:post_date",
    "og:published_time", "og:article:published_time", "published_time", "publish_date", "publish-date",
    "publishdate", "pubdate", "datepublished", "date_published", "publication_date", "original-publish-date",
    "date", "dc.date", "dc:date", "dc.date.issued", "dc.date.created", "dc.date.publication", "dcterms.date",
    "dcterms.issued", "dcterms.created", "citation_publication_date", "citation_date", "sailthru.date",
    "parsely-pub-date", "displaydate", "article_date_original",
}
# Where a JSON-LD object holds the page's own objects (not the pages it links to).
_LD_KEYS = ("@graph", "mainEntity")
# A <time> inside these is part of the story or of a list of other pages, not the page's date.
_NOT_THE_PAGE = "ancestor::p or ancestor::li or ancestor::aside or ancestor::nav or ancestor::footer " \
                "or ancestor::blockquote or ancestor::figure or ancestor::table"

_MONTHS = {name: number for number, names in enumerate(
    [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
     ("november", "nov"), ("december", "dec")], start=1) for name in names}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
# A written date: "Friday, January 4, 2019", "Jan. 4 2019", "4 January 2019", "2019-01-04".
_MONTH_FIRST = re.compile(rf"{_WEEKDAY}{_MONTH}\s+{_DAY},?\s+(\d{{4}})$", re.IGNORECASE)
_DAY_FIRST = re.compile(rf"{_WEEKDAY}{_DAY}\s+{_MONTH},?\s+(\d{{4}})$", re.IGNORECASE)
_DATE = (rf"{_WEEKDAY}(?:[a-z]+\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
         rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+[a-z]+\.?,?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})")
# A date alone on the first line, or followed by a time or a dash, bar or colon (not a comma: "May
# 4, 2019, was the day..." opens a story, it does not date it); or a place in capitals,
# a comma, the date, an agency in brackets and a dash ("WASHINGTON, Jan 4, 2019 (Reuters) -").
_DATELINE = re.compile(
    rf"^\s*(?:(?P<alone>{_DATE})\s*(?:$|[-–—|:]|\d{{1,2}}[:.]\d{{2}})"
    rf"|(?-i:[A-Z][A-Z.'/ -]*(?:,\s*[A-Z][A-Za-z.' ]*)?),\s+(?P<placed>{_DATE})\s*(?:\([^)]{{1,40}}\)\s*)?[-–—])",
    re.IGNORECASE)


def page_date(tree, text: str) -> str:
    """The publication date ("YYYY-MM-DD") of the page parsed as lxml `tree`, whose main text is
    `text` (title line removed), or "" when the page does not give one; see the module doc."""
    for found in (_meta_dates(tree), _json_ld_dates(tree), _time_dates(tree), [_dateline(text)]):
        for value in found:
            if day := _iso_day(value):
                return day
    return ""


def _iso_day(value: str | None) -> str:
    """`value` as "YYYY-MM-DD" when it is a valid date (a timestamp keeps its day), else ""."""
    if not value:
        return ""
    day = normalize_date(value.strip())
    try:
        return date.fromisoformat(day).isoformat()
    except ValueError:
        return ""


def _meta_dates(tree) -> list[str]:
    """The values of meta tags (and itemprop elements) that name the publication date, in page order."""
    return [element.get("content") or element.get("datetime")
            or ("" if element.tag == "meta" else element.text_content())
            for element in tree.iter("meta", "time", "span", "div", "abbr")
            if (element.tag == "meta" or element.get("itemprop"))
            and any((element.get(attribute) or "").strip().lower() in PUBLISHED_META
                    for attribute in ("name", "property", "itemprop"))]


def _json_ld_dates(tree) -> list[str]:
    """`datePublished` of the JSON-LD objects that are the page's own (see _LD_KEYS), in page order."""
    dates = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        objects = data if isinstance(data, list) else [data]
        while objects:
            item = objects.pop(0)
            if isinstance(item, list):
                objects.extend(item)
            elif isinstance(item, dict):
                if isinstance(item.get("datePublished"), str):
                    dates.append(item["datePublished"])
                objects.extend(item[key] for key in _LD_KEYS if isinstance(item.get(key), (dict, list)))
    return dates


def _time_dates(tree) -> list[str]:
    """`datetime` of the <time> marked as the publication, then of the first outside _NOT_THE_PAGE."""
    marked = tree.xpath('//time[@datetime][@pubdate or @itemprop="datePublished"]')
    first = tree.xpath(f"(//time[@datetime][not({_NOT_THE_PAGE})])[1]")
    return [element.get("datetime") for element in marked + first]


def _dateline(text: str) -> str:
    """The date of a dateline that opens `text`, as "YYYY-MM-DD", or ""."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    match = _DATELINE.match(first_line[:200])
    if not match:
        return ""
    written = (match.group("alone") or match.group("placed")).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", written):
        return written
    if parts := _MONTH_FIRST.match(written):
        month, day, year = parts.groups()
    elif parts := _DAY_FIRST.match(written):
        day, month, year = parts.groups()
    else:
        return ""  # a word that is not a month ("Room 4, 2019")
    try:
        return date(int(year), _MONTHS[month.lower()], int(day)).isoformat()
    except ValueError:  # "February 30, 2019"
        return ""
