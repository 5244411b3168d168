"""leadstream: Kafka-native lead processing on Faust.

Where things live (each folder is a package imported as ``leadstream.<folder>``):

* ``core/``     pure domain: scoring model, lead state, ``apply(state, message, model)``; no Kafka
* ``schemas/``  pydantic message models at the edges (touchpoints, handover, DLQ) + JSON Schemas
* ``config/``   settings and scoring-model loading; default YAML files
* ``streams/``  Faust wiring: app factory, topics, tables, codecs, metrics
* ``agents/``   thin Faust agents: ingest (validate, key by lead) and leads (state, handover)
* ``broker/``   the embedded Tansu broker and the client-side shims it needs
* ``demo/``     realistic traffic generator and the ``leadstream run`` orchestration
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
