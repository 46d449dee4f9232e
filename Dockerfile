# syntax=docker/dockerfile:1.7
# One image per service, built from this workspace with uv:
#   docker build --build-arg SERVICE=booking -t booking-platform/booking .
# The image holds only that service and what it depends on (no dev tools, no other service),
# runs as an unprivileged user (uid 10001) with a read-only-friendly layout, and has the
# service's commands on PATH: <service>-web, <service>-worker, <service>-relay,
# <service>-migrate, and booking-topics. docker compose and the Helm chart choose the command.
# SERVICE=bpctl builds the operator's image: bpctl alone, configured like the services.
#
# Where there is no registry, the bases are build arguments: `make images` (devstack.images)
# builds a Debian base with debootstrap and a uv image from the uv wheel on PyPI, and passes
#   --build-arg BASE_IMAGE=localhost/booking-platform/base:... --build-arg UV_IMAGE=...
# Behind a TLS-intercepting proxy, give its CA bundle to the build (never to the image):
#   --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt
ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13
ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:${UV_VERSION}

FROM ${UV_IMAGE} AS uv

FROM ${BASE_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
ARG SERVICE
RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<booking|inventory|pricing|payment|notifier|bpctl>" && false)
# Dependencies first, from the lock alone: this layer survives source edits.
COPY pyproject.toml uv.lock ./
COPY contracts/pyproject.toml contracts/
COPY libs/messaging/pyproject.toml libs/messaging/
COPY libs/service_kit/pyproject.toml libs/service_kit/
COPY libs/devstack/pyproject.toml libs/devstack/
COPY libs/bpctl/pyproject.toml libs/bpctl/
COPY services/booking/pyproject.toml services/booking/
COPY services/inventory/pyproject.toml services/inventory/
COPY services/pricing/pyproject.toml services/pricing/
COPY services/payment/pyproject.toml services/payment/
COPY services/notifier/pyproject.toml services/notifier/
COPY examples/analytics/pyproject.toml examples/analytics/
# The workspace package of the image: <service>-service, or booking-bpctl.
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export SSL_CERT_FILE=/run/secrets/ca-bundle; fi; \
    package=$([ "${SERVICE}" = bpctl ] && echo booking-bpctl || echo "${SERVICE}-service"); \
    uv sync --frozen --no-dev --no-install-workspace --package "$package"
# Then the code, installed as wheels (not editable): the runtime image needs no sources.
COPY contracts contracts
COPY libs libs
COPY services services
COPY examples examples
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export SSL_CERT_FILE=/run/secrets/ca-bundle; fi; \
    package=$([ "${SERVICE}" = bpctl ] && echo booking-bpctl || echo "${SERVICE}-service"); \
    uv sync --frozen --no-dev --no-editable --package "$package"

FROM ${BASE_IMAGE} AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="booking-platform ${SERVICE}" \
      org.opencontainers.image.source="https://example.invalid/booking-platform"
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SERVICE=${SERVICE}
WORKDIR /tmp
USER 10001:10001
# The web role by default (bpctl: its help); compose and the chart name each process's command.
CMD ["sh", "-c", "if [ \"$SERVICE\" = bpctl ]; then exec bpctl --help; else exec \"$SERVICE-web\"; fi"]
