"""A log replayed in several worker processes: split by person, each part in log order.

Everything about one person must reach one process: their touchpoints under each identity, a
visitor's cookie and the contact it is linked to, the leads a merge command joins, their CRM
verdicts. A first pass parses each record's JSON once (no validation) for the identities it
names and the event time it names: it joins ids that name one person (union-find), and keeps per
record the log's clock so far (the latest event time named up to it) and one of its ids. Each
person then belongs to one process, which replays every record of theirs in log order with the
clock the first pass kept. A record without a readable identity goes to the first process (it
is rejected there, as a worker rejects it).

The first pass runs in as many processes as the replay: each parses every n-th line and joins
the ids of its own lines; the parent joins what they found (a group's representative is its
smallest id, so the groups do not depend on who joined what first) and interleaves their
records again. The replay's processes are forked after it: each reads the log file itself and
skips the lines of other processes unparsed, so nothing but the outcomes crosses between them.
"""

from __future__ import annotations

import gc
import itertools
import math
import multiprocessing
import sys
from array import array
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from leadstream.backtest.records import LogError, parse_line, plan_line, read_lines, read_log
from leadstream.backtest.replay import ModelOutcome, Replay, named_time, no_cyclic_gc
from leadstream.core.identity import canonical_lead_id, visitor_id
from leadstream.core.model import ModelSet
from leadstream.config.settings import HygieneSettings

__all__ = ["LogPlan", "PersonIndex", "ReplayResult", "replay_log", "replay_part", "identities",
           "terminal_progress"]


def identities(kind: str, data: Any) -> list[str]:
    """The lead ids a record's parsed JSON names (its person), read without validating it."""
    if not isinstance(data, dict):
        return []
    if kind == "touchpoints":
        out = []
        try:
            lead, contact = canonical_lead_id(lead_id=_text(data.get("lead_id")),
                                              email=_text(data.get("email")),
                                              crm_id=_text(data.get("crm_id")),
                                              anonymous_id=_text(data.get("anonymous_id")))
            out.append(lead)
        except ValueError:
            return []
        anonymous = _text(data.get("anonymous_id"))
        if contact and anonymous:
            out.append(visitor_id(anonymous))
        return out
    if kind == "feedback":
        lead = _text(data.get("lead_id"))
        return [lead] if lead else []
    if data.get("command") == "merge":
        return [i for i in data.get("lead_ids") or () if isinstance(i, str) and i]
    try:  # erase: whichever identity it names
        return [canonical_lead_id(lead_id=_text(data.get("lead_id")), email=_text(data.get("email")),
                                  crm_id=_text(data.get("crm_id")),
                                  anonymous_id=_text(data.get("anonymous_id")))[0]]
    except ValueError:
        return []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class PersonIndex:
    """Union-find over lead ids: ids of one person share a representative, the smallest of them
    (so the grouping does not depend on the order of joins)."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, lead: str) -> str:
        parents = self._parent
        parent = parents.get(lead)
        if parent is None:
            parents[lead] = lead
            return lead
        if parent == lead:
            return lead
        root = parent
        while (up := parents[root]) != root:
            root = up
        while lead != root:  # every id on the way points at the root from now on
            parents[lead], lead = root, parents[lead]
        return root

    def join(self, ids: list[str]) -> str | None:
        if not ids:
            return None
        root = self.find(ids[0])
        for other in ids[1:]:
            found = self.find(other)
            if found != root:
                root, found = min(root, found), max(root, found)
                self._parent[found] = root
        return root


@dataclass
class _Share:
    """What the first pass learnt of every ``shares``-th record (from the ``share``-th on)."""

    ids: list[str]  # the ids its records name, by number
    roots: array  # per id: the number of its representative among these records' joins
    first: array  # per record: the number of its first id (-1: none)
    named: array  # per record: the event time it names (NaN: none)


class _Unreadable(Exception):
    """A line the first pass cannot read, with its position among the log's lines."""

    def __init__(self, position: int, error: LogError) -> None:
        super().__init__(position, error)
        self.position, self.error = position, error


