"""DDSketch percentiles stay within the stated relative accuracy, survive serialisation and merge exactly."""

import numpy as np
import pytest

from services.analytics.metrics.sketches import RELATIVE_ACCURACY, LatencySketch


def sketch_of(values: np.ndarray) -> LatencySketch:
    sketch = LatencySketch()
    for value in values:
        sketch.add(float(value))
    return sketch


@pytest.fixture(scope="module")
def latencies() -> np.ndarray:
    # Heavy-tailed, like real latencies, plus exact zeros (cache hits).
    rng = np.random.default_rng(7)
    return np.concatenate([rng.lognormal(4.0, 1.0, 6000), np.zeros(30)])


def assert_within_accuracy(sketch: LatencySketch, values: np.ndarray) -> None:
    for q in (0.5, 0.95, 0.99, 0.0, 1.0):
        true = float(np.quantile(values, q, method="lower"))
        got = sketch.quantile(q)
        assert got is not None
        assert abs(got - true) <= RELATIVE_ACCURACY * true + 1e-9, (q, got, true)


def test_percentiles_within_stated_relative_accuracy(latencies: np.ndarray) -> None:
    sketch = sketch_of(latencies)
    assert sketch.count == len(latencies)
    assert sketch.sum == pytest.approx(latencies.sum())
    assert_within_accuracy(sketch, latencies)
    assert set(sketch.percentiles()) == {"p50", "p95", "p99"}


def test_merging_replica_sketches_equals_one_sketch_of_all(latencies: np.ndarray) -> None:
    parts = np.array_split(latencies, 3)
    merged = LatencySketch.merged(LatencySketch.from_bytes(sketch_of(part).to_bytes()) for part in parts)
    whole = sketch_of(latencies)
    for q in (0.5, 0.95, 0.99):
        assert merged.quantile(q) == whole.quantile(q)
    assert merged.count == whole.count
    assert_within_accuracy(merged, latencies)


def test_merge_is_not_averaging_percentiles() -> None:
    fast, slow = np.full(990, 10.0), np.full(10, 1000.0)
    merged = LatencySketch.merged([sketch_of(fast), sketch_of(slow)])
    # The average of the two p50s would be ~505 ms; merged, the p50 is the fast replica's.
    assert merged.quantile(0.5) == pytest.approx(10.0, rel=RELATIVE_ACCURACY)
    assert merged.quantile(0.995) == pytest.approx(1000.0, rel=RELATIVE_ACCURACY)


def test_json_round_trip_keeps_everything(latencies: np.ndarray) -> None:
    sketch = sketch_of(latencies[:500])
    copy = LatencySketch.from_json(sketch.to_json())
    assert copy.to_json() == sketch.to_json()
    assert copy.percentiles() == sketch.percentiles()
    assert copy.relative_accuracy == RELATIVE_ACCURACY
    assert (copy.count, copy.sum) == (sketch.count, sketch.sum)


def test_empty_sketch() -> None:
    empty = LatencySketch.from_bytes(LatencySketch().to_bytes())
    assert empty.count == 0
    assert empty.percentiles() == {"p50": None, "p95": None, "p99": None}


def test_rejects_bad_input_and_mismatched_accuracy() -> None:
    with pytest.raises(ValueError):
        LatencySketch().add(-1.0)
    with pytest.raises(ValueError):
        LatencySketch().merge(LatencySketch(0.05))
    with pytest.raises(ValueError):
        LatencySketch.from_json({"format": "other"})
