"""`article-search serve` start-up: seconds until /readyz answers 200, with the onnx query model
exported beforehand (as a torch `index` run leaves it), with an empty export cache (the server
exports it itself, importing torch), and with `--backend torch`.

    python benchmarks/serve_ready.py --index /tmp/archive-1m

The index is only read. Each configuration starts one server on a free loopback port, waits for
/readyz, reads /stats for the backend that embeds queries, and stops it.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402

from indexer.models.onnx_encoder import cache_dir  # noqa: E402


def ready_seconds(index: str, cache: Path, options: list[str]) -> tuple[float, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, ARTICLE_SEARCH_CACHE=str(cache))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "search_api.cli", "serve", "--index", index, "--port", str(port),
                                "--log-level", "warning", *options], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = started + 300
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    ready = time.perf_counter() - started
                    return ready, httpx.get(f"http://127.0.0.1:{port}/stats", timeout=60).json().get("query_backend")
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server was not ready within 300 s")
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as empty:
        configurations = [
            ("default, onnx export cached (after a torch `index` run)", cache_dir(), []),
            ("default, empty export cache (the server exports)", Path(empty) / "cache", []),
            ("--backend torch (the default before)", cache_dir(), ["--backend", "torch"]),
        ]
        for name, cache, options in configurations:
            seconds, backend = ready_seconds(args.index, cache, options)
            rows.append([name, backend, f"{seconds:.1f}"])
            print(rows[-1], flush=True)
    notes = f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine is shared)."
    report(f"serve start-up until ready: {Path(args.index).name}", table(["configuration", "query backend",
                                                                          "ready s"], rows), notes)


if __name__ == "__main__":
    main()
