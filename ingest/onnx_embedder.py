"""The embedding model without torch: exported once to ONNX, run with onnxruntime.

The assistant only embeds queries (and uploads), so its container does not need
torch. ``tenor model export-embedder`` (``ingest.onnx_export``, on a machine with
the ``ingest`` extra) writes the sentence-transformers model as

    $TENOR_HOME/models/<model>-onnx/
        model.onnx            the transformer (inputs -> last hidden state)
        tokenizer.json        the model's own fast tokenizer (``tokenizers``)
        tenor-embedder.json   model id, dimension, max tokens, pooling, the export check

and ``embed.backend: onnx`` makes ``OnnxEmbedder`` do what ``Embedder`` does:
the same tokenizer, truncation, mean (or CLS) pooling and L2 normalisation,
so its vectors match sentence-transformers' (cosine >= 0.999, checked when
exporting and in tests/ingest/test_onnx_embedder.py) and one collection can be
written by either backend.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from tenor.config import EmbedSettings

MANIFEST = "tenor-embedder.json"


class OnnxEmbedderError(RuntimeError):
    """The ONNX embedder is missing, or was exported from another model; the message says what to run."""


def default_onnx_dir(settings: EmbedSettings, models_dir: Path | None) -> Path:
    """Where the exported model lives: ``embed.onnx_path``, else ``<models>/<model name>-onnx``."""
    if settings.onnx_path:
        return Path(settings.onnx_path).expanduser()
    if models_dir is None:
        raise OnnxEmbedderError("embed.backend onnx needs the models directory (Settings.models_dir) "
                                "or embed.onnx_path")
    name = settings.model.rstrip("/").replace("\\", "/").split("/")[-1]
    return Path(models_dir) / f"{name}-onnx"


class OnnxEmbedder:
    """``ingest.embedder.Embedder``'s interface: encode, count_tokens, tokenizer, dimension."""

    def __init__(self, settings: EmbedSettings, folder: Path | str):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file() or not (folder / "model.onnx").is_file():
            raise OnnxEmbedderError(
                f"no ONNX embedder at {folder}: run `tenor model export-embedder` where the ingest extra "
                "(torch) is installed, and copy or mount the folder here (or set embed.onnx_path)"
            )
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("model") != settings.model:
            raise OnnxEmbedderError(
                f"{folder} holds an export of {manifest.get('model')!r}, but embed.model is {settings.model!r}"
            )
        self.settings = settings
        self.folder = folder
        self.manifest = manifest
        self.model_id = settings.model
        self.dimension = int(manifest["dimension"])
        self.max_tokens = int(manifest["max_seq_length"])
        self._inputs = list(manifest["inputs"])
        self._pooling = manifest["pooling"]
        self._lower = bool(manifest.get("do_lower_case"))

        # Counting (and the chunk splitter) sees every token; encoding truncates like sentence-transformers.
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self._encoder = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._encoder.enable_truncation(self.max_tokens)
        self._encoder.enable_padding(pad_id=int(manifest["pad_token_id"]), pad_token=manifest["pad_token"])

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch_size = batch_size or self.settings.batch_size
        prepared = [str(t).strip() for t in texts]
        if self._lower:
            prepared = [t.lower() for t in prepared]
        order = np.argsort([-len(t) for t in prepared], kind="stable")  # as sentence-transformers: less padding
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._lock:  # one encode at a time: onnxruntime already uses every core
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                out[idx] = self._encode_batch([prepared[i] for i in idx])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._encoder.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self.session.run(None, {name: feeds[name] for name in self._inputs})[0]
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)


@lru_cache(maxsize=4)
def _cached(settings_json: str, folder: str) -> OnnxEmbedder:
    return OnnxEmbedder(EmbedSettings.model_validate_json(settings_json), folder)


def get_onnx_embedder(settings: EmbedSettings, models_dir: Path | None = None) -> OnnxEmbedder:
    return _cached(settings.model_dump_json(), str(default_onnx_dir(settings, models_dir)))
