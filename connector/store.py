"""The connector's database: handover events and the consumer offsets they came from, written in
one transaction per batch, by the rules ``fold`` states in pure Python.

One class for both databases (``dialects`` holds the differences). Every write is idempotent and
order-safe, so a batch applied twice (a crash between the commit and the Kafka offset commit, or
a copy on the topic) changes nothing.
"""

from __future__ import annotations

import base64
import fcntl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import IO, Any

from leadstream.connector.dialects import Connection, Dialect, connect, sqlite_path
from leadstream.connector.events import (
    ConsentEvent,
    EngagementEvent,
    ErasureEvent,
    HandoverEvent,
    LeadEvent,
    MergeEvent,
    id_hash,
)
from leadstream.connector.fold import MAX_CHAIN, Tables
from leadstream.connector.rows import (
    CONSENT_COLUMNS,
    CONTACT_COLUMNS,
    ENGAGEMENT_COLUMNS,
    JSON_COLUMNS,
    LEAD_COLUMNS,
    LEAD_FROM_TRANSITION,
    MERGE_COLUMNS,
    TIME_COLUMNS,
    TRANSITION_COLUMNS,
    Row,
    consent_row,
    contact_row,
    engagement_row,
    lead_row,
    merge_row,
    transition_row,
)
from leadstream.exceptions import LeadstreamError

__all__ = ["Reject", "Snapshot", "Store", "Verdict", "snapshot_of"]

# table → (key columns, columns), for snapshots
_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "leads": (("lead_id",), LEAD_COLUMNS),
    "transitions": (("transition_id",), TRANSITION_COLUMNS),
    "consent_changes": (("change_id",), CONSENT_COLUMNS),
    "merges": (("merge_id",), MERGE_COLUMNS),
    "account_engagements": (("engagement_id",), ENGAGEMENT_COLUMNS),
    "account_engagement_contacts": (("engagement_id", "lead_id"), CONTACT_COLUMNS),
}

Snapshot = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reject:
    """A handover record the connector could not read, kept with its bytes."""

    topic: str
    partition: int
    offset: int
    kind: str
    reason: str
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Verdict:
    feedback_id: str
    lead_id: str
    verdict: str
    occurred_at: datetime
    reason: str | None
    owner: str | None
    amount: float | None
    bant: dict[str, Any] | None = None


#: PostgreSQL advisory lock keys: migrations (per transaction), the active connector (per session)
_MIGRATING, _ACTIVE = 7152031, 7152032


