from indexer.cleaning import clean_text
from indexer.readers import read_paths

from conftest import FIXTURES


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
