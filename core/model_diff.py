"""What changes between two scoring models, rule by rule (``leadstream model diff OLD NEW``).

Rules with ids (behaviour, fit, routing) are matched by id: added, removed, or changed field by
field. Source-type rules have no ids and are compared by position (their order is their meaning:
the first match wins). Everything else (grade thresholds, bands, temperature, lifecycle, teams,
the source-type default) is compared setting by setting, by dotted path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadstream.core.model import ScoringModel

__all__ = ["Change", "diff_models", "render"]

#: sections whose list items have ids, and the heading they are shown under
_RULE_LISTS = (("rules", "behaviour rules"), ("fit.rules", "fit rules"),
               ("routing.rules", "routing rules"))


@dataclass(frozen=True, slots=True)
class Change:
    section: str  # "behaviour rules", "fit rules", "routing rules", "source-type rules", "settings"
    kind: str  # added | removed | changed
    name: str  # a rule id, a position, or a dotted setting path
    before: Any = None
    after: Any = None
    fields: tuple[tuple[str, Any, Any], ...] = ()  # for a changed rule: (field, before, after)


def _get(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data.get(part, {})
    return data


def _flatten(data: Any, prefix: str, skip: set[str], out: dict[str, Any]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if path not in skip:
                _flatten(value, path, skip, out)
    else:
        out[prefix] = data


def _rule_changes(section: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Change]:
    before = {rule["id"]: rule for rule in old}
    after = {rule["id"]: rule for rule in new}
    out = [Change(section, "removed", rule_id, before=before[rule_id])
           for rule_id in before if rule_id not in after]
    for rule_id, rule in after.items():
        if rule_id not in before:
            out.append(Change(section, "added", rule_id, after=rule))
            continue
        fields = tuple((name, before[rule_id].get(name), rule.get(name))
                       for name in sorted(set(before[rule_id]) | set(rule))
                       if before[rule_id].get(name) != rule.get(name))
        if fields:
            out.append(Change(section, "changed", rule_id, fields=fields))
    order_old = [r for r in before if r in after]
    order_new = [r for r in after if r in before]
    if order_old != order_new and section == "routing rules":  # first match wins: order matters
        out.append(Change(section, "changed", "(order)", before=order_old, after=order_new))
    return out


def diff_models(old: ScoringModel, new: ScoringModel) -> list[Change]:
    """Every difference that changes how leads are scored, graded, staged or routed."""
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    out: list[Change] = []
    for path, section in _RULE_LISTS:
        out += _rule_changes(section, _get(a, path) or [], _get(b, path) or [])
    old_sources, new_sources = _get(a, "sources.rules") or [], _get(b, "sources.rules") or []
    for index in range(max(len(old_sources), len(new_sources))):
        was = old_sources[index] if index < len(old_sources) else None
        now = new_sources[index] if index < len(new_sources) else None
        if was != now:
            kind = "added" if was is None else "removed" if now is None else "changed"
            out.append(Change("source-type rules", kind, f"#{index + 1}", before=was, after=now))
    skip = {"name", "version", "rules", "fit.rules", "routing.rules", "sources.rules"}
    flat_a: dict[str, Any] = {}
    flat_b: dict[str, Any] = {}
    _flatten(a, "", skip, flat_a)
    _flatten(b, "", skip, flat_b)
    for path in sorted(set(flat_a) | set(flat_b)):
        if flat_a.get(path) != flat_b.get(path):
            kind = ("added" if path not in flat_a else "removed" if path not in flat_b
                    else "changed")
            out.append(Change("settings", kind, path, before=flat_a.get(path),
                              after=flat_b.get(path)))
    return out


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items()
                         if v not in (None, [], {}, (), False) and k != "id")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return "null" if value is None else str(value)


def render(old: ScoringModel, new: ScoringModel, changes: list[Change]) -> str:
    """The changes as terminal text, grouped by section (``+`` added, ``-`` removed, ``~``
    changed)."""
    lines = [f"model {old.name} {old.version} → {new.name} {new.version}: "
             + (f"{len(changes)} change(s)" if changes else "no changes that matter")]
    section = None
    for change in changes:
        if change.section != section:
            section = change.section
            lines.append(f"{section}:")
        if change.kind == "added":
            lines.append(f"  + {change.name}: {_show(change.after)}")
        elif change.kind == "removed":
            lines.append(f"  - {change.name}: {_show(change.before)}")
        elif change.fields:
            lines.append(f"  ~ {change.name}: " + "; ".join(
                f"{name} {_show(was)} → {_show(now)}" for name, was, now in change.fields))
        else:
            lines.append(f"  ~ {change.name}: {_show(change.before)} → {_show(change.after)}")
    return "\n".join(lines)
