"""Demo traffic and the ``leadstream run`` orchestration (embedded broker + worker + summary)."""
