"""Load and validate a scoring model YAML file."""

from __future__ import annotations

from pathlib import Path

from leadstream.config.yaml_source import read_yaml, validate
from leadstream.core.model import ScoringModel
from leadstream.exceptions import ModelError

__all__ = ["DEFAULT_MODEL_PATH", "load_model"]

DEFAULT_MODEL_PATH = Path(__file__).parent / "scoring-model.yaml"


def load_model(path: Path | str = DEFAULT_MODEL_PATH) -> ScoringModel:
    """Return the validated model, or raise ``ModelError`` naming file, line, field and why."""
    source = read_yaml(Path(path), what="scoring model", error=ModelError)
    try:
        return validate(ScoringModel, source, error=ModelError)
    except ModelError:
        raise
    except Exception as exc:  # a model validator may raise outside pydantic's error handling
        raise ModelError(source.file, "(model)", str(exc)) from None
