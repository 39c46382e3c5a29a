"""`OnnxEncoder`: the same model run by onnxruntime, exported locally on first use.

Why: importing sentence-transformers and torch takes 6–8 s on the target machines, and one short
query takes ~15 ms with torch; onnxruntime loads the model in under a second and answers a query
in a few ms, with embeddings equal to torch's (`onnx`), or ~2x faster indexing from a dynamically
quantised int8 export (`onnx-int8`, per-channel weights; cosine ~0.99 to torch).

The export (`torch.onnx.export(..., dynamo=False)` of the transformer, then mean pooling and
normalisation in numpy, as the model's own modules do) runs once per model and is cached under
$ARTICLE_SEARCH_CACHE (default ~/.cache/article-search). It needs torch and transformers (the
[torch] extra) only then, and the int8 quantisation onnx (the [int8] extra); afterwards a query
needs none of them. A torch `IndexWriter` exports the fp32 model when it
closes (`prepare_query_model`), where torch is loaded already (~1 s): a server that exports it
imports torch first, and was ready in 53 s instead of 8 s on a 1M-passage index on a loaded machine
(docs/benchmarks.md, "serve start-up until ready"). Only mean-pooling models given as a local folder (the
bundled default is one) are supported; others keep the torch backend.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..extras import missing_extra
from ..settings import Settings
from .base import Encoder, ModelError, fingerprint, resolve_model

ONNX_BACKENDS = ("onnx", "onnx-int8")

log = logging.getLogger("article_search")


def cache_dir() -> Path:
    return Settings.from_environment().cache_dir


def export_path(fingerprint: str, backend: str) -> Path:
    """Where the export of the model with this weights `fingerprint` for `backend` is cached."""
    return cache_dir() / "onnx" / fingerprint[:16] / ("model-int8.onnx" if backend == "onnx-int8" else "model.onnx")


def check_exportable(model_dir: Path, backend: str, name_or_path: str | None) -> None:
    """Raise ModelError unless the model is a local folder of a mean-pooling model."""
    if not model_dir.is_dir():
        raise ModelError(f"--backend {backend} needs the model as a local folder; '{name_or_path}' is not one "
                         "(use --backend torch)")
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    if pooling and not pooling.get("pooling_mode_mean_tokens"):
        raise ModelError(f"--backend {backend} supports mean-pooling models only; use --backend torch")


def prepare_query_model(encoder) -> None:
    """Export the onnx (fp32) model of a torch `encoder` into the cache unless it is there, so that
    servers embed queries with onnx (indexer.models.factory.load_query_encoder) without importing torch to
    export it first. A model that cannot be exported is logged and skipped: queries keep torch."""
    if encoder.backend != "torch":
        return
    model_dir = Path(encoder.location)
    try:
        check_exportable(model_dir, "onnx", encoder.name)
    except ModelError:
        return  # a model onnx cannot run: its queries keep torch, and say so when they start
    try:
        path = export_path(encoder.fingerprint, "onnx")
        if not path.exists():
            export_onnx(model_dir, path, quantized=False)
    # Whatever the export raises, the index written is whole; only the first query start is slower.
    except Exception as exc:  # noqa: BLE001
        log.warning("the onnx query model was not exported (%s); queries will use torch or export it then", exc)


class FastTokenizer:
    """The model's tokenizer.json through the `tokenizers` library, called like a Hugging Face fast
    tokenizer: `tok(texts, add_special_tokens=..., return_offsets_mapping=...)` -> dict of lists."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def __call__(self, texts, add_special_tokens: bool = True, return_offsets_mapping: bool = False, **_):
        single = isinstance(texts, str)
        encodings = self._tokenizer.encode_batch([texts] if single else list(texts),
                                                 add_special_tokens=add_special_tokens)
        result = {"input_ids": [e.ids for e in encodings]}
        if return_offsets_mapping:
            result["offset_mapping"] = [e.offsets for e in encodings]
        return {key: value[0] for key, value in result.items()} if single else result


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def export_onnx(model_dir: Path, target: Path, quantized: bool) -> None:
    """Export the transformer of the sentence-transformers model in `model_dir` to `target`."""
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise ModelError(missing_extra("torch", f"exporting the model to onnx (once per model, into {cache_dir()})",
                                       exc)) from exc

    class Transformer(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    full = target.with_name("model.onnx")
    if not full.exists():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a server's log gets no progress bar of the weights
        model = AutoModel.from_pretrained(str(model_dir)).eval()
        sample = AutoTokenizer.from_pretrained(str(model_dir))(["a sample", "another sample text"], padding=True,
                                                                return_tensors="pt")
        axes = {0: "batch", 1: "tokens"}
        # The tracer warns about Python-side branches of the model that do not depend on the input
        # sizes the export varies (batch, tokens); test_onnx_embeds_like_torch checks the result.
        with _replacing(full) as tmp, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Transformer(model), (sample["input_ids"], sample["attention_mask"],
                                                   sample.get("token_type_ids", torch.zeros_like(sample["input_ids"]))),
                              str(tmp), input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                            "last_hidden_state": axes})
    if quantized and not target.exists():
        try:
            from onnxruntime.quantization import QuantType, quantize_dynamic
        except ImportError as exc:
            raise ModelError(missing_extra("int8", "quantising the onnx model to int8", exc)) from exc

        with _replacing(target) as tmp:
            quantize_dynamic(str(full), str(tmp), weight_type=QuantType.QInt8, per_channel=True)


