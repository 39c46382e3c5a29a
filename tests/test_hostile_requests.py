"""Hostile requests from outside: ids that URLs cannot name, and clients that send slowly."""

from __future__ import annotations

import socket
import time

import pytest
from fastapi.testclient import TestClient

from conftest import running_server
from search_api.app import create_app

KEY = "hostile-key"
ARTICLE = "wn-c352228c48de"  # in the sample index


@pytest.fixture
def client(writable_index, encoder):
    with TestClient(create_app(writable_index, encoder=encoder, api_key=KEY)) as client:
        yield client


def test_an_id_with_a_control_character_is_refused_and_a_newline_names_no_article(client):
    headers = {"Authorization": f"Bearer {KEY}"}
    for article_id in ("evil\nid", "evil-id\n", "tab\there", "nul\x00"):
        response = client.post("/articles", json={"id": article_id, "text": "A harbour reopened."}, headers=headers)
        assert response.status_code == 422, (article_id, response.text)
        assert "id" in response.json()["detail"] and "control character" in response.json()["detail"]
    assert client.get(f"/articles/{ARTICLE}").status_code == 200
    # "$" in a route's pattern matches before a trailing newline: the path must match whole.
    for path in (f"/articles/{ARTICLE}%0A", f"/articles/{ARTICLE}%0A/related", f"/articles/{ARTICLE}/related%0A"):
        assert client.get(path).status_code == 404, path
    assert client.delete(f"/articles/{ARTICLE}%0A", headers=headers).status_code == 404
    assert client.get(f"/articles/{ARTICLE}").status_code == 200