def _plan_share(paths: list[Path], share: int, shares: int) -> _Share:
    index = PersonIndex()
    numbers: dict[str, int] = {}
    first = array("l")
    named_times = array("d")
    position = 0  # (a file that cannot be opened stops every process at the same place)
    try:
        for position, (line, path, number) in enumerate(read_lines(paths)):
            if position % shares != share:
                continue
            kind, data = plan_line(line, path, number)
            ids = identities(kind, data)
            index.join(ids)
            for lead in ids:
                numbers.setdefault(lead, len(numbers))
            first.append(numbers[ids[0]] if ids else -1)
            named = named_time(data)
            named_times.append(math.nan if named is None else named)
    except LogError as exc:
        raise _Unreadable(position, exc) from None
    ids = list(numbers)
    return _Share(ids, array("l", (numbers[index.find(lead)] for lead in ids)), first,
                  named_times)


def _in_processes(paths: list[Path], workers: int) -> list[_Share]:
    answers = _forked(_plan_share, [(paths, share, workers) for share in range(workers)])
    failed = [payload for status, payload in answers if status == "raised"]
    for payload in failed:
        if not isinstance(payload, _Unreadable):
            raise RuntimeError(f"a planning process failed: {_failure(payload)}")
    if failed:  # the line one process reading them all would have stopped at
        raise min(failed, key=lambda exc: exc.position)
    return [payload for _, payload in answers]


def _forked(target: Callable[..., Any], calls: list[tuple[Any, ...]], *,
            waiting: Callable[[], None] | None = None) -> list[tuple[str, Any]]:
    """``target(*args)`` for each of ``calls``, each in a forked process; their answers in order,
    ``("ok", result)`` or ``("raised", exception)`` (its text if it cannot be pickled).
    ``waiting`` is called every 0.25 s while an answer is awaited."""
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for args in calls:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_answer, args=(send, target, args))
        process.start()
        send.close()
        pipes.append(receive)
        processes.append(process)
    answers = []
    try:
        for receive in pipes:
            while waiting is not None and not receive.poll(0.25):
                waiting()
            answers.append(receive.recv())
    finally:
        for process in processes:
            process.join()
    return answers


