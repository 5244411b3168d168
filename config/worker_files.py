"""The files a worker reads besides its settings and models: shadow models and campaign costs.

Read once, before the worker touches Kafka, so that a bad one stops it at start with file, line,
field and why; the pipeline is built from what was read here."""

from __future__ import annotations

from dataclasses import dataclass, field

from leadstream.config.costs import load_costs
from leadstream.config.model_loader import load_shadows
from leadstream.config.settings import Settings
from leadstream.core.model import ModelSet
from leadstream.core.report import Cost

__all__ = ["WorkerFiles", "load_worker_files"]


@dataclass(frozen=True)
class WorkerFiles:
    shadows: tuple[ModelSet, ...] = ()  # settings shadow_model_paths
    costs: list[Cost] = field(default_factory=list)  # settings reports.costs_path


def load_worker_files(settings: Settings, models: ModelSet) -> WorkerFiles:
    costs_path = settings.reports.costs_path
    return WorkerFiles(load_shadows(settings.shadow_model_paths),
                       load_costs(costs_path, models) if costs_path is not None else [])
