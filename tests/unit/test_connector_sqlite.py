"""The connector's store contract (tests/connector_contract.py) against SQLite, the embedded
default; tests/integration/test_connector_postgres.py runs the same against PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leadstream.connector.runner import ConnectorMetrics, _take_the_lead
from leadstream.connector.store import Store
from tests.connector_contract import ContractTests, store_factory


class TestSqliteStore(ContractTests):
    @pytest.fixture
    def fresh_store(self) -> Iterator[Callable[[], Store]]:
        yield from store_factory(lambda: "sqlite://:memory:")

    @pytest.fixture
    def new_database(self, tmp_path: Path) -> Callable[[], str]:
        made = itertools.count()
        return lambda: f"sqlite:///{tmp_path}/crm-{next(made)}.db"


def test_a_killed_connector_lets_go_of_its_sqlite_database(tmp_path: Path) -> None:
    """The lock file's lock belongs to the process: SIGKILL releases it."""
    url = f"sqlite:///{tmp_path}/crm.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from leadstream.connector.store import Store\n"
         f"store = Store.open({url!r}); assert store.try_lead(); print('held', flush=True)\n"
         "time.sleep(60)"], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    store = Store.open(url)
    try:
        assert not store.try_lead()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert store.try_lead()
    finally:
        store.close()
        holder.kill()
        holder.wait()


def test_a_standing_by_connector_takes_over_when_the_database_is_free(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crm.db"
    first, second = Store.open(url), Store.open(url)
    metrics = ConnectorMetrics()

    async def scenario() -> tuple[float, bool]:
        assert first.try_lead()
        stop = asyncio.Event()
        waiting = asyncio.create_task(_take_the_lead(second, stop, metrics, poll_s=0.05))
        await asyncio.sleep(0.3)
        standing_by = metrics.registry.get_sample_value("leadstream_connector_active")
        first.close()
        return standing_by, await asyncio.wait_for(waiting, timeout=5)

    try:
        standing_by, took_over = asyncio.run(scenario())
        assert (standing_by, took_over) == (0.0, True)
        assert metrics.registry.get_sample_value("leadstream_connector_active") == 1.0
        # and one stopped while standing by gives up without taking over
        third = Store.open(url)
        stop = asyncio.Event()
        stop.set()
        assert asyncio.run(_take_the_lead(third, stop, metrics, poll_s=0.05)) is False
        third.close()
    finally:
        second.close()
