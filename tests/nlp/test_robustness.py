"""Property tests: no text makes a rule raise or stall, and every span a rule reports is the text it read.

A rule that raised on one word once stalled the NLP worker for good: the message was redelivered forever.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.common.corrections import is_correction
from services.common.lowercase import lower_aligned
from services.nlp import pii, slots
from services.nlp.dates import find_dates
from services.nlp.entities import Claimed, overlaps
from services.nlp.fast_path import FastPath
from services.nlp.frustration import sounds_frustrated
from services.nlp.names import find_name
from services.nlp.numerals import NUMBER_RE, parse_number
from services.nlp.party_size import find_party_size
from services.nlp.prices import find_budget, find_prices
from services.nlp.times import PARTS_OF_DAY, find_times
from services.nlp.upsells import UpsellCatalog
from shared.pii import scrub_pii
from tests.nlp.adversarial import (
    any_text,
    assert_exact_span,
    assert_exact_spans,
    base_dates,
    messages,
    name_text,
    requested_slots,
)

# A rule takes well under a millisecond on a chat message; a second means backtracking ran away.
RULES = settings(
    max_examples=150,
    deadline=timedelta(seconds=1),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CLOCK = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
CATALOG = UpsellCatalog.load()


def _assert_in_order_without_overlap(found: list[Any]) -> None:
    assert [e.start for e in found] == sorted(e.start for e in found)
    assert all(a.end <= b.start for a, b in zip(found, found[1:], strict=False))


@RULES
@given(text=messages)
def test_numerals_never_raise_on_any_text(text: str) -> None:
    n = parse_number(text)
    assert n is None or (isinstance(n, int) and n >= 0)
    if NUMBER_RE.match(text) and text.strip().isascii():
        assert parse_number(text) is not None


@RULES
@given(text=messages, expect_count=st.booleans())
def test_party_size_rule_never_raises_and_spans_are_exact(text: str, expect_count: bool) -> None:
    e = find_party_size(text, expect_count=expect_count)
    if e is not None:
        assert_exact_span(text, e)
        assert isinstance(e.value, int) and e.value > 0 and 0 < e.confidence <= 1


@RULES
@given(text=messages, base=base_dates, expect_date=st.booleans())
def test_date_rule_never_raises_and_spans_are_exact(text: str, base: date, expect_date: bool) -> None:
    found = find_dates(text, base, expect_date=expect_date)
    assert_exact_spans(text, found)
    _assert_in_order_without_overlap(found)
    for e in found:
        date.fromisoformat(e.value)


@RULES
@given(text=messages, expect_time=st.booleans())
def test_time_rule_never_raises_and_spans_are_exact(text: str, expect_time: bool) -> None:
    found = find_times(text, expect_time=expect_time)
    assert_exact_spans(text, found)
    _assert_in_order_without_overlap(found)
    for e in found:
        assert CLOCK.fullmatch(e.value) or e.value in PARTS_OF_DAY or e.value in ("sunset", "sundown"), e


@RULES
@given(text=st.one_of(messages, name_text), expect_name=st.booleans())
@example(text="-A. FROM", expect_name=False)  # the value kept the full stop the surface left out
def test_name_rule_never_raises_and_spans_are_exact(text: str, expect_name: bool) -> None:
    e = find_name(text, expect_name=expect_name)
    if e is not None:
        assert_exact_span(text, e)
        assert e.value and e.value.split() == [
            w if w[0].isupper() else w.capitalize() for w in e.surface.split()
        ]


@RULES
@given(text=messages)
def test_price_rule_never_raises_and_spans_are_exact(text: str) -> None:
    prices = find_prices(text)
    assert_exact_spans(text, prices)
    assert all(math.isfinite(p.value["amount"]) and p.value["amount"] >= 0 for p in prices)
    budget = find_budget(text, prices)
    if budget is not None:
        assert_exact_span(text, budget)


@RULES
@given(text=messages)
def test_pii_detector_never_raises_and_spans_are_exact(text: str) -> None:
    phones, emails = pii.phone_spans(text), pii.email_spans(text)
    for start, end in phones + emails:
        assert 0 <= start < end <= len(text)
    assert all("@" in text[s:e] for s, e in emails)
    assert all(sum(c.isdigit() for c in text[s:e]) >= 10 for s, e in phones)
    assert pii.detect(text) == {"phone": bool(phones), "email": bool(emails)}
    assert isinstance(scrub_pii(text), str)


@RULES
@given(text=messages)
@example(text="İACTUALLY")  # "İ" lower-cases to two characters; both callers' paths must agree on it
def test_corrections_frustration_and_upsells_never_raise(text: str) -> None:
    lower = lower_aligned(text)
    assert is_correction(text) == is_correction(text, lower)
    assert sounds_frustrated(text) == sounds_frustrated(text, lower)
    mentioned = CATALOG.mentioned(text)
    assert set(mentioned) <= set(CATALOG.items) and len(mentioned) == len(set(mentioned))
    picks = CATALOG.suggest(
        intent="booking_inquiry", tone="warm", party_size=30, mentioned=mentioned, text=text
    )
    assert set(picks) <= set(CATALOG.items) and not set(picks) & set(mentioned)


@RULES
@given(text=any_text)
@example(text="AΣ")
def test_lower_aligned_keeps_every_offset(text: str) -> None:
    lower = lower_aligned(text)
    assert len(lower) == len(text)
    # Each character is itself or its lower case; a final sigma ("AΣ" -> "aς") lower-cases by its context.
    assert all(lc == c or lc == c.lower() or lc.upper() == c.upper() for c, lc in zip(text, lower, strict=True))


@RULES
@given(
    claims=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 8)), max_size=30),
    queries=st.lists(st.tuples(st.integers(0, 70), st.integers(0, 8)), min_size=1, max_size=10),
)
def test_claimed_spans_decide_like_the_plain_scan(
    claims: list[tuple[int, int]], queries: list[tuple[int, int]]
) -> None:
    spans = [(start, start + length) for start, length in claims]
    claimed = Claimed(spans)
    for start, length in queries:
        assert claimed.overlaps(start, start + length) == overlaps(start, start + length, spans)


@RULES
@given(text=messages, base=base_dates, requested=requested_slots)
@example(text="NAME IS HALF A DOZEN", base=date(2026, 1, 1), requested=[])  # the name took the count's words
def test_slot_extraction_never_raises_and_spans_are_exact(text: str, base: date, requested: list[str]) -> None:
    entities, flags = slots.extract(text, base, tuple(requested))
    assert_exact_spans(text, entities)
    assert set(entities) <= {"party_size", "date", "time", "name", "prices", "budget"}
    assert flags == {"phone": bool(pii.phone_spans(text)), "email": bool(pii.email_spans(text))}
    # Each number is claimed once: no two single-span slots share a character.
    spans = sorted((e.start, e.end) for k, e in entities.items() if k not in ("prices", "budget"))
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), entities


OCCURRED_AT = st.sampled_from(
    [
        None,
        "",
        "not a time",
        "2026-11-18T10:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+00:00",
        "2028-02-29T12:00:00+14:00",
    ]
)
batch_items = st.lists(
    st.one_of(
        messages,
        st.fixed_dictionaries(
            {"text": messages}, optional={"requested_slots": requested_slots, "occurred_at": OCCURRED_AT}
        ),
        st.fixed_dictionaries(
            {"text": messages, "context": st.fixed_dictionaries({"requested_slots": requested_slots})}
        ),
    ),
    max_size=6,
)


@settings(
    max_examples=100,
    deadline=timedelta(seconds=3),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(items=batch_items)
def test_fast_path_batch_never_raises_within_its_time_bound(fast_path: FastPath, items: list[str | dict[str, Any]]) -> None:
    analyses = fast_path.analyze_batch(items)
    assert len(analyses) == len(items)
    for item, a in zip(items, analyses, strict=True):
        text = item if isinstance(item, str) else item["text"]
        assert_exact_spans(text, a.entities)
        for probs in (a.intent_probs, a.tone_probs, a.sentiment_probs):
            assert all(math.isfinite(p) and 0 <= p <= 1 for p in probs.values())
            assert abs(sum(probs.values()) - 1) < 1e-3
        assert 0 <= a.confidence <= 1 and a.escalate == (a.confidence < fast_path.escalation_threshold)
        # What the worker publishes: JSON with no NaN or infinity anywhere.
        json.dumps(a.to_dict(), allow_nan=False)
        json.dumps(a.to_predict_line("x"), allow_nan=False)
