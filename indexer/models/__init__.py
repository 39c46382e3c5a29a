"""The models: what turns text into vectors, and which one an index's queries use.

    base.py           `Encoder`, what every backend is (`encode`, `encode_with_tokens`, name,
                      fingerprint, dimension, tokenizer); `resolve_model`, `fingerprint`, `ModelError`
    torch_encoder.py  `TorchEncoder`: sentence-transformers on torch (the [torch] extra)
    onnx_encoder.py   `OnnxEncoder`: the same model exported to onnx and run by onnxruntime (int8
                      quantisation needs the [int8] extra; the export needs [torch] once)
    factory.py        `load_encoder` for a backend; for an index's queries, the choice of backend
                      (`query_encoder`) and the checks that a model and backend embed as the index did

Importing this package imports no model library: torch, sentence-transformers and onnxruntime are
imported when an encoder of theirs loads, so an install without the [torch] extra serves an index
embedded with onnx.
"""

from .base import BACKENDS, DEFAULT_MODEL, Encoder, ModelError, fingerprint, resolve_model
from .factory import (AUTO_BACKEND, PROBE_MIN_COSINE, PROBE_SENTENCES, check_backend, check_model, load_encoder,
                      load_query_encoder, probe_cosine, query_encoder)
from .onnx_encoder import OnnxEncoder, prepare_query_model
from .torch_encoder import TorchEncoder

__all__ = ["AUTO_BACKEND", "BACKENDS", "DEFAULT_MODEL", "PROBE_MIN_COSINE", "PROBE_SENTENCES", "Encoder",
           "ModelError", "OnnxEncoder", "TorchEncoder", "check_backend", "check_model", "fingerprint",
           "load_encoder", "load_query_encoder", "prepare_query_model", "probe_cosine", "query_encoder",
           "resolve_model"]
