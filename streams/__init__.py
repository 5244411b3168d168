"""Faust wiring: app factory, topics, the lead table, codecs and metrics."""

from leadstream.streams.app import Pipeline, create_pipeline

__all__ = ["Pipeline", "create_pipeline"]
