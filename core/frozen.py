"""``@quick_init``: the same ``__init__`` as a frozen, slotted dataclass's, for less.

A frozen dataclass sets each field through ``object.__setattr__``, looked up and dispatched at
every call; the core builds ~40 fields of messages and events per touchpoint (a touchpoint three
times: at ingest, and decoded at the visitor and at the lead). The ``__init__`` made here calls
each slot's own setter instead (benchmarks/offline_path.py counts the instructions saved). The
class stays a frozen dataclass:
``dataclasses.replace``, equality, hashing and ``FrozenInstanceError`` on assignment are unchanged
(tests/unit/test_frozen.py).
"""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

__all__ = ["quick_init"]

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Replace the ``__init__`` of ``cls`` (a ``@dataclass(frozen=True, slots=True)``)."""
    params = getattr(cls, "__dataclass_params__", None)
    if not (is_dataclass(cls) and params is not None and params.frozen and "__slots__" in vars(cls)):
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__, which quick_init does not call")
    namespace: dict[str, Any] = {"MISSING": MISSING}
    args: list[str] = []
    body: list[str] = []
    for f in fields(cls):
        if not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain positional fields are supported")
        if f.default is not MISSING:
            namespace[f"default_{f.name}"] = f.default
            args.append(f"{f.name}=default_{f.name}")
        elif f.default_factory is not MISSING:
            namespace[f"factory_{f.name}"] = f.default_factory
            args.append(f"{f.name}=MISSING")
            body.append(f"    if {f.name} is MISSING: {f.name} = factory_{f.name}()")
        else:
            args.append(f.name)
        namespace[f"set_{f.name}"] = vars(cls)[f.name].__set__  # the slot's member descriptor
        body.append(f"    set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(args)}) -> None:\n" + "\n".join(body or ["    pass"])
    exec(source, namespace)  # noqa: S102 - built from the field names above, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
