"""Hostile requests from outside: ids that URLs cannot name, and clients that send slowly."""

from __future__ import annotations

import socket

import httpx
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


def _closed_within(url: str, first: bytes, trickle, sends: int) -> int | None:
    """Open a connection, send `first`, then one `trickle(n)` a second: the number of sends after
    which the server had closed the connection, or None if it was still open after `sends`."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(first)
        for number in range(sends):
            sock.settimeout(1)
            try:
                if sock.recv(1024) == b"":
                    return number
            except socket.timeout:
                pass  # nothing said yet: the connection is open
            except ConnectionError:
                return number
            try:
                sock.sendall(trickle(number))
            except ConnectionError:
                return number
    return None


def test_a_client_sending_a_header_line_or_a_body_byte_a_second_is_cut_off(sample_index):
    with running_server(sample_index, options=("--request-timeout", "2")) as url:
        headers = _closed_within(url, b"GET /search?q=fire HTTP/1.1\r\nHost: x\r\n",
                                 lambda n: f"X-Slow-{n}: {n}\r\n".encode(), 40)
        body = _closed_within(url, b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 100\r\n\r\n", lambda n: b" ", 40)
        # A request sent at once is answered as ever on a new connection.
        assert httpx.get(f"{url}/search", params={"q": "fire", "k": 1}, timeout=60).status_code == 200
    assert headers is not None and body is not None, (headers, body)

