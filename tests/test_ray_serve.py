"""Ray Serve over a sharded index (local Ray, 2 CPUs): shard deployments with replicas and a router
answer as the in-process sharded searcher does, over HTTP too, and follow index changes."""

from __future__ import annotations

import time

import pytest
import ray
from fastapi.testclient import TestClient

from conftest import LLAMA, write_jsonl
from indexer.inputs import read_paths
from indexer.sharding import open_writer
from search_api.app import create_app
from search_api.searcher import Searcher

QUERIES = ["How many people died when the ten-storey block came down after a gas leak?", "Notre Dame fire"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, sample_subset, encoder):
    from ray import serve

    from search_api.ray_serve import RemoteSearcher, deploy

    index = tmp_path_factory.mktemp("ray-serve") / "index"
    with open_writer(index, shards=2, encoder=encoder) as writer:
        writer.add(read_paths([sample_subset]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    handle = deploy(index, replicas=2)
    yield index, RemoteSearcher(handle, index), handle
    serve.shutdown()
    ray.shutdown()


def _rounded(passages: list[dict]) -> list[dict]:
    return [dict(passage, score=round(passage["score"], 4)) for passage in passages]


def test_router_over_shard_deployments_answers_like_the_sharded_searcher(served, encoder):
    index, remote, _ = served
    local = Searcher(index, encoder=encoder)
    for query in QUERIES:
        for mode in ("hybrid", "dense", "lexical"):
            got = remote.search(query, k=5, mode=mode).model_dump(exclude_none=True)
            expected = local.search(query, k=5, mode=mode).model_dump(exclude_none=True)
            # The router embeds the query in its own process: onnx's last float bits may differ there.
            assert [(h["article_id"], _rounded(h["passages"])) for h in got["results"]] == \
                   [(h["article_id"], _rounded(h["passages"])) for h in expected["results"]], (query, mode)
    assert [vars(h) for h in remote.related("wn-e8d671d30811", 5)] == \
           [vars(h) for h in local.related("wn-e8d671d30811", 5)]
    assert remote.stats()["articles"] == local.stats()["articles"]
    assert remote.article("no-such-article") is None


def test_ray_serve_binds_no_port_of_its_own(served):
    """The FastAPI app is the only ingress (it calls the router through its handle), so Ray Serve
    runs no HTTP proxy: nothing binds Ray's default port 8000, where the app itself may listen."""
    from ray import serve

    assert serve.status().proxies == {}


def test_http_api_over_ray_serve_and_live_reload(served, tmp_path, encoder):
    index, _, handle = served
    from search_api.ray_serve import RemoteSearcher

    app = create_app(index, encoder=encoder, opener=lambda: RemoteSearcher(handle, index))
    with TestClient(app) as client:
        body = client.get("/search", params={"q": QUERIES[0], "k": 3}).json()
        assert body["results"][0]["article_id"] == "wn-e8d671d30811"
        assert client.get("/articles/wn-e8d671d30811/related", params={"k": 3}).status_code == 200
        corpus = write_jsonl(tmp_path / "new.jsonl", [LLAMA])
        with open_writer(index, encoder=encoder) as writer:
            writer.add(read_paths([corpus]))
        deadline, top = time.monotonic() + 60, None
        while top != "llama-1" and time.monotonic() < deadline:
            time.sleep(0.5)
            results = client.get("/search", params={"q": "llamas on the village council", "k": 1}).json()["results"]
            top = results[0]["article_id"] if results else None
        assert top == "llama-1"
        assert client.get("/articles/llama-1").json()["title"] == "Llamas elected to village council"
