# syntax=docker/dockerfile:1
#
# soundtime container image.
#
#   docker build -t soundtime:local .
#   docker compose up -d            # see docker-compose.yml: PostgreSQL, migrations, then the server
#
# The runtime stage holds only the Python interpreter and the virtual environment built below; the
# source tree, uv and the lock file stay in the builder.

# The builder and runtime stages must use the same interpreter: the venv's python is a symlink into it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:24.19.0-bookworm-slim

# --------------------------------------------------------------------------------------------------------
# Web: the browser app (web/, Svelte + Vite) built into soundtime/web/dist, with the Node.js that `make` pins
# (NODE_VERSION in the Makefile; a test keeps the two in step). Its packages come from web/package-lock.json;
# install scripts are off (web/.npmrc).
# --------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web

WORKDIR /src/web
COPY web/package.json web/package-lock.json web/.npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# --------------------------------------------------------------------------------------------------------
# Builder: resolve the locked dependencies into /app/.venv, then install soundtime itself as a wheel.
# --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir uv==0.13.8

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file or pyproject.toml change.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-project

# Then the project. --no-editable builds a real wheel, so the venv does not point back at /app and
# alembic/ is packaged as soundtime/_alembic (see [tool.hatch.build.targets.wheel.force-include]).
# --reinstall-package is required: uv keys its cached wheel of a local project on pyproject.toml alone,
# so without it the cache mount would hand back the wheel of an earlier build after a code change.
COPY README.md ./
COPY alembic ./alembic
COPY soundtime ./soundtime
COPY --from=web /src/soundtime/web/dist ./soundtime/web/dist
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --reinstall-package soundtime

# --------------------------------------------------------------------------------------------------------
# Runtime
# --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# Defaults for a container; docker-compose.yml sets them explicitly as well. In production the server
# refuses to start without JWT_SECRET (at least 32 characters), so `docker run` must pass one.
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SOUNDTIME_ENV=production \
    SOUNDTIME_HOST=0.0.0.0 \
    SOUNDTIME_PORT=8080 \
    SOUNDTIME_DATA_DIR=/data

# Fixed ids so that bind-mounted data directories can be prepared on the host: chown -R 10001:10001 DIR.
# A fresh named volume mounted at /data copies this directory's ownership.
RUN groupadd --system --gid 10001 soundtime \
    && useradd --system --uid 10001 --gid soundtime --no-create-home --home-dir /data \
       --shell /usr/sbin/nologin soundtime \
    && install -d -o soundtime -g soundtime -m 0750 /data

COPY --from=builder /app/.venv /app/.venv

# The working directory holds no .env file (settings come from the environment only) and is read-only
# for the service user.
WORKDIR /app
USER soundtime:soundtime

VOLUME ["/data"]

# HTTP (API, streaming, admin panel) and the iroh QUIC endpoint (P2P_BIND_PORT, IPv4 and IPv6).
EXPOSE 8080/tcp 11204/udp

# slim images have no curl: ask the server itself with urllib. /healthz answers 503 when the database
# does not, which urlopen raises as an error, so the exit status is non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SOUNDTIME_PORT', '8080'), timeout=4)"]

# PID 1 is the soundtime process itself. uvicorn installs SIGTERM/SIGINT handlers, so `docker stop`
# shuts it down gracefully without a wrapper. What PID 1 does not do is reap orphaned grandchildren
# (e.g. from the embedded PostgreSQL used when DATABASE_URL is unset), so docker-compose.yml sets
# `init: true` (Docker's bundled tini) and `docker run --init` is recommended. No tini is baked in so
# that the entrypoint stays the plain CLI: `docker run IMAGE migrate`, `docker run IMAGE --help`.
ENTRYPOINT ["soundtime"]
# Migrations are a separate step (the `migrate` service in docker-compose.yml, or
# `docker run IMAGE migrate`), so several replicas never race to upgrade the schema.
CMD ["serve", "--no-migrate"]
