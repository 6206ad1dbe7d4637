# The Prefect worker's image: the pipeline's pinned dependencies; the repository itself is mounted at
# /opt/rnnops (infra/compose.yaml), so a `git pull` on the host is what the next scheduled run uses.
FROM python:3.11-slim
# git: lineage tags (git_sha) and DVC need it
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
COPY requirements.lock /tmp/requirements.lock
# requirements.lock pins torch==2.13.0+cpu, which only PyTorch's CPU index has (PyPI's torch is the CUDA build)
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements.lock
ENV PYTHONPATH=/opt/rnnops
WORKDIR /opt/rnnops
