"""Read a stopped worker's lead table straight from its RocksDB files (debugging, tests)."""

from __future__ import annotations

from pathlib import Path

import rocksdict

from leadstream.core.state import LeadState
from leadstream.streams.pipeline import LEADS_TABLE
from leadstream.streams.encoding.codecs import ERASED_PREFIX, decode_state
from leadstream.streams.lane.upstream import OFFSET_KEY

__all__ = ["read_leads", "read_table"]


def read_leads(state_dir: Path) -> dict[str, LeadState]:
    """Every lead in every partition DB under ``state_dir``; the worker must not be running."""
    return {key.decode(): decode_state(value) for key, value in read_table(state_dir, LEADS_TABLE).items()
            if not key.startswith(ERASED_PREFIX)}


def read_table(state_dir: Path, table: str) -> dict[bytes, bytes]:
    """Every key → value of one table in every partition DB under ``state_dir``."""
    out: dict[bytes, bytes] = {}
    for db_path in sorted(state_dir.glob(f"v*/tables/{table}-*.db")):
        db = rocksdict.Rdict(
            str(db_path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            for key, value in db.items():
                if key == OFFSET_KEY:
                    continue
                out[key] = value
        finally:
            db.close()
    return out
