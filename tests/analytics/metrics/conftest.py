"""The `aggregator` fixture: a fresh copy of the recorded two minutes for each test."""

import pytest

from services.analytics.metrics.windows import MetricsAggregator
from tests.analytics.metrics.recorded import two_minutes


@pytest.fixture
def aggregator() -> MetricsAggregator:
    return two_minutes()
