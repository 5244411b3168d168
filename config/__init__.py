"""Settings and scoring-model loading. The default YAML files live beside this module."""

from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_model, load_models
from leadstream.config.settings import (
    KafkaSettings,
    LogSettings,
    RocksDBSettings,
    Settings,
    StateSettings,
    TopicSettings,
    WebSettings,
    load_settings,
)

__all__ = [
    "DEFAULT_MODEL_PATH",
    "KafkaSettings",
    "LogSettings",
    "RocksDBSettings",
    "Settings",
    "StateSettings",
    "TopicSettings",
    "WebSettings",
    "load_model",
    "load_models",
    "load_settings",
]
