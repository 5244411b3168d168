"""The batch lane borrows code and private names from faust-streaming, mode and aiokafka
(streams/lane/upstream.py): an upgrade must be a deliberate act, never a silent change."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from leadstream.streams.lane import upstream

ROOT = Path(__file__).parents[2]
UPSTREAM = ("faust", "mode", "aiokafka")


def test_the_installed_libraries_are_the_ones_the_lane_was_written_against() -> None:
    found = upstream.drift()
    assert not found, (
        "the batch lane's borrowed upstream code changed; read the upstream change, adapt "
        "streams/lane/upstream.py and renew RELEASES/BORROWED:\n  " + "\n  ".join(found))


def test_pyproject_pins_those_releases() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for package, release in upstream.RELEASES.items():
        assert f"{package}=={release}" in dependencies


def test_a_changed_upstream_function_is_reported() -> None:
    name = "faust.transport.consumer:Consumer.ack"
    saved = upstream.BORROWED[name]
    upstream.BORROWED[name] = "0" * 16
    try:
        assert any(line.startswith(name) for line in upstream.drift())
    finally:
        upstream.BORROWED[name] = saved


def test_the_offset_key_scans_skip_is_fausts() -> None:
    from faust.stores.rocksdb import Store

    assert upstream.OFFSET_KEY == Store.offset_key


def _private_uses(path: Path) -> list[str]:
    """Attribute reads/writes of underscore names on objects other than ``self``/``cls``, in a
    module that imports one of the upstream libraries or handles their objects."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            base = node.value
            if isinstance(base, ast.Name) and base.id in {"self", "cls"}:
                continue
            if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) \
                    and base.func.id == "super":
                continue
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in {"getattr", "setattr", "hasattr"} and len(node.args) > 1 \
                and isinstance(node.args[1], ast.Constant) and str(node.args[1].value).startswith("_") \
                and not str(node.args[1].value).startswith("__"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id} {node.args[1].value}")
    return found


def test_no_module_but_upstream_uses_a_private_name_of_another_object() -> None:
    folders = ["agents", "backtest", "broker", "config", "core", "demo", "leadstream", "schemas",
               "streams"]
    offenders = [use for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))
                 if path.name != "upstream.py" for use in _private_uses(path)]
    assert not offenders, "private names outside streams/lane/upstream.py:\n" + "\n".join(offenders)
