"""Read a stopped worker's lead table straight from its RocksDB files (debugging, tests)."""

from __future__ import annotations

from pathlib import Path

import rocksdict

from leadstream.core.state import LeadState
from leadstream.streams.app import LEADS_TABLE
from leadstream.streams.codecs import decode_state

__all__ = ["read_leads"]

_FAUST_OFFSET_KEY = b"__faust\0offset__"


def read_leads(state_dir: Path) -> dict[str, LeadState]:
    """Every lead in every partition DB under ``state_dir``; the worker must not be running."""
    leads: dict[str, LeadState] = {}
    for db_path in sorted(state_dir.glob(f"v*/tables/{LEADS_TABLE}-*.db")):
        db = rocksdict.Rdict(
            str(db_path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            for key, value in db.items():
                if key == _FAUST_OFFSET_KEY:
                    continue
                leads[key.decode()] = decode_state(value)
        finally:
            db.close()
    return leads
