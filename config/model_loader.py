"""Load and validate a scoring model YAML file."""

from __future__ import annotations

from pathlib import Path

from leadstream.config.yaml_source import read_yaml, validate
from leadstream.core.model import ModelSet, ScoringModel
from leadstream.exceptions import ModelError

__all__ = ["DEFAULT_MODEL_PATH", "EXAMPLE_CANDIDATE_PATH", "load_model", "load_models", "load_shadows"]

DEFAULT_MODEL_PATH = Path(__file__).parent / "scoring-model.yaml"
#: the candidate model shipped as an example (backtest, shadow scoring in ``leadstream run``)
EXAMPLE_CANDIDATE_PATH = Path(__file__).parent / "examples" / "stricter-mql.yaml"


def load_model(path: Path | str = DEFAULT_MODEL_PATH) -> ScoringModel:
    """Return the validated model, or raise ``ModelError`` naming file, line, field and why."""
    source = read_yaml(Path(path), what="scoring model", error=ModelError)
    try:
        return validate(ScoringModel, source, error=ModelError)
    except ModelError:
        raise
    except Exception as exc:  # a model validator may raise outside pydantic's error handling
        raise ModelError(source.file, "(model)", str(exc)) from None


def load_models(primary: Path | str, extra: list[Path] | tuple[Path, ...] = ()) -> ModelSet:
    """The primary model and the extra ones; names must be unique."""
    models = [load_model(primary), *(load_model(p) for p in extra)]
    try:
        return ModelSet(models[0], tuple(models[1:]))
    except ValueError as exc:
        raise ModelError(str(extra[-1] if extra else primary), "name", str(exc)) from None


def load_shadows(paths: list[Path] | tuple[Path, ...]) -> tuple[ModelSet, ...]:
    """Shadow models (core/shadow.py), each a model set of its own; names must be unique (a
    shadow may share the primary's name: a new version of it)."""
    shadows = tuple(ModelSet(load_model(p)) for p in paths)
    seen: dict[str, Path] = {}
    for path, shadow in zip(paths, shadows):
        name = shadow.primary.name
        if name in seen:
            raise ModelError(str(path), "name", f"shadow model name {name!r} is also the name of "
                             f"the shadow model in {seen[name]}; shadow names must be unique")
        seen[name] = path
    return shadows
