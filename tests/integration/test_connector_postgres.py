"""The connector's store contract (tests/connector_contract.py) against a real PostgreSQL server
(a throwaway cluster for the session, tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from leadstream.connector.store import Store
from tests.connector_contract import ContractTests, store_factory

pytestmark = pytest.mark.integration


class TestPostgresStore(ContractTests):
    @pytest.fixture
    def fresh_store(self, postgres: Any) -> Iterator[Callable[[], Store]]:
        yield from store_factory(lambda: postgres.create_database("contract"))

    @pytest.fixture
    def new_database(self, postgres: Any) -> Callable[[], str]:
        return lambda: postgres.create_database("lead")
