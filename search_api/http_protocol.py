"""The HTTP/1.1 protocol that `article-search serve` runs: uvicorn's h11 protocol, with a deadline
for receiving each request.

uvicorn has no timeout on reading a request: its keep-alive timeout covers only the idle time
between requests, and every byte received resets it (uvicorn issue #157 lists
--timeout-request-start and --timeout-request-complete as not done). A client that sends one
header line a second, or a body a byte a second, held its connection and a file descriptor for as
long as it liked (issue 21: 300 such connections stayed open 45 s, fds 25 -> 326). Here a request
must arrive whole (request line, headers and body) within the request timeout of its first byte,
or of the connection's opening; otherwise the connection is closed. The deadline ends once the
request is received, so a slow answer (a large write, a deep search) is never cut.
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from indexer.settings import Settings

# Seconds a client has to send one whole request. A 16 MB body (the largest accepted) at 1 MB/s
# takes 16 s; a browser or an HTTP client sends a search in milliseconds.
REQUEST_SECONDS = 30.0


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that closes a connection whose request is not received whole within
    the request timeout ($ARTICLE_SEARCH_REQUEST_TIMEOUT, else REQUEST_SECONDS)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # `serve --request-timeout`, handed to every worker process through its environment.
        timeout = Settings.from_environment().request_timeout
        self.request_seconds = REQUEST_SECONDS if timeout is None else timeout
        self._deadline = None

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing is held no longer than a slow one

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # received whole (or the connection is ending)

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            client = "%s:%d" % self.client if self.client else "a client"
            self.logger.warning("closing the connection of %s: its request was not received whole within %g s",
                                client, self.request_seconds)
            self.transport.close()
