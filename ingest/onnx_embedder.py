"""The embedding model without torch: exported once to ONNX, run with onnxruntime.

The assistant only embeds queries (and uploads), so its container does not need
torch. ``tenor model export-embedder`` (on a machine with the ``ingest`` extra)
writes the sentence-transformers model as

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
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from tenor.config import EmbedSettings

MANIFEST = "tenor-embedder.json"
MIN_COSINE = 0.999  # what the export check demands of every probe sentence
_POOLINGS = ("mean", "cls")
_PROBES = [
    "How long is the battery warranty?",
    "opening hours",
    "Fold F1 > Specifications\nPrice: $1,799. Range up to 70 km on the 500 Wh battery.",
    "Returns are accepted within 30 days of delivery if the bike has under 50 km on it. " * 6,
    "a",
]


class OnnxEmbedderError(RuntimeError):
    """The ONNX embedder is missing, or was exported from another model; the message says what to run."""


def default_onnx_dir(settings: EmbedSettings, models_dir: Path | None) -> Path:
    """Where the exported model lives: ``embed.onnx_path``, else ``<models>/<model name>-onnx``."""
    if settings.onnx_path:
        return Path(settings.onnx_path).expanduser()
    if models_dir is None:
        from tenor.config import load_settings

        models_dir = load_settings().models_dir
    name = settings.model.rstrip("/").replace("\\", "/").split("/")[-1]
    return Path(models_dir) / f"{name}-onnx"


# -- export (needs torch, transformers, sentence-transformers and onnx) --------------------------

def export_embedder(settings: EmbedSettings, out_dir: Path, opset: int = 17) -> dict:
    """Export ``settings.model`` to ``out_dir``; returns the manifest (with the check's cosine).

    Raises ``OnnxEmbedderError`` if the exported model disagrees with sentence-transformers.
    """
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    from ingest.embedder import resolve_model_path

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    source = resolve_model_path(settings.model)
    st = SentenceTransformer(source, device="cpu")
    first, pooling = st[0], _pooling_mode(st)
    hf_dir = Path(getattr(first, "auto_model").config._name_or_path or source)
    if not hf_dir.is_dir():
        hf_dir = Path(source)
    # Eager attention traces to plain ONNX ops; the weights are the ones sentence-transformers loaded.
    model = AutoModel.from_pretrained(hf_dir, attn_implementation="eager", dtype=torch.float32).eval()
    model.load_state_dict(first.auto_model.state_dict())
    tokenizer = first.tokenizer
    inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *tensors):
            return self.inner(**dict(zip(inputs, tensors))).last_hidden_state

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["a first sentence to trace", "and a second"], padding=True, return_tensors="pt")
    axes = {"batch": 0, "sequence": 1}
    dynamic = {name: {i: a for a, i in axes.items()} for name in [*inputs, "last_hidden_state"]}
    partial = out_dir / "model.onnx.partial"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape-dependent Python code; the check below decides
        torch.onnx.export(
            LastHiddenState(model), tuple(sample[n] for n in inputs), str(partial),
            input_names=inputs, output_names=["last_hidden_state"], dynamic_axes=dynamic,
            opset_version=opset, dynamo=False,  # the TorchScript exporter needs onnx, not onnxscript
        )
    partial.replace(out_dir / "model.onnx")

    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    backend.save(str(out_dir / "tokenizer.json"))
    manifest = {
        "model": settings.model,
        "source": str(source),
        "dimension": int(st.get_embedding_dimension()),
        "max_seq_length": int(st.max_seq_length),
        "do_lower_case": bool(getattr(first, "do_lower_case", False)),
        "pooling": pooling,
        "inputs": inputs,
        "pad_token": tokenizer.pad_token,
        "pad_token_id": int(tokenizer.pad_token_id),
        "opset": opset,
        "exported_with": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    onnx_vectors = OnnxEmbedder(settings, out_dir).encode(_PROBES)
    reference = st.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    cosine = float(np.min(np.sum(onnx_vectors * reference, axis=1)))
    manifest["check"] = {"probes": len(_PROBES), "min_cosine": round(cosine, 6)}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if cosine < MIN_COSINE:
        raise OnnxEmbedderError(
            f"the ONNX export of {settings.model!r} disagrees with sentence-transformers "
            f"(min cosine {cosine:.6f} < {MIN_COSINE}); do not use it"
        )
    return manifest


def _pooling_mode(st) -> str:
    """'mean' or 'cls' for a Transformer -> Pooling [-> Normalize] model (class names, so any
    sentence-transformers version that names its modules so will do)."""
    kinds = [type(m).__name__ for m in st]
    if kinds[0] != "Transformer" or kinds[1:] not in (["Pooling"], ["Pooling", "Normalize"]):
        raise OnnxEmbedderError(f"only Transformer -> Pooling [-> Normalize] models can be exported, not {kinds}")
    pooling = st[1]
    mode = getattr(pooling, "pooling_mode", None)
    if not isinstance(mode, str):
        mode = pooling.get_pooling_mode_str()
    if mode not in _POOLINGS:
        raise OnnxEmbedderError(f"pooling {mode!r} is not supported by the ONNX backend ({', '.join(_POOLINGS)})")
    return mode


# -- inference (onnxruntime + tokenizers + numpy only) ---------------------------------------

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
