"""The connector's store contract (tests/connector_contract.py) against SQLite, the embedded
default; tests/integration/test_connector_postgres.py runs the same against PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from leadstream.connector.store import Store
from tests.connector_contract import ContractTests, store_factory


class TestSqliteStore(ContractTests):
    @pytest.fixture
    def fresh_store(self) -> Iterator[Callable[[], Store]]:
        yield from store_factory(lambda: "sqlite://:memory:")
