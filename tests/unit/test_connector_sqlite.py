"""The connector's store contract (tests/connector_contract.py) against SQLite, the embedded
default; tests/integration/test_connector_postgres.py runs the same against PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from leadstream.connector.store import Store
from tests.connector_contract import ContractTests


class TestSqliteStore(ContractTests):
    @pytest.fixture
    def fresh_store(self) -> Iterator[Callable[[], Store]]:
        opened: list[Store] = []

        def make() -> Store:
            while opened:  # one example at a time: the previous one's store is done
                opened.pop().close()
            store = Store.open("sqlite://:memory:")
            store.migrate()
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()
