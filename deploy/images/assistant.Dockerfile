# syntax=docker/dockerfile:1.7
# The light assistant image: `tenor serve` against an external vLLM and a Chroma
# server. No torch, no CUDA: queries are embedded with the ONNX export of the
# embedding model (onnxruntime + tokenizers), talking HTTP to everything else.
# The same image runs `tenor ingest` (the ingest Job): loaders, chunking and the
# ONNX embedder are all it needs.
#
#   docker build -f deploy/images/assistant.Dockerfile -t tenor-assistant:0.1.0 .
#
# Stage 1 exports the embedder with torch (CPU); only its output is kept.

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# -- 1. export the embedding model to ONNX (torch lives only in this stage) ---------
FROM ${PYTHON_IMAGE} AS export
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /src
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY tenor ./tenor
COPY ingest ./ingest
COPY assistant ./assistant
COPY finetune ./finetune
COPY evaluation ./evaluation
RUN pip install ".[ingest]"
RUN tenor model export-embedder --out /export/all-MiniLM-L6-v2-onnx

# -- 2. the runtime's virtual environment, without torch ------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tenor ./tenor
COPY ingest ./ingest
COPY assistant ./assistant
COPY finetune ./finetune
COPY evaluation ./evaluation
RUN pip install ".[serve-light]" \
 && ! python -c "import torch" 2>/dev/null

# -- 3. runtime ------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tenor-assistant" \
      org.opencontainers.image.description="Tenor's OpenAI-compatible assistant server (no torch, no CUDA)"
RUN groupadd --system --gid 10001 tenor \
 && useradd --system --uid 10001 --gid tenor --home-dir /var/lib/tenor --create-home tenor
COPY --from=build /opt/venv /opt/venv
COPY --from=export /export/all-MiniLM-L6-v2-onnx /opt/tenor/models/all-MiniLM-L6-v2-onnx
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    ANONYMIZED_TELEMETRY=False \
    TENOR_HOME=/var/lib/tenor \
    TENOR_EMBED__BACKEND=onnx \
    TENOR_EMBED__ONNX_PATH=/opt/tenor/models/all-MiniLM-L6-v2-onnx \
    TENOR_SERVER__HOST=0.0.0.0 \
    TENOR_SERVER__PORT=8000
USER 10001:10001
WORKDIR /var/lib/tenor
EXPOSE 8000
# Liveness only (/health); readiness (/ready: vLLM and Chroma answer) is the orchestrator's probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["tenor"]
CMD ["serve"]
