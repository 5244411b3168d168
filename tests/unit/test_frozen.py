"""``quick_init`` keeps every frozen dataclass of the core what ``@dataclass`` made it."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from leadstream.core import emitted, messages
from leadstream.core.frozen import quick_init

CLASSES = [
    cls for module in (messages, emitted) for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
]


def _plain(cls: type) -> type:
    """The same fields as ``@dataclass(frozen=True, slots=True)`` alone builds them."""
    spec: list[tuple[str, Any, Any]] = []
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            spec.append((f.name, f.type, dataclasses.field(default_factory=f.default_factory)))
        elif f.default is not dataclasses.MISSING:
            spec.append((f.name, f.type, dataclasses.field(default=f.default)))
        else:
            spec.append((f.name, f.type, dataclasses.field()))
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True)


def _values(cls: type) -> dict[str, Any]:
    return {f.name: f"{f.name}-value" for f in dataclasses.fields(cls)}


def test_every_frozen_dataclass_of_the_core_uses_it() -> None:
    assert {"Touchpoint", "Link", "Absorb", "Transition", "Counted", "Send"} <= {c.__name__ for c in CLASSES}
    for cls in CLASSES:
        assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
        assert any(name.startswith("set_") for name in cls.__init__.__globals__), cls


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_the_signature_is_the_dataclass_one(cls: type) -> None:
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(_plain(cls).__init__).parameters
    assert list(ours) == list(theirs)
    for name, parameter in ours.items():
        assert parameter.kind == theirs[name].kind
        expected = theirs[name].default
        if expected is not inspect.Parameter.empty and repr(expected) != "<factory>":
            assert parameter.default == expected, name


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_instances_equal_the_dataclass_ones_and_stay_frozen(cls: type) -> None:
    values = _values(cls)
    ours, theirs = cls(**values), _plain(cls)(**values)
    assert dataclasses.astuple(ours) == dataclasses.astuple(theirs)
    assert ours == cls(*values.values())
    assert hash(ours) == hash(cls(**values))
    first = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(ours, first, "changed")
    assert getattr(dataclasses.replace(ours, **{first: "changed"}), first) == "changed"
    assert getattr(ours, first) == values[first]


def test_defaults_and_factories_apply_when_left_out() -> None:
    touchpoint = messages.Touchpoint(event_id="e", type="web_visit", occurred_at=1.0,
                                     lead_id="l", has_contact=False)
    assert touchpoint.payload == {} and touchpoint.campaign is None
    other = messages.Touchpoint("e", "web_visit", 1.0, "l", False)
    assert touchpoint.payload is not other.payload  # a fresh dict each, as default_factory gives
    assert messages.Erase(erase_id="x", lead_id="l", at=1.0).cascade is True
    with pytest.raises(TypeError):
        messages.Erase(erase_id="x", lead_id="l")  # type: ignore[call-arg]


def test_it_refuses_classes_it_would_get_wrong() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    for cls in (Mutable, NoSlots, PostInit, KeywordOnly):
        with pytest.raises(TypeError):
            quick_init(cls)