class Store:
    def __init__(self, connection: Connection, dialect: Dialect,
                 lock_path: str | None = None) -> None:
        self._connection = connection
        self.dialect = dialect
        self._lock_path = lock_path
        self._lock_file: IO[bytes] | None = None

    @classmethod
    def open(cls, url: str) -> Store:
        connection, dialect = connect(url)
        path = sqlite_path(url)
        return cls(connection, dialect, None if path is None else f"{path}.lock")

    def close(self) -> None:
        self._connection.close()  # (ends the session, and with it PostgreSQL's lock)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def try_lead(self) -> bool:
        """Become the one connector writing to this database, if no other is (a lock held until
        this store is closed or its process ends, however it ends); ``True`` once held."""
        if self.dialect.name == "postgresql":
            cursor = self._connection.cursor()
            cursor.execute(f"SELECT pg_try_advisory_lock({_ACTIVE})")
            return bool(cursor.fetchone()[0])
        if self._lock_path is None or self._lock_file is not None:
            return True  # in memory: nobody else can open it
        handle = open(self._lock_path, "ab")  # noqa: SIM115 - held open while it is the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    # -- schema ---------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the numbered schema files not applied yet, each in its own transaction; return
        the versions applied now."""
        folder = resources.files("leadstream.connector") / "migrations" / self.dialect.name
        files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")),
                       key=lambda f: f.name)
        applied: list[int] = []
        with self._transaction() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                           "version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        for file in files:
            version = int(file.name.split("_", 1)[0])
            with self._transaction() as cursor:
                if self.dialect.name == "postgresql":
                    # two connectors starting together: one migrates, the other waits
                    cursor.execute(f"SELECT pg_advisory_xact_lock({_MIGRATING})")
                cursor.execute(self.dialect.sql("SELECT 1 FROM schema_migrations WHERE version = ?"),
                               (version,))
                if cursor.fetchone() is not None:
                    continue
                for statement in _statements(file.read_text(encoding="utf-8")):
                    cursor.execute(statement)
                cursor.execute(self.dialect.sql(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)"),
                    (version, file.name))
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        with self._transaction() as cursor:
            cursor.execute("SELECT MAX(version) FROM schema_migrations")
            row = cursor.fetchone()
        return int(row[0] or 0)

    # -- handover events ------------------------------------------------------------------------

    def apply(self, events: Sequence[HandoverEvent], *,
              offsets: Mapping[tuple[str, int], int] | None = None,
              rejects: Sequence[Reject] = ()) -> None:
        """Write ``events`` in order, the ``rejects`` and the next offset per partition, in one
        transaction."""
        with self._transaction() as cursor:
            writer = _Writer(cursor, self.dialect)
            for event in events:
                writer.apply(event)
            for reject in rejects:
                writer.reject(reject)
            for (topic, partition), next_offset in (offsets or {}).items():
                writer.offset(topic, partition, next_offset)

    def offsets(self, topic: str) -> dict[int, int]:
        with self._transaction() as cursor:
            cursor.execute(self.dialect.sql(
                "SELECT kafka_partition, next_offset FROM consumer_offsets WHERE topic = ?"),
                (topic,))
            return {int(p): int(o) for p, o in cursor.fetchall()}

    def leads_per_stage(self) -> dict[str, int]:
        with self._transaction() as cursor:
            cursor.execute("SELECT stage, COUNT(*) FROM leads GROUP BY stage ORDER BY stage")
            return {str(stage): int(count) for stage, count in cursor.fetchall()}

    def rejects(self) -> list[tuple[str, int, int, str, str]]:
        with self._transaction() as cursor:
            cursor.execute("SELECT topic, kafka_partition, record_offset, kind, reason "
                           "FROM connector_rejects ORDER BY topic, kafka_partition, record_offset")
            return [tuple(row) for row in cursor.fetchall()]

    def snapshot(self) -> Snapshot:
        """Every table the fold knows, values normalised (times UTC, JSON parsed)."""
        out: Snapshot = {}
        with self._transaction() as cursor:
            for table, (key, columns) in _TABLES.items():
                cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")
                rows = {}
                for values in cursor.fetchall():
                    row = self._row_out(dict(zip(columns, values, strict=True)))
                    rows[tuple(row[k] for k in key) if len(key) > 1 else row[key[0]]] = row
                out[table] = rows
            cursor.execute("SELECT id_hash, erased_at FROM erased_ids")
            out["erased_ids"] = {h: self.dialect.time_out(t) for h, t in cursor.fetchall()}
            cursor.execute("SELECT event_id FROM erased_events")
            out["erased_events"] = {e for (e,) in cursor.fetchall()}
            cursor.execute("SELECT erase_id FROM erasures")
            out["erasures"] = {e for (e,) in cursor.fetchall()}
        return out

    def _row_out(self, row: Row) -> Row:
        for name in row.keys() & JSON_COLUMNS:
            row[name] = self.dialect.json_out(row[name])
        for name in row.keys() & TIME_COLUMNS:
            row[name] = self.dialect.time_out(row[name])
        for name in ("score", "fit_points", "engagement"):
            if row.get(name) is not None:
                row[name] = float(row[name])
        return row

    # -- verdicts from the CRM ------------------------------------------------------------------

    def pending_verdicts(self, limit: int = 500) -> list[Verdict]:
        with self._transaction() as cursor:
            cursor.execute(self.dialect.sql(
                "SELECT feedback_id, lead_id, verdict, occurred_at, reason, owner, amount, bant "
                "FROM crm_verdicts WHERE sent_at IS NULL AND error IS NULL "
                "ORDER BY created_at, feedback_id LIMIT ?"), (limit,))
            return [Verdict(f, lead, v, self.dialect.time_out(at) or datetime.now(UTC), reason,
                            owner, None if amount is None else float(amount),
                            None if bant is None else self.dialect.json_out(bant))
                    for f, lead, v, at, reason, owner, amount, bant in cursor.fetchall()]

    def verdicts_done(self, sent: Sequence[str], errors: Mapping[str, str]) -> None:
        now = self.dialect.time_in(datetime.now(UTC))
        with self._transaction() as cursor:
            for feedback_id in sent:
                cursor.execute(self.dialect.sql(
                    "UPDATE crm_verdicts SET sent_at = ?time WHERE feedback_id = ?"),
                    (now, feedback_id))
            for feedback_id, error in errors.items():
                cursor.execute(self.dialect.sql(
                    "UPDATE crm_verdicts SET error = ? WHERE feedback_id = ?"),
                    (error, feedback_id))

    def add_verdict(self, verdict: Verdict) -> None:
        """What a CRM's button does (the demo and the tests use it)."""
        with self._transaction() as cursor:
            cursor.execute(self.dialect.sql(
                "INSERT INTO crm_verdicts (feedback_id, lead_id, verdict, occurred_at, reason, "
                "owner, amount, bant) VALUES (?, ?, ?, ?time, ?, ?, ?, ?json) "
                "ON CONFLICT DO NOTHING"),
                (verdict.feedback_id, verdict.lead_id, verdict.verdict,
                 self.dialect.time_in(verdict.occurred_at), verdict.reason, verdict.owner,
                 verdict.amount, self.dialect.json_in(verdict.bant)))

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        cursor = self._connection.cursor()
        cursor.execute(self.dialect.begin)
        try:
            yield cursor
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")


