"""Each operations test gets its own migrated database on the test server, so deleting, forgetting and
restoring never touch the rows other tests rely on; Redis is the shared test server (keys are unique).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import scratch_database


@pytest.fixture
async def ops_settings(stack_servers: EmbeddedServers, tmp_path: Path) -> AsyncIterator[Settings]:
    assert stack_servers.database_url is not None
    async with scratch_database(stack_servers.database_url, migrated=True) as url:
        yield Settings(
            KAFKA_BOOTSTRAP_SERVERS=stack_servers.kafka_bootstrap_servers,
            DATABASE_URL=url,
            REDIS_URL=stack_servers.redis_url,
            TEPPAN_DATA_DIR=tmp_path / "data",
        )
