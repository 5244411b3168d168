"""Settings from the environment: ``LEADSTREAM__…`` variables, ``…_FILE`` variables and a secrets
directory, read as the strings they are.

A variable's value is never parsed as YAML or any other language: ``null``, ``~``, ``12345``,
``yes`` or ``s3cr3t #x`` reach the field exactly as written, and pydantic then validates the
string as the field's type (``"8"`` is a valid int, ``"true"`` a valid bool). Only fields that
hold a list take more than one value: a JSON array (``["a", "b"]``) or items separated by commas.

A value can also come from a file — the convention of Docker and Kubernetes secrets:

* ``LEADSTREAM__WEB__API_TOKEN_FILE=/run/secrets/token`` reads ``web.api_token`` from that file;
* ``LEADSTREAM_SECRETS_DIR=/run/secrets/leadstream`` reads every file in that directory whose name
  is a variable name (``LEADSTREAM__WEB__API_TOKEN``), as a mounted Kubernetes Secret lays them out.

A file's content is the value exactly, except that one final line break (``\\n`` or ``\\r\\n``,
what ``echo`` and most editors add) is not part of it. An empty variable counts as not set: it can
neither clear a value from the settings file nor switch anything off.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel

from leadstream.exceptions import ConfigError

__all__ = ["ENV_PREFIX", "SECRETS_DIR_VARIABLE", "environment_values", "overlay"]

ENV_PREFIX = "LEADSTREAM__"
SECRETS_DIR_VARIABLE = "LEADSTREAM_SECRETS_DIR"
_FILE_SUFFIX = "_FILE"


def _read_secret_file(variable: str, path: Path) -> str:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("environment", variable, f"file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("environment", variable, f"cannot read file {str(path)!r}: "
                                                   f"{type(exc).__name__}") from None
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def environment_values(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Variable name (``LEADSTREAM__…``) → (value, where it came from), from all three sources.

    A variable set twice (directly and through ``_FILE``, or directly and in the secrets
    directory) is an error: which one wins would be a guess.
    """
    values: dict[str, tuple[str, str]] = {}

    def put(name: str, value: str, origin: str) -> None:
        if name in values:
            raise ConfigError("environment", name,
                              f"set twice ({values[name][1]} and {origin}); keep one")
        values[name] = (value, origin)

    secrets_dir = environ.get(SECRETS_DIR_VARIABLE, "")
    if secrets_dir:
        folder = Path(secrets_dir)
        if not folder.is_dir():
            raise ConfigError("environment", SECRETS_DIR_VARIABLE,
                              f"{secrets_dir!r} is not a directory")
        for path in sorted(folder.iterdir()):
            # Kubernetes mounts a Secret as symlinks plus hidden ..data folders: skip the hidden
            if path.name.startswith(ENV_PREFIX) and path.is_file():
                put(path.name, _read_secret_file(path.name, path), f"file {path}")
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or raw == "":
            continue
        if name.endswith(_FILE_SUFFIX):
            target = name[: -len(_FILE_SUFFIX)]
            put(target, _read_secret_file(name, Path(raw)), f"{name}={raw}")
        else:
            put(name, raw, name)
    return values


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``; ``Annotated[X, …]`` → ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _field_type(model: type[BaseModel], path: list[str], variable: str) -> Any:
    """The annotation of the field at ``path``; a clear error for a name no setting has."""
    current: Any = model
    for depth, part in enumerate(path):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            raise ConfigError("environment", variable,
                              f"'{'.'.join(path[:depth])}' is not a section")
        field = current.model_fields.get(part)
        if field is None:
            where = ".".join(path[:depth]) or "the top level"
            known = ", ".join(sorted(current.model_fields))
            raise ConfigError("environment", variable,
                              f"no setting '{part}' in {where} (known: {known})")
        current = _unwrap(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        raise ConfigError("environment", variable,
                          f"'{'.'.join(path)}' is a section; set its fields one by one")
    return current


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (list, tuple) or annotation in (list, tuple)


def _list_value(variable: str, raw: str) -> list[str] | list[Any]:
    text = raw.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            if not text.endswith("]"):
                raise ConfigError("environment", variable,
                                  "starts with '[' but does not end with ']'") from None
            text = text[1:-1]  # [a, b] without JSON quotes: the items as written
        else:
            if isinstance(value, list):
                return value
    return [item.strip() for item in text.split(",") if item.strip()]


def overlay(data: dict[str, Any], model: type[BaseModel],
            environ: Mapping[str, str]) -> dict[str, str]:
    """Write the environment's values into ``data``; return field path (dotted) → its origin."""
    origins: dict[str, str] = {}
    for name, (raw, origin) in environment_values(environ).items():
        path = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        if not all(path):
            raise ConfigError("environment", name, "empty path segment in variable name")
        annotation = _field_type(model, path, name)
        value: Any = _list_value(name, raw) if _is_list(annotation) else raw
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError("environment", name, f"'{part}' is not a section")
            node = child
        node[path[-1]] = value
        origins[".".join(path)] = origin
    return origins
