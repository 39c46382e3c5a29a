"""Which encoder embeds what: `load_encoder` for a backend, and for an index's queries the choice
of backend and the checks that it embeds as the index did.

An index stores, when it is created, its vectors of PROBE_SENTENCES (indexer.store.probe_vectors);
another backend must embed them alike (cosine >= PROBE_MIN_COSINE) to query that index.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..store import StoreError
from .base import BACKENDS, Encoder, ModelError, resolve_model
from .onnx_encoder import OnnxEncoder
from .torch_encoder import TorchEncoder

# The query backend when none is asked for: onnx where the index's vectors allow it (see
# `load_query_encoder`). onnx fp32 embeds a query in 2.9 ms p50 against 9.5 ms for torch on a quiet
# machine (docs/benchmarks.md, "Query latency" floors), 12.9 against 58.5 ms on a loaded one
# ("Query encoding"), with the same vectors (cosine 1.000000 to torch).
AUTO_BACKEND = "auto"
PROBE_SENTENCES = [
    "Floods force thousands from their homes in southern Brazil.",
    "What does Russia give North Korea in return for the shells?",
    "The central bank raised interest rates by a quarter point on Tuesday.",
    "Scientists report that zebra stripes confuse biting horse flies.",
    "The striker scored twice as the home side won the cup final 3-1.",
    "Parliament passed the budget after a late-night vote.",
    "A 6.1-magnitude earthquake struck off the coast early on Sunday.",
    "Shares in the chip maker fell 8% after a profit warning.",
]
PROBE_MIN_COSINE = 0.999

log = logging.getLogger("article_search")


def load_encoder(name_or_path: str | None = None, backend: str = "torch") -> Encoder:
    """The model `name_or_path` (default: the bundled one) on `backend` (one of BACKENDS): a
    `TorchEncoder` (sentence-transformers) or an `OnnxEncoder` (onnxruntime)."""
    if backend == "torch":
        return TorchEncoder(name_or_path)
    if backend not in BACKENDS:
        raise ModelError(f"backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
    return OnnxEncoder(name_or_path, backend)


def probe_cosine(encoder: Encoder, probes: np.ndarray) -> float:
    """The lowest cosine between `encoder`'s vectors of PROBE_SENTENCES and `probes`, the vectors an
    index stored for them when it was created (as store.probe_vectors reads them): 1.0 when the
    encoder embeds exactly as the index did."""
    stored = probes.reshape(len(PROBE_SENTENCES), -1)
    return float((encoder.encode(PROBE_SENTENCES) * stored).sum(axis=1).min())


def load_query_encoder(name_or_path: str | None, built_with: str, probes: np.ndarray | None,
                       backend: str | None = None) -> Encoder:
    """The encoder that embeds queries for an index embedded with the `built_with` backend, whose
    probe sentences' vectors are `probes` (None for an index without them).

    An explicit `backend` is loaded as asked (`check_backend` then refuses one that embeds
    differently). Without one, or with AUTO_BACKEND: onnx (fp32), when it embeds the probe
    sentences as the index did (cosine >= PROBE_MIN_COSINE); otherwise the index's own backend,
    with a log line saying why (onnx cannot be loaded or exported here, the model is not a local
    mean-pooling folder, the index has no probes or they differ). Never an error of its own."""
    if backend and backend != AUTO_BACKEND:
        return load_encoder(name_or_path, backend)
    if built_with == "onnx":
        return load_encoder(name_or_path, "onnx")
    try:
        fast = load_encoder(name_or_path, "onnx")
    # Anything the export or onnxruntime raises (a model it cannot run, a read-only cache, a
    # missing package) only means this index keeps its own backend.
    except Exception as exc:  # noqa: BLE001
        log.warning("queries are embedded with the %s backend: onnx is not available (%s)", built_with, exc)
        return load_encoder(name_or_path, built_with)
    if probes is None:
        log.warning("queries are embedded with the %s backend: the index has no probe vectors to check onnx "
                    "against", built_with)
        return load_encoder(name_or_path, built_with)
    cosine = probe_cosine(fast, probes)
    if cosine < PROBE_MIN_COSINE:
        log.warning("queries are embedded with the %s backend: onnx embeds differently from this index "
                    "(cosine %.4f < %s on the probe sentences)", built_with, cosine, PROBE_MIN_COSINE)
        return load_encoder(name_or_path, built_with)
    log.info("queries are embedded with onnx (cosine %.5f to the index's %s vectors on the probe sentences)",
             cosine, built_with)
    return fast


def query_encoder(manifest: dict, probes: np.ndarray | None, model: str | None = None,
                  backend: str | None = None) -> Encoder:
    """The encoder that answers queries on the index of `manifest`, whose stored probe vectors are
    `probes` (store.probe_vectors): `backend` when one is asked for, else onnx where the probe
    vectors allow it, else the index's own backend (`load_query_encoder`)."""
    built_with = manifest["model"].get("backend", "torch")
    if model and resolve_model(model)[0] != manifest["model"]["name"]:
        backend = backend or built_with  # another model, which check_model refuses: no export of it
    return load_query_encoder(model or manifest["model"]["name"], built_with, probes, backend)


def check_model(manifest: dict, name: str, model_fingerprint: str, index_dir: Path) -> None:
    """Refuse (StoreError) a model other than the one the index of `manifest` at `index_dir` was
    built with, given the model's `name` and `model_fingerprint`: its vectors would not compare."""
    built = manifest["model"]
    if built["fingerprint"] != model_fingerprint:
        raise StoreError(
            f"the index at {index_dir} was built with model '{built['name']}' (fingerprint "
            f"{built['fingerprint'][:12]}); the model given, '{name}' (fingerprint {model_fingerprint[:12]}), "
            "embeds differently. Leave out --model to use the index's own, or index into a new --index directory.")


def check_backend(manifest: dict, stored: np.ndarray | None, encoder: Encoder, index_dir: Path) -> None:
    """Refuse (StoreError) a query backend whose embeddings differ from the index's own (for example
    int8 queries on a float index), judged on the index's `stored` probe vectors: it would rank by
    a slightly different geometry."""
    built_with = manifest["model"].get("backend", "torch")
    if encoder.backend == built_with:
        return
    if stored is None:
        return
    cosine = probe_cosine(encoder, stored)
    if cosine < PROBE_MIN_COSINE:
        raise StoreError(
            f"the index at {index_dir} was embedded with the {built_with} backend; the {encoder.backend} backend "
            f"embeds differently (cosine {cosine:.4f} < {PROBE_MIN_COSINE} on the probe sentences). "
            f"Use --backend {built_with}, or re-index with --backend {encoder.backend}.")
