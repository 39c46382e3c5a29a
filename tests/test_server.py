"""The real server process: concurrent clients, and an index updated on disk while it serves."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from conftest import LLAMA, running_server, write_jsonl


def test_200_concurrent_searches_from_20_clients_all_succeed(sample_index):
    queries = ["gas explosion", "Speaker of the House", "escape room", "term limits", "Notre Dame",
               "Facebook records", "same-sex marriage Taiwan", "zebra stripes", "Doris Day", "Mahan Air"]
    with running_server(sample_index) as url:
        def client(number):
            with httpx.Client(base_url=url, timeout=60) as http:
                return [http.get("/search", params={"q": queries[(number + i) % 10], "k": 5}).status_code
                        for i in range(10)]

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = [status for result in pool.map(client, range(20)) for status in result]
    assert len(statuses) == 200 and set(statuses) == {200}


def test_server_picks_up_an_index_run_without_restart(writable_index, tmp_path):
    log = tmp_path / "server.log"
    with running_server(writable_index, log_path=log) as url:
        before = httpx.get(f"{url}/stats").json()
        corpus = write_jsonl(tmp_path / "new.jsonl", [LLAMA])
        subprocess.run([sys.executable, "-m", "search_api.cli", "index", str(corpus), "--index", str(writable_index),
                        "--quiet"], check=True, timeout=300)
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/stats").json()["articles"] == before["articles"] and time.monotonic() < deadline:
            time.sleep(0.2)
        after = httpx.get(f"{url}/stats").json()
        top = httpx.get(f"{url}/search", params={"q": "llamas on the village council", "k": 1}).json()["results"][0]
    assert after["articles"] == before["articles"] + 1 and after["generation"] > before["generation"]
    assert top["article_id"] == "llama-1"
    assert "changed on disk" in log.read_text()


def test_logs_hold_neither_the_key_nor_article_text(writable_index, tmp_path):
    key = "s3cret-key-never-logged"
    text = "Zanzibar marmalade factory triples its output after the drought ends."
    log = tmp_path / "server.log"
    with running_server(writable_index, api_key=key, log_path=log) as url:
        headers = {"Authorization": f"Bearer {key}"}
        # Generous: a loaded machine (seven engineers on two cores) can take seconds to embed; the
        # write model itself is loaded before the server is ready, not by this first write.
        assert httpx.post(f"{url}/articles", json={"id": "jam-1", "text": text}, headers=headers,
                          timeout=120).status_code == 200
        assert httpx.post(f"{url}/articles", json={"id": "jam-2", "text": text},
                          headers={"Authorization": "Bearer wrong-key-also-secret"}).status_code == 401
        assert httpx.delete(f"{url}/articles/jam-1", headers=headers, timeout=120).status_code == 200
    logged = log.read_text()
    assert "POST /articles" in logged  # the log is there, and says what happened
    assert key not in logged and "wrong-key-also-secret" not in logged and "marmalade" not in logged


def listening_addresses(port: int) -> set[str]:
    """The IPv4/IPv6 addresses with a socket listening on `port`, from the kernel's tables."""
    import ipaddress

    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                address, port_hex = fields[1].split(":")
                if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(address)
                    # /proc stores each 32-bit word in host (little-endian) order
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                    found.add(str(ipaddress.ip_address(words)))
    return found


def test_server_listens_on_loopback_only_by_default(sample_index):
    with running_server(sample_index) as url:
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"127.0.0.1"}


def test_oversized_headers_are_refused(sample_index):
    import socket

    with running_server(sample_index) as url:
        port = int(url.rsplit(":", 1)[1])
        assert httpx.get(f"{url}/healthz", headers={"X-Pad": "a" * 32_000}).status_code == 200
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            try:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (1024 * 1024) + b"\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused and closed while the header was still being sent
            try:
                answer = conn.recv(100)
            except ConnectionResetError:
                answer = b""
        assert not answer.startswith(b"HTTP/1.1 200"), answer
        assert answer == b"" or answer.split()[1].startswith(b"4"), answer
        assert httpx.get(f"{url}/healthz").status_code == 200


def request_count(metrics_text: str, route: str) -> float:
    import re

    pattern = r'article_search_requests_total\{([^}]*)\} ([0-9.e+]+)'
    return sum(float(value) for labels, value in re.findall(pattern, metrics_text) if f'route="{route}"' in labels)


