# A personal Tent server in one container.
#   docker run -p 8080:8080 -e TENT_ENTITY=https://me.example -v tent-data:/data IMAGE
# With TENT_DATABASE_URL set it uses that PostgreSQL; otherwise it runs an embedded
# PostgreSQL under /data (mount a volume there to keep your posts).
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 tent \
    && mkdir /data && chown tent:tent /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tent ./tent
COPY migrations ./migrations
RUN pip install --no-cache-dir .

USER tent
ENV TENT_HOST=0.0.0.0 \
    TENT_PORT=8080 \
    TENT_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
CMD ["tent", "serve"]
