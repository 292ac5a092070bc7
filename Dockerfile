# syntax=docker/dockerfile:1.7
#
# One image for every Petrosa Data Manager service (and the simulator). Build from the repo root:
#
#   docker build -t petrosa-data-manager:dev .
#   docker build --build-arg SERVICE=gateway -t petrosa-gateway:dev .   # different default command
#
# The container runs whichever console script it is told to: `command: ["petrosa-auditor"]` in
# compose, `command: [petrosa-auditor]` in the Helm charts. SERVICE only picks the default (CMD).
# Console scripts: petrosa-ingestor, petrosa-auditor, petrosa-backfiller, petrosa-analytics,
# petrosa-gateway, petrosa-sim.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------------------------
# builder: resolve the locked workspace into /app/.venv with uv
# --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# Keep uv in step with the version that writes uv.lock and with the uv_build backend bound
# (uv_build>=0.8,<0.14 in every member's pyproject.toml).
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# UV_PYTHON pins the interpreter of the base image (never a downloaded one) so that the venv
# copied into the runtime stage points at the same /usr/local/bin/python3.11.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# The workspace members that go into the image, with their dependencies. Naming them (rather
# than syncing the whole workspace root) keeps petrosa-devtools and its test-only dependencies
# (pytest, …) out of the runtime image.
ARG PACKAGES="petrosa-ingestor petrosa-auditor petrosa-backfiller petrosa-analytics petrosa-gateway petrosa-sim"

WORKDIR /src

# 1. Third-party dependencies only. With --frozen the root pyproject.toml and uv.lock are all uv
#    needs for this step, so this layer survives every source change that does not touch them.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    set --; for pkg in ${PACKAGES}; do set -- "$@" --package "$pkg"; done; \
    uv sync --frozen --no-dev --no-install-workspace "$@"

# 2. The workspace members (libs/*, services/*), installed non-editable: the runtime stage
#    gets the venv only, not the sources.
COPY libs ./libs
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    set --; for pkg in ${PACKAGES}; do set -- "$@" --package "$pkg"; done; \
    uv sync --frozen --no-dev --no-editable "$@"

# --------------------------------------------------------------------------------------------
# runtime: the venv, a non-root user, nothing else
# --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG SERVICE=ingestor
ARG VERSION=0.1.0

LABEL org.opencontainers.image.title="petrosa-data-manager" \
      org.opencontainers.image.description="Petrosa Data Manager services (ingestor, auditor, backfiller, analytics, gateway) and simulator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 petrosa \
 && useradd --system --uid 10001 --gid petrosa --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin petrosa

COPY --from=builder --chown=root:root /app/.venv /app/.venv

# Bytecode was compiled at build time; nothing is written under /app at run time, so the root
# filesystem can be mounted read-only (Helm does). HOME points at /tmp, the one writable place.
ENV PATH="/app/.venv/bin:${PATH}" \
    VIRTUAL_ENV=/app/.venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PETROSA_SERVICE=${SERVICE} \
    METRICS_PORT=9090 \
    HEALTH_PORT=8080 \
    API_PORT=8000

WORKDIR /app
USER 10001:10001

# metrics, health, gateway API
EXPOSE 9090 8080 8000

# Exec form so the service is PID 1 and gets SIGTERM directly. A console script name cannot come
# from a build argument in exec form, so the default goes through `sh -c … exec`; compose and Helm
# override it with an explicit exec-form command anyway.
CMD ["sh", "-c", "exec petrosa-${PETROSA_SERVICE}"]
