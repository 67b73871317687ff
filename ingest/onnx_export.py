"""Export the embedding model to ONNX (``tenor model export-embedder``), and check the export.

Needs torch, transformers, sentence-transformers and onnx (the ``ingest``
extra); the folder it writes is read by ``ingest.onnx_embedder``, which needs
none of them. The export is checked against sentence-transformers on a few
probe sentences and refused below ``MIN_COSINE``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ingest.embedder import resolve_model_path
from ingest.onnx_embedder import MANIFEST, OnnxEmbedder, OnnxEmbedderError
from tenor.config import EmbedSettings

MIN_COSINE = 0.999  # what the export check demands of every probe sentence
_POOLINGS = ("mean", "cls")
_PROBES = [
    "How long is the battery warranty?",
    "opening hours",
    "Fold F1 > Specifications\nPrice: $1,799. Range up to 70 km on the 500 Wh battery.",
    "Returns are accepted within 30 days of delivery if the bike has under 50 km on it. " * 6,
    "a",
]


def export_embedder(settings: EmbedSettings, out_dir: Path, opset: int = 17) -> dict:
    """Export ``settings.model`` to ``out_dir``; returns the manifest (with the check's cosine).

    Raises ``OnnxEmbedderError`` if the exported model disagrees with sentence-transformers.
    """
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

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
