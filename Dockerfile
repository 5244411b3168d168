# leadstream worker image (used by docker-compose.yml). Real Kafka; no embedded broker inside.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY leadstream leadstream
COPY core core
COPY schemas schemas
COPY config config
COPY streams streams
COPY agents agents
COPY broker broker
COPY demo demo
RUN pip install --no-cache-dir . && useradd --create-home --uid 1000 leadstream && mkdir -p /var/lib/leadstream \
    && chown leadstream /var/lib/leadstream
USER leadstream
ENV LEADSTREAM__STATE__DIR=/var/lib/leadstream/state \
    LEADSTREAM__WEB__HOST=0.0.0.0
EXPOSE 6066
ENTRYPOINT ["leadstream"]
CMD ["worker"]
