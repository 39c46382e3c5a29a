"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis, on hypothesis), against a real
server over a copy of the sample index (exact and IVF layouts): whatever a client sends, valid or
not, no response is a 5xx, and every answer matches the schema."""

import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from conftest import running_server

KEY = "fuzz-key"


@pytest.fixture(scope="module", params=["flat", "ivf"])
def fuzz_server(request, tmp_path_factory):
    """A server over a copy of the sample index, exact (flat) or IVF: the two FAISS layouts take
    different search parameters. (A write through the IVF server re-lays the small index out as
    flat, so the IVF one is fuzzed as IVF until its first successful write.)"""
    import shutil

    source = request.getfixturevalue("sample_index" if request.param == "flat" else "ivf_index")
    index = tmp_path_factory.mktemp("fuzz") / "index"
    shutil.copytree(source, index, ignore=shutil.ignore_patterns(".lock"))
    with running_server(index, api_key=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_url(f"{fuzz_server}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case, fuzz_server):
    # Half the cases carry the write key, so the write routes are fuzzed past authentication too.
    headers = {"Authorization": f"Bearer {KEY}"} if zlib.crc32(repr(case).encode()) % 2 else {}
    case.call_and_validate(base_url=fuzz_server, headers=headers,
                           checks=[not_a_server_error, response_schema_conformance, content_type_conformance])
