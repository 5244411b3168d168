# leadstream worker image (used by docker-compose.yml and deploy/k8s). Real Kafka; no embedded
# broker inside. Tag it with the release: docker build -t leadstream:0.1.0 .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY leadstream leadstream
COPY core core
COPY schemas schemas
COPY config config
COPY streams streams
COPY agents agents
COPY broker broker
COPY demo demo
COPY backtest backtest
COPY connector connector
# the pinned versions of constraints.txt; no 'embedded' extra: the image talks to a real Kafka
RUN pip install --no-cache-dir -c constraints.txt '.[postgres]' && useradd --create-home --uid 1000 leadstream && mkdir -p /var/lib/leadstream \
    && chown leadstream /var/lib/leadstream
USER leadstream
ENV LEADSTREAM__STATE__DIR=/var/lib/leadstream/state \
    LEADSTREAM__WEB__HOST=0.0.0.0
EXPOSE 6066
ENTRYPOINT ["leadstream"]
CMD ["worker"]
