# Teppan: one image for every worker kind, the HTTP server and the one-shot jobs.
# `docker run teppan worker logger`, `docker run teppan serve --host 0.0.0.0`, ...
FROM python:3.11-slim

# The CPU image pulls CPU-only torch wheels (a few hundred MB instead of several GB of CUDA);
# build with --build-arg TORCH_INDEX_URL=https://pypi.org/simple for the CUDA wheels.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TEPPAN_DATA_DIR=/data

WORKDIR /app

# Only what `pip install .` needs, so editing tests or docs does not bust the dependency layer.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY shared ./shared
COPY services ./services
RUN pip install --extra-index-url "${TORCH_INDEX_URL}" . \
 && useradd --create-home --uid 10001 teppan \
 && mkdir -p /data \
 && chown teppan:teppan /data

USER teppan
VOLUME ["/data"]
EXPOSE 8000

ENTRYPOINT ["teppan"]
CMD ["--help"]
