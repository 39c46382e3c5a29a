import json

from indexer.cleaning import clean_text
from indexer.inputs import read_paths

from conftest import FIXTURES, SAMPLE


def scraped():
    [article] = list(read_paths([FIXTURES / "scraped_article.txt"]))
    return article, clean_text(article.text)


def test_boilerplate_is_removed_from_head_and_tail():
    _, cleaned = scraped()
    for line in ("Share on Facebook", "Story continues", "Read the full article here", "You may also like",
                 "Leave a Comment", "Subscribe to our newsletter", "All rights reserved", "Distributed by",
                 "© 2024"):
        assert line not in cleaned.text
    assert cleaned.text.startswith("The city's harbour bridge will close")
    assert cleaned.text.endswith("most of them asking for a later start date.")


def test_content_that_mentions_copyright_or_comments_is_kept():
    article, cleaned = scraped()
    assert "Copyright lawyers for the original designers have asked to review the new cable layout" in cleaned.text
    assert "Readers left more than 300 comments" in cleaned.text
    # Every paragraph of the story is there, word for word.
    for paragraph in ("Around 40,000 vehicles cross the bridge every day.",
                      "a temporary ferry service will run every fifteen minutes during the morning and evening peaks.",
                      "several cables had lost more than a fifth of their strength."):
        assert paragraph in cleaned.text


def test_byline_becomes_author():
    _, cleaned = scraped()
    assert cleaned.author == "Jane Doe"
    assert "By Jane Doe" not in cleaned.text


def test_first_sentence_starting_with_by_is_not_a_byline():
    cleaned = clean_text("By Monday, officials had evacuated 300 people from the valley.\n\nMore followed.")
    assert cleaned.author == ""
    assert cleaned.text.startswith("By Monday, officials had evacuated")


def test_dateline_and_control_characters_are_removed():
    cleaned = clean_text("Friday, January 4, 2019 \n\nThe vote\x00 passed.\r\n\r\n\r\n\r\nIt was close.")
    assert cleaned.text == "The vote passed.\n\nIt was close."


# The tail of a scraped Bloomberg article, exactly as the issue quotes it.
BLOOMBERG_TAIL = [
    "©2024 Bloomberg L.P. Visit Distributed by Tribune Content Agency, LLC.",
    "Story Continues",
    "© Copyright 2024 Bloomberg News. All rights reserved. This material may not be published, broadcast, "
    "rewritten or redistributed.",
    "Read the full article here",
    "You may also like",
    "Leave a Comment",
]
STORY = ["Copper prices rose for a third day as warehouses in Shanghai reported lower stocks.",
         "Copyright lawyers for the miners said the dispute over the new smelter would not delay shipments, "
         "and traders expect the rally to last into the spring as demand from grid builders grows."]


def test_a_long_copyright_notice_and_the_tail_around_it_are_removed_from_txt_and_html(tmp_path):
    (tmp_path / "copper.txt").write_text("Copper rallies\n" + "\n\n".join(STORY + BLOOMBERG_TAIL), encoding="utf-8")
    paragraphs = "".join(f"<p>{line}</p>\n" for line in STORY + BLOOMBERG_TAIL)
    (tmp_path / "copper.html").write_text(f"<html><head><title>Copper rallies</title></head><body><article>"
                                          f"<h1>Copper rallies</h1>\n{paragraphs}</article></body></html>",
                                          encoding="utf-8")
    articles = list(read_paths([tmp_path]))
    assert len(articles) == 2
    for article in articles:
        cleaned = clean_text(article.text).text
        assert "rights reserved" not in cleaned.lower() and "©" not in cleaned, article.origin
        assert cleaned == "\n\n".join(STORY) or cleaned == "\n".join(STORY), (article.origin, cleaned)


def test_one_unknown_line_in_the_tail_does_not_stop_stripping_and_the_last_paragraph_stays():
    story = "The ferry will run hourly from May.\n\nThe operator said fares would not change."
    tail = ["Leave a Comment", "The Morning Brief", "© 2024 Harbour Media. All rights reserved.",
            "More from Harbour Media:", "Pier reopens after storm", "Council backs new marina"]
    assert clean_text(story + "\n\n" + "\n\n".join(tail)).text == story
    # A story whose last line is a sentence keeps it, even between notices.
    ending = "Copyright 2024 Harbour Media.\n\nThe bridge reopens on Monday.\n\nAll rights reserved."
    assert clean_text(story + "\n\n" + ending).text.endswith("The bridge reopens on Monday.")


def test_page_furniture_at_the_head_is_removed_and_the_byline_after_it_found():
    cleaned = clean_text("Skip to main content\n\nGazette > News > World\n\nListen to this article\n\n4 min read\n\n"
                         "By Anna Kowalski\n\nThe ferry will run hourly from May.")
    assert cleaned.text == "The ferry will run hourly from May." and cleaned.author == "Anna Kowalski"


def test_the_samples_photo_credits_and_review_banners_are_removed():
    texts = {}
    with open(SAMPLE, encoding="utf-8") as sample:
        for line in sample:
            record = json.loads(line)
            texts[record["id"]] = clean_text(record["text"]).text
    assert [article_id for article_id, text in texts.items() if "Image:" in text] == []
    assert [article_id for article_id, text in texts.items() if "pre-publication review" in text
            or "talk page history" in text] == []
    # The captions go with their credits; the story around them stays.
    assert texts["wn-fa626d79c339"].startswith("The roof of Notre Dame cathedral in French capital Paris caught fire")
    assert clean_text("The march was peaceful.\n\nPlacards. Image: John Lubbock (flickr).\n\nJorgensen in July "
                      "2020.Image: Jo Jorgensen for President.\n\nFire at the cathedral (Photo by Jane Doe/AFP)\n\n"
                      "Photo: Reuters\n\nHe posted a photo: a cat on the roof, she said.").text == \
        "The march was peaceful.\n\nHe posted a photo: a cat on the roof, she said."


def test_a_dateline_with_its_place_or_its_time_is_removed_at_the_head_and_a_story_that_opens_with_a_date_stays():
    story = "The council met.\n\nIt voted on March 3, 2004 at 10:30 to close the line."
    for dateline in ("Oslo, September 22, 2004", "November 7, 2004 at 11:53 AM", "LONDON, 3 March 2004, 10:30 GMT"):
        assert clean_text(f"{dateline}\n\n{story}").text == story
    opening = "March 3, 2004 was the day the line closed.\n\nThe council met."
    assert clean_text(opening).text == opening


def test_one_unknown_short_line_at_the_head_does_not_shield_the_dateline_under_it():
    story = "The council met.\n\nIt voted to close the line."
    learned = {"Gazette / Sport"}.__contains__  # the outlet's head line, learned
    raw = f"Gazette / Sport\n\nJo Ode reports\n\nNovember 7, 2004 at 11:53 AM\n\n{story}"
    assert clean_text(raw, learned).text == story
    # With nothing removed above it, a short first line is the story's (a heading), and so is
    # what follows it.
    heading = f"Sixways\n\nNovember 7, 2004 at 11:53 AM\n\n{story}"
    assert clean_text(heading, learned).text == heading


def test_a_wire_dateline_alone_on_its_line_is_removed_at_the_head_and_a_table_line_in_brackets_stays():
    story = "The council met.\n\nIt voted to close the line."
    for dateline in ("TORONTO (Reuters) -", "NEW YORK (AP) —", "OSLO (Stonebridge Daily)"):
        assert clean_text(f"{dateline}\n{story}").text == story
    table = f"WINNERS (six times)\n{story}"
    assert clean_text(table).text == table
