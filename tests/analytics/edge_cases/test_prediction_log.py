"""Prediction-log records in seed 004's format, PII-scrubbed, in one JSONL file per UTC day."""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from services.analytics.edge_cases.prediction_log import PredictionLog, prediction_record


def record(at: datetime, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "conversation_id": "conv-123",
        "timestamp": at,
        "model_name": "llama3.2",
        "provider": "ollama",
        "prompt_version": "v2.0",
        "user_text": "Book 30 people on Dec 5, I'm Jane, call 415-555-0123 or jane@example.com",
        "state": "collect_date",
        "slots": {"party_size": 30, "name": "Jane"},
        "response": "Great, Jane! I'll text 415-555-0123 to confirm.",
        "extracted_slots": {"date": date(2026, 12, 5), "phone": "415-555-0123"},
        "confidence": 0.92,
        "next_state": "confirmation",
        "latency_ms": 450,
        "tokens_in": 120,
        "tokens_out": 45,
        "cost": 0.0,
    }
    fields.update(changes)
    return prediction_record(**fields)


def test_record_has_seed_004_format_and_no_pii() -> None:
    rec = record(datetime(2026, 11, 22, 10, 30, tzinfo=UTC))
    assert list(rec) == ["conversation_id", "timestamp", "model", "input", "output", "metadata"]
    assert rec["timestamp"] == "2026-11-22T10:30:00+00:00"
    assert rec["model"] == {"name": "llama3.2", "provider": "ollama", "prompt_version": "v2.0"}
    assert rec["input"] == {
        "user_text": "Book 30 people on Dec 5, I'm Jane, call [phone] or [email]",
        "state": "collect_date",
        "slots": {"party_size": 30, "name": "[Filtered]"},
    }
    assert rec["output"]["response"] == "Great, Jane! I'll text [phone] to confirm."
    assert rec["output"]["extracted_slots"] == {"date": date(2026, 12, 5), "phone": "[Filtered]"}
    assert (rec["output"]["confidence"], rec["output"]["next_state"]) == (0.92, "confirmation")
    assert rec["metadata"] == {"latency_ms": 450, "tokens": {"input": 120, "output": 45}, "cost": 0.0}


def test_files_rotate_by_the_records_utc_date(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "predictions")
    late = datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC)
    # 20:00 at UTC-05:00 on the 22nd is 01:00 UTC on the 23rd: the file is chosen by the UTC date.
    east = datetime(2026, 11, 22, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    paths = [
        log.append(record(late)),
        log.append(record(late + timedelta(seconds=1), event_id="e2")),
        log.append(record(east)),
    ]
    assert [p.name for p in paths] == [
        "predictions-2026-11-22.jsonl",
        "predictions-2026-11-23.jsonl",
        "predictions-2026-11-23.jsonl",
    ]
    lines = paths[1].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["event_id"] == "e2"
    assert first["output"]["extracted_slots"]["date"] == "2026-12-05"
    assert json.loads(lines[1])["timestamp"] == "2026-11-23T01:00:00+00:00"
    content = "".join(p.read_text(encoding="utf-8") for p in set(paths))
    assert "555-0123" not in content and "jane@example.com" not in content


def test_unknown_cost_is_null_not_zero(tmp_path: Path) -> None:
    rec = record(datetime(2026, 11, 22, tzinfo=UTC), cost=None, response=None)
    path = PredictionLog(tmp_path).append(rec)
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["metadata"]["cost"] is None and stored["output"]["response"] is None


def test_a_batch_is_appended_in_order_to_each_records_day_file(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "predictions")
    first_day = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    batch = [
        record(first_day, event_id="a"),
        record(first_day + timedelta(hours=2), event_id="b"),
        record(first_day + timedelta(minutes=5), event_id="c"),
    ]
    paths = log.append_all(batch)
    log.append_all([record(first_day, event_id="d")])
    assert [p.name for p in paths] == ["predictions-2026-11-22.jsonl", "predictions-2026-11-23.jsonl"]
    ids = [[json.loads(line)["event_id"] for line in p.read_text(encoding="utf-8").splitlines()] for p in paths]
    assert ids == [["a", "c", "d"], ["b"]]
    assert log.append_all([]) == []
