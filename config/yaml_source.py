"""Read YAML keeping line numbers, and turn pydantic errors into ``ConfigError(file, line, field)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from leadstream.exceptions import ConfigError

__all__ = ["LinedYaml", "read_yaml", "validate"]

M = TypeVar("M", bound=BaseModel)
Path_ = tuple[str | int, ...]


class LinedYaml:
    """A parsed YAML document plus the 1-based line of every key/item path in it."""

    def __init__(self, data: Any, lines: dict[Path_, int], file: str) -> None:
        self.data = data
        self.lines = lines
        self.file = file

    def line_of(self, path: Path_) -> int | None:
        # the deepest prefix that exists in the file (a missing field → its parent's line)
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _walk(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def read_yaml(path: Path, *, what: str, error: type[ConfigError] = ConfigError) -> LinedYaml:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(file, "(file)", f"{what} file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(file, "(file)", f"cannot read {what} file: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(file, "(syntax)", f"invalid YAML: {problem}", line=line) from None
    lines: dict[Path_, int] = {}
    data = {} if node is None else _walk(node, (), lines)
    return LinedYaml(data, lines, file)


def validate(model: type[M], source: LinedYaml, *, error: type[ConfigError] = ConfigError,
             context: dict[str, Any] | None = None) -> M:
    """Validate ``source.data`` as ``model``; the first error names file, line and field."""
    if not isinstance(source.data, dict):
        raise error(source.file, "(document)", "the top level must be a mapping of fields")
    try:
        return model.model_validate(source.data, context=context)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc) or "(document)"
        more = exc.error_count() - 1
        why = first["msg"] + (f" (and {more} more error(s))" if more else "")
        raise error(source.file, field, why, line=source.line_of(loc)) from None
