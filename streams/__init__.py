"""The imperative shell around ``core``: the Faust app and what it needs.

==================  ======================================================================
``pipeline``        the Faust app, its topics and tables, shared by every agent
``lane``            the batch lane: batches instead of events, and the commit order
``encoding``        bytes ⇄ core values: state and message codecs, wire mappers
``services``        in-process helpers of the agents: state cache, deadlines, funnel counts,
                    traffic hygiene, ingest's visitor shortcut
``ops``             what operators see: HTTP API, Prometheus metrics, readiness, state dump
``prepare``         the topics a deployment needs, and creating them
``kafka_options``   settings → Kafka client options (TLS, SASL) for every client
==================  ======================================================================
"""