def test_two_worker_processes_over_a_sharded_index_both_follow_an_index_run(tmp_path, sample_subset):
    """Replicas: `serve --workers 2` over one read-only (sharded) index directory; an `index` run
    beside it is picked up by each worker on its own."""
    import re

    index = tmp_path / "index"
    subprocess.run([sys.executable, "-m", "search_api.cli", "index", str(sample_subset), "--index", str(index),
                    "--shards", "2", "--quiet"], check=True, timeout=300)
    log = tmp_path / "server.log"
    with running_server(index, log_path=log, options=("--workers", "2")) as url:
        deadline = time.monotonic() + 60
        pids = set()
        while len(pids) < 2 and time.monotonic() < deadline:  # both workers up and answering
            pids.add(httpx.get(f"{url}/readyz").json().get("pid"))
            time.sleep(0.1)
        corpus = write_jsonl(tmp_path / "new.jsonl", [LLAMA])
        subprocess.run([sys.executable, "-m", "search_api.cli", "index", str(corpus), "--index", str(index),
                        "--quiet"], check=True, timeout=300)
        deadline = time.monotonic() + 30
        while len(set(re.findall(r"\[pid (\d+)\].*changed on disk", log.read_text()))) < 2 \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        reloaded = set(re.findall(r"\[pid (\d+)\].*changed on disk", log.read_text()))
        tops = [httpx.get(f"{url}/search", params={"q": "llamas on the village council", "k": 1}).json()
                ["results"][0]["article_id"] for _ in range(10)]
    assert len(pids) == 2 and {int(pid) for pid in reloaded} == pids
    assert tops == ["llama-1"] * 10


def test_metrics_count_the_requests_of_every_worker(sample_index):
    """`serve --workers 2`: a scrape, whichever worker answers it, counts the requests of both."""
    with running_server(sample_index, options=("--workers", "2")) as url:
        with httpx.Client(base_url=url, timeout=60) as http:
            pids, readyz = set(), 0
            deadline = time.monotonic() + 60
            while len(pids) < 2 and time.monotonic() < deadline:  # until both workers have answered some
                pids.add(httpx.get(f"{url}/readyz").json()["pid"])  # a new connection: any worker may take it
                readyz += 1
            for query in ("fire", "election", "airline", "cathedral", "zebra stripes"):
                assert http.get("/search", params={"q": query, "k": 2}).status_code == 200
            scrapes = [httpx.get(f"{url}/metrics").text for _ in range(6)]
    assert len(pids) == 2
    for text in scrapes:
        assert request_count(text, "/search") == 5
        # The running_server readiness checks count too: at least one, a few at most.
        assert readyz < request_count(text, "/readyz") <= readyz + 500
    totals = [request_count(text, "/metrics") for text in scrapes]
    assert totals == sorted(totals)  # monotone: each scrape counts the ones before it


def _writable_now(index_dir) -> bool:
    """Whether a write could start on `index_dir` this moment: its write lock and SQLite's are free."""
    import sqlite3

    from indexer import store

    try:
        with store.write_lock(index_dir, timeout=0):
            pass
    except store.IndexLocked:
        return False
    conn = sqlite3.connect(index_dir / store.DATABASE, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.rollback()
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        conn.close()


def test_a_post_goes_in_between_the_batches_of_an_index_run(writable_index, tmp_path):
    """An `index` run takes the write lock per batch: paused between two of its batches, with
    more to come, it holds nothing, and a POST to a server writing the same index is written."""
    import json
    import os
    import signal

    from conftest import SAMPLE, SAMPLE_SUBSET_SIZE, wait_until

    with open(SAMPLE, encoding="utf-8") as handle:
        records = [json.loads(line) for line in list(handle)[SAMPLE_SUBSET_SIZE:SAMPLE_SUBSET_SIZE + 40]]
    corpus = write_jsonl(tmp_path / "more.jsonl", records)
    key = "interleave-key"
    with running_server(writable_index, api_key=key) as url:
        before = httpx.get(f"{url}/stats").json()["articles"]
        run = subprocess.Popen([sys.executable, "-m", "search_api.cli", "index", str(corpus), "--index",
                                str(writable_index), "--commit-every", "4", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: httpx.get(f"{url}/stats").json()["articles"] > before or run.poll() is not None,
                       "the index run published its first batch", timeout=300)

            def paused_between_batches() -> bool:
                os.kill(run.pid, signal.SIGSTOP)
                assert run.poll() is None, "the index run ended before it was caught between two batches"
                if _writable_now(writable_index):
                    return True
                os.kill(run.pid, signal.SIGCONT)
                return False

            wait_until(paused_between_batches, "the index run held no lock between two of its batches", timeout=60)
            response = httpx.post(f"{url}/articles", json=LLAMA, headers={"Authorization": f"Bearer {key}"},
                                  timeout=120)
            assert response.status_code == 200, response.text
            assert httpx.get(f"{url}/stats").json()["articles"] < before + len(records) + 1  # the run is not done
        finally:
            if run.poll() is None:
                os.kill(run.pid, signal.SIGCONT)
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        wait_until(lambda: httpx.get(f"{url}/stats").json()["articles"] == before + len(records) + 1,
                   "the server saw every article of the run and the POST")
        top = httpx.get(f"{url}/search", params={"q": "llamas on the village council", "k": 1}).json()["results"][0]
    assert top["article_id"] == LLAMA["id"]