class _Writer:
    """The fold's rules in SQL, inside one transaction."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._cursor.execute(self._dialect.sql(sql), tuple(params))
        return self._cursor

    def _one(self, sql: str, params: Sequence[Any]) -> Any:
        return self._run(sql, params).fetchone()

    def apply(self, event: HandoverEvent) -> None:
        if isinstance(event, LeadEvent):
            self._lead(event)
        elif isinstance(event, ConsentEvent):
            self._consent(event)
        elif isinstance(event, MergeEvent):
            self._merge(event)
        elif isinstance(event, ErasureEvent):
            self._erase(event)
        elif isinstance(event, EngagementEvent):
            self._engagement(event)
        else:  # pragma: no cover - the event union is closed
            raise LeadstreamError(f"unknown handover event {type(event).__name__}")

    def _insert(self, table: str, columns: Sequence[str], row: Row, *,
                conflict: str = "DO NOTHING") -> None:
        marks = ", ".join("?json" if c in JSON_COLUMNS else "?time" if c in TIME_COLUMNS else "?"
                          for c in columns)
        values = [self._dialect.json_in(row[c]) if c in JSON_COLUMNS
                  else self._dialect.time_in(row[c]) if c in TIME_COLUMNS else row[c]
                  for c in columns]
        self._run(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
                  f"ON CONFLICT {conflict}", values)

    def _gone(self, lead_id: str, at: datetime, event_id: str | None) -> bool:
        if event_id is not None and self._one(
                "SELECT 1 FROM erased_events WHERE event_id = ?", (event_id,)) is not None:
            return True
        row = self._one("SELECT erased_at FROM erased_ids WHERE id_hash = ?", (id_hash(lead_id),))
        if row is None or at > (self._dialect.time_out(row[0]) or at):
            return False
        if event_id is not None:
            self._run("INSERT INTO erased_events (event_id) VALUES (?) "
                      "ON CONFLICT (event_id) DO NOTHING", (event_id,))
        return True

    def _resolve(self, lead_id: str, at: datetime) -> str:
        seen = {lead_id}
        current = lead_id
        for _ in range(MAX_CHAIN):
            row = self._one("SELECT survivor FROM merges WHERE absorbed = ? AND occurred_at >= ?time "
                            "ORDER BY merge_id DESC LIMIT 1", (current, self._dialect.time_in(at)))
            if row is None:
                return current
            if row[0] in seen:
                return lead_id
            seen.add(row[0])
            current = row[0]
        return lead_id

    def _lead(self, event: LeadEvent) -> None:
        if self._gone(event.lead_id, event.occurred_at, event.transition_id):
            return
        owner = self._resolve(event.lead_id, event.occurred_at)
        row = transition_row(event, owner)
        self._insert("transitions", TRANSITION_COLUMNS, row, conflict="(transition_id) DO NOTHING")
        if owner != event.lead_id:
            return
        updates = ", ".join(f"{c} = excluded.{c}" for c in LEAD_COLUMNS if c != "lead_id")
        self._insert("leads", LEAD_COLUMNS, lead_row(row), conflict=(
            f"(lead_id) DO UPDATE SET {updates} "
            "WHERE (leads.sequence, leads.updated_at, leads.last_transition_id) "
            "< (excluded.sequence, excluded.updated_at, excluded.last_transition_id)"))

    def _rebuild_lead(self, lead_id: str) -> None:
        """The lead's row again from its own transitions rows (after some moved or went)."""
        self._run("DELETE FROM leads WHERE lead_id = ?", (lead_id,))
        columns = ", ".join(LEAD_FROM_TRANSITION)
        sources = ", ".join(LEAD_FROM_TRANSITION.values())
        self._run(f"INSERT INTO leads ({columns}) SELECT {sources} FROM transitions "
                  "WHERE lead_id = ? AND published_lead_id = ? "
                  "ORDER BY sequence DESC, occurred_at DESC, transition_id DESC LIMIT 1",
                  (lead_id, lead_id))

    def _consent(self, event: ConsentEvent) -> None:
        if self._gone(event.lead_id, event.occurred_at, event.change_id):
            return
        self._insert("consent_changes", CONSENT_COLUMNS,
                     consent_row(event, self._resolve(event.lead_id, event.occurred_at)),
                     conflict="(change_id) DO NOTHING")

    def _merge(self, event: MergeEvent) -> None:
        if self._one("SELECT 1 FROM merges WHERE merge_id = ?", (event.merge_id,)) is not None:
            return
        if any(self._gone(i, event.occurred_at, event.merge_id)
               for i in (event.survivor, event.absorbed)):
            return
        self._insert("merges", MERGE_COLUMNS, merge_row(event))
        root = self._resolve(event.absorbed, event.occurred_at)
        if root == event.absorbed:  # a ring: nothing moves
            return
        for table in ("transitions", "consent_changes"):
            self._run(f"UPDATE {table} SET lead_id = ? WHERE lead_id = ? AND occurred_at <= ?time",
                      (root, event.absorbed, self._dialect.time_in(event.occurred_at)))
        self._rebuild_lead(event.absorbed)

    def _erase(self, event: ErasureEvent) -> None:
        if self._one("SELECT 1 FROM erasures WHERE erase_id = ?", (event.erase_id,)) is not None:
            return
        self._run("INSERT INTO erasures (erase_id) VALUES (?)", (event.erase_id,))
        ids = sorted(set(event.lead_ids))
        at = self._dialect.time_in(event.occurred_at)
        marks = ", ".join("?" for _ in ids)
        for lead_id in ids:
            key = id_hash(lead_id)
            row = self._one("SELECT erased_at FROM erased_ids WHERE id_hash = ?", (key,))
            if row is None:
                self._run("INSERT INTO erased_ids (id_hash, erased_at) VALUES (?, ?time)", (key, at))
            elif (self._dialect.time_out(row[0]) or event.occurred_at) < event.occurred_at:
                self._run("UPDATE erased_ids SET erased_at = ?time WHERE id_hash = ?", (at, key))
        for table, id_column, who in (
                ("transitions", "transition_id", ("lead_id", "published_lead_id")),
                ("consent_changes", "change_id", ("lead_id", "published_lead_id")),
                ("merges", "merge_id", ("survivor", "absorbed"))):
            where = f"occurred_at <= ?time AND ({who[0]} IN ({marks}) OR {who[1]} IN ({marks}))"
            params = [at, *ids, *ids]
            self._run(f"INSERT INTO erased_events (event_id) SELECT {id_column} FROM {table} "
                      f"WHERE {where} ON CONFLICT (event_id) DO NOTHING", params)
            self._run(f"DELETE FROM {table} WHERE {where}", params)
        self._run(f"DELETE FROM account_engagement_contacts WHERE lead_id IN ({marks}) AND "
                  "engagement_id IN (SELECT engagement_id FROM account_engagements "
                  "WHERE occurred_at <= ?time)", [*ids, at])
        # the CRM's own verdict rows name the person too
        self._run(f"DELETE FROM crm_verdicts WHERE lead_id IN ({marks})", ids)
        for lead_id in ids:
            self._rebuild_lead(lead_id)

    def _engagement(self, event: EngagementEvent) -> None:
        if self._one("SELECT 1 FROM account_engagements WHERE engagement_id = ?",
                     (event.engagement_id,)) is not None:
            return
        self._insert("account_engagements", ENGAGEMENT_COLUMNS, engagement_row(event))
        for contact in event.contacts:
            if not self._gone(contact.lead_id, event.occurred_at, None):
                self._insert("account_engagement_contacts", CONTACT_COLUMNS,
                             contact_row(event.engagement_id, contact))

    def reject(self, reject: Reject) -> None:
        value = None if reject.value is None else base64.b64encode(reject.value).decode("ascii")
        self._run("INSERT INTO connector_rejects (topic, kafka_partition, record_offset, kind, "
                  "reason, value_b64, rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?time) "
                  "ON CONFLICT DO NOTHING",
                  (reject.topic, reject.partition, reject.offset, reject.kind, reject.reason[:500],
                   value, self._dialect.time_in(datetime.now(UTC))))

    def offset(self, topic: str, partition: int, next_offset: int) -> None:
        self._run("INSERT INTO consumer_offsets (topic, kafka_partition, next_offset) "
                  "VALUES (?, ?, ?) ON CONFLICT (topic, kafka_partition) DO UPDATE "
                  "SET next_offset = excluded.next_offset "
                  "WHERE consumer_offsets.next_offset < excluded.next_offset",
                  (topic, partition, next_offset))


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration file: comments dropped, split at a ``;`` ending a line."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    statement: list[str] = []
    for line in lines:
        statement.append(line)
        if line.rstrip().endswith(";"):
            text = "\n".join(statement).strip().rstrip(";")
            if text:
                yield text
            statement = []
    if "\n".join(statement).strip():
        yield "\n".join(statement).strip()


def snapshot_of(tables: Tables) -> Snapshot:
    """The fold's tables in the form ``Store.snapshot`` gives (JSON normalised the same way)."""
    def norm(row: Row) -> Row:
        out = dict(row)
        for name in out.keys() & JSON_COLUMNS:
            out[name] = Dialect.json_out(Dialect.json_in(out[name]))
        for name in out.keys() & TIME_COLUMNS:
            out[name] = out[name].astimezone(UTC)
        for name in ("score", "fit_points", "engagement"):
            if out.get(name) is not None:
                out[name] = float(out[name])
        return out

    return {
        "leads": {k: norm(v) for k, v in tables.leads.items()},
        "transitions": {k: norm(v) for k, v in tables.transitions.items()},
        "consent_changes": {k: norm(v) for k, v in tables.consent.items()},
        "merges": {k: norm(v) for k, v in tables.merges.items()},
        "account_engagements": {k: norm(v) for k, v in tables.engagements.items()},
        "account_engagement_contacts": {k: norm(v) for k, v in tables.contacts.items()},
        "erased_ids": dict(tables.erased_ids),
        "erased_events": set(tables.erased_events),
        "erasures": set(tables.erasures),
    }
