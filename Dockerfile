# heed serving image: ONNX Runtime and the HTTP app, no torch, no compilers, no tests.
# Build: docker build -t heed .    Run: docker run -p 8000:8000 heed

FROM python:3.11-slim-bookworm AS build
# UV_SYSTEM_CERTS: uv trusts the certificates the image trusts, as pip does (a build behind a TLS-inspecting proxy)
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1 UV_SYSTEM_CERTS=1
WORKDIR /src
# the serving lock, every hash checked, installed by uv (itself from its lock) as ./heed serve does; its own layer,
# so that a change to the code alone does not reinstall the dependencies
COPY requirements/uv.txt requirements/serve.txt requirements/build.txt ./requirements/
RUN python -m venv /opt/uv \
 && /opt/uv/bin/pip install --require-hashes -r requirements/uv.txt \
 && python -m venv /opt/heed \
 && /opt/uv/bin/uv pip sync --python /opt/heed/bin/python --require-hashes requirements/serve.txt
# only the serving package goes in: model/ and export/ need torch, which the image never carries
COPY pyproject.toml README.md ./
COPY service ./service
RUN /opt/uv/bin/uv pip install --python /opt/heed/bin/python --no-deps --build-constraints requirements/build.txt . \
 && find /opt/heed -name '__pycache__' -prune -exec rm -rf {} + \
 && /opt/heed/bin/python -c "import service.app, onnxruntime; import sys; assert 'torch' not in sys.modules"

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 heed \
 && useradd --system --uid 10001 --gid heed --home-dir /app --no-create-home heed \
 && mkdir -p /app/data && chown heed:heed /app/data
COPY --from=build /opt/heed /opt/heed
# the shipped bundles; mount a volume on /app/artifacts to serve others
COPY artifacts /app/artifacts
WORKDIR /app
ENV PATH=/opt/heed/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HEED_HOST=0.0.0.0 \
    HEED_PORT=8000 \
    HEED_MODELS_DIR=/app/artifacts \
    HEED_SQLITE_PATH=/app/data/results.sqlite3
USER heed:heed
EXPOSE 8000
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('HEED_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service", "serve"]
