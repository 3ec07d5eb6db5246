"""Each operations test gets its own migrated database on the test server, so deleting, forgetting and
restoring never touch the rows other tests rely on; Redis is the shared test server (keys are unique).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.operations.helpers import scratch_settings


@pytest.fixture
async def ops_settings(stack_servers: EmbeddedServers, tmp_path: Path) -> AsyncIterator[Settings]:
    async with scratch_settings(stack_servers, tmp_path / "data") as settings:
        yield settings
