# A personal Tent server in one container.
#   docker run -d --name tent -p 8080:8080 -e TENT_ENTITY=https://me.example -v tent-data:/data IMAGE
# With TENT_DATABASE_URL set it uses that PostgreSQL; otherwise it runs an embedded
# PostgreSQL under /data (mount a volume there to keep your posts).
ARG PYTHON_IMAGE=python:3.11-slim

# Build stage: a virtual environment in /opt/tent. Only that folder reaches the image, so
# pip's build/, *.egg-info and the sources stay behind.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/tent
WORKDIR /src
# Dependencies first, read from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && /opt/tent/bin/pip install -r requirements.txt 'setuptools>=70.1'
COPY README.md ./
COPY migrations ./migrations
COPY tent ./tent
RUN /opt/tent/bin/pip install --no-deps --no-build-isolation . \
    && /opt/tent/bin/python -m pip uninstall -y -q setuptools pip

FROM ${PYTHON_IMAGE}
RUN useradd --create-home --uid 10001 tent \
    && mkdir /data && chown tent:tent /data
COPY --from=build /opt/tent /opt/tent
USER tent
ENV PATH=/opt/tent/bin:$PATH \
    TENT_HOST=0.0.0.0 \
    TENT_PORT=8080 \
    TENT_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
# SIGTERM stops the server gracefully (deliveries in flight finish or go back to the queue).
STOPSIGNAL SIGTERM
# The image's own Python asks /readyz on TENT_PORT under TENT_ENTITY's path (no curl here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "tent.healthcheck"]
CMD ["tent", "serve"]
