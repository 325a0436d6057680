# syntax=docker/dockerfile:1
# The cxflow image: one image for the event API (`cxflow api ...`) and the worker
# (`python -m worker`, the default command). Built by docker-compose.yml.
#
#   docker build -t cxflow .
#
# Two stages: the first installs cxflow and its dependencies into a virtualenv,
# the second copies only that virtualenv, so no build files or sources are left
# in the image. Every dependency ships wheels for linux/amd64 and linux/arm64,
# so no compiler is needed.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The metadata first, then the code: what `pip install .` packages
# (pyproject.toml: packages engine, connectors, workflows, dsl and module worker).
COPY pyproject.toml README.md ./
COPY engine/ ./engine/
COPY connectors/ ./connectors/
COPY workflows/ ./workflows/
COPY dsl/ ./dsl/
COPY worker.py ./
RUN pip install --no-cache-dir . \
    && python -c "import worker, engine.cli, engine.settings"


FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user (numeric, so `runAsNonRoot` checks can verify it).
RUN groupadd --system --gid 10001 cxflow \
    && useradd --system --uid 10001 --gid cxflow --no-create-home \
        --home-dir /app --shell /usr/sbin/nologin cxflow

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Journeys and the journey schema, for `cxflow deploy journeys/` and
# `cxflow validate` inside the container; read-only for the app user.
COPY journeys/ ./journeys/
COPY schemas/ ./schemas/

USER 10001:10001

EXPOSE 8000
CMD ["python", "-m", "worker"]
