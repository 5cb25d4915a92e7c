# syntax=docker/dockerfile:1
# antq: one image for every service. `docker run antq serve tips`, `docker run antq migrate tips`.

# The base image: the official Python image by default; a build on a machine that cannot pull it may pass a local
# stand-in with the same layout (`--build-arg PYTHON_IMAGE=localhost/antq-standin/python:3.11-slim-bookworm`).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: wheels for antq and every dependency ------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the wheels installed on a slim base, running as an unprivileged user ----------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ANTQ_HTTP_HOST=0.0.0.0 \
    ANTQ_HTTP_PORT=8080 \
    ANTQ_DATA_DIR=/var/lib/antq/data \
    ANTQ_MIGRATE_ON_START=false
RUN groupadd --system --gid 10001 antq \
 && useradd --system --uid 10001 --gid antq --home-dir /var/lib/antq --shell /usr/sbin/nologin antq \
 && mkdir -p /var/lib/antq/data /var/lib/antq/keys \
 && chown -R antq:antq /var/lib/antq
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels antq
USER 10001:10001
WORKDIR /var/lib/antq
EXPOSE 8080
# Liveness only: readiness (/readyz) is for load balancers and orchestrators, which ask it themselves.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ANTQ_HTTP_PORT', '8080') + '/healthz', timeout=2)"]
ENTRYPOINT ["antq"]
CMD ["serve", "units"]