@contextmanager
def _replacing(path: Path):
    """A temporary file of this process's own beside `path`, renamed onto `path` when the block
    ends, removed if it fails: processes exporting at once (the workers of `serve --workers N`
    with an empty cache) each write their own file, and `path` is always one whole export."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(name)
        os.replace(name, path)
    finally:
        if os.path.exists(name):
            os.unlink(name)


class OnnxEncoder(Encoder):
    """The model exported to onnx (`backend` "onnx", or "onnx-int8" for its int8 quantisation) and run
    by onnxruntime: an `Encoder`, embedding like `TorchEncoder` (int8: cosine ~0.99)."""

    def __init__(self, name_or_path: str | None = None, backend: str = "onnx"):
        if backend not in ONNX_BACKENDS:
            raise ModelError(f"backend must be one of {', '.join(ONNX_BACKENDS)}, got '{backend}'")
        self.backend = backend
        self.name, self.location = resolve_model(name_or_path)
        model_dir = Path(self.location)
        check_exportable(model_dir, backend, name_or_path)
        self.max_seq_length = int(_read_json(model_dir / "sentence_bert_config.json").get("max_seq_length", 256))
        self.fingerprint = fingerprint(model_dir)
        path = export_path(self.fingerprint, backend)
        if not path.exists():
            export_onnx(model_dir, path, quantized=backend == "onnx-int8")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = FastTokenizer(model_dir / "tokenizer.json")
        from tokenizers import Tokenizer

        self._batch_tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._batch_tokenizer.no_padding()  # tokenizer.json may pad to a fixed length; we pad per batch
        self._batch_tokenizer.enable_truncation(self.max_seq_length)
        self._pad_id = self._batch_tokenizer.token_to_id("[PAD]") or 0
        self._input_names = {i.name for i in self.session.get_inputs()}
        self._lock = threading.Lock()  # before the dimension probe, which runs the model
        width = self.session.get_outputs()[0].shape[-1]  # an int, or a name or None when left symbolic
        self.dimension = width if isinstance(width, int) else self._run(np.array([[self._pad_id]]),
                                                                         np.ones((1, 1), dtype=np.int64)).shape[-1]

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The model's token embeddings for a padded batch of token `ids` and its attention `mask`."""
        feeds = {"input_ids": ids.astype(np.int64), "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
        with self._lock:
            return self.session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]

    def _forward(self, texts: list[str], batch_size: int, keep_tokens: bool):
        """(vectors of `texts`, shape (len(texts), dimension), and with `keep_tokens` each text's token
        embeddings, else Nones), run `batch_size` texts of similar length at a time."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad less
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        tokens: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            encodings = self._batch_tokenizer.encode_batch([texts[i] for i in batch])
            width = max(len(e.ids) for e in encodings)
            ids = np.full((len(batch), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, encoding in enumerate(encodings):
                ids[row, :len(encoding.ids)] = encoding.ids
                mask[row, :len(encoding.ids)] = 1
            hidden = self._run(ids, mask)
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            for row, i in enumerate(batch):
                vectors[i] = pooled[row]
                if keep_tokens:
                    tokens[i] = hidden[row, :int(mask[row].sum())]
        return vectors, tokens

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        return self._forward(texts, batch_size, keep_tokens=False)[0]

    def _encode_with_tokens(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[np.ndarray]]:
        return self._forward(texts, batch_size, keep_tokens=True)
