"""The worker's wiring: the Faust app from ``streams``, the agents on its lane, the HTTP views.

The only module that imports both ``streams`` and ``agents``: agents depend on the shell, never
the other way round."""

from __future__ import annotations

import logging

from leadstream.agents import register_agents
from leadstream.config.settings import Settings
from leadstream.config.worker_files import WorkerFiles
from leadstream.core.model import ModelSet, ScoringModel
from leadstream.streams.lane import upstream
from leadstream.streams.ops.http_api import register_views
from leadstream.streams.pipeline import Pipeline, build_pipeline

__all__ = ["create_pipeline"]

log = logging.getLogger(__name__)


def create_pipeline(settings: Settings, models: ScoringModel | ModelSet,
                    files: WorkerFiles) -> Pipeline:
    """Create the worker's app with its topics, tables, agents and views (not started)."""
    for line in upstream.drift():  # pyproject pins them; an install that ignored the pins runs
        log.warning("%s", line)    # code the batch lane was not checked against
    pipeline = build_pipeline(settings, models, files)
    register_agents(pipeline)
    register_views(pipeline)
    return pipeline
