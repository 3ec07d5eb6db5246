"""Every rule, and the whole fast path, reads a message of the largest allowed size in bounded time.

The bound is loose (a slow, shared 2-core machine runs these in milliseconds); what it catches is a regex that
backtracks without end: a `\\s*[.!]?\\s*` on a long run of spaces once took minutes on one message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from schemas.events import MAX_TEXT_CHARS
from services.common.corrections import is_correction
from services.common.textmodel.featurizer import ngrams
from services.nlp import pii, slots
from services.nlp.dates import find_dates
from services.nlp.fast_path import FastPath
from services.nlp.frustration import sounds_frustrated
from services.nlp.names import find_name
from services.nlp.party_size import find_party_size
from services.nlp.prices import find_prices
from services.nlp.times import find_times
from services.nlp.upsells import UpsellCatalog
from shared.pii import scrub_pii
from tests.nlp.adversarial import ADVERSARIAL_MESSAGES, assert_exact_spans

SECONDS_PER_CALL = 2.0
BASE = date(2026, 11, 18)
CATALOG = UpsellCatalog.load()

# A cue a rule looks for, then spaces up to the size limit, then a character that makes the match fail: the
# input that sends side-by-side whitespace quantifiers through every split of the run.
CUES = [
    "", "thanks", "Thanks, Dana", "Dana", "my name is Dana", "I'm Dana", "- Dana", "hi", "7", "at 7", "12:30",
    "seven", "7pm", "half past 7", "for 5", "5 people", "party size", "party of", "saturday", "next saturday",
    "feb 3", "usd", "$5", "from 7pm", "actually", "dana.lee", "555-123-4567",
    "Regards, Dana Lee", "Regards, Dana Lee, Office", "Sincerely, Rev. Dana", "Dana Lee.", "xo Dana", "Name:",
    "14 adults", "10 adults and", "10 adults and like", "3 kids n", "total", "total headcount", "grew to",
    "12-15", "between 12 and", "me +", "20ish", "1900", "noon", "scratch the 4pm, make it", "I meant",
    "switch the date to", "the 31st", "Regards,\nDana Lee", "Regards,\nDana Lee\nOffice", "3 or", "between 5 and",
    "Hello. Dana Lee", "Dana Lee writing", "under my name,", "~ Dana", "R.",
    "half", "no later than", "at like", "start from 5 to", "two tables of", "make us", "from 12:30 to 2pm",
    "a dozen and a half",
    "Thanks, Mike R.", "Regards, Dana Lee | Office", "Greetings from Dana", "it is Dana", "name on the booking is",
    "Col. Dana Lee (Ret.)", "Thanks, Dana from", "this year", "last year we had 40", "headcount:", "put it down as",
    "start", "dinner is", "doors at 5:30, dinner at", "closes at 5 and start at", "from 4pm until", "instead of 7pm,",
    "at 6 instead", "not 3/15 but", "10/10", "the third email", "on the evening",
    "dinner is at", "ceremony at 4, eat at", "called at", "since", "was 3/21, now", "7:15 it is", "push from 6 to",
    "7-ish", "eleven-thirty", "quarter of", "8 of the", "at 1900", "@", "Start is", "is 7 too", "we're at",
    "Attendance:", "People:", "so make that", "became", "plus", "16 girls plus", "24 kids. Plus maybe",
    "my husband and I and our", "her and", "just us", "vs 19", "Sat 6/7", "14/03", "the 2nd Saturday of",
    "on sat", "(sat", "see u", "by the", "on 8/12", "Update from", "Contact:", "I'm his assistant,",
    "Thanks! Carla (", "-- Tom", "Coach", "Warm wishes,", "parents. Jen",
]  # fmt: skip
WHITESPACE_RUNS = {
    f"{cue!r}+{name}+x": (cue + run * MAX_TEXT_CHARS)[: MAX_TEXT_CHARS - 1] + "x"
    for cue in CUES
    for name, run in (("spaces", " "), ("newlines", "\n"))
}
MESSAGES = {**ADVERSARIAL_MESSAGES, **WHITESPACE_RUNS}

RULES: dict[str, Callable[[str], Any]] = {
    "dates": lambda t: find_dates(t, BASE),
    "dates_expected": lambda t: find_dates(t, BASE, expect_date=True),
    "times": lambda t: find_times(t),
    "times_expected": lambda t: find_times(t, expect_time=True),
    "party_size": lambda t: find_party_size(t),
    "party_size_expected": lambda t: find_party_size(t, expect_count=True),
    "names": lambda t: find_name(t),
    "names_expected": lambda t: find_name(t, expect_name=True),
    "prices": find_prices,
    "pii": lambda t: (pii.phone_spans(t), pii.email_spans(t), pii.detect(t), scrub_pii(t)),
    "corrections": is_correction,
    "tone": sounds_frustrated,
    "upsells": CATALOG.mentioned,
    "features": ngrams,
    "slots": lambda t: slots.extract(t, BASE),
    "slots_requested": lambda t: slots.extract(t, BASE, ("people", "time", "first_name")),
}


def _timed(fn: Callable[[str], Any], text: str) -> tuple[Any, float]:
    # This process's CPU time, not the wall clock: a runaway burns CPU, while other processes (in lanes, the other
    # lane, the model build and the stack) share the two cores, and once stretched a 0.06 s call to 2.5 s.
    t0 = time.process_time()
    out = fn(text)
    return out, time.process_time() - t0


def test_messages_are_the_largest_allowed() -> None:
    assert all(len(m) == MAX_TEXT_CHARS for m in MESSAGES.values()), [
        k for k, m in MESSAGES.items() if len(m) != MAX_TEXT_CHARS
    ]


@pytest.mark.timeout(120)  # a regression fails here instead of holding the suite for its whole timeout
@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_rule_is_fast_on_a_full_size_message(name: str) -> None:
    text = MESSAGES[name]
    slow = {}
    for rule, fn in RULES.items():
        _, seconds = _timed(fn, text)
        if seconds > SECONDS_PER_CALL:
            slow[rule] = round(seconds, 2)
    assert not slow, slow


@pytest.mark.timeout(300)
def test_the_fast_path_is_fast_on_full_size_messages(fast_path: FastPath) -> None:
    names = sorted(MESSAGES)
    slow = {}
    for i, name in enumerate(names):
        # Every other message answers a question, so the whole-reply patterns (a bare "7") run too.
        item = {"text": MESSAGES[name], "requested_slots": ["people", "time", "first_name"][: 3 * (i % 2)]}
        [analysis], seconds = _timed(fast_path.analyze_batch, [item])
        assert_exact_spans(MESSAGES[name], analysis.entities)
        if seconds > SECONDS_PER_CALL:
            slow[name] = round(seconds, 2)
    assert not slow, slow
    # And many of them in one batch, as the worker sends them: every adversarial message and one in eight of
    # the whitespace runs (each of which the loop above already ran alone).
    batch = sorted(ADVERSARIAL_MESSAGES) + sorted(WHITESPACE_RUNS)[::8]
    analyses, seconds = _timed(fast_path.analyze_batch, [MESSAGES[n] for n in batch])
    assert len(analyses) == len(batch) and seconds < SECONDS_PER_CALL * len(batch) / 4