def _answer(connection: Any, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    gc.disable()  # for good: the process ends once its answer is sent (see no_cyclic_gc)
    try:
        connection.send(("ok", target(*args)))
    except BaseException as exc:  # the parent decides what it means
        try:
            connection.send(("raised", exc))
        except Exception:  # (nothing is sent when it cannot be pickled)
            connection.send(("raised", _failure(exc)))
    finally:
        connection.close()


def _failure(raised: BaseException | str) -> str:
    return raised if isinstance(raised, str) else f"{type(raised).__name__}: {raised}"


def _later(clock: float, named: float) -> float:
    """The log's clock after a record that names ``named`` (NaN: no time, none named yet)."""
    return named if named > clock or (clock != clock and named == named) else clock


@dataclass
class LogPlan:
    """What the first pass learnt of each record (by its position in the log)."""

    parts: bytearray  # the process that replays it
    clocks: array  # the latest event time named up to and including it (NaN: none yet)

    @classmethod
    def of(cls, paths: list[Path], parts: int, *, workers: int = 1) -> LogPlan:
        """The plan for ``parts`` processes, made by ``workers`` processes (each parses every
        ``workers``-th line; 1: this process parses them all)."""
        try:
            shares = ([_plan_share(paths, 0, 1)] if workers <= 1
                      else _in_processes(paths, workers))
        except _Unreadable as exc:
            raise exc.error from None
        index = PersonIndex()
        for share in shares:
            for number, root in enumerate(share.roots):
                if root != number:
                    index.join([share.ids[root], share.ids[number]])
        total = sum(len(share.first) for share in shares)
        out = bytearray(total)
        named = array("d", bytes(8 * total))
        for which, share in enumerate(shares):
            # (a record without an id, -1, takes the 0 at the end)
            part_of = bytes([*(zlib.crc32(index.find(lead).encode()) % parts
                               for lead in share.ids), 0])
            # record k of the log is record k // len(shares) of share k % len(shares)
            out[which::len(shares)] = bytes(map(part_of.__getitem__, share.first))
            named[which::len(shares)] = share.named
        return cls(out, array("d", itertools.accumulate(named, _later, initial=math.nan))[1:])


@dataclass
class ReplayResult:
    outcomes: list[ModelOutcome]
    verdicts: dict[str, list[str]] = field(default_factory=dict)
    input_rejected: dict[str, int] = field(default_factory=dict)
    records: int = 0
    applied: int = 0
    outside_window: int = 0
    seconds: float = 0.0


def replay_part(paths: list[Path], plan: LogPlan | None, part: int,
                model_sets: list[ModelSet], options: dict[str, Any],
                progress: Any) -> ReplayResult:
    """Replay the records of ``part`` (all of them without a ``plan``) in this process."""
    replay = Replay(model_sets, **options)
    records = 0
    with no_cyclic_gc():
        if plan is None:
            for record in read_log(paths):
                records += 1
                replay.feed(record)
        else:
            parts, clocks = plan.parts, plan.clocks
            for index, (line, path, number) in enumerate(read_lines(paths)):
                if progress is not None and index % 2048 == 0 and part == 0:
                    progress.value = index
                if parts[index] != part:
                    continue  # another part's: the first pass took its time into the clock
                records += 1
                clock = clocks[index]
                replay.feed(parse_line(line, path, number),
                            clock=None if math.isnan(clock) else clock)
            if len(clocks):
                last = clocks[-1]
                replay.clock = None if math.isnan(last) else last
        replay.finish()
        # (inside: with the collector back on, the summaries' allocations made it scan every
        # lead state a few times over, longer than summing them up)
        return ReplayResult(replay.outcomes(), replay.verdicts, dict(replay.input_rejected),
                            records, replay.applied, replay.outside_window)


def replay_log(paths: Iterable[Path | str], model_sets: list[ModelSet], hygiene: HygieneSettings,
               max_message_bytes: int, *, workers: int = 1, ticks: bool = True,
               since: float | None = None, until: float | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Replay the log in ``workers`` processes (1: in this one) and merge their outcomes."""
    paths = [Path(p) for p in paths]
    started = time.monotonic()
    options = {"hygiene": hygiene, "max_message_bytes": max_message_bytes, "ticks": ticks,
               "since": since, "until": until}
    if workers <= 1:
        result = replay_part(paths, None, 0, model_sets, options, None)
        result.seconds = time.monotonic() - started
        return result
    if on_progress is not None:
        on_progress(0, 0)  # (the first pass: how many records there are is not known yet)
    plan = LogPlan.of(paths, workers, workers=workers)
    total = len(plan.parts)
    progress = multiprocessing.get_context("fork").Value("q", 0)
    with no_cyclic_gc():  # (unpickling the outcomes: as in replay_part)
        answers = _forked(
            replay_part, [(paths, plan, part, model_sets, options, progress)
                          for part in range(workers)],
            waiting=None if on_progress is None else lambda: on_progress(progress.value, total))
        results: list[ReplayResult] = []
        for status, payload in answers:
            if status != "ok":
                raise RuntimeError(f"a replay process failed: {_failure(payload)}")
            results.append(payload)
        if on_progress is not None:
            on_progress(total, total)
        merged = results[0]
        for other in results[1:]:
            for mine, theirs in zip(merged.outcomes, other.outcomes, strict=True):
                mine.merge(theirs)
            for lead, verdicts in other.verdicts.items():
                merged.verdicts.setdefault(lead, []).extend(verdicts)
            for kind, count in other.input_rejected.items():
                merged.input_rejected[kind] = merged.input_rejected.get(kind, 0) + count
            merged.records += other.records
            merged.applied += other.applied
            merged.outside_window += other.outside_window
    merged.seconds = time.monotonic() - started
    return merged


def terminal_progress(done: int, total: int) -> None:
    """A progress bar on stderr when it is a terminal (nothing otherwise); before the total is
    known (``total`` 0), what is being done."""
    if not sys.stderr.isatty():
        return
    if total <= 0:
        sys.stderr.write("  reading the log to split it by person\n")
        sys.stderr.flush()
        return
    width = 30
    filled = int(width * min(done, total) / total)
    sys.stderr.write(f"\r  replaying [{'#' * filled}{'.' * (width - filled)}] "
                     f"{min(done, total):,}/{total:,} records")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


