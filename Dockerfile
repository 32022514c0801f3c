# The catalog service's image: `catalog serve` as a non-root user, installed from
# requirements.lock. Build: `docker build -t catalog .` or `podman build -t catalog .`
# (README "Deployment"). PYTHON_IMAGE is any Debian-based image with python3 3.11 and its
# venv module; tests/deploy/test_image.py builds with a stand-in made by debootstrap, since
# no image registry is reachable from the test machine.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtual environment in /opt/catalog, copied whole into the final image --------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
# uv at the version the Makefile pins, in a venv of its own that stays in this stage.
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --quiet uv==0.13.9 \
    && python3 -m venv --without-pip /opt/catalog
WORKDIR /src
# The lock first: its layer (the dependencies) is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN /opt/uv/bin/uv pip install --quiet --python /opt/catalog/bin/python -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/uv/bin/uv pip install --quiet --python /opt/catalog/bin/python --no-deps . \
    && /opt/catalog/bin/catalog --help > /dev/null
# The image's software bill of materials (CycloneDX 1.6 JSON): every distribution in the
# environment with its version, licences and package URL, read from the environment itself.
# The generator stays in this stage, in uv's venv.
RUN /opt/uv/bin/pip install --quiet cyclonedx-bom==7.5.0 \
    && /opt/uv/bin/cyclonedx-py environment --pyproject pyproject.toml --output-reproducible \
        -o /opt/catalog/sbom.cdx.json /opt/catalog/bin/python

# --- the image: the same base, the environment, a user; no compilers, caches or sources -----
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="catalog" \
      org.opencontainers.image.description="Data catalog service: ISO/IEC 11179 registry, data products, discovery and governance over HTTP" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Proprietary" \
      org.opencontainers.image.documentation="README.md#deployment"
# A fixed uid, so Kubernetes' runAsNonRoot can check it and volumes can be chowned to it.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/catalog --no-create-home \
        --shell /usr/sbin/nologin catalog \
    && mkdir -p /var/lib/catalog \
    && chown 10001:10001 /var/lib/catalog
COPY --from=build /opt/catalog /opt/catalog
ENV PATH=/opt/catalog/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8084 \
    CATALOG_WORKERS=2 \
    CATALOG_GRACEFUL_TIMEOUT_S=30
# The working directory holds what the service writes when nothing else is configured: the
# SQLite file, the search index (catalog-search/) and the metrics files of the workers; mount
# a volume here, or point CATALOG_SEARCH_INDEX_DIR and PROMETHEUS_MULTIPROC_DIR elsewhere.
WORKDIR /var/lib/catalog
USER 10001:10001
EXPOSE 8084
# /livez answers while the process runs (no dependency checks: a database outage must not
# make the orchestrator restart every container). The image has no curl: Python asks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8084') + '/livez', timeout=4)"]
ENTRYPOINT ["catalog"]
CMD ["serve"]
